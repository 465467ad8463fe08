"""The report's charts as plain SVG geometry: the template draws what these compute.

No script and no chart library: a report opens the same in any browser,
offline, years later, and prints as it shows.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from exchange_service.domain.report import TrendDay

__all__ = ["Bar", "BarChart", "TrendChart", "bar_chart", "trend_chart"]

TREND_WIDTH = 1000.0
TREND_HEIGHT = 200.0
_TOP = 10.0
_BOTTOM = 20.0  # room for the dates under the axis


@dataclass(frozen=True)
class TrendChart:
    width: float
    height: float
    baseline: float
    top: float
    bars: tuple[tuple[float, float, float, float, TrendDay], ...]  # x, y, w, h, day
    line: str  # the polyline's points: open at each day's end
    peak: int  # the value at ``top``
    recent_x: float  # where the last 30 days begin
    first: str
    last: str


def trend_chart(days: Sequence[TrendDay]) -> TrendChart | None:
    """Opened per day as bars, open at each day's end as a line; None without days."""
    if not days:
        return None
    peak = max(1, *(d.open_at_end for d in days), *(d.opened for d in days))
    baseline = TREND_HEIGHT - _BOTTOM
    span = baseline - _TOP
    step = TREND_WIDTH / len(days)

    def y(value: int) -> float:
        return round(baseline - span * value / peak, 1)

    bars = tuple(
        (
            round(index * step + step * 0.15, 1),
            y(day.opened),
            round(step * 0.7, 1),
            round(baseline - y(day.opened), 1),
            day,
        )
        for index, day in enumerate(days)
    )
    line = " ".join(
        f"{round(index * step + step / 2, 1):g},{y(day.open_at_end):g}"
        for index, day in enumerate(days)
    )
    recent = max(0, len(days) - 30)
    return TrendChart(
        TREND_WIDTH,
        TREND_HEIGHT,
        baseline,
        _TOP,
        bars,
        line,
        peak,
        round(recent * step, 1),
        days[0].day.isoformat(),
        days[-1].day.isoformat(),
    )


@dataclass(frozen=True)
class Bar:
    key: str
    label_id: str
    label_en: str
    value: int
    width: float  # share of the longest bar, 0 to 100


@dataclass(frozen=True)
class BarChart:
    bars: tuple[Bar, ...]


def bar_chart(values: Sequence[tuple[str, str, str, int]]) -> BarChart:
    """Horizontal bars (key, Indonesian label, English label, value), widths as shares."""
    longest = max((value for *_, value in values), default=0)
    return BarChart(
        tuple(
            Bar(key, label_id, label_en, value, round(100 * value / longest, 1) if longest else 0)
            for key, label_id, label_en, value in values
        )
    )
