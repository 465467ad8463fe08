"""Delivering the agencies' feeds through their push channels: lanes, claims and retries.

Each push channel of an agency is a **lane**: the agency's feed as that
channel has received it, one cursor (``delivered_through``, the highest
sequence the receiver holds with none missing before it). A lane is delivered
by one worker at a time, in sequence order: a worker **claims** the lane for
a lease and gets a fencing token (one more than the lane's last), and only the
holder of the current token may move the cursor. A worker that was paused
past its lease and replaced can therefore no longer move it; what it sent
meanwhile is a duplicate the receiver drops (receivers keep the sequences
and event ids they hold: delivery is at least once, receipt exactly once).

A failed push is retried with exponential backoff and full jitter; after
``max_attempts`` failures in a row, or at once when the receiver refused the
entries themselves, the lane is **dead-lettered**: it stops, with a record of
the entries it was stuck on, until an operator requeues it. A lane never
skips an entry: the receiver checks each entry's previous hash, so a gap
would only be refused.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from exchange_service.domain.feed import ChannelKind, FeedEntry

# The action of the audit event of each delivered entry.
DELIVER_ACTION = "feed/deliver"
# The process the delivery workers act as in the audit trail.
DELIVERY_ACTOR = "delivery-worker"


@dataclass(frozen=True, order=True)
class LaneKey:
    """One push channel of one agency: the unit delivered in order, by one worker at a time."""

    agency_id: str
    channel: ChannelKind

    @property
    def recipient(self) -> str:
        """The lane as the audit trail names the recipient: ``<agency>/<channel>``."""
        return f"{self.agency_id}/{self.channel}"


@dataclass(frozen=True)
class LaneClaim:
    """A lane a worker holds: its cursor when claimed and the fencing token of the lease.

    ``attempts`` counts the failed pushes in a row before this claim;
    ``lease_expires_at`` is when another worker may take the lane over.
    """

    lane: LaneKey
    worker_id: str
    token: int
    delivered_through: int
    attempts: int
    lease_expires_at: datetime


@dataclass(frozen=True)
class QueuedEntry:
    """A feed entry waiting on a lane, with the person it is about (``''`` for none):
    the audit event of its delivery names them."""

    entry: FeedEntry
    person_id: str

    @property
    def sequence(self) -> int:
        return self.entry.sequence


@dataclass(frozen=True)
class RetryPlan:
    """What a failed push leads to: a retry at ``retry_at``, or (None) a dead letter."""

    attempts: int
    retry_at: datetime | None

    @property
    def dead_letter(self) -> bool:
        return self.retry_at is None


@dataclass(frozen=True)
class DeliveryPolicy:
    """When a failed lane is tried again, and when it is given up to an operator.

    The delay before attempt ``n + 1`` after ``n`` failures in a row is drawn
    uniformly from ``[0, min(max, initial * 2 ** (n - 1))]`` ("full jitter",
    AWS Architecture Blog, *Exponential Backoff And Jitter*): workers that
    failed together do not come back together. ``max_attempts`` failures in a
    row dead-letter the lane.
    """

    backoff_initial: timedelta = timedelta(seconds=1)
    backoff_max: timedelta = timedelta(minutes=5)
    max_attempts: int = 50

    def __post_init__(self) -> None:
        if self.backoff_initial <= timedelta(0):
            raise ValueError("delivery_backoff_initial_seconds must be positive")
        if self.backoff_max < self.backoff_initial:
            raise ValueError(
                "delivery_backoff_max_seconds must be at least delivery_backoff_initial_seconds"
            )
        if self.max_attempts < 1:
            raise ValueError("delivery_max_attempts must be at least 1")

    def backoff_ceiling(self, failures: int) -> timedelta:
        """The longest delay after ``failures`` failures in a row (at least 1)."""
        if failures < 1:
            raise ValueError("a backoff follows at least one failure")
        # Capped in floats first: a timedelta of 2 ** 62 seconds would overflow.
        exponent = min(failures - 1, 62)
        seconds = self.backoff_initial.total_seconds() * (2.0**exponent)
        return timedelta(seconds=min(self.backoff_max.total_seconds(), seconds))

    def backoff(self, failures: int, rng: random.Random) -> timedelta:
        """A delay drawn with full jitter under ``backoff_ceiling(failures)``."""
        ceiling = self.backoff_ceiling(failures).total_seconds()
        return timedelta(seconds=rng.uniform(0.0, ceiling))

    def after_failure(
        self, previous_attempts: int, *, retryable: bool, at: datetime, rng: random.Random
    ) -> RetryPlan:
        """The plan after one more failure following ``previous_attempts`` in a row.

        Not ``retryable`` (the receiver refused the entries themselves) goes to
        the dead letters at once: trying the same bytes again cannot help.
        """
        attempts = previous_attempts + 1
        if not retryable or attempts >= self.max_attempts:
            return RetryPlan(attempts, None)
        return RetryPlan(attempts, at + self.backoff(attempts, rng))


@dataclass(frozen=True)
class LaneStatus:
    """A lane as ``pantau deliver status`` shows it: cursor, backlog, lease, failures."""

    lane: LaneKey
    enabled: bool
    delivered_through: int
    last_sequence: int
    attempts: int
    next_attempt_at: datetime
    lease_owner: str | None
    lease_expires_at: datetime | None
    last_error: str | None
    dead_lettered_at: datetime | None

    @property
    def backlog(self) -> int:
        """Entries of the feed the channel has not received yet."""
        return max(0, self.last_sequence - self.delivered_through)


@dataclass(frozen=True)
class DeadLetter:
    """A lane given up: the entries it was stuck on, after how many attempts, and why."""

    id: int
    lane: LaneKey
    from_sequence: int
    through_sequence: int
    attempts: int
    error: str
    at: datetime
    requeued_at: datetime | None
