"""A synthetic population of foreigners in Anambas, bulk-loaded with COPY.

For N persons the loader writes, in one pass over the persons, one row each
to ``persons``, ``travel_documents``, ``stays``, ``addresses`` and
``current_addresses``, one or two to ``stay_permits`` (sequence 1, and 2 for
an extension), then M ``sightings``. Rows are generated in Python from one
seeded generator, so a seed and the two counts give the same population
every time, and they satisfy every CHECK and key of the schema:

* names, birth dates, passport numbers, villages and address lines come from
  ``tools.people``, as the sample's do;
* ``persons.name_key`` is ``watchlist.names.search_key(family, given)``,
  computed once per distinct name;
* document numbers are in their state's format and unique per state (one
  serial per person);
* a closed stay has an exit port and exits after entry;
* each person's one address is also their ``current_addresses`` row;
* homes are scattered around the village centroids of ``tools.people.villages``
  with a Gaussian spread of about 1.2 km, outside the restricted areas (the
  ``restricted_areas`` table, read from the database), and carry that
  village's code and its district's code (as the ``villages`` table has them).

The population is as of ``AS_OF`` (07:00 WIB on 28 November 2026), and every
recorded time is at or before it: an address is reported (``reported_at``,
and received, ``recorded_at``) within days of the entry its
``effective_from`` is the WIB day of; a permit period is recorded within the
hour of the entry, an extension in the week before it starts; a sighting is
reported within hours of ``observed_at``; a person is registered, and the
document recorded, at the entry. Permit dates are WIB days.

What the early-warning rules look for is there in set shares, each a named
constant below (BENCHMARKS.md, "The rules (issue 10)", lists them with the
counts they give):

* stays: ``CLOSED_SHARE`` closed; of the present ones ``OVERSTAY_SHARE``
  overstay (their last period ended before today), ``OVERSTAY_PAST_LIMIT_SHARE``
  of those by more than 60 days. The others are covered today: residents'
  entries spread evenly over their period, visitors' (VOA, VISIT) toward the
  recent past (``VISITOR_MEAN_DAYS_PRESENT``: most leave long before the end),
  so the permits ending within 14 days are what those spreads give;
* extensions: ``EXTENDED_SHARE`` of the present VOA and VISIT stays have a
  second period (``EXTENSION_DAYS``), ``OVER_LIMIT_SHARE`` of those one that
  takes the stay over its type's limit (``OVER_LIMIT_EXTENSION_DAYS``: VOA 90
  days in all against 60, VISIT 210 against 180);
* sponsors: each listed name stands for numbered units, about
  ``SPONSEES_PER_SPONSOR`` sponsees each, so a few sponsors have several
  recent overstays, as in life, rather than every sponsor hundreds;
* sightings: near home (``NEAR_HOME_SPREAD_METERS``), ``TRAVEL_SHARE`` of them
  around another village, never inside a restricted area, at times weighted
  toward the recent past as lodging reports are
  (``SIGHTING_RECENCY_MEAN_DAYS``); on top of them, from the M sightings:
  ``FAR_SEEN_SHARE`` of the persons seen ``FAR_SIGHTINGS`` times in the last
  30 days more than 3.5 km from their address, ``RESTRICTED_AREA_SEEN_SHARE``
  seen inside a restricted area their permit's purpose is not allowed in
  (``RESTRICTED_AREA_ALLOWED_SHARE`` inside one where it is), and one
  sighting in the last 170 days of every resident (LIMITED_STAY,
  PERMANENT_STAY) present that long, except ``SILENT_RESIDENT_SHARE`` of the
  residents, who have had no contact for 190 days or more. The rest go to
  persons drawn uniformly, during their stays. Were M too small for all of
  these, they are cut in that order of priority.

Tables are only ever inserted into (addresses and sightings are append-only).
Keys and indexes are set aside during the COPY and rebuilt afterwards
(``tools.bench.bulk``), then the tables are vacuumed and analysed.
"""

from __future__ import annotations

import json
import math
import random
import re
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from exchange_service.domain.model import Sex
from exchange_service.tools.bench import bulk
from exchange_service.tools.people import (
    Village,
    address_line,
    birth_date,
    passport_capacity,
    passport_number,
    person_name,
    villages,
)
from watchlist.names import search_key

LOADED_TABLES = (
    "persons",
    "travel_documents",
    "stays",
    "stay_permits",
    "addresses",
    "current_addresses",
    "sightings",
)

# Columns written by COPY; the others take their defaults (serial ids).
_PERSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "persons": (
        "id", "family_name", "given_names", "name_key", "nationality",
        "birth_year", "birth_month", "birth_day", "sex", "registered_at",
    ),
    "travel_documents": ("person_id", "issuing_state", "number", "expiry_date", "recorded_at"),
    "stays": ("id", "person_id", "entry_port_code", "entered_at", "exit_port_code", "exited_at"),
    "stay_permits": (
        "stay_id", "sequence", "permit_number", "type", "valid_from", "valid_until",
        "sponsor", "purpose", "recorded_at",
    ),
    "addresses": (
        "id", "person_id", "line", "location", "district_code", "village_code", "effective_from",
        "reported_at", "recorded_at",
    ),
    "current_addresses": ("person_id", "address_id", "location"),
}  # fmt: skip
_SIGHTING_COLUMNS = (
    "id", "person_id", "location", "district_code", "village_code", "observed_at",
    "source", "reference", "place_name", "reported_at", "recorded_at",
)  # fmt: skip

# The population is as of the benchmark's instant (07:00 WIB); nothing is later.
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)
_BASE = datetime(2016, 1, 1, tzinfo=UTC)
_NOW = int((AS_OF - _BASE).total_seconds())
_DAY = 86_400
_HOUR = 3_600
# Permit dates are the office's days (WIB, UTC+7).
_WIB_OFFSET = 7 * _HOUR
_TODAY = (_NOW + _WIB_OFFSET) // _DAY  # the WIB day of AS_OF, as an index into _DAYS
_DAYS = tuple((_BASE.date() + timedelta(days=d)).isoformat() for d in range(_NOW // _DAY + 4000))

# Spread of homes, and of sightings away from home, around a village centroid (one
# standard deviation).
SPREAD_METERS = 1_200.0
_METERS_PER_DEGREE = 111_320.0
_COS_LATITUDE = math.cos(math.radians(3.0))
# Degrees, more than rounding a coordinate to the 6 decimals COPY is given moves it.
_PAD = 1e-5

# Connections building indexes at once (one per core of the bench machine), and
# the memory each may use for a build.
REBUILD_CONNECTIONS = 2
MAINTENANCE_WORK_MEM = "512MB"

# Persons COPYed per chunk (each table gets one write per chunk).
_CHUNK = 2_000

# Nationalities and their weights (names and passport formats: tools.people).
_NATIONALITIES: tuple[tuple[str, float], ...] = (
    ("CHN", 13), ("VNM", 12), ("MYS", 12), ("SGP", 11), ("AUS", 8), ("GBR", 5), ("USA", 5),
    ("DEU", 4), ("FRA", 4), ("NLD", 3), ("KOR", 4), ("JPN", 4), ("PHL", 6), ("THA", 3),
    ("IND", 5),
)  # fmt: skip
_BIRTH_YEARS = (1950, 2006)
# Kelurahan (towns) are home to four times as many as a desa.
_KELURAHAN_WEIGHT = 4.0

# Permit type, weight, days of the first period, sponsors, purposes.
_PERMITS: tuple[tuple[str, float, int, tuple[str, ...], tuple[str, ...]], ...] = (
    ("VOA", 34, 30, ("Bawah Reserve", "Penginapan Tarempa Indah", "Hotel Anambas",
                     "Homestay Pantai Padang Melang", "Wisma Letung"),
     ("tourism", "diving", "visiting family")),
    ("VISIT", 22, 60, ("PT Anambas Logistic Base", "CV Bahari Anambas", "Yayasan Pesisir Lestari",
                       "Bawah Reserve"),
     ("business meeting", "survey", "social visit", "fisheries research")),
    ("LIMITED_STAY", 33, 365, ("PT Medco E&P Natuna", "Premier Oil Natuna Sea",
                               "PT Anambas Logistic Base", "CV Bahari Anambas",
                               "PT Perikanan Natuna Anambas"),
     ("offshore oil and gas work", "fishing vessel crew", "resort management",
      "family reunification", "teaching")),
    ("PERMANENT_STAY", 9, 1825, ("spouse: Siti Aminah", "spouse: Budi Santoso",
                                 "spouse: Rini Wulandari", "spouse: Ahmad Yani"),
     ("family", "retirement")),
    ("DIPLOMATIC", 2, 365, ("Ministry of Foreign Affairs", "UNHCR Indonesia"),
     ("official duty",)),
)  # fmt: skip
# Every purpose a permit of the population states.
PURPOSES = tuple(purpose for *_rest, purposes in _PERMITS for purpose in purposes)
# The permit types of residents (ITAS, ITAP), whom the office should hear of now and then.
RESIDENT_TYPES = ("LIMITED_STAY", "PERMANENT_STAY")

# --- the shares the rules look for (module docstring; BENCHMARKS.md) -----------------
# Share of stays already closed (the person left; the stay is history).
CLOSED_SHARE = 0.08
# Of the present stays, the share overstaying: the last period ended before today (WIB).
OVERSTAY_SHARE = 0.015
# Of the overstays, the share over by more than 60 days (61 to 365: deportation, Pasal 78);
# the others are over by 1 to 60 days, most by a few (OVERSTAY_MEAN_DAYS).
OVERSTAY_PAST_LIMIT_SHARE = 0.05
OVERSTAY_MEAN_DAYS = 10.0
# Visitors mostly stay a short while, so a present visitor most likely came lately: the days
# since entry spread toward the entry with this mean, cut at the permit's end. Residents'
# (and diplomats') entries are spread evenly over their period.
VISITOR_MEAN_DAYS_PRESENT = {"VOA": 12.0, "VISIT": 30.0}
# Present stays with a second period (sequence 2), by type, and its days; the stay is
# then in the last week of its first period or past it.
EXTENDED_SHARE = {"VOA": 0.2, "VISIT": 0.3}
EXTENSION_DAYS = {"VOA": 30, "VISIT": 60}
# Of the extended stays, those whose second period goes over the type's limit
# (exchange_service/domain/permits.py, settings permit_voa and permit_visit): a handful.
OVER_LIMIT_SHARE = 0.002
OVER_LIMIT_EXTENSION_DAYS = {"VOA": 60, "VISIT": 150}
# Sponsees per sponsor: each sponsor name of _PERMITS stands for numbered units.
SPONSEES_PER_SPONSOR = 40
# Sightings: at times weighted toward the recent past (this mean, before the stay's end),
# around the home, or (this share) around another village.
# A mean of half a year puts about a sixth of the sightings in the last 30 days (lodging
# reports of the visitors there now, checks of the residents), the rest over the stays.
SIGHTING_RECENCY_MEAN_DAYS = 180.0
NEAR_HOME_SPREAD_METERS = 400.0
TRAVEL_SHARE = 0.03
# Persons (of all; drawn from those present 40 days or more) seen 2 to 4 times in the last
# 30 days, each time more than FAR_METERS from their registered address.
FAR_SEEN_SHARE = 0.005
FAR_SIGHTINGS = (2, 4)
FAR_METERS = 3_500.0
# Persons (of all; drawn from those present) seen once or twice in the last 30 days inside a
# restricted area their permit's purpose is not allowed in, and inside one where it is.
RESTRICTED_AREA_SEEN_SHARE = 0.001
RESTRICTED_AREA_ALLOWED_SHARE = 0.001
# Of the present residents, those with no contact (sighting, address report, permit action,
# entry) for 190 days or more; every other resident present 170 days or more is seen in the
# last 170.
SILENT_RESIDENT_SHARE = 0.02
_SILENT_DAYS = 190
_CONTACT_DAYS = 170
# Mean delays of reports after the fact, and the longest.
_ADDRESS_REPORT_HOURS, _ADDRESS_REPORT_MAX_DAYS = 24.0, 7
_SIGHTING_REPORT_HOURS, _SIGHTING_REPORT_MAX_HOURS = 3.0, 48
_RECENT_DAYS = 29  # sightings meant for the rules' 30-day windows fall in the last 29 days

_ENTRY_PORTS = ("IDTRE", "IDMWK", "IDLMU", "IDJEM", "IDKIA")
_ENTRY_PORT_WEIGHTS = (50, 25, 12, 8, 5)

# Sighting source, weight, reference prefix ("" means sometimes no reference), place prefix.
_SOURCES: tuple[tuple[str, float, str, str], ...] = (
    ("LODGING_CHECK_IN", 35, "CI", "Penginapan"),
    ("LODGING_CHECK_OUT", 25, "CO", "Penginapan"),
    ("POLICE_CHECK", 15, "POL", "Pos Polisi"),
    ("LOCAL_GOVERNMENT", 8, "", "Kantor Desa"),
    ("COMMUNITY_REPORT", 7, "", "Dermaga"),
    ("IMMIGRATION_CHECK", 10, "IMI", "Pemeriksaan"),
)

# What a planned sighting is for.
_FAR, _AREA, _CONTACT = 1, 2, 3


@dataclass(frozen=True)
class Population:
    """What was loaded, and what the load client needs to ask about it."""

    persons: int
    sightings: int
    load_seconds: float
    documents: tuple[tuple[str, str], ...]  # (issuing_state, number) of sampled persons
    villages: tuple[Village, ...]
    # The instant the population is as of: every recorded time is at or before it.
    as_of: datetime = AS_OF
    # How many of each planned kind were generated (overstays, far persons, ...).
    designed: Mapping[str, int] = field(default_factory=dict)


ProgressHook = Callable[[str, int, int], None]
"""Called with (phase, done, total) as the load goes on."""


def bench_villages(district_of: dict[str, str]) -> tuple[Village, ...]:
    """The villages homes and sightings are placed around, as the database files them.

    ``district_of`` maps village codes to district codes as the ``villages``
    table has them; a village not in it, or in another district, is an
    error, since its points would break a foreign key or be misfiled.
    """
    found = villages()
    for village in found:
        if district_of.get(village.code) != village.district_code:
            raise RuntimeError(
                f"village {village.code} ({village.name}) is not in the villages table "
                f"under district {village.district_code}"
            )
    if not found:
        raise RuntimeError("no village centroids in the shipped places")
    return found


def purpose_words(text: str) -> str:
    """A text as its words in lower case, one space between them: as the rule
    RESTRICTED_AREA_PRESENCE compares a purpose with an area's allowed phrases."""
    return " ".join(re.sub(r"[\W_]+", " ", text.lower()).split())


def purpose_allowed(purpose: str, allowed_phrases: Sequence[str]) -> bool:
    """Whether the purpose contains one of the phrases as whole words, in order."""
    words = f" {purpose_words(purpose)} "
    return any(f" {purpose_words(phrase)} " in words for phrase in allowed_phrases)


@dataclass(frozen=True)
class RestrictedArea:
    """A restricted area as the generator places points: its rings (longitude, latitude)."""

    code: str
    allowed_purposes: tuple[str, ...]
    rings: tuple[tuple[tuple[float, float], ...], ...]

    @property
    def box(self) -> tuple[float, float, float, float]:
        """min longitude, max longitude, min latitude, max latitude."""
        points = [point for ring in self.rings for point in ring]
        lons, lats = [p[0] for p in points], [p[1] for p in points]
        return min(lons), max(lons), min(lats), max(lats)

    @property
    def centre(self) -> tuple[float, float]:
        """The mean of the outer rings' vertices (longitude, latitude)."""
        points = [point for ring in self.rings for point in ring]
        return (
            sum(p[0] for p in points) / len(points),
            sum(p[1] for p in points) / len(points),
        )

    def contains(self, lon: float, lat: float) -> bool:
        """Even-odd test over every ring (holes and several polygons included)."""
        inside = False
        for ring in self.rings:
            j = len(ring) - 1
            for i in range(len(ring)):
                xi, yi = ring[i]
                xj, yj = ring[j]
                if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
                    inside = not inside
                j = i
        return inside


def restricted_areas_of(connection: psycopg.Connection[TupleRow]) -> tuple[RestrictedArea, ...]:
    """The restricted areas of the database, as ``pantau migrate`` loaded them, by code."""
    areas = []
    rows = connection.execute(
        "SELECT code, allowed_purposes, ST_AsGeoJSON(boundary) FROM restricted_areas ORDER BY code"
    )
    for code, allowed, geometry in rows:
        shape = json.loads(geometry)
        polygons = (
            shape["coordinates"] if shape["type"] == "MultiPolygon" else [shape["coordinates"]]
        )
        rings = tuple(
            tuple((float(x), float(y)) for x, y, *_rest in ring)
            for polygon in polygons
            for ring in polygon
        )
        areas.append(RestrictedArea(str(code), tuple(allowed), rings))
    return tuple(areas)


def _uuid(rng: random.Random) -> str:
    """A random version-4 UUID as 32 hex digits (PostgreSQL reads it without dashes)."""
    bits = rng.getrandbits(128)
    bits = (bits & ~(0xF000 << 64) & ~(0xC000 << 48)) | (0x4000 << 64) | (0x8000 << 48)
    return f"{bits:032x}"


_UUID_BITS = (1 << 128) - 1
_UUID_VERSION_MASK = ~(0xF000 << 64) & ~(0xC000 << 48)
_UUID_VERSION_BITS = (0x4000 << 64) | (0x8000 << 48)


def _uuids(rng: random.Random) -> tuple[str, str, str]:
    """Three :func:`_uuid` at once, from one draw of random bits (a person's, stay's, home's)."""
    bits = rng.getrandbits(384)
    return (
        f"{(bits >> 256) & _UUID_VERSION_MASK | _UUID_VERSION_BITS:032x}",
        f"{(bits >> 128) & _UUID_BITS & _UUID_VERSION_MASK | _UUID_VERSION_BITS:032x}",
        f"{bits & _UUID_BITS & _UUID_VERSION_MASK | _UUID_VERSION_BITS:032x}",
    )


# Every time of day as COPY writes it, so that a timestamp is two look-ups.
_CLOCK = tuple(f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+00" for s in range(_DAY))


def _timestamp(seconds: int) -> str:
    day, second = divmod(seconds, _DAY)
    return f"{_DAYS[day]} {_CLOCK[second]}"


def _wib_day(seconds: int) -> int:
    """The WIB day of an instant, as an index into ``_DAYS``."""
    return (seconds + _WIB_OFFSET) // _DAY


def _recent(rng: random.Random, mean: float, upper: int) -> int:
    """A whole number in [0, upper), most likely small: exponential with ``mean``, cut at
    ``upper`` (memoryless, so a time this far before an end is weighted toward the end)."""
    if upper <= 1:
        return 0
    drawn = -mean * math.log(1.0 - rng.random() * (1.0 - math.exp(-upper / mean)))
    return min(int(drawn), upper - 1)


def _meters(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Distance on the ground at the regency's scale (equirectangular, well under 0.5 % off)."""
    dy = (lat2 - lat1) * _METERS_PER_DEGREE
    dx = (lon2 - lon1) * _METERS_PER_DEGREE * math.cos(math.radians((lat1 + lat2) / 2))
    return math.hypot(dx, dy)


class _Generator:
    """Rows of the population, from one seeded generator."""

    def __init__(
        self,
        seed: int,
        villages: Sequence[Village],
        areas: Sequence[RestrictedArea],
        persons: int,
    ) -> None:
        self.rng = random.Random(seed)
        self.gauss = self.rng.gauss
        self.villages = villages
        self.areas = tuple(areas)
        self.area_boxes = [(area.box, area) for area in self.areas]
        # The same boxes a little wider than rounding to 6 decimals moves a point: a point
        # outside them all is outside every area as stored.
        self.padded_boxes = tuple(
            (west - _PAD, east + _PAD, south - _PAD, north + _PAD)
            for (west, east, south, north), _area in self.area_boxes
        )
        self.village_cum = _cumulative(_KELURAHAN_WEIGHT if v.kelurahan else 1.0 for v in villages)
        self.nationality_cum = _cumulative(n[1] for n in _NATIONALITIES)
        self.permit_cum = _cumulative(p[1] for p in _PERMITS)
        self.port_cum = _cumulative(_ENTRY_PORT_WEIGHTS)
        self.source_cum = _cumulative(s[1] for s in _SOURCES)
        self.name_keys: dict[tuple[str, str], str] = {}
        total = sum(p[1] for p in _PERMITS)
        # Each type's sponsors: numbered units of its names, SPONSEES_PER_SPONSOR sponsees each.
        self.sponsors = [
            tuple(
                f"{sponsors[unit % len(sponsors)]} {unit // len(sponsors) + 1}"
                for unit in range(max(1, round(persons * weight / total / SPONSEES_PER_SPONSOR)))
            )
            for _type, weight, _period, sponsors, _purposes in _PERMITS
        ]
        # Per (permit type, purpose): the areas the purpose is allowed in, and the others.
        self.allowed_areas = [
            [
                tuple(i for i, a in enumerate(self.areas) if purpose_allowed(p, a.allowed_purposes))
                for p in purposes
            ]
            for *_rest, purposes in _PERMITS
        ]
        self.barred_areas = [
            [
                tuple(
                    i
                    for i, a in enumerate(self.areas)
                    if not purpose_allowed(p, a.allowed_purposes)
                )
                for p in purposes
            ]
            for *_rest, purposes in _PERMITS
        ]
        # The village nearest each area, whose codes a sighting inside the area carries.
        self.area_village = [
            min(
                range(len(villages)),
                key=lambda v: _meters(
                    villages[v].latitude, villages[v].longitude, area.centre[1], area.centre[0]
                ),
            )
            for area in self.areas
        ]
        # What sightings need of each person.
        self.person_ids: list[str] = []
        self.person_village = array("H")
        self.person_nationality = array("B")
        self.person_permit = array("B")
        self.person_purpose = array("B")
        self.home_lat = array("d")
        self.home_lon = array("d")
        self.stay_from = array("q")
        self.stay_until = array("q")
        self.address_reported = array("q")
        self.silent = bytearray()
        # The planned sightings, in order: person, what for, and the village or area.
        self.plan_person = array("I")
        self.plan_kind = array("B")
        self.plan_place = array("H")
        self.designed: dict[str, int] = {
            "present_stays": 0,
            "overstays": 0,
            "overstays_past_60_days": 0,
            "extended_stays": 0,
            "over_limit_stays": 0,
        }

    # --- places ------------------------------------------------------------------------

    def in_area(self, lat: float, lon: float) -> bool:
        for (west, east, south, north), area in self.area_boxes:
            if west <= lon <= east and south <= lat <= north and area.contains(lon, lat):
                return True
        return False

    def around(self, lat: float, lon: float, meters: float) -> tuple[float, float]:
        """A point about ``meters`` (one standard deviation) from (lat, lon), outside every
        restricted area (the spread widens if the centre is inside one)."""
        sigma_lat = meters / _METERS_PER_DEGREE
        # A degree of longitude is as long across the regency (2.2 to 3.5 degrees north)
        # to within 0.1 %.
        sigma_lon = sigma_lat / _COS_LATITUDE
        gauss = self.gauss
        p_lat = lat + gauss(0.0, sigma_lat)
        p_lon = lon + gauss(0.0, sigma_lon)
        for west, east, south, north in self.padded_boxes:
            if west <= p_lon <= east and south <= p_lat <= north:
                break
        else:
            return p_lat, p_lon
        for attempt in range(200):
            widen = 2 ** (attempt // 20)
            # Near an area: tested as COPY writes it (ewkt rounds), so the point tested is
            # the point stored.
            p_lat = round(lat + gauss(0.0, sigma_lat * widen), 6)
            p_lon = round(lon + gauss(0.0, sigma_lon * widen), 6)
            if not self.in_area(p_lat, p_lon):
                return p_lat, p_lon
        raise RuntimeError(f"no point outside the restricted areas near {lat}, {lon}")

    def inside(self, area_index: int) -> tuple[float, float]:
        """A random point well inside the area (latitude, longitude)."""
        area = self.areas[area_index]
        west, east, south, north = area.box
        centre_lon, centre_lat = area.centre
        uniform = self.rng.uniform
        for _attempt in range(1_000):
            lon, lat = round(uniform(west, east), 6), round(uniform(south, north), 6)
            # Inside even a little farther from the centre: never on the edge, where the
            # database's spherical test and this planar one could disagree.
            beyond_lon = centre_lon + (lon - centre_lon) * 1.05
            beyond_lat = centre_lat + (lat - centre_lat) * 1.05
            if area.contains(lon, lat) and area.contains(beyond_lon, beyond_lat):
                return lat, lon
        raise RuntimeError(f"no point found inside restricted area {area.code}")

    @staticmethod
    def ewkt(lat: float, lon: float) -> str:
        return f"SRID=4326;POINT({lon:.6f} {lat:.6f})"

    def name_key(self, family: str, given: str) -> str:
        key = self.name_keys.get((family, given))
        if key is None:
            key = self.name_keys[family, given] = search_key(family, given)
        return key

    # --- persons -----------------------------------------------------------------------

    def present_stay(self, ptype: str, period: int) -> tuple[tuple[int, ...], int]:
        """The periods' days and the WIB days since entry of a stay present today."""
        random_ = self.rng.random
        randrange = self.rng.randrange
        lengths: tuple[int, ...] = (period,)
        if random_() < EXTENDED_SHARE.get(ptype, 0.0):
            over = random_() < OVER_LIMIT_SHARE
            lengths = (period, (OVER_LIMIT_EXTENSION_DAYS if over else EXTENSION_DAYS)[ptype])
            self.designed["extended_stays"] += 1
            self.designed["over_limit_stays"] += over
        covered = sum(lengths)
        self.designed["present_stays"] += 1
        if random_() < OVERSTAY_SHARE:
            self.designed["overstays"] += 1
            if random_() < OVERSTAY_PAST_LIMIT_SHARE:
                self.designed["overstays_past_60_days"] += 1
                days_over = randrange(61, 366)
            else:
                days_over = 1 + _recent(self.rng, OVERSTAY_MEAN_DAYS, 60)
            # The last valid day is entry + covered - 1; today is days_over after it.
            return lengths, covered - 1 + days_over
        if len(lengths) > 1:
            return lengths, randrange(max(0, period - 7), covered)
        mean = VISITOR_MEAN_DAYS_PRESENT.get(ptype)
        if mean is not None:
            return lengths, _recent(self.rng, mean, covered)
        return lengths, int(random_() * covered)

    def entry_on(self, days_ago: int) -> int:
        """An entry instant on the WIB day ``days_ago`` days before today, before AS_OF."""
        day_start = (_TODAY - days_ago) * _DAY - _WIB_OFFSET
        return day_start + int(self.rng.random() * max(1, min(_DAY, _NOW - 60 - day_start)))

    def stay(self, ptype: str, period: int) -> tuple[tuple[int, ...], int, str, str, int]:
        """A stay's periods (days each), entry, exit port and time (``\\N`` while present),
        and end (its exit, or AS_OF)."""
        randrange = self.rng.randrange
        if self.rng.random() < CLOSED_SHARE:
            # History: entered within 1.25 periods (capped at 6 years), left within one.
            entered = _NOW - randrange(_HOUR, min(int(period * 1.25), 2_190) * _DAY)
            exited = entered + randrange(1, max(2, min(period * _DAY, _NOW - entered)))
            return (period,), entered, self.rng.choice(_ENTRY_PORTS), _timestamp(exited), exited
        lengths, days_ago = self.present_stay(ptype, period)
        return lengths, self.entry_on(days_ago), "\\N", "\\N", _NOW

    def permit_rows(
        self,
        *,
        stay_id: str,
        person: int,
        ptype: str,
        lengths: Sequence[int],
        entered: int,
        sponsor: str,
        purpose: str,
    ) -> str:
        """COPY text of a stay's permit periods, one after the other from the entry's WIB day."""
        random_ = self.rng.random
        first = _wib_day(entered)
        rows = []
        for sequence, length in enumerate(lengths, start=1):
            if sequence == 1:
                # Issued at the port, recorded within the hour.
                recorded = min(_NOW, entered + 60 + int(random_() * (_HOUR - 60)))
                number = f"{ptype}-{person:08d}"
            else:
                # Applied for and granted in the week before the period starts.
                starts = first * _DAY - _WIB_OFFSET
                recorded = max(entered, min(_NOW, starts - _HOUR - int(random_() * 6 * _DAY)))
                number = f"{ptype}-{person:08d}-{sequence}"
            rows.append(
                f"{stay_id}\t{sequence}\t{number}\t{ptype}\t{_DAYS[first]}\t"
                f"{_DAYS[first + length - 1]}\t{sponsor}\t{purpose}\t{_timestamp(recorded)}\n"
            )
            first += length
        return "".join(rows)

    def persons(self, start: int, stop: int) -> dict[str, str]:
        """COPY text of persons ``start..stop-1`` and their documents, stays, permits, homes."""
        rng = self.rng
        random_ = rng.random
        name_key = self.name_key
        count = stop - start
        nationalities = rng.choices(
            range(len(_NATIONALITIES)), cum_weights=self.nationality_cum, k=count
        )
        villages = rng.choices(range(len(self.villages)), cum_weights=self.village_cum, k=count)
        permits = rng.choices(range(len(_PERMITS)), cum_weights=self.permit_cum, k=count)
        ports = rng.choices(_ENTRY_PORTS, cum_weights=self.port_cum, k=count)
        out: dict[str, list[str]] = {table: [] for table in _PERSON_COLUMNS}
        persons, documents, stays = out["persons"], out["travel_documents"], out["stays"]
        permits_out, addresses, current = (
            out["stay_permits"],
            out["addresses"],
            out["current_addresses"],
        )
        address_delay = _ADDRESS_REPORT_HOURS * _HOUR
        for offset in range(count):
            person = start + offset
            nat = nationalities[offset]
            state = _NATIONALITIES[nat][0]
            person_id, stay_id, address_id = _uuids(rng)
            roll = random_()
            sex = Sex.FEMALE if roll < 0.48 else (Sex.MALE if roll < 0.985 else Sex.UNKNOWN)
            family, given = person_name(rng, state, sex)
            year, month, day = birth_date(rng, _BIRTH_YEARS)
            permit = permits[offset]
            ptype, _w, period, _sponsors, purposes = _PERMITS[permit]
            units = self.sponsors[permit]
            sponsor = units[int(random_() * len(units))]
            purpose = int(random_() * len(purposes))
            lengths, entered, exit_port, exit_at, until = self.stay(ptype, period)
            entry_day, entered_at = _wib_day(entered), _timestamp(entered)
            village = villages[offset]
            v = self.villages[village]
            lat, lon = self.around(v.latitude, v.longitude, SPREAD_METERS)
            point = self.ewkt(lat, lon)
            persons.append(
                f"{person_id}\t{family}\t{given}\t{name_key(family, given)}\t{state}\t"
                f"{year}\t{month}\t{day}\t{sex.value}\t{entered_at}\n"
            )
            documents.append(
                f"{person_id}\t{state}\t{passport_number(state, person)}\t"
                f"{_DAYS[entry_day + 200 + int(random_() * 3_400)]}\t{entered_at}\n"
            )
            stays.append(
                f"{stay_id}\t{person_id}\t{ports[offset]}\t{entered_at}\t{exit_port}\t{exit_at}\n"
            )
            permits_out.append(
                self.permit_rows(
                    stay_id=stay_id,
                    person=person,
                    ptype=ptype,
                    lengths=lengths,
                    entered=entered,
                    sponsor=sponsor,
                    purpose=purposes[purpose],
                )
            )
            reported = entered + _recent(
                rng, address_delay, min(_ADDRESS_REPORT_MAX_DAYS * _DAY, _NOW - entered + 1)
            )
            reported_at = _timestamp(reported)
            addresses.append(
                f"{address_id}\t{person_id}\t{address_line(rng, v)}\t{point}\t"
                f"{v.district_code}\t{v.code}\t{_DAYS[entry_day]}\t{reported_at}\t{reported_at}\n"
            )
            current.append(f"{person_id}\t{address_id}\t{point}\n")
            self.person_ids.append(person_id)
            self.person_village.append(village)
            self.person_nationality.append(nat)
            self.person_permit.append(permit)
            self.person_purpose.append(purpose)
            self.home_lat.append(lat)
            self.home_lon.append(lon)
            self.stay_from.append(entered)
            self.stay_until.append(until)
            self.address_reported.append(reported)
        return {table: "".join(lines) for table, lines in out.items()}

    # --- sightings ---------------------------------------------------------------------

    def plan_sightings(self, budget: int) -> None:
        """Chooses who is seen far from home, in a restricted area, or is seen lately as a
        resident (or not at all: the silent), as the shares say, within ``budget``."""
        rng = self.rng
        persons = len(self.person_ids)
        self.silent = bytearray(persons)
        chosen = bytearray(persons)
        present = [p for p in range(persons) if self.stay_until[p] == _NOW]

        def plan(person: int, kind: int, place: int) -> None:
            if len(self.plan_person) < budget:
                self.plan_person.append(person)
                self.plan_kind.append(kind)
                self.plan_place.append(place)

        settled = [p for p in present if self.address_reported[p] <= _NOW - _RECENT_DAYS * _DAY]
        settled = [p for p in settled if self.stay_from[p] <= _NOW - 40 * _DAY]
        far = rng.sample(settled, min(len(settled), round(FAR_SEEN_SHARE * persons)))
        for person in far:
            chosen[person] = 1
            village = self.far_village(person)
            for _ in range(rng.randint(*FAR_SIGHTINGS)):
                plan(person, _FAR, village)
        self.designed["far_seen_persons"] = len(far)

        for share, areas_of, name in (
            (RESTRICTED_AREA_SEEN_SHARE, self.barred_areas, "restricted_area_barred_persons"),
            (RESTRICTED_AREA_ALLOWED_SHARE, self.allowed_areas, "restricted_area_allowed_persons"),
        ):
            eligible = [
                p
                for p in present
                if not chosen[p] and areas_of[self.person_permit[p]][self.person_purpose[p]]
            ]
            seen = rng.sample(eligible, min(len(eligible), round(share * persons)))
            for person in seen:
                chosen[person] = 1
                area = rng.choice(areas_of[self.person_permit[person]][self.person_purpose[person]])
                for _ in range(rng.randint(1, 2)):
                    plan(person, _AREA, area)
            self.designed[name] = len(seen)

        resident_types = {i for i, p in enumerate(_PERMITS) if p[0] in RESIDENT_TYPES}
        residents = [p for p in present if self.person_permit[p] in resident_types]
        silent_before = _NOW - (_SILENT_DAYS + 10) * _DAY
        candidates = [p for p in residents if not chosen[p] and self.stay_from[p] <= silent_before]
        silent = rng.sample(
            candidates, min(len(candidates), round(SILENT_RESIDENT_SHARE * len(residents)))
        )
        for person in silent:
            self.silent[person] = 1
        self.designed["present_residents"] = len(residents)
        self.designed["silent_residents"] = len(silent)
        contact_before = _NOW - _CONTACT_DAYS * _DAY
        contacts = 0
        for person in residents:
            if not self.silent[person] and self.stay_from[person] <= contact_before:
                plan(person, _CONTACT, 0)
                contacts += 1
        self.designed["resident_contact_sightings"] = contacts
        self.designed["planned_sightings"] = len(self.plan_person)

    def far_village(self, person: int) -> int:
        """A village whose centroid lies well beyond FAR_METERS from the person's home."""
        lat, lon = self.home_lat[person], self.home_lon[person]
        far = [
            i
            for i, v in enumerate(self.villages)
            if _meters(lat, lon, v.latitude, v.longitude) > FAR_METERS + 3 * NEAR_HOME_SPREAD_METERS
        ]
        return self.rng.choice(far)

    def far_point(self, person: int, village: int) -> tuple[float, float]:
        v = self.villages[village]
        lat, lon = self.home_lat[person], self.home_lon[person]
        for _attempt in range(100):
            point = self.around(v.latitude, v.longitude, NEAR_HOME_SPREAD_METERS)
            if _meters(lat, lon, *point) > FAR_METERS:
                return point
        raise RuntimeError(f"no point {FAR_METERS} m from home around {v.name}")

    def sightings(self, start: int, stop: int) -> str:
        """COPY text of sightings ``start..stop-1``: the planned ones first, then each of a
        random person during their stay."""
        rng = self.rng
        random_ = rng.random
        randrange = rng.randrange
        persons = len(self.person_ids)
        planned = len(self.plan_person)
        sources = rng.choices(_SOURCES, cum_weights=self.source_cum, k=stop - start)
        recency = SIGHTING_RECENCY_MEAN_DAYS * _DAY
        expovariate = rng.expovariate
        report_rate = 1.0 / (_SIGHTING_REPORT_HOURS * _HOUR)
        lines = []
        for offset, (source, _weight, ref_prefix, place_prefix) in enumerate(sources):
            number = start + offset
            kind = self.plan_kind[number] if number < planned else 0
            person = self.plan_person[number] if number < planned else int(random_() * persons)
            begin, end = self.stay_from[person], self.stay_until[person]
            if kind == _FAR:
                village = self.plan_place[number]
                lat, lon = self.far_point(person, village)
                observed = _NOW - 1 - randrange(_RECENT_DAYS * _DAY)
            elif kind == _AREA:
                area = self.plan_place[number]
                village = self.area_village[area]
                lat, lon = self.inside(area)
                observed = _NOW - 1 - randrange(max(1, min(_RECENT_DAYS * _DAY, _NOW - begin)))
            else:
                if random_() < TRAVEL_SHARE:
                    village = rng.choices(range(len(self.villages)), cum_weights=self.village_cum)[
                        0
                    ]
                    v = self.villages[village]
                    lat, lon = self.around(v.latitude, v.longitude, SPREAD_METERS)
                else:
                    village = self.person_village[person]
                    lat, lon = self.around(
                        self.home_lat[person], self.home_lon[person], NEAR_HOME_SPREAD_METERS
                    )
                if kind == _CONTACT:
                    end = _NOW
                    begin = max(begin, _NOW - _CONTACT_DAYS * _DAY)
                elif self.silent[person]:
                    end = _NOW - _SILENT_DAYS * _DAY
                observed = end - 1 - _recent(rng, recency, max(1, end - begin))
            # Reported within hours (the longest delays cut at 48 hours, and at AS_OF).
            reported = observed + min(
                int(expovariate(report_rate)), _SIGHTING_REPORT_MAX_HOURS * _HOUR, _NOW - observed
            )
            v = self.villages[village]
            if ref_prefix:
                reference = f"{ref_prefix}{number:010d}"
            else:
                reference = f"LAP{number:010d}" if random_() < 0.5 else ""
            reported_at = _timestamp(reported)
            lines.append(
                f"{_uuid(rng)}\t{self.person_ids[person]}\t{self.ewkt(lat, lon)}\t"
                f"{v.district_code}\t{v.code}\t{_timestamp(observed)}\t{source}\t{reference}\t"
                f"{place_prefix} {v.name}\t{reported_at}\t{reported_at}\n"
            )
        return "".join(lines)

    def sample_documents(self, count: int, seed: int) -> tuple[tuple[str, str], ...]:
        """Documents of ``count`` distinct random persons (all of them if fewer)."""
        persons = len(self.person_ids)
        chosen = random.Random(seed).sample(range(persons), min(count, persons))
        states = [_NATIONALITIES[self.person_nationality[p]][0] for p in chosen]
        return tuple(
            (state, passport_number(state, p)) for state, p in zip(states, chosen, strict=True)
        )


def _cumulative(weights: Iterator[float] | Sequence[float]) -> list[float]:
    total = 0.0
    out = []
    for weight in weights:
        total += weight
        out.append(total)
    return out


def _copy_statement(table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _connect(
    conninfo: str, *, autocommit: bool = False, maintenance: bool = False
) -> psycopg.Connection[TupleRow]:
    """A loader connection: asynchronous commit; with ``maintenance``, memory for index builds."""
    connection = psycopg.connect(
        conninfo, autocommit=autocommit, application_name="pantau-bench-load"
    )
    connection.execute("SET synchronous_commit = off")
    if maintenance:
        connection.execute(f"SET maintenance_work_mem = '{MAINTENANCE_WORK_MEM}'")
    return connection


def _load_persons(
    conninfo: str, generator: _Generator, persons: int, progress: ProgressHook
) -> None:
    """COPYs the person tables at once, one connection (and server process) per table."""
    with ExitStack() as stack:
        copies = {}
        for table, columns in _PERSON_COLUMNS.items():
            connection = stack.enter_context(_connect(conninfo))
            cursor = stack.enter_context(connection.cursor())
            copies[table] = stack.enter_context(cursor.copy(_copy_statement(table, columns)))
        for start in range(0, persons, _CHUNK):
            stop = min(start + _CHUNK, persons)
            for table, text in generator.persons(start, stop).items():
                copies[table].write(text)
            progress("persons", stop, persons)


def _load_sightings(
    conninfo: str, generator: _Generator, sightings: int, progress: ProgressHook
) -> None:
    statement = _copy_statement("sightings", _SIGHTING_COLUMNS)
    generator.plan_sightings(sightings)
    with (
        _connect(conninfo) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for start in range(0, sightings, _CHUNK * 5):
            stop = min(start + _CHUNK * 5, sightings)
            copy.write(generator.sightings(start, stop))
            progress("sightings", stop, sightings)


_PERMIT_STATE_TRIGGER = "ALTER TABLE stay_permits {} TRIGGER stay_permits_state"
# Each stay's permit state as the trigger of migration 0010 keeps it: the period ending
# last, the highest sequence of a tie.
_PERMIT_STATE = """
    UPDATE stays s
    SET permit_valid_until = last.valid_until, permit_id = last.id, permit_type = last.type
    FROM (
        SELECT DISTINCT ON (stay_id) stay_id, valid_until, id, type
        FROM stay_permits
        ORDER BY stay_id, valid_until DESC, sequence DESC
    ) last
    WHERE s.id = last.stay_id
"""


def load_population(
    conninfo: str,
    *,
    persons: int,
    sightings: int,
    seed: int = 20261128,
    sample_documents: int = 100_000,
    progress: ProgressHook = lambda _phase, _done, _total: None,
) -> Population:
    """Loads the population into the migrated, empty database at ``conninfo``.

    ``conninfo`` is a libpq URL (no SQLAlchemy driver suffix). The returned
    ``load_seconds`` covers setting keys aside, both COPY passes, rebuilding
    keys and indexes, and VACUUM ANALYZE: the database is ready to query.
    """
    if persons < 1 or sightings < 0:
        raise ValueError("at least one person and no negative number of sightings")
    # Each person's serial is their passport's: past a state's capacity, numbers repeat.
    most = min(passport_capacity(state) for state, _weight in _NATIONALITIES)
    if persons > most:
        raise ValueError(f"at most {most:,} persons: passport numbers would repeat")
    with _connect(conninfo, autocommit=True) as admin:
        if admin.execute("SELECT count(*) FROM persons").fetchone() != (0,):
            raise RuntimeError("the bench database already holds persons")
        district_of = {
            str(code): str(district)
            for code, district in admin.execute("SELECT code, district_code FROM villages")
        }
        villages = bench_villages(district_of)
        generator = _Generator(seed, villages, restricted_areas_of(admin), persons)
        started = time.perf_counter()
        schema = bulk.snapshot(admin, LOADED_TABLES)
        bulk.drop_all(admin, schema)
        # The periods are COPYed beside their stays, on connections of their own: the
        # trigger keeping each stay's permit state (migration 0010) would not see the
        # stays, so it is set aside and the state is written once, set-based, after both.
        admin.execute(_PERMIT_STATE_TRIGGER.format("DISABLE"))
        try:
            _load_persons(conninfo, generator, persons, progress)
            _load_sightings(conninfo, generator, sightings, progress)
            admin.execute(_PERMIT_STATE)
        finally:
            admin.execute(_PERMIT_STATE_TRIGGER.format("ENABLE"))
        built = 0
        lock = threading.Lock()

        def on_built(_name: str) -> None:
            nonlocal built
            with lock:
                built += 1
                progress("keys and indexes", built, schema.rebuild_steps)

        bulk.rebuild_all(
            lambda: _connect(conninfo, autocommit=True, maintenance=True),
            schema,
            parallel=REBUILD_CONNECTIONS,
            on_step=on_built,
        )
        for done, table in enumerate(LOADED_TABLES, start=1):
            admin.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
            progress("vacuum analyze", done, len(LOADED_TABLES))
        load_seconds = time.perf_counter() - started
    return Population(
        persons=persons,
        sightings=sightings,
        load_seconds=load_seconds,
        documents=generator.sample_documents(sample_documents, seed + 1),
        villages=villages,
        as_of=AS_OF,
        designed=dict(generator.designed),
    )
