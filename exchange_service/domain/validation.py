"""Validation of requests (registry, queries, alerts): every bad field is named, nothing guessed.

Each ``valid_*`` function returns clean domain values or raises ``InvalidInput``
listing every violation found, with the field's path in the request.
"""

from __future__ import annotations

import enum
import math
import re
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from typing import TypeVar

from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import (
    AlertFilter,
    AlertStatus,
    ReviewDecision,
    RuleName,
    Severity,
    SubjectKind,
)
from exchange_service.domain.codes import is_known_state_code, normalize_state_code
from exchange_service.domain.errors import FieldViolation, InvalidInput, Violations
from exchange_service.domain.model import (
    Address,
    BirthDate,
    GeoPoint,
    Identity,
    PermitType,
    Sex,
    SightingSource,
    StayPermit,
    TravelDocument,
)
from watchlist.documents import VALID_DOCUMENT_NUMBER, normalize_document_number


@dataclass(frozen=True)
class Limits:
    """Caps on request sizes; the API documents the same numbers."""

    name_length: int = 100
    documents_per_person: int = 10
    permit_number_length: int = 50
    sponsor_length: int = 200
    purpose_length: int = 200
    address_line_length: int = 300
    reference_length: int = 100
    place_name_length: int = 200
    search_name_min: int = 2
    search_name_max: int = 200
    search_page_size_default: int = 20
    search_page_size_max: int = 100
    near_page_size_default: int = 50
    near_page_size_max: int = 500
    near_radius_max_meters: float = 100_000.0
    page_token_length: int = 1000
    alerts_page_size_default: int = 50
    alerts_page_size_max: int = 500
    # An alert's subject key (a sponsor's opaque key; a person's id is a UUID).
    subject_id_length: int = 200
    review_note_length: int = 2000
    # How far in the future a reported instant may lie (clock skew of devices).
    clock_skew: timedelta = timedelta(minutes=5)
    earliest_birth_year: int = 1900


LIMITS = Limits()

_PORT_CODE = re.compile(r"^[A-Z0-9]{2,10}$")


def _clean_text(text: str) -> str:
    """Unicode NFC with runs of white space folded to one space."""
    return " ".join(unicodedata.normalize("NFC", text).split())


def _has_control_chars(text: str) -> bool:
    return any(unicodedata.category(ch).startswith("C") for ch in text)


def text_field(v: Violations, path: str, raw: str, *, max_length: int, required: bool) -> str:
    text = _clean_text(raw)
    if required and not text:
        v.add(path, "is required")
    elif len(text) > max_length:
        v.add(path, f"is {len(text)} characters long; at most {max_length} allowed")
    elif _has_control_chars(text):
        v.add(path, "contains control characters")
    return text


def uuid_field(v: Violations, path: str, raw: str) -> uuid.UUID:
    if not raw:
        v.add(path, "is required")
        return uuid.UUID(int=0)
    parsed = cmd.parse_uuid(raw)
    if parsed is None:
        v.add(path, "is not a valid id (a UUID)")
        return uuid.UUID(int=0)
    return parsed


def state_code_field(v: Violations, path: str, raw: str, *, required: bool = True) -> str:
    code = normalize_state_code(raw)
    if not code:
        if required:
            v.add(path, "is required (ISO 3166-1 alpha-3 or ICAO 9303 code)")
        return code
    if not is_known_state_code(code):
        v.add(path, f"{raw!r} is not an ISO 3166-1 alpha-3 or ICAO 9303 code")
    return code


def date_field(
    v: Violations, path: str, parts: cmd.DateParts | None, *, required: bool
) -> date | None:
    if parts is None or parts.is_empty:
        if required:
            v.add(path, "is required")
        return None
    try:
        return date(parts.year, parts.month, parts.day)
    except ValueError:
        v.add(path, f"{parts.year:04d}-{parts.month:02d}-{parts.day:02d} is not a calendar date")
        return None


def instant_field(v: Violations, path: str, value: datetime | None, now: datetime) -> datetime:
    if value is None:
        v.add(path, "is required")
        return now
    if value > now + LIMITS.clock_skew:
        v.add(path, "lies in the future")
    return value


def reported_at_field(
    v: Violations, path: str, value: datetime | None, received_at: datetime
) -> datetime:
    """When a report was made: as the request says (an import of a past report), else on receipt.

    Not in the future, by the same allowance for devices' clocks as every instant.
    """
    if value is None:
        return received_at
    return instant_field(v, path, value, received_at)


def point_field(v: Violations, path: str, point: cmd.RawPoint | None) -> GeoPoint:
    if point is None:
        v.add(path, "is required")
        return GeoPoint(0.0, 0.0)
    lat, lon = point.latitude, point.longitude
    if not math.isfinite(lat) or not -90.0 <= lat <= 90.0:
        v.add(f"{path}.latitude", f"{lat} is outside -90 to 90 degrees")
    if not math.isfinite(lon) or not -180.0 <= lon <= 180.0:
        v.add(f"{path}.longitude", f"{lon} is outside -180 to 180 degrees")
    return GeoPoint(lat, lon)


def port_code_field(v: Violations, path: str, raw: str) -> str:
    code = raw.strip().upper()
    if not code:
        v.add(path, "is required")
    elif not _PORT_CODE.match(code):
        v.add(path, "must be 2 to 10 letters or digits (UN/LOCODE, IATA or checkpoint code)")
    return code


def document_field(v: Violations, path: str, raw: cmd.RawDocument | None) -> TravelDocument:
    if raw is None:
        v.add(path, "is required")
        return TravelDocument("", "")
    state = state_code_field(v, f"{path}.issuing_state", raw.issuing_state)
    number = normalize_document_number(raw.number)
    if not number:
        v.add(f"{path}.number", "is required")
    elif not VALID_DOCUMENT_NUMBER.match(number):
        v.add(f"{path}.number", "must be 1 to 20 letters or digits")
    expiry = date_field(v, f"{path}.expiry_date", raw.expiry_date, required=False)
    return TravelDocument(state, number, expiry)


def birth_date_field(
    v: Violations, path: str, parts: cmd.DateParts | None, today: date
) -> BirthDate:
    if parts is None or parts.year == 0:
        v.add(f"{path}.year" if parts else path, "is required")
        return BirthDate(0)
    if not LIMITS.earliest_birth_year <= parts.year <= today.year:
        v.add(
            f"{path}.year", f"{parts.year} is outside {LIMITS.earliest_birth_year} to {today.year}"
        )
        return BirthDate(parts.year)
    if parts.month == 0:
        if parts.day != 0:
            v.add(f"{path}.day", "must be 0 when the month is unknown")
        return BirthDate(parts.year)
    if not 1 <= parts.month <= 12:
        v.add(f"{path}.month", f"{parts.month} is not a month")
        return BirthDate(parts.year)
    if parts.day == 0:
        return BirthDate(parts.year, parts.month)
    try:
        born = date(parts.year, parts.month, parts.day)
    except ValueError:
        v.add(path, f"{parts.year:04d}-{parts.month:02d}-{parts.day:02d} is not a calendar date")
        return BirthDate(parts.year, parts.month)
    if born > today:
        v.add(path, "lies in the future")
    return BirthDate(parts.year, parts.month, parts.day)


def valid_registration(
    request: cmd.RegisterPerson, today: date, home_country: str
) -> tuple[Identity, tuple[TravelDocument, ...]]:
    v = Violations()
    family = text_field(
        v, "person.family_name", request.family_name, max_length=LIMITS.name_length, required=True
    )
    given = text_field(
        v, "person.given_names", request.given_names, max_length=LIMITS.name_length, required=False
    )
    nationality = state_code_field(v, "person.nationality", request.nationality)
    if nationality == home_country:
        v.add("person.nationality", f"{home_country} citizens are not foreigners")
    birth = birth_date_field(v, "person.birth_date", request.birth_date, today)
    v.check(
        request.sex is not None, "person.sex", "is required (SEX_UNKNOWN when the document says X)"
    )
    if not request.documents:
        v.add("person.documents", "at least one travel document is required")
    if len(request.documents) > LIMITS.documents_per_person:
        v.add("person.documents", f"at most {LIMITS.documents_per_person} documents allowed")
    documents = tuple(
        document_field(v, f"person.documents[{i}]", raw)
        for i, raw in enumerate(request.documents[: LIMITS.documents_per_person])
    )
    seen: set[tuple[str, str]] = set()
    for i, document in enumerate(documents):
        key = (document.issuing_state, document.number)
        if key in seen:
            v.add(f"person.documents[{i}]", "the same document is listed twice")
        seen.add(key)
    v.raise_if_any()
    return Identity(family, given, nationality, birth, request.sex or Sex.UNKNOWN), documents


def valid_document_addition(request: cmd.AddTravelDocument) -> tuple[uuid.UUID, TravelDocument]:
    v = Violations()
    person_id = uuid_field(v, "person_id", request.person_id)
    document = document_field(v, "document", request.document)
    v.raise_if_any()
    return person_id, document


def permit_field(v: Violations, path: str, raw: cmd.RawPermit | None) -> StayPermit:
    if raw is None:
        v.add(path, "is required")
        return StayPermit("", PermitType.VISIT, date.min, date.min)
    number = text_field(
        v,
        f"{path}.permit_number",
        raw.permit_number,
        max_length=LIMITS.permit_number_length,
        required=True,
    )
    v.check(raw.type is not None, f"{path}.type", "is required")
    valid_from = date_field(v, f"{path}.valid_from", raw.valid_from, required=True)
    valid_until = date_field(v, f"{path}.valid_until", raw.valid_until, required=True)
    if valid_from and valid_until and valid_until < valid_from:
        v.add(f"{path}.valid_until", f"{valid_until} is before valid_from {valid_from}")
    sponsor = text_field(
        v, f"{path}.sponsor", raw.sponsor, max_length=LIMITS.sponsor_length, required=False
    )
    purpose = text_field(
        v, f"{path}.purpose", raw.purpose, max_length=LIMITS.purpose_length, required=False
    )
    return StayPermit(
        permit_number=number,
        type=raw.type or PermitType.VISIT,
        valid_from=valid_from or date.min,
        valid_until=valid_until or date.min,
        sponsor=sponsor,
        purpose=purpose,
    )


def valid_entry(
    request: cmd.RecordEntry, now: datetime, zone: tzinfo
) -> tuple[uuid.UUID, str, datetime, StayPermit]:
    """An entry whose permit covers the local day of entry."""
    v = Violations()
    person_id = uuid_field(v, "person_id", request.person_id)
    port = port_code_field(v, "port_code", request.port_code)
    entered_at = instant_field(v, "entered_at", request.entered_at, now)
    permit = permit_field(v, "permit", request.permit)
    if not v.items:
        entry_day = entered_at.astimezone(zone).date()
        if permit.valid_from > entry_day:
            v.add("permit.valid_from", f"{permit.valid_from} is after the day of entry {entry_day}")
        elif permit.valid_until < entry_day:
            v.add(
                "permit.valid_until", f"{permit.valid_until} is before the day of entry {entry_day}"
            )
    v.raise_if_any()
    return person_id, port, entered_at, permit


def valid_extension(request: cmd.ExtendPermit) -> tuple[uuid.UUID, StayPermit]:
    v = Violations()
    stay_id = uuid_field(v, "stay_id", request.stay_id)
    permit = permit_field(v, "permit", request.permit)
    v.raise_if_any()
    return stay_id, permit


def valid_exit(request: cmd.RecordExit, now: datetime) -> tuple[uuid.UUID, str, datetime]:
    v = Violations()
    person_id = uuid_field(v, "person_id", request.person_id)
    port = port_code_field(v, "port_code", request.port_code)
    exited_at = instant_field(v, "exited_at", request.exited_at, now)
    v.raise_if_any()
    return person_id, port, exited_at


@dataclass(frozen=True)
class AddressReportInput:
    person_id: uuid.UUID
    address: Address
    effective_from: date
    reported_at: datetime


def valid_address_report(
    request: cmd.ReportAddress, received_at: datetime, zone: tzinfo
) -> AddressReportInput:
    """A report of a move already made, reported (if it says when) on or after its day."""
    v = Violations()
    today = received_at.astimezone(zone).date()
    person_id = uuid_field(v, "person_id", request.person_id)
    line = text_field(
        v, "address.line", request.line, max_length=LIMITS.address_line_length, required=True
    )
    location = point_field(v, "address.location", request.location)
    effective = date_field(v, "effective_from", request.effective_from, required=True)
    reported_at = reported_at_field(v, "reported_at", request.reported_at, received_at)
    # A move is reported once made: the current address is the latest one in
    # effect, and nothing would make a future one current on its day.
    if effective and effective > today:
        v.add("effective_from", f"{effective} lies in the future (today is {today} local time)")
    elif effective and request.reported_at is not None:
        # For the same reason an imported report cannot predate its move.
        reported_on = reported_at.astimezone(zone)
        if reported_on.date() < effective:
            v.add(
                "reported_at",
                f"{reported_on.isoformat(timespec='seconds')} is before effective_from"
                f" {effective} (local time): a move is reported once made",
            )
    v.raise_if_any()
    return AddressReportInput(person_id, Address(line, location), effective or today, reported_at)


@dataclass(frozen=True)
class SightingInput:
    person_id: uuid.UUID | None
    document: TravelDocument | None
    location: GeoPoint
    observed_at: datetime
    source: SightingSource
    reference: str
    place_name: str
    reported_at: datetime


def valid_sighting(request: cmd.RecordSighting, now: datetime) -> SightingInput:
    """A sighting seen and reported (if it says when) no later than now, in that order."""
    v = Violations()
    person_id: uuid.UUID | None = None
    document: TravelDocument | None = None
    if request.person_id is not None:
        person_id = uuid_field(v, "person_id", request.person_id)
    elif request.document is not None:
        document = document_field(v, "document", request.document)
    else:
        v.add("subject", "person_id or document is required")
    location = point_field(v, "location", request.location)
    observed_at = instant_field(v, "observed_at", request.observed_at, now)
    reported_at = reported_at_field(v, "reported_at", request.reported_at, now)
    if request.reported_at is not None and request.observed_at is not None:
        # Named without the other field's name: a lodging report calls it occurred_at.
        v.check(
            reported_at >= observed_at,
            "reported_at",
            f"is before the sighting itself ({observed_at.isoformat()})",
        )
    v.check(request.source is not None, "source", "is required")
    reference = text_field(
        v, "reference", request.reference, max_length=LIMITS.reference_length, required=False
    )
    place = text_field(
        v, "place_name", request.place_name, max_length=LIMITS.place_name_length, required=False
    )
    v.raise_if_any()
    return SightingInput(
        person_id,
        document,
        location,
        observed_at,
        request.source or SightingSource.COMMUNITY_REPORT,
        reference,
        place,
        reported_at,
    )


def page_size_field(v: Violations, path: str, raw: int, default: int, cap: int) -> int:
    if raw < 0:
        v.add(path, "must not be negative")
        return default
    if raw > cap:
        v.add(path, f"{raw} is over the cap of {cap}")
        return cap
    return raw or default


@dataclass(frozen=True)
class SearchInput:
    name: str
    nationality: str
    birth_year: int
    page_size: int


def valid_search(request: cmd.SearchPersons, today: date) -> SearchInput:
    v = Violations()
    name = _clean_text(request.name)
    if len(name) < LIMITS.search_name_min:
        v.add("name", f"needs at least {LIMITS.search_name_min} characters")
    elif len(name) > LIMITS.search_name_max:
        v.add("name", f"is {len(name)} characters long; at most {LIMITS.search_name_max} allowed")
    nationality = state_code_field(v, "nationality", request.nationality, required=False)
    if request.birth_year and not LIMITS.earliest_birth_year <= request.birth_year <= today.year:
        v.add(
            "birth_year",
            f"{request.birth_year} is outside {LIMITS.earliest_birth_year} to {today.year}",
        )
    size = page_size_field(
        v,
        "page_size",
        request.page_size,
        LIMITS.search_page_size_default,
        LIMITS.search_page_size_max,
    )
    if len(request.page_token) > LIMITS.page_token_length:
        v.add("page_token", "is malformed")
    v.raise_if_any()
    return SearchInput(name, nationality, request.birth_year, size)


@dataclass(frozen=True)
class NearInput:
    center: GeoPoint
    radius_meters: float
    page_size: int


def valid_near(request: cmd.ListPersonsNear) -> NearInput:
    v = Violations()
    center = point_field(v, "center", request.center)
    radius = request.radius_meters
    if not math.isfinite(radius) or radius <= 0:
        v.add("radius_meters", "must be more than 0")
    elif radius > LIMITS.near_radius_max_meters:
        v.add(
            "radius_meters",
            f"{radius:g} is over the cap of {LIMITS.near_radius_max_meters:g} (100 km)",
        )
    size = page_size_field(
        v,
        "page_size",
        request.page_size,
        LIMITS.near_page_size_default,
        LIMITS.near_page_size_max,
    )
    if len(request.page_token) > LIMITS.page_token_length:
        v.add("page_token", "is malformed")
    v.raise_if_any()
    return NearInput(center, radius, size)


def valid_person_key(key: cmd.PersonKey) -> tuple[uuid.UUID | None, TravelDocument | None]:
    v = Violations()
    if key.person_id is not None:
        person_id = uuid_field(v, "person_id", key.person_id)
        v.raise_if_any()
        return person_id, None
    if key.document is not None:
        document = document_field(v, "document", key.document)
        v.raise_if_any()
        return None, document
    v.add("key", "person_id or document is required")
    v.raise_if_any()
    return None, None


# --- alerts ---------------------------------------------------------------------

_DISTRICT_CODE = re.compile(r"^[0-9]{2}\.[0-9]{2}\.[0-9]{2}$")
E = TypeVar("E", bound=enum.StrEnum)


def enum_field(v: Violations, path: str, raw: str, values: type[E], what: str) -> E | None:
    """The enum value named ``raw``; '' is None (not given), anything else unknown a violation."""
    if not raw:
        return None
    try:
        return values(raw)
    except ValueError:
        v.add(path, f"{raw!r} is not {what} ({', '.join(values)})")
        return None


def required_enum(v: Violations, path: str, raw: str, values: type[E], what: str) -> E | None:
    value = enum_field(v, path, raw, values, what)
    if value is None and not raw:
        v.add(path, f"is required ({', '.join(values)})")
    return value


def valid_alert_query(request: cmd.ListAlerts) -> tuple[AlertFilter, int]:
    """The filter of an alert listing, and its page size."""
    v = Violations()
    rules = {
        required_enum(v, f"rules[{i}]", raw, RuleName, "a rule")
        for i, raw in enumerate(request.rules)
    }
    statuses = {
        required_enum(v, f"statuses[{i}]", raw, AlertStatus, "an alert status")
        for i, raw in enumerate(request.statuses)
    }
    min_severity = enum_field(v, "min_severity", request.min_severity, Severity, "a severity")
    district = request.district_code.strip()
    if district and not _DISTRICT_CODE.match(district):
        v.add("district_code", f"{district!r} is not a district code like '21.05.01'")
    subject_kind, subject_id = None, ""
    if request.person_id is not None:
        subject_kind, subject_id = (
            SubjectKind.PERSON,
            str(uuid_field(v, "person_id", request.person_id)),
        )
    elif request.sponsor_id is not None:
        subject_kind = SubjectKind.SPONSOR
        subject_id = text_field(
            v,
            "sponsor_id",
            request.sponsor_id,
            max_length=LIMITS.subject_id_length,
            required=True,
        )
    size = page_size_field(
        v,
        "page_size",
        request.page_size,
        LIMITS.alerts_page_size_default,
        LIMITS.alerts_page_size_max,
    )
    if len(request.page_token) > LIMITS.page_token_length:
        v.add("page_token", "is malformed")
    v.raise_if_any()
    return (
        AlertFilter(
            rules=frozenset(rule for rule in rules if rule is not None),
            statuses=frozenset(status for status in statuses if status is not None),
            min_severity=min_severity,
            district_code=district,
            subject_kind=subject_kind,
            subject_id=subject_id,
            since=request.since,
        ),
        size,
    )


def valid_alert_id(raw: str) -> uuid.UUID:
    v = Violations()
    alert_id = uuid_field(v, "alert_id", raw)
    v.raise_if_any()
    return alert_id


def valid_review(request: cmd.ReviewAlert) -> tuple[uuid.UUID, ReviewDecision, str]:
    """The alert, the decision and the note; a dismissal must say why."""
    v = Violations()
    alert_id = uuid_field(v, "alert_id", request.alert_id)
    decision = required_enum(v, "decision", request.decision, ReviewDecision, "a decision")
    note = text_field(v, "note", request.note, max_length=LIMITS.review_note_length, required=False)
    if decision is ReviewDecision.DISMISS and not note:
        v.add("note", "is required to dismiss an alert: say why it is a false positive")
    v.raise_if_any()
    if decision is None:  # cannot be: a missing or unknown decision is a violation above
        raise InvalidInput([FieldViolation("decision", "is required")])
    return alert_id, decision, note
