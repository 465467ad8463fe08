"""Engines, and the units of work that hand out the stores on one transaction."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg
import psycopg.errors
from psycopg import sql
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from exchange_service.domain.deadlines import seconds_left
from exchange_service.domain.errors import DeadlineExceeded, Unavailable
from exchange_service.domain.fencing import Fence
from exchange_service.storage.alert_store import AlertStore
from exchange_service.storage.audit_inbox import AuditInboxStore
from exchange_service.storage.feed_store import FeedStore
from exchange_service.storage.leases import check_fence
from exchange_service.storage.registry_reader import RegistryReader
from exchange_service.storage.registry_store import RegistryStore
from exchange_service.storage.report_store import ReportStore
from exchange_service.storage.watchlist_store import WatchlistStore


def make_engine(
    url: str,
    *,
    pool_size: int = 10,
    application_name: str = "pantau",
    read_only: bool = False,
    search_similarity_threshold: float | None = None,
    session_settings: Mapping[str, str | int] | None = None,
) -> Engine:
    """An engine whose sessions work in UTC; ``read_only`` ones autocommit and cannot write.

    Settings travel in the connection's start-up packet, and no ping precedes a
    checkout, so a call costs only its own statements' round trips. A
    connection broken by a database restart fails its call with Unavailable
    (the caller retries) and is replaced. The name search reads its trigram
    threshold from the session, so the engines that serve it start with
    ``search_similarity_threshold``. ``session_settings`` are further
    PostgreSQL settings every session starts with (the scheduler's work
    connections bound how long a transaction may sit idle).
    """
    # JIT compilation costs more than these short statements ever run.
    options = "-c TimeZone=UTC -c jit=off"
    if read_only:
        options += " -c default_transaction_read_only=on"
    if search_similarity_threshold is not None:
        options += f" -c pg_trgm.similarity_threshold={float(search_similarity_threshold)!r}"
    for name, value in (session_settings or {}).items():
        options += f" -c {name}={value}"
    return create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_recycle=1800,
        isolation_level="AUTOCOMMIT" if read_only else "READ COMMITTED",
        connect_args={"application_name": application_name, "options": options},
    )


@dataclass(frozen=True)
class Transaction:
    """The stores of one database transaction: what they write commits together or not at all.

    Every store works on the same session; stores of later areas (the
    alerts' outbox) join here, so an alert and its deliveries commit as one.
    """

    registry: RegistryStore
    alerts: AlertStore
    # Audit events of this transaction's work, chained by the trail's writer once committed.
    audit: AuditInboxStore
    feed: FeedStore
    watchlist: WatchlistStore
    reports: ReportStore


class _Transactions:
    """Opens transactions of a session factory and hands out the stores on each."""

    def __init__(self, sessions: sessionmaker[Session], boundary_tolerance_meters: float) -> None:
        self._sessions = sessions
        self._tolerance = boundary_tolerance_meters

    @contextmanager
    def begin(self, *, fence: Fence | None = None) -> Iterator[Transaction]:
        """The stores on a new transaction, committed if the block ends without an error.

        With a ``fence``, the transaction first checks that the lease is still
        in the fence's term and keeps it so until the commit (``LeadershipLost``
        otherwise, before anything is written).
        """
        with _database_errors(), self._sessions() as session, session.begin():
            _bound_transaction(session)
            if fence is not None:
                check_fence(session, fence)
            yield Transaction(
                registry=RegistryStore(session, boundary_tolerance_meters=self._tolerance),
                alerts=AlertStore(session),
                audit=AuditInboxStore(session),
                feed=FeedStore(session),
                watchlist=WatchlistStore(session),
                reports=ReportStore(session),
            )


class UnitOfWork(_Transactions):
    """Opens one transaction per use case: committed on success, rolled back otherwise.

    Statements are bounded by the deadline of the call being served, so a
    caller that gives up does not leave work running; a timed-out or
    unreachable database becomes ``DeadlineExceeded`` or ``Unavailable``.
    """

    def __init__(
        self,
        engine: Engine,
        read_engine: Engine | None = None,
        *,
        boundary_tolerance_meters: float,
    ) -> None:
        super().__init__(
            sessionmaker(engine, expire_on_commit=False, autoflush=False),
            boundary_tolerance_meters,
        )
        self._read_engine = read_engine or engine

    @contextmanager
    def read(self) -> Iterator[RegistryReader]:
        """Queries on a pooled read-only connection, each statement on its own snapshot.

        The read paths are single statements, so they need no transaction:
        one round trip per query. A connection the database dropped is
        discarded from the pool, and the call fails with ``Unavailable``.
        """
        with _database_errors():
            pooled = self._read_engine.raw_connection()
        try:
            connection = pooled.driver_connection
            if not isinstance(connection, psycopg.Connection):
                raise TypeError("read connections must be psycopg connections")
            with _driver_errors(pooled):
                _bound_connection(connection, pooled.info)
                yield RegistryReader(connection)
        finally:
            pooled.close()


class SavepointUnitOfWork(_Transactions):
    """Units of work nested in a transaction the caller holds open on one connection.

    Each use case's transaction is a savepoint (released on success, rolled
    back on an error), and the queries run on the same connection, so they
    see what was written; the caller decides whether any of it is kept. The
    service tests roll it all back at the end of each test.
    """

    def __init__(self, connection: Connection, *, boundary_tolerance_meters: float) -> None:
        if not connection.in_transaction():
            raise ValueError("the connection must be inside a transaction")
        super().__init__(
            sessionmaker(
                bind=connection,
                expire_on_commit=False,
                autoflush=False,
                join_transaction_mode="create_savepoint",
            ),
            boundary_tolerance_meters,
        )
        self._connection = connection

    @contextmanager
    def read(self) -> Iterator[RegistryReader]:
        """The same prepared queries, on the caller's connection and inside its transaction."""
        pooled = self._connection.connection
        connection = pooled.driver_connection
        if not isinstance(connection, psycopg.Connection):
            raise TypeError("connections must be psycopg connections")
        with _driver_errors(pooled):
            yield RegistryReader(connection)


def _bound_transaction(session: Session) -> None:
    left = seconds_left()
    if left is None:
        return
    if left <= 0:
        raise DeadlineExceeded("the deadline passed before the work started")
    session.execute(text(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}"))


# Session-wide statement timeouts, ms: the largest step within the call's
# deadline is set, and only when it changes, so most calls send nothing extra.
_TIMEOUT_STEPS_MS = (100, 250, 500, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 300_000)


def statement_timeout_ms(left: float | None) -> int:
    """The session's statement timeout for a call with ``left`` seconds (None: no call), ms."""
    if left is None:
        return 0  # no limit, outside a call
    if left <= 0:
        raise DeadlineExceeded("the deadline passed before the work started")
    left_ms = int(left * 1000)
    fitting = [step for step in _TIMEOUT_STEPS_MS if step <= left_ms]
    return fitting[-1] if fitting else max(1, left_ms)


def _bound_connection(connection: psycopg.Connection[Any], info: dict[Any, Any]) -> None:
    wanted = statement_timeout_ms(seconds_left())
    if info.get("statement_timeout") != wanted:
        connection.execute(sql.SQL("SET statement_timeout = {}").format(wanted))
        info["statement_timeout"] = wanted


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        if isinstance(error.orig, psycopg.errors.QueryCanceled):
            raise DeadlineExceeded("the deadline passed while the database worked") from error
        if isinstance(error.orig, psycopg.errors.IdleInTransactionSessionTimeout):
            # A transaction left idle too long (a paused scheduler's run) is ended.
            raise Unavailable("the database ended the transaction: it sat idle too long") from error
        if isinstance(error, OperationalError):
            raise Unavailable("the database cannot be reached") from error
        raise


@contextmanager
def _driver_errors(pooled: Any) -> Iterator[None]:
    """Errors of psycopg itself, on a connection taken from the pool unwrapped."""
    try:
        yield
    except psycopg.errors.QueryCanceled as error:
        raise DeadlineExceeded("the deadline passed while the database worked") from error
    except psycopg.OperationalError as error:
        pooled.invalidate(error)
        raise Unavailable("the database cannot be reached") from error
