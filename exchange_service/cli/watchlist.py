"""``pantau watchlist compare``: scores name pairs from CSV on standard input (offline).

Needs neither settings nor the database; the matching is
``watchlist.compare.compare_csv``. Bad rows are named on standard error and
make the exit code 1; the other rows are still written.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from watchlist.compare import BadRow, MissingColumns, compare_csv
from watchlist.matching import DEFAULT_THRESHOLD


def add_watchlist_parser(commands: Any) -> None:
    """Adds ``watchlist compare`` to the ``pantau`` subcommands."""
    watchlist = commands.add_parser("watchlist", help="watchlist screening tools (offline)")
    actions = watchlist.add_subparsers(dest="watchlist_command", required=True)
    compare = actions.add_parser(
        "compare",
        help="score name pairs: CSV with name1,name2 on stdin, name1,name2,score,match on stdout",
    )
    compare.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"score at which a pair matches (default {DEFAULT_THRESHOLD})",
    )


def _report(bad: BadRow) -> None:
    print(f"row {bad.row}: {bad.reason}", file=sys.stderr)  # noqa: T201


def run_watchlist_command(args: argparse.Namespace) -> int:
    """Runs ``pantau watchlist compare``; 0 when every row was scored."""
    if not 0.0 <= args.threshold <= 1.0:
        print("--threshold must be between 0 and 1", file=sys.stderr)  # noqa: T201
        return 2
    try:
        summary = compare_csv(sys.stdin, sys.stdout, threshold=args.threshold, on_bad_row=_report)
    except MissingColumns as error:
        print(str(error), file=sys.stderr)  # noqa: T201
        return 1
    return 1 if summary.bad_rows else 0
