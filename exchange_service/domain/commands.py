"""Requests to the registry as the API received them, before validation.

Values arrive raw (dates as year/month/day, enums possibly unset) so that
validation, not translation, decides what is wrong and names the field.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from exchange_service.domain.errors import FieldViolation
from exchange_service.domain.model import PermitType, Sex, SightingSource


@dataclass(frozen=True)
class DateParts:
    """A calendar date as sent; zeros mean "not given"."""

    year: int = 0
    month: int = 0
    day: int = 0

    @property
    def is_empty(self) -> bool:
        return self.year == 0 and self.month == 0 and self.day == 0


@dataclass(frozen=True)
class RawPoint:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class RawDocument:
    issuing_state: str
    number: str
    expiry_date: DateParts | None = None


@dataclass(frozen=True)
class RegisterPerson:
    family_name: str
    given_names: str
    nationality: str
    birth_date: DateParts | None
    sex: Sex | None
    documents: tuple[RawDocument, ...]
    # The travel document's machine readable zone, if sent ('' otherwise).
    mrz: str = ""


@dataclass(frozen=True)
class AddTravelDocument:
    person_id: str
    document: RawDocument | None


@dataclass(frozen=True)
class RawPermit:
    permit_number: str
    type: PermitType | None
    valid_from: DateParts | None
    valid_until: DateParts | None
    sponsor: str = ""
    purpose: str = ""


@dataclass(frozen=True)
class RecordEntry:
    person_id: str
    port_code: str
    entered_at: datetime | None
    permit: RawPermit | None


@dataclass(frozen=True)
class ExtendPermit:
    stay_id: str
    permit: RawPermit | None


@dataclass(frozen=True)
class RecordExit:
    person_id: str
    port_code: str
    exited_at: datetime | None


@dataclass(frozen=True)
class ReportAddress:
    """A report of where a person lives; ``reported_at`` None: reported as received."""

    person_id: str
    line: str
    location: RawPoint | None
    effective_from: DateParts | None
    reported_at: datetime | None = None


@dataclass(frozen=True)
class RecordSighting:
    """A report of a person seen; ``reported_at`` None: reported as received."""

    person_id: str | None
    document: RawDocument | None
    location: RawPoint | None
    observed_at: datetime | None
    source: SightingSource | None
    reference: str = ""
    place_name: str = ""
    reported_at: datetime | None = None


def lodging_reference(lodging_id: str, receipt: str) -> str:
    """The sighting reference of a lodging's receipt: ``<lodging_id>/<receipt>``.

    A receipt number is unique only within its lodging, so the lodging's
    registration number (inner whitespace collapsed) goes in front; with the
    event (check-in or check-out, the sighting's source) it names one report,
    however often it is sent. An empty receipt gives an empty reference.
    """
    receipt = receipt.strip()
    return f"{' '.join(lodging_id.split())}/{receipt}" if receipt else ""


@dataclass(frozen=True)
class LodgingReport:
    """A guest's check-in or check-out as a lodging sent it, one of a batch.

    ``event`` is the sighting source it makes (None when unset), ``reference``
    the lodging's receipt number, ``reported_at`` when the lodging made the
    report (None: as Pantau receives it). ``unreadable`` names fields the API
    could not even read into values (a timestamp outside the calendar): such a
    report is rejected with them, and the batch goes on.
    """

    lodging_id: str
    lodging_name: str
    location: RawPoint | None
    event: SightingSource | None
    document: RawDocument | None
    occurred_at: datetime | None
    reference: str
    unreadable: tuple[FieldViolation, ...] = ()
    reported_at: datetime | None = None


def lodging_sighting(report: LodgingReport) -> RecordSighting:
    """A lodging report as a sighting; its reference is unique per lodging and event."""
    return RecordSighting(
        person_id=None,
        document=report.document,
        location=report.location,
        observed_at=report.occurred_at,
        source=report.event,
        reference=lodging_reference(report.lodging_id, report.reference),
        place_name=report.lodging_name,
        reported_at=report.reported_at,
    )


@dataclass(frozen=True)
class SearchPersons:
    name: str
    nationality: str = ""
    birth_year: int = 0
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ListPersonsNear:
    center: RawPoint | None
    radius_meters: float
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class PersonKey:
    """A person named by id or by one of their documents."""

    person_id: str | None = None
    document: RawDocument | None = None


def parse_uuid(raw: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(raw)
    except ValueError:
        return None


# --- alerts: enum values arrive as their names ('' when not given, the number
# as text when the sender's contract knows a value this one does not) ---------


@dataclass(frozen=True)
class ListAlerts:
    rules: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    min_severity: str = ""
    district_code: str = ""
    # At most one of them: the subject's kind is the field it came in.
    person_id: str | None = None
    sponsor_id: str | None = None
    since: datetime | None = None
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class ReviewAlert:
    alert_id: str
    decision: str
    note: str = ""
