"""What the use cases need from storage, as protocols; ``exchange_service.storage`` implements them.

The use cases hold these types only, so they import no database code: the
composition root (``exchange_service.app``) hands them the storage
implementations, and mypy checks there that those fit.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from datetime import date, datetime
from typing import Protocol

from exchange_service.domain import alerts, feed, model
from exchange_service.domain import report as rp
from exchange_service.domain import watchlist as wl
from exchange_service.domain.audit import Actor, AuditEvent
from exchange_service.domain.fencing import Fence


class RegistryStore(Protocol):
    """The registry's records as one transaction sees and writes them.

    Writes return the record as written. A write that breaks a rule the
    database holds raises the domain error of that rule (``StayAlreadyOpen``,
    ``SightingReferenceTaken``).
    """

    def lock_documents(self, documents: Iterable[model.TravelDocument]) -> None:
        """Serialises, until the transaction ends, the work of others naming these documents."""
        ...

    def owners_of(
        self, documents: Iterable[model.TravelDocument]
    ) -> dict[tuple[str, str], uuid.UUID]:
        """The registered holder of each known (issuing state, number)."""
        ...

    def add_person(
        self,
        identity: model.Identity,
        documents: Sequence[model.TravelDocument],
        registered_by: tuple[str, str] = ("", ""),
    ) -> model.Person: ...

    def registration_of(self, person_id: uuid.UUID) -> tuple[str, str] | None:
        """The agency and officer who registered the person; None if there is none."""
        ...

    def add_documents(
        self, person_id: uuid.UUID, documents: Sequence[model.TravelDocument]
    ) -> None: ...

    def lock_person(self, person_id: uuid.UUID) -> bool:
        """Locks the person until the transaction ends; False if there is no such person."""
        ...

    def person(self, person_id: uuid.UUID) -> model.Person | None: ...

    def person_id_by_document(self, document: model.TravelDocument) -> uuid.UUID | None: ...

    def open_stay(self, person_id: uuid.UUID) -> model.Stay | None: ...

    def open_stay_id(self, person_id: uuid.UUID) -> uuid.UUID | None: ...

    def latest_stay_exit(self, person_id: uuid.UUID) -> datetime | None: ...

    def add_stay(
        self,
        person_id: uuid.UUID,
        port_code: str,
        entered_at: datetime,
        permit: model.StayPermit,
    ) -> model.Stay: ...

    def lock_stay(self, stay_id: uuid.UUID) -> model.Stay | None:
        """The stay, locked until the transaction ends; None if there is no such stay."""
        ...

    def add_permit(
        self, stay_id: uuid.UUID, permit: model.StayPermit, *, sequence: int
    ) -> model.StayPermit: ...

    def close_stay(self, stay: model.Stay, port_code: str, exited_at: datetime) -> model.Stay: ...

    def add_address(
        self,
        person_id: uuid.UUID,
        address: model.Address,
        effective_from: date,
        *,
        reported_at: datetime,
        recorded_at: datetime,
    ) -> uuid.UUID:
        """Adds a report made at ``reported_at`` and received at ``recorded_at``; returns its id."""
        ...

    def address_record(self, address_id: uuid.UUID) -> model.AddressRecord: ...

    def add_sighting(
        self,
        person_id: uuid.UUID,
        *,
        location: model.GeoPoint,
        observed_at: datetime,
        source: model.SightingSource,
        reference: str,
        place_name: str,
        reported_at: datetime,
        recorded_at: datetime,
    ) -> tuple[uuid.UUID, bool]:
        """The new sighting's id and True, or an earlier identical report's id and False."""
        ...

    def sighting(self, sighting_id: uuid.UUID) -> model.Sighting: ...


class AlertStore(Protocol):
    """Alerts, their events and the rules' run records, as one transaction sees and writes them."""

    def lock_rule(self, rule: alerts.RuleName) -> None:
        """Serialises runs of the rule until the transaction ends."""
        ...

    def apply_rule(
        self,
        rule: alerts.RuleDefinition,
        parameters: Mapping[str, object],
        *,
        run_id: uuid.UUID,
        actor: Actor,
    ) -> alerts.AlertChanges:
        """Diffs the rule's findings and resolutions against its open alerts, set-based.

        Opens, updates, escalates and resolves alerts and appends one alert
        event per change, naming the run and the actor; changes nothing when
        nothing changed. Raises ``RuleFailed`` when the rule's statements fail
        (the transaction must then be rolled back).
        """
        ...

    def record_run(self, run: alerts.RuleRun) -> None:
        """Appends the record of a run."""
        ...

    def run(self, run_id: uuid.UUID) -> alerts.RuleRun | None: ...

    def alert(self, alert_id: uuid.UUID) -> alerts.Alert | None: ...

    def alerts_of(
        self, subject_id: str, rule: alerts.RuleName | None = None
    ) -> tuple[alerts.Alert, ...]:
        """Every alert about the subject (of the rule, if given), oldest first."""
        ...

    def events_of_run(self, run_id: uuid.UUID) -> tuple[alerts.AlertEvent, ...]:
        """The events the run wrote in this transaction, in order."""
        ...

    def events_of(self, alert_id: uuid.UUID) -> tuple[alerts.AlertEvent, ...]:
        """The alert's events, in order."""
        ...

    def lock_alert(self, alert_id: uuid.UUID) -> alerts.Alert | None:
        """The alert, locked until the transaction ends; None if there is no such alert."""
        ...

    def open_alert_of_same_key(self, alert_id: uuid.UUID) -> uuid.UUID | None:
        """Another open alert of the alert's rule, subject and stay, if there is one."""
        ...

    def review(
        self,
        alert: alerts.Alert,
        decision: alerts.ReviewDecision,
        *,
        note: str,
        reviewer: Actor,
        at: datetime,
    ) -> tuple[alerts.Alert, alerts.AlertEvent] | None:
        """Gives the alert the decision's status and appends its REVIEWED event, together.

        None (nothing written) if the alert's status is no longer
        ``alert.status``; the ``ALERT_SUPERSEDED`` precondition failure if
        another open alert of its key forbids opening it again.
        """
        ...


class AuditInbox(Protocol):
    """Audit events recorded in the transaction of the work they account for.

    An event recorded here commits with that work or not at all; once
    committed, the trail's one writer (``audit.log.AuditLog``, in whichever
    process holds the trail) chains it exactly once, as of ``at`` or later.
    """

    def record(self, event: AuditEvent, at: datetime) -> None:
        """Records the event, which happened at ``at``, in this transaction."""
        ...


class FeedStore(Protocol):
    """The agencies' feeds as one transaction writes them (the transactional outbox)."""

    def lock_heads(self, agency_ids: Iterable[str]) -> dict[str, tuple[int, bytes]]:
        """Each agency's last sequence and entry hash, locked until the transaction ends, so
        the agency's entries are numbered in commit order."""
        ...

    def append(self, entries: Sequence[feed.FeedEntry], person_ids: Sequence[str]) -> None:
        """Inserts entries that follow the locked heads, moves the heads, and tells the
        feed's listeners at commit. ``person_ids``: each entry's person, for the trail."""
        ...

    def acknowledge(self, agency_id: str, sequence: int, at: datetime) -> tuple[int, int] | None:
        """Marks the entries up to ``sequence`` taken; the last sequence and how many were
        marked now, or None when ``sequence`` is beyond the last."""
        ...


class AsyncFeedReader(Protocol):
    """The feeds as the server's event loop reads them (``storage.async_reads``)."""

    async def feed_entries(
        self, agency_id: str, after: int, limit: int
    ) -> list[tuple[feed.FeedEntry, str]]: ...

    async def feed_last_sequence(self, agency_id: str) -> int: ...


class AsyncFeedReads(Protocol):
    def read(self) -> AbstractAsyncContextManager[AsyncFeedReader]: ...


class FeedNotices(Protocol):
    """Wakes a subscription when its agency's feed has grown (``storage.feed_notices``)."""

    def version(self, agency_id: str) -> int: ...

    async def wait(self, agency_id: str, seen: int, timeout: float) -> None: ...


class WatchlistStore(Protocol):
    """The watchlist's writes in a transaction: entries and their versions, the screening
    queue and its results (``storage/watchlist_store.py``)."""

    def lock_entry(self, entry_id: uuid.UUID) -> wl.WatchlistEntry | None: ...

    def lock_external(self, external_id: str) -> wl.WatchlistEntry | None: ...

    def write_entry(
        self,
        entry_id: uuid.UUID,
        content: wl.EntryContent,
        *,
        version: int,
        change: wl.EntryChange,
        at: datetime,
        agency_id: str,
        officer: str,
        note: str = "",
        names_index: Sequence[str] = (),
        keys: Iterable[str] = (),
    ) -> None: ...

    def claim_queue(self, kind: str, limit: int) -> list[tuple[uuid.UUID, str]]: ...

    def queued(self) -> dict[str, int]: ...

    def enqueue_population(self, reason: str) -> int: ...

    def save_person_screening(
        self,
        person_id: uuid.UUID,
        *,
        digest: str,
        keys: Sequence[str],
        comparable: str,
        at: datetime,
        matches: Sequence[wl.StoredMatch],
    ) -> bool: ...

    def save_entry_screening(
        self,
        entry_id: uuid.UUID,
        *,
        at: datetime,
        matches: Sequence[tuple[uuid.UUID, wl.StoredMatch, str]],
    ) -> bool: ...


class WatchlistReader(Protocol):
    """The watchlist's reads: listings, versions, and the candidates of a screening."""

    def candidate_entries(
        self, *, keys: Sequence[str], names: Sequence[str], documents: Sequence[str], today: date
    ) -> list[wl.WatchlistEntry]: ...

    def candidate_persons(
        self, *, keys: Sequence[str], names: Sequence[str], documents: Sequence[str], limit: int
    ) -> list[wl.ScreenedPerson]: ...

    def persons(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, wl.ScreenedPerson]: ...

    def entries(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, wl.WatchlistEntry]: ...

    def versions(self, entry_id: uuid.UUID) -> tuple[wl.EntryVersion, ...]: ...

    def list_entries(
        self, query: wl.EntryQuery, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[wl.WatchlistEntry]: ...

    def matches_of_person(self, person_id: uuid.UUID) -> list[wl.StoredMatch]: ...


class Transaction(Protocol):
    """The stores of one transaction: what they write is committed together or not at all."""

    @property
    def registry(self) -> RegistryStore: ...

    @property
    def alerts(self) -> AlertStore: ...

    @property
    def audit(self) -> AuditInbox: ...

    @property
    def feed(self) -> FeedStore: ...

    @property
    def watchlist(self) -> WatchlistStore: ...

    @property
    def reports(self) -> ReportStore: ...


class ReportStore(Protocol):
    """The reports as made: added once, never changed."""

    def add(self, report: rp.StoredReport) -> None: ...

    def latest(
        self, day: date, district_code: str, edition: rp.Edition
    ) -> rp.StoredReport | None: ...

    def with_digest(self, digest: str) -> list[rp.StoredReport]: ...

    def audit_records_of(self, digest: str, action: str) -> list[tuple[int | None, datetime]]: ...

    def file_part(
        self, report_id: str, name: str, edition: rp.Edition, offset: int, length: int
    ) -> rp.ReportFilePart | None: ...


class ReportReader(Protocol):
    """The report's figures, all in one snapshot."""

    def report(self, query: rp.ReportQuery) -> rp.EarlyWarningReport: ...


class AlertReader(Protocol):
    """The alert queries; each answer is one consistent snapshot."""

    def list_alerts(
        self,
        where: alerts.AlertFilter,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[alerts.Alert]:
        """Alerts matching the filter, newest first (first detected, then id), after the key."""
        ...

    def alert_with_events(
        self, alert_id: uuid.UUID
    ) -> tuple[alerts.Alert, tuple[alerts.AlertEvent, ...]] | None:
        """The alert and its events, oldest first; None if there is no such alert."""
        ...


class RegistryReader(Protocol):
    """The queries of the police and supervisors; each answer is one consistent snapshot."""

    @property
    def alerts(self) -> AlertReader:
        """The alert queries, on the same connection."""
        ...

    @property
    def watchlist(self) -> WatchlistReader:
        """The watchlist's queries, on the same connection."""
        ...

    @property
    def report(self) -> ReportReader:
        """The early-warning report's figures, on the same connection."""
        ...

    def dossier(
        self,
        *,
        person_id: uuid.UUID | None = None,
        document: model.TravelDocument | None = None,
        sightings: int,
    ) -> model.PersonDossier | None: ...

    def persons(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, model.Person]: ...

    def search_candidates(
        self, key: str, nationality: str, birth_year: int, limit: int
    ) -> list[uuid.UUID]: ...

    def persons_near(
        self,
        center: model.GeoPoint,
        radius_meters: float,
        after: tuple[float, uuid.UUID] | None,
        limit: int,
    ) -> list[model.PersonNearby]: ...


class AsyncReader(Protocol):
    """The dossier query, awaited on the server's event loop."""

    async def dossier(
        self,
        *,
        person_id: uuid.UUID | None = None,
        document: model.TravelDocument | None = None,
        sightings: int,
    ) -> model.PersonDossier | None: ...


class AsyncReads(Protocol):
    """Where the hottest read runs without a worker thread: ``read()`` gives a reader."""

    def read(self) -> AbstractAsyncContextManager[AsyncReader]: ...


class UnitOfWork(Protocol):
    """Where the use cases' reads and writes happen.

    ``begin()`` opens one transaction and hands out its stores: committed when
    the block ends normally, rolled back when it raises, so a rejected command
    writes nothing; with a ``fence`` it commits only while the lease is still
    in the fence's term (``LeadershipLost`` otherwise). ``read()`` gives the
    queries, outside any transaction.
    """

    def begin(self, *, fence: Fence | None = None) -> AbstractContextManager[Transaction]: ...

    def read(self) -> AbstractContextManager[RegistryReader]: ...
