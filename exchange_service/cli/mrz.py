"""`pantau mrz parse`: machine readable zones on standard input, one JSON object per document.

Documents are separated by blank lines. Each prints on a line of its own, in
input order: the fields, every check digit and every OCR correction
(``watchlist.mrz``). A block that is not an MRZ prints ``{"error", "line"}``
(the line of standard input at fault, or the block's first) and the command exits 1 once
all are printed; a failing check digit is no error (``"valid": false``). It
needs neither settings nor the database.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from datetime import date
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from exchange_service.domain.clock import local_today, system_clock
from exchange_service.settings import Settings
from watchlist.mrz import MrzError, parse_mrz

ALL_PARSED = 0
SOME_NOT_PARSED = 1
# The office's zone when no settings are read (Settings.timezone's default).
_OFFICE_ZONE = "Asia/Jakarta"


def add_mrz_parser(commands: Any) -> None:
    """Adds ``mrz parse`` to the ``pantau`` subcommands."""
    mrz = commands.add_parser("mrz", help="machine readable zones of travel documents (offline)")
    actions = mrz.add_subparsers(dest="mrz_command", required=True)
    parse = actions.add_parser(
        "parse",
        help="parse MRZs on standard input (blank lines between documents) into JSON lines",
    )
    parse.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the reference day for two-digit years, YYYY-MM-DD (default: today in WIB)",
    )


def _blocks(lines: Iterable[str]) -> Iterator[list[tuple[int, str]]]:
    """The blank-line-separated blocks, each line with its number in the input."""
    block: list[tuple[int, str]] = []
    for number, line in enumerate(lines, start=1):
        if line.strip():
            block.append((number, line))
        elif block:
            yield block
            block = []
    if block:
        yield block


def parse_documents(source: TextIO, out: TextIO, reference: date) -> int:
    """Prints one JSON line per document of ``source``; 1 if any block did not parse."""
    code = ALL_PARSED
    for block in _blocks(source):
        try:
            document: dict[str, Any] = parse_mrz(
                [line for _, line in block], reference=reference
            ).as_json()
        except MrzError as exc:
            # The line at fault, or the block's first when the error is the whole block's.
            at = block[exc.line - 1 if exc.line is not None else 0][0]
            document = {"error": exc.message, "line": at}
            code = SOME_NOT_PARSED
        out.write(json.dumps(document, ensure_ascii=False) + "\n")
    out.flush()
    return code


def run_mrz_command(args: argparse.Namespace, settings: Settings | None = None) -> int:
    """Runs ``pantau mrz parse`` on standard input; without settings the office's day is WIB's."""
    zone = ZoneInfo(settings.timezone if settings is not None else _OFFICE_ZONE)
    reference = args.today if args.today is not None else local_today(system_clock, zone)
    return parse_documents(sys.stdin, sys.stdout, reference)
