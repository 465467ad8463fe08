"""The time Pantau goes by: a clock is passed in, never read from the system inline.

Use cases, rules, the audit trail and reports take a ``Clock`` so that tests
(and a replay of a past day) can set it; the office's days are counted in its
own time zone (WIB), never in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo

# The time now, timezone-aware.
Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The system's clock, in UTC: the clock of a running service."""
    return datetime.now(UTC)


def local_today(clock: Clock, zone: tzinfo) -> date:
    """Today in the office's time zone: the day every rule about "today" counts in."""
    return clock().astimezone(zone).date()
