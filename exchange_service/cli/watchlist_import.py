"""``pantau watchlist import FILE``: watchlist entries from a CSV or FollowTheMoney file.

The file's records are read by ``exchange_service.wire.watchlist_sources``
(its docstring lists the CSV columns and the FollowTheMoney mapping) and
written in batches through ``upsert_batch``, which the command is given: it
writes one batch and says, per entry, None when it was accepted or the
service's reason for refusing it (``entry.names[0]: is required``). With
``--dry-run`` the command is given one that validates and writes nothing.
A progress bar follows the bytes read; at the end a summary counts the
records read, accepted, rejected and skipped, and groups the rejections
and notes by reason with example line numbers.

Exit codes (``ImportSummary.exit_code``, ``run_import_command``): 0 every
record was accepted or skipped, 1 a record was rejected (the others were
still written), 2 the file could not be opened or read as its format (a
CSV without a usable header, an extension that names no format: nothing was
written).

The ``watchlist`` command group registers it: ``add_import_arguments`` on
its parser, then ``run_import_command`` with the writer (the service's
upsert in batches or, for ``--dry-run``, its validation alone) and a
console on stderr, so that the bar and the summary stay apart from output
a caller pipes on.
"""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)

from exchange_service.domain.watchlist import UpsertEntry, WatchlistKind
from exchange_service.wire.watchlist_sources import (
    Entry,
    Note,
    Rejected,
    Skipped,
    SourceDefaults,
    SourceError,
    SourceRecord,
    read_csv,
    read_ftm,
    scan_ftm_documents,
)

ACCEPTED_ALL, REJECTED_SOME, UNREADABLE = 0, 1, 2
FORMATS = ("csv", "ftm")
# Rejections listed one by one; beyond them only the counts by reason grow.
DETAILED_REJECTIONS = 100
# Example line numbers printed per reason.
EXAMPLE_LINES = 5

UpsertBatch = Callable[[Sequence[UpsertEntry]], Sequence[str | None]]


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of ``watchlist import`` (``run_import_command`` reads them)."""
    parser.add_argument("file", type=Path, help="the CSV or FollowTheMoney JSON lines file")
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="csv, or ftm (FollowTheMoney JSON lines, as OpenSanctions publishes); "
        "default from the file's extension (.csv; .json, .jsonl, .ndjson, .ftm.json)",
    )
    parser.add_argument(
        "--list",
        choices=[str(kind) for kind in WatchlistKind],
        help="the list of records that do not name one (CSV's list column)",
    )
    parser.add_argument(
        "--list-from-topics",
        action="store_true",
        help="ftm: persons with the topics wanted or crime.* go on INTERNATIONAL_NOTICE",
    )
    parser.add_argument(
        "--issuing-agency",
        default="",
        help="the issuing agency of records that do not name one "
        "(ftm default: 'OpenSanctions: <datasets>')",
    )
    parser.add_argument(
        "--batch-size", type=int, default=500, help="entries written per transaction"
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="read and validate every record, write nothing"
    )


@dataclass
class ImportSummary:
    """What an import read and what became of it."""

    read: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    # The first ``DETAILED_REJECTIONS`` rejections, as (line, reason with its detail).
    rejections: list[tuple[int, str]] = field(default_factory=list)
    rejection_counts: Counter[str] = field(default_factory=Counter)
    rejection_lines: dict[str, list[int]] = field(default_factory=dict)
    # The detail of each reason's first rejection (the value that was refused).
    rejection_details: dict[str, str] = field(default_factory=dict)
    skip_counts: Counter[str] = field(default_factory=Counter)
    note_counts: Counter[str] = field(default_factory=Counter)
    note_lines: dict[str, list[int]] = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return REJECTED_SOME if self.rejected else ACCEPTED_ALL

    def reject(self, line: int, reason: str, detail: str = "") -> None:
        self.rejected += 1
        if len(self.rejections) < DETAILED_REJECTIONS:
            self.rejections.append((line, f"{reason} ({detail})" if detail else reason))
        self.rejection_counts[reason] += 1
        if detail:
            self.rejection_details.setdefault(reason, f"line {line}: {detail}")
        examples = self.rejection_lines.setdefault(reason, [])
        if len(examples) < EXAMPLE_LINES:
            examples.append(line)

    def note(self, line: int, text: str) -> None:
        self.note_counts[text] += 1
        examples = self.note_lines.setdefault(text, [])
        if line and len(examples) < EXAMPLE_LINES:
            examples.append(line)


def format_of(path: Path) -> str:
    """The format a file's extension says; ``SourceError`` when it says none."""
    name = path.name.lower()
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".json", ".jsonl", ".ndjson")):
        return "ftm"
    raise SourceError(f"cannot tell the format of {path.name}: give --format csv or ftm")


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=True,
        # Not a terminal (a pipe, a log): the summary alone.
        disable=not console.is_terminal,
    )


def _records(
    source: BinaryIO, fmt: str, defaults: SourceDefaults, progress: Progress, size: int
) -> Iterator[SourceRecord]:
    if fmt == "csv":
        yield from read_csv(source, defaults)
        return
    scan = progress.add_task("finding passports", total=size)
    documents = scan_ftm_documents(source, lambda done: progress.update(scan, completed=done))
    progress.remove_task(scan)
    source.seek(0)
    yield from read_ftm(source, defaults, documents)


def _write(batch: list[Entry], upsert_batch: UpsertBatch, summary: ImportSummary) -> None:
    if not batch:
        return
    refusals = upsert_batch([entry.command for entry in batch])
    if len(refusals) != len(batch):
        raise ValueError(f"upsert_batch answered {len(refusals)} of {len(batch)} entries")
    for entry, refusal in zip(batch, refusals, strict=True):
        if refusal is None:
            summary.accepted += 1
        else:
            summary.reject(entry.line, refusal)
    batch.clear()


def run_import(
    path: Path,
    *,
    fmt: str | None,
    default_list: str,
    issuing_agency: str,
    batch_size: int,
    upsert_batch: UpsertBatch,
    console: Console,
    list_from_topics: bool = False,
) -> ImportSummary:
    """Reads the file, writes its entries in batches, prints and returns the summary.

    ``fmt`` None: from the extension. Raises ``SourceError`` (before writing
    anything) when the file cannot be read as its format, ``OSError`` when
    it cannot be opened.
    """
    if batch_size < 1:
        raise ValueError("the batch size must be at least 1")
    fmt = fmt or format_of(path)
    if fmt not in FORMATS:
        raise SourceError(f"unknown format {fmt!r}: csv or ftm")
    defaults = SourceDefaults(default_list, issuing_agency, list_from_topics)
    summary = ImportSummary()
    size = path.stat().st_size
    batch: list[Entry] = []
    with path.open("rb") as source, _progress(console) as progress:
        task: TaskID = progress.add_task(f"importing {path.name}", total=size)
        for record in _records(source, fmt, defaults, progress, size):
            if isinstance(record, Note):
                summary.note(record.line, record.text)
                continue
            summary.read += 1
            if isinstance(record, Entry):
                for text in record.notes:
                    summary.note(record.line, text)
                batch.append(record)
                if len(batch) >= batch_size:
                    _write(batch, upsert_batch, summary)
                    progress.update(task, completed=source.tell())
            elif isinstance(record, Rejected):
                summary.reject(record.line, record.reason, record.detail)
            elif isinstance(record, Skipped):
                summary.skipped += 1
                summary.skip_counts[record.reason] += 1
        _write(batch, upsert_batch, summary)
        progress.update(task, completed=size)
    print_summary(summary, console)
    return summary


def _lines(lines: list[int], count: int, detail: str = "") -> str:
    """`` (line 4, 9 ...; line 4: '17/04/1985')``: example lines and the first refused value."""
    shown = ", ".join(str(line) for line in lines)
    if not shown:
        return ""
    more = " ..." if count > len(lines) else ""
    return f" (line {shown}{more}{'; ' + detail if detail else ''})"


def print_summary(summary: ImportSummary, console: Console) -> None:
    """Counts, then rejections, skips and notes grouped by reason, most frequent first."""
    console.print(
        f"read {summary.read}: accepted {summary.accepted}, rejected {summary.rejected}, "
        f"skipped {summary.skipped}"
    )
    if summary.rejection_counts:
        console.print("rejected:")
        for reason, count in summary.rejection_counts.most_common():
            detail = summary.rejection_details.get(reason, "")
            lines = _lines(summary.rejection_lines[reason], count, detail)
            console.print(f"  {count:>7}  {escape(reason)}{escape(lines)}")
    if summary.skip_counts:
        console.print("skipped:")
        for reason, count in summary.skip_counts.most_common():
            console.print(f"  {count:>7}  {escape(reason)}")
    if summary.note_counts:
        console.print("notes:")
        for text, count in summary.note_counts.most_common():
            lines = _lines(summary.note_lines[text], count)
            console.print(f"  {count:>7}  {escape(text)}{escape(lines)}")


def run_import_command(
    args: argparse.Namespace, upsert_batch: UpsertBatch, console: Console
) -> int:
    """``run_import`` with the arguments of ``add_import_arguments``; the exit code."""
    try:
        summary = run_import(
            args.file,
            fmt=args.format,
            default_list=args.list or "",
            issuing_agency=args.issuing_agency,
            batch_size=args.batch_size,
            upsert_batch=upsert_batch,
            console=console,
            list_from_topics=args.list_from_topics,
        )
    except (SourceError, OSError) as error:
        console.print(f"cannot import {escape(str(args.file))}: {escape(str(error))}")
        return UNREADABLE
    return summary.exit_code
