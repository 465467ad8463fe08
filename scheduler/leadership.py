"""Which of the running scheduler processes leads: one advisory lock, one numbered term.

Every scheduler process runs a ``Leadership``. Its thread owns the lease's
lock session (``storage.leases.LeaseLock``): as a follower it tries the lock
every heartbeat; on winning it takes a new term of the lease (``take_term``,
which waits until no transaction of the previous term is open) and leads. As
leader it checks every heartbeat that its session still holds the lock; the
check is also what keeps the session from timing out. The lock goes with the
session: at once when the process dies (its socket closes), after the lock
timeout when the process is paused or cut off (the session's
``idle_session_timeout``). Another process then wins it within a heartbeat.

The work asks ``fence()`` for the term to fence its transactions with. A
leader that has not heard its session answer within the lock timeout (it
was paused, or the database is unreachable) gives no fence: the session may
be gone. The fence itself is what makes a deposed leader harmless: its
transactions fail with ``LeadershipLost``, and ``step_down`` turns that into
a follower until it wins the lock again.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from exchange_service.domain.clock import Clock
from exchange_service.domain.errors import Unavailable
from exchange_service.domain.fencing import Fence
from exchange_service.storage.leases import LeaseLock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LeadershipTimings:
    """How often the lock is tried or checked, and how long a silent session keeps it, seconds."""

    heartbeat_seconds: float
    lock_timeout_seconds: float


class Leadership:
    """One process's candidacy for a lease, and the fence of its term while it leads.

    Only one process at a time holds the lock; a fence handed out just before
    its term passed (within a heartbeat) is refused by the database itself.
    ``on_elected`` is called (on the leadership thread) with the new term's
    fence each time this process wins the lead; it must return quickly.
    """

    def __init__(
        self,
        lock: LeaseLock,
        *,
        holder: str,
        clock: Clock,
        timings: LeadershipTimings,
        on_elected: Callable[[Fence], None] = lambda fence: None,
    ) -> None:
        self.holder = holder
        self._lock = lock
        self._clock = clock
        self._timings = timings
        self._on_elected = on_elected
        self._state = threading.Lock()
        self._fence: Fence | None = None
        self._heard_at = 0.0  # time.monotonic() of the last answered heartbeat
        self._deposed_reason: str | None = None  # asked for by the work
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="leadership", daemon=True)
        self._unreachable_logged = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Gives up the lead (if held) and the lock session; returns when the thread ended."""
        self._stopping.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join()

    def fence(self) -> Fence | None:
        """The current term's fence if this process leads and its lock answered lately."""
        with self._state:
            if self._fence is None or self._deposed_reason is not None:
                return None
            silent = time.monotonic() - self._heard_at
            if silent > self._timings.lock_timeout_seconds:
                self._deposed_reason = (
                    f"no heartbeat answered for {silent:.1f} s (paused, or the database is"
                    " unreachable): the lock may be gone"
                )
                self._wake.set()
                return None
            return self._fence

    def step_down(self, fence: Fence, reason: str) -> None:
        """Work found that ``fence``'s term has passed: stop leading (if still in that term)."""
        with self._state:
            if self._fence == fence and self._deposed_reason is None:
                self._deposed_reason = reason
        self._wake.set()

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                self._tick()
                self._wake.wait(self._timings.heartbeat_seconds)
                self._wake.clear()
        finally:
            with self._state:
                fence, self._fence = self._fence, None
            self._lock.dispose()
            if fence is not None:
                log.info(
                    "gave up the lead of lease %r (term %d): the process is stopping",
                    fence.lease,
                    fence.term,
                )

    def _tick(self) -> None:
        with self._state:
            leading, reason = self._fence is not None, self._deposed_reason
        try:
            if not leading:
                self._campaign()
            elif reason is not None:
                self._depose(reason)
            elif self._lock.held():
                with self._state:
                    self._heard_at = time.monotonic()
            else:
                self._depose("the database no longer holds this process's lock")
        except Unavailable as error:
            if leading:
                self._depose(str(error))
            elif not self._unreachable_logged:
                log.warning("cannot campaign for the lead: %s; trying every heartbeat", error)
                self._unreachable_logged = True
        except Exception:  # never let the thread die: a process that cannot lead must follow
            log.exception("leadership failed; starting over as a follower")
            self._depose("leadership failed")

    def _campaign(self) -> None:
        if not self._lock.try_acquire():
            self._unreachable_logged = False
            return
        try:
            fence = self._lock.take_term(self.holder, self._clock())
        except Unavailable:
            self._lock.release()  # let another process try
            raise
        with self._state:
            self._fence, self._deposed_reason = fence, None
            self._heard_at = time.monotonic()
        self._unreachable_logged = False
        log.info(
            "won the lead of lease %r in term %d as %s: this process fires the schedule",
            fence.lease,
            fence.term,
            self.holder,
        )
        try:
            self._on_elected(fence)
        except Exception:  # the lead stands; the next triggers fire as usual
            log.exception("could not fire what was due on winning the lead")

    def _depose(self, reason: str) -> None:
        with self._state:
            fence, self._fence, self._deposed_reason = self._fence, None, None
        # Ending the session frees the lock at once if it is still held.
        self._lock.release()
        if fence is None:
            return
        log.warning(
            "lost the lead of lease %r (term %d): %s; no more firing until it wins again",
            fence.lease,
            fence.term,
            reason,
        )
