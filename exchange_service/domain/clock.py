"""The time Pantau goes by: a clock is passed in, never read from the system inline.

Use cases, rules, the audit trail and reports take a ``Clock`` so that tests
(and a replay of a past day) can set it; the office's days are counted in its
own time zone (WIB), never in UTC.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, timezone-aware, in UTC."""
    return datetime.now(UTC)


def local_date(at: datetime, timezone: str) -> date:
    """The calendar day ``at`` falls on in ``timezone`` (e.g. Asia/Jakarta)."""
    return at.astimezone(ZoneInfo(timezone)).date()
