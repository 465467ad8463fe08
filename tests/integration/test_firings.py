"""Each scheduled slot's run commits once, with its work, whoever fires it and however often.

The runner here stands for the rule engine: each run writes a row of its own
(in a schema of the test's, which the models' comparison does not see) in a
transaction fenced as the engine's are, so the test can see that a run's
work and its slot commit together or not at all.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, text

from exchange_service.domain.fencing import Fence, Firing, SlotAlreadyFired
from exchange_service.storage.database import UnitOfWork
from exchange_service.storage.leases import check_fence, last_fired_slot, take_term
from scheduler.runs import RecordOnlyRunner, RuleRunner, RunDispatcher
from scheduler.schedule import RuleSchedule, Schedule, cron_trigger

WIB = ZoneInfo("Asia/Jakarta")


class RecordingRunner:
    """A rule runner that records each run as its work, and can be told to fail after it."""

    def __init__(self, engine: Engine, *, fail: bool = False) -> None:
        self._engine = engine
        self.fail = fail

    def run(self, rule: str, as_of: datetime, fence: Fence) -> None:
        with self._engine.begin() as connection:
            check_fence(connection, fence)
            connection.execute(
                text(
                    "INSERT INTO scheduler_test.runs (job, as_of, term)"
                    " VALUES (:job, :as_of, :term)"
                ),
                {"job": rule, "as_of": as_of, "term": fence.term},
            )
            if self.fail:
                raise RuntimeError("the rule's statement failed")


@dataclass
class StandingLeader:
    """The leadership as the dispatcher sees it, standing in one term (or none)."""

    fence_given: Fence | None
    holder: str = "test-scheduler"
    stepped_down: list[tuple[Fence, str]] = field(default_factory=list)

    def fence(self) -> Fence | None:
        return self.fence_given

    def step_down(self, fence: Fence, reason: str) -> None:
        self.stepped_down.append((fence, reason))
        self.fence_given = None


class SettableClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def __call__(self) -> datetime:
        return self.instant


@pytest.fixture(scope="module")
def work_table(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("CREATE SCHEMA IF NOT EXISTS scheduler_test"))
        connection.execute(
            text(
                "CREATE TABLE IF NOT EXISTS scheduler_test.runs"
                " (job text, as_of timestamptz, term bigint)"
            )
        )


def _job() -> str:
    return f"TEST_{uuid.uuid4().hex[:8].upper()}"


def _wib(day: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, tzinfo=WIB)


def _schedule(job: str, *crons: str) -> Schedule:
    triggers = [cron_trigger(cron, WIB) for cron in crons]
    assert len(triggers) == 1
    return Schedule(
        [RuleSchedule(job, crons, triggers[0])], zone=WIB, misfire_grace=timedelta(hours=6)
    )


def _term(engine: Engine, holder: str = "test-scheduler") -> Fence:
    with engine.begin() as connection:
        return take_term(connection, f"lease-{uuid.uuid4().hex[:8]}", holder, _wib(1, 12, 0))


def _runs(engine: Engine, job: str) -> list[tuple[datetime, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT as_of, term FROM scheduler_test.runs WHERE job = :job ORDER BY as_of"),
            {"job": job},
        )
        return [(row.as_of, row.term) for row in rows]


def _firings(engine: Engine, job: str) -> list[tuple[datetime, datetime, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT covers_from, slot, term FROM scheduler_firings WHERE job = :job"
                " ORDER BY slot"
            ),
            {"job": job},
        )
        return [(row.covers_from, row.slot, row.term) for row in rows]


def _dispatcher(
    engine: Engine,
    schedule: Schedule,
    leader: StandingLeader,
    runner: RuleRunner,
    clock: SettableClock,
) -> RunDispatcher:
    def last_fired(job: str) -> datetime | None:
        with engine.connect() as connection:
            return last_fired_slot(connection, job)

    return RunDispatcher(schedule, leader, runner, last_fired=last_fired, clock=clock)


@pytest.mark.usefixtures("work_table")
def test_the_leader_fires_each_slot_once_at_wib_midnight_as_of_the_slot(engine: Engine) -> None:
    job = _job()
    fence = _term(engine)
    clock = SettableClock(_wib(1, 23, 59, 59))
    dispatcher = _dispatcher(
        engine, _schedule(job, "0 0 * * *"), StandingLeader(fence), RecordingRunner(engine), clock
    )
    with engine.begin() as connection:  # yesterday's midnight run fired
        check_fence(
            connection,
            fence.for_firing(
                Firing(uuid.uuid4(), job, _wib(1, 0, 0), _wib(1, 0, 0), "test", _wib(1, 0, 0))
            ),
        )
    assert dispatcher.fire(job) is None  # 23:59:59 WIB: nothing due
    clock.instant = _wib(2, 0, 0, 0)  # 00:00:00 WIB, still 1 December in UTC
    fired = dispatcher.fire(job)
    assert fired is not None
    assert (fired.slot, fired.covers_from) == (_wib(2, 0, 0), _wib(2, 0, 0))
    assert dispatcher.fire(job) is None  # fired already: a second trigger does nothing
    assert _runs(engine, job) == [(_wib(2, 0, 0), fence.term)]
    assert _firings(engine, job) == [
        (_wib(1, 0, 0), _wib(1, 0, 0), fence.term),
        (_wib(2, 0, 0), _wib(2, 0, 0), fence.term),
    ]


@pytest.mark.usefixtures("work_table")
def test_a_failed_run_leaves_its_slot_unfired_and_the_next_firing_covers_it(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    job = _job()
    fence = _term(engine)
    clock = SettableClock(_wib(2, 0, 0, 2))
    runner = RecordingRunner(engine, fail=True)
    dispatcher = _dispatcher(
        engine, _schedule(job, "* * * * * */2"), StandingLeader(fence), runner, clock
    )
    with caplog.at_level(logging.ERROR, logger="scheduler.runs"):
        assert dispatcher.fire(job) is None
    assert "the next firing covers it" in caplog.text
    assert _runs(engine, job) == []
    assert _firings(engine, job) == []
    runner.fail = False
    clock.instant = _wib(2, 0, 0, 4)
    # With nothing fired yet, every slot within the grace is due: one run covers them.
    first = dispatcher.fire(job)
    assert first is not None
    assert first.slot == _wib(2, 0, 0, 4)
    assert first.covers_from < _wib(2, 0, 0, 2)
    clock.instant = _wib(2, 0, 0, 10)  # 6 and 8 were missed
    fired = dispatcher.fire(job)
    assert fired is not None
    assert (fired.covers_from, fired.slot) == (_wib(2, 0, 0, 6), _wib(2, 0, 0, 10))
    assert [as_of for as_of, _ in _runs(engine, job)] == [_wib(2, 0, 0, 4), _wib(2, 0, 0, 10)]


@pytest.mark.usefixtures("work_table")
def test_a_slot_claimed_once_cannot_be_claimed_again_and_the_second_run_writes_nothing(
    engine: Engine,
) -> None:
    job = _job()
    old, new = _term(engine, "old-leader"), _term(engine, "new-leader")
    runner = RecordingRunner(engine)

    def firing(covers_from: datetime, slot: datetime) -> Firing:
        return Firing(uuid.uuid4(), job, slot, covers_from, "test", slot)

    first = firing(_wib(2, 0, 0), _wib(2, 0, 4))
    runner.run(job, first.slot, old.for_firing(first))
    for again in (
        firing(_wib(2, 0, 4), _wib(2, 0, 4)),  # the same slot
        firing(_wib(2, 0, 2), _wib(2, 0, 2)),  # a slot the first run covered
        firing(_wib(2, 0, 3), _wib(2, 0, 6)),  # a span overlapping the first's
    ):
        with pytest.raises(SlotAlreadyFired, match=f"the run of {job} for slot"):
            runner.run(job, again.slot, new.for_firing(again))
    # A later transaction of the same run claims nothing again, and is not refused.
    with engine.begin() as connection:
        check_fence(connection, old.for_firing(first))
    assert _runs(engine, job) == [(_wib(2, 0, 4), old.term)]
    assert _firings(engine, job) == [(_wib(2, 0, 0), _wib(2, 0, 4), old.term)]


@pytest.mark.usefixtures("work_table")
def test_a_deposed_leader_commits_no_run_and_steps_down(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """A leader paused past its term wakes with its old fence: the run fails before any work."""
    job = _job()
    deposed = _term(engine, "paused-leader")
    with engine.begin() as connection:
        take_term(connection, deposed.lease, "new-leader", _wib(2, 0, 0))
    leader = StandingLeader(deposed)
    dispatcher = _dispatcher(
        engine,
        _schedule(job, "* * * * * */2"),
        leader,
        RecordingRunner(engine),
        SettableClock(_wib(2, 0, 0, 2)),
    )
    with caplog.at_level(logging.WARNING, logger="scheduler.runs"):
        assert dispatcher.fire(job) is None
    assert "is no longer held in term 1 (now term 2)" in caplog.text
    assert [fence for fence, _ in leader.stepped_down] == [deposed]
    assert _runs(engine, job) == []
    assert _firings(engine, job) == []
    assert dispatcher.fire(job) is None  # a follower now: it fires nothing
    assert _firings(engine, job) == []


def test_a_dry_run_claims_the_slot_through_the_unit_of_work(engine: Engine) -> None:
    job = _job()
    fence = _term(engine)
    dispatcher = _dispatcher(
        engine,
        _schedule(job, "5 0 * * *"),
        StandingLeader(fence),
        RecordOnlyRunner(UnitOfWork(engine, boundary_tolerance_meters=0)),
        SettableClock(_wib(2, 0, 5, 1)),
    )
    fired = dispatcher.fire(job)
    assert fired is not None
    assert _firings(engine, job) == [(_wib(2, 0, 5), _wib(2, 0, 5), fence.term)]
