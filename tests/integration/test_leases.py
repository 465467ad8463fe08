"""Leases and fenced transactions: a deposed leader's transaction cannot commit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from exchange_service.domain.fencing import Fence, LeadershipLost
from exchange_service.storage.database import UnitOfWork
from exchange_service.storage.leases import take_term
from tests.clock import TestClock


def _lease() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


def _person_count(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(text("SELECT count(*) FROM persons")).scalar_one())


def test_each_win_of_a_lease_is_a_new_term(engine: Engine, clock: TestClock) -> None:
    lease = _lease()
    with engine.begin() as connection:
        first = take_term(connection, lease, "scheduler-a", clock.now())
    with engine.begin() as connection:
        second = take_term(connection, lease, "scheduler-b", clock.now())
    assert (first, second) == (Fence(lease, 1), Fence(lease, 2))
    with engine.connect() as connection:
        holder = connection.execute(
            text("SELECT holder FROM leases WHERE name = :n"), {"n": lease}
        ).scalar_one()
    assert holder == "scheduler-b"


def test_a_transaction_fenced_with_a_passed_term_writes_nothing(
    engine: Engine, clock: TestClock
) -> None:
    lease = _lease()
    uow = UnitOfWork(engine, boundary_tolerance_meters=0)
    with engine.begin() as connection:
        deposed = take_term(connection, lease, "paused-leader", clock.now())
    with engine.begin() as connection:
        take_term(connection, lease, "new-leader", clock.now())
    before = _person_count(engine)
    with pytest.raises(LeadershipLost, match="no longer held in term 1"), uow.begin(fence=deposed):
        pytest.fail("the fenced block must not run")  # pragma: no cover
    never_taken = Fence(_lease(), 1)
    with pytest.raises(LeadershipLost, match="untaken"), uow.begin(fence=never_taken):
        pytest.fail("the fenced block must not run")  # pragma: no cover
    assert _person_count(engine) == before


def test_a_new_term_waits_for_the_open_fenced_transaction(engine: Engine, clock: TestClock) -> None:
    """The fence holds the lease's row until the commit: no newer leader can slip in between."""
    lease = _lease()
    uow = UnitOfWork(engine, boundary_tolerance_meters=0)
    with engine.begin() as connection:
        fence = take_term(connection, lease, "leader", clock.now())
    with uow.begin(fence=fence), engine.connect() as other:
        other.execute(text("SET lock_timeout = '200ms'"))
        with pytest.raises(OperationalError, match="lock timeout"):
            take_term(other, lease, "challenger", clock.now())
    with engine.begin() as connection:
        assert take_term(connection, lease, "challenger", clock.now()).term == 2
