"""The watchlist as plain values: entries, their history, requests, and what a screening finds.

An entry is one person on one list (an entry ban, *tangkal*; an exit ban,
*cegah*; the police's wanted list, DPO; an international notice; another),
with the names and aliases it is known by in any script, what is known of
the birth date, the nationality and the documents, why it is listed and by
whom, and from when until when it applies. Entries are never deleted: a
removal is a version of its own, with who removed it and why, and every
change keeps the entry's earlier versions.

A screening compares one party (a registered person, or what a caller
asks about) with the entries retrieved for it and scores each pair
(``watchlist.matching``); a match is never acted on by itself: it opens a
WATCHLIST_MATCH alert that a supervisor confirms or dismisses.
"""

from __future__ import annotations

import enum
import hashlib
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from exchange_service.domain import commands as cmd
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.errors import InvalidInput, PermissionDenied, Violations
from exchange_service.domain.validation import (
    LIMITS,
    birth_date_field,
    date_field,
    enum_field,
    page_size_field,
    required_enum,
    state_code_field,
    text_field,
    uuid_field,
)
from watchlist.documents import VALID_DOCUMENT_NUMBER, normalize_document_number


class WatchlistKind(enum.StrEnum):
    """The list an entry is on."""

    # Penangkalan: refused entry into Indonesia (Pasal 102 UU 6/2011).
    ENTRY_BAN = "ENTRY_BAN"
    # Pencegahan: may not leave Indonesia (Pasal 91 UU 6/2011).
    EXIT_BAN = "EXIT_BAN"
    # Daftar Pencarian Orang: wanted by the police.
    POLICE_WANTED = "POLICE_WANTED"
    # An Interpol notice or another state's request.
    INTERNATIONAL_NOTICE = "INTERNATIONAL_NOTICE"
    OTHER = "OTHER"


class EntryChange(enum.StrEnum):
    """What one version of an entry did."""

    ADDED = "ADDED"
    UPDATED = "UPDATED"
    REMOVED = "REMOVED"


# The lists police may write: their own wanted list, nothing else.
POLICE_LISTS: frozenset[WatchlistKind] = frozenset({WatchlistKind.POLICE_WANTED})


@dataclass(frozen=True)
class WatchlistLimits:
    names_per_entry: int = 20
    documents_per_entry: int = 10
    name_length: int = 200
    reason_length: int = 1000
    agency_length: int = 200
    external_id_length: int = 200
    screen_matches_max: int = 50
    entries_page_size_default: int = 50
    entries_page_size_max: int = 500


WATCHLIST_LIMITS = WatchlistLimits()


@dataclass(frozen=True)
class EntryContent:
    """What an entry says: the part a screening compares and a version records."""

    list: WatchlistKind
    names: tuple[str, ...]
    birth_year: int | None
    birth_month: int | None
    birth_day: int | None
    nationality: str
    documents: tuple[str, ...]
    reason: str
    issuing_agency: str
    valid_from: date | None
    valid_until: date | None
    external_id: str = ""

    @property
    def birth_date(self) -> date | None:
        if self.birth_year and self.birth_month and self.birth_day:
            return date(self.birth_year, self.birth_month, self.birth_day)
        return None

    def as_json(self) -> dict[str, object]:
        return {
            "list": str(self.list),
            "names": list(self.names),
            "birth_year": self.birth_year,
            "birth_month": self.birth_month,
            "birth_day": self.birth_day,
            "nationality": self.nationality,
            "documents": list(self.documents),
            "reason": self.reason,
            "issuing_agency": self.issuing_agency,
            "valid_from": None if self.valid_from is None else self.valid_from.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
            "external_id": self.external_id,
        }

    @property
    def digest(self) -> str:
        """The content's SHA-256: a dismissed match is raised again only when it changes."""
        canonical = json.dumps(self.as_json(), sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def applies_on(self, day: date) -> bool:
        return (self.valid_from is None or self.valid_from <= day) and (
            self.valid_until is None or day <= self.valid_until
        )


def content_from_json(data: Mapping[str, object]) -> EntryContent:
    """An entry's content from its JSON (``EntryContent.as_json``), as storage keeps it."""

    def day(value: object) -> date | None:
        return None if value is None else date.fromisoformat(str(value))

    def number(value: object) -> int | None:
        return None if value is None else int(str(value))

    return EntryContent(
        list=WatchlistKind(str(data["list"])),
        names=tuple(str(n) for n in data["names"]),  # type: ignore[attr-defined]
        birth_year=number(data.get("birth_year")),
        birth_month=number(data.get("birth_month")),
        birth_day=number(data.get("birth_day")),
        nationality=str(data.get("nationality") or ""),
        documents=tuple(str(d) for d in data.get("documents") or ()),  # type: ignore[attr-defined]
        reason=str(data.get("reason") or ""),
        issuing_agency=str(data.get("issuing_agency") or ""),
        valid_from=day(data.get("valid_from")),
        valid_until=day(data.get("valid_until")),
        external_id=str(data.get("external_id") or ""),
    )


@dataclass(frozen=True)
class EntryVersion:
    """One version of an entry: what it said after the change, who changed it, when, why."""

    version: int
    change: EntryChange
    content: EntryContent
    recorded_at: datetime
    agency_id: str
    officer: str
    note: str = ""


@dataclass(frozen=True)
class WatchlistEntry:
    """An entry as it stands now; ``removed_at`` set when it was removed (it stays listed)."""

    id: uuid.UUID
    content: EntryContent
    version: int
    created_at: datetime
    updated_at: datetime
    created_by: str
    removed_at: datetime | None = None
    removal_note: str = ""

    @property
    def is_removed(self) -> bool:
        return self.removed_at is not None


@dataclass(frozen=True)
class ScreenedParty:
    """Whom a screening is about: names in any script, and what else is known."""

    names: tuple[str, ...]
    birth_year: int | None = None
    birth_month: int | None = None
    birth_day: int | None = None
    nationality: str = ""
    documents: tuple[str, ...] = ()

    @property
    def birth_date(self) -> date | None:
        """The full birth date, if known and a calendar date."""
        if not (self.birth_year and self.birth_month and self.birth_day):
            return None
        try:
            return date(self.birth_year, self.birth_month, self.birth_day)
        except ValueError:
            return None


@dataclass(frozen=True)
class ScreeningMatch:
    """One entry a screening found, with its score, decision and the features behind it."""

    entry: WatchlistEntry
    score: float
    match: bool
    explanation: Mapping[str, object]


@dataclass(frozen=True)
class ScreenedPerson:
    """A registered person as a screening reads them: identity, documents, who registered."""

    id: uuid.UUID
    family_name: str
    given_names: str
    birth_year: int
    birth_month: int
    birth_day: int
    nationality: str
    documents: tuple[str, ...]
    registered_by: str
    registered_officer: str


@dataclass(frozen=True)
class StoredMatch:
    """A pair over the threshold as kept: the entry, the score, its features, the entry's digest."""

    entry_id: uuid.UUID
    score: float
    explanation: dict[str, Any]
    entry_digest: str


# --- Requests ---------------------------------------------------------------------------


@dataclass(frozen=True)
class UpsertEntry:
    """An entry as sent: ``entry_id`` '' adds one (or, with ``external_id``, updates that one)."""

    entry_id: str
    list: str
    names: tuple[str, ...]
    birth_date: cmd.DateParts | None
    nationality: str
    documents: tuple[str, ...]
    reason: str
    issuing_agency: str
    valid_from: cmd.DateParts | None
    valid_until: cmd.DateParts | None
    external_id: str = ""


@dataclass(frozen=True)
class RemoveEntry:
    entry_id: str
    note: str


@dataclass(frozen=True)
class ListEntries:
    lists: tuple[str, ...] = ()
    include_removed: bool = False
    page_size: int = 0
    page_token: str = ""


@dataclass(frozen=True)
class Screen:
    name: str
    aliases: tuple[str, ...] = ()
    birth_date: cmd.DateParts | None = None
    nationality: str = ""
    document_number: str = ""


@dataclass(frozen=True)
class EntryQuery:
    lists: frozenset[WatchlistKind]
    include_removed: bool


# --- Validation -------------------------------------------------------------------------


def _names(v: Violations, path: str, raw: tuple[str, ...], *, required: bool) -> tuple[str, ...]:
    limits = WATCHLIST_LIMITS
    if required and not any(name.strip() for name in raw):
        v.add(path, "at least one name is required")
    if len(raw) > limits.names_per_entry:
        v.add(path, f"{len(raw)} names; at most {limits.names_per_entry} allowed")
    names: list[str] = []
    for i, name in enumerate(raw[: limits.names_per_entry]):
        text = text_field(v, f"{path}[{i}]", name, max_length=limits.name_length, required=required)
        if text and text not in names:
            names.append(text)
    return tuple(names)


def _documents(v: Violations, path: str, raw: tuple[str, ...]) -> tuple[str, ...]:
    limits = WATCHLIST_LIMITS
    if len(raw) > limits.documents_per_entry:
        v.add(path, f"{len(raw)} documents; at most {limits.documents_per_entry} allowed")
    numbers: list[str] = []
    for i, number in enumerate(raw[: limits.documents_per_entry]):
        normalized = normalize_document_number(number)
        if not VALID_DOCUMENT_NUMBER.match(normalized):
            v.add(f"{path}[{i}]", "is not a document number (1 to 20 letters and digits)")
        elif normalized not in numbers:
            numbers.append(normalized)
    return tuple(numbers)


def _birth(
    v: Violations, path: str, parts: cmd.DateParts | None, today: date
) -> tuple[int | None, int | None, int | None]:
    if parts is None or parts.is_empty:
        return None, None, None
    birth = birth_date_field(v, path, parts, today)
    return birth.year or None, birth.month or None, birth.day or None


def valid_entry(request: UpsertEntry, today: date) -> tuple[uuid.UUID | None, EntryContent]:
    """The entry's id (None: a new one) and its content, or ``InvalidInput`` naming each field."""
    v = Violations()
    limits = WATCHLIST_LIMITS
    entry_id = uuid_field(v, "entry.entry_id", request.entry_id) if request.entry_id else None
    kind = required_enum(v, "entry.list", request.list, WatchlistKind, "a watchlist")
    names = _names(v, "entry.names", request.names, required=True)
    year, month, day = _birth(v, "entry.birth_date", request.birth_date, today)
    nationality = (
        state_code_field(v, "entry.nationality", request.nationality, required=False)
        if request.nationality
        else ""
    )
    documents = _documents(v, "entry.document_numbers", request.documents)
    reason = text_field(
        v, "entry.reason", request.reason, max_length=limits.reason_length, required=True
    )
    agency = text_field(
        v,
        "entry.issuing_agency",
        request.issuing_agency,
        max_length=limits.agency_length,
        required=True,
    )
    valid_from = date_field(v, "entry.valid_from", request.valid_from, required=False)
    valid_until = date_field(v, "entry.valid_until", request.valid_until, required=False)
    if valid_from and valid_until and valid_until < valid_from:
        v.add("entry.valid_until", f"{valid_until} is before valid_from {valid_from}")
    external_id = text_field(
        v,
        "entry.external_id",
        request.external_id,
        max_length=limits.external_id_length,
        required=False,
    )
    v.raise_if_any()
    if kind is None:  # cannot be: a missing list is a violation above
        raise InvalidInput([])
    return entry_id, EntryContent(
        list=kind,
        names=names,
        birth_year=year,
        birth_month=month,
        birth_day=day,
        nationality=nationality,
        documents=documents,
        reason=reason,
        issuing_agency=agency,
        valid_from=valid_from,
        valid_until=valid_until,
        external_id=external_id,
    )


def valid_entry_id(raw: str) -> uuid.UUID:
    v = Violations()
    entry_id = uuid_field(v, "entry_id", raw)
    v.raise_if_any()
    return entry_id


def valid_removal(request: RemoveEntry) -> tuple[uuid.UUID, str]:
    v = Violations()
    entry_id = uuid_field(v, "entry_id", request.entry_id)
    note = text_field(v, "note", request.note, max_length=LIMITS.review_note_length, required=True)
    v.raise_if_any()
    return entry_id, note


def valid_entry_query(request: ListEntries) -> tuple[EntryQuery, int]:
    v = Violations()
    lists = frozenset(
        kind
        for i, raw in enumerate(request.lists)
        if (kind := enum_field(v, f"lists[{i}]", raw, WatchlistKind, "a watchlist")) is not None
    )
    size = page_size_field(
        v,
        "page_size",
        request.page_size,
        WATCHLIST_LIMITS.entries_page_size_default,
        WATCHLIST_LIMITS.entries_page_size_max,
    )
    v.raise_if_any()
    return EntryQuery(lists, request.include_removed), size


def valid_screen(request: Screen, today: date) -> ScreenedParty:
    """Whom to screen: a name is required; the rest sharpens the score."""
    v = Violations()
    name = text_field(
        v, "name", request.name, max_length=WATCHLIST_LIMITS.name_length, required=True
    )
    aliases = _names(v, "aliases", request.aliases, required=False)
    year, month, day = _birth(v, "birth_date", request.birth_date, today)
    nationality = (
        state_code_field(v, "nationality", request.nationality, required=False)
        if request.nationality
        else ""
    )
    documents = (
        _documents(v, "document_number", (request.document_number,))
        if request.document_number
        else ()
    )
    if name and len(name.replace(" ", "")) < 2:
        v.add("name", "needs at least 2 letters")
    v.raise_if_any()
    names = (name, *(alias for alias in aliases if alias != name))
    return ScreenedParty(names, year, month, day, nationality, documents)


def may_write(kind: AgencyKind, content_list: WatchlistKind, *, entry_id: str) -> None:
    """PermissionDenied unless agencies of ``kind`` may write entries of the list.

    The permission table lets immigration and police upsert; police only
    their own wanted list (DPO), never the immigration office's bans.
    """
    if kind is AgencyKind.IMMIGRATION:
        return
    if kind is AgencyKind.POLICE and content_list in POLICE_LISTS:
        return
    raise PermissionDenied(
        f"agencies of kind {kind} may not write {content_list} entries"
        + (f" (entry {entry_id})" if entry_id else ""),
        reason="WATCHLIST_LIST_NOT_ALLOWED",
        metadata={"list": str(content_list), "agency_kind": str(kind)},
    )
