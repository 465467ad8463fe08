"""Service-level tests: the use cases called directly on the real PostGIS, with no gRPC.

Each test runs inside one transaction on one connection, rolled back at the
end: the use cases' transactions are savepoints in it (``SavepointUnitOfWork``),
and their queries run on that same connection, so they see what the test
wrote. The service's own read path, pooled read-only autocommit connections,
could not see it; how that path behaves (deadlines, lost connections, the
trigram threshold) is tested in ``tests/integration/test_reader.py``.

The use cases go by the ``clock`` fixture, which stands still until a test
sets it; no test reads the system's clock.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, text

from exchange_service.app import query_options, registry_options, rule_engine_options
from exchange_service.audit.store import waiting_events
from exchange_service.domain.audit import AuditEvent
from exchange_service.services import Queries, Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings, load_settings
from exchange_service.storage.database import SavepointUnitOfWork, make_engine
from scheduler.rules import RULES
from tests.conftest import HISTORY_AND_RECORD_TABLES

WIB = ZoneInfo("Asia/Jakarta")

# Where the clock stands unless a test sets it: a Tuesday morning in Tarempa
# (09:00 WIB), far from midnight in WIB and in UTC.
DEFAULT_INSTANT = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)


def wib_day(instant: datetime) -> date:
    """The calendar day in the office (WIB) at an instant."""
    return instant.astimezone(WIB).date()


class SettableClock:
    """The time the use cases go by: it stands still at an instant the test sets."""

    def __init__(self, instant: datetime) -> None:
        self._instant = instant

    def __call__(self) -> datetime:
        return self._instant

    def set(self, instant: datetime) -> None:
        if instant.tzinfo is None:
            raise ValueError("the clock holds aware instants only")
        self._instant = instant

    def ago(self, **delta: float) -> datetime:
        return self._instant - timedelta(**delta)

    def today(self) -> date:
        """Today in the office (WIB)."""
        return wib_day(self._instant)


@pytest.fixture
def clock() -> SettableClock:
    return SettableClock(DEFAULT_INSTANT)


@pytest.fixture(scope="session")
def service_settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url)


@pytest.fixture(scope="session")
def service_engine(database_url: str, service_settings: Settings) -> Iterator[Engine]:
    # Its connections start as the service's read connections do, with the
    # trigram threshold of the name search.
    engine = make_engine(
        database_url,
        pool_size=1,
        application_name="pantau-service-test",
        search_similarity_threshold=service_settings.search_similarity_threshold,
    )
    yield engine
    engine.dispose()


@pytest.fixture
def connection(service_engine: Engine) -> Iterator[Connection]:
    """A connection inside a transaction that is rolled back when the test ends."""
    with service_engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


@pytest.fixture
def uow(connection: Connection, service_settings: Settings) -> SavepointUnitOfWork:
    return SavepointUnitOfWork(
        connection, boundary_tolerance_meters=service_settings.boundary_tolerance_meters
    )


@pytest.fixture
def registry(
    uow: SavepointUnitOfWork, service_settings: Settings, clock: SettableClock
) -> Registry:
    return Registry(uow, registry_options(service_settings), clock)


@pytest.fixture
def queries(uow: SavepointUnitOfWork, service_settings: Settings, clock: SettableClock) -> Queries:
    return Queries(uow, query_options(service_settings), clock)


class RowCountsInTransaction:
    """Counts of rows in every record table as the test's transaction sees them."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def snapshot(self) -> dict[str, int]:
        return {
            table: int(self._connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
            for table in HISTORY_AND_RECORD_TABLES
        }


@pytest.fixture
def row_counts(connection: Connection) -> RowCountsInTransaction:
    return RowCountsInTransaction(connection)


# --- the rule engine ---------------------------------------------------------------


class AuditEvents:
    """The audit events the use cases recorded, waiting in the audit inbox, oldest first.

    As the test's transaction sees them; the trail's writer, which chains
    them (signing, writing, verifying), is tested in ``tests/audit``. Here
    what matters is which events the use cases report.
    """

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    @property
    def events(self) -> list[AuditEvent]:
        waiting = waiting_events(self._connection, excluding=(), limit=10_000)
        return [w.event for w in waiting]


@pytest.fixture
def audit_events(connection: Connection) -> AuditEvents:
    return AuditEvents(connection)


@pytest.fixture
def rule_engine(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
) -> RuleEngine:
    """The rule engine on the test's transaction, with the rules of ``scheduler.rules``."""
    return RuleEngine(uow, RULES, rule_engine_options(service_settings), clock=clock)
