"""The suite's clock: the real time, or a fixed instant from ``PANTAU_TEST_NOW``.

Everything in the suite that needs "now" or "today" takes it from here: the
``clock`` fixture (``tests/conftest.py``) hands the same clock to the servers
and use cases it starts, and the request factories build their times from it.
``PANTAU_TEST_NOW`` freezes it: an ISO instant with its offset
(``2026-12-01T23:59:00+07:00``), or a WIB time of day (``23:59``) meaning
that time on today's WIB date. So the date-dependent tests run on both sides
of midnight in the office's time zone (WIB), when the UTC date differs from
WIB's for seven hours: ``make test`` runs them at 23:59 and at 00:01 WIB.
Certificates alone go by the real time: OpenSSL checks them against it.
"""

from __future__ import annotations

import itertools
import os
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

WIB = ZoneInfo("Asia/Jakarta")


class TestClock:
    """Now, as the suite sees it: real time, or stopped at ``frozen_at``.

    A stopped clock still ticks by one microsecond per reading, so that what
    is recorded one after the other (audit records, a stay's entry and exit)
    keeps its order and can be told apart by time, while a whole run stays
    within the minute it was set to.
    """

    __test__ = False  # not a test class, despite its name

    def __init__(self, frozen_at: datetime | None = None) -> None:
        if frozen_at is not None and frozen_at.tzinfo is None:
            raise ValueError("PANTAU_TEST_NOW needs a UTC offset, e.g. 2026-12-01T23:59:00+07:00")
        self.frozen_at = frozen_at
        self._ticks = itertools.count()

    def now(self) -> datetime:
        """The current instant (timezone-aware, UTC)."""
        if self.frozen_at is not None:
            return self.frozen_at.astimezone(UTC) + timedelta(microseconds=next(self._ticks))
        return datetime.now(UTC)

    def today(self) -> date:
        """Today's date in the office's time zone (WIB)."""
        return self.now().astimezone(WIB).date()


def _from_environment() -> TestClock:
    text = os.environ.get("PANTAU_TEST_NOW", "").strip()
    if not text:
        return TestClock()
    if len(text) == 5:  # HH:MM in WIB, today
        moment = time.fromisoformat(text)
        return TestClock(datetime.combine(datetime.now(WIB).date(), moment, WIB))
    return TestClock(datetime.fromisoformat(text))


# One clock for the whole test process: the fixture returns it, the factories use it.
CLOCK = _from_environment()
