"""A synthetic population of foreigners in Anambas, bulk-loaded with COPY.

For N persons the loader writes, in one pass over the persons, one row each
to ``persons``, ``travel_documents``, ``stays``, ``stay_permits`` (sequence
1), ``addresses`` and ``current_addresses``, then M ``sightings`` spread
uniformly over the persons. Rows are generated in Python from one seeded
generator, so a seed and the two counts give the same population every time,
and they satisfy every CHECK and key of the schema:

* names, birth dates, passport numbers, villages and address lines come from
  ``tools.people``, as the sample's do;
* ``persons.name_key`` is ``watchlist.names.search_key(family, given)``,
  computed once per distinct name;
* document numbers are in their state's format and unique per state (one
  serial per person);
* most stays are open; a closed one has an exit port and exits after entry;
* each person's one address is also their ``current_addresses`` row;
* homes and sightings are scattered around the village centroids of
  ``tools.people.villages`` with a Gaussian spread of about 1.2 km, and carry
  that village's code and its district's code (as the ``villages`` table has
  them).

Tables are only ever inserted into (addresses and sightings are append-only).
Keys and indexes are set aside during the COPY and rebuilt afterwards
(``tools.bench.bulk``), then the tables are vacuumed and analysed.
"""

from __future__ import annotations

import math
import random
import threading
import time
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
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

# Columns written by COPY; the others take their defaults (serial ids, recorded_at).
_PERSON_COLUMNS: dict[str, tuple[str, ...]] = {
    "persons": (
        "id", "family_name", "given_names", "name_key", "nationality",
        "birth_year", "birth_month", "birth_day", "sex", "registered_at",
    ),
    "travel_documents": ("person_id", "issuing_state", "number", "expiry_date"),
    "stays": ("id", "person_id", "entry_port_code", "entered_at", "exit_port_code", "exited_at"),
    "stay_permits": (
        "stay_id", "sequence", "permit_number", "type", "valid_from", "valid_until",
        "sponsor", "purpose",
    ),
    "addresses": (
        "id", "person_id", "line", "location", "district_code", "village_code", "effective_from",
    ),
    "current_addresses": ("person_id", "address_id", "location"),
}  # fmt: skip
_SIGHTING_COLUMNS = (
    "id", "person_id", "location", "district_code", "village_code", "observed_at",
    "source", "reference", "place_name",
)  # fmt: skip

# The population is as of the benchmark's date; nothing is later.
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)
_BASE = datetime(2016, 1, 1, tzinfo=UTC)
_NOW = int((AS_OF - _BASE).total_seconds())
_DAY = 86_400
_DAYS = tuple((_BASE.date() + timedelta(days=d)).isoformat() for d in range(_NOW // _DAY + 4000))

# Spread of homes and sightings around a village centroid (one standard deviation).
SPREAD_METERS = 1_200.0
_METERS_PER_DEGREE = 111_320.0

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
# Share of stays already closed (the person left; the stay is history).
_CLOSED_SHARE = 0.08

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


@dataclass(frozen=True)
class Population:
    """What was loaded, and what the load client needs to ask about it."""

    persons: int
    sightings: int
    load_seconds: float
    documents: tuple[tuple[str, str], ...]  # (issuing_state, number) of sampled persons
    villages: tuple[Village, ...]


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


def _timestamp(seconds: int) -> str:
    day, second = divmod(seconds, _DAY)
    return f"{_DAYS[day]} {second // 3600:02d}:{second // 60 % 60:02d}:{second % 60:02d}+00"


class _Generator:
    """Rows of the population, from one seeded generator."""

    def __init__(self, seed: int, villages: Sequence[Village]) -> None:
        self.rng = random.Random(seed)
        self.villages = villages
        self.village_cum = _cumulative(_KELURAHAN_WEIGHT if v.kelurahan else 1.0 for v in villages)
        self.nationality_cum = _cumulative(n[1] for n in _NATIONALITIES)
        self.permit_cum = _cumulative(p[1] for p in _PERMITS)
        self.port_cum = _cumulative(_ENTRY_PORT_WEIGHTS)
        self.source_cum = _cumulative(s[1] for s in _SOURCES)
        self.name_keys: dict[tuple[str, str], str] = {}
        self.sigma_lat = SPREAD_METERS / _METERS_PER_DEGREE
        self.sigma_lon = [
            SPREAD_METERS / (_METERS_PER_DEGREE * math.cos(math.radians(v.latitude)))
            for v in villages
        ]
        # What sightings need of each person: id, home village, stay interval.
        self.person_ids: list[str] = []
        self.person_village = array("H")
        self.person_nationality = array("B")
        self.stay_from = array("q")
        self.stay_until = array("q")

    def point(self, village: int) -> str:
        v = self.villages[village]
        gauss = self.rng.gauss
        lat = v.latitude + gauss(0.0, self.sigma_lat)
        lon = v.longitude + gauss(0.0, self.sigma_lon[village])
        return f"SRID=4326;POINT({lon:.6f} {lat:.6f})"

    def name_key(self, family: str, given: str) -> str:
        key = self.name_keys.get((family, given))
        if key is None:
            key = self.name_keys[family, given] = search_key(family, given)
        return key

    def persons(self, start: int, stop: int) -> dict[str, str]:
        """COPY text of persons ``start..stop-1`` and their documents, stays, permits, homes."""
        rng = self.rng
        random_ = rng.random
        randrange = rng.randrange
        choice = rng.choice
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
        for offset in range(count):
            person = start + offset
            nat = nationalities[offset]
            state = _NATIONALITIES[nat][0]
            person_id, stay_id, address_id = _uuids(rng)
            roll = random_()
            sex = Sex.FEMALE if roll < 0.48 else (Sex.MALE if roll < 0.985 else Sex.UNKNOWN)
            family, given = person_name(rng, state, sex)
            year, month, day = birth_date(rng, _BIRTH_YEARS)
            ptype, _w, period, sponsors, purposes = _PERMITS[permits[offset]]
            # Entered within 1.25 periods (capped at 6 years): some overstay.
            entered = _NOW - randrange(3_600, min(int(period * 1.25), 2_190) * _DAY)
            entry_day, entered_at = entered // _DAY, _timestamp(entered)
            if random_() < _CLOSED_SHARE:
                exited = entered + randrange(1, max(2, min(period * _DAY, _NOW - entered)))
                exit_port, exit_at, until = choice(_ENTRY_PORTS), _timestamp(exited), exited
            else:
                exit_port, exit_at, until = "\\N", "\\N", _NOW
            village = villages[offset]
            v = self.villages[village]
            point = self.point(village)
            persons.append(
                f"{person_id}\t{family}\t{given}\t{name_key(family, given)}\t{state}\t"
                f"{year}\t{month}\t{day}\t{sex.value}\t{entered_at}\n"
            )
            documents.append(
                f"{person_id}\t{state}\t{passport_number(state, person)}\t"
                f"{_DAYS[entry_day + randrange(200, 3_600)]}\n"
            )
            stays.append(
                f"{stay_id}\t{person_id}\t{ports[offset]}\t{entered_at}\t{exit_port}\t{exit_at}\n"
            )
            permits_out.append(
                f"{stay_id}\t1\t{ptype}-{person:08d}\t{ptype}\t{_DAYS[entry_day]}\t"
                f"{_DAYS[entry_day + period - 1]}\t{choice(sponsors)}\t{choice(purposes)}\n"
            )
            addresses.append(
                f"{address_id}\t{person_id}\t{address_line(rng, v)}\t{point}\t"
                f"{v.district_code}\t{v.code}\t{_DAYS[entry_day]}\n"
            )
            current.append(f"{person_id}\t{address_id}\t{point}\n")
            self.person_ids.append(person_id)
            self.person_village.append(village)
            self.person_nationality.append(nat)
            self.stay_from.append(entered)
            self.stay_until.append(until)
        return {table: "".join(lines) for table, lines in out.items()}

    def sightings(self, start: int, stop: int) -> str:
        """COPY text of sightings ``start..stop-1``, each of a random person during their stay."""
        rng = self.rng
        randrange = rng.randrange
        persons = len(self.person_ids)
        sources = rng.choices(_SOURCES, cum_weights=self.source_cum, k=stop - start)
        lines = []
        for offset, (source, _weight, ref_prefix, place_prefix) in enumerate(sources):
            number = start + offset
            person = randrange(persons)
            village = self.person_village[person]
            v = self.villages[village]
            begin, end = self.stay_from[person], self.stay_until[person]
            observed = begin + randrange(max(1, end - begin))
            if ref_prefix:
                reference = f"{ref_prefix}{number:010d}"
            else:
                reference = f"LAP{number:010d}" if rng.random() < 0.5 else ""
            lines.append(
                f"{_uuid(rng)}\t{self.person_ids[person]}\t{self.point(village)}\t"
                f"{v.district_code}\t{v.code}\t{_timestamp(observed)}\t{source}\t{reference}\t"
                f"{place_prefix} {v.name}\n"
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
    with (
        _connect(conninfo) as connection,
        connection.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        for start in range(0, sightings, _CHUNK * 5):
            stop = min(start + _CHUNK * 5, sightings)
            copy.write(generator.sightings(start, stop))
            progress("sightings", stop, sightings)


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
        generator = _Generator(seed, villages)
        started = time.perf_counter()
        schema = bulk.snapshot(admin, LOADED_TABLES)
        bulk.drop_all(admin, schema)
        _load_persons(conninfo, generator, persons, progress)
        _load_sightings(conninfo, generator, sightings, progress)
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
    )
