"""The watchlist in the database: entries and their versions as a transaction writes them,
their retrieval index, the screening queue and the matches; the reads that retrieve
candidates for a screening, on either side.

Writes (``WatchlistStore``, ``tx.watchlist``) run on the transaction's session. Reads
(``WatchlistReader``, ``reader.watchlist``) are prepared statements on a read
connection: the entries of a listing, an entry with its versions, the entries a party
may match (those sharing a retrieval key with its names, ranked by how many; those whose
names are trigram-similar; those holding one of its document numbers) and, the other
way, the persons an entry may match.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any, LiteralString

import psycopg
from sqlalchemy import text
from sqlalchemy.orm import Session

from exchange_service.domain.watchlist import (
    EntryChange,
    EntryContent,
    EntryQuery,
    EntryVersion,
    ScreenedPerson,
    StoredMatch,
    WatchlistEntry,
    content_from_json,
)

# A party's names retrieve at most this many entries by shared keys, and this many by
# trigram similarity per name: a screening scores a few hundred pairs, never the list.
KEYED_CANDIDATES = 150
SIMILAR_CANDIDATES = 40


def entry_from_row(row: Sequence[Any]) -> WatchlistEntry:
    """(id, content, version, created_at, updated_at, created_by, removed_at, removal_note)."""
    return WatchlistEntry(
        id=row[0],
        content=content_from_json(row[1]),
        version=row[2],
        created_at=row[3],
        updated_at=row[4],
        created_by=row[5],
        removed_at=row[6],
        removal_note=row[7],
    )


_ENTRY_COLUMNS = (
    "e.id, e.content, e.version, e.created_at, e.updated_at, e.created_by, e.removed_at,"
    " e.removal_note"
)


class WatchlistStore:
    """The watchlist's writes in one transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def _execute(self, sql: str, params: dict[str, Any] | None = None) -> Any:
        return self._session.execute(text(sql), params or {})

    def lock_entry(self, entry_id: uuid.UUID) -> WatchlistEntry | None:
        row = self._execute(
            f"SELECT {_ENTRY_COLUMNS} FROM watchlist_entries e WHERE e.id = :id FOR UPDATE",
            {"id": entry_id},
        ).first()
        return None if row is None else entry_from_row(row)

    def lock_external(self, external_id: str) -> WatchlistEntry | None:
        row = self._execute(
            f"SELECT {_ENTRY_COLUMNS} FROM watchlist_entries e"
            " WHERE e.external_id = :external AND e.external_id <> '' FOR UPDATE",
            {"external": external_id},
        ).first()
        return None if row is None else entry_from_row(row)

    def write_entry(
        self,
        entry_id: uuid.UUID,
        content: EntryContent,
        *,
        version: int,
        change: EntryChange,
        at: datetime,
        agency_id: str,
        officer: str,
        note: str = "",
        names_index: Sequence[str] = (),
        keys: Iterable[str] = (),
    ) -> None:
        """The entry's new version: the entry row (added or replaced), the version row, and
        (unless removed) its names, keys and document numbers indexed again."""
        data = content.as_json()
        params = {
            "id": entry_id,
            "list": str(content.list),
            "content": data,
            "digest": content.digest,
            "version": version,
            "external": content.external_id,
            "from": content.valid_from,
            "until": content.valid_until,
            "at": at,
            "agency": agency_id,
            "officer": officer,
            "note": note,
            "change": str(change),
            "removed": at if change is EntryChange.REMOVED else None,
        }
        self._session.execute(
            text(
                "INSERT INTO watchlist_entries (id, list, content, digest, version, external_id,"
                " valid_from, valid_until, created_at, updated_at, created_by, removed_at,"
                " removal_note)"
                " VALUES (:id, :list, CAST(:content AS jsonb), :digest, :version, :external,"
                " :from, :until, :at, :at, :agency, :removed, :note)"
                " ON CONFLICT (id) DO UPDATE SET list = excluded.list, content = excluded.content,"
                " digest = excluded.digest, version = excluded.version,"
                " external_id = excluded.external_id, valid_from = excluded.valid_from,"
                " valid_until = excluded.valid_until, updated_at = excluded.updated_at,"
                " removed_at = excluded.removed_at,"
                " removal_note = CASE WHEN excluded.removed_at IS NULL THEN ''"
                " ELSE excluded.removal_note END"
            ),
            {**params, "content": _json(data)},
        )
        self._execute(
            "INSERT INTO watchlist_entry_versions (entry_id, version, change, content,"
            " recorded_at, agency_id, officer, note)"
            " VALUES (:id, :version, :change, CAST(:content AS jsonb), :at, :agency, :officer,"
            " :note)",
            {**params, "content": _json(data)},
        )
        for table in ("watchlist_names", "watchlist_keys", "watchlist_documents"):
            self._execute(f"DELETE FROM {table} WHERE entry_id = :id", {"id": entry_id})
        if change is EntryChange.REMOVED:
            return
        names = [
            {"id": entry_id, "position": i, "comparable": name}
            for i, name in enumerate(names_index)
            if name
        ]
        if names:
            self._session.execute(
                text(
                    "INSERT INTO watchlist_names (entry_id, position, comparable)"
                    " VALUES (:id, :position, :comparable)"
                ),
                names,
            )
        key_rows = [{"id": entry_id, "key": key} for key in sorted(set(keys))]
        if key_rows:
            self._session.execute(
                text("INSERT INTO watchlist_keys (key, entry_id) VALUES (:key, :id)"), key_rows
            )
        documents = [{"id": entry_id, "number": number} for number in content.documents]
        if documents:
            self._session.execute(
                text("INSERT INTO watchlist_documents (number, entry_id) VALUES (:number, :id)"),
                documents,
            )

    # --- the screening queue and its results -------------------------------------------

    def claim_queue(self, kind: str, limit: int) -> list[tuple[uuid.UUID, str]]:
        """Takes up to ``limit`` of the oldest queued subjects of ``kind`` (PERSON or ENTRY)
        off the queue; another screener skips them. Rolled back, they are queued again."""
        rows = self._execute(
            "DELETE FROM screening_queue q USING ("
            " SELECT kind, subject_id FROM screening_queue WHERE kind = :kind"
            " ORDER BY enqueued_at LIMIT :limit FOR UPDATE SKIP LOCKED) c"
            " WHERE q.kind = c.kind AND q.subject_id = c.subject_id"
            " RETURNING q.subject_id, q.reason",
            {"kind": kind, "limit": limit},
        ).all()
        return [(row[0], row[1]) for row in rows]

    def queued(self) -> dict[str, int]:
        rows = self._execute("SELECT kind, count(*) FROM screening_queue GROUP BY kind").all()
        return {row[0]: row[1] for row in rows}

    def enqueue_population(self, reason: str) -> int:
        """Queues every registered person for a screening (the watchlist changed wholesale)."""
        result = self._execute(
            "INSERT INTO screening_queue (kind, subject_id, reason)"
            " SELECT 'PERSON', id, :reason FROM persons ON CONFLICT DO NOTHING",
            {"reason": reason},
        )
        return int(result.rowcount or 0)

    def save_person_screening(
        self,
        person_id: uuid.UUID,
        *,
        digest: str,
        keys: Sequence[str],
        comparable: str,
        at: datetime,
        matches: Sequence[StoredMatch],
    ) -> bool:
        """The person's screening: their keys, and their matches replacing the earlier ones.
        True when the person's matches changed."""
        self._execute(
            "INSERT INTO person_screenings (person_id, digest, keys, comparable, screened_at)"
            " VALUES (:id, :digest, :keys, :comparable, :at)"
            " ON CONFLICT (person_id) DO UPDATE SET digest = excluded.digest,"
            " keys = excluded.keys, comparable = excluded.comparable,"
            " screened_at = excluded.screened_at",
            {
                "id": person_id,
                "digest": digest,
                "keys": list(keys),
                "comparable": comparable,
                "at": at,
            },
        )
        before = self._pairs("person_id = :id", {"id": person_id})
        self._execute("DELETE FROM watchlist_matches WHERE person_id = :id", {"id": person_id})
        self._insert_matches([(person_id, m) for m in matches], digest, at)
        after = {(person_id, m.entry_id): _pair_key(m, digest) for m in matches}
        return before != after

    def save_entry_screening(
        self,
        entry_id: uuid.UUID,
        *,
        at: datetime,
        matches: Sequence[tuple[uuid.UUID, StoredMatch, str]],
    ) -> bool:
        """The entry's matches (person, match, the person's digest) replacing the earlier
        ones. True when they changed."""
        before = self._pairs("entry_id = :id", {"id": entry_id})
        self._execute("DELETE FROM watchlist_matches WHERE entry_id = :id", {"id": entry_id})
        for person_id, match, digest in matches:
            self._insert_matches([(person_id, match)], digest, at)
        after = {(p, m.entry_id): _pair_key(m, d) for p, m, d in matches}
        return before != after

    def _pairs(self, where: str, params: dict[str, Any]) -> dict[tuple[uuid.UUID, uuid.UUID], str]:
        rows = self._execute(
            "SELECT person_id, entry_id, round(CAST(score AS numeric), 4), entry_digest,"
            f" person_digest FROM watchlist_matches WHERE {where}",
            params,
        ).all()
        return {(r[0], r[1]): f"{float(r[2]):.4f}|{r[3]}|{r[4]}" for r in rows}

    def _insert_matches(
        self, matches: Sequence[tuple[uuid.UUID, StoredMatch]], person_digest: str, at: datetime
    ) -> None:
        if not matches:
            return
        self._session.execute(
            text(
                "INSERT INTO watchlist_matches (person_id, entry_id, score, explanation,"
                " entry_digest, person_digest, screened_at)"
                " VALUES (:person, :entry, :score, CAST(:explanation AS jsonb), :entry_digest,"
                " :person_digest, :at)"
            ),
            [
                {
                    "person": person_id,
                    "entry": m.entry_id,
                    "score": round(m.score, 4),
                    "explanation": _json(m.explanation),
                    "entry_digest": m.entry_digest,
                    "person_digest": person_digest,
                    "at": at,
                }
                for person_id, m in matches
            ],
        )


def _pair_key(match: StoredMatch, person_digest: str) -> str:
    return f"{round(match.score, 4):.4f}|{match.entry_digest}|{person_digest}"


def _json(value: object) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str)


# --- reads ------------------------------------------------------------------------------

_IN_FORCE = (
    "e.removed_at IS NULL AND (e.valid_from IS NULL OR e.valid_from <= %(today)s)"
    " AND (e.valid_until IS NULL OR e.valid_until >= %(today)s)"
)

_CANDIDATE_ENTRIES: LiteralString = f"""
WITH keyed AS (
    SELECT k.entry_id FROM watchlist_keys k
    WHERE k.key = ANY(%(keys)s::text[])
    GROUP BY k.entry_id ORDER BY count(*) DESC, k.entry_id LIMIT {KEYED_CANDIDATES}
), trigram AS (
    SELECT s.entry_id FROM unnest(%(names)s::text[]) q(name)
    CROSS JOIN LATERAL (
        SELECT n.entry_id FROM watchlist_names n WHERE n.comparable %% q.name
        ORDER BY n.comparable <-> q.name LIMIT {SIMILAR_CANDIDATES}
    ) s
), documented AS (
    SELECT d.entry_id FROM watchlist_documents d WHERE d.number = ANY(%(documents)s::text[])
), candidates AS (
    SELECT entry_id FROM keyed UNION SELECT entry_id FROM trigram
    UNION SELECT entry_id FROM documented
)
SELECT {_ENTRY_COLUMNS}
FROM candidates c JOIN watchlist_entries e ON e.id = c.entry_id
WHERE {_IN_FORCE}
"""

_PERSON_COLUMNS = """
    p.id, p.family_name, p.given_names, p.birth_year, p.birth_month, p.birth_day,
    p.nationality,
    COALESCE((SELECT array_agg(d.number ORDER BY d.number) FROM travel_documents d
              WHERE d.person_id = p.id), ARRAY[]::text[]),
    p.registered_by, p.registered_officer
"""

_PERSONS_BY_ID: LiteralString = f"""
SELECT {_PERSON_COLUMNS} FROM persons p WHERE p.id = ANY(%(ids)s::uuid[])
"""

# The persons an entry may match: those whose last screening shares the most keys with
# the entry's names, those with a trigram-similar name, those holding one of its numbers.
_CANDIDATE_PERSONS: LiteralString = f"""
WITH keyed AS (
    SELECT s.person_id FROM person_screenings s
    WHERE s.keys && %(keys)s::text[]
    ORDER BY cardinality(ARRAY(SELECT unnest(s.keys) INTERSECT SELECT unnest(%(keys)s::text[])))
        DESC, s.person_id
    LIMIT %(limit)s
), trigram AS (
    SELECT s.person_id FROM unnest(%(names)s::text[]) q(name)
    CROSS JOIN LATERAL (
        SELECT ps.person_id FROM person_screenings ps WHERE ps.comparable %% q.name
        ORDER BY ps.comparable <-> q.name LIMIT %(limit)s
    ) s
), documented AS (
    SELECT d.person_id FROM travel_documents d WHERE d.number = ANY(%(documents)s::text[])
), candidates AS (
    SELECT person_id FROM keyed UNION SELECT person_id FROM trigram
    UNION SELECT person_id FROM documented
)
SELECT {_PERSON_COLUMNS} FROM candidates c JOIN persons p ON p.id = c.person_id
"""

_ENTRY_BY_ID: LiteralString = f"""
SELECT {_ENTRY_COLUMNS} FROM watchlist_entries e WHERE e.id = ANY(%(ids)s::uuid[])
"""

_VERSIONS: LiteralString = """
SELECT version, change, content, recorded_at, agency_id, officer, note
FROM watchlist_entry_versions WHERE entry_id = %(id)s ORDER BY version
"""

_LIST_ENTRIES: LiteralString = f"""
SELECT {_ENTRY_COLUMNS} FROM watchlist_entries e
WHERE (cardinality(%(lists)s::text[]) = 0 OR e.list = ANY(%(lists)s::text[]))
  AND (%(removed)s OR e.removed_at IS NULL)
  AND (%(after_at)s::timestamptz IS NULL
       OR (e.updated_at, e.id) < (%(after_at)s, %(after_id)s::uuid))
ORDER BY e.updated_at DESC, e.id DESC
LIMIT %(limit)s
"""

_MATCHES_OF_PERSON: LiteralString = """
SELECT entry_id, score, explanation, entry_digest FROM watchlist_matches
WHERE person_id = %(id)s ORDER BY score DESC
"""


def person_from_row(row: Sequence[Any]) -> ScreenedPerson:
    return ScreenedPerson(
        id=row[0],
        family_name=row[1],
        given_names=row[2],
        birth_year=row[3],
        birth_month=row[4],
        birth_day=row[5],
        nationality=row[6],
        documents=tuple(row[7]),
        registered_by=row[8],
        registered_officer=row[9],
    )


class WatchlistReader:
    """The watchlist's reads, prepared statements on one read connection."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def _rows(self, query: LiteralString, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self._connection.execute(query, params, prepare=True).fetchall()

    def candidate_entries(
        self, *, keys: Sequence[str], names: Sequence[str], documents: Sequence[str], today: date
    ) -> list[WatchlistEntry]:
        """The entries in force on ``today`` that a party with these keys, comparable names
        and document numbers may match."""
        rows = self._rows(
            _CANDIDATE_ENTRIES,
            {
                "keys": list(keys),
                "names": list(names),
                "documents": list(documents),
                "today": today,
            },
        )
        return [entry_from_row(row) for row in rows]

    def candidate_persons(
        self, *, keys: Sequence[str], names: Sequence[str], documents: Sequence[str], limit: int
    ) -> list[ScreenedPerson]:
        rows = self._rows(
            _CANDIDATE_PERSONS,
            {
                "keys": list(keys),
                "names": list(names),
                "documents": list(documents),
                "limit": limit,
            },
        )
        return [person_from_row(row) for row in rows]

    def persons(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, ScreenedPerson]:
        rows = self._rows(_PERSONS_BY_ID, {"ids": list(ids)})
        return {row[0]: person_from_row(row) for row in rows}

    def entries(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, WatchlistEntry]:
        rows = self._rows(_ENTRY_BY_ID, {"ids": list(ids)})
        return {row[0]: entry_from_row(row) for row in rows}

    def versions(self, entry_id: uuid.UUID) -> tuple[EntryVersion, ...]:
        rows = self._rows(_VERSIONS, {"id": entry_id})
        return tuple(
            EntryVersion(
                version=r[0],
                change=EntryChange(r[1]),
                content=content_from_json(r[2]),
                recorded_at=r[3],
                agency_id=r[4],
                officer=r[5],
                note=r[6],
            )
            for r in rows
        )

    def list_entries(
        self, query: EntryQuery, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[WatchlistEntry]:
        rows = self._rows(
            _LIST_ENTRIES,
            {
                "lists": sorted(str(kind) for kind in query.lists),
                "removed": query.include_removed,
                "after_at": None if after is None else after[0],
                "after_id": None if after is None else after[1],
                "limit": limit,
            },
        )
        return [entry_from_row(row) for row in rows]

    def matches_of_person(self, person_id: uuid.UUID) -> list[StoredMatch]:
        rows = self._rows(_MATCHES_OF_PERSON, {"id": person_id})
        return [StoredMatch(r[0], float(r[1]), r[2], r[3]) for r in rows]
