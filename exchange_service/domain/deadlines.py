"""The deadline of the call being served, so storage can bound its statements."""

from __future__ import annotations

import time
from contextvars import ContextVar

# Absolute time.monotonic() by which the current call must finish, if any.
current_deadline: ContextVar[float | None] = ContextVar("current_deadline", default=None)


def seconds_left() -> float | None:
    deadline = current_deadline.get()
    return None if deadline is None else deadline - time.monotonic()
