"""``pantau watchlist compare`` and the compare_csv it runs."""

from __future__ import annotations

import csv
import io

import pytest

from exchange_service.cli import main
from watchlist.compare import MissingColumns, compare_csv


def test_rows_come_out_in_order_with_score_and_decision() -> None:
    source = io.StringIO("id,name1,name2\n1,Sukarno,Soekarno\n2,John Doe,Juan Doe\n")
    sink = io.StringIO()
    summary = compare_csv(source, sink, threshold=0.7)
    rows = list(csv.reader(io.StringIO(sink.getvalue())))
    assert rows[0] == ["name1", "name2", "score", "match"]
    assert [r[:2] for r in rows[1:]] == [["Sukarno", "Soekarno"], ["John Doe", "Juan Doe"]]
    assert [r[3] for r in rows[1:]] == ["true", "false"]
    assert all(len(r[2].split(".")[1]) == 4 for r in rows[1:])
    assert summary.rows == 2
    assert summary.bad_rows == ()


def test_the_threshold_decides() -> None:
    sink = io.StringIO()
    compare_csv(io.StringIO("name1,name2\nJohn Doe,Juan Doe\n"), sink, threshold=0.1)
    assert sink.getvalue().splitlines()[1].endswith(",true")


def test_bad_rows_are_reported_and_the_others_written() -> None:
    source = io.StringIO("name1,name2\nSukarno\n,Soekarno\nWu,Wu\n")
    sink = io.StringIO()
    summary = compare_csv(source, sink, threshold=0.7)
    assert [b.row for b in summary.bad_rows] == [2, 3]
    assert sink.getvalue().splitlines()[1:] == ["Wu,Wu,1.0000,true"]


def test_a_header_without_the_names_is_refused() -> None:
    with pytest.raises(MissingColumns):
        compare_csv(io.StringIO("a,b\nx,y\n"), io.StringIO(), threshold=0.7)


def test_the_command_reads_stdin_without_settings(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("PANTAU_SETTINGS", "/nonexistent/settings.toml")
    monkeypatch.setattr("sys.stdin", io.StringIO("name1,name2\nLi Na,Na Li\nonly\n"))
    code = main(["watchlist", "compare", "--threshold", "0.9"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out.splitlines() == ["name1,name2,score,match", "Li Na,Na Li,1.0000,true"]
    assert "row 3" in err
