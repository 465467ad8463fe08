"""Stopping a long-running process (the scheduler, a delivery worker) on SIGTERM or Ctrl-C.

``stopping_on_signals`` guarantees: while its block runs in the main thread,
SIGTERM and SIGINT call ``stop`` (which should only ask the work to stop:
set an event, flag a worker) and are logged, the process is not torn down
mid-transaction; afterwards the previous handlers are back. Outside the
main thread (a test running the process in a thread) it changes nothing,
as Python lets only the main thread set handlers.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

__all__ = ["stopping_on_signals"]

log = logging.getLogger(__name__)


@contextmanager
def stopping_on_signals(stop: Callable[[], None], doing: str = "") -> Iterator[None]:
    """SIGTERM and SIGINT call ``stop`` while the block runs; ``doing`` is logged with them."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_stop(signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        log.info("received %s%s", name, f": {doing}" if doing else "")
        stop()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
