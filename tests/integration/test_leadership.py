"""Leadership on real PostgreSQL: one lock holder, a silent one loses it, a paused run lets go."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from exchange_service.domain.errors import Unavailable
from exchange_service.domain.fencing import Firing, LeadershipLost
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.storage.leases import LeaseLock, check_fence, last_fired_slot, take_term
from scheduler.leadership import Leadership, LeadershipTimings
from tests.clock import TestClock

# Short enough for a quick test, long enough for a loaded machine's heartbeat.
TIMINGS = LeadershipTimings(heartbeat_seconds=0.2, lock_timeout_seconds=2.0)


def _lease() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _lock(database_url: str, lease: str, name: str = "test-lock") -> LeaseLock:
    return LeaseLock(
        database_url,
        lease,
        idle_timeout_seconds=TIMINGS.lock_timeout_seconds,
        statement_timeout_seconds=10,
        application_name=name,
    )


def _until(condition: object, timeout: float = 10.0) -> float:
    """Waits until ``condition()`` is true; the seconds it took."""
    started = time.monotonic()
    while not condition():  # type: ignore[operator]
        if time.monotonic() - started > timeout:
            pytest.fail(f"not true after {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - started


@pytest.fixture
def locks(database_url: str) -> Iterator[list[LeaseLock]]:
    made: list[LeaseLock] = []
    yield made
    for lock in made:
        lock.dispose()


def test_one_session_holds_a_lease_lock_until_it_ends(
    database_url: str, locks: list[LeaseLock]
) -> None:
    lease = _lease()
    first, second = _lock(database_url, lease), _lock(database_url, lease)
    locks += [first, second]
    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.held()
    assert not second.held()
    first.release()
    assert not first.held()
    assert second.try_acquire()


def test_a_silent_session_loses_its_lock(database_url: str, locks: list[LeaseLock]) -> None:
    """A paused process sends no heartbeat: the database ends its session, and the lock goes."""
    lease = _lease()
    silent, other = _lock(database_url, lease), _lock(database_url, lease)
    locks += [silent, other]
    assert silent.try_acquire()
    time.sleep(TIMINGS.lock_timeout_seconds + 0.5)
    with pytest.raises(Unavailable, match="idle-session timeout"):
        silent.held()
    assert other.try_acquire()


def test_a_run_paused_inside_its_transaction_cannot_hold_up_the_next_term(
    database_url: str, engine: Engine, clock: TestClock
) -> None:
    lease = _lease()
    work = make_engine(
        database_url, pool_size=1, session_settings={"idle_in_transaction_session_timeout": 300}
    )
    uow = UnitOfWork(work, boundary_tolerance_meters=0)
    with engine.begin() as connection:
        fence = take_term(connection, lease, "paused-leader", clock.now())
    slot = clock.now()
    firing = Firing(uuid.uuid4(), f"TEST_{lease}", slot, slot, "paused-leader", slot)
    waited: list[float] = []

    def paused_run() -> None:
        with uow.begin(fence=fence.for_firing(firing)):
            time.sleep(0.8)  # paused: the database ends the idle transaction
            started = time.monotonic()
            with engine.begin() as connection:
                connection.execute(text("SET LOCAL lock_timeout = '5s'"))
                assert take_term(connection, lease, "new-leader", clock.now()).term == 2
            waited.append(time.monotonic() - started)

    try:
        with pytest.raises(Unavailable, match="sat idle too long"):
            paused_run()
    finally:
        work.dispose()
    assert waited[0] < 1.0  # the lease row's lock had gone with the paused transaction
    with engine.connect() as connection:
        assert last_fired_slot(connection, firing.job) is None  # the claim went with the run


def test_one_of_several_processes_leads_and_another_takes_over_when_it_stops(
    database_url: str, clock: TestClock
) -> None:
    lease = _lease()
    candidates = [
        Leadership(_lock(database_url, lease), holder=name, clock=clock.now, timings=TIMINGS)
        for name in ("a", "b", "c")
    ]
    for candidate in candidates:
        candidate.start()
    try:
        _until(lambda: any(c.fence() for c in candidates))
        time.sleep(3 * TIMINGS.heartbeat_seconds)
        leaders = [c for c in candidates if c.fence() is not None]
        assert len(leaders) == 1
        [leader] = leaders
        first = leader.fence()
        assert first is not None
        leader.stop()
        others = [c for c in candidates if c is not leader]
        took = _until(lambda: any(c.fence() for c in others))
        assert took < 2.0  # the stopped leader let go at once: a heartbeat or two
        [successor] = [c for c in others if c.fence() is not None]
        second = successor.fence()
        assert second is not None
        assert second.term == first.term + 1
        assert leader.fence() is None
    finally:
        for candidate in candidates:
            candidate.stop()


def test_a_leader_whose_session_ends_stops_leading_and_its_fence_no_longer_commits(
    database_url: str, engine: Engine, clock: TestClock, caplog: pytest.LogCaptureFixture
) -> None:
    lease = _lease()
    name = f"test-lock-{uuid.uuid4().hex[:8]}"
    first = Leadership(
        _lock(database_url, lease, name), holder="first", clock=clock.now, timings=TIMINGS
    )
    second = Leadership(
        _lock(database_url, lease), holder="second", clock=clock.now, timings=TIMINGS
    )
    first.start()
    try:
        _until(lambda: first.fence() is not None)
        deposed = first.fence()
        assert deposed is not None
        second.start()
        caplog.set_level(logging.WARNING, logger="scheduler.leadership")
        with engine.connect() as connection:  # as a network cut or the idle timeout would
            connection.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name"
                ),
                {"name": name},
            )
        _until(lambda: first.fence() is None)
        _until(lambda: second.fence() is not None)
        successor = second.fence()
        assert successor is not None
        assert successor.term > deposed.term
        # The fence is dropped before the lock's session is ended and the loss logged.
        lost = f"lost the lead of lease {lease!r} (term {deposed.term})"
        _until(lambda: lost in caplog.text)
        with pytest.raises(LeadershipLost), engine.begin() as connection:
            check_fence(connection, deposed)
    finally:
        first.stop()
        second.stop()
