"""``pantau mrz parse``: machine readable zones on standard input, one JSON object each.

One document per block of lines, blocks separated by a blank line. Each document is one
line of JSON on standard output, in input order (``watchlist.mrz.MrzDocument.as_json``:
``document_type``, ``issuing_state``, ``surname``, ``given_names``, ``document_number``,
``nationality``, ``birth_date`` and ``expiry_date`` as YYYY-MM-DD, ``sex``,
``personal_number``, ``valid``, each check digit's result and the OCR corrections). A
block that is no MRZ prints ``{"error": ..., "line": ...}`` (its line counted in the
input) and the command exits 1 once every block is printed; a failing check digit is
``valid: false``, not an error. Offline: no settings, no database.
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
from watchlist.mrz import MrzError, parse_mrz

# The office's zone: "today" (for the century of a two-digit birth year) is its day.
OFFICE_ZONE = ZoneInfo("Asia/Jakarta")


def add_mrz_parser(commands: Any) -> None:
    mrz = commands.add_parser("mrz", help="read machine readable zones (ICAO 9303)")
    actions = mrz.add_subparsers(dest="mrz_command", required=True)
    parse = actions.add_parser(
        "parse", help="MRZ lines on stdin (blank line between documents), JSON lines on stdout"
    )
    parse.add_argument(
        "--today",
        type=date.fromisoformat,
        default=None,
        help="the day two-digit years are read against (default: today in WIB)",
    )


def blocks(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """(first line number, lines) of each block of non-blank lines."""
    block: list[str] = []
    start = 0
    for number, line in enumerate(lines, 1):
        if line.strip():
            if not block:
                start = number
            block.append(line.rstrip("\r\n"))
        elif block:
            yield start, block
            block = []
    if block:
        yield start, block


def parse_stream(source: TextIO, sink: TextIO, today: date) -> int:
    """Writes one JSON line per block; 1 when a block was no MRZ, else 0."""
    status = 0
    for start, block in blocks(source):
        try:
            document = parse_mrz(block, reference=today)
        except MrzError as error:
            line = None if error.line is None else start + error.line - 1
            sink.write(json.dumps({"error": str(error), "line": line}) + "\n")
            status = 1
            continue
        sink.write(json.dumps(document.as_json(), ensure_ascii=False) + "\n")
    return status


def run_mrz_command(args: argparse.Namespace) -> int:
    today = args.today or local_today(system_clock, OFFICE_ZONE)
    return parse_stream(sys.stdin, sys.stdout, today)
