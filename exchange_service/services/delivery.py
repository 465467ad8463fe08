"""The delivery worker: pushes each claimed lane's entries, in order, and moves its cursor.

A worker claims a due lane (``DeliveryQueue.claim``), reads the entries after
its cursor in batches, hands each batch to the lane's ``AlertSender`` and
moves the cursor to what the receiver says it holds, recording one audit
event per entry delivered in the same transaction. Delivery is at least
once: a worker that dies between a push and its cursor's move leaves the
cursor behind, and the next worker pushes those entries again; receivers
drop what they already hold (by sequence and event id) and say how far they
are, so the cursor catches up. A worker whose lease was taken over cannot
move the cursor at all (its fencing token is gone): it stops that lane.

A failed push goes back to the queue, which retries it after a backoff or
dead-letters the lane. On ``stop`` (SIGTERM), a worker finishes the batch in
flight, moves the cursor for it, releases the lane and returns.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from exchange_service.domain.audit import SYSTEM_ACTOR_KIND, Actor, AuditEvent
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.delivery import (
    DELIVER_ACTION,
    DELIVERY_ACTOR,
    LaneClaim,
    LaneKey,
    LaneStatus,
    QueuedEntry,
)
from exchange_service.domain.feed import AlertSender, ChannelKind, DeliveryFailed, PushChannel

log = logging.getLogger(__name__)


class DeliveryQueue(Protocol):
    """The delivery lanes as the worker sees them (``storage.delivery_store.DeliveryStore``).

    Every change to a lane after ``claim`` is fenced by the claim's token: it
    does nothing (False or None) once another worker has claimed the lane.
    """

    def claim(self, worker_id: str, limit: int, lease_seconds: float) -> list[LaneClaim]:
        """Leases up to ``limit`` due lanes, each with a new token; locked ones are skipped."""
        ...

    def entries(self, lane: LaneKey, after: int, limit: int) -> list[QueuedEntry]:
        """The lane's entries after sequence ``after``, in sequence order."""
        ...

    def advance(
        self,
        claim: LaneClaim,
        through: int,
        events: Sequence[AuditEvent],
        *,
        lease_seconds: float,
    ) -> bool:
        """Moves the cursor to ``through`` with ``events`` in the audit inbox, together."""
        ...

    def fail(
        self, claim: LaneClaim, error: str, *, retryable: bool, attempted_through: int
    ) -> LaneStatus | None:
        """Schedules the retry or dead-letters the lane, and releases it."""
        ...

    def release(self, claim: LaneClaim) -> bool:
        """Gives the lane up for any worker to claim."""
        ...


class Wakeups(Protocol):
    """What an idle worker waits on: the feeds' commit notices (``FeedListener``)."""

    def wait(self, timeout: float) -> bool:
        """Returns when woken (True) or after ``timeout`` seconds (False)."""
        ...

    def wake(self) -> None:
        """Wakes the waiter now."""
        ...


class _Timer:
    """Wakeups without notices: an idle worker polls (and ``wake`` still stops it)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def wait(self, timeout: float) -> bool:
        woken = self._event.wait(timeout)
        self._event.clear()
        return woken

    def wake(self) -> None:
        self._event.set()


@dataclass(frozen=True)
class DeliveryOptions:
    """How a worker delivers: its name, entries per push, its lease on a lane (renewed at
    each cursor move), how long it idles between looks, and how many batches it pushes
    on one lane before it lets other lanes have a turn."""

    worker_id: str
    batch: int = 200
    lease_seconds: float = 30.0
    poll_seconds: float = 1.0
    batches_per_claim: int = 10

    def __post_init__(self) -> None:
        if not self.worker_id:
            raise ValueError("worker_id: a delivery worker needs a name")
        if self.batch < 1 or self.batches_per_claim < 1:
            raise ValueError("batch and batches_per_claim must be at least 1")


class DeliveryWorker:
    """Delivers the due lanes: one lane at a time, its entries in order, at least once."""

    def __init__(
        self,
        queue: DeliveryQueue,
        senders: Mapping[ChannelKind, AlertSender],
        channels: Mapping[LaneKey, PushChannel],
        options: DeliveryOptions,
        *,
        clock: Clock = system_clock,
        wakeups: Wakeups | None = None,
        actor: Actor | None = None,
    ) -> None:
        self._queue = queue
        self._senders = dict(senders)
        self._channels = dict(channels)
        self.options = options
        self._clock = clock
        self._wakeups = wakeups or _Timer()
        self._actor = actor or Actor(DELIVERY_ACTOR, SYSTEM_ACTOR_KIND)
        self._stopping = threading.Event()

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def stop(self) -> None:
        """Asks the worker to finish its batch in flight, release its lane and return."""
        self._stopping.set()
        self._wakeups.wake()

    def run(self) -> int:
        """Delivers until ``stop``; idles on the wakeups (or the poll interval) when
        nothing is due, and outlasts the database going away (it waits, with backoff,
        and goes on). Returns the entries delivered."""
        delivered = 0
        failures = 0
        while not self.stopping:
            try:
                delivered += self.run_once()
            except Exception as error:  # the database went away (most often): wait, go on
                failures += 1
                pause = min(self.options.poll_seconds * 2 ** min(failures, 6), 30.0)
                log.warning(
                    "delivery worker %s: %s: %s; trying again in %.1f s",
                    self.options.worker_id,
                    type(error).__name__,
                    str(error).splitlines()[0] if str(error) else "",
                    pause,
                )
                # A lane it held is taken over when its lease ends, by it or another.
                self._stopping.wait(pause)
                continue
            failures = 0
            if self.stopping:
                break
            self._wakeups.wait(self.options.poll_seconds)
        return delivered

    def run_once(self) -> int:
        """Delivers lanes until none is due (or ``stop``); the entries delivered."""
        delivered = 0
        while not self.stopping:
            claims = self._queue.claim(self.options.worker_id, 1, self.options.lease_seconds)
            if not claims:
                break
            for claim in claims:
                delivered += self.deliver(claim)
        return delivered

    def deliver(self, claim: LaneClaim) -> int:
        """Pushes the claimed lane's entries after its cursor, batch by batch, and gives
        the lane back (released, retried later, or dead-lettered). The entries delivered."""
        lane = claim.lane
        sender = self._senders.get(lane.channel)
        channel = self._channels.get(lane)
        if sender is None or channel is None:
            # A lane of a channel this worker cannot push (not in its agencies file,
            # or no sender for its kind): another worker may, or an operator must look.
            what = "no sender" if sender is None else "no such push channel configured"
            self._queue.fail(
                claim,
                f"{what} for {lane.recipient} in worker {self.options.worker_id}",
                retryable=True,
                attempted_through=claim.delivered_through + 1,
            )
            return 0
        cursor = claim.delivered_through
        delivered = 0
        for _ in range(self.options.batches_per_claim):
            batch = self._queue.entries(lane, cursor, self.options.batch)
            if not batch:
                break
            try:
                accepted = sender.send(lane.agency_id, channel, [q.entry for q in batch])
            except DeliveryFailed as failure:
                moved = self._record_partial(claim, cursor, batch, failure.accepted_through)
                if moved is None:
                    return delivered
                delivered += moved - cursor
                self._queue.fail(
                    claim,
                    failure.reason,
                    retryable=failure.retryable,
                    attempted_through=batch[-1].sequence,
                )
                return delivered
            except Exception as error:  # a sender's bug must not stop every other lane
                log.exception("sender %s failed on %s", sender.kind, lane.recipient)
                self._queue.fail(
                    claim,
                    f"{type(error).__name__}: {error}",
                    retryable=True,
                    attempted_through=batch[-1].sequence,
                )
                return delivered
            if accepted <= cursor:
                # The receiver holds less than the cursor says it received: moving
                # the cursor back would redeliver without end if it keeps saying so.
                self._queue.fail(
                    claim,
                    f"the receiver says it holds through {accepted},"
                    f" below the delivered cursor {cursor}",
                    retryable=True,
                    attempted_through=batch[-1].sequence,
                )
                return delivered
            through = self._advance(claim, cursor, batch, accepted)
            if through is None:
                log.warning(
                    "lost the lease on %s (token %d): another worker delivers it now",
                    lane.recipient,
                    claim.token,
                )
                return delivered
            delivered += through - cursor
            cursor = through
            if self.stopping or len(batch) < self.options.batch:
                break
        self._queue.release(claim)
        return delivered

    def _record_partial(
        self,
        claim: LaneClaim,
        cursor: int,
        batch: Sequence[QueuedEntry],
        accepted_through: int | None,
    ) -> int | None:
        """After a failed push, moves the cursor over what the receiver did take. The new
        cursor; None if the lease was lost."""
        if accepted_through is None or accepted_through <= cursor:
            return cursor
        return self._advance(claim, cursor, batch, accepted_through)

    def _advance(
        self, claim: LaneClaim, cursor: int, batch: Sequence[QueuedEntry], accepted: int
    ) -> int | None:
        """Moves the cursor to ``accepted`` (capped at the entries that exist) with one
        audit event per entry it passes. The new cursor; None if the lease was lost."""
        passed = [q for q in batch if cursor < q.sequence <= accepted]
        if accepted > batch[-1].sequence:
            # The receiver already held more (pushed by a worker that died before
            # moving the cursor): those entries are accounted for here.
            passed += self._queue.entries(
                claim.lane, batch[-1].sequence, accepted - batch[-1].sequence
            )
        through = passed[-1].sequence if passed else cursor
        events = [self._event(claim.lane, q) for q in passed]
        if not self._queue.advance(
            claim, through, events, lease_seconds=self.options.lease_seconds
        ):
            return None
        return through

    def _event(self, lane: LaneKey, queued: QueuedEntry) -> AuditEvent:
        entry = queued.entry
        return AuditEvent(
            actor=self._actor,
            action=DELIVER_ACTION,
            outcome="OK",
            purpose=f"feed {entry.agency_id} sequence {entry.sequence}"
            f" (alert event {entry.event_seq}) by {self.options.worker_id}",
            person_ids=(queued.person_id,) if queued.person_id else (),
            recipient=lane.recipient,
            # The exact bytes that left: the entry's hash.
            request_digest=entry.hash.hex(),
        )

    def close(self) -> None:
        """Closes the senders (their connections)."""
        for sender in self._senders.values():
            try:
                sender.close()
            except Exception:  # closing the rest matters more
                log.exception("closing sender %s", sender.kind)
