"""``pantau bench-watchlist``: screening against a watchlist of 100,000 entries, each figure
beside a baseline measured in the same run.

``run_watchlist_bench`` guarantees, in order:

1. a fresh database ``pantau_bench_watchlist`` (or the name given; dropped first if it
   exists), made as ``pantau bench`` makes its own (``bench.fresh_database``);
2. the watchlist: N entries drawn from one seeded generator (``generate_entries``):
   names of ``tools.people`` across the population's nationalities, a share of the
   Chinese ones also listed in Han characters, Russians listed in Cyrillic and Arabs in
   Arabic script (each with a Latin alias for a share), birth dates (some the year only,
   some none), passport numbers, the five lists, validity periods (some ended). Each
   entry is what ``domain.watchlist.valid_entry`` makes of its request, and it is
   COPYed into ``watchlist_entries``, ``watchlist_entry_versions`` (version 1, ADDED),
   ``watchlist_names``, ``watchlist_keys`` and ``watchlist_documents`` exactly as
   ``Watchlist.import_entries`` would write it (``comparable_name``, ``retrieval_keys``,
   ``EntryContent.as_json`` and ``digest``), with keys and indexes set aside and rebuilt
   (``tools.bench.bulk``), then vacuumed and analysed. The ENTRY rows the insert
   trigger queued are cleared: there is nobody to screen them against yet;
3. ``screen_p99_ms``: Q ``Watchlist.screen`` calls, one at a time (the use case on a
   pooled read connection, as the RPC runs it minus gRPC; the read engine is made as
   ``app.build_application`` makes it), after a warm-up of a tenth of them; the
   queries are listed persons under a variation (a typo, the other word order, the
   other script or its Latin spelling, the exact name) with what a caller would know
   of them, and persons not on the list. Beside it, the baseline: the same calls'
   candidate statement alone (``storage.watchlist_store``'s, fetched, nothing
   scored), so that what scoring costs is visible; ``screen_recall`` is the share of
   queries of listed persons whose entry came back as a match. The slowest
   candidate statement is run again under ``EXPLAIN (ANALYZE, BUFFERS)`` into
   ``plans_file``;
4. ``batch_screen_per_second``: P persons COPYed into ``persons`` and
   ``travel_documents`` (their insert triggers queue them, as a registration does),
   a share of them planted: a listed person under a variation, with the entry's
   birth date and nationality and, for some, its document. Then ``Screener.drain``
   (no rule engine: no alert is raised; the unit of work as the scheduler's), timed
   whole: persons screened per second. ``planted_recall`` is the share of planted
   persons with a stored match to their entry. Beside it, the bare read of the same
   persons in the screener's batches (``persons_read_per_second``);
5. ``compare_pairs_per_second``: ``watchlist.compare.compare_csv`` over M name pairs
   in memory (a listed name against a variation of it, or against another listed
   name);
6. exactly one JSON line on stdout (the issue's four keys first, then the others),
   the target checked on stderr with the progress.

The database is left in place for inspection.
"""

from __future__ import annotations

import csv
import io
import json
import random
import statistics
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow
from rich.console import Console
from sqlalchemy import Engine

from exchange_service.app import watchlist_options
from exchange_service.domain import commands as cmd
from exchange_service.domain import watchlist as wl
from exchange_service.domain.audit import Actor
from exchange_service.domain.model import Sex
from exchange_service.rules_root import screening_options
from exchange_service.services.watchlist import Screener, Watchlist, party_keys
from exchange_service.settings import Settings
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.storage.watchlist_store import _CANDIDATE_ENTRIES, WatchlistReader
from exchange_service.tools.bench import BenchDatabase, bulk, fresh_database, target_met
from exchange_service.tools.people import (
    NAMES,
    birth_date,
    passport_capacity,
    passport_number,
    person_name,
)
from watchlist.compare import compare_csv
from watchlist.matching import comparable_name, retrieval_keys
from watchlist.names import search_key

__all__ = [
    "WATCHLIST_BENCH_DATABASE",
    "WATCHLIST_PLANS_FILE",
    "WATCHLIST_TABLES",
    "WATCHLIST_TARGETS",
    "ListedPerson",
    "generate_entries",
    "run_watchlist_bench",
    "vary",
]

WATCHLIST_BENCH_DATABASE = "pantau_bench_watchlist"
WATCHLIST_PLANS_FILE = Path("var/bench/watchlist-plans.txt")
# The tables an entry is written to (Watchlist.import_entries through WatchlistStore).
WATCHLIST_TABLES = (
    "watchlist_entries",
    "watchlist_entry_versions",
    "watchlist_names",
    "watchlist_keys",
    "watchlist_documents",
)
# Issue 13: a screening within 50 ms at the 99th percentile.
WATCHLIST_TARGETS = {"screen_p99_ms": ("<=", 50.0)}

# The bench's instant: 07:00 WIB on 28 November 2026, as the bench population's.
AS_OF = datetime(2026, 11, 28, tzinfo=UTC)
TODAY = date(2026, 11, 28)
_ACTOR = Actor.system("bench-watchlist")
_BIRTH_YEARS = (1950, 2006)

# Shares of the entries by where their names come from: the population's nationalities
# (tools.people), Russians and Ukrainians in Cyrillic, Arabs in Arabic script.
CYRILLIC_SHARE = 0.08
ARABIC_SHARE = 0.07
# Of the Chinese entries, those also listed in Han characters.
HAN_ALIAS_SHARE = 0.5
# Of the Cyrillic and Arabic entries, those with a Latin alias too.
LATIN_ALIAS_SHARE = 0.5
# Of the others, those with an alias spelt differently (a list's "also known as").
SPELLING_ALIAS_SHARE = 0.1
# Birth date: full, the year only, or not known.
BIRTH_YEAR_ONLY_SHARE = 0.15
NO_BIRTH_SHARE = 0.10
DOCUMENT_SHARE = 0.55
SECOND_DOCUMENT_SHARE = 0.1
# Entries whose validity has an end (some of which have passed).
VALID_UNTIL_SHARE = 0.6
ENDED_SHARE = 0.15
# Queries of listed persons (the rest are drawn afresh: mostly not listed).
LISTED_QUERY_SHARE = 0.5
# Persons of the batch who are listed persons under a variation.
PLANTED_SHARE = 0.05
# Of the planted persons and the listed queries, those with the entry's document.
PLANTED_DOCUMENT_SHARE = 0.3

_LISTS: tuple[tuple[wl.WatchlistKind, float, str, str], ...] = (
    (wl.WatchlistKind.ENTRY_BAN, 55, "Penangkalan: pelanggaran keimigrasian", "Ditjen Imigrasi"),
    (wl.WatchlistKind.EXIT_BAN, 15, "Pencegahan: permintaan Kejaksaan", "Kejaksaan Agung"),
    (wl.WatchlistKind.POLICE_WANTED, 10, "DPO: penipuan lintas negara", "Polres Kepulauan Anambas"),
    (wl.WatchlistKind.INTERNATIONAL_NOTICE, 15, "Interpol Red Notice", "NCB Interpol Indonesia"),
    (wl.WatchlistKind.OTHER, 5, "Permintaan instansi lain", "Kementerian Luar Negeri"),
)
# Population's nationalities and weights (as tools.bench.population draws them).
_NATIONALITIES: tuple[tuple[str, float], ...] = (
    ("CHN", 13), ("VNM", 12), ("MYS", 12), ("SGP", 11), ("AUS", 8), ("GBR", 5), ("USA", 5),
    ("DEU", 4), ("FRA", 4), ("NLD", 3), ("KOR", 4), ("JPN", 4), ("PHL", 6), ("THA", 3),
    ("IND", 5),
)  # fmt: skip

# Chinese names of tools.people in Han characters (simplified).
HAN: dict[str, str] = {
    "Wang": "王", "Li": "李", "Zhang": "张", "Liu": "刘", "Chen": "陈", "Yang": "杨",
    "Huang": "黄", "Zhao": "赵", "Wu": "吴", "Zhou": "周", "Xu": "徐", "Sun": "孙", "Lin": "林",
    "He": "何", "Guo": "郭", "Cai": "蔡", "Zheng": "郑", "Wei": "伟", "Jianguo": "建国",
    "Haitao": "海涛", "Zhiqiang": "志强", "Xiaolong": "小龙", "Jun": "军", "Yong": "勇",
    "Qiang": "强", "Lei": "磊", "Hao": "浩", "Bo": "波", "Dongsheng": "东升", "Guoqiang": "国强",
    "Mingyu": "明宇", "Haiyang": "海洋", "Jinhai": "金海", "Fuqiang": "富强",
    "Xiaoling": "晓玲", "Lina": "丽娜", "Yan": "燕", "Jing": "静", "Meiling": "美玲",
    "Xiu Ying": "秀英", "Fang": "芳",
}  # fmt: skip

# (Cyrillic, Latin spellings: the ICAO transliteration first, then others in use).
_CYRILLIC_GIVEN = (
    ("Александр", ("Aleksandr", "Alexander")), ("Дмитрий", ("Dmitrii", "Dmitry")),
    ("Сергей", ("Sergei", "Sergey")), ("Андрей", ("Andrei", "Andrey")),
    ("Алексей", ("Aleksei", "Alexey")), ("Михаил", ("Mikhail",)), ("Иван", ("Ivan",)),
    ("Николай", ("Nikolai", "Nikolay")), ("Владимир", ("Vladimir",)),
    ("Евгений", ("Evgenii", "Yevgeny")), ("Юрий", ("Iurii", "Yuri")),
    ("Олег", ("Oleg",)), ("Максим", ("Maksim", "Maxim")),
)  # fmt: skip
_CYRILLIC_PATRONYMIC = (
    ("Александрович", ("Aleksandrovich", "Alexandrovich")), ("Сергеевич", ("Sergeevich",)),
    ("Иванович", ("Ivanovich",)), ("Петрович", ("Petrovich",)),
    ("Владимирович", ("Vladimirovich",)), ("Николаевич", ("Nikolaevich",)),
)  # fmt: skip
_CYRILLIC_FAMILY = (
    ("Иванов", ("Ivanov",)), ("Смирнов", ("Smirnov",)), ("Кузнецов", ("Kuznetsov",)),
    ("Попов", ("Popov",)), ("Волков", ("Volkov",)), ("Соколов", ("Sokolov",)),
    ("Морозов", ("Morozov",)), ("Новиков", ("Novikov",)), ("Фёдоров", ("Fedorov", "Fyodorov")),
    ("Петров", ("Petrov",)), ("Шевченко", ("Shevchenko",)), ("Коваленко", ("Kovalenko",)),
    ("Бондаренко", ("Bondarenko",)), ("Ткаченко", ("Tkachenko",)), ("Лебедев", ("Lebedev",)),
    ("Козлов", ("Kozlov",)), ("Зайцев", ("Zaitsev", "Zaytsev")), ("Павлов", ("Pavlov",)),
)  # fmt: skip
_CYRILLIC_STATES = (("RUS", 0.75), ("UKR", 0.25))
_ARABIC_GIVEN = (
    ("محمد", ("Mohammed", "Muhammad", "Mohamed")), ("أحمد", ("Ahmed", "Ahmad")),
    ("علي", ("Ali",)), ("حسن", ("Hassan", "Hasan")), ("حسين", ("Hussein", "Husain")),
    ("عبدالله", ("Abdullah", "Abdallah")), ("خالد", ("Khalid", "Khaled")),
    ("عمر", ("Omar", "Umar")), ("يوسف", ("Yousef", "Yusuf")), ("إبراهيم", ("Ibrahim",)),
    ("مصطفى", ("Mustafa", "Moustafa")), ("سعيد", ("Saeed", "Said")),
    ("طارق", ("Tariq", "Tarek")), ("فيصل", ("Faisal", "Faysal")),
)  # fmt: skip
_ARABIC_FAMILY = (
    ("الحربي", ("Al-Harbi", "Alharbi")), ("القحطاني", ("Al-Qahtani", "Alqahtani")),
    ("العتيبي", ("Al-Otaibi", "Alotaibi")), ("الشمري", ("Al-Shammari", "Alshammari")),
    ("المصري", ("El-Masri", "Al-Masri")), ("حداد", ("Haddad",)), ("منصور", ("Mansour",)),
    ("صالح", ("Saleh", "Salih")), ("النجار", ("Al-Najjar", "Elnaggar")),
    ("الخطيب", ("Al-Khatib", "Alkhatib")), ("عثمان", ("Othman", "Osman")),
    ("قاسم", ("Qasim", "Kassem")),
)  # fmt: skip
_ARABIC_STATES = (("EGY", 0.3), ("SAU", 0.2), ("YEM", 0.2), ("SYR", 0.15), ("IRQ", 0.15))
# Passport numbers of states tools.people has no format for: two letters, seven digits.
_OTHER_FORMAT = "{letters}{serial:07d}"

# Screening queries and the screener's persons are a few thousand: the entries' passport
# serials are taken from above the range any bench person of a state can use.
_ENTRY_SERIAL_BASE = 1_000_000

_ENTRY_COLUMNS = {
    "watchlist_entries": (
        "id", "list", "content", "digest", "version", "external_id", "valid_from",
        "valid_until", "created_at", "updated_at", "created_by",
    ),
    "watchlist_entry_versions": (
        "entry_id", "version", "change", "content", "recorded_at", "agency_id", "officer",
    ),
    "watchlist_names": ("entry_id", "position", "comparable"),
    "watchlist_keys": ("key", "entry_id"),
    "watchlist_documents": ("number", "entry_id"),
}  # fmt: skip
_PERSON_COLUMNS = {
    "persons": (
        "id", "family_name", "given_names", "name_key", "nationality", "birth_year",
        "birth_month", "birth_day", "sex", "registered_at", "registered_by",
        "registered_officer",
    ),
    "travel_documents": ("person_id", "issuing_state", "number", "expiry_date", "recorded_at"),
}  # fmt: skip
_CHUNK = 2_000


@dataclass(frozen=True)
class ListedPerson:
    """An entry as the bench made it, and the forms of the person's name it knows.

    ``family`` and ``given`` are the name as the person's passport prints it in Latin
    script (what a registration records); ``other`` the name in another script when the
    entry lists one (Han, Cyrillic, Arabic); ``spellings`` Latin spellings of each word
    of a Cyrillic or Arabic name, other than the passport's.
    """

    entry_id: uuid.UUID
    content: wl.EntryContent
    family: str
    given: str
    other: str
    spellings: tuple[tuple[str, ...], ...] = ()

    @property
    def in_force(self) -> bool:
        return self.content.applies_on(TODAY)

    @property
    def latin(self) -> str:
        return " ".join(part for part in (self.given, self.family) if part)


def _weighted(rng: random.Random, choices: Sequence[tuple[Any, float]]) -> Any:
    return rng.choices([c for c, _ in choices], weights=[w for _, w in choices])[0]


def _pick_words(
    rng: random.Random, *books: Sequence[tuple[str, tuple[str, ...]]]
) -> tuple[list[str], list[tuple[str, ...]]]:
    words = [rng.choice(book) for book in books]
    return [w for w, _ in words], [spellings for _, spellings in words]


def _birth(rng: random.Random) -> cmd.DateParts | None:
    roll = rng.random()
    if roll < NO_BIRTH_SHARE:
        return None
    year, month, day = birth_date(rng, _BIRTH_YEARS)
    if roll < NO_BIRTH_SHARE + BIRTH_YEAR_ONLY_SHARE:
        return cmd.DateParts(year)
    return cmd.DateParts(year, month, day)


def _document(rng: random.Random, state: str, serial: int) -> str:
    if state in NAMES:
        return passport_number(state, (_ENTRY_SERIAL_BASE + serial) % passport_capacity(state))
    letters = "".join(rng.choice("ABCDEFGHJKLMNPRSTUVWXYZ") for _ in range(2))
    return _OTHER_FORMAT.format(letters=letters, serial=serial)


def _validity(rng: random.Random) -> tuple[cmd.DateParts | None, cmd.DateParts | None]:
    """Listed some days to ten years ago; with an end for ``VALID_UNTIL_SHARE``, passed
    for ``ENDED_SHARE`` of those (a ban served, kept as history)."""
    start = TODAY - timedelta(days=rng.randrange(10, 3_650))
    begin = cmd.DateParts(start.year, start.month, start.day)
    if rng.random() >= VALID_UNTIL_SHARE:
        return begin, None
    if rng.random() < ENDED_SHARE:
        end = start + timedelta(days=rng.randrange(0, (TODAY - start).days))
    else:
        end = TODAY + timedelta(days=rng.randrange(0, 3_650))
    return begin, cmd.DateParts(end.year, end.month, end.day)


def _names_of(
    rng: random.Random,
) -> tuple[str, str, str, tuple[tuple[str, ...], ...], str, list[str]]:
    """(nationality, family, given, spellings per word, other-script name, listed names)."""
    roll = rng.random()
    if roll < CYRILLIC_SHARE:
        state = _weighted(rng, _CYRILLIC_STATES)
        books = [_CYRILLIC_GIVEN, _CYRILLIC_FAMILY]
        if rng.random() < 0.5:
            books.insert(1, _CYRILLIC_PATRONYMIC)
        words, spellings = _pick_words(rng, *books)
    elif roll < CYRILLIC_SHARE + ARABIC_SHARE:
        state = _weighted(rng, _ARABIC_STATES)
        # Given name, the father's, the family's.
        words, spellings = _pick_words(rng, _ARABIC_GIVEN, _ARABIC_GIVEN, _ARABIC_FAMILY)
    else:
        state = _weighted(rng, _NATIONALITIES)
        sex = Sex.MALE if rng.random() < 0.7 else Sex.FEMALE
        family, given = person_name(rng, state, sex)
        latin = " ".join(part for part in (given, family) if part)
        names = [latin]
        other = ""
        if state == "CHN" and family in HAN and given in HAN and rng.random() < HAN_ALIAS_SHARE:
            other = HAN[family] + HAN[given]
            names.append(other)
        elif rng.random() < SPELLING_ALIAS_SHARE:
            names.append(_typo(rng, latin))
        return state, family, given, (), other, names
    other = " ".join(words)
    passport = [spelling[0] for spelling in spellings]
    names = [other]
    if rng.random() < LATIN_ALIAS_SHARE:
        names.append(" ".join(passport))
    return state, passport[-1], " ".join(passport[:-1]), tuple(spellings), other, names


def generate_entries(count: int, seed: int = 13) -> list[ListedPerson]:
    """``count`` entries as ``valid_entry`` makes them (see the module docstring)."""
    rng = random.Random(seed)
    listed: list[ListedPerson] = []
    for serial in range(count):
        state, family, given, spellings, other, names = _names_of(rng)
        kind, _w, reason, agency = _weighted(rng, [(row, row[1]) for row in _LISTS])
        documents: list[str] = []
        if rng.random() < DOCUMENT_SHARE:
            documents.append(_document(rng, state, 2 * serial))
            if rng.random() < SECOND_DOCUMENT_SHARE:
                documents.append(_document(rng, state, 2 * serial + 1))
        valid_from, valid_until = _validity(rng)
        request = wl.UpsertEntry(
            entry_id="",
            list=str(kind),
            names=tuple(names),
            birth_date=_birth(rng),
            nationality=state,
            documents=tuple(documents),
            reason=f"{reason} ({2016 + serial % 10})",
            issuing_agency=agency,
            valid_from=valid_from,
            valid_until=valid_until,
            external_id=f"BENCH-{serial:07d}",
        )
        _id, content = wl.valid_entry(request, TODAY)
        listed.append(
            ListedPerson(
                uuid.UUID(int=rng.getrandbits(128), version=4),
                content,
                family,
                given,
                other,
                spellings,
            )
        )
    return listed


# --- variations ------------------------------------------------------------------------


def _typo(rng: random.Random, name: str) -> str:
    """One letter of the name's longest word changed, dropped, doubled or swapped."""
    words = name.split(" ")
    index = max(range(len(words)), key=lambda i: (len(words[i]), -i))
    word = words[index]
    if len(word) < 4:
        return name
    at = rng.randrange(1, len(word) - 1)
    kind = rng.randrange(4)
    if kind == 0:
        vowels = "aeiou"
        letter = word[at].lower()
        swap = rng.choice([v for v in vowels if v != letter]) if letter in vowels else letter * 2
        word = word[:at] + swap + word[at + 1 :]
    elif kind == 1:
        word = word[:at] + word[at + 1 :]
    elif kind == 2:
        word = word[:at] + word[at] + word[at:]
    else:
        word = word[: at - 1] + word[at] + word[at - 1] + word[at + 1 :]
    if word == words[index]:  # a doubled letter swapped with itself: drop it instead
        word = word[:at] + word[at + 1 :]
    words[index] = word
    return " ".join(words)


def vary(rng: random.Random, person: ListedPerson) -> tuple[str, str, str]:
    """The listed person's name as someone else may write it: (how, family, given).

    Another script's entry is met under a Latin spelling in use (not always the
    passport's); a Chinese entry listed in Han characters may be asked in them (family
    '' then); otherwise a typo, the other word order, or the name exactly.
    """
    if person.spellings:
        words = [rng.choice(spellings) for spellings in person.spellings]
        family, given = words[-1], " ".join(words[:-1])
        if rng.random() < 0.3:
            return "typo", _typo(rng, family), given
        return "other spelling", family, given
    roll = rng.random()
    if person.other and roll < 0.3:
        return "other script", person.other, ""
    if roll < 0.5:
        return "typo", _typo(rng, person.family), person.given
    if roll < 0.65 and person.given:
        return "word order", person.given, person.family
    return "exact", person.family, person.given


# --- loading ---------------------------------------------------------------------------


def _connect(conninfo: str, *, autocommit: bool = False) -> psycopg.Connection[TupleRow]:
    connection = psycopg.connect(
        conninfo, autocommit=autocommit, application_name="pantau-bench-watchlist"
    )
    connection.execute("SET synchronous_commit = off")
    return connection


def _copy(table: str, columns: Sequence[str]) -> sql.Composed:
    return sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table), sql.SQL(", ").join(map(sql.Identifier, columns))
    )


def _content_json(content: wl.EntryContent) -> str:
    # As WatchlistStore writes it (storage.watchlist_store._json).
    return json.dumps(content.as_json(), ensure_ascii=False, sort_keys=True, default=str)


def _entry_rows(person: ListedPerson, at: str) -> Iterator[tuple[str, tuple[object, ...]]]:
    content = person.content
    data = _content_json(content)
    entry_id = person.entry_id
    yield (
        "watchlist_entries",
        (
            entry_id, str(content.list), data, content.digest, 1, content.external_id,
            content.valid_from, content.valid_until, at, at, _ACTOR.id,
        ),
    )  # fmt: skip
    yield (
        "watchlist_entry_versions",
        (entry_id, 1, str(wl.EntryChange.ADDED), data, at, _ACTOR.id, _ACTOR.officer),
    )
    keys: set[str] = set()
    for position, name in enumerate(content.names):
        comparable = comparable_name(name)
        if comparable:
            yield "watchlist_names", (entry_id, position, comparable)
        keys |= retrieval_keys(name)
    for key in sorted(keys):
        yield "watchlist_keys", (key, entry_id)
    for number in content.documents:
        yield "watchlist_documents", (number, entry_id)


def load_entries(
    conninfo: str, listed: Sequence[ListedPerson], progress: Callable[[int], None]
) -> float:
    """COPYs the entries with their keys and indexes set aside and rebuilt, then vacuums
    and analyses; clears the queue the insert trigger filled. The seconds it took."""
    at = AS_OF.isoformat()
    started = time.perf_counter()
    with _connect(conninfo, autocommit=True) as admin:
        schema = bulk.snapshot(admin, WATCHLIST_TABLES)
        bulk.drop_all(admin, schema)
        with _connect(conninfo) as connection, connection.cursor() as cursor:
            rows: dict[str, list[tuple[object, ...]]] = {t: [] for t in _ENTRY_COLUMNS}
            for done, person in enumerate(listed, start=1):
                for table, row in _entry_rows(person, at):
                    rows[table].append(row)
                if done % _CHUNK == 0 or done == len(listed):
                    for table, columns in _ENTRY_COLUMNS.items():
                        with cursor.copy(_copy(table, columns)) as copy:
                            for row in rows[table]:
                                copy.write_row(row)
                        rows[table].clear()
                    progress(done)
            connection.commit()
        bulk.rebuild_all(lambda: _connect(conninfo, autocommit=True), schema)
        admin.execute("DELETE FROM screening_queue")
        for table in (*WATCHLIST_TABLES, "screening_queue"):
            admin.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))
    return time.perf_counter() - started


@dataclass(frozen=True)
class BenchPerson:
    """A registered person of the batch; ``planted`` the entry they are a variation of."""

    id: uuid.UUID
    family: str
    given: str
    nationality: str
    birth: tuple[int, int, int]
    document: str
    planted: uuid.UUID | None


def _planted_birth(rng: random.Random, content: wl.EntryContent) -> tuple[int, int, int]:
    if content.birth_year and content.birth_month and content.birth_day:
        return content.birth_year, content.birth_month, content.birth_day
    year, month, day = birth_date(rng, _BIRTH_YEARS)
    return content.birth_year or year, month or 1, day or 1


def generate_persons(
    count: int, listed: Sequence[ListedPerson], seed: int = 14
) -> list[BenchPerson]:
    """``count`` persons, ``PLANTED_SHARE`` of them listed persons (in force) under a
    variation in Latin script, as a registration records them; the others drawn afresh."""
    rng = random.Random(seed)
    in_force = [p for p in listed if p.in_force]
    persons: list[BenchPerson] = []
    # A document is held once (its state and number are unique): a second person planted
    # on the same entry holds a number of their own.
    held: set[tuple[str, str]] = set()
    for serial in range(count):
        if in_force and rng.random() < PLANTED_SHARE:
            person = rng.choice(in_force)
            _how, family, given = vary(rng, person)
            if not given and not family.isascii():  # Han characters: the passport's pinyin
                family, given = person.family, person.given
            content = person.content
            state = content.nationality
            document = (
                content.documents[0]
                if content.documents and rng.random() < PLANTED_DOCUMENT_SHARE
                else ""
            )
            birth, planted = _planted_birth(rng, content), person.entry_id
        else:
            state = _weighted(rng, _NATIONALITIES)
            sex = Sex.MALE if rng.random() < 0.6 else Sex.FEMALE
            family, given = person_name(rng, state, sex)
            year, month, day = birth_date(rng, _BIRTH_YEARS)
            birth, document, planted = (year, month, day), "", None
        if not document or (state, document) in held:
            # Q is no letter of the entries' numbers of other states: never one of theirs.
            document = (
                passport_number(state, serial)
                if state in NAMES
                else _OTHER_FORMAT.format(letters="QP", serial=serial)
            )
        held.add((state, document))
        persons.append(
            BenchPerson(
                uuid.UUID(int=rng.getrandbits(128), version=4),
                family,
                given,
                state,
                birth,
                document,
                planted,
            )
        )
    return persons


def load_persons(conninfo: str, persons: Sequence[BenchPerson]) -> None:
    """COPYs the persons and their documents; the insert triggers queue each once."""
    at = AS_OF.isoformat()
    with _connect(conninfo) as connection, connection.cursor() as cursor:
        with cursor.copy(_copy("persons", _PERSON_COLUMNS["persons"])) as copy:
            for p in persons:
                copy.write_row(
                    (
                        p.id, p.family, p.given, search_key(p.family, p.given), p.nationality,
                        *p.birth, "M", at, "kanim-tarempa", "bench",
                    )
                )  # fmt: skip
        with cursor.copy(_copy("travel_documents", _PERSON_COLUMNS["travel_documents"])) as copy:
            for p in persons:
                copy.write_row((p.id, p.nationality, p.document, date(2030, 1, 1), at))
        connection.commit()
    with _connect(conninfo, autocommit=True) as admin:
        for table in ("persons", "travel_documents", "screening_queue"):
            admin.execute(sql.SQL("VACUUM (ANALYZE) {}").format(sql.Identifier(table)))


# --- queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """A screening as a caller sends it; ``listed`` the entry it is a variation of."""

    request: wl.Screen
    how: str
    listed: uuid.UUID | None


def generate_queries(count: int, listed: Sequence[ListedPerson], seed: int = 15) -> list[Query]:
    """Half listed persons (in force) under a variation, with their birth date (mostly),
    nationality (mostly) and document (``PLANTED_DOCUMENT_SHARE``); half drawn afresh."""
    rng = random.Random(seed)
    in_force = [p for p in listed if p.in_force]
    queries: list[Query] = []
    for _ in range(count):
        if in_force and rng.random() < LISTED_QUERY_SHARE:
            person = rng.choice(in_force)
            how, family, given = vary(rng, person)
            content = person.content
            birth = (
                cmd.DateParts(
                    content.birth_year or 0, content.birth_month or 0, content.birth_day or 0
                )
                if content.birth_year and rng.random() < 0.8
                else None
            )
            nationality = content.nationality if rng.random() < 0.8 else ""
            document = (
                content.documents[0]
                if content.documents and rng.random() < PLANTED_DOCUMENT_SHARE
                else ""
            )
            entry_id: uuid.UUID | None = person.entry_id
        else:
            how = "not listed"
            state = _weighted(rng, _NATIONALITIES)
            family, given = person_name(rng, state, Sex.MALE if rng.random() < 0.6 else Sex.FEMALE)
            year, month, day = birth_date(rng, _BIRTH_YEARS)
            birth = cmd.DateParts(year, month, day)
            nationality, document, entry_id = state, "", None
        name = " ".join(part for part in (given, family) if part)
        request = wl.Screen(
            name=name, birth_date=birth, nationality=nationality, document_number=document
        )
        queries.append(Query(request, how, entry_id))
    return queries


def _percentile(values: Sequence[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass(frozen=True)
class ScreenMeasurement:
    seconds: list[float]
    retrieval_seconds: list[float]
    candidates: list[int]
    # Per variation, the listed queries whose entry came back as a match, and all of them.
    found: dict[str, list[int]]
    slowest: dict[str, Any]  # the slowest retrieval's parameters

    def p(self, share: float) -> float:
        """The screenings' seconds at a percentile (``share`` 0.99: the 99th)."""
        return _percentile(self.seconds, share)

    def retrieval_p(self, share: float) -> float:
        return _percentile(self.retrieval_seconds, share)

    @property
    def listed(self) -> int:
        return sum(total for _found, total in self.found.values())

    @property
    def recall(self) -> float | None:
        found = sum(found for found, _total in self.found.values())
        return round(found / self.listed, 4) if self.listed else None


def _retrieval_parameters(party: wl.ScreenedParty) -> dict[str, Any]:
    keys, comparables = party_keys(party.names)
    return {"keys": keys, "names": comparables, "documents": list(party.documents), "today": TODAY}


def measure_screening(
    watchlist: Watchlist, reader: ReadConnection, queries: Sequence[Query]
) -> ScreenMeasurement:
    """Every query's candidate statement once untimed (the database's pages and the
    prepared statements warm), a tenth of the queries through ``Watchlist.screen``
    untimed (the name cache), then every query through ``Watchlist.screen`` timed, then
    every candidate statement alone timed."""
    parameters = [_retrieval_parameters(wl.valid_screen(q.request, TODAY)) for q in queries]
    for params in parameters:
        reader.candidates(params)
    for query in queries[: max(1, len(queries) // 10)]:
        watchlist.screen(query.request)
    seconds: list[float] = []
    found: dict[str, list[int]] = {}
    for query in queries:
        started = time.perf_counter()
        matches = watchlist.screen(query.request)
        seconds.append(time.perf_counter() - started)
        if query.listed is not None:
            tally = found.setdefault(query.how, [0, 0])
            tally[0] += any(m.match and m.entry.id == query.listed for m in matches)
            tally[1] += 1
    retrieval: list[float] = []
    candidates: list[int] = []
    slowest: dict[str, Any] = {}
    for params in parameters:
        started = time.perf_counter()
        rows = reader.candidates(params)
        elapsed = time.perf_counter() - started
        if not retrieval or elapsed > max(retrieval):
            slowest = params
        retrieval.append(elapsed)
        candidates.append(rows)
    return ScreenMeasurement(seconds, retrieval, candidates, found, slowest)


class ReadConnection:
    """One read-only connection as the service's read engine makes them, for the bare
    candidate statement and its plan."""

    def __init__(self, connection: psycopg.Connection[TupleRow]) -> None:
        self.connection = connection

    def candidates(self, params: dict[str, Any]) -> int:
        return len(self.connection.execute(_CANDIDATE_ENTRIES, params, prepare=True).fetchall())

    def explain(self, params: dict[str, Any]) -> str:
        rows = self.connection.execute(
            sql.SQL("EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) ") + sql.SQL(_CANDIDATE_ENTRIES),
            params,
        ).fetchall()
        return "\n".join(str(row[0]) for row in rows)


# --- name pairs ------------------------------------------------------------------------


def name_pairs_csv(count: int, listed: Sequence[ListedPerson], seed: int = 16) -> str:
    """``count`` pairs as ``pantau watchlist compare`` reads them: half a listed name
    against a variation of it, half against another listed name."""
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("name1", "name2"))
    for _ in range(count):
        person = rng.choice(listed)
        first = rng.choice(person.content.names)
        if rng.random() < 0.5:
            _how, family, given = vary(rng, person)
            second = " ".join(part for part in (given, family) if part)
        else:
            second = rng.choice(rng.choice(listed).content.names)
        writer.writerow((first, second))
    return out.getvalue()


def measure_compare(pairs_csv: str, threshold: float) -> tuple[int, float]:
    """The pairs scored by ``compare_csv`` from memory into memory: (rows, seconds)."""
    sink = io.StringIO()
    started = time.perf_counter()
    summary = compare_csv(io.StringIO(pairs_csv), sink, threshold=threshold)
    return summary.rows, time.perf_counter() - started


# --- the run ---------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def _fixed_clock() -> datetime:
    return AS_OF


@dataclass(frozen=True)
class BatchMeasurement:
    persons: int  # screened by the drain
    seconds: float
    read_seconds: float  # the bare read of the same persons
    planted: int
    planted_found: int
    persons_matched: int
    matches_stored: int
    left_queued: int


def _measure_screen(
    console: Console,
    settings: Settings,
    listed: Sequence[ListedPerson],
    queries: int,
    plans_file: Path,
) -> ScreenMeasurement:
    url = settings.database_url
    # As app.build_application: the use case's reads on a read-only engine whose sessions
    # start with the screening's trigram threshold (one more connection for the bare
    # statement).
    engine = make_engine(url, pool_size=1, application_name="pantau-bench-watchlist")
    read_engine = make_engine(
        url,
        pool_size=2,
        application_name="pantau-bench-watchlist",
        read_only=True,
        search_similarity_threshold=settings.watchlist_similarity_threshold,
    )
    try:
        uow = UnitOfWork(
            engine, read_engine, boundary_tolerance_meters=settings.boundary_tolerance_meters
        )
        watchlist = Watchlist(uow, watchlist_options(settings), _fixed_clock)
        with read_engine.connect() as sa_connection:
            raw = sa_connection.connection.driver_connection
            if not isinstance(raw, psycopg.Connection):
                raise TypeError("read connections must be psycopg connections")
            reader = ReadConnection(raw)
            screening = measure_screening(watchlist, reader, generate_queries(queries, listed))
            plan = reader.explain(screening.slowest)
    finally:
        engine.dispose()
        read_engine.dispose()
    plans_file.parent.mkdir(parents=True, exist_ok=True)
    plans_file.write_text(
        f"# pantau bench-watchlist: {len(listed):,} entries; the slowest of {queries:,}"
        f" candidate statements, run again\n# parameters: {screening.slowest}\n\n{plan}\n",
        encoding="utf-8",
    )
    console.print(
        f"Watchlist.screen x {queries:,}: p50 {_ms(screening.p(0.5))} ms,"
        f" p99 {_ms(screening.p(0.99))} ms; candidate statement alone:"
        f" p50 {_ms(screening.retrieval_p(0.5))} ms, p99 {_ms(screening.retrieval_p(0.99))} ms;"
        f" candidates per screening: mean {statistics.fmean(screening.candidates):.0f},"
        f" max {max(screening.candidates)}; listed persons found {screening.recall}: "
        + ", ".join(f"{how} {n}/{total}" for how, (n, total) in sorted(screening.found.items()))
        + f"; the slowest statement's plan: {plans_file}"
    )
    return screening


def _measure_batch(
    console: Console,
    database: BenchDatabase,
    listed: Sequence[ListedPerson],
    persons: int,
) -> BatchMeasurement:
    settings = database.settings
    people = generate_persons(persons, listed)
    load_persons(database.conninfo, people)
    # The screener's unit of work as the scheduler's and `pantau watchlist screen`'s: its
    # reads on the writing engine, whose sessions start with the screening's threshold.
    engine = make_engine(
        settings.database_url,
        pool_size=2,
        application_name="pantau-bench-screener",
        search_similarity_threshold=settings.watchlist_similarity_threshold,
    )
    try:
        screener = Screener(
            UnitOfWork(engine, boundary_tolerance_meters=settings.boundary_tolerance_meters),
            screening_options(settings),
            _fixed_clock,
            actor=_ACTOR,
        )
        started = time.perf_counter()
        done = screener.drain()
        seconds = time.perf_counter() - started
        read_seconds = _bare_person_reads(engine, [p.id for p in people])
    finally:
        engine.dispose()
    planted = [p for p in people if p.planted is not None]
    with _connect(database.conninfo, autocommit=True) as admin:
        found = admin.execute(
            "SELECT count(*) FROM watchlist_matches m"
            " JOIN unnest(%(persons)s::uuid[], %(entries)s::uuid[]) AS p(person_id, entry_id)"
            " USING (person_id, entry_id)",
            {"persons": [p.id for p in planted], "entries": [p.planted for p in planted]},
        ).fetchone()
        stored = admin.execute(
            "SELECT count(DISTINCT person_id), count(*) FROM watchlist_matches"
        ).fetchone()
        queued = admin.execute("SELECT count(*) FROM screening_queue").fetchone()
    batch = BatchMeasurement(
        persons=done.persons,
        seconds=seconds,
        read_seconds=read_seconds,
        planted=len(planted),
        planted_found=int(found[0]) if found else 0,
        persons_matched=int(stored[0]) if stored else 0,
        matches_stored=int(stored[1]) if stored else 0,
        left_queued=int(queued[0]) if queued else -1,
    )
    console.print(
        f"Screener.drain: {batch.persons:,} persons in {seconds:.2f} s"
        f" ({batch.persons / seconds:,.0f}/s); bare read of the same persons"
        f" {read_seconds:.3f} s; planted persons matched to their entry"
        f" {batch.planted_found}/{batch.planted}; {batch.persons_matched:,} persons with"
        f" {batch.matches_stored:,} matches; left in the queue: {batch.left_queued}"
    )
    return batch


def run_watchlist_bench(
    settings: Settings,
    *,
    entries: int = 100_000,
    queries: int = 2_000,
    persons: int = 20_000,
    pairs: int = 50_000,
    database_name: str = WATCHLIST_BENCH_DATABASE,
    plans_file: Path = WATCHLIST_PLANS_FILE,
) -> dict[str, Any]:
    """Runs the whole watchlist benchmark (see the module docstring); returns the printed
    figures."""
    console = Console(stderr=True, soft_wrap=True)
    console.print(
        f"[bold]pantau bench-watchlist[/]: {entries:,} entries, {queries:,} screenings,"
        f" {persons:,} persons, {pairs:,} name pairs"
    )
    database: BenchDatabase = fresh_database(settings, database_name)
    started = time.perf_counter()
    listed = generate_entries(entries)
    in_force = sum(p.in_force for p in listed)
    console.print(
        f"{entries:,} entries drawn and validated in {time.perf_counter() - started:.1f} s"
        f" ({in_force:,} in force on {TODAY})"
    )
    step = max(1, entries // 5)
    load_seconds = load_entries(
        database.conninfo,
        listed,
        lambda done: console.print(f"  COPY {done:,} entries") if done % step == 0 else None,
    )
    with _connect(database.conninfo, autocommit=True) as admin:
        row = admin.execute("SELECT count(*) FROM watchlist_keys").fetchone()
    key_rows = int(row[0]) if row else 0
    console.print(
        f"loaded in {load_seconds:.1f} s (COPY, keys, indexes, VACUUM ANALYZE);"
        f" {key_rows:,} retrieval keys"
    )
    screening = _measure_screen(console, database.settings, listed, queries, plans_file)
    batch = _measure_batch(console, database, listed, persons)
    compared, compare_seconds = measure_compare(
        name_pairs_csv(pairs, listed), database.settings.watchlist_threshold
    )
    console.print(f"compare_csv: {compared:,} pairs in {compare_seconds:.2f} s")

    result: dict[str, Any] = {
        "entries": entries,
        "screen_p99_ms": _ms(screening.p(0.99)),
        "batch_screen_per_second": round(batch.persons / batch.seconds, 1),
        "compare_pairs_per_second": round(compared / compare_seconds, 1),
        "entries_in_force": in_force,
        "retrieval_keys": key_rows,
        "load_seconds": round(load_seconds, 1),
        "queries": queries,
        "screen_p50_ms": _ms(screening.p(0.5)),
        "retrieval_p50_ms": _ms(screening.retrieval_p(0.5)),
        "retrieval_p99_ms": _ms(screening.retrieval_p(0.99)),
        "candidates_mean": round(statistics.fmean(screening.candidates), 1),
        "candidates_max": max(screening.candidates),
        "listed_queries": screening.listed,
        "screen_recall": screening.recall,
        "screen_recall_by_variation": {
            how: round(n / total, 4) for how, (n, total) in sorted(screening.found.items())
        },
        "persons": persons,
        "persons_screened": batch.persons,
        "batch_seconds": round(batch.seconds, 3),
        "persons_read_per_second": round(persons / batch.read_seconds, 1),
        "planted_persons": batch.planted,
        "planted_recall": round(batch.planted_found / batch.planted, 4) if batch.planted else None,
        "persons_matched": batch.persons_matched,
        "matches_stored": batch.matches_stored,
        "pairs": compared,
    }
    for key, (op, bound) in WATCHLIST_TARGETS.items():
        verdict = "[green]met[/]" if target_met(op, bound, result[key]) else "[red]missed[/]"
        console.print(f"target {key} {op} {bound:g}: {result[key]} {verdict}")
    print(json.dumps(result), flush=True)
    return result


def _bare_person_reads(engine: Engine, ids: Sequence[uuid.UUID], batch: int = 200) -> float:
    """Seconds to read the persons as the screener reads them, in its batches, and no more."""
    uow = UnitOfWork(engine, boundary_tolerance_meters=0.0)
    with uow.read() as reader:
        watchlist_reader: WatchlistReader = reader.watchlist
        watchlist_reader.persons(ids[:batch])
        started = time.perf_counter()
        for start in range(0, len(ids), batch):
            watchlist_reader.persons(ids[start : start + batch])
        return time.perf_counter() - started
