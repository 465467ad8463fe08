"""Numbered leases: who leads a kind of work, the fences of its transactions, the slots they claim.

A lease is a row of ``leases``; each time a process wins it, its ``term`` goes
up by one (``take_term``). A transaction fenced with ``Fence(lease, term)``
locks the row ``FOR SHARE`` and checks the term before its work
(``check_fence``); the lock lasts until the transaction ends, so a newer
leader's ``take_term`` waits for it, and a transaction whose term has passed
fails before it writes anything. A fence issued for a scheduled run also
claims the run's slot in ``scheduler_firings``, in that same transaction.

Who may take a term is decided by ``LeaseLock``: a PostgreSQL advisory lock
held by a database session of its own, which ends (and frees the lock) when
its process dies or stays silent longer than the lock's idle timeout.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import datetime

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from exchange_service.domain.errors import Unavailable
from exchange_service.domain.fencing import Fence, LeadershipLost, SlotAlreadyFired

_TAKE = text(
    "INSERT INTO leases AS l (name, term, holder, taken_at) VALUES (:name, 1, :holder, :at)"
    " ON CONFLICT (name) DO UPDATE SET term = l.term + 1, holder = :holder, taken_at = :at"
    " RETURNING term"
)
_CHECK = text("SELECT term FROM leases WHERE name = :name FOR SHARE")
# Any conflict (the slot, a covered span, or the firing's own id) leaves the row
# out; whether it was this firing's row decides between a repeat and a duplicate.
_CLAIM = text(
    "INSERT INTO scheduler_firings"
    " (id, job, slot, covers_from, lease, term, fired_by, fired_at)"
    " VALUES (:id, :job, :slot, :covers_from, :lease, :term, :fired_by, :fired_at)"
    " ON CONFLICT DO NOTHING RETURNING id"
)
_CLAIMED = text("SELECT EXISTS (SELECT FROM scheduler_firings WHERE id = :id)")
_LAST_SLOT = text("SELECT max(slot) FROM scheduler_firings WHERE job = :job")

# The advisory lock's first key: the leases' own space, apart from any other
# advisory lock; the second is the hash of the lease's name.
_LOCK_SPACE = 0x50414E54  # "PANT"
_TRY_LOCK = text("SELECT pg_try_advisory_lock(CAST(:space AS integer), hashtext(:lease))")
_UNLOCK = text("SELECT pg_advisory_unlock_all()")
_HOLDS_LOCK = text(
    "SELECT EXISTS (SELECT FROM pg_locks WHERE locktype = 'advisory' AND granted"
    " AND pid = pg_backend_pid() AND classid = CAST(:space AS oid)"
    " AND objid = CAST(hashtext(:lease) AS oid) AND objsubid = 2)"
)


def take_term(connection: Connection | Session, lease: str, holder: str, at: datetime) -> Fence:
    """Starts a new term of the lease for ``holder``; commit to make it count.

    Waits while a transaction fenced with the previous term is still open.
    """
    term = connection.execute(_TAKE, {"name": lease, "holder": holder, "at": at}).scalar_one()
    return Fence(lease, int(term))


def check_fence(connection: Connection | Session, fence: Fence) -> None:
    """Raises ``LeadershipLost`` unless the lease is still in the fence's term.

    Locks the lease's row until the transaction ends, so the term cannot
    change before the commit. A fence issued for a firing then claims its
    slot: ``SlotAlreadyFired`` if another run has committed that slot or one
    it covers (a later transaction of the same run claims nothing again).
    """
    current = connection.execute(_CHECK, {"name": fence.lease}).scalar_one_or_none()
    if current != fence.term:
        raise LeadershipLost(fence, None if current is None else int(current))
    firing = fence.firing
    if firing is None:
        return
    claimed = connection.execute(
        _CLAIM,
        {
            "id": firing.id,
            "job": firing.job,
            "slot": firing.slot,
            "covers_from": firing.covers_from,
            "lease": fence.lease,
            "term": fence.term,
            "fired_by": firing.fired_by,
            "fired_at": firing.fired_at,
        },
    ).scalar_one_or_none()
    if claimed is None and not connection.execute(_CLAIMED, {"id": firing.id}).scalar_one():
        raise SlotAlreadyFired(firing)


def last_fired_slot(connection: Connection | Session, job: str) -> datetime | None:
    """The latest slot of ``job`` whose run committed, if any."""
    slot = connection.execute(_LAST_SLOT, {"job": job}).scalar_one_or_none()
    return slot if isinstance(slot, datetime) else None


class LeaseLock:
    """The advisory lock of a lease, on a database session of its own: its holder may lead.

    The lock lives exactly as long as that session. The session ends when the
    process dies (its socket closes) or stays silent for ``idle_timeout_seconds``
    (the session's ``idle_session_timeout``: a paused process sends nothing),
    and another process's ``try_acquire`` then wins the lock. Every method
    raises ``Unavailable`` when the session is gone or the database cannot be
    reached; the next call opens a new session. Used by one thread at a time.
    """

    def __init__(
        self,
        url: str,
        lease: str,
        *,
        idle_timeout_seconds: float,
        statement_timeout_seconds: float,
        application_name: str = "pantau-lease",
    ) -> None:
        idle_ms = max(1, round(idle_timeout_seconds * 1000))
        statement_ms = max(1, round(statement_timeout_seconds * 1000))
        self.lease = lease
        self._engine = create_engine(
            url,
            poolclass=NullPool,
            isolation_level="AUTOCOMMIT",
            connect_args={
                "application_name": application_name,
                "options": f"-c TimeZone=UTC -c idle_session_timeout={idle_ms}"
                f" -c statement_timeout={statement_ms}",
                # The client gives up on an unreachable server as the server
                # gives up on a silent client.
                "connect_timeout": max(2, math.ceil(idle_timeout_seconds)),
                "tcp_user_timeout": idle_ms,
            },
        )
        self._connection: Connection | None = None

    def try_acquire(self) -> bool:
        """Takes the lock if no other session holds it; True if this session holds it now."""
        with self._session() as connection:
            return bool(connection.execute(_TRY_LOCK, self._keys()).scalar_one())

    def held(self) -> bool:
        """Whether this session still holds the lock; the call is also the heartbeat."""
        if self._connection is None:
            return False
        with self._session() as connection:
            return bool(connection.execute(_HOLDS_LOCK, self._keys()).scalar_one())

    def take_term(self, holder: str, at: datetime) -> Fence:
        """A new term of the lease, committed: call it holding the lock.

        Waits while a transaction fenced with the previous term is open; the
        work connections' idle-in-transaction timeout bounds that wait when
        the previous leader is paused inside one.
        """
        with self._session() as connection:
            return take_term(connection, self.lease, holder, at)

    def release(self) -> None:
        """Ends the session, and with it the lock (if it was held)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            # A closed session's locks go when its backend has exited, a
            # moment later; unlocking first hands the lock over at once.
            if not connection.invalidated:
                with suppress(SQLAlchemyError):
                    connection.execute(_UNLOCK)
            with suppress(SQLAlchemyError):  # the session may be gone already
                connection.close()

    def dispose(self) -> None:
        self.release()
        self._engine.dispose()

    def _keys(self) -> dict[str, object]:
        return {"space": _LOCK_SPACE, "lease": self.lease}

    @contextmanager
    def _session(self) -> Iterator[Connection]:
        try:
            if self._connection is None:
                self._connection = self._engine.connect()
            yield self._connection
        except DBAPIError as error:
            self.release()
            raise Unavailable(
                f"the session of lease {self.lease!r} is gone: {error.orig}"
            ) from error
