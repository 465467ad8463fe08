"""The alert tables hold their rules on their own, and concurrent runs cannot duplicate an alert.

These tests commit, so they work in a database of their own.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, create_engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from exchange_service.app import build_application, build_rule_engine, rule_settings
from exchange_service.domain.alerts import RuleName, RuleRun
from exchange_service.domain.audit import Actor
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings, load_settings
from exchange_service.storage.database import UnitOfWork
from scheduler.rules import RULES
from tests.conftest import fresh_database
from tests.feeds import feed_key_settings
from tests.service.conftest import SettableClock
from tests.service.stays import visitor_until, wib

LAST_DAY = date(2026, 5, 31)
AS_OF = wib(LAST_DAY + timedelta(days=9))
OVERSTAYERS = 5


@dataclass(frozen=True)
class Database:
    settings: Settings
    engine: Engine
    registry: Registry
    clock: SettableClock


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    with fresh_database("pantau_test_alerts") as url:
        settings = load_settings(
            database_url=url,
            grpc_workers=4,
            **feed_key_settings(tmp_path_factory.mktemp("feed-keys")),
        )
        clock = SettableClock(AS_OF)
        application = build_application(settings, clock=clock)
        engine = create_engine(url)
        try:
            yield Database(settings, engine, application.registry, clock)
        finally:
            engine.dispose()
            application.close()


@pytest.fixture(scope="module")
def overstayers(database: Database) -> list[str]:
    return [
        visitor_until(
            database.registry, database.clock, LAST_DAY - timedelta(days=n), family=f"Pham{n}"
        ).subject_id
        for n in range(OVERSTAYERS)
    ]


def _rule_engine(database: Database) -> RuleEngine:
    return build_rule_engine(database.settings, database.engine, RULES, clock=database.clock)


def _count(engine: Engine, sql: str, **values: Any) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text(sql), values).scalar_one())


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def _waiting_sessions(engine: Engine, lock_type: str) -> int:
    return _count(
        engine, "SELECT count(*) FROM pg_locks WHERE NOT granted AND locktype = :t", t=lock_type
    )


def _insert_alert(
    connection: Connection, *, subject: str, stay_id: uuid.UUID | None, status: str = "OPEN"
) -> None:
    resolved = status == "RESOLVED"
    connection.execute(
        text(
            "INSERT INTO alerts (id, rule, subject_kind, subject_id, stay_id, severity, status,"
            " evidence, summary_id, summary_en, action, facts, first_detected_at, changed_at,"
            " resolved_at, resolution_reason)"
            " VALUES (gen_random_uuid(), 'SPONSOR_OVERSTAY_CLUSTER', 'SPONSOR', :subject, :stay,"
            " 'WARNING', :status, '{}', '', '', 'SPONSOR_REVIEW', 'f', now(), now(),"
            " CASE WHEN :resolved THEN now() END, CASE WHEN :resolved THEN 'REVIEWED' END)"
        ),
        {"subject": subject, "stay": stay_id, "status": status, "resolved": resolved},
    )


# --- what the tables hold themselves ---------------------------------------------------


@pytest.mark.parametrize("status", ["OPEN", "ACKNOWLEDGED", "CONFIRMED"])
def test_the_database_holds_one_open_alert_per_key_with_or_without_a_stay(
    database: Database, status: str
) -> None:
    subject = f"sponsor-{uuid.uuid4().hex[:8]}"
    with database.engine.connect() as connection:
        _insert_alert(connection, subject=subject, stay_id=None)
        with pytest.raises(IntegrityError, match="uq_alerts_one_open_per_key"):
            _insert_alert(connection, subject=subject, stay_id=None, status=status)
        connection.rollback()


def test_a_dismissed_or_resolved_alert_leaves_room_for_a_new_open_one(database: Database) -> None:
    subject = f"sponsor-{uuid.uuid4().hex[:8]}"
    with database.engine.connect() as connection:
        _insert_alert(connection, subject=subject, stay_id=None, status="DISMISSED")
        _insert_alert(connection, subject=subject, stay_id=None, status="RESOLVED")
        _insert_alert(connection, subject=subject, stay_id=None)
        assert (
            connection.execute(
                text("SELECT count(*) FROM alerts WHERE subject_id = :s"), {"s": subject}
            ).scalar_one()
            == 3
        )
        connection.rollback()


@pytest.mark.parametrize(
    ("column", "value", "constraint"),
    [
        ("severity", "SEVERE", "ck_alerts_severity_name"),
        ("status", "CLOSED", "ck_alerts_status_name"),
        ("action", "JAIL", "ck_alerts_action_name"),
        ("rule", "LOITERING", "ck_alerts_rule_name"),
    ],
)
def test_the_database_refuses_names_the_domain_does_not_know(
    database: Database, column: str, value: str, constraint: str
) -> None:
    with database.engine.connect() as connection:
        _insert_alert(connection, subject=f"sponsor-{uuid.uuid4().hex[:8]}", stay_id=None)
        with pytest.raises(IntegrityError, match=constraint):
            connection.execute(text(f"UPDATE alerts SET {column} = :v"), {"v": value})
        connection.rollback()


def test_a_resolved_alert_needs_its_time_and_reason(database: Database) -> None:
    with database.engine.connect() as connection:
        _insert_alert(connection, subject=f"sponsor-{uuid.uuid4().hex[:8]}", stay_id=None)
        with pytest.raises(IntegrityError, match="ck_alerts_resolved_with_reason"):
            connection.execute(text("UPDATE alerts SET status = 'RESOLVED'"))
        connection.rollback()


@pytest.mark.parametrize("table", ["alert_events", "rule_runs"])
def test_events_and_run_records_are_append_only(
    database: Database, overstayers: list[str], table: str
) -> None:
    _rule_engine(database).run(RuleName.OVERSTAY, as_of=AS_OF)
    with database.engine.connect() as connection:
        for statement in (
            f"UPDATE {table} SET rule = rule",
            f"DELETE FROM {table}",
            f"TRUNCATE {table} CASCADE",
        ):
            nested = connection.begin_nested()
            with pytest.raises(DBAPIError, match="append-only"):
                connection.execute(text(statement))
            nested.rollback()
        connection.rollback()


# --- concurrent runs -----------------------------------------------------------------


def _alerts_and_events(database: Database, subjects: list[str]) -> tuple[int, int, int]:
    alerts = _count(
        database.engine,
        "SELECT count(*) FROM alerts WHERE rule = 'OVERSTAY' AND subject_id = ANY(:s)",
        s=subjects,
    )
    distinct = _count(
        database.engine,
        "SELECT count(DISTINCT (subject_id, stay_id)) FROM alerts"
        " WHERE rule = 'OVERSTAY' AND subject_id = ANY(:s)",
        s=subjects,
    )
    opened = _count(
        database.engine,
        "SELECT count(*) FROM alert_events WHERE rule = 'OVERSTAY' AND kind = 'OPENED'"
        " AND subject_id = ANY(:s)",
        s=subjects,
    )
    return alerts, distinct, opened


def test_two_runs_of_a_rule_at_once_open_each_alert_once(
    database: Database, overstayers: list[str]
) -> None:
    """Both runs are released together; one opens the alerts, the other finds them open."""
    as_of = AS_OF + timedelta(days=30)  # a later day: every alert of the rule changes
    engines = [_rule_engine(database), _rule_engine(database)]
    runs: list[RuleRun] = []
    lock = text("SELECT pg_advisory_lock(hashtextextended('rule-run:OVERSTAY', 0))")
    with database.engine.connect() as gate:
        gate.execute(lock)
        threads = [
            threading.Thread(target=lambda e=e: runs.append(e.run(RuleName.OVERSTAY, as_of)))
            for e in engines
        ]
        for thread in threads:
            thread.start()
        _wait_until(lambda: _waiting_sessions(database.engine, "advisory") == 2)
        gate.execute(text("SELECT pg_advisory_unlock_all()"))
        for thread in threads:
            thread.join(timeout=30)
    assert len(runs) == 2
    assert all(run.error is None for run in runs)
    first, second = sorted(runs, key=lambda run: run.changed, reverse=True)
    assert first.changed >= OVERSTAYERS
    assert second.changed == 0
    alerts, distinct, opened = _alerts_and_events(database, overstayers)
    assert alerts == distinct == opened == OVERSTAYERS
    for run in runs:  # each run's audit event, in the inbox with the run
        assert (
            _count(
                database.engine,
                "SELECT count(*) FROM audit_inbox WHERE purpose LIKE :run",
                run=f"rule run {run.id} %",
            )
            == 1
        )


def test_without_the_rules_lock_the_unique_index_still_refuses_a_second_alert(
    database: Database,
) -> None:
    """Two transactions diff the same findings at once; the second waits, then opens nothing."""
    subjects = [
        visitor_until(
            database.registry, database.clock, LAST_DAY - timedelta(days=n), family=f"Vo{n}"
        ).subject_id
        for n in range(3)
    ]
    rule = RULES[RuleName.PERMIT_EXPIRING]
    as_of = wib(LAST_DAY - timedelta(days=5))
    today = as_of.date()
    parameters = {
        **rule.parameters(rule_settings(database.settings), as_of, today),
        "as_of": as_of,
        "today": today,
        "rule": str(rule.name),
    }
    uow = UnitOfWork(database.engine, boundary_tolerance_meters=0)
    actor = Actor.system("rules")
    second_opened: list[int] = []

    def diff_and_commit() -> None:
        run_id = uuid.uuid4()
        with uow.begin() as tx:
            changes = tx.alerts.apply_rule(rule, parameters, run_id=run_id, actor=actor)
            tx.alerts.record_run(RuleRun(run_id, rule.name, as_of, as_of, as_of, "rules"))
        second_opened.append(changes.opened)

    with uow.begin() as tx:
        run_id = uuid.uuid4()
        first = tx.alerts.apply_rule(rule, parameters, run_id=run_id, actor=actor)
        tx.alerts.record_run(RuleRun(run_id, rule.name, as_of, as_of, as_of, "rules"))
        second = threading.Thread(target=diff_and_commit)
        second.start()
        # The second transaction waits on the first one's new alerts in the unique index.
        _wait_until(lambda: _waiting_sessions(database.engine, "transactionid") >= 1)
    second.join(timeout=30)
    assert first.opened >= 3
    assert second_opened == [0]
    counts = (
        _count(
            database.engine,
            "SELECT count(*) FROM alerts WHERE rule = 'PERMIT_EXPIRING' AND subject_id = ANY(:s)",
            s=subjects,
        ),
        _count(
            database.engine,
            "SELECT count(*) FROM alert_events WHERE rule = 'PERMIT_EXPIRING'"
            " AND subject_id = ANY(:s)",
            s=subjects,
        ),
    )
    assert counts == (3, 3)
