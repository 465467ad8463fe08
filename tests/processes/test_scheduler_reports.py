"""A real `pantau scheduler` makes the morning's early-warning report once per slot: both
editions stored, their digests in the audit inbox, the files written to ``report_dir``,
and the slot claimed, so a second scheduler (or a restart) makes no second report."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import create_engine, text

from exchange_service.settings import SCHEDULER_CRONS
from tests.conftest import fresh_database
from tests.feeds import feed_key_environment

PANTAU = Path(sys.executable).parent / "pantau"
WIB = ZoneInfo("Asia/Jakarta")
LEADS = "won the lead of lease"


def _rows(engine: Any, sql: str) -> list[Any]:
    with engine.connect() as connection:
        return list(connection.execute(text(sql)).all())


def _run_scheduler(environment: dict[str, str], log_path: Path, until: Any) -> None:
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            [str(PANTAU), "scheduler"], env=environment, stdout=log_file, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while not until():
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text(errors="replace")


def test_the_scheduler_makes_the_mornings_report_once_per_slot(tmp_path: Path) -> None:
    # The report's time two minutes ago (WIB): its slot is due at once, within the grace.
    slot = (
        (datetime.now(UTC) - timedelta(minutes=2)).astimezone(WIB).replace(second=0, microsecond=0)
    )
    with fresh_database("pantau_scheduler_reports") as url:
        engine = create_engine(url)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
        environment |= {
            "PANTAU_SETTINGS": str(tmp_path / "no-settings-file.toml"),
            "PANTAU_DATABASE_URL": url,
            "PANTAU_LOG_LEVEL": "INFO",
            # No rule: the report's job alone.
            "PANTAU_SCHEDULER_CRONS": "{" + ", ".join(f'"{r}": []' for r in SCHEDULER_CRONS) + "}",
            "PANTAU_REPORT_TIME": slot.strftime("%H:%M"),
            "PANTAU_REPORT_DIR": str(tmp_path / "reports"),
            **feed_key_environment(tmp_path / "feed-keys"),
        }
        log_path = tmp_path / "scheduler.log"
        try:
            _run_scheduler(
                environment, log_path, lambda: len(_rows(engine, "SELECT id FROM reports")) == 2
            )
            # Started again, the slot has fired: nothing more is made.
            first_run = log_path.read_text(errors="replace")
            _run_scheduler(
                environment,
                log_path,
                lambda: log_path.read_text(errors="replace").count(LEADS) > first_run.count(LEADS),
            )
            # Given the time the new leader's firing of every job at once takes.
            time.sleep(2)
            reports = _rows(
                engine, "SELECT id, date, edition, as_of, digest FROM reports ORDER BY edition"
            )
            firings = _rows(
                engine, "SELECT slot FROM scheduler_firings WHERE job = 'EARLY_WARNING_REPORT'"
            )
            digests = _rows(
                engine,
                "SELECT request_digest FROM audit_inbox WHERE action = 'report/make'"
                " ORDER BY request_digest",
            )
        finally:
            engine.dispose()
    output = log_path.read_text(errors="replace")
    assert "Traceback" not in output, output
    assert [r.edition for r in reports] == ["AGGREGATE", "FULL"]
    assert {r.as_of for r in reports} == {slot}
    assert {r.date for r in reports} == {slot.date()}
    assert [f.slot for f in firings] == [slot]
    assert sorted(r.digest for r in reports) == [d[0] for d in digests]
    for report in reports:
        directory = (
            tmp_path
            / "reports"
            / slot.date().isoformat()
            / f"{report.edition.lower()}-{slot.strftime('%H%M')}"
        )
        manifest = (directory / "SHA256SUMS").read_bytes()
        assert hashlib.sha256(manifest).hexdigest() == report.digest
        for line in manifest.decode().splitlines():
            expected, name = line.split("  ", 1)
            assert hashlib.sha256((directory / name).read_bytes()).hexdigest() == expected
