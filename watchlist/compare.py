"""``pantau watchlist compare``: name pairs from CSV scored, as CSV, row by row.

Reads a header and rows with at least the columns ``name1`` and ``name2``
(others are ignored) and writes ``name1,name2,score,match`` for each row in
order, the score with four decimals and the decision at the threshold. It
streams: one row in memory at a time. A row missing a name is reported and
skipped; the others are still written.
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TextIO

from watchlist.matching import name_score

OUTPUT_FIELDS = ("name1", "name2", "score", "match")


@dataclass(frozen=True)
class BadRow:
    """A row that could not be scored: its number (the header is row 1) and why."""

    row: int
    reason: str


@dataclass(frozen=True)
class CompareSummary:
    """How many rows were scored, and the rows that were not."""

    rows: int
    bad_rows: tuple[BadRow, ...] = field(default=())


class MissingColumns(ValueError):
    """The header lacks ``name1`` or ``name2``."""


def compare_csv(
    source: TextIO,
    sink: TextIO,
    *,
    threshold: float,
    on_bad_row: Callable[[BadRow], None] | None = None,
) -> CompareSummary:
    """Scores every row of ``source`` into ``sink``; ``on_bad_row`` hears of each bad row as
    it comes (the summary lists them too)."""
    reader = csv.reader(source)
    header = next(reader, None)
    if header is None or "name1" not in header or "name2" not in header:
        raise MissingColumns("the header must name the columns name1 and name2")
    first, second = header.index("name1"), header.index("name2")
    needed = max(first, second)
    writer = csv.writer(sink, lineterminator="\n")
    writer.writerow(OUTPUT_FIELDS)
    scored = 0
    bad: list[BadRow] = []
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) <= needed or not row[first].strip() or not row[second].strip():
            problem = BadRow(number, "name1 or name2 is missing")
            bad.append(problem)
            if on_bad_row is not None:
                on_bad_row(problem)
            continue
        a, b = row[first], row[second]
        score = name_score(a, b)
        writer.writerow((a, b, f"{score:.4f}", "true" if score >= threshold else "false"))
        scored += 1
    return CompareSummary(rows=scored, bad_rows=tuple(bad))
