"""Firing the rules' runs: each slot's run commits once, across every process and failover.

A trigger only says "look now". ``RunDispatcher.fire`` asks the leadership
for its fence (a follower does nothing), asks the database for the rule's
latest fired slot, and asks the schedule which run is due: the latest slot
not yet fired, covering any missed since (coalesced into one run). It hands
the run to the ``RuleRunner`` with a fence naming the firing, so the run's
own transaction claims the slot (``scheduler_firings``) as it commits its
work: a run that fails or is cut short leaves its slot unfired, to be run by
the next firing (within the misfire grace), and a slot fires at most once
because the database refuses a second claim.

That is where this does better than procrastinate's periodic tasks, which
record a slot as deferred in one transaction and run its job in another: a
worker killed in between leaves a slot marked done that never ran
(procrastinate#1495, #307), any worker may defer, and only slots missed by
less than ten minutes are deferred again, one job per slot.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from exchange_service.domain.clock import Clock
from exchange_service.domain.errors import Unavailable
from exchange_service.domain.fencing import Fence, Firing, LeadershipLost, SlotAlreadyFired
from exchange_service.storage.database import UnitOfWork
from scheduler.schedule import Schedule

log = logging.getLogger(__name__)


class RuleRunner(Protocol):
    """Runs one rule as of an instant, in transactions fenced with ``fence``.

    The run's work and its slot commit together: the runner opens its
    transaction with ``uow.begin(fence=fence)``, which raises
    ``LeadershipLost`` if the term has passed and ``SlotAlreadyFired`` if the
    slot has, before any work. The rule engine (``services.alerts``) is the
    real one.
    """

    def run(self, rule: str, as_of: datetime, fence: Fence) -> object: ...


class Leader(Protocol):
    """What the firing needs of the leadership (``scheduler.leadership.Leadership``)."""

    holder: str

    def fence(self) -> Fence | None:
        """The current term's fence, or None when this process does not lead."""
        ...

    def step_down(self, fence: Fence, reason: str) -> None:
        """The work found ``fence``'s term has passed: stop leading."""
        ...


class RecordOnlyRunner:
    """Runs no rule: each run only claims its slot in a fenced transaction.

    ``pantau scheduler --dry-run`` uses it to try a schedule, its leadership
    and its failover on a database without touching any alert.
    """

    def __init__(self, uow: UnitOfWork) -> None:
        self._uow = uow

    def run(self, rule: str, as_of: datetime, fence: Fence) -> None:
        with self._uow.begin(fence=fence):
            pass


class RunDispatcher:
    """Fires the run of a rule that is due now, if this process leads; once per slot.

    ``last_fired`` reads the latest committed slot of a rule from the
    database. Runs of one rule never overlap within a process.
    """

    def __init__(
        self,
        schedule: Schedule,
        leadership: Leader,
        runner: RuleRunner,
        *,
        last_fired: Callable[[str], datetime | None],
        clock: Clock,
    ) -> None:
        self._schedule = schedule
        self._leadership = leadership
        self._runner = runner
        self._last_fired = last_fired
        self._clock = clock
        self._running = {rule: threading.Lock() for rule in schedule.rules}

    def fire(self, rule: str) -> Firing | None:
        """Runs ``rule``'s due run, if any and if this process leads; the firing that committed.

        Errors of the run are logged, not raised: the slot stays unfired and
        the next firing covers it.
        """
        with self._running[rule]:
            fence = self._leadership.fence()
            if fence is None:
                return None
            now = self._clock()
            try:
                due = self._schedule.due(rule, last_fired=self._last_fired(rule), now=now)
            except Unavailable as error:
                log.warning("%s: cannot read its last firing, nothing fired: %s", rule, error)
                return None
            if due is None:
                return None
            if due.skipped_from is not None:
                log.warning(
                    "%s: slots from %s on were missed by more than the misfire grace"
                    " and are not run",
                    rule,
                    due.skipped_from.isoformat(),
                )
            firing = Firing(
                id=uuid.uuid4(),
                job=rule,
                slot=due.slot,
                covers_from=due.covers_from,
                fired_by=self._leadership.holder,
                fired_at=now,
            )
            covers = (
                f", covering {due.slots} slots from {due.covers_from.isoformat()}"
                if due.slots > 1
                else ""
            )
            log.info(
                "%s: firing slot %s in term %d%s", rule, due.slot.isoformat(), fence.term, covers
            )
            return self._run(firing, fence)

    def _run(self, firing: Firing, fence: Fence) -> Firing | None:
        started = time.monotonic()
        slot = firing.slot.isoformat()
        try:
            self._runner.run(firing.job, firing.slot, fence.for_firing(firing))
        except SlotAlreadyFired:
            log.info("%s: slot %s had already fired; this run did nothing", firing.job, slot)
            return None
        except LeadershipLost as lost:
            log.warning("%s: slot %s not run: %s", firing.job, slot, lost)
            self._leadership.step_down(fence, str(lost))
            return None
        except Exception:
            log.exception(
                "%s: the run of slot %s failed; the next firing covers it", firing.job, slot
            )
            return None
        log.info(
            "%s: slot %s committed in term %d (%.0f ms)",
            firing.job,
            slot,
            fence.term,
            (time.monotonic() - started) * 1000,
        )
        return firing
