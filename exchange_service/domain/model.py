"""Stay records as plain values. Ids are UUIDs assigned by the server."""

from __future__ import annotations

import enum
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Generic, TypeVar

T = TypeVar("T")


class Sex(enum.StrEnum):
    FEMALE = "F"
    MALE = "M"
    UNKNOWN = "X"


class PermitType(enum.StrEnum):
    VOA = "VOA"
    VISIT = "VISIT"
    LIMITED_STAY = "LIMITED_STAY"
    PERMANENT_STAY = "PERMANENT_STAY"
    DIPLOMATIC = "DIPLOMATIC"


class SightingSource(enum.StrEnum):
    LODGING_CHECK_IN = "LODGING_CHECK_IN"
    LODGING_CHECK_OUT = "LODGING_CHECK_OUT"
    POLICE_CHECK = "POLICE_CHECK"
    LOCAL_GOVERNMENT = "LOCAL_GOVERNMENT"
    COMMUNITY_REPORT = "COMMUNITY_REPORT"
    IMMIGRATION_CHECK = "IMMIGRATION_CHECK"


@dataclass(frozen=True)
class GeoPoint:
    latitude: float
    longitude: float


@dataclass(frozen=True)
class BirthDate:
    """A birth date whose month and day may be unknown (0), as ICAO 9303 allows."""

    year: int
    month: int = 0
    day: int = 0


@dataclass(frozen=True)
class TravelDocument:
    issuing_state: str
    number: str
    expiry_date: date | None = None


@dataclass(frozen=True)
class Identity:
    """What a travel document says about its holder."""

    family_name: str
    given_names: str
    nationality: str
    birth_date: BirthDate
    sex: Sex


@dataclass(frozen=True)
class Person:
    id: uuid.UUID
    identity: Identity
    documents: tuple[TravelDocument, ...]
    registered_at: datetime


@dataclass(frozen=True)
class StayPermit:
    permit_number: str
    type: PermitType
    valid_from: date
    valid_until: date
    sponsor: str = ""
    purpose: str = ""
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Stay:
    id: uuid.UUID
    person_id: uuid.UUID
    entry_port_code: str
    entered_at: datetime
    permits: tuple[StayPermit, ...]
    exit_port_code: str = ""
    exited_at: datetime | None = None

    @property
    def permit(self) -> StayPermit:
        return self.permits[-1]

    @property
    def is_open(self) -> bool:
        return self.exited_at is None


@dataclass(frozen=True)
class Address:
    line: str
    # None only in a copy whose recipient may not see coordinates (domain/disclosure.py).
    location: GeoPoint | None
    district_code: str = ""
    village_code: str = ""
    district_name: str = ""
    village_name: str = ""


@dataclass(frozen=True)
class AddressRecord:
    """One report of where a person lives; a change of address adds another.

    ``reported_at`` is when the person reported it (a report imported later
    keeps its own time), ``recorded_at`` when Pantau received it.
    """

    id: uuid.UUID
    person_id: uuid.UUID
    address: Address
    effective_from: date
    reported_at: datetime
    recorded_at: datetime | None = None


@dataclass(frozen=True)
class Sighting:
    """A person seen at a place and time.

    ``reported_at`` is when the sighting was reported (a report imported later
    keeps its own time), ``recorded_at`` when Pantau received it.
    """

    id: uuid.UUID
    person_id: uuid.UUID
    # None only in a copy whose recipient may not see coordinates (domain/disclosure.py).
    location: GeoPoint | None
    observed_at: datetime
    source: SightingSource
    reference: str = ""
    place_name: str = ""
    district_code: str = ""
    village_code: str = ""
    recorded_at: datetime | None = None
    reported_at: datetime | None = None


@dataclass(frozen=True)
class PersonDossier:
    person: Person
    current_stay: Stay | None
    current_address: AddressRecord | None
    recent_sightings: tuple[Sighting, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class PersonMatch:
    person: Person
    score: float


@dataclass(frozen=True)
class PersonNearby:
    person: Person
    address: Address
    # None only in a copy whose recipient may not see distances (domain/disclosure.py).
    distance_meters: float | None


class RejectionReason(enum.StrEnum):
    """Why a lodging report was rejected, as a code a lodging's system can act on."""

    # A field is missing, malformed or out of range (the field is named).
    INVALID_FIELD = "INVALID_FIELD"
    # No registered person holds the report's travel document.
    UNKNOWN_DOCUMENT = "UNKNOWN_DOCUMENT"
    # The lodging's reference already names another person's sighting.
    REFERENCE_TAKEN = "REFERENCE_TAKEN"
    # Pantau could not record it now (the database unreachable, the call's
    # deadline passed); the same report sent again may be accepted.
    UNAVAILABLE = "UNAVAILABLE"
    # Refused for another reason, which the text gives.
    REFUSED = "REFUSED"


# The fields a rejection names, as paths in a lodging report; a rejection
# names one of them or none (""), so that rejections are counted by a bounded
# set of (field, reason) pairs whatever arrives.
LODGING_REPORT_FIELDS: frozenset[str] = frozenset(
    {
        "lodging_id",
        "lodging_name",
        "location",
        "location.latitude",
        "location.longitude",
        "event",
        "document",
        "document.issuing_state",
        "document.number",
        "document.expiry_date",
        "occurred_at",
        "reference",
        "reported_at",
    }
)

# What a summary echoes of a report, and says of it, is cut to this many bytes
# of UTF-8 (at a character, ending in "…"), so that its size has a bound.
REJECTION_ECHO_MAX_BYTES = 64
REJECTION_FIELD_MAX_BYTES = 64
REJECTION_REASON_MAX_BYTES = 256


@dataclass(frozen=True)
class RejectedLodgingReport:
    """Why one report of a lodging batch was not recorded.

    ``field`` is the path in the report at fault (one of
    ``LODGING_REPORT_FIELDS``), empty when the report as a whole is.
    ``lodging_id`` and ``reference`` echo the report's, cut to
    ``REJECTION_ECHO_MAX_BYTES``; ``reason`` is cut to ``REJECTION_REASON_MAX_BYTES``.
    """

    index: int
    lodging_id: str
    reference: str
    field: str
    reason: str
    reason_code: RejectionReason


@dataclass(frozen=True)
class RejectionCount:
    """How many reports of a batch were rejected for one reason at one field."""

    field: str
    reason_code: RejectionReason
    count: int


@dataclass(frozen=True)
class ImportSummary:
    """What became of a lodging batch: new sightings, repeats of earlier ones, rejections.

    Every report read is counted once: accepted, a duplicate, or rejected, and
    each rejected report in ``rejection_counts``. ``rejections`` lists the
    first ones only (the office's ``max_rejections_listed``). ``reached_cap``:
    the batch reached its cap, and Pantau read no report after it.
    """

    accepted: int
    duplicates: int
    rejections: tuple[RejectedLodgingReport, ...]
    rejection_counts: tuple[RejectionCount, ...]
    reached_cap: bool

    @property
    def rejected(self) -> int:
        return sum(count.count for count in self.rejection_counts)

    @property
    def rejections_unlisted(self) -> int:
        return self.rejected - len(self.rejections)

    @property
    def reports_read(self) -> int:
        return self.accepted + self.duplicates + self.rejected


def _varint_bytes(value: int) -> int:
    """Bytes of a non-negative protobuf varint."""
    return max(1, (value.bit_length() + 6) // 7)


def _text_field_bytes(max_bytes: int) -> int:
    # A one-byte tag (field numbers up to 15), the length, the text.
    return 1 + _varint_bytes(max_bytes) + max_bytes


_INT32_FIELD_BYTES = 1 + 5  # a tag and a non-negative int32
_ENUM_OR_BOOL_FIELD_BYTES = 1 + 1  # a tag and a value below 128


def _message_field_bytes(body_bytes: int) -> int:
    return 1 + _varint_bytes(body_bytes) + body_bytes


def import_summary_max_bytes(rejections_listed: int) -> int:
    """An upper bound of an ``ImportSummary``'s size as protobuf encodes it (pantau.v1).

    It holds whatever the batch held, with at most ``rejections_listed``
    rejections listed: the texts are cut to their bounds above, a field is one
    of ``LODGING_REPORT_FIELDS`` or none, and counts are int32. The settings
    refuse a ``max_rejections_listed`` whose summary could exceed
    ``max_message_bytes``.
    """
    rejection = _message_field_bytes(
        _INT32_FIELD_BYTES  # index
        + 2 * _text_field_bytes(REJECTION_ECHO_MAX_BYTES)  # lodging_id, reference
        + _text_field_bytes(REJECTION_FIELD_MAX_BYTES)
        + _text_field_bytes(REJECTION_REASON_MAX_BYTES)
        + _ENUM_OR_BOOL_FIELD_BYTES  # reason_code
    )
    count = _message_field_bytes(
        _text_field_bytes(REJECTION_FIELD_MAX_BYTES)
        + _ENUM_OR_BOOL_FIELD_BYTES
        + _INT32_FIELD_BYTES
    )
    count_groups = (len(LODGING_REPORT_FIELDS) + 1) * len(RejectionReason)
    # accepted, duplicates, rejected, rejections_unlisted, reports_read; reached_cap.
    totals = 5 * _INT32_FIELD_BYTES + _ENUM_OR_BOOL_FIELD_BYTES
    return totals + count_groups * count + rejections_listed * rejection


def max_rejections_listed_within(max_message_bytes: int) -> int:
    """The most rejections a summary may list and still fit in ``max_message_bytes``."""
    fixed = import_summary_max_bytes(0)
    per_rejection = import_summary_max_bytes(1) - fixed
    return max(0, (max_message_bytes - fixed) // per_rejection)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_page_token: str = ""
