"""`pantau mrz parse`: one JSON line per document on standard input, offline."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from exchange_service.cli import main

ROOT = Path(__file__).resolve().parents[2]
SPECIMEN_TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10\n"
)
SPECIMEN_TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<\n"
    "7408122F1204159UTO<<<<<<<<<<<6\n"
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<\n"
)


def _pantau(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    """The real command in a process of its own, with no settings and no database."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "proto" / "gen" / "python")]),
    }
    return subprocess.run(
        [sys.executable, "-m", "exchange_service.cli", "mrz", "parse", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=60,
        check=False,
    )


def _objects(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def test_documents_print_in_input_order_and_a_bad_block_exits_1() -> None:
    td3 = SPECIMEN_TD3.splitlines()
    stdin_lines = [
        *td3,  # lines 1 and 2
        "",
        td3[0],
        td3[1][:-2],  # line 5: two characters short
        "",
        "",
        *(f"  {line.lower()} " for line in SPECIMEN_TD1.splitlines()),  # lines 8 to 10
        "   ",
        "not an mrz at all",  # line 12
    ]
    stdin = "\n".join(stdin_lines) + "\n"
    done = _pantau(stdin, "--today", "2026-06-01")
    assert done.returncode == 1, done.stderr
    first, wrong_length, td1, garbage = _objects(done.stdout)
    assert (first["layout"], first["surname"], first["given_names"]) == (
        "TD3",
        "ERIKSSON",
        "ANNA MARIA",
    )
    assert (first["birth_date"], first["expiry_date"], first["valid"]) == (
        "1974-08-12",
        "2012-04-15",
        True,
    )
    assert first["checks"]["composite"] == {"valid": True, "expected": "0", "found": "0"}
    assert first["corrections"] == []
    assert wrong_length == {"error": "line 2 has 42 characters; a TD3/MRVA line has 44", "line": 5}
    assert (td1["layout"], td1["document_number"], td1["valid"]) == ("TD1", "D23145890", True)
    assert garbage["line"] == 12
    assert "not an MRZ of a known layout" in garbage["error"]


def test_a_failing_check_digit_is_valid_false_and_exit_0() -> None:
    lines = SPECIMEN_TD3.splitlines()
    broken = lines[1][:19] + "3" + lines[1][20:]
    done = _pantau(f"{lines[0]}\n{broken}\n", "--today", "2026-06-01")
    assert done.returncode == 0, done.stderr
    (document,) = _objects(done.stdout)
    assert document["valid"] is False
    assert document["checks"]["birth_date"] == {"valid": False, "expected": "2", "found": "3"}


def test_the_reference_day_is_today_in_wib(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    tomorrow = today + timedelta(days=1)
    blocks = []
    for born in (today, tomorrow):
        line1, line2 = SPECIMEN_TD3.splitlines()
        blocks.append(f"{line1}\n{line2[:13]}{born:%y%m%d}{line2[19:]}")
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n\n".join(blocks)))
    assert main(["mrz", "parse"]) == 0
    born_today, born_tomorrow = _objects(capsys.readouterr().out)
    assert born_today["birth_date"] == today.isoformat()
    # Not born yet in this century: the century before.
    assert born_tomorrow["birth_date"] == tomorrow.replace(year=tomorrow.year - 100).isoformat()


def test_today_must_be_a_date(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["mrz", "parse", "--today", "1 June"])
    assert exit_.value.code == 2
    assert "--today" in capsys.readouterr().err


def test_no_documents_print_nothing(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n  \n"))
    assert main(["mrz", "parse", "--today", date(2026, 6, 1).isoformat()]) == 0
    assert capsys.readouterr().out == ""
