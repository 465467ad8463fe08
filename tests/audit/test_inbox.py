"""The audit inbox: events other processes commit with their work, chained by the one writer.

Each event is chained exactly once, at its own time unless that would take
the chain backwards, whenever it commits (a lower id committing after a
higher one included) and whatever happens to the writer's connection.
"""

from __future__ import annotations

import io
import time
from collections import Counter
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta

import psycopg
import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.orm import Session

from exchange_service.api.audit import call_event
from exchange_service.audit import store
from exchange_service.audit.chain import AuditRecord, Checkpoint
from exchange_service.audit.log import open_audit_log
from exchange_service.cli import audit as commands
from exchange_service.domain.audit import Actor, AuditEvent
from exchange_service.domain.call import CallRecord
from exchange_service.settings import Settings
from exchange_service.storage.audit_inbox import AuditInboxStore
from exchange_service.storage.database import UnitOfWork
from tests.clock import TestClock

SCHEDULER = Actor.system("scheduler")


def _event(n: int) -> AuditEvent:
    return AuditEvent(
        actor=SCHEDULER,
        action="rules/OVERSTAY",
        outcome="OK",
        purpose=f"rule run {n}",
        person_ids=(f"person-{n}-b", f"person-{n}-a"),
    )


def _commit_event(engine: Engine, event: AuditEvent, at: datetime) -> None:
    """As a rule run does: the event in the unit of work's transaction, ``tx.audit``."""
    uow = UnitOfWork(engine, boundary_tolerance_meters=0.0)
    with uow.begin() as tx:
        tx.audit.record(event, at)


def _records(engine: Engine) -> list[AuditRecord]:
    with engine.connect() as connection:
        return list(store.iter_records(connection))


def _inbox(engine: Engine) -> int:
    with engine.connect() as connection:
        return store.inbox_count(connection)


def _wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.02)


def _purposes(records: list[AuditRecord]) -> Counter[str]:
    return Counter(r.purpose for r in records if r.agency_id == SCHEDULER.id)


def _call() -> AuditEvent:
    return call_event(CallRecord(method="/pantau.v1.QueryService/GetPerson"), [], "OK", "0" * 64)


def test_inbox_events_are_chained_once_at_their_own_time_never_backwards(
    audit_settings: Settings, audit_engine: Engine
) -> None:
    audit_log = open_audit_log(audit_settings)
    try:
        audit_log.record(_call())
        assert audit_log.flush(timeout=5)
        (call,) = _records(audit_engine)
        _commit_event(audit_engine, _event(1), call.at - timedelta(hours=1))
        later = call.at + timedelta(seconds=1)
        _commit_event(audit_engine, _event(2), later)
        _wait_until(lambda: len(_records(audit_engine)) == 3)
    finally:
        audit_log.close()
    _, first, second = records = _records(audit_engine)
    assert (first.purpose, second.purpose) == ("rule run 1", "rule run 2")
    assert first.at == call.at  # its own time was earlier: the chain's time does not go back
    assert second.at == later
    assert (first.agency_id, first.agency_kind, first.method, first.status) == (
        "scheduler",
        "SYSTEM",
        "rules/OVERSTAY",
        "OK",
    )
    assert first.person_ids == ("person-1-a", "person-1-b")
    assert all(r.computed_hash() == r.hash for r in records)
    assert _inbox(audit_engine) == 0
    out = io.StringIO()
    assert commands.verify(audit_settings, out=out) == 0, out.getvalue()
    assert "inbox" not in out.getvalue()


def test_an_event_with_a_lower_id_committing_late_is_chained_too(
    audit_settings: Settings, audit_engine: Engine, clock: TestClock
) -> None:
    audit_log = open_audit_log(audit_settings)
    try:
        with Session(audit_engine) as late, late.begin():
            AuditInboxStore(late).record(_event(1), clock.now())  # takes the lower id
            _commit_event(audit_engine, _event(2), clock.now())  # commits first
            _wait_until(lambda: _purposes(_records(audit_engine)) == {"rule run 2": 1})
        _wait_until(lambda: len(_purposes(_records(audit_engine))) == 2)
    finally:
        audit_log.close()
    assert _purposes(_records(audit_engine)) == {"rule run 1": 1, "rule run 2": 1}
    assert _inbox(audit_engine) == 0


def test_a_writer_losing_its_session_chains_each_inbox_event_once(
    audit_settings: Settings, audit_engine: Engine, clock: TestClock
) -> None:
    audit_log = open_audit_log(audit_settings)
    try:
        for n in range(20):
            _commit_event(audit_engine, _event(n), clock.now())
            audit_log.record(_call())
            if n % 5 == 0:
                _terminate_writer(audit_engine)
        assert audit_log.flush(timeout=20)
        _wait_until(lambda: _inbox(audit_engine) == 0)
        assert audit_log.accepting
    finally:
        audit_log.close()
    records = _records(audit_engine)
    assert _purposes(records) == {f"rule run {n}": 1 for n in range(20)}
    assert len(records) == 40
    out = io.StringIO()
    assert commands.verify(audit_settings, out=out) == 0, out.getvalue()


def test_a_commit_whose_answer_was_lost_is_not_chained_again(
    audit_settings: Settings,
    audit_engine: Engine,
    clock: TestClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The batch with inbox events committed, the writer heard an error: it reconnects,
    finds the records landed (``_landed_earlier``), and neither rewrites nor re-chains them."""
    insert_checkpoints = store.insert_checkpoints
    lost: list[int] = []

    def commit_then_lose_the_answer(
        connection: Connection, checkpoints: Sequence[Checkpoint]
    ) -> None:
        insert_checkpoints(connection, checkpoints)
        # The writer's transaction deleted inbox rows that others still see: inbox events.
        if not lost and store.inbox_count(connection) == 0 and _inbox(audit_engine) > 0:
            lost.append(1)
            connection.commit()
            raise psycopg.OperationalError("the server's answer to COMMIT was lost")

    monkeypatch.setattr(store, "insert_checkpoints", commit_then_lose_the_answer)
    audit_log = open_audit_log(audit_settings)
    try:
        audit_log.record(_call())
        assert audit_log.flush(timeout=5)
        _commit_event(audit_engine, _event(1), clock.now())
        _commit_event(audit_engine, _event(2), clock.now())
        _wait_until(lambda: bool(lost) and _inbox(audit_engine) == 0)
        audit_log.record(_call())
        assert audit_log.flush(timeout=20)
        assert audit_log.accepting
    finally:
        audit_log.close()
    assert lost == [1]
    records = _records(audit_engine)
    assert _purposes(records) == {"rule run 1": 1, "rule run 2": 1}
    assert [r.seq for r in records] == [1, 2, 3, 4]
    out = io.StringIO()
    assert commands.verify(audit_settings, out=out) == 0, out.getvalue()


def test_verify_notes_the_events_waiting_in_the_inbox(
    audit_settings: Settings, audit_engine: Engine, clock: TestClock
) -> None:
    open_audit_log(audit_settings).close()  # the key and an empty trail
    for n in range(2):
        _commit_event(audit_engine, _event(n), clock.now())
    out = io.StringIO()
    assert commands.verify(audit_settings, out=out) == 0, out.getvalue()
    assert "note: 2 events wait in the audit inbox" in out.getvalue()
    assert out.getvalue().splitlines()[-1].startswith("OK: audit trail")


def _terminate_writer(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'pantau-audit' AND pid <> pg_backend_pid()"
                " AND datname = current_database()"
            )
        )
