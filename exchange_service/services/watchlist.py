"""The watchlist's use cases: entries written and removed (with their versions), listed
and read, parties screened on demand; and the screener that keeps the matches of the
registered population up to date.

Screening is two steps: candidates retrieved in PostgreSQL (the entries sharing a
retrieval key with the party's names, the trigram-similar ones, those holding one of its
document numbers), then each pair scored in Python by ``watchlist.matching``, whose
features explain the score. A match is never acted on here: the screener keeps the pairs
over the threshold, and the WATCHLIST_MATCH rule raises them as alerts a supervisor
confirms or dismisses.
"""

from __future__ import annotations

import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo

from exchange_service.domain import watchlist as wl
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.audit import Actor, AuditEvent
from exchange_service.domain.clock import Clock, local_today, system_clock
from exchange_service.domain.errors import (
    FailedPrecondition,
    NotFound,
    PantauError,
    PreconditionViolation,
)
from exchange_service.domain.fencing import Fence
from exchange_service.domain.model import Page
from exchange_service.domain.paging import PageTokens, key_instant, key_uuid, query_fingerprint
from exchange_service.services.ports import (
    Transaction,
    UnitOfWork,
    WatchlistReader,
    WatchlistStore,
)
from watchlist.matching import MatchResult, Party, comparable_name, retrieval_keys, score_party

log = logging.getLogger(__name__)

WATCHLIST_ENTRY = "pantau.v1.WatchlistEntry"
# The audit trail's names of the screener's work and of an import.
SCREENING_ACTION = "watchlist/screen"
IMPORT_ACTION = "watchlist/import"


@dataclass(frozen=True)
class ScreeningOptions:
    """What a screening takes from the settings (the screener's whole options)."""

    timezone: tzinfo
    # A pair at or over this score is a match (``watchlist_threshold``).
    threshold: float
    # An entry that changes is screened against at most this many persons that share
    # the most keys with it (and the trigram-similar ones, and the document holders).
    entry_fanout: int = 2000
    # More entries than this changed at once: the population is screened again instead.
    bulk_entries: int = 200


@dataclass(frozen=True)
class WatchlistOptions:
    """What the watchlist's use cases take from the settings."""

    screening: ScreeningOptions
    # Screen answers list candidates down to this score, marked match or not.
    report_floor: float
    page_tokens: PageTokens


def entry_not_found(entry_id: uuid.UUID | str) -> NotFound:
    return NotFound(WATCHLIST_ENTRY, f"watchlist/entries/{entry_id}", "entry_id")


def party_of_content(content: wl.EntryContent) -> Party:
    return Party(
        names=content.names,
        birth_date=content.birth_date,
        birth_year=content.birth_year,
        nationality=content.nationality or None,
        documents=content.documents,
    )


def party_of_screened(party: wl.ScreenedParty) -> Party:
    return Party(
        names=party.names,
        birth_date=party.birth_date,
        birth_year=party.birth_year,
        nationality=party.nationality or None,
        documents=party.documents,
    )


def screened_person(person: wl.ScreenedPerson) -> wl.ScreenedParty:
    """A registered person as a party: the name as written (given names, family name)."""
    name = " ".join(part for part in (person.given_names, person.family_name) if part)
    return wl.ScreenedParty(
        names=(name,),
        birth_year=person.birth_year or None,
        birth_month=person.birth_month or None,
        birth_day=person.birth_day or None,
        nationality=person.nationality,
        documents=person.documents,
    )


def person_digest(person: wl.ScreenedPerson) -> str:
    """The SHA-256 of what a screening reads of a person: a change raises a dismissed
    match again."""
    canonical = json.dumps(
        [
            person.family_name,
            person.given_names,
            person.birth_year,
            person.birth_month,
            person.birth_day,
            person.nationality,
            sorted(person.documents),
        ],
        ensure_ascii=False,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


# A sound or phonetic key shorter than this ("p:FN", "b:bn") is shared by thousands of
# entries and pairs a word at 0.3 at most: a party retrieves by it only when it has no
# longer key than its words themselves.
SHORT_KEY = 3


def party_keys(names: Iterable[str]) -> tuple[list[str], list[str]]:
    """The retrieval keys and comparable forms of a party's names."""
    keys: set[str] = set()
    comparables: list[str] = []
    for name in names:
        keys |= retrieval_keys(name)
        comparable = comparable_name(name)
        if comparable and comparable not in comparables:
            comparables.append(comparable)
    long_keys = {k for k in keys if k.startswith("t:") or len(k) - 2 >= SHORT_KEY}
    if any(not k.startswith("t:") for k in long_keys):
        keys = long_keys
    return sorted(keys), comparables


def _result_json(result: MatchResult) -> dict[str, object]:
    return dict(result.explanation())


def validated_entries(
    requests: Sequence[wl.UpsertEntry], kind: AgencyKind, today: date
) -> tuple[list[str | None], list[tuple[int, uuid.UUID | None, wl.EntryContent]]]:
    """Per request None when it may be written, else why not; and those that may, by their
    position in the batch. Writes nothing (an import's ``--dry-run`` stops here)."""
    outcomes: list[str | None] = []
    valid: list[tuple[int, uuid.UUID | None, wl.EntryContent]] = []
    for i, request in enumerate(requests):
        try:
            entry_id, content = wl.valid_entry(request, today)
            wl.may_write(kind, content.list, entry_id=request.entry_id)
        except PantauError as error:
            outcomes.append(str(error))
            continue
        outcomes.append(None)
        valid.append((i, entry_id, content))
    return outcomes, valid


class Watchlist:
    """The entries as agencies write and read them, and screening on demand."""

    def __init__(self, uow: UnitOfWork, options: WatchlistOptions, clock: Clock = system_clock):
        self._uow = uow
        self._options = options
        self._clock = clock

    def _today(self) -> date:
        return local_today(self._clock, self._options.screening.timezone)

    # --- writes ------------------------------------------------------------------------

    def upsert_entry(
        self, request: wl.UpsertEntry, actor: Actor, kind: AgencyKind
    ) -> wl.WatchlistEntry:
        """Adds the entry, or writes a new version of the one named (by id or external id).

        Raises ``InvalidInput`` naming each bad field, ``PermissionDenied`` when the
        agency may not write the list (police: their wanted list only), ``NotFound``
        naming ``entry_id``, ``FailedPrecondition`` (ENTRY_REMOVED) for a removed
        entry; nothing is written then. The same content again writes no version.
        """
        entry_id, content = wl.valid_entry(request, self._today())
        wl.may_write(kind, content.list, entry_id=request.entry_id)
        with self._uow.begin() as tx:
            entry = self._write(tx.watchlist, entry_id, content, actor, kind)
        return entry

    def import_entries(
        self, requests: Sequence[wl.UpsertEntry], actor: Actor, kind: AgencyKind
    ) -> list[str | None]:
        """Writes a batch in one transaction: per request None when written (or unchanged),
        else why it was refused (refused requests write nothing; the others are kept).

        The batch's audit event names the importing actor and how many it wrote.
        """
        outcomes, valid = validated_entries(requests, kind, self._today())
        if not valid:
            return outcomes
        with self._uow.begin() as tx:
            for i, entry_id, content in valid:
                try:
                    self._write(tx.watchlist, entry_id, content, actor, kind)
                except PantauError as error:
                    outcomes[i] = str(error)
            tx.audit.record(
                AuditEvent(
                    actor=actor,
                    action=IMPORT_ACTION,
                    outcome="OK",
                    purpose=f"{sum(o is None for o in outcomes)} entries written",
                ),
                self._clock(),
            )
        return outcomes

    def _write(
        self,
        writes: WatchlistStore,
        entry_id: uuid.UUID | None,
        content: wl.EntryContent,
        actor: Actor,
        kind: AgencyKind,
    ) -> wl.WatchlistEntry:
        existing: wl.WatchlistEntry | None
        if entry_id is not None:
            existing = writes.lock_entry(entry_id)
            if existing is None:
                raise entry_not_found(entry_id)
        elif content.external_id:
            existing = writes.lock_external(content.external_id)
        else:
            existing = None
        now = self._clock()
        if existing is not None:
            if existing.is_removed:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "ENTRY_REMOVED",
                            f"watchlist/entries/{existing.id}",
                            f"entry {existing.id} was removed on"
                            f" {existing.removed_at:%Y-%m-%d}: add a new entry instead",
                        )
                    ]
                )
            wl.may_write(kind, existing.content.list, entry_id=str(existing.id))
            if existing.content.digest == content.digest:
                return existing
        new_id = existing.id if existing is not None else uuid.uuid4()
        version = 1 if existing is None else existing.version + 1
        names_index = [comparable_name(name) for name in content.names]
        keys: set[str] = set()
        for name in content.names:
            keys |= retrieval_keys(name)
        writes.write_entry(
            new_id,
            content,
            version=version,
            change=wl.EntryChange.ADDED if existing is None else wl.EntryChange.UPDATED,
            at=now,
            agency_id=actor.id,
            officer=actor.officer,
            names_index=names_index,
            keys=keys,
        )
        return wl.WatchlistEntry(
            id=new_id,
            content=content,
            version=version,
            created_at=now if existing is None else existing.created_at,
            updated_at=now,
            created_by=actor.id if existing is None else existing.created_by,
        )

    def remove_entry(
        self, request: wl.RemoveEntry, actor: Actor, kind: AgencyKind
    ) -> wl.WatchlistEntry:
        """Removes the entry (soft: it stays, with a REMOVED version naming who and why)."""
        entry_id, note = wl.valid_removal(request)
        with self._uow.begin() as tx:
            existing = tx.watchlist.lock_entry(entry_id)
            if existing is None:
                raise entry_not_found(entry_id)
            wl.may_write(kind, existing.content.list, entry_id=str(entry_id))
            if existing.is_removed:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "ENTRY_REMOVED",
                            f"watchlist/entries/{entry_id}",
                            f"entry {entry_id} is already removed",
                        )
                    ]
                )
            now = self._clock()
            tx.watchlist.write_entry(
                entry_id,
                existing.content,
                version=existing.version + 1,
                change=wl.EntryChange.REMOVED,
                at=now,
                agency_id=actor.id,
                officer=actor.officer,
                note=note,
            )
        return wl.WatchlistEntry(
            id=entry_id,
            content=existing.content,
            version=existing.version + 1,
            created_at=existing.created_at,
            updated_at=now,
            created_by=existing.created_by,
            removed_at=now,
            removal_note=note,
        )

    # --- reads -------------------------------------------------------------------------

    def list_entries(self, request: wl.ListEntries) -> Page[wl.WatchlistEntry]:
        """Entries newest change first; removed ones only when asked for."""
        query, size = wl.valid_entry_query(request)
        fingerprint = query_fingerprint(
            "watchlist", sorted(str(k) for k in query.lists), query.include_removed
        )
        after_key = self._options.page_tokens.decode(request.page_token, fingerprint, 2)
        after = None if after_key is None else (key_instant(after_key[0]), key_uuid(after_key[1]))
        with self._uow.read() as reader:
            entries = reader.watchlist.list_entries(query, after, size + 1)
        page = entries[:size]
        token = ""
        if len(entries) > size:
            last = page[-1]
            token = self._options.page_tokens.encode(
                fingerprint, [last.updated_at.isoformat(), str(last.id)]
            )
        return Page(tuple(page), token)

    def get_entry(self, raw_id: str) -> tuple[wl.WatchlistEntry, tuple[wl.EntryVersion, ...]]:
        entry_id = wl.valid_entry_id(raw_id)
        with self._uow.read() as reader:
            found = reader.watchlist.entries([entry_id]).get(entry_id)
            if found is None:
                raise entry_not_found(raw_id)
            return found, reader.watchlist.versions(entry_id)

    def screen(self, request: wl.Screen) -> tuple[wl.ScreeningMatch, ...]:
        """The entries in force a party matches or comes close to, best first, each with
        the score, the decision at the threshold and the features behind it. Writes
        nothing."""
        party = wl.valid_screen(request, self._today())
        with self._uow.read() as reader:
            return screen_party(
                reader.watchlist,
                party,
                self._options.screening,
                self._today(),
                report_floor=self._options.report_floor,
            )


def score_candidates(
    reader: WatchlistReader, party: wl.ScreenedParty, threshold: float, today: date
) -> tuple[list[str], list[str], list[tuple[wl.WatchlistEntry, MatchResult]]]:
    """The party's retrieval keys and comparable names, and each entry in force it retrieves
    with its score: the two steps of a screening."""
    keys, comparables = party_keys(party.names)
    entries = reader.candidate_entries(
        keys=keys, names=comparables, documents=party.documents, today=today
    )
    query = party_of_screened(party)
    return (
        keys,
        comparables,
        [
            (entry, score_party(query, party_of_content(entry.content), threshold=threshold))
            for entry in entries
        ],
    )


def screen_party(
    reader: WatchlistReader,
    party: wl.ScreenedParty,
    options: ScreeningOptions,
    today: date,
    *,
    report_floor: float,
) -> tuple[wl.ScreeningMatch, ...]:
    _keys, _comparables, scored = score_candidates(reader, party, options.threshold, today)
    found: list[wl.ScreeningMatch] = []
    for entry, result in scored:
        if result.score >= report_floor:
            found.append(wl.ScreeningMatch(entry, result.score, result.match, _result_json(result)))
    found.sort(key=lambda m: (-m.score, str(m.entry.id)))
    return tuple(found[: wl.WATCHLIST_LIMITS.screen_matches_max])


@dataclass(frozen=True)
class ScreeningRound:
    """What one round of the screener did."""

    persons: int = 0
    entries: int = 0
    changed: int = 0
    population_queued: int = 0

    @property
    def worked(self) -> bool:
        return bool(self.persons or self.entries or self.population_queued)


class Screener:
    """Drains the screening queue: each person queued against the watchlist, each entry
    queued against the persons it may match; the pairs over the threshold replace the
    earlier ones. When a round changed a pair, ``on_changed`` (the WATCHLIST_MATCH rule's
    run) is called with the round's instant and fence, so the alert follows within seconds."""

    def __init__(
        self,
        uow: UnitOfWork,
        options: ScreeningOptions,
        clock: Clock = system_clock,
        *,
        actor: Actor | None = None,
        on_changed: Callable[[datetime, Fence | None], object] | None = None,
    ) -> None:
        self._uow = uow
        self._options = options
        self._clock = clock
        self._actor = actor or Actor.system("screener")
        self._on_changed = on_changed

    def run_once(self, batch: int = 200, fence: Fence | None = None) -> ScreeningRound:
        """One batch of persons, then one of entries; the rule run if a pair changed."""
        persons, changed_p = self._screen_persons(batch, fence)
        entries, changed_e, population = self._screen_entries(batch, fence)
        done = ScreeningRound(persons, entries, changed_p + changed_e, population)
        if done.changed and self._on_changed is not None:
            self._on_changed(self._clock(), fence)
        return done

    def drain(self, batch: int = 200, fence: Fence | None = None) -> ScreeningRound:
        """Rounds until the queue is empty; the totals."""
        persons = entries = changed = population = 0
        while True:
            done = self.run_once(batch, fence)
            persons += done.persons
            entries += done.entries
            changed += done.changed
            population += done.population_queued
            if not done.worked:
                return ScreeningRound(persons, entries, changed, population)

    def _screen_persons(self, batch: int, fence: Fence | None) -> tuple[int, int]:
        today = local_today(self._clock, self._options.timezone)
        with self._uow.begin(fence=fence) as tx:
            claimed = tx.watchlist.claim_queue("PERSON", batch)
            if not claimed:
                return 0, 0
            now = self._clock()
            changed: list[str] = []
            with self._uow.read() as reader:
                persons = reader.watchlist.persons([person_id for person_id, _ in claimed])
                for person in persons.values():
                    keys, comparables, scored = score_candidates(
                        reader.watchlist, screened_person(person), self._options.threshold, today
                    )
                    matches = [
                        wl.StoredMatch(
                            entry.id, result.score, _result_json(result), entry.content.digest
                        )
                        for entry, result in scored
                        if result.match
                    ]
                    if tx.watchlist.save_person_screening(
                        person.id,
                        digest=person_digest(person),
                        keys=keys,
                        comparable=" ".join(comparables),
                        at=now,
                        matches=matches,
                    ):
                        changed.append(str(person.id))
            self._audit(tx, changed, now)
        return len(claimed), len(changed)

    def _screen_entries(self, batch: int, fence: Fence | None) -> tuple[int, int, int]:
        with self._uow.begin(fence=fence) as tx:
            queued = tx.watchlist.queued().get("ENTRY", 0)
            if queued > self._options.bulk_entries:
                # The watchlist changed wholesale (an import): everyone is screened
                # again against it, which also covers every entry queued.
                while tx.watchlist.claim_queue("ENTRY", 10_000):
                    pass
                population = tx.watchlist.enqueue_population("WATCHLIST_CHANGED")
                log.info(
                    "%d watchlist entries changed: the %d persons are screened again",
                    queued,
                    population,
                )
                return queued, 0, population
            claimed = tx.watchlist.claim_queue("ENTRY", batch)
            if not claimed:
                return 0, 0, 0
            now = self._clock()
            changed_persons: set[str] = set()
            changed = 0
            with self._uow.read() as reader:
                entries = reader.watchlist.entries([entry_id for entry_id, _ in claimed])
                for entry in entries.values():
                    matches: list[tuple[uuid.UUID, wl.StoredMatch, str]] = []
                    if not entry.is_removed:
                        keys, comparables = party_keys(entry.content.names)
                        persons = reader.watchlist.candidate_persons(
                            keys=keys,
                            names=comparables,
                            documents=entry.content.documents,
                            limit=self._options.entry_fanout,
                        )
                        candidate = party_of_content(entry.content)
                        for person in persons:
                            result = score_party(
                                party_of_screened(screened_person(person)),
                                candidate,
                                threshold=self._options.threshold,
                            )
                            if result.match:
                                matches.append(
                                    (
                                        person.id,
                                        wl.StoredMatch(
                                            entry.id,
                                            result.score,
                                            _result_json(result),
                                            entry.content.digest,
                                        ),
                                        person_digest(person),
                                    )
                                )
                    if tx.watchlist.save_entry_screening(entry.id, at=now, matches=matches):
                        changed += 1
                        changed_persons.update(str(p) for p, _, _ in matches)
            self._audit(tx, sorted(changed_persons), now)
        return len(claimed), changed, 0

    def _audit(self, tx: Transaction, person_ids: Sequence[str], at: datetime) -> None:
        if not person_ids:
            return
        tx.audit.record(
            AuditEvent(
                actor=self._actor,
                action=SCREENING_ACTION,
                outcome="OK",
                person_ids=tuple(person_ids),
            ),
            at,
        )
