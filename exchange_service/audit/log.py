"""The audit trail as a service: chains each event's record in memory, writes them in batches.

Any part of Pantau above storage records through it (``AuditLog.record``
with one ``AuditEvent``): the gRPC layer one event per call, the scheduler
and delivery workers one per rule run or delivery.

``AuditLog.record`` costs no database round trip: under a lock it numbers the
record, links it to the previous one and computes its hash (some
microseconds), then queues it. One writer thread inserts the queue every
``flush_interval`` seconds (50 ms) or as soon as ``flush_batch`` (500) records
wait, in one multi-row INSERT, and signs a checkpoint whenever
``checkpoint_every_records`` records or ``checkpoint_every_seconds`` seconds
have passed since the last one: the checkpoint goes into the database in the
same transaction as the records it covers, then is appended (and fsynced) to
the checkpoint file.

Durability window: a record is in memory only from ``record`` until the next
flush, normally at most ~50 ms. A crash (power loss, SIGKILL) in that window
loses those records; ``close`` flushes everything and signs a final
checkpoint. While the database is unreachable the writer keeps the records in
order and retries; past ``max_backlog`` waiting records ``accepting`` turns
False, and the server edge then refuses calls (UNAVAILABLE, itself recorded)
instead of serving personal data that could not be accounted for.

One process writes a given trail: the writer holds a PostgreSQL advisory lock
for its lifetime, and a second ``AuditLog`` on the same database fails to
start.

The inbox: any other process (the scheduler, a rule run beside the server)
records its events in the ``audit_inbox`` table, in the transaction of the
work they account for (``storage.audit_inbox``). The writer thread drains it
on every flush: it chains the committed inbox events after the records queued
so far, each at its own time or the last record's if that is later, and
deletes them in the transaction that inserts their records, so an event is
chained exactly once whenever the writer dies. The inbox ids it holds are
kept apart by id, not by a high-water mark: a lower id may commit later.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from exchange_service.audit import store
from exchange_service.audit.chain import (
    GENESIS,
    AuditRecord,
    ChainHead,
    Checkpoint,
    sign_checkpoint,
)
from exchange_service.domain.audit import AuditEvent, record_of
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.settings import Settings
from exchange_service.signing.files import ensure_private_key, load_private_key
from exchange_service.storage.database import make_engine

log = logging.getLogger(__name__)


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL: one in a request must not jam the writer."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


class AuditUnavailable(RuntimeError):
    """The audit log cannot start, or was closed: nothing can be recorded."""


@dataclass(frozen=True)
class AuditLogOptions:
    checkpoint_every_records: int = 1000
    checkpoint_every_seconds: float = 300.0
    flush_interval: float = 0.05
    flush_batch: int = 500
    max_backlog: int = 100_000
    # How long ``close`` keeps retrying a database that cannot be reached.
    close_timeout: float = 30.0


class AuditLog:
    """Thread-safe, append-only audit trail continuing the chain already in the database.

    Implements ``domain.audit.AuditRecorder``.

    Guarantees: records get consecutive seqs in the order ``record`` is
    called, each linked to the one before; the database receives them in that
    order and nothing is dropped while the process lives; times never go
    backwards along the chain (so a time range is a contiguous seq range).
    """

    def __init__(
        self,
        engine: Engine,
        signing_key: Ed25519PrivateKey,
        checkpoint_file: Path,
        options: AuditLogOptions | None = None,
        *,
        clock: Clock = system_clock,
        owns_engine: bool = False,
    ) -> None:
        self._engine = engine
        self._owns_engine = owns_engine
        self._key = signing_key
        self._file = checkpoint_file
        self._options = options or AuditLogOptions()
        self._clock = clock
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._flushed = threading.Condition()
        self._pending: list[AuditRecord] = []
        self._closing = False
        self._closed = False
        self._fatal: str | None = None
        self._file_backlog: list[Checkpoint] = []
        # The inbox id of each record chained from the inbox and not yet written
        # (by seq; only the writer thread uses it).
        self._inbox_ids: dict[int, int] = {}
        self._connection: Connection | None = None
        connection = self._connect()
        last = store.last_record(connection)
        checkpoint = store.last_checkpoint(connection)
        connection.rollback()
        self._head = GENESIS if last is None else last.head
        self._last_at = None if last is None else last.at
        # Written to the database (only the writer thread changes these).
        self._written = self._head
        self._signed_seq = 0 if checkpoint is None else checkpoint.seq
        self._signed_at = time.monotonic()
        if self._written.seq > self._signed_seq:
            # Left unsigned by an unclean stop: sign them at the first opportunity.
            self._signed_at -= self._options.checkpoint_every_seconds
        self._warn_if_file_ahead()
        self._thread = threading.Thread(target=self._run, name="pantau-audit-writer", daemon=True)
        self._thread.start()
        if self._written.seq > self._signed_seq:
            log.warning(
                "audit: records %d to %d were written before an unclean stop and never"
                " signed; the next checkpoint covers them",
                self._signed_seq + 1,
                self._written.seq,
            )
            self._wake.set()

    # --- the callers' side -------------------------------------------------------

    def record(self, event: AuditEvent) -> AuditRecord:
        """Appends the event to the chain and queues its record for the database.

        Returns at once (no I/O). Raises ``AuditUnavailable`` after ``close``.
        NUL characters, which PostgreSQL text cannot store, become U+FFFD.
        """
        with self._lock:
            if self._closed:
                raise AuditUnavailable("the audit log is closed")
            at = self._clock()
            if self._last_at is not None and at < self._last_at:
                at = self._last_at
            record = record_of(self._head, at, event, _text)
            self._head = record.head
            self._last_at = at
            self._pending.append(record)
            if len(self._pending) == self._options.flush_batch:
                self._wake.set()
        return record

    @property
    def head(self) -> ChainHead:
        """The last record appended (written or not)."""
        with self._lock:
            return self._head

    @property
    def accepting(self) -> bool:
        """False when records cannot reach the database fast enough (or at all)."""
        return (
            self._fatal is None
            and not self._closed
            and len(self._pending) < self._options.max_backlog
        )

    def flush(self, timeout: float = 10.0) -> bool:
        """Waits until every record appended so far is in the database; False on timeout."""
        target = self.head.seq
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._flushed:
            while self._written.seq < target:
                left = deadline - time.monotonic()
                if left <= 0 or self._fatal is not None:
                    return False
                self._flushed.wait(left)
        return True

    def close(self) -> None:
        """Writes every queued record, signs a final checkpoint, stops the writer.

        Call it after the server has stopped serving; ``record`` fails afterwards.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._closing = True
        self._wake.set()
        self._thread.join()
        if self._connection is not None:
            self._connection.close()  # also releases the writer lock
            self._connection = None
        if self._owns_engine:
            self._engine.dispose()

    # --- the writer thread -----------------------------------------------------------

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:
            self._fatal = "the audit writer failed"
            log.critical("audit: the writer failed; no more records can be written", exc_info=True)
            with self._flushed:
                self._flushed.notify_all()

    def _loop(self) -> None:
        close_deadline: float | None = None
        while True:
            self._wake.wait(self._options.flush_interval)
            self._wake.clear()
            with self._lock:
                closing = self._closing
            # Drained after reading ``closing``: whatever committed before ``close``
            # was called is in the trail when it returns.
            more = self._drain_inbox()
            with self._lock:
                batch, self._pending = self._pending, []
            if closing and close_deadline is None:
                close_deadline = time.monotonic() + self._options.close_timeout
            unwritten = self._write(batch, final=closing and not more)
            if unwritten is not None:
                with self._lock:
                    self._pending[:0] = unwritten  # keep the order; retry
                if close_deadline is not None and (
                    self._fatal is not None or time.monotonic() > close_deadline
                ):
                    with self._lock:
                        lost = self._pending
                    log.critical(
                        "audit: stopping with records %s NOT written to the database"
                        " (those of them drained from the inbox stay there for the next writer)",
                        f"{lost[0].seq} to {lost[-1].seq}" if lost else "(none)",
                    )
                    return
                time.sleep(min(1.0, self._options.flush_interval * 10))
                continue
            self._write_file_backlog()
            if more:
                self._wake.set()
            elif closing:
                with self._lock:
                    if not self._pending:
                        return

    def _drain_inbox(self) -> bool:
        """Chains committed inbox events after the records queued so far; True if more wait.

        Reads on the writer's connection, in the transaction ``_write`` then
        commits with their records and the deletion of their rows. Events
        already chained and not yet written are left out by their ids.
        """
        connection = self._connection
        if connection is None or self._fatal is not None:
            return False  # ``_write`` reconnects first; the next round drains
        with self._lock:
            limit = min(self._options.flush_batch, self._options.max_backlog - len(self._pending))
        if limit <= 0:
            return False
        try:
            waiting = store.waiting_events(
                connection, excluding=self._inbox_ids.values(), limit=limit
            )
            if not waiting:
                connection.rollback()
                return False
        except (SQLAlchemyError, psycopg.Error):
            log.exception("audit: cannot read the inbox; will retry")
            self._drop_connection()
            return False
        with self._lock:
            for waiting_event in waiting:
                at = waiting_event.at
                if self._last_at is not None and at < self._last_at:
                    at = self._last_at
                record = record_of(self._head, at, waiting_event.event, _text)
                self._head = record.head
                self._last_at = at
                self._pending.append(record)
                self._inbox_ids[record.seq] = waiting_event.id
        return len(waiting) == limit

    def _write(self, batch: list[AuditRecord], *, final: bool) -> list[AuditRecord] | None:
        """Inserts the batch and any due checkpoints in one transaction.

        Returns None when done, else the records still to write (to retry).
        """
        if self._fatal is not None:
            return batch
        try:
            connection = self._connection
            if connection is None:
                connection = self._reconnect()
                landed = self._landed_earlier(connection, batch)
                if landed:
                    self._mark_written(
                        batch[:landed],
                        store.load_checkpoints(connection, from_seq=self._signed_seq + 1),
                    )
                    connection.rollback()
                    batch = batch[landed:]
            checkpoints = self._due_checkpoints(batch, final=final)
            if not batch and not checkpoints:
                return None
            store.insert_records(connection, batch)
            self._delete_drained(connection, batch)
            store.insert_checkpoints(connection, checkpoints)
            connection.commit()
        except (SQLAlchemyError, psycopg.Error, AuditUnavailable):
            log.exception("audit: cannot write %d records; will retry", len(batch))
            self._drop_connection()
            return batch
        self._mark_written(batch, checkpoints)
        return None

    def _delete_drained(self, connection: Connection, batch: list[AuditRecord]) -> None:
        """Deletes the inbox rows of the batch's records, in the transaction inserting them."""
        if not self._inbox_ids:
            return
        ids = [self._inbox_ids[r.seq] for r in batch if r.seq in self._inbox_ids]
        if store.delete_inbox_events(connection, ids) != len(ids):
            self._fatal = "inbox events this writer chained were deleted by another process"
            log.critical("audit: %s; refusing to write", self._fatal)
            raise AuditUnavailable(self._fatal)

    def _mark_written(self, batch: list[AuditRecord], checkpoints: list[Checkpoint]) -> None:
        if self._inbox_ids:
            for record in batch:
                self._inbox_ids.pop(record.seq, None)
        if batch:
            with self._flushed:
                self._written = batch[-1].head
                self._flushed.notify_all()
        if checkpoints:
            self._signed_seq = checkpoints[-1].seq
            self._signed_at = time.monotonic()
            self._file_backlog.extend(checkpoints)

    def _landed_earlier(self, connection: Connection, batch: list[AuditRecord]) -> int:
        """After a reconnection: how many records of the batch an earlier commit did write.

        A commit whose answer was lost may or may not have happened; the
        trail in the database says which. Inbox rows went with their records
        (one transaction): those of the landed records are gone, the others
        wait, still held by this writer, for the retry to delete them. A trail
        ending anywhere else means another writer, and this log stops writing
        (``accepting`` turns False).
        """
        last = store.last_record(connection)
        connection.rollback()
        found = GENESIS if last is None else last.head
        if found == self._written:
            return 0
        offset = found.seq - self._written.seq
        if 0 < offset <= len(batch) and batch[offset - 1].head == found:
            return offset
        self._fatal = (
            f"the trail in the database ends at seq {found.seq}, not at seq"
            f" {self._written.seq} as this process wrote it"
        )
        log.critical("audit: %s; refusing to write", self._fatal)
        raise AuditUnavailable(self._fatal)

    def _due_checkpoints(self, batch: list[AuditRecord], *, final: bool) -> list[Checkpoint]:
        every = self._options.checkpoint_every_records
        signed = self._signed_seq
        due: list[ChainHead] = []
        for record in batch:
            if record.seq - signed >= every:
                due.append(record.head)
                signed = record.seq
        end = batch[-1].head if batch else self._written
        if end.seq > signed and (
            final or time.monotonic() - self._signed_at >= self._options.checkpoint_every_seconds
        ):
            due.append(end)
        now = self._clock()
        return [sign_checkpoint(self._key, head, now) for head in due]

    def _write_file_backlog(self) -> None:
        if not self._file_backlog:
            return
        try:
            store.append_checkpoint_lines(self._file, self._file_backlog)
        except OSError:
            log.exception("audit: cannot append to the checkpoint file %s; will retry", self._file)
            return
        self._file_backlog = []

    # --- the connection ------------------------------------------------------------

    def _connect(self) -> Connection:
        connection = self._engine.connect()
        try:
            if not store.try_writer_lock(connection):
                raise AuditUnavailable(
                    "another process is writing this audit trail (advisory lock"
                    f" {store.WRITER_LOCK_KEY} is held)"
                )
            connection.commit()
        except BaseException:
            connection.close()
            raise
        self._connection = connection
        return connection

    def _reconnect(self) -> Connection:
        log.info("audit: reconnecting to the database")
        return self._connect()

    def _drop_connection(self) -> None:
        if self._connection is not None:
            try:
                self._connection.invalidate()
                self._connection.close()
            except (SQLAlchemyError, psycopg.Error):
                pass
            self._connection = None

    def _warn_if_file_ahead(self) -> None:
        if not self._file.exists():
            return
        try:
            checkpoints, _problems = store.read_checkpoint_file(self._file)
        except OSError:
            return
        covered = max((c.seq for c in checkpoints), default=0)
        if covered > self._head.seq:
            log.critical(
                "audit: the checkpoint file covers seq %d but the database trail ends at"
                " seq %d: records were deleted; `pantau audit verify` shows the details",
                covered,
                self._head.seq,
            )


def open_audit_log(
    settings: Settings, options: AuditLogOptions | None = None, *, clock: Clock = system_clock
) -> AuditLog:
    """The audit log the settings describe, its key created if missing, writer started."""
    ensure_private_key(settings.audit_signing_key_file)
    key = load_private_key(settings.audit_signing_key_file)
    engine = make_engine(settings.database_url, pool_size=1, application_name="pantau-audit")
    base = options or AuditLogOptions()
    options = AuditLogOptions(
        checkpoint_every_records=settings.audit_checkpoint_every_records,
        checkpoint_every_seconds=settings.audit_checkpoint_every_seconds,
        flush_interval=base.flush_interval,
        flush_batch=base.flush_batch,
        max_backlog=base.max_backlog,
        close_timeout=base.close_timeout,
    )
    try:
        return AuditLog(
            engine, key, settings.audit_checkpoint_file, options, clock=clock, owns_engine=True
        )
    except BaseException:
        engine.dispose()
        raise
