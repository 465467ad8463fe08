"""``pantau watchlist import``: files read, written in batches, summed up with reasons.

The writer here validates with the service's own ``valid_entry`` and keeps
what it accepts in memory (the real one writes to the database); the files
are the samples of ``tests/data/watchlist`` and a generated OpenSanctions-like
file of 20,000 lines.
"""

from __future__ import annotations

import argparse
import io
import json
import tracemalloc
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import pytest
from rich.console import Console

from exchange_service.cli.watchlist_import import (
    ACCEPTED_ALL,
    REJECTED_SOME,
    UNREADABLE,
    ImportSummary,
    add_import_arguments,
    format_of,
    run_import,
    run_import_command,
)
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.watchlist import UpsertEntry, valid_entry
from exchange_service.wire.watchlist_sources import SourceError

DATA = Path(__file__).parents[1] / "data" / "watchlist"
TODAY = date(2026, 6, 1)


class ValidatingWriter:
    """Accepts what the service's validation accepts, batch by batch."""

    def __init__(self) -> None:
        self.batches: list[int] = []
        self.accepted: list[UpsertEntry] = []

    def __call__(self, batch: Sequence[UpsertEntry]) -> list[str | None]:
        self.batches.append(len(batch))
        refusals: list[str | None] = []
        for command in batch:
            try:
                valid_entry(command, TODAY)
            except InvalidInput as error:
                refusals.append(str(error))
            else:
                self.accepted.append(command)
                refusals.append(None)
        return refusals


def _console() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, width=200, force_terminal=False), out


def _import(
    path: Path, writer: ValidatingWriter, *, batch_size: int = 500, **options: object
) -> tuple[ImportSummary, str]:
    console, out = _console()
    summary = run_import(
        path,
        fmt=options.pop("fmt", None),  # type: ignore[arg-type]
        default_list=str(options.pop("default_list", "ENTRY_BAN")),
        issuing_agency=str(options.pop("issuing_agency", "")),
        batch_size=batch_size,
        upsert_batch=writer,
        console=console,
        **options,  # type: ignore[arg-type]
    )
    return summary, out.getvalue()


def test_the_office_csv_is_imported_and_summed_up_with_reasons_and_lines() -> None:
    writer = ValidatingWriter()
    summary, printed = _import(
        DATA / "watchlist-office.csv", writer, batch_size=2, issuing_agency="Kantor Imigrasi"
    )
    assert (summary.read, summary.accepted, summary.rejected, summary.skipped) == (7, 3, 4, 0)
    assert summary.exit_code == REJECTED_SOME
    assert writer.batches == [2, 2, 1]
    assert [c.names[0] for c in writer.accepted] == ["Budi Santoso", "Li Wei", "Сергей Иванов"]
    assert sorted(summary.rejections) == [
        (4, "birth_date is not written YYYY-MM-DD, YYYY-MM or YYYY ('17/04/1985')"),
        (5, "entry.birth_date.month: 13 is not a month"),
        (6, "the row's values do not match the header's columns (3 values, 12 columns)"),
        (9, "entry.names: at least one name is required; entry.names[0]: is required"),
    ]
    assert "read 7: accepted 3, rejected 4, skipped 0" in printed
    assert "1  entry.birth_date.month: 13 is not a month (line 5)" in printed
    assert "1  columns ignored (unknown): remarks (line 1)" in printed


def test_the_opensanctions_sample_is_imported_with_skips_and_notes() -> None:
    writer = ValidatingWriter()
    summary, printed = _import(
        DATA / "opensanctions-sample.ftm.json", writer, list_from_topics=True
    )
    assert (summary.read, summary.accepted, summary.rejected, summary.skipped) == (13, 5, 2, 6)
    assert summary.skip_counts["Passport (its number goes to its holder)"] == 3
    assert {c.external_id: c.list for c in writer.accepted}["irn-red-nguyen-an"] == (
        "INTERNATIONAL_NOTICE"
    )
    assert "4  Passport (its number goes to its holder)" not in printed
    assert "3  Passport (its number goes to its holder)" in printed
    assert "country 'suhh' has no ISO 3166-1 alpha-3 code: left out (line 4)" in printed
    assert "documents of 1 holders not persons of the file: NK-not-in-this-file" in printed
    assert "1  the line is not a JSON object (line 9; line 9: Invalid control character" in printed
    assert printed.startswith("read 13:")  # no progress bar left on a console that is no terminal


def test_a_file_whose_every_record_is_accepted_exits_0(tmp_path: Path) -> None:
    # Only the office file's good rows: the header and lines 2, 3 and 7.
    lines = (DATA / "watchlist-office.csv").read_bytes().splitlines(keepends=True)
    good = tmp_path / "good.csv"
    good.write_bytes(b"".join([lines[0], lines[1], lines[2], lines[6]]))
    args = _parse([str(good), "--issuing-agency", "Kantor Imigrasi Tarempa"])
    writer = ValidatingWriter()
    console, _ = _console()
    assert run_import_command(args, writer, console) == ACCEPTED_ALL
    assert len(writer.accepted) == 3


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pantau watchlist import")
    add_import_arguments(parser)
    return parser.parse_args(argv)


def test_the_arguments_and_their_defaults() -> None:
    args = _parse(["list.csv"])
    assert (args.file, args.format, args.list, args.issuing_agency) == (
        Path("list.csv"),
        None,
        None,
        "",
    )
    assert (args.batch_size, args.dry_run, args.list_from_topics) == (500, False, False)
    args = _parse(
        ["x.jsonl", "--format", "ftm", "--list", "ENTRY_BAN", "--dry-run", "--list-from-topics"]
    )
    assert (args.format, args.list, args.dry_run, args.list_from_topics) == (
        "ftm",
        "ENTRY_BAN",
        True,
        True,
    )
    with pytest.raises(SystemExit):
        _parse(["x.csv", "--list", "BLACKLIST"])


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("office.CSV", "csv"),
        ("entities.ftm.json", "ftm"),
        ("targets.jsonl", "ftm"),
        ("x.ndjson", "ftm"),
    ],
)
def test_the_format_follows_the_extension(name: str, fmt: str) -> None:
    assert format_of(Path(name)) == fmt


def test_an_unknown_format_is_refused_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "entries.txt"
    path.write_text("name\nBudi\n")
    with pytest.raises(SourceError, match="give --format csv or ftm"):
        format_of(path)
    writer = ValidatingWriter()
    console, out = _console()
    assert run_import_command(_parse([str(path)]), writer, console) == UNREADABLE
    assert "cannot tell the format of entries.txt" in out.getvalue()
    # Told the format, the same file reads.
    assert run_import_command(_parse([str(path), "--format", "csv"]), writer, console) == 1
    assert writer.batches == [1]


def test_a_csv_without_a_name_column_writes_nothing_and_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("nama,alasan\nBudi,x\n")
    writer = ValidatingWriter()
    console, out = _console()
    assert run_import_command(_parse([str(path)]), writer, console) == UNREADABLE
    assert writer.batches == []
    assert "the header has no 'name' column" in out.getvalue()


def test_a_writer_that_answers_for_fewer_entries_than_it_was_given_is_an_error() -> None:
    with pytest.raises(ValueError, match="answered 0 of 5 entries"):
        _import(DATA / "watchlist-office.csv", lambda batch: [])  # type: ignore[arg-type]


def test_only_the_first_rejections_are_listed_but_all_are_counted(tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    path.write_text("name,birth_date\n" + "".join(f"P{i},01-01-1970\n" for i in range(150)))
    summary, printed = _import(path, ValidatingWriter())
    assert summary.rejected == 150
    assert len(summary.rejections) == 100
    reason = "birth_date is not written YYYY-MM-DD, YYYY-MM or YYYY"
    assert summary.rejection_counts == {reason: 150}
    assert f"150  {reason} (line 2, 3, 4, 5, 6 ...; line 2: '01-01-1970')" in printed


def _generated_ftm(path: Path, persons: int) -> None:
    """OpenSanctions-like lines: per person a passport (before or after), every tenth a company."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(persons):
            person = {
                "id": f"NK-gen-{i}",
                "caption": f"Иван Генерович {i}",
                "schema": "Person",
                "properties": {
                    "name": [f"Иван Генерович {i}"],
                    "alias": [f"Ivan Generovich {i}", f"إيفان {i}"],
                    "birthDate": [f"{1940 + i % 60}-0{1 + i % 9}-1{i % 9}"],
                    "nationality": [("ru", "sy", "ir", "kp", "suhh")[i % 5]],
                    "topics": ["sanction"],
                    "program": ["GEN-PROGRAM"],
                },
                "datasets": ["gen_sanctions"],
                "first_seen": "2024-01-01T00:00:00",
                "last_seen": "2026-05-01T06:10:04",
                "target": True,
            }
            passport = {
                "id": f"gen-pass-{i}",
                "schema": "Passport",
                "properties": {"holder": [f"NK-gen-{i}"], "number": [f"P{i:08d}"]},
                "datasets": ["gen_sanctions"],
            }
            lines = [passport, person] if i % 2 else [person, passport]
            if i % 10 == 0:
                lines.append(
                    {"id": f"co-{i}", "schema": "Company", "properties": {"name": [f"Co {i}"]}}
                )
            for line in lines:
                out.write(json.dumps(line, ensure_ascii=False) + "\n")


def test_a_large_file_streams_in_batches_with_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "entities.ftm.json"
    # 10,000 persons, 10,000 passports and 1,000 companies: 21,000 lines.
    _generated_ftm(path, 10_000)
    seen: list[int] = []

    def count_only(batch: Sequence[UpsertEntry]) -> list[str | None]:
        seen.append(len(batch))
        assert all(len(c.documents) == 1 for c in batch)
        return [None] * len(batch)

    tracemalloc.start()
    try:
        summary, printed = _import(path, count_only, batch_size=500)  # type: ignore[arg-type]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (summary.read, summary.accepted, summary.skipped) == (21_000, 10_000, 11_000)
    assert seen == [500] * 20
    # What is held is a batch and the passports by holder, not the 10,000 entries.
    assert peak < 8 * 1024 * 1024, peak
    assert "2000  country 'suhh' has no ISO 3166-1 alpha-3 code: left out" in printed


def test_on_a_terminal_the_progress_follows_the_bytes_read() -> None:
    out = io.StringIO()
    console = Console(file=out, width=120, force_terminal=True)
    path = DATA / "opensanctions-sample.ftm.json"
    run_import(
        path,
        fmt=None,
        default_list="ENTRY_BAN",
        issuing_agency="",
        batch_size=2,
        upsert_batch=lambda batch: [None] * len(batch),
        console=console,
    )
    shown = out.getvalue()
    assert "importing opensanctions-sample.ftm.json" in shown
    assert "finding passports" in shown
    size_kb = f"{path.stat().st_size / 1000:.1f}"
    assert f"{size_kb}/{size_kb} kB" in shown  # the bar ends at the file's size
