"""The screener's job in the scheduler: the screening queue drained every few seconds by
the leader, so a person registered, entering, checking in or sighted is screened (and a
WATCHLIST_MATCH alert raised) within seconds, off the call's path.

Only the leader screens, fenced with its term: two screeners writing the same pair
could leave the older reading last. A round that fails is logged; what it claimed
goes back to the queue with its rolled-back transaction.
"""

from __future__ import annotations

import logging
import threading

from exchange_service.domain.fencing import LeadershipLost
from exchange_service.services.watchlist import Screener
from scheduler.runs import Leader

log = logging.getLogger(__name__)

SCREENING_JOB = "watchlist-screening"


class ScreeningJob:
    """Drains the screening queue when this process leads; one round at a time."""

    def __init__(self, screener: Screener, leadership: Leader, batch: int = 200) -> None:
        self._screener = screener
        self._leadership = leadership
        self._batch = batch
        self._running = threading.Lock()

    def fire(self) -> None:
        if not self._running.acquire(blocking=False):
            return
        try:
            fence = self._leadership.fence()
            if fence is None:
                return
            try:
                done = self._screener.drain(self._batch, fence)
            except LeadershipLost as lost:
                log.warning("screening stopped: %s", lost)
                self._leadership.step_down(fence, str(lost))
                return
            except Exception:
                log.exception("a screening round failed; its queue is kept for the next")
                return
            if done.worked:
                log.info(
                    "screened %d persons and %d watchlist entries: %d matches changed%s",
                    done.persons,
                    done.entries,
                    done.changed,
                    f"; {done.population_queued} persons queued again"
                    if done.population_queued
                    else "",
                )
        finally:
            self._running.release()
