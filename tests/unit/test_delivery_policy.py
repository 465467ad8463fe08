"""The delivery policy: backoff with full jitter under a growing, capped ceiling; dead letters."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from exchange_service.domain.delivery import DeliveryPolicy, LaneKey, LaneStatus
from exchange_service.domain.feed import ChannelKind

AT = datetime(2026, 12, 2, 0, 1, tzinfo=UTC)
POLICY = DeliveryPolicy(timedelta(seconds=1), timedelta(minutes=5), max_attempts=50)


def test_the_ceiling_doubles_from_the_initial_delay_up_to_the_maximum() -> None:
    ceilings = [POLICY.backoff_ceiling(n).total_seconds() for n in range(1, 12)]
    assert ceilings == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]
    assert POLICY.backoff_ceiling(10_000) == timedelta(minutes=5)  # no overflow


def test_delays_are_spread_over_the_whole_range_below_the_ceiling() -> None:
    rng = random.Random(2105)
    for failures in (1, 3, 9, 40):
        ceiling = POLICY.backoff_ceiling(failures).total_seconds()
        delays = [POLICY.backoff(failures, rng).total_seconds() for _ in range(2000)]
        assert min(delays) >= 0
        assert max(delays) <= ceiling
        # Full jitter: both the low and the high quarter of the range are drawn.
        assert min(delays) < ceiling * 0.25
        assert max(delays) > ceiling * 0.75
        assert len(set(delays)) > 1900


def test_retries_until_the_last_attempt_then_dead_letters() -> None:
    rng = random.Random(1)
    policy = DeliveryPolicy(timedelta(seconds=1), timedelta(seconds=8), max_attempts=3)
    first = policy.after_failure(0, retryable=True, at=AT, rng=rng)
    second = policy.after_failure(1, retryable=True, at=AT, rng=rng)
    third = policy.after_failure(2, retryable=True, at=AT, rng=rng)
    assert (first.attempts, second.attempts, third.attempts) == (1, 2, 3)
    assert first.retry_at is not None
    assert AT <= first.retry_at <= AT + timedelta(seconds=1)
    assert second.retry_at is not None
    assert AT <= second.retry_at <= AT + timedelta(seconds=2)
    assert third.dead_letter


def test_a_refusal_of_the_entries_themselves_dead_letters_at_once() -> None:
    plan = POLICY.after_failure(0, retryable=False, at=AT, rng=random.Random(1))
    assert plan.dead_letter
    assert plan.attempts == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"backoff_initial": timedelta(0)}, "delivery_backoff_initial_seconds"),
        ({"backoff_max": timedelta(milliseconds=10)}, "delivery_backoff_max_seconds"),
        ({"max_attempts": 0}, "delivery_max_attempts"),
    ],
)
def test_a_bad_policy_is_refused_naming_the_setting(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(ValueError, match=field):
        DeliveryPolicy(**kwargs)  # type: ignore[arg-type]


def test_a_lane_names_its_recipient_and_backlog() -> None:
    lane = LaneKey("pemkab-anambas", ChannelKind.WEBHOOK)
    assert lane.recipient == "pemkab-anambas/WEBHOOK"
    status = LaneStatus(lane, True, 7, 10, 0, AT, None, None, None, None)
    assert status.backlog == 3
