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


@dataclass(frozen=True)
class RejectedLodgingReport:
    """Why one report of a lodging batch was not recorded.

    ``field`` is the path in the report at fault, empty when the report as a
    whole is (it came after the batch's cap).
    """

    index: int
    lodging_id: str
    reference: str
    field: str
    reason: str


@dataclass(frozen=True)
class ImportSummary:
    """What became of a lodging batch: new sightings, repeats of earlier ones, rejections."""

    accepted: int
    duplicates: int
    rejections: tuple[RejectedLodgingReport, ...]

    @property
    def rejected(self) -> int:
        return len(self.rejections)


@dataclass(frozen=True)
class Page(Generic[T]):
    items: tuple[T, ...]
    next_page_token: str = ""
