"""A realistic, deterministic sample of foreigners in the Anambas Islands.

``generate_sample`` is deterministic: from a seed, a day and the registry's
placement of points it builds the commands a registry clerk would send for a
few hundred foreigners (fishing crews, yacht tourists, oil and gas workers on
Matak, investors and marine researchers), with their entries, permit
extensions, exits, address reports and sightings. ``load_sample_into`` sends
them through the real use cases, so the sample is validated exactly like real
input, and can be run again without failing or writing anything twice.

Beside the persons drawn from the groups comes a fixed cast, the rule cases
(``SamplePerson.cases``): on the sample's day each early-warning rule holds
for someone of it, and someone stands one step short of each rule (its edge),
their facts set against the rules' numbers (``RuleSettings``) and the visa on
arrival's limit:

- OVERSTAY: crews whose permits lapsed (the sponsors' below); at the edge, a
  yacht tourist whose visa on arrival ends today.
- PERMIT_EXPIRING: that yacht tourist (0 days left); at the edge, a seagrass
  surveyor whose visit permit ends a day after the warning begins.
- UNREPORTED_ADDRESS_CHANGE: an oil and gas worker registered at his Matak
  mess, seen at a Tarempa lodging and by the police in Tarempa since a day
  past the grace window; at the edge, a reef researcher seen far from her
  homestay only once, a ship's engineer from Letung first seen in Tarempa on
  the grace window's last day, and a turtle researcher who reported the
  house in Tarempa after being seen there.
- NO_RECENT_CONTACT: a Vietnamese wife of a Kuala Maras fisherman on an ITAP,
  last heard of in a village head's report; at the edge, a seaweed-farm
  investor last seen a day inside the threshold.
- RESTRICTED_AREA_PRESENCE: a yachtsman stopped at the Matak oil and gas
  zone's security post; at the edge, an oil and gas worker stopped there.
- SPONSOR_OVERSTAY_CLUSTER: a fishing company whose crew, left behind by
  their vessel, all overstay; at the edge, a company with one overstaying
  crew member fewer than the threshold (the last one's permit extended).
- PERMIT_LIMIT_EXCEEDED: a yachtsman's visa on arrival extended by a calendar
  month in the previous system, a day over its limit; at the edge, one
  extended through ``ExtendPermit`` to exactly its limit.

Those two residents and the over-limit visa come with the records migrated
from the previous system the office used before Pantau: their stays are
written as it held them, straight to the registry store (``_PreviousSystem``),
past ``ExtendPermit``'s limit check and with the times it recorded each
permit period (a period recorded at the load would be a contact of today).
The edges hold on the day the sample was first loaded; days later, as in
life, some have passed them.

Names, passport numbers, villages and address lines come from
``tools.people``, as the benchmark's do; a home is drawn where the registry's
own placement of points (``storage.boundaries.place_point``) files it under
the village its address names.

Names, documents and party sizes come from one random stream per group (and
one for the rule cases, drawn after the groups') and never depend on the day;
dates are drawn as offsets from the day, so the same seed gives the same
people on any day. A database that already holds the sample keeps the day it
was first loaded on (the first person's registration day), so a later run
regenerates the very same records and writes nothing new.

Every instant lies on a day before ``today`` (local time), so the server never
sees the future. Addresses and sightings carry the time they were reported,
as an import of past records would, not the time they are loaded: a home is
reported within days of moving in, a timely move within 3 days of the move (in
the last 10 days), a late one ("reported late") 15 days or more after it (a
move 20 to 75 days before the sample's day); a lodging reports a check-in or
check-out within the hour, an officer or a village head a sighting within
hours. Those times come from streams of their own, so the rest of the sample
does not depend on them.
"""

from __future__ import annotations

import enum
import math
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo

from rich.console import Console
from rich.table import Table

from exchange_service.app import (
    Application,
    build_application,
    build_screener,
    permit_limits,
    rule_settings,
)
from exchange_service.data.loader import PlaceKind, airports, places
from exchange_service.domain import commands as cmd
from exchange_service.domain import validation as valid
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.alerts import RuleName, RuleSettings, SubjectKind
from exchange_service.domain.audit import Actor
from exchange_service.domain.clock import Clock, local_today, system_clock
from exchange_service.domain.errors import FailedPrecondition, NotFound
from exchange_service.domain.model import (
    GeoPoint,
    PermitType,
    PersonDossier,
    Sex,
    SightingSource,
    Stay,
)
from exchange_service.domain.permits import PermitLimits
from exchange_service.domain.watchlist import UpsertEntry, WatchlistKind
from exchange_service.settings import Settings
from exchange_service.storage.boundaries import place_point
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.tools import people
from exchange_service.tools.people import Village

__all__ = [
    "Group",
    "RuleCase",
    "SamplePerson",
    "SampleStay",
    "SampleSummary",
    "Trait",
    "VillageOf",
    "generate_sample",
    "load_sample_into",
    "registry_placement",
]

DEFAULT_TIMEZONE = "Asia/Jakarta"
# Entries lie at most this many days before the sample's day.
WINDOW_DAYS = 730
# Address moves this many days before the sample's day are timely, reported
# within TIMELY_REPORT_DAYS of the move; the sample's late movers moved 20 to 75
# days before it and reported LATE_REPORT_DAYS or more after the move (past the
# 14-day grace window of Pasal 71's default).
TIMELY_MOVE_DAYS = 10
LATE_MOVE_DAYS = (20, 75)
TIMELY_REPORT_DAYS = 3
LATE_REPORT_DAYS = 15
# Minutes from a sighting to its report, by who reports it.
REPORT_DELAY_MINUTES: dict[SightingSource, tuple[int, int]] = {
    SightingSource.LODGING_CHECK_IN: (5, 60),
    SightingSource.LODGING_CHECK_OUT: (5, 60),
    SightingSource.POLICE_CHECK: (30, 180),
    SightingSource.IMMIGRATION_CHECK: (30, 180),
    SightingSource.LOCAL_GOVERNMENT: (60, 180),
    SightingSource.COMMUNITY_REPORT: (60, 180),
}


class Group(enum.StrEnum):
    FISHING_CREW = "fishing crew"
    YACHT_TOURIST = "yacht tourist"
    OIL_GAS_WORKER = "oil and gas worker"
    INVESTOR = "investor"
    RESEARCHER = "researcher"
    # Only in the rule cases: a foreigner married to an Indonesian, on a family permit.
    SPOUSE = "spouse of a citizen"


class Trait(enum.StrEnum):
    """What makes a sample person interesting to the early-warning rules."""

    PRESENT = "present"  # the last stay is open
    EXITED = "exited"  # the last stay is closed
    EXTENDED = "extended"  # a permit was extended
    OVERSTAYING = "overstaying"  # open stay, permit ended before today
    MOVED = "moved"  # a second address was reported
    LATE_ADDRESS_REPORT = "late address report"  # the move was reported weeks late
    RETURNING = "returning"  # an earlier stay ended with an exit
    RENEWED_PASSPORT = "renewed passport"  # a second travel document was added
    ABSCONDED = "absconded"  # stayed behind when the vessel's crew left
    MIGRATED = "migrated"  # the stay came with the records migrated from the previous system


# Share of each group in the drawn population, and the nationalities within it (the rule
# cases come on top).
GROUP_SHARES: dict[Group, float] = {
    Group.FISHING_CREW: 0.38,
    Group.YACHT_TOURIST: 0.22,
    Group.OIL_GAS_WORKER: 0.20,
    Group.INVESTOR: 0.10,
    Group.RESEARCHER: 0.10,
}
NATIONALITIES: dict[Group, dict[str, float]] = {
    Group.FISHING_CREW: {"VNM": 0.6, "CHN": 0.4},
    Group.YACHT_TOURIST: {
        "AUS": 0.25,
        "GBR": 0.15,
        "FRA": 0.15,
        "DEU": 0.13,
        "USA": 0.12,
        "NLD": 0.10,
        "NZL": 0.10,
    },
    Group.OIL_GAS_WORKER: {
        "MYS": 0.20,
        "PHL": 0.20,
        "GBR": 0.15,
        "IND": 0.13,
        "USA": 0.12,
        "SGP": 0.10,
        "NOR": 0.10,
    },
    Group.INVESTOR: {"SGP": 0.30, "MYS": 0.25, "CHN": 0.20, "KOR": 0.13, "JPN": 0.12},
    Group.RESEARCHER: {"AUS": 0.30, "JPN": 0.25, "USA": 0.25, "DEU": 0.20},
}

# --- places -----------------------------------------------------------------------

VillageOf = Callable[[cmd.RawPoint], str | None]
"""The code of the village the registry files a point under (None: no village)."""


@dataclass(frozen=True)
class Landmark:
    """A port or airport of the shipped places, where parties arrive."""

    name: str
    latitude: float
    longitude: float


def _landmarks() -> dict[str, Landmark]:
    """Ports by name and airports by IATA code."""
    ports = (PlaceKind.FISHING_PORT, PlaceKind.SPECIAL_TERMINAL)
    found = {
        place.name: Landmark(place.name, place.latitude, place.longitude)
        for place in places()
        if place.kind in ports
    }
    for airport in airports():
        found[airport.iata] = Landmark(airport.name, airport.latitude, airport.longitude)
    return found


# Villages whose centroid lies inside their own boundary, by area.
AREAS: dict[str, tuple[str, ...]] = {
    "tarempa": (
        "Terempa",
        "Terempa Barat",
        "Tarempa Barat Daya",
        "Sri Tanjung",
        "Pesisir Timur",
        "Tarempa Selatan",
    ),
    "matak": ("Matak", "Payalaman", "Payamaram", "Teluk Bayur", "Batu Ampar"),
    "jemaja": ("Letung", "Batu Berapit", "Landak", "Mampok", "Air Biru"),
    "jemaja_timur": ("Kuala Maras", "Ulu Maras", "Bukit Padi"),
    "palmatak": ("Tebang", "Piabung", "Langir", "Candi"),
    "siantan_selatan": ("Air Bini", "Tiangau", "Telaga"),
    "siantan_utara": ("Mubur", "Piasan", "Bayat"),
    "siantan_timur": ("Munjan", "Serat", "Air Putih"),
    "siantan_tengah": ("Lidi", "Teluk Sunting", "Air Asuk"),
}


@dataclass(frozen=True)
class Port:
    code: str
    place: str  # a port's name or an airport's IATA code in the shipped places


# Ports of entry (TPI) the sample uses.
TAREMPA_SEA = Port("IDTRE", "PP. Antang Tarempa")
JEMAJA_SEA = Port("IDJEM", "PP. Jemaja")
MATAK_AIR = Port("MWK", "MWK")
LETUNG_AIR = Port("LMU", "LMU")


@dataclass(frozen=True)
class Lodging:
    lodging_id: str
    name: str
    village: str


LODGINGS: dict[str, tuple[Lodging, ...]] = {
    "tarempa": (
        Lodging("TRP001", "Hotel Tarempa Indah", "Terempa"),
        Lodging("TRP002", "Penginapan Sri Siantan", "Sri Tanjung"),
        Lodging("TRP003", "Wisma Antang", "Pesisir Timur"),
        Lodging("TRP004", "Homestay Bukit Tarempa", "Tarempa Barat Daya"),
    ),
    "matak": (Lodging("MTK001", "Wisma Palmatak", "Payamaram"),),
    "jemaja": (Lodging("JMJ001", "Penginapan Letung Bahari", "Letung"),),
    "jemaja_timur": (Lodging("JMJ002", "Homestay Kuala Maras", "Kuala Maras"),),
    "siantan_selatan": (Lodging("SSL001", "Homestay Air Bini", "Air Bini"),),
    "siantan_utara": (Lodging("SUT001", "Homestay Mubur", "Mubur"),),
    "siantan_timur": (Lodging("STM001", "Homestay Munjan", "Munjan"),),
    "siantan_tengah": (Lodging("STG001", "Homestay Teluk Sunting", "Teluk Sunting"),),
    "palmatak": (Lodging("PMT001", "Penginapan Tebang", "Tebang"),),
}

# --- permits ----------------------------------------------------------------------


@dataclass(frozen=True)
class _PermitSpec:
    type: PermitType
    index: str  # visa index printed in the permit number
    first_days: int
    extension_days: int
    max_extensions: int
    sponsor: str
    purpose: str

    def cover(self, extensions: int) -> int:
        """Days covered by the first period and ``extensions`` extensions."""
        return self.first_days + extensions * self.extension_days


def _voa(purpose: str = "wisata bahari (yacht)") -> _PermitSpec:
    return _PermitSpec(PermitType.VOA, "B1", 30, 30, 1, "", purpose)


def _visit(sponsor: str, purpose: str, index: str = "C1") -> _PermitSpec:
    return _PermitSpec(PermitType.VISIT, index, 60, 60, 2, sponsor, purpose)


def _kitas(sponsor: str, purpose: str, index: str, days: int, renewals: int = 2) -> _PermitSpec:
    return _PermitSpec(PermitType.LIMITED_STAY, index, days, days, renewals, sponsor, purpose)


FISHING_COMPANIES = (
    "PT Samudera Anambas Perikanan",
    "PT Bintang Siantan Bahari",
    "PT Mitra Laut Natuna",
    "PT Jemaja Jaya Perikanan",
)
VESSEL_NAMES = (
    "KM Samudera Anambas",
    "KM Bintang Siantan",
    "KM Mitra Bahari",
    "KM Jemaja Jaya",
    "KM Sinar Laut Natuna",
    "KM Rezeki Tarempa",
)
YACHT_NAMES = (
    "Windrose",
    "Southern Cross",
    "Kookaburra",
    "Blue Heron",
    "Étoile de Mer",
    "Seebär",
    "Albatros",
    "Moana",
    "Wanderlust",
    "Kia Ora",
    "Zeemeeuw",
    "Sea Whisper",
    "Tern",
)
OIL_GAS_OPERATORS = (
    "PT Matak Offshore Services",
    "PT Anambas Migas Operasi",
    "PT Palmatak Energi Logistik",
)
INVESTOR_COMPANIES: tuple[tuple[str, str, str], ...] = (
    ("PT Anambas Resort Lestari", "pengembangan resor wisata", "jemaja_timur"),
    ("PT Siantan Rumput Laut Mandiri", "budidaya rumput laut", "siantan_selatan"),
    ("PT Kerapu Anambas Sejahtera", "budidaya ikan kerapu", "siantan_timur"),
    ("PT Tarempa Cold Storage", "pengolahan dan ekspor hasil perikanan", "tarempa"),
    ("PT Jemaja Bahari Wisata", "wisata selam", "jemaja"),
)
RESEARCH_SPONSORS = (
    "Universitas Maritim Raja Ali Haji",
    "Pusat Riset Oseanografi BRIN",
)
RESEARCH_TOPICS = (
    "penelitian terumbu karang",
    "penelitian penyu hijau",
    "penelitian ikan napoleon",
    "survei padang lamun",
)
RESEARCH_AREAS = ("siantan_utara", "siantan_selatan", "jemaja_timur", "siantan_tengah")
POLICE_CHECK = "Pemeriksaan rutin Polres Kepulauan Anambas"

# --- the sample -------------------------------------------------------------------


@dataclass(frozen=True)
class SampleStay:
    """One stay: entry, permit extensions in order, and the exit if there was one.

    ``person_id`` in the entry and exit is empty until loading fills it in; the
    extensions become ``ExtendPermit`` commands once the stay has an id.

    A stay of the records migrated from the previous system has
    ``previously_recorded_at``: when that system recorded each period (the
    entry's, then each extension's). It is written as that system holds it,
    straight to the registry store (``_migrate_stay``), not through the use
    cases, so an extension past its type's limit arrives as legacy data does.
    """

    entry: cmd.RecordEntry
    extensions: tuple[cmd.RawPermit, ...] = ()
    exit: cmd.RecordExit | None = None
    previously_recorded_at: tuple[datetime, ...] = ()

    @property
    def migrated(self) -> bool:
        """Whether the stay comes with the records migrated from the previous system."""
        return bool(self.previously_recorded_at)


@dataclass(frozen=True)
class RuleCase:
    """An early-warning rule a sample person is meant to trip, or to stay just short of.

    ``trips``: on the sample's day the rule's condition holds for the subject;
    otherwise the person is at the rule's edge, one step short of it, and
    ``why`` says which step. ``subject`` is whom the rule's alert is about: the
    person, or (``SPONSOR``) the sponsor of the person's last permit period.
    """

    rule: RuleName
    trips: bool
    why: str
    subject: SubjectKind = SubjectKind.PERSON


@dataclass(frozen=True)
class SamplePerson:
    """A person of the sample and every command to send for them, in order.

    Commands that name the person carry an empty ``person_id``, filled in
    after registration. Lodging reports name the person by document instead.
    """

    group: Group
    party: str  # the vessel, yacht, company or project the person came with
    registration: cmd.RegisterPerson
    later_documents: tuple[cmd.AddTravelDocument, ...]
    stays: tuple[SampleStay, ...]
    addresses: tuple[cmd.ReportAddress, ...]
    sightings: tuple[cmd.RecordSighting, ...]
    traits: frozenset[Trait]
    # The rule cases the person was made for (empty for the drawn population).
    cases: tuple[RuleCase, ...] = ()

    @property
    def nationality(self) -> str:
        return self.registration.nationality

    @property
    def document(self) -> cmd.RawDocument:
        return self.registration.documents[0]


@dataclass(frozen=True)
class SampleSummary:
    """What a load wrote; ``*_written`` are zero when the sample was already there."""

    day: date
    persons: int
    persons_written: int
    documents_written: int
    stays_written: int
    extensions_written: int
    exits_written: int
    addresses_written: int
    sightings_written: int
    sightings_known: int
    by_group: tuple[tuple[Group, str, int], ...] = ()
    traits: tuple[tuple[Trait, int], ...] = ()
    # Per rule, the rule cases' persons meant to trip it and those at its edge.
    rule_cases: tuple[tuple[RuleName, int, int], ...] = ()


class _Fate(enum.Enum):
    HERE = "here"
    LEFT = "left"
    OVERSTAY = "overstay"


@dataclass(frozen=True)
class _StayDays:
    entry: date
    until: tuple[date, ...]  # last valid day of each permit period, first one first
    exit: date | None


@dataclass(frozen=True)
class _Home:
    line: str
    point: cmd.RawPoint
    village_code: str  # empty for a yacht at anchor


@dataclass(frozen=True)
class _Identity:
    family: str
    given: str
    sex: Sex
    birth: cmd.DateParts


@dataclass
class _Draft:
    """A person being built."""

    group: Group
    party: str
    nationality: str
    identity: _Identity
    document: cmd.RawDocument
    renewal: cmd.RawDocument | None
    stays: list[tuple[_StayDays, _PermitSpec, Port, Port]] = field(default_factory=list)
    home_area: str = "tarempa"
    home_village: str = ""  # empty: any village of the home area
    lodging: Lodging | None = None
    address_prefix: str = ""
    moored: bool = False  # lives aboard a yacht at anchor
    home_key: str = ""  # persons with the same key share a home (a mess, a yacht, a house)
    traits: set[Trait] = field(default_factory=set)


def _offset(rng: random.Random, lat: float, lon: float, low: float, high: float) -> cmd.RawPoint:
    """A point ``low`` to ``high`` meters from (lat, lon) in a random direction."""
    bearing = rng.uniform(0.0, 2.0 * math.pi)
    meters = rng.uniform(low, high)
    dlat = meters * math.cos(bearing) / 111_320.0
    dlon = meters * math.sin(bearing) / (111_320.0 * math.cos(math.radians(lat)))
    return cmd.RawPoint(round(lat + dlat, 6), round(lon + dlon, 6))


def _parts(day: date) -> cmd.DateParts:
    return cmd.DateParts(day.year, day.month, day.day)


def _day_of(parts: cmd.DateParts | None) -> date:
    if parts is None:
        raise ValueError("the sample's dates are always given")
    return date(parts.year, parts.month, parts.day)


def _point(point: cmd.RawPoint | None) -> cmd.RawPoint:
    if point is None:
        raise ValueError("the sample's points are always given")
    return point


def _weighted(rng: random.Random, weights: dict[str, float]) -> str:
    return rng.choices(list(weights), weights=list(weights.values()))[0]


def _split(persons: int) -> dict[Group, int]:
    """Persons per group by largest remainder, so the counts add up exactly."""
    exact = {g: persons * share for g, share in GROUP_SHARES.items()}
    counts = {g: int(v) for g, v in exact.items()}
    rest = persons - sum(counts.values())
    for g in sorted(exact, key=lambda g: (-(exact[g] - counts[g]), list(GROUP_SHARES).index(g)))[
        :rest
    ]:
        counts[g] += 1
    return counts


class _Generator:
    """Builds the sample; one identity and one timeline stream per group."""

    def __init__(self, seed: int, today: date, zone: tzinfo, village_of: VillageOf) -> None:
        self.seed = seed
        self.today = today
        self.zone = zone
        self.village_of = village_of
        self.landmarks = _landmarks()
        self.lodging_sites: dict[str, _Home] = {}
        self.documents: set[tuple[str, str]] = set()
        self.references: set[str] = set()
        # Counted per group, so one group's people do not depend on another's size.
        self.overstays: Counter[Group] = Counter()
        self.movers: Counter[Group] = Counter()
        self.homes: dict[str, _Home] = {}

    # -- identity -------------------------------------------------------------------

    def identity(
        self, rng: random.Random, nationality: str, sex: Sex, years: tuple[int, int]
    ) -> _Identity:
        birth = cmd.DateParts(*people.birth_date(rng, years))
        family, given = people.person_name(rng, nationality, sex)
        return _Identity(family, given, sex, birth)

    def document(self, rng: random.Random, state: str, expires_in_days: int) -> cmd.RawDocument:
        while True:
            number = people.draw_passport_number(rng, state)
            if (state, number) not in self.documents:
                self.documents.add((state, number))
                break
        expiry = self.today + timedelta(days=expires_in_days)
        return cmd.RawDocument(state, number, _parts(expiry))

    def draft(
        self,
        rng: random.Random,
        group: Group,
        party: str,
        nationality: str,
        *,
        sex: Sex,
        years: tuple[int, int],
        renew_chance: float = 0.0,
    ) -> _Draft:
        identity = self.identity(rng, nationality, sex, years)
        renew = rng.random() < renew_chance
        document = self.document(
            rng, nationality, rng.randint(40, 200) if renew else rng.randint(300, 3400)
        )
        renewal = self.document(rng, nationality, rng.randint(3500, 3640)) if renew else None
        return _Draft(group, party, nationality, identity, document, renewal)

    # -- timelines ------------------------------------------------------------------

    def stay_days(
        self,
        rng: random.Random,
        spec: _PermitSpec,
        fate: _Fate,
        *,
        overstay_days: int = 0,
        max_ago: int = WINDOW_DAYS,
    ) -> _StayDays:
        """Entry, permit periods and exit, as offsets from today (never after yesterday)."""
        k = rng.randint(0, spec.max_extensions)
        if fate is _Fate.HERE:
            while True:
                low = spec.cover(k - 1) if k else 1
                high = min(max_ago, spec.cover(k) - 1)
                if low <= high or k == 0:
                    break
                k -= 1
            ago = rng.randint(low, max(low, high))
            exit_ago = None
        elif fate is _Fate.OVERSTAY:
            while k and overstay_days + spec.cover(k) - 1 > max_ago:
                k -= 1
            ago = overstay_days + spec.cover(k) - 1
            exit_ago = None
        else:
            ago = rng.randint(3, max_ago)
            while True:
                low = spec.cover(k - 1) if k else 1
                high = min(spec.cover(k) - 1, ago - 1)
                if low <= high or k == 0:
                    break
                k -= 1
            exit_ago = ago - rng.randint(low, max(low, high))
        entry = self.today - timedelta(days=ago)
        until = tuple(entry + timedelta(days=spec.cover(i) - 1) for i in range(k + 1))
        exit_day = None if exit_ago is None else self.today - timedelta(days=exit_ago)
        return _StayDays(entry, until, exit_day)

    def overstay_days(self, rng: random.Random, group: Group) -> int:
        """Alternately under and over the 60-day threshold of Pasal 78."""
        self.overstays[group] += 1
        return rng.randint(3, 45) if self.overstays[group] % 2 else rng.randint(61, 150)

    def at(self, rng: random.Random, day: date, hours: tuple[int, int]) -> datetime:
        moment = time(rng.randint(*hours), rng.randint(0, 59), 0)
        return datetime.combine(day, moment, tzinfo=self.zone)

    def reported(self, key: str, first: date, last: date) -> datetime:
        """When a report was made: office hours on a day from ``first`` to ``last``.

        Drawn from the report's own stream (named by ``key``), so adding the
        report times changed nothing else of the sample.
        """
        rng = random.Random(f"pantau-sample:{self.seed}:reported:{key}")
        day = first + timedelta(days=rng.randint(0, max(0, (last - first).days)))
        return self.at(rng, day, (8, 15))

    def sighting_reported(self, source: SightingSource, reference: str, seen: datetime) -> datetime:
        """When a sighting was reported: minutes to hours after it, by who reports it.

        Its own stream too; sightings are seen by 21:00, so the report is the
        same day.
        """
        rng = random.Random(f"pantau-sample:{self.seed}:reported:{source}:{reference}")
        return seen + timedelta(minutes=rng.randint(*REPORT_DELAY_MINUTES[source]))

    def reference(self, rng: random.Random, pattern: str, digits: int = 6) -> str:
        while True:
            reference = pattern.format(rng.randrange(10 ** (digits - 1), 10**digits))
            if reference not in self.references:
                self.references.add(reference)
                return reference

    # -- addresses and sightings ---------------------------------------------------

    def village(self, name: str) -> Village:
        return people.village_named(name)

    def landmark(self, port: Port) -> Landmark:
        try:
            return self.landmarks[port.place]
        except KeyError:
            raise KeyError(f"{port.place!r} is not in the shipped places") from None

    def holds(self, village_code: str, point: cmd.RawPoint) -> bool:
        """Whether the registry files ``point`` under that village."""
        return self.village_of(point) == village_code

    def spot(self, rng: random.Random, place: Village, low: float, high: float) -> cmd.RawPoint:
        """A point ``low`` to ``high`` meters from a village's centroid, filed under the village.

        Villages in Tarempa town are a few hundred meters across: the distance
        shrinks until the registry places the point in the village, else the
        centroid is used.
        """
        for attempt in range(24):
            scale = 1.0 if attempt < 8 else 0.5 if attempt < 16 else 0.2
            point = _offset(rng, place.latitude, place.longitude, low * scale, high * scale)
            if self.holds(place.code, point):
                return point
        return cmd.RawPoint(place.latitude, place.longitude)

    def lodging_site(self, lodging: Lodging) -> _Home:
        """A lodging's address and position; always the same for one lodging."""
        site = self.lodging_sites.get(lodging.lodging_id)
        if site is None:
            rng = random.Random(f"lodging:{lodging.lodging_id}")
            place = self.village(lodging.village)
            point = self.spot(rng, place, 50.0, 400.0)
            line = people.address_line(rng, place, lodging.name)
            site = self.lodging_sites[lodging.lodging_id] = _Home(line, point, place.code)
        return site

    def street_home(self, rng: random.Random, place: Village, prefix: str) -> _Home:
        line = people.address_line(rng, place, prefix)
        return _Home(line, self.spot(rng, place, 60.0, 700.0), place.code)

    def home(self, rng: random.Random, draft: _Draft) -> _Home:
        """The first home of a draft, shared within its party (a mess, a yacht, a lodging)."""
        key = draft.home_key or f"own:{draft.document.number}"
        if key not in self.homes:
            if draft.lodging is not None and draft.home_village == draft.lodging.village:
                self.homes[key] = self.lodging_site(draft.lodging)
            elif draft.moored:
                self.homes[key] = self.anchorage(rng, draft.party, draft.stays[-1][2])
            else:
                place = self.village(draft.home_village or rng.choice(AREAS[draft.home_area]))
                self.homes[key] = self.street_home(rng, place, draft.address_prefix)
        return self.homes[key]

    def anchorage(self, rng: random.Random, yacht: str, port: Port) -> _Home:
        """A yacht at anchor a few hundred meters off the port it entered by: in no village."""
        harbour = self.landmark(port)
        line = f"Kapal layar {yacht}, labuh jangkar dekat {harbour.name}"
        point = _offset(rng, harbour.latitude, harbour.longitude, 150.0, 600.0)
        return _Home(line, point, "")

    def address(
        self, rng: random.Random, home: _Home, day: date, reported: tuple[date, date], key: str
    ) -> cmd.ReportAddress:
        """A report of living at ``home`` from ``day``, a few meters from the party's spot.

        It was reported on a day in ``reported`` (first, last), drawn from the
        stream ``key``.
        """
        point = _offset(rng, home.point.latitude, home.point.longitude, 0.0, 15.0)
        if home.village_code and not self.holds(home.village_code, point):
            point = home.point
        return cmd.ReportAddress(
            person_id="",
            line=home.line,
            location=point,
            effective_from=_parts(day),
            reported_at=self.reported(key, *reported),
        )

    def lodging_report(
        self,
        rng: random.Random,
        document: cmd.RawDocument,
        lodging: Lodging,
        check_in: datetime,
        check_out: datetime | None,
    ) -> list[cmd.RecordSighting]:
        where = self.lodging_site(lodging).point
        # The reference an import of the lodging's own report would give the
        # same receipt, so importing it later recognises the sample's record.
        receipt = self.reference(rng, cmd.lodging_reference(lodging.lodging_id, "{}"))
        events = [(SightingSource.LODGING_CHECK_IN, check_in)]
        if check_out is not None:
            events.append((SightingSource.LODGING_CHECK_OUT, check_out))
        return [
            cmd.RecordSighting(
                person_id=None,
                document=document,
                location=where,
                observed_at=moment,
                source=source,
                reference=receipt,
                place_name=lodging.name,
                reported_at=self.sighting_reported(source, receipt, moment),
            )
            for source, moment in events
        ]

    def sighting(
        self,
        rng: random.Random,
        *,
        source: SightingSource,
        observed_at: datetime,
        near: cmd.RawPoint,
        place_name: str,
        pattern: str,
    ) -> cmd.RecordSighting:
        reference = self.reference(rng, pattern)
        return cmd.RecordSighting(
            person_id="",
            document=None,
            location=_offset(rng, near.latitude, near.longitude, 0.0, 300.0),
            observed_at=observed_at,
            source=source,
            reference=reference,
            place_name=place_name,
            reported_at=self.sighting_reported(source, reference, observed_at),
        )

    def port_point(self, port: Port) -> cmd.RawPoint:
        place = self.landmark(port)
        return cmd.RawPoint(place.latitude, place.longitude)


# --- groups -----------------------------------------------------------------------


def _fishing(gen: _Generator, count: int) -> list[_Draft]:
    ids = random.Random(f"pantau-sample:{gen.seed}:fishing:identity")
    rng = random.Random(f"pantau-sample:{gen.seed}:fishing:timeline")
    drafts: list[_Draft] = []
    vessel = 0
    while len(drafts) < count:
        size = min(ids.randint(5, 12), count - len(drafts))
        nationality = _weighted(ids, NATIONALITIES[Group.FISHING_CREW])
        name = f"{ids.choice(VESSEL_NAMES)} {ids.randint(1, 40):02d}"
        company = ids.choice(FISHING_COMPANIES)
        crew = [
            gen.draft(ids, Group.FISHING_CREW, name, nationality, sex=Sex.MALE, years=(1972, 2004))
            for _ in range(size)
        ]
        absconder = vessel % 6 == 1
        vessel += 1
        port = TAREMPA_SEA if rng.random() < 0.65 else JEMAJA_SEA
        if rng.random() < 0.4:
            spec = _visit(company, "awak kapal perikanan", "C1")
        else:
            spec = _kitas(company, "awak kapal perikanan", "E23", rng.choice((180, 365)))
        if absconder:
            days = gen.stay_days(
                rng, spec, _Fate.OVERSTAY, overstay_days=gen.overstay_days(rng, Group.FISHING_CREW)
            )
            left = days.until[-1] - timedelta(days=rng.randint(0, 10))
            crew_days = replace(days, exit=max(left, days.entry + timedelta(days=1)))
        else:
            fate = _Fate.HERE if rng.random() < 0.45 else _Fate.LEFT
            days = crew_days = gen.stay_days(rng, spec, fate)
        area = "tarempa" if port is TAREMPA_SEA else "jemaja"
        for i, draft in enumerate(crew):
            stayed_behind = absconder and i == 0
            draft.stays.append((days if stayed_behind else crew_days, spec, port, port))
            draft.home_area = area
            draft.address_prefix = f"Mes ABK {name}"
            draft.home_key = f"vessel:{vessel}"
            if stayed_behind:
                draft.traits.add(Trait.ABSCONDED)
        drafts.extend(crew)
    return drafts


def _yachts(gen: _Generator, count: int) -> list[_Draft]:
    ids = random.Random(f"pantau-sample:{gen.seed}:yacht:identity")
    rng = random.Random(f"pantau-sample:{gen.seed}:yacht:timeline")
    drafts: list[_Draft] = []
    party = 0
    while len(drafts) < count:
        size = min(ids.choices((1, 2, 3, 4), weights=(25, 55, 12, 8))[0], count - len(drafts))
        nationality = _weighted(ids, NATIONALITIES[Group.YACHT_TOURIST])
        yacht = f"SY {ids.choice(YACHT_NAMES)}"
        crew: list[_Draft] = []
        for i in range(size):
            sex = (Sex.MALE if ids.random() < 0.55 else Sex.FEMALE) if i != 1 else Sex.FEMALE
            draft = gen.draft(
                ids, Group.YACHT_TOURIST, yacht, nationality, sex=sex, years=(1950, 1998)
            )
            if i == 1 and ids.random() < 0.5:  # a married couple sharing the family name
                draft.identity = replace(draft.identity, family=crew[0].identity.family)
            crew.append(draft)
        overstaying = party % 20 == 5
        party += 1
        spec = _voa()
        if overstaying:
            days = gen.stay_days(
                rng, spec, _Fate.OVERSTAY, overstay_days=gen.overstay_days(rng, Group.YACHT_TOURIST)
            )
        else:
            days = gen.stay_days(rng, spec, _Fate.HERE if rng.random() < 0.25 else _Fate.LEFT)
        ashore = rng.random() < 0.5
        lodging = rng.choice(LODGINGS["tarempa"]) if ashore else None
        for draft in crew:
            draft.stays.append((days, spec, TAREMPA_SEA, TAREMPA_SEA))
            draft.lodging = lodging
            draft.moored = lodging is None
            draft.home_key = f"yacht:{party}"
            if lodging is not None:
                draft.home_village = lodging.village
                draft.home_key = f"lodging:{lodging.lodging_id}"
        drafts.extend(crew)
    return drafts


def _oil_gas(gen: _Generator, count: int) -> list[_Draft]:
    ids = random.Random(f"pantau-sample:{gen.seed}:oil-gas:identity")
    rng = random.Random(f"pantau-sample:{gen.seed}:oil-gas:timeline")
    drafts: list[_Draft] = []
    for _ in range(count):
        nationality = _weighted(ids, NATIONALITIES[Group.OIL_GAS_WORKER])
        operator = ids.choice(OIL_GAS_OPERATORS)
        sex = Sex.MALE if ids.random() < 0.9 else Sex.FEMALE
        draft = gen.draft(
            ids,
            Group.OIL_GAS_WORKER,
            operator,
            nationality,
            sex=sex,
            years=(1965, 1998),
            renew_chance=0.08,
        )
        spec = _kitas(
            operator, "tenaga kerja asing migas lepas pantai", "E23", rng.choice((180, 365))
        )
        if rng.random() < 0.65:
            returning = rng.random() < 0.25
            days = gen.stay_days(rng, spec, _Fate.HERE, max_ago=450 if returning else WINDOW_DAYS)
            if returning:
                earlier = _kitas(operator, spec.purpose, "E23", 180, 0)
                left = days.entry - timedelta(days=rng.randint(20, 90))
                entered = left - timedelta(days=rng.randint(120, 179))
                before = _StayDays(entered, (entered + timedelta(days=179),), left)
                draft.stays.append((before, earlier, MATAK_AIR, MATAK_AIR))
        else:
            days = gen.stay_days(rng, spec, _Fate.LEFT)
        draft.stays.append((days, spec, MATAK_AIR, MATAK_AIR))
        draft.home_area = "matak"
        draft.address_prefix = f"Mes Karyawan {operator}"
        draft.home_key = f"mess:{operator}:{rng.randint(1, 2)}"
        drafts.append(draft)
    return drafts


def _investors(gen: _Generator, count: int) -> list[_Draft]:
    ids = random.Random(f"pantau-sample:{gen.seed}:investor:identity")
    rng = random.Random(f"pantau-sample:{gen.seed}:investor:timeline")
    drafts: list[_Draft] = []
    party = 0
    while len(drafts) < count:
        company, purpose, area = ids.choice(INVESTOR_COMPANIES)
        nationality = _weighted(ids, NATIONALITIES[Group.INVESTOR])
        sex = Sex.MALE if ids.random() < 0.75 else Sex.FEMALE
        investor = gen.draft(
            ids,
            Group.INVESTOR,
            company,
            nationality,
            sex=sex,
            years=(1955, 1990),
            renew_chance=0.08,
        )
        family = [investor]
        if len(drafts) + 1 < count and ids.random() < 0.25:
            other = Sex.FEMALE if sex is Sex.MALE else Sex.MALE
            spouse = gen.draft(
                ids, Group.INVESTOR, company, nationality, sex=other, years=(1958, 1993)
            )
            if nationality == "JPN":  # Japanese spouses share the family name
                spouse.identity = replace(spouse.identity, family=investor.identity.family)
            family.append(spouse)
        overstaying = party % 15 == 4  # the renewal was never applied for
        party += 1
        if rng.random() < 0.3 and not overstaying:
            spec = _PermitSpec(PermitType.PERMANENT_STAY, "E28A", 1826, 1826, 0, company, purpose)
        else:
            length = 365 if overstaying else rng.choice((365, 730))
            spec = _kitas(company, f"investasi: {purpose}", "E28A", length, 1)
        if overstaying:
            days = gen.stay_days(rng, spec, _Fate.OVERSTAY, overstay_days=rng.randint(2, 20))
        else:
            days = gen.stay_days(rng, spec, _Fate.HERE if rng.random() < 0.8 else _Fate.LEFT)
        port = MATAK_AIR if rng.random() < 0.6 else TAREMPA_SEA
        lodging = rng.choice(LODGINGS["tarempa"])
        for i, draft in enumerate(family):
            permit = spec
            if i:  # a dependant's permit, sponsored by the investor
                sponsor = f"{investor.identity.family} {investor.identity.given}".strip()
                permit = replace(spec, index="E31", sponsor=sponsor, purpose="penyatuan keluarga")
            draft.stays.append((days, permit, port, port))
            draft.home_area = area
            draft.lodging = lodging
            draft.home_key = f"investor:{party}"
        drafts.extend(family)
    return drafts


def _researchers(gen: _Generator, count: int) -> list[_Draft]:
    ids = random.Random(f"pantau-sample:{gen.seed}:research:identity")
    rng = random.Random(f"pantau-sample:{gen.seed}:research:timeline")
    drafts: list[_Draft] = []
    team_number = 0
    while len(drafts) < count:
        size = min(ids.randint(1, 3), count - len(drafts))
        nationality = _weighted(ids, NATIONALITIES[Group.RESEARCHER])
        sponsor = ids.choice(RESEARCH_SPONSORS)
        topic = ids.choice(RESEARCH_TOPICS)
        team = [
            gen.draft(
                ids,
                Group.RESEARCHER,
                f"{topic} ({sponsor})",
                nationality,
                sex=Sex.MALE if ids.random() < 0.5 else Sex.FEMALE,
                years=(1968, 1999),
            )
            for _ in range(size)
        ]
        overstaying = team_number % 9 == 3
        team_number += 1
        if rng.random() < 0.6 or overstaying:
            spec = _visit(sponsor, topic, "C7")
        else:
            spec = _kitas(sponsor, topic, "E25", 180, 1)
        if overstaying:
            days = gen.stay_days(
                rng, spec, _Fate.OVERSTAY, overstay_days=gen.overstay_days(rng, Group.RESEARCHER)
            )
        else:
            days = gen.stay_days(rng, spec, _Fate.HERE if rng.random() < 0.4 else _Fate.LEFT)
        port = MATAK_AIR if rng.random() < 0.7 else TAREMPA_SEA
        area = rng.choice(RESEARCH_AREAS)
        lodging = rng.choice(LODGINGS[area])
        for draft in team:
            draft.stays.append((days, spec, port, port))
            draft.home_area = area
            draft.lodging = lodging
            draft.home_village = lodging.village
            draft.home_key = f"lodging:{lodging.lodging_id}"
        drafts.extend(team)
    return drafts


# --- commands ---------------------------------------------------------------------


def _permit(spec: _PermitSpec, valid_from: date, valid_until: date, number: str) -> cmd.RawPermit:
    return cmd.RawPermit(
        permit_number=number,
        type=spec.type,
        valid_from=_parts(valid_from),
        valid_until=_parts(valid_until),
        sponsor=spec.sponsor,
        purpose=spec.purpose,
    )


def _stay_commands(
    gen: _Generator,
    rng: random.Random,
    *,
    party: str,
    days: _StayDays,
    spec: _PermitSpec,
    entry_port: Port,
    exit_port: Port,
) -> tuple[SampleStay, datetime, datetime | None]:
    """The stay's commands; a party arriving or leaving together shares the instant."""
    base = f"{spec.index}-{days.entry:%y%m}-{rng.randrange(100000, 999999)}"
    periods = [
        _permit(
            spec,
            days.entry if i == 0 else days.until[i - 1] + timedelta(days=1),
            end,
            f"{base}-P{i + 1}" if i else base,
        )
        for i, end in enumerate(days.until)
    ]
    arrival = random.Random(f"{gen.seed}:{party}:{entry_port.code}:{days.entry}")
    entered_at = gen.at(arrival, days.entry, (8, 13))
    exited_at = None
    if days.exit is not None:
        departure = random.Random(f"{gen.seed}:{party}:{exit_port.code}:{days.exit}")
        exited_at = gen.at(departure, days.exit, (10, 16))
    entry = cmd.RecordEntry("", entry_port.code, entered_at, periods[0])
    leave = None if exited_at is None else cmd.RecordExit("", exit_port.code, exited_at)
    return SampleStay(entry, tuple(periods[1:]), leave), entered_at, exited_at


def _person(gen: _Generator, rng: random.Random, draft: _Draft) -> SamplePerson:
    stays: list[SampleStay] = []
    sightings: list[cmd.RecordSighting] = []
    traits = set(draft.traits)
    spans: list[tuple[datetime, datetime | None]] = []
    for days, spec, entry_port, exit_port in draft.stays:
        stay, entered_at, exited_at = _stay_commands(
            gen,
            rng,
            party=draft.party,
            days=days,
            spec=spec,
            entry_port=entry_port,
            exit_port=exit_port,
        )
        stays.append(stay)
        spans.append((entered_at, exited_at))
        if stay.extensions:
            traits.add(Trait.EXTENDED)
    last_days = draft.stays[-1][0]
    if len(stays) > 1:
        traits.add(Trait.RETURNING)
    if last_days.exit is not None:
        traits.add(Trait.EXITED)
    else:
        traits.add(Trait.PRESENT)
        if last_days.until[-1] < gen.today:
            traits.add(Trait.OVERSTAYING)
    addresses = _addresses(gen, rng, draft, spans[0][0].date(), traits)
    sightings = _sightings(gen, rng, draft=draft, spans=spans, addresses=addresses, traits=traits)
    identity = draft.identity
    registration = cmd.RegisterPerson(
        family_name=identity.family,
        given_names=identity.given,
        nationality=draft.nationality,
        birth_date=identity.birth,
        sex=identity.sex,
        documents=(draft.document,),
    )
    later: tuple[cmd.AddTravelDocument, ...] = ()
    if draft.renewal is not None:
        later = (cmd.AddTravelDocument("", draft.renewal),)
        traits.add(Trait.RENEWED_PASSPORT)
    return SamplePerson(
        group=draft.group,
        party=draft.party,
        registration=registration,
        later_documents=later,
        stays=tuple(stays),
        addresses=tuple(addresses),
        sightings=tuple(sightings),
        traits=frozenset(traits),
    )


def _addresses(
    gen: _Generator, rng: random.Random, draft: _Draft, first_entry: date, traits: set[Trait]
) -> list[cmd.ReportAddress]:
    last = draft.stays[-1][0]
    latest = last.exit or gen.today - timedelta(days=1)
    moved_in = min(first_entry + timedelta(days=rng.randint(0, 3)), latest)
    key = f"{draft.document.issuing_state}:{draft.document.number}"
    first_report = (moved_in, min(moved_in + timedelta(days=2), latest))
    addresses = [gen.address(rng, gen.home(rng, draft), moved_in, first_report, f"{key}:home")]
    # Persons still here long enough may have moved house since.
    settled = Trait.PRESENT in traits and draft.group is not Group.YACHT_TOURIST
    if settled and rng.random() < 0.18:
        late = gen.movers[draft.group] % 3 == 1
        low, high = LATE_MOVE_DAYS if late else (1, TIMELY_MOVE_DAYS)
        move = gen.today - timedelta(days=rng.randint(low, high))
        if move >= max(moved_in, last.entry) + timedelta(days=14):
            gen.movers[draft.group] += 1
            place = gen.village(rng.choice(AREAS[draft.home_area]))
            yesterday = gen.today - timedelta(days=1)
            if late:
                report = (move + timedelta(days=LATE_REPORT_DAYS), yesterday)
            else:
                report = (move, min(move + timedelta(days=TIMELY_REPORT_DAYS), yesterday))
            home = gen.street_home(rng, place, "Rumah sewa")
            addresses.append(gen.address(rng, home, move, report, f"{key}:moved"))
            traits.add(Trait.MOVED)
            if late:
                traits.add(Trait.LATE_ADDRESS_REPORT)
    return addresses


def _day(
    gen: _Generator, rng: random.Random, first: date, last: date, hours: tuple[int, int]
) -> datetime | None:
    """A random instant on a day from ``first`` to ``last``, or None if there is none."""
    if last < first:
        return None
    return gen.at(rng, first + timedelta(days=rng.randint(0, (last - first).days)), hours)


def _sightings(
    gen: _Generator,
    rng: random.Random,
    *,
    draft: _Draft,
    spans: Sequence[tuple[datetime, datetime | None]],
    addresses: Sequence[cmd.ReportAddress],
    traits: set[Trait],
) -> list[cmd.RecordSighting]:
    """Lodging reports, checks by immigration and police, and village reports."""
    sightings: list[cmd.RecordSighting] = []
    yesterday = gen.today - timedelta(days=1)
    home = _point(addresses[0].location)
    entered_at, exited_at = spans[-1]
    first_day = entered_at.date() + timedelta(days=1)
    last_day = exited_at.date() - timedelta(days=1) if exited_at else yesterday
    if draft.lodging is not None:
        check_in = entered_at + timedelta(hours=rng.randint(1, 4))
        nights = rng.randint(2, 20) if draft.group is not Group.YACHT_TOURIST else rng.randint(1, 7)
        out_day = min(entered_at.date() + timedelta(days=nights), yesterday)
        if exited_at:
            out_day = min(out_day, exited_at.date())
        check_out = gen.at(rng, out_day, (6, 9)) if out_day > entered_at.date() else None
        sightings += gen.lodging_report(rng, draft.document, draft.lodging, check_in, check_out)
    checks: list[tuple[SightingSource, cmd.RawPoint, str, str, datetime | None]] = []
    if draft.group is Group.FISHING_CREW and rng.random() < 0.6:
        port = draft.stays[-1][2]
        place = f"Operasi TIMPORA, {gen.landmark(port).name}"
        operation = random.Random(f"{gen.seed}:{draft.party}:{entered_at}:timpora")
        moment = _day(gen, operation, first_day, last_day, (8, 16))
        checks.append(
            (
                SightingSource.IMMIGRATION_CHECK,
                gen.port_point(port),
                place,
                "TIMPORA-KKA-{}",
                moment,
            )
        )
    for _ in range(rng.choices((0, 1, 2), weights=(45, 40, 15))[0]):
        moment = _day(gen, rng, first_day, last_day, (9, 17))
        checks.append((SightingSource.POLICE_CHECK, home, POLICE_CHECK, "POLRES-KKA-{}", moment))
    if draft.group is Group.RESEARCHER:
        moment = _day(gen, rng, first_day + timedelta(days=1), last_day, (9, 15))
        place = "Laporan kepala desa"
        checks.append((SightingSource.LOCAL_GOVERNMENT, home, place, "KESBANGPOL-KKA-{}", moment))
    checks += _telling_sightings(gen, rng, draft, addresses, traits)
    for source, near, place, pattern, observed_at in checks:
        if observed_at is not None:
            sightings.append(
                gen.sighting(
                    rng,
                    source=source,
                    observed_at=observed_at,
                    near=near,
                    place_name=place,
                    pattern=pattern,
                )
            )
    return sightings


def _telling_sightings(
    gen: _Generator,
    rng: random.Random,
    draft: _Draft,
    addresses: Sequence[cmd.ReportAddress],
    traits: set[Trait],
) -> list[tuple[SightingSource, cmd.RawPoint, str, str, datetime | None]]:
    """Sightings that back the early-warning cases: seen after overstaying, or at a new home."""
    found: list[tuple[SightingSource, cmd.RawPoint, str, str, datetime | None]] = []
    yesterday = gen.today - timedelta(days=1)
    if Trait.OVERSTAYING in traits:
        ended = draft.stays[-1][0].until[-1]
        moment = _day(gen, rng, ended + timedelta(days=1), yesterday, (8, 20))
        if Trait.ABSCONDED in traits:  # seen away from the vessel's mess
            place = gen.village(rng.choice(AREAS["palmatak"]))
            near = cmd.RawPoint(place.latitude, place.longitude)
            report = (SightingSource.COMMUNITY_REPORT, near, "Laporan warga", "LAPOR-KKA-{}")
        else:
            near = _point(addresses[-1].location)
            report = (SightingSource.POLICE_CHECK, near, POLICE_CHECK, "POLRES-KKA-{}")
        found.append((*report, moment))
    if Trait.LATE_ADDRESS_REPORT in traits:
        moved = addresses[-1]
        moved_on = _day_of(moved.effective_from)
        moment = _day(
            gen, rng, moved_on + timedelta(days=2), moved_on + timedelta(days=10), (9, 17)
        )
        near = _point(moved.location)
        found.append((SightingSource.POLICE_CHECK, near, POLICE_CHECK, "POLRES-KKA-{}", moment))
    return found


# --- rule cases -------------------------------------------------------------------
#
# A fixed cast beside the drawn population: persons whose facts are set against the
# rules' numbers, so that on the sample's day each early-warning rule holds for
# someone, and someone stands one step short of each (its edge). Their names and
# documents come from streams of their own, drawn after the population's, so adding
# them changed no one else; their days are counted back from the sample's day.

# The reference each kind of report gives a sighting, as the groups' sightings have.
_REFERENCE_PATTERNS: dict[SightingSource, str] = {
    SightingSource.POLICE_CHECK: "POLRES-KKA-{}",
    SightingSource.IMMIGRATION_CHECK: "TIMPORA-KKA-{}",
    SightingSource.LOCAL_GOVERNMENT: "KESBANGPOL-KKA-{}",
    SightingSource.COMMUNITY_REPORT: "LAPOR-KKA-{}",
}
VILLAGE_HEAD_REPORT = "Laporan kepala desa"
MATAK_GAS_POST = "Pos pengamanan kawasan migas Matak"


@dataclass
class _Member:
    """A person of the cast being built: one open stay, and what was reported of them."""

    group: Group
    party: str
    registration: cmd.RegisterPerson
    stay: SampleStay
    entered_at: datetime
    cases: tuple[RuleCase, ...]
    addresses: list[cmd.ReportAddress] = field(default_factory=list)
    sightings: list[cmd.RecordSighting] = field(default_factory=list)

    @property
    def document(self) -> cmd.RawDocument:
        return self.registration.documents[0]


class _Cast:
    """Builds the rule cases' persons, every day given as days before the sample's day."""

    def __init__(self, gen: _Generator) -> None:
        self.gen = gen
        self.ids = random.Random(f"pantau-sample:{gen.seed}:rule-cases:identity")
        self.rng = random.Random(f"pantau-sample:{gen.seed}:rule-cases:timeline")
        self.people: list[SamplePerson] = []

    def ago(self, days: int) -> date:
        """The day ``days`` before the sample's day (a negative count: after it)."""
        return self.gen.today - timedelta(days=days)

    def member(
        self,
        group: Group,
        party: str,
        nationality: str,
        *,
        sex: Sex,
        years: tuple[int, int],
        spec: _PermitSpec,
        port: Port,
        entered_ago: int,
        until_ago: Sequence[int],
        cases: Sequence[RuleCase],
        previously_recorded_ago: Sequence[int] | None = None,
    ) -> _Member:
        """A person who entered ``entered_ago`` days ago on ``spec``, still here.

        ``until_ago`` gives the last valid day of each permit period, the entry's
        first (each next period starts the day after the one before). With
        ``previously_recorded_ago`` the stay is of the records migrated from the
        previous system: it recorded the entry's period at the port on the day of
        entry, and each extension on the day given.
        """
        gen, ids, rng = self.gen, self.ids, self.rng
        identity = gen.identity(ids, nationality, sex, years)
        document = gen.document(ids, nationality, ids.randint(300, 3400))
        days = _StayDays(self.ago(entered_ago), tuple(self.ago(d) for d in until_ago), None)
        stay, entered_at, _ = _stay_commands(
            gen, rng, party=party, days=days, spec=spec, entry_port=port, exit_port=port
        )
        if previously_recorded_ago is not None:
            at_the_port = entered_at + timedelta(hours=rng.randint(1, 3))
            granted = tuple(gen.at(rng, self.ago(d), (8, 15)) for d in previously_recorded_ago)
            stay = replace(stay, previously_recorded_at=(at_the_port, *granted))
        registration = cmd.RegisterPerson(
            family_name=identity.family,
            given_names=identity.given,
            nationality=nationality,
            birth_date=identity.birth,
            sex=sex,
            documents=(document,),
        )
        return _Member(group, party, registration, stay, entered_at, tuple(cases))

    # -- where ------------------------------------------------------------------------

    def near(self, village: str) -> cmd.RawPoint:
        """A spot in the village, filed under it by the registry."""
        return self.gen.spot(self.rng, self.gen.village(village), 60.0, 400.0)

    def centre(self, village: str) -> cmd.RawPoint:
        place = self.gen.village(village)
        return cmd.RawPoint(place.latitude, place.longitude)

    def street_home(self, village: str, prefix: str = "") -> _Home:
        return self.gen.street_home(self.rng, self.gen.village(village), prefix)

    def anchorage(self, yacht: str, port: Port) -> _Home:
        return self.gen.anchorage(self.rng, yacht, port)

    # -- what was reported ------------------------------------------------------------

    def lives_at(
        self, member: _Member, home: _Home, from_ago: int, *, reported_ago: int | None = None
    ) -> None:
        """A report of living at ``home`` from that day: made within two days, or on the
        day ``reported_ago``."""
        day = self.ago(from_ago)
        if reported_ago is None:
            reported = (day, min(day + timedelta(days=2), self.ago(1)))
        else:
            reported = (self.ago(reported_ago), self.ago(reported_ago))
        key = f"{member.document.issuing_state}:{member.document.number}:{len(member.addresses)}"
        member.addresses.append(self.gen.address(self.rng, home, day, reported, key))

    def seen(
        self,
        member: _Member,
        days_ago: int,
        *,
        by: SightingSource,
        near: cmd.RawPoint,
        place: str,
        hours: tuple[int, int] = (9, 17),
    ) -> None:
        """A sighting near ``near`` on the day ``days_ago``, reported the same day."""
        sighting = self.gen.sighting(
            self.rng,
            source=by,
            observed_at=self.gen.at(self.rng, self.ago(days_ago), hours),
            near=near,
            place_name=place,
            pattern=_REFERENCE_PATTERNS[by],
        )
        member.sightings.append(sighting)

    def lodged(
        self, member: _Member, lodging: Lodging, check_in: datetime, check_out: datetime | None
    ) -> None:
        """The lodging's report of the check-in (and check-out) of the member."""
        member.sightings += self.gen.lodging_report(
            self.rng, member.document, lodging, check_in, check_out
        )

    def evening(self, days_ago: int) -> datetime:
        return self.gen.at(self.rng, self.ago(days_ago), (17, 20))

    def morning(self, days_ago: int) -> datetime:
        return self.gen.at(self.rng, self.ago(days_ago), (6, 9))

    def after_arrival(self, member: _Member) -> datetime:
        return member.entered_at + timedelta(hours=self.rng.randint(1, 4))

    # -- done -------------------------------------------------------------------------

    def cast(self, member: _Member) -> None:
        """Adds the member to the cast, with the traits their facts give."""
        stay = member.stay
        last = stay.extensions[-1] if stay.extensions else stay.entry.permit
        traits = {Trait.PRESENT}
        if stay.extensions:
            traits.add(Trait.EXTENDED)
        if last is not None and _day_of(last.valid_until) < self.gen.today:
            traits.add(Trait.OVERSTAYING)
        if len(member.addresses) > 1:
            traits.add(Trait.MOVED)
        if stay.migrated:
            traits.add(Trait.MIGRATED)
        self.people.append(
            SamplePerson(
                group=member.group,
                party=member.party,
                registration=member.registration,
                later_documents=(),
                stays=(stay,),
                addresses=tuple(member.addresses),
                sightings=tuple(member.sightings),
                traits=frozenset(traits),
                cases=member.cases,
            )
        )


def _unreported_moves(cast: _Cast, rules: RuleSettings) -> None:
    """UNREPORTED_ADDRESS_CHANGE: one who moved without telling, and three who fall short."""
    rule = RuleName.UNREPORTED_ADDRESS_CHANGE
    grace = rules.address_change_grace_days
    needed = rules.address_change_min_sightings
    tarempa = LODGINGS["tarempa"]
    # He spends his days off with his partner in Tarempa, and kept the Matak mess as
    # his address: first seen there a day past the grace window.
    operator = "PT Anambas Migas Operasi"
    worker = cast.member(
        Group.OIL_GAS_WORKER,
        operator,
        "PHL",
        sex=Sex.MALE,
        years=(1972, 1994),
        spec=_kitas(operator, "tenaga kerja asing migas lepas pantai", "E23", 365),
        port=MATAK_AIR,
        entered_ago=200,
        until_ago=(200 - 364,),
        cases=[
            RuleCase(
                rule,
                True,
                f"registered at the Matak mess, seen 3 times in Tarempa since {grace + 1} days"
                f" ago (a day past the {grace}-day grace), no new address reported",
            )
        ],
    )
    cast.lives_at(worker, cast.street_home("Payamaram", f"Mes Karyawan {operator}"), 199)
    cast.lodged(worker, tarempa[1], cast.evening(grace + 1), cast.morning(max(grace - 1, 1)))
    police = SightingSource.POLICE_CHECK
    cast.seen(worker, 4, by=police, near=cast.near("Tarempa Barat Daya"), place=POLICE_CHECK)
    cast.cast(worker)

    # A reef researcher living at the Air Bini homestay, seen in Tarempa once.
    times = "once" if needed == 2 else f"{needed - 1} times"
    brin = "Pusat Riset Oseanografi BRIN"
    once = cast.member(
        Group.RESEARCHER,
        f"penelitian terumbu karang ({brin})",
        "DEU",
        sex=Sex.FEMALE,
        years=(1978, 1996),
        spec=_kitas(brin, "penelitian terumbu karang", "E25", 180),
        port=MATAK_AIR,
        entered_ago=100,
        until_ago=(100 - 179,),
        cases=[
            RuleCase(
                rule,
                False,
                f"seen far from the Air Bini homestay {times} in the window: one sighting"
                " fewer than the rule needs",
            )
        ],
    )
    homestay = LODGINGS["siantan_selatan"][0]
    home = cast.gen.lodging_site(homestay)
    cast.lives_at(once, home, 100)
    cast.lodged(once, homestay, cast.after_arrival(once), None)
    for i in range(needed - 1):
        cast.seen(once, grace + 6 + i, by=police, near=cast.near("Terempa"), place=POLICE_CHECK)
    village_head = SightingSource.LOCAL_GOVERNMENT
    cast.seen(once, 10, by=village_head, near=home.point, place=VILLAGE_HEAD_REPORT, hours=(9, 15))
    cast.cast(once)

    # A ship's engineer of a Letung vessel, in Tarempa for repairs: first seen there
    # on the last day of the grace window.
    vessel = "KM Jemaja Jaya 12"
    engineer = cast.member(
        Group.FISHING_CREW,
        vessel,
        "CHN",
        sex=Sex.MALE,
        years=(1975, 2000),
        spec=_kitas("PT Jemaja Jaya Perikanan", "awak kapal perikanan", "E23", 365),
        port=JEMAJA_SEA,
        entered_ago=150,
        until_ago=(150 - 364,),
        cases=[
            RuleCase(
                rule,
                False,
                f"seen 3 times in Tarempa, far from the Letung mess, the first {grace} days"
                " ago: still inside the grace window",
            )
        ],
    )
    cast.lives_at(engineer, cast.street_home("Letung", f"Mes ABK {vessel}"), 149)
    cast.seen(engineer, grace, by=police, near=cast.near("Terempa"), place=POLICE_CHECK)
    stay_from = max(grace - 5, 3)
    cast.lodged(engineer, tarempa[0], cast.evening(stay_from), cast.morning(stay_from - 2))
    cast.cast(engineer)

    # A turtle researcher who moved from the Mubur homestay to a rented house in
    # Tarempa, seen there twice, then reported the house.
    umrah = "Universitas Maritim Raja Ali Haji"
    mover = cast.member(
        Group.RESEARCHER,
        f"penelitian penyu hijau ({umrah})",
        "USA",
        sex=Sex.MALE,
        years=(1970, 1995),
        spec=_kitas(umrah, "penelitian penyu hijau", "E25", 180),
        port=MATAK_AIR,
        entered_ago=120,
        until_ago=(120 - 179,),
        cases=[
            RuleCase(
                rule,
                False,
                "seen twice in Tarempa, far from the Mubur homestay, then reported the house"
                " there: the report answers the sightings",
            )
        ],
    )
    homestay = LODGINGS["siantan_utara"][0]
    cast.lives_at(mover, cast.gen.lodging_site(homestay), 120)
    cast.lodged(mover, homestay, cast.after_arrival(mover), None)
    house = cast.street_home("Tarempa Barat Daya", "Rumah sewa")
    cast.seen(mover, grace + 11, by=police, near=house.point, place=POLICE_CHECK)
    cast.seen(mover, grace + 6, by=police, near=house.point, place=POLICE_CHECK)
    cast.lives_at(mover, house, grace + 2, reported_ago=grace + 1)
    cast.seen(mover, 5, by=village_head, near=house.point, place=VILLAGE_HEAD_REPORT, hours=(9, 15))
    cast.cast(mover)


def _quiet_residents(cast: _Cast, rules: RuleSettings) -> None:
    """NO_RECENT_CONTACT: two residents of the migrated records, one unheard of too long.

    Their stays are migrated (the previous system's times kept): a period recorded
    through the registry today would be a contact of today.
    """
    rule = RuleName.NO_RECENT_CONTACT
    quiet = rules.no_contact_days
    # A Vietnamese woman married to a Kuala Maras fisherman, on an ITAP, last heard of
    # in a village head's report.
    husband = "Rusdi Hamzah"
    entered = quiet + 500
    wife = cast.member(
        Group.SPOUSE,
        f"istri WNI ({husband}, Kuala Maras)",
        "VNM",
        sex=Sex.FEMALE,
        years=(1986, 1999),
        spec=_PermitSpec(
            PermitType.PERMANENT_STAY, "E33", 1826, 1826, 0, husband, "penyatuan keluarga"
        ),
        port=JEMAJA_SEA,
        entered_ago=entered,
        until_ago=(entered - 1825,),
        previously_recorded_ago=(),
        cases=[
            RuleCase(
                rule,
                True,
                f"ITAP holder last heard of {quiet + 20} days ago (a village head's report):"
                f" more than {quiet} days",
            )
        ],
    )
    home = cast.street_home("Kuala Maras")
    cast.lives_at(wife, home, entered - 1)
    village_head = SightingSource.LOCAL_GOVERNMENT
    cast.seen(
        wife, quiet + 20, by=village_head, near=home.point, place=VILLAGE_HEAD_REPORT, hours=(9, 15)
    )
    cast.cast(wife)

    # A seaweed-farm investor on a renewed ITAS, last seen by a police check at the
    # farm a day inside the threshold.
    company = "PT Siantan Rumput Laut Mandiri"
    entered = quiet + 420
    investor = cast.member(
        Group.INVESTOR,
        company,
        "KOR",
        sex=Sex.MALE,
        years=(1962, 1985),
        spec=_kitas(company, "investasi: budidaya rumput laut", "E28A", 365),
        port=MATAK_AIR,
        entered_ago=entered,
        until_ago=(entered - 364, entered - 365 - 729),
        previously_recorded_ago=(entered - 360,),
        cases=[
            RuleCase(
                rule,
                False,
                f"ITAS holder last seen {quiet - 1} days ago (a police check at the farm):"
                f" a day inside the {quiet} days",
            )
        ],
    )
    home = cast.street_home("Tiangau")
    cast.lives_at(investor, home, entered - 1)
    police = SightingSource.POLICE_CHECK
    cast.seen(investor, quiet - 1, by=police, near=home.point, place=POLICE_CHECK)
    cast.cast(investor)


def _sponsored_crews(cast: _Cast, rules: RuleSettings) -> None:
    """SPONSOR_OVERSTAY_CLUSTER: a company whose left-behind crew overstay, and one short."""
    rule = RuleName.SPONSOR_OVERSTAY_CLUSTER
    needed = rules.sponsor_cluster_min_sponsees
    police = SightingSource.POLICE_CHECK
    # Left behind in Tarempa when their vessel sailed, waiting for their wages: every
    # one of them overstays, 12 days now.
    company, vessel, days_over = "PT Harapan Siantan Samudera", "KM Harapan Siantan 07", 12
    mess = cast.street_home("Pesisir Timur", f"Mes ABK {vessel}")
    for _ in range(needed):
        deckhand = cast.member(
            Group.FISHING_CREW,
            vessel,
            "VNM",
            sex=Sex.MALE,
            years=(1980, 2004),
            spec=_visit(company, "awak kapal perikanan", "C1"),
            port=TAREMPA_SEA,
            entered_ago=days_over + 59,
            until_ago=(days_over,),
            cases=[
                RuleCase(
                    rule,
                    True,
                    f"{needed} crew left behind by {vessel}, each {days_over} days over",
                    SubjectKind.SPONSOR,
                ),
                RuleCase(RuleName.OVERSTAY, True, f"{days_over} days over"),
            ],
        )
        cast.lives_at(deckhand, mess, days_over + 58)
        cast.seen(deckhand, 5, by=police, near=mess.point, place=POLICE_CHECK)
        cast.cast(deckhand)

    # A Letung company's crew: all but one overstay, the last was given an extension.
    company, vessel = "PT Karya Laut Jemaja", "KM Karya Jemaja 03"
    days_over = min(31, rules.sponsor_cluster_window_days)
    mess = cast.street_home("Letung", f"Mes ABK {vessel}")
    for i in range(needed):
        extended = i == needed - 1
        why = (
            f"{needed - 1} of the {needed} crew of {vessel} overstay: one fewer than the rule"
            " needs (the last one's permit was extended)"
        )
        cases = [RuleCase(rule, False, why, SubjectKind.SPONSOR)]
        if not extended:
            cases.append(RuleCase(RuleName.OVERSTAY, True, f"{days_over} days over"))
        crew = cast.member(
            Group.FISHING_CREW,
            vessel,
            "VNM",
            sex=Sex.MALE,
            years=(1978, 2003),
            spec=_kitas(company, "awak kapal perikanan", "E23", 180),
            port=JEMAJA_SEA,
            entered_ago=days_over + 179,
            until_ago=(days_over, days_over - 180) if extended else (days_over,),
            cases=cases,
        )
        cast.lives_at(crew, mess, days_over + 178)
        cast.seen(crew, 8, by=police, near=mess.point, place=POLICE_CHECK)
        cast.cast(crew)


def _permit_ends(cast: _Cast, rules: RuleSettings) -> None:
    """OVERSTAY and PERMIT_EXPIRING: a visa on arrival ending today, a visit permit beyond the
    warning."""
    within = rules.permit_expiring_within_days
    voa = _voa()
    yacht = "SY Southern Star"
    leaving = cast.member(
        Group.YACHT_TOURIST,
        yacht,
        "AUS",
        sex=Sex.MALE,
        years=(1950, 1985),
        spec=voa,
        port=TAREMPA_SEA,
        entered_ago=voa.first_days - 1,
        until_ago=(0,),
        cases=[
            RuleCase(RuleName.OVERSTAY, False, "visa on arrival ends today: no day over yet"),
            RuleCase(RuleName.PERMIT_EXPIRING, True, "visa on arrival ends today: 0 days left"),
        ],
    )
    cast.lives_at(leaving, cast.anchorage(yacht, TAREMPA_SEA), voa.first_days - 1)
    cast.cast(leaving)

    umrah = "Universitas Maritim Raja Ali Haji"
    visit = _visit(umrah, "survei padang lamun", "C7")
    entered = visit.first_days - 1 - (within + 1)
    surveyor = cast.member(
        Group.RESEARCHER,
        f"survei padang lamun ({umrah})",
        "JPN",
        sex=Sex.FEMALE,
        years=(1975, 1998),
        spec=visit,
        port=MATAK_AIR,
        entered_ago=entered,
        until_ago=(-(within + 1),),
        cases=[
            RuleCase(
                RuleName.PERMIT_EXPIRING,
                False,
                f"visit permit ends in {within + 1} days: a day before the {within}-day warning",
            )
        ],
    )
    homestay = LODGINGS["siantan_tengah"][0]
    home = cast.gen.lodging_site(homestay)
    cast.lives_at(surveyor, home, entered)
    cast.lodged(surveyor, homestay, cast.after_arrival(surveyor), None)
    village_head = SightingSource.LOCAL_GOVERNMENT
    cast.seen(
        surveyor,
        min(12, entered - 1),
        by=village_head,
        near=home.point,
        place=VILLAGE_HEAD_REPORT,
        hours=(9, 15),
    )
    cast.cast(surveyor)


def _matak_zone(cast: _Cast, rules: RuleSettings) -> None:
    """RESTRICTED_AREA_PRESENCE: a yacht tourist and an oil and gas worker stopped at the
    Matak oil and gas zone's security post; only the worker's purpose is allowed there."""
    rule = RuleName.RESTRICTED_AREA_PRESENCE
    days_ago = min(6, rules.restricted_area_window_days - 1)
    police = SightingSource.POLICE_CHECK
    gate = cast.centre("Matak")
    yacht = "SY Mistral"
    sailor = cast.member(
        Group.YACHT_TOURIST,
        yacht,
        "GBR",
        sex=Sex.MALE,
        years=(1955, 1990),
        spec=_voa(),
        port=TAREMPA_SEA,
        entered_ago=12,
        until_ago=(12 - 29,),
        cases=[
            RuleCase(
                rule,
                True,
                "on a visa on arrival (yachting), went ashore inside the Matak oil and gas zone",
            )
        ],
    )
    cast.lives_at(sailor, cast.anchorage(yacht, TAREMPA_SEA), 12)
    cast.seen(sailor, days_ago, by=police, near=gate, place=MATAK_GAS_POST)
    cast.cast(sailor)

    operator = "PT Matak Offshore Services"
    worker = cast.member(
        Group.OIL_GAS_WORKER,
        operator,
        "NOR",
        sex=Sex.MALE,
        years=(1968, 1992),
        spec=_kitas(operator, "tenaga kerja asing migas lepas pantai", "E23", 365),
        port=MATAK_AIR,
        entered_ago=90,
        until_ago=(90 - 364,),
        cases=[
            RuleCase(
                rule,
                False,
                "an oil and gas worker inside the Matak oil and gas zone, where his permit's"
                " purpose is allowed",
            )
        ],
    )
    cast.lives_at(worker, cast.street_home("Matak", f"Mes Karyawan {operator}"), 89)
    cast.seen(worker, days_ago, by=police, near=gate, place=MATAK_GAS_POST)
    cast.cast(worker)


def _voa_extensions(cast: _Cast, voa_limit_days: int) -> None:
    """PERMIT_LIMIT_EXCEEDED: a migrated visa on arrival a day over its limit, and one that
    ExtendPermit extended to exactly the limit."""
    rule = RuleName.PERMIT_LIMIT_EXCEEDED
    voa = _voa()
    first = voa.first_days
    # The previous system extended it by a calendar month, 31 days, and let it pass.
    yacht, extension = "SY Étoile du Sud", voa_limit_days - first + 1
    skipper = cast.member(
        Group.YACHT_TOURIST,
        yacht,
        "FRA",
        sex=Sex.MALE,
        years=(1952, 1985),
        spec=voa,
        port=TAREMPA_SEA,
        entered_ago=50,
        until_ago=(50 - first + 1, 50 - first - extension + 1),
        previously_recorded_ago=(50 - first + 2,),
        cases=[
            RuleCase(
                rule,
                True,
                f"visa on arrival extended by {extension} days in the previous system:"
                f" {voa_limit_days + 1} days in all, a day over",
            )
        ],
    )
    cast.lives_at(skipper, cast.anchorage(yacht, TAREMPA_SEA), 50)
    cast.cast(skipper)

    yacht, extension = "SY Kahu", voa_limit_days - first
    sailor = cast.member(
        Group.YACHT_TOURIST,
        yacht,
        "NZL",
        sex=Sex.FEMALE,
        years=(1958, 1992),
        spec=voa,
        port=TAREMPA_SEA,
        entered_ago=40,
        until_ago=(40 - first + 1, 40 - first - extension + 1),
        cases=[
            RuleCase(
                rule,
                False,
                f"visa on arrival extended by {extension} days through ExtendPermit: exactly"
                f" {voa_limit_days} days",
            )
        ],
    )
    cast.lives_at(sailor, cast.anchorage(yacht, TAREMPA_SEA), 40)
    cast.cast(sailor)


def _named(member: _Member, family: str, given: str, born: date, nationality: str = "") -> _Member:
    """The member with the identity their watchlist case is about (and their passport of
    ``nationality``, when it is not one the synthetic names know)."""
    state = nationality or member.registration.nationality
    registration = replace(
        member.registration,
        family_name=family,
        given_names=given,
        birth_date=_parts(born),
        nationality=state,
        documents=tuple(replace(d, issuing_state=state) for d in member.registration.documents),
    )
    return replace(member, registration=registration)


def _watchlisted(cast: _Cast) -> None:
    """WATCHLIST_MATCH: a yachtsman on the police's wanted list under his Cyrillic name, a
    fisherman banned from entry under his name in Chinese characters, and a worker who
    shares a banned man's family name, birth date and nationality but not his name."""
    rule = RuleName.WATCHLIST_MATCH
    yacht = "SY Belomor"
    volkov = cast.member(
        Group.YACHT_TOURIST,
        f"yacht {yacht}",
        "AUS",
        sex=Sex.MALE,
        years=(1975, 1985),
        spec=_voa(),
        port=TAREMPA_SEA,
        entered_ago=12,
        until_ago=(-18,),
        cases=[
            RuleCase(
                rule,
                True,
                "registered as Aleksandr Sergeyevich Volkov; the police's wanted list (DPO)"
                " names him Александр Сергеевич Волков, same birth date: CRITICAL",
            )
        ],
    )
    cast.cast(_named(volkov, "VOLKOV", "Aleksandr Sergeyevich", SAMPLE_WATCHLIST_BIRTHS[0], "RUS"))
    boat = "KM Sinar Laut"
    wang = cast.member(
        Group.FISHING_CREW,
        f"kapal ikan {boat}",
        "CHN",
        sex=Sex.MALE,
        years=(1985, 1995),
        spec=_visit("PT Anambas Perikanan Samudra", "awak kapal perikanan"),
        port=TAREMPA_SEA,
        entered_ago=30,
        until_ago=(-30,),
        cases=[
            RuleCase(
                rule,
                True,
                "registered as Xiaoming Wang; an entry ban lists 王小明, born the same year",
            )
        ],
    )
    cast.cast(_named(wang, "WANG", "Xiaoming", SAMPLE_WATCHLIST_BIRTHS[1]))
    operator = "PT Anambas Migas Operasi"
    nguyen = cast.member(
        Group.OIL_GAS_WORKER,
        operator,
        "VNM",
        sex=Sex.FEMALE,
        years=(1988, 1996),
        spec=_kitas(operator, "tenaga kerja asing migas lepas pantai", "E23", 365),
        port=MATAK_AIR,
        entered_ago=60,
        until_ago=(60 - 364,),
        cases=[
            RuleCase(
                rule,
                False,
                "Nguyen Thi Lan shares family name, birth date and nationality with Nguyen Van"
                " Minh on the exit-ban list; the given names differ, so dates do not make it a"
                " match",
            )
        ],
    )
    cast.cast(_named(nguyen, "NGUYEN", "Thi Lan", SAMPLE_WATCHLIST_BIRTHS[2]))


# The birth dates of the watchlist cases, shared by the persons and the entries.
SAMPLE_WATCHLIST_BIRTHS = (date(1979, 4, 2), date(1990, 11, 23), date(1992, 6, 15))


def sample_watchlist() -> list[UpsertEntry]:
    """The watchlist `make run` serves: the three cases' entries (``_watchlisted``) and
    entries about nobody in the sample, in several scripts."""
    volkov, wang, nguyen = SAMPLE_WATCHLIST_BIRTHS

    def entry(
        key: str,
        kind: WatchlistKind,
        names: tuple[str, ...],
        reason: str,
        agency: str,
        *,
        born: date | None = None,
        year: int = 0,
        nationality: str = "",
        documents: tuple[str, ...] = (),
    ) -> UpsertEntry:
        birth = _parts(born) if born else (cmd.DateParts(year) if year else None)
        return UpsertEntry(
            entry_id="",
            list=str(kind),
            names=names,
            birth_date=birth,
            nationality=nationality,
            documents=documents,
            reason=reason,
            issuing_agency=agency,
            valid_from=None,
            valid_until=None,
            external_id=f"sample:{key}",
        )

    return [
        entry(
            "volkov",
            WatchlistKind.POLICE_WANTED,
            ("Александр Сергеевич Волков", "Alexander Volkov"),
            "DPO: penyelundupan BBM di perairan Natuna-Anambas (2025)",
            "Polda Kepulauan Riau",
            born=volkov,
            nationality="RUS",
        ),
        entry(
            "wang",
            WatchlistKind.ENTRY_BAN,
            ("王小明",),
            "Penangkalan: penangkapan ikan ilegal di WPP 711 (2024)",
            "Direktorat Jenderal Imigrasi",
            year=wang.year,
            nationality="CHN",
        ),
        entry(
            "nguyen-van-minh",
            WatchlistKind.EXIT_BAN,
            ("Nguyen Van Minh", "Nguyễn Văn Minh"),
            "Pencegahan: permintaan Kejaksaan Negeri Natuna",
            "Kejaksaan Negeri Natuna",
            born=nguyen,
            nationality="VNM",
        ),
        entry(
            "al-rashid",
            WatchlistKind.INTERNATIONAL_NOTICE,
            ("Khalid bin Abdullah Al-Rashid", "خالد بن عبدالله الراشد"),
            "Red Notice Interpol",
            "NCB Interpol Indonesia",
            year=1971,
            nationality="SAU",
        ),
        entry(
            "fernandes",
            WatchlistKind.ENTRY_BAN,
            ("Joao Pedro Fernandes",),
            "Penangkalan: overstay 2023, tidak membayar biaya beban",
            "Direktorat Jenderal Imigrasi",
            born=date(1983, 1, 17),
            nationality="PRT",
            documents=("CB482913",),
        ),
        entry(
            "kowalski",
            WatchlistKind.OTHER,
            ("Marek Kowalski",),
            "Permintaan informasi Kedutaan Besar Polandia",
            "Kementerian Luar Negeri",
            nationality="POL",
        ),
    ]


def _rule_cases(gen: _Generator, rules: RuleSettings, voa_limit_days: int) -> list[SamplePerson]:
    """The cast: for every early-warning rule, persons who trip it and persons at its edge."""
    cast = _Cast(gen)
    _unreported_moves(cast, rules)
    _quiet_residents(cast, rules)
    _sponsored_crews(cast, rules)
    _permit_ends(cast, rules)
    _matak_zone(cast, rules)
    _voa_extensions(cast, voa_limit_days)
    _watchlisted(cast)
    return cast.people


def generate_sample(
    persons: int = 300,
    seed: int = 2105,
    today: date | None = None,
    *,
    timezone: str = DEFAULT_TIMEZONE,
    village_of: VillageOf,
    rules: RuleSettings | None = None,
    limits: PermitLimits | None = None,
) -> list[SamplePerson]:
    """The sample and the commands to load it; deterministic.

    ``persons`` drawn from the groups by their shares, then the rule cases: a
    fixed cast of a score of persons, each with the ``cases`` they were made
    for, set against the rules' numbers ``rules`` and the visa on arrival's
    limit in ``limits`` (default: the settings' defaults), so that on
    ``today`` every rule holds for someone and someone stands at each rule's
    edge. ``today`` is the local day the sample is relative to (default:
    today in ``timezone``). Every instant lies on a day before it.
    ``village_of`` is the registry's placement of points
    (:func:`registry_placement`): the same seed, day, numbers and boundaries
    give the same sample.
    """
    if persons < 0:
        raise ValueError("persons must not be negative")
    zone = ZoneInfo(timezone)
    day = today or datetime.now(zone).date()
    gen = _Generator(seed, day, zone, village_of)
    counts = _split(persons)
    builders = {
        Group.FISHING_CREW: _fishing,
        Group.YACHT_TOURIST: _yachts,
        Group.OIL_GAS_WORKER: _oil_gas,
        Group.INVESTOR: _investors,
        Group.RESEARCHER: _researchers,
    }
    sample: list[SamplePerson] = []
    for group, build in builders.items():
        rng = random.Random(f"pantau-sample:{seed}:{group.name}:details")
        sample.extend(_person(gen, rng, draft) for draft in build(gen, counts[group]))
    voa = _voa()
    voa_limit_days = limits.voa.total_days if limits is not None else None
    sample += _rule_cases(
        gen, rules or RuleSettings(), voa_limit_days or voa.cover(voa.max_extensions)
    )
    return sample


# --- loading ----------------------------------------------------------------------


@dataclass
class _Tally:
    persons: int = 0
    documents: int = 0
    stays: int = 0
    extensions: int = 0
    exits: int = 0
    addresses: int = 0
    sightings: int = 0
    sightings_known: int = 0


def _with_id(sighting: cmd.RecordSighting, person_id: str) -> cmd.RecordSighting:
    return sighting if sighting.person_id is None else replace(sighting, person_id=person_id)


def _resume_from(
    dossier: PersonDossier | None, stays: Sequence[SampleStay]
) -> tuple[int, Stay | None]:
    """Index of the first planned stay still to load, and the open stay it continues."""
    if dossier is None or dossier.current_stay is None:
        return 0, None
    current = dossier.current_stay
    for i, stay in enumerate(stays):
        if stay.entry.entered_at == current.entered_at:
            return i, current
    return len(stays), None  # an open stay the sample did not make: leave it alone


# --- records migrated from the previous system ---------------------------------------


@dataclass(frozen=True)
class _PreviousSystem:
    """Writes the stays of the records migrated from the previous system, as it held them.

    Before Pantau the office kept stays and permits in another system, which
    checked no permit type's limit: its records hold a visa on arrival extended
    past 60 days, which ``ExtendPermit`` refuses. A migrated stay is validated
    as the registry validates an entry and an extension (the same fields, the
    same errors), then written straight to the registry store in one
    transaction, as an import writes it: past the use case's limit check, each
    period with the time the previous system recorded it
    (``StayPermit.recorded_at``), not the time of the load. The person, their
    addresses and sightings go through the use cases as everyone's do.
    """

    uow: UnitOfWork
    clock: Clock
    zone: tzinfo

    def write(self, planned: SampleStay, person_id: str) -> Stay:
        """The stay with every period, written in one transaction."""
        entry = replace(planned.entry, person_id=person_id)
        person, port, entered_at, first = valid.valid_entry(entry, self.clock(), self.zone)
        recorded = planned.previously_recorded_at
        with self.uow.begin() as tx:
            stay = tx.registry.add_stay(
                person, port, entered_at, replace(first, recorded_at=recorded[0])
            )
            permits = list(stay.permits)
            later = zip(planned.extensions, recorded[1:], strict=True)
            for sequence, (raw, recorded_at) in enumerate(later, start=2):
                _, permit = valid.valid_extension(cmd.ExtendPermit(str(stay.id), raw))
                permits.append(
                    tx.registry.add_permit(
                        stay.id, replace(permit, recorded_at=recorded_at), sequence=sequence
                    )
                )
        return replace(stay, permits=tuple(permits))


def _load_stays(
    application: Application,
    person: SamplePerson,
    person_id: str,
    dossier: PersonDossier | None,
    tally: _Tally,
    *,
    previous_system: _PreviousSystem,
) -> None:
    registry = application.registry
    start, current = _resume_from(dossier, person.stays)
    for i in range(start, len(person.stays)):
        planned = person.stays[i]
        if current is None and planned.migrated:
            stay = previous_system.write(planned, person_id)
            tally.stays += 1
            tally.extensions += len(planned.extensions)
        elif current is None:
            try:
                stay = registry.record_entry(replace(planned.entry, person_id=person_id))
            except FailedPrecondition:
                if dossier is None:
                    raise
                continue  # loaded before and closed since: its entry precedes the last exit
            tally.stays += 1
        else:
            stay, current = current, None
        for extension in planned.extensions:
            if _day_of(extension.valid_until) > stay.permit.valid_until:
                stay = registry.extend_permit(cmd.ExtendPermit(str(stay.id), extension))
                tally.extensions += 1
        if planned.exit is not None:
            registry.record_exit(replace(planned.exit, person_id=person_id))
            tally.exits += 1


def _load_addresses(
    application: Application,
    person: SamplePerson,
    person_id: str,
    dossier: PersonDossier | None,
    tally: _Tally,
) -> None:
    start = 0
    if dossier is not None and dossier.current_address is not None:
        current = dossier.current_address
        start = len(person.addresses)  # not one of ours: leave it alone
        for i, address in enumerate(person.addresses):
            same_day = current.effective_from == _day_of(address.effective_from)
            if same_day and current.address.line == address.line:
                start = i + 1
    for address in person.addresses[start:]:
        application.registry.report_address(replace(address, person_id=person_id))
        tally.addresses += 1


def _load_person(
    application: Application,
    previous_system: _PreviousSystem,
    person: SamplePerson,
    tally: _Tally,
) -> None:
    dossier: PersonDossier | None
    try:
        dossier = application.queries.get_person(cmd.PersonKey(document=person.document))
    except NotFound:
        dossier = None
        tally.persons += 1
    registered = application.registry.register_person(person.registration)
    person_id = str(registered.id)
    known = {(d.issuing_state, d.number) for d in registered.documents}
    for addition in person.later_documents:
        updated = application.registry.add_travel_document(replace(addition, person_id=person_id))
        tally.documents += len(updated.documents) - len(known)
        known = {(d.issuing_state, d.number) for d in updated.documents}
    _load_stays(application, person, person_id, dossier, tally, previous_system=previous_system)
    _load_addresses(application, person, person_id, dossier, tally)
    for sighting in person.sightings:
        _, is_new = application.registry.record_sighting(_with_id(sighting, person_id))
        if is_new:
            tally.sightings += 1
        else:
            tally.sightings_known += 1


def _first_loaded_on(application: Application, first: SamplePerson, zone: ZoneInfo) -> date | None:
    """The local day the sample's first person was registered, if they were."""
    try:
        dossier = application.queries.get_person(cmd.PersonKey(document=first.document))
    except NotFound:
        return None
    return dossier.person.registered_at.astimezone(zone).date()


def _summarise(sample: Sequence[SamplePerson], day: date, tally: _Tally) -> SampleSummary:
    by_group = Counter((p.group, p.nationality) for p in sample)
    traits = Counter(t for p in sample for t in p.traits)
    return SampleSummary(
        day=day,
        persons=len(sample),
        persons_written=tally.persons,
        documents_written=tally.documents,
        stays_written=tally.stays,
        extensions_written=tally.extensions,
        exits_written=tally.exits,
        addresses_written=tally.addresses,
        sightings_written=tally.sightings,
        sightings_known=tally.sightings_known,
        by_group=tuple(
            (g, n, c)
            for (g, n), c in sorted(
                by_group.items(), key=lambda i: (list(Group).index(i[0][0]), -i[1], i[0][1])
            )
        ),
        traits=tuple((t, traits[t]) for t in Trait if traits[t]),
        rule_cases=tuple(
            (
                rule,
                sum(c.rule is rule and c.trips for p in sample for c in p.cases),
                sum(c.rule is rule and not c.trips for p in sample for c in p.cases),
            )
            for rule in RuleName
        ),
    )


def _print_summary(sample: Sequence[SamplePerson], summary: SampleSummary) -> None:
    table = Table(title=f"Anambas sample as of {summary.day.isoformat()}")
    table.add_column("group", no_wrap=True)
    table.add_column("nat.")
    for column in ("persons", "present", "overstay", "moved", "exited"):
        table.add_column(column, justify="right")
    for group, nationality, count in summary.by_group:
        members = [p for p in sample if p.group is group and p.nationality == nationality]
        table.add_row(
            str(group),
            nationality,
            str(count),
            *(
                str(sum(t in p.traits for p in members))
                for t in (Trait.PRESENT, Trait.OVERSTAYING, Trait.MOVED, Trait.EXITED)
            ),
        )
    console = Console()
    console.print(table)
    console.print(
        f"Written: {summary.persons_written} persons, {summary.documents_written} added documents, "
        f"{summary.stays_written} stays ({summary.extensions_written} permit extensions, "
        f"{summary.exits_written} exits), {summary.addresses_written} addresses, "
        f"{summary.sightings_written} sightings ({summary.sightings_known} already recorded)."
    )
    cases = ", ".join(f"{rule} {trips}/{edges}" for rule, trips, edges in summary.rule_cases)
    console.print(
        f"Rule cases (persons meant to trip the rule / at its edge, as of {summary.day}): {cases}."
    )


@contextmanager
def registry_placement(settings: Settings) -> Iterator[VillageOf]:
    """The registry's placement of points, asked of its database, for :func:`generate_sample`.

    The schema must be migrated (the boundaries loaded); the tolerance is the
    settings' ``boundary_tolerance_meters``, as the registry's.
    """
    engine = make_engine(
        settings.database_url, pool_size=1, application_name="pantau-sample", read_only=True
    )
    try:
        with engine.connect() as connection:

            def village_of(point: cmd.RawPoint) -> str | None:
                where = GeoPoint(point.latitude, point.longitude)
                return place_point(
                    connection, where, settings.boundary_tolerance_meters
                ).village_code

            yield village_of
    finally:
        engine.dispose()


# Who writes the sample's watchlist: the office's intelligence section.
SAMPLE_WATCHLIST_OFFICER = Actor.agency(
    "kanim-tarempa", "IMMIGRATION", "Seksi Intelijen dan Penindakan Keimigrasian"
)


def _load_watchlist(application: Application, settings: Settings, clock: Clock) -> None:
    """The sample's watchlist (a second load writes nothing), and the screening of the
    sample against it, so that the rules find the matches (`make run` runs them next)."""
    if application.watchlist is None:
        raise ValueError("the application was built without its watchlist")
    refused = [
        reason
        for reason in application.watchlist.import_entries(
            sample_watchlist(), SAMPLE_WATCHLIST_OFFICER, AgencyKind.IMMIGRATION
        )
        if reason is not None
    ]
    if refused:
        raise ValueError(f"the sample's watchlist was refused: {refused}")
    uow = UnitOfWork(
        application.engine,
        application.watchlist_read_engine,
        boundary_tolerance_meters=settings.boundary_tolerance_meters,
    )
    build_screener(settings, uow, None, clock=clock, actor=Actor.system("load-sample")).drain()


def load_sample_into(
    settings: Settings, *, persons: int = 300, seed: int = 2105, clock: Clock = system_clock
) -> SampleSummary:
    """Loads the sample through the registry's use cases; a second run writes nothing.

    The sample is relative to today in the settings' timezone by ``clock``
    (the time the use cases go by too), its rule cases set against the
    settings' rule numbers and permit limits. The stays of the records
    migrated from the previous system go straight to the registry store
    (``_PreviousSystem``). The schema must be migrated already (``pantau
    migrate``).
    """
    application = build_application(settings, clock=clock)
    zone = ZoneInfo(settings.timezone)
    previous_system = _PreviousSystem(
        UnitOfWork(
            application.engine,
            application.read_engine,
            boundary_tolerance_meters=settings.boundary_tolerance_meters,
        ),
        clock,
        zone,
    )
    rules, limits = rule_settings(settings), permit_limits(settings)
    try:
        with registry_placement(settings) as village_of:

            def sample_on(day: date) -> list[SamplePerson]:
                return generate_sample(
                    persons,
                    seed,
                    day,
                    timezone=settings.timezone,
                    village_of=village_of,
                    rules=rules,
                    limits=limits,
                )

            day = local_today(clock, zone)
            sample = sample_on(day)
            # Names and documents do not depend on the day: if the sample is there
            # already, rebuild it as of the day it was loaded, so nothing is new.
            loaded_on = _first_loaded_on(application, sample[0], zone)
            if loaded_on is not None and loaded_on < day:
                day = loaded_on
                sample = sample_on(day)
        tally = _Tally()
        for person in sample:
            _load_person(application, previous_system, person, tally)
        _load_watchlist(application, settings, clock)
    finally:
        application.close()
    summary = _summarise(sample, day, tally)
    _print_summary(sample, summary)
    return summary
