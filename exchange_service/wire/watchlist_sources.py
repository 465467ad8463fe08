"""Watchlist entries read from files: the office's CSV and FollowTheMoney JSON lines.

Each record of a file becomes an ``UpsertEntry`` with ``entry_id`` '' (the
service adds or, by ``external_id``, updates the entry and validates it,
naming fields as ``entry.names[0]``), or a ``Rejected`` record (its line and
why it cannot become an entry at all), or a ``Skipped`` one (a record that is
not an entry: a company, a passport). What the parsers check is syntax: a
date that is not written as a date is rejected here, a date written as one
that does not exist (``1970-13-45``) goes on to the service, which names it.
``Note`` records say what was adapted on the way (a code with no ISO
alpha-3 equivalent left empty, aliases beyond the entry's limit dropped).

CSV (``read_csv``): UTF-8, with or without a byte order mark, a header row
naming the columns, matched without regard to case or surrounding spaces:

- ``name`` (required): the main name, in any script;
- ``aliases``: further names, separated by ``;``;
- ``list``: ENTRY_BAN, EXIT_BAN, POLICE_WANTED, INTERNATIONAL_NOTICE or
  OTHER; when absent or empty, the command's ``--list``;
- ``birth_date``: ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``;
- ``nationality``: ISO 3166-1 alpha-3 (or ICAO 9303) code, or alpha-2,
  which becomes the alpha-3 code;
- ``document_numbers``: separated by ``;``;
- ``reason``, ``issuing_agency`` (when empty, the command's
  ``--issuing-agency``);
- ``valid_from``, ``valid_until``: ``YYYY-MM-DD``;
- ``id``: the row's stable id in the office's own records, its
  ``external_id``, so that importing the file again updates the entries
  rather than adding them again. A row without one gets
  ``csv-sha256:<hash of its values>``: importing the same row again then
  updates (does not duplicate) its entry, while an edited row without an id
  becomes a new entry beside the old one (give ids to edit entries by file).

Other columns are ignored, with a note naming them; a file without a
``name`` column, or with a column named twice, is refused whole
(``SourceError``). A row with more or fewer values than the header, or
whose bytes are not UTF-8, is rejected.

FollowTheMoney (``read_ftm``): the flat entity format OpenSanctions
publishes (``entities.ftm.json``), one JSON object per line with ``id``,
``schema``, ``properties`` (each a list of strings) and ``datasets``.

- ``Person``: an entry. Names: ``name``, ``alias`` and ``previousName``
  (``firstName`` ``middleName`` ``lastName`` when there is no ``name``);
  ``weakAlias`` is left out: OpenSanctions marks so the short or common
  names ("Abu Ali") that match too many people, and an entry's names carry
  no weight of their own. At most the entry's limit of names is kept, in
  that order. ``birthDate``: ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``; several
  that disagree keep what they agree on (``1962-08-13`` and ``1962-08-20``:
  ``1962-08``), none when the years differ. Nationality: the first of
  ``nationality``, ``citizenship``, ``country`` that maps to an alpha-3
  code; the others are noted. Documents: ``passportNumber`` and
  ``idNumber``, with the ``number`` of the ``Passport`` and
  ``Identification`` entities whose ``holder`` is the person, wherever
  they stand in the file; a number that is no document number (1 to 20
  letters and digits once spaces, hyphens, dots and slashes are dropped) is
  left out with a note. Reason: the datasets, ``program``, ``topics`` and
  ``notes``, cut to the entry's limit. Issuing agency: the command's
  ``--issuing-agency``, else ``OpenSanctions: <datasets>``. ``external_id``:
  the entity's ``id``. A date, code or number the source writes badly is
  dropped with a note, not a rejection: the person is still listed.
- List: the command's ``--list``; with ``list_from_topics``, a person whose
  topics include ``wanted``, ``crime`` or ``crime.*`` goes on
  INTERNATIONAL_NOTICE (another state's request, as OpenSanctions' wanted
  lists are). POLICE_WANTED, the Indonesian police's own DPO, is never
  inferred: the police write it themselves.
- ``Passport``, ``Identification``: skipped, their numbers merged into the
  holder's documents. Every other schema (companies, vessels, sanctions,
  relations) is skipped and counted by schema.
- Malformed JSON, an object without ``id`` or ``schema``, a person with no
  name: rejected.

Holders may come before or after their documents, so a file is read twice
(it must be seekable): ``scan_ftm_documents`` collects the document numbers
by holder first (only lines mentioning ``Passport`` or ``Identification``
are parsed; memory is the documents, a few bytes per holder, not the
persons), then ``read_ftm`` streams the persons with them, one line at a time.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import BinaryIO

import pycountry

from exchange_service.domain import commands as cmd
from exchange_service.domain.codes import is_known_state_code, normalize_state_code
from exchange_service.domain.watchlist import WATCHLIST_LIMITS, UpsertEntry, WatchlistKind
from watchlist.documents import VALID_DOCUMENT_NUMBER, normalize_document_number

CSV_COLUMNS = (
    "id",
    "list",
    "name",
    "aliases",
    "birth_date",
    "nationality",
    "document_numbers",
    "reason",
    "issuing_agency",
    "valid_from",
    "valid_until",
)
# Separates several aliases or document numbers in one CSV cell.
CSV_LIST_SEPARATOR = ";"
PERSON = "Person"
DOCUMENT_SCHEMATA = frozenset({"Passport", "Identification"})
# Topics (OpenSanctions' vocabulary) that put a person on INTERNATIONAL_NOTICE.
NOTICE_TOPICS = frozenset({"wanted", "crime"})

_PARTIAL_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_FULL_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
_BOM = b"\xef\xbb\xbf"
# Two-letter codes FollowTheMoney uses that ISO 3166-1 has not assigned but ICAO 9303 has.
_FTM_SPECIAL_CODES = {"xk": "RKS"}


class SourceError(Exception):
    """The file as a whole cannot be read as the format (no header, no ``name`` column ...)."""


@dataclass(frozen=True)
class SourceDefaults:
    """What the command gives for what a record does not say."""

    list: str = ""
    issuing_agency: str = ""
    # FollowTheMoney only: a person's topics choose INTERNATIONAL_NOTICE over ``list``.
    list_from_topics: bool = False


@dataclass(frozen=True)
class Entry:
    """A record that becomes an entry; ``notes`` say what was adapted on the way."""

    line: int
    command: UpsertEntry
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejected:
    """A record that cannot become an entry; ``reason`` groups alike rejections."""

    line: int
    reason: str
    detail: str = ""


@dataclass(frozen=True)
class Skipped:
    """A record that is not an entry (a company, a passport merged into its holder)."""

    line: int
    reason: str


@dataclass(frozen=True)
class Note:
    """Something about the file rather than one record (columns ignored, holders missing)."""

    line: int
    text: str


SourceRecord = Entry | Rejected | Skipped | Note


@dataclass
class _Adapted:
    """The notes one record collects while its values are adapted."""

    notes: list[str] = field(default_factory=list)


# --- Values ------------------------------------------------------------------------------


@functools.cache
def alpha3(raw: str) -> str | None:
    """The ISO 3166-1 alpha-3 (or ICAO 9303) code of an alpha-2 or alpha-3 code, or None."""
    code = raw.strip()
    if len(code) == 2:
        special = _FTM_SPECIAL_CODES.get(code.lower())
        if special is not None:
            return special
        country = pycountry.countries.get(alpha_2=code.upper())
        return None if country is None else str(country.alpha_3)
    normalized = normalize_state_code(code)
    return normalized if is_known_state_code(normalized) else None


def partial_date(raw: str) -> cmd.DateParts | None:
    """``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY`` as parts (unknown parts 0); None if not so written.

    Only the writing is checked: ``1970-13-45`` gives its parts, which the
    service's validation refuses by name.
    """
    match = _PARTIAL_DATE.match(raw.strip())
    if match is None:
        return None
    year, month, day = (int(part) if part else 0 for part in match.groups())
    return cmd.DateParts(year, month, day)


def full_date(raw: str) -> cmd.DateParts | None:
    """``YYYY-MM-DD`` as parts; None if not so written."""
    match = _FULL_DATE.match(raw.strip())
    if match is None:
        return None
    year, month, day = (int(part) for part in match.groups())
    return cmd.DateParts(year, month, day)


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(CSV_LIST_SEPARATOR) if part.strip()]


def _unique(values: Iterable[str]) -> list[str]:
    seen: dict[str, None] = {}
    for value in values:
        text = " ".join(value.split())
        if text:
            seen.setdefault(text, None)
    return list(seen)


# --- CSV ---------------------------------------------------------------------------------


class _DecodedLines:
    """The file's lines as text for ``csv``, remembering which were not UTF-8."""

    def __init__(self, source: BinaryIO) -> None:
        self._source = source
        self.line = 0
        self.undecodable: set[int] = set()

    def __iter__(self) -> Iterator[str]:
        for raw in self._source:
            self.line += 1
            data = raw.removeprefix(_BOM) if self.line == 1 else raw
            try:
                yield data.decode("utf-8")
            except UnicodeDecodeError:
                self.undecodable.add(self.line)
                yield data.decode("utf-8", errors="replace")


def _csv_header(row: list[str]) -> dict[str, int]:
    columns: dict[str, int] = {}
    for index, name in enumerate(row):
        key = name.strip().lower()
        if key in columns:
            raise SourceError(f"the header names the column {key!r} twice")
        columns[key] = index
    if "name" not in columns:
        raise SourceError(
            "the header has no 'name' column (columns: " + ", ".join(CSV_COLUMNS) + ")"
        )
    return columns


def read_csv(source: BinaryIO, defaults: SourceDefaults) -> Iterator[SourceRecord]:
    """The rows of a CSV file as entries, rejections and notes (see the module's columns).

    Raises ``SourceError`` before any row when the header is missing or lacks ``name``.
    """
    lines = _DecodedLines(source)
    reader = csv.reader(lines, strict=False)
    header_row = next(reader, None)
    if header_row is None:
        raise SourceError("the file is empty: a header row is required")
    if lines.undecodable:
        raise SourceError("the header is not UTF-8")
    columns = _csv_header(header_row)
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown:
        yield Note(1, "columns ignored (unknown): " + ", ".join(sorted(unknown)))
    last_line = reader.line_num
    for row in reader:
        first_line, last_line = last_line + 1, reader.line_num
        if not row or not any(cell.strip() for cell in row):
            continue
        if any(first_line <= line <= last_line for line in lines.undecodable):
            yield Rejected(first_line, "the row is not UTF-8")
        elif len(row) != len(header_row):
            yield Rejected(
                first_line,
                "the row's values do not match the header's columns",
                f"{len(row)} values, {len(header_row)} columns",
            )
        else:
            yield _csv_entry(
                first_line, {name: row[i].strip() for name, i in columns.items()}, defaults
            )


def _csv_entry(line: int, cells: Mapping[str, str], defaults: SourceDefaults) -> SourceRecord:
    dates: dict[str, cmd.DateParts | None] = {}
    for column, parse, written in (
        ("birth_date", partial_date, "YYYY-MM-DD, YYYY-MM or YYYY"),
        ("valid_from", full_date, "YYYY-MM-DD"),
        ("valid_until", full_date, "YYYY-MM-DD"),
    ):
        raw = cells.get(column, "")
        dates[column] = parse(raw) if raw else None
        if raw and dates[column] is None:
            return Rejected(line, f"{column} is not written {written}", repr(raw))
    nationality = cells.get("nationality", "")
    if len(nationality) == 2:
        # An alpha-2 code without an alpha-3 one stays as written: the service names it.
        nationality = alpha3(nationality) or nationality
    names = [cells["name"], *_split(cells.get("aliases", ""))]
    external_id = cells.get("id", "")
    command = UpsertEntry(
        entry_id="",
        list=(cells.get("list") or defaults.list).upper(),
        names=tuple(names),
        birth_date=dates["birth_date"],
        nationality=nationality,
        documents=tuple(_split(cells.get("document_numbers", ""))),
        reason=cells.get("reason", ""),
        issuing_agency=cells.get("issuing_agency") or defaults.issuing_agency,
        valid_from=dates["valid_from"],
        valid_until=dates["valid_until"],
        external_id=external_id,
    )
    if not external_id:
        command = _with_content_id(command)
    return Entry(line, command)


def _with_content_id(command: UpsertEntry) -> UpsertEntry:
    def parts(value: cmd.DateParts | None) -> list[int] | None:
        return None if value is None else [value.year, value.month, value.day]

    canonical = json.dumps(
        [
            command.list,
            list(command.names),
            parts(command.birth_date),
            command.nationality,
            list(command.documents),
            command.reason,
            command.issuing_agency,
            parts(command.valid_from),
            parts(command.valid_until),
        ],
        ensure_ascii=False,
    )
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    return dataclasses.replace(command, external_id=f"csv-sha256:{digest}")


# --- FollowTheMoney ----------------------------------------------------------------------


def _json_line(raw: bytes) -> tuple[dict[str, object] | None, str]:
    """The line's object, or None with why it is not one."""
    try:
        data = json.loads(raw)
    except UnicodeDecodeError:
        return None, "not UTF-8"
    except json.JSONDecodeError as error:
        return None, f"{error.msg} at column {error.colno}"
    if not isinstance(data, dict):
        return None, f"a JSON {type(data).__name__}, not an object"
    return data, ""


def _properties(entity: Mapping[str, object]) -> Mapping[str, list[str]]:
    raw = entity.get("properties")
    if not isinstance(raw, dict):
        return {}
    return {
        str(key): [str(v) for v in values if isinstance(v, str | int)]
        for key, values in raw.items()
        if isinstance(values, list)
    }


def scan_ftm_documents(
    source: BinaryIO, on_progress: Callable[[int], None] | None = None
) -> dict[str, list[str]]:
    """The document numbers of the file's Passport and Identification entities, by holder id.

    Only lines that mention one of those schemata are parsed, so the scan
    reads the file at close to the speed of the disk. ``on_progress`` is
    given the bytes read so far now and then.
    """
    documents: dict[str, list[str]] = {}
    done = 0
    for count, raw in enumerate(source):
        done += len(raw)
        if on_progress is not None and count % 10_000 == 0:
            on_progress(done)
        if b"Passport" not in raw and b"Identification" not in raw:
            continue
        entity, _ = _json_line(raw)
        if entity is None or entity.get("schema") not in DOCUMENT_SCHEMATA:
            continue
        properties = _properties(entity)
        for holder in properties.get("holder", []):
            documents.setdefault(holder, []).extend(properties.get("number", []))
    if on_progress is not None:
        on_progress(done)
    return documents


def read_ftm(
    source: BinaryIO, defaults: SourceDefaults, documents: Mapping[str, Sequence[str]]
) -> Iterator[SourceRecord]:
    """The entities of a FollowTheMoney JSON lines file as entries, skips and rejections.

    ``documents`` are the numbers by holder that ``scan_ftm_documents`` found
    in the same file. Holders of documents that are not persons of the file
    are noted at the end.
    """
    persons: set[str] = set()
    for line, raw in enumerate(source, start=1):
        if not raw.strip():
            continue
        entity, why = _json_line(raw)
        if entity is None:
            yield Rejected(line, "the line is not a JSON object", why)
            continue
        entity_id, schema = entity.get("id"), entity.get("schema")
        if not isinstance(entity_id, str) or not entity_id or not isinstance(schema, str):
            yield Rejected(line, "the entity has no id or no schema")
        elif schema == PERSON:
            persons.add(entity_id)
            yield _ftm_entry(line, entity_id, entity, defaults, documents.get(entity_id, ()))
        elif schema in DOCUMENT_SCHEMATA:
            yield Skipped(line, f"{schema} (its number goes to its holder)")
        else:
            yield Skipped(line, f"{schema} (not a person)")
    orphans = sorted(set(documents) - persons)
    if orphans:
        shown = ", ".join(orphans[:5]) + (" ..." if len(orphans) > 5 else "")
        yield Note(0, f"documents of {len(orphans)} holders not persons of the file: {shown}")


def _ftm_names(properties: Mapping[str, list[str]], adapted: _Adapted) -> list[str]:
    limits = WATCHLIST_LIMITS
    given = properties.get("name", [])
    if not given:
        parts = [
            " ".join(properties.get(key, [])) for key in ("firstName", "middleName", "lastName")
        ]
        given = [" ".join(part for part in parts if part)]
    candidates = _unique(
        [*given, *properties.get("alias", []), *properties.get("previousName", [])]
    )
    names = [name for name in candidates if len(name) <= limits.name_length]
    if len(names) < len(candidates):
        adapted.notes.append(f"names longer than {limits.name_length} characters left out")
    if len(names) > limits.names_per_entry:
        adapted.notes.append(f"names beyond the first {limits.names_per_entry} left out")
    return names[: limits.names_per_entry]


def _ftm_birth_date(raw: list[str], adapted: _Adapted) -> cmd.DateParts | None:
    parsed = [partial_date(value[:10]) for value in raw]
    dates = [value for value in parsed if value is not None]
    if len(dates) < len(parsed):
        adapted.notes.append("a birthDate not written YYYY-MM-DD, YYYY-MM or YYYY left out")
    if not dates:
        return None
    year, month, day = dates[0].year, dates[0].month, dates[0].day
    for other in dates[1:]:
        if other.year != year:
            adapted.notes.append("birthDates of different years: birth date left empty")
            return None
        if other.month != month:
            month, day = 0, 0
        elif other.day != day:
            day = 0
    return cmd.DateParts(year, month, day)


def _ftm_nationality(properties: Mapping[str, list[str]], adapted: _Adapted) -> str:
    codes = _unique(
        code.lower()
        for key in ("nationality", "citizenship", "country")
        for code in properties.get(key, [])
    )
    mapped = [(code, alpha3(code)) for code in codes]
    for code, alpha in mapped:
        if alpha is None:
            adapted.notes.append(f"country {code!r} has no ISO 3166-1 alpha-3 code: left out")
    known = _unique(alpha for _, alpha in mapped if alpha)
    if len(known) > 1:
        adapted.notes.append("several nationalities: the first kept")
    return known[0] if known else ""


def _ftm_documents(
    properties: Mapping[str, list[str]], held: Sequence[str], adapted: _Adapted
) -> list[str]:
    limits = WATCHLIST_LIMITS
    numbers: list[str] = []
    for raw in [*properties.get("passportNumber", []), *properties.get("idNumber", []), *held]:
        number = normalize_document_number(raw)
        if not VALID_DOCUMENT_NUMBER.match(number):
            adapted.notes.append(
                "a document number that is not 1 to 20 letters and digits left out"
            )
        elif number not in numbers:
            numbers.append(number)
    if len(numbers) > limits.documents_per_entry:
        adapted.notes.append(f"documents beyond the first {limits.documents_per_entry} left out")
    return numbers[: limits.documents_per_entry]


def _ftm_reason(entity_id: str, datasets: list[str], properties: Mapping[str, list[str]]) -> str:
    parts = []
    if datasets:
        parts.append("listed in " + ", ".join(datasets))
    for key, label in (("program", "programme"), ("topics", "topics"), ("notes", "notes")):
        values = _unique(properties.get(key, []))
        if values:
            parts.append(f"{label}: " + "; ".join(values))
    reason = "; ".join(parts) or f"FollowTheMoney entity {entity_id}"
    limit = WATCHLIST_LIMITS.reason_length
    return reason if len(reason) <= limit else reason[: limit - 1] + "…"


def _ftm_entry(
    line: int,
    entity_id: str,
    entity: Mapping[str, object],
    defaults: SourceDefaults,
    held: Sequence[str],
) -> SourceRecord:
    properties = _properties(entity)
    adapted = _Adapted()
    names = _ftm_names(properties, adapted)
    if not names:
        return Rejected(line, "the person has no name")
    raw_datasets = entity.get("datasets")
    datasets = (
        [str(d) for d in raw_datasets if isinstance(d, str)]
        if isinstance(raw_datasets, list)
        else []
    )
    topics = properties.get("topics", [])
    on_notice = any(topic.split(".")[0] in NOTICE_TOPICS for topic in topics)
    kind = (
        str(WatchlistKind.INTERNATIONAL_NOTICE)
        if defaults.list_from_topics and on_notice
        else defaults.list
    )
    agency = defaults.issuing_agency or (
        "OpenSanctions: " + ", ".join(datasets) if datasets else "OpenSanctions"
    )
    command = UpsertEntry(
        entry_id="",
        list=kind,
        names=tuple(names),
        birth_date=_ftm_birth_date(properties.get("birthDate", []), adapted),
        nationality=_ftm_nationality(properties, adapted),
        documents=tuple(_ftm_documents(properties, held, adapted)),
        reason=_ftm_reason(entity_id, datasets, properties),
        issuing_agency=agency[: WATCHLIST_LIMITS.agency_length],
        valid_from=None,
        valid_until=None,
        external_id=entity_id,
    )
    return Entry(line, command, tuple(_unique(adapted.notes)))
