"""`pantau rules` as an officer runs it: from the project directory, with no environment set.

The project directory here is a temporary one holding ``deploy/pantau.dev.toml``
(as the repository does) that names a database of this module's own; the
command must find it with no ``PANTAU_*`` variable set, record its runs in
the audit trail, chained by whichever process writes the trail.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service.app import build_application
from exchange_service.audit.log import open_audit_log
from exchange_service.settings import Settings, load_settings
from scheduler.rules import RULES
from tests.conftest import ROOT, fresh_database
from tests.feeds import FEED_KEY_PASSPHRASE, feed_key_settings
from tests.service.conftest import SettableClock
from tests.service.stays import Visitor, visitor_until, wib

PANTAU = Path(sys.executable).parent / "pantau"
LAST_DAY = date(2026, 6, 30)
AS_OF_DAY = LAST_DAY + timedelta(days=37)


@dataclass(frozen=True)
class Project:
    directory: Path
    settings: Settings  # as the command reads them, with the paths made absolute
    engine: Engine
    overstayer: Visitor


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("project")
    with fresh_database("pantau_test_rules_command") as url:
        (directory / "deploy").mkdir()
        # The agencies `make run` serves, whose feeds each run seals its events into.
        shutil.copy(ROOT / "deploy" / "agencies.toml", directory / "deploy" / "agencies.toml")
        (directory / "deploy" / "pantau.dev.toml").write_text(
            f'database_url = "{url}"\n'
            'audit_signing_key_file = "var/audit/audit-signing.key"\n'
            'audit_checkpoint_file = "var/audit/checkpoints.jsonl"\n'
            "rule_permit_expiring_within_days = 10\n"
            'feed_keys_dir = "var/feed-keys"\n'
            f'feed_key_passphrase = "{FEED_KEY_PASSPHRASE}"\n'
        )
        settings = load_settings(
            database_url=url,
            audit_signing_key_file=directory / "var/audit/audit-signing.key",
            audit_checkpoint_file=directory / "var/audit/checkpoints.jsonl",
            rule_permit_expiring_within_days=10,
            **feed_key_settings(directory / "var" / "feed-keys"),
        )
        clock = SettableClock(wib(LAST_DAY))
        application = build_application(settings, clock=clock)
        overstayer = visitor_until(application.registry, clock, LAST_DAY)
        application.close()
        engine = create_engine(url)
        try:
            yield Project(directory, settings, engine, overstayer)
        finally:
            engine.dispose()


def pantau(
    project: Project, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The `pantau` command, run in the project directory with no PANTAU_* variable."""
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PANTAU_")}
    return subprocess.run(
        [str(PANTAU), *args],
        cwd=project.directory,
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _scalar(project: Project, sql: str) -> Any:
    with project.engine.connect() as connection:
        return connection.execute(text(sql)).scalar_one()


def _rows(project: Project) -> tuple[int, ...]:
    return tuple(
        int(_scalar(project, f"SELECT count(*) FROM {table}"))
        for table in ("alerts", "alert_events", "rule_runs", "audit_records")
    )


def test_rules_list_shows_each_rule_with_its_numbers_from_the_make_run_settings(
    project: Project,
) -> None:
    listed = pantau(project, "rules", "list")
    assert listed.returncode == 0, listed.stderr
    assert "settings: deploy/pantau.dev.toml" in listed.stderr
    assert "OVERSTAY\n" in listed.stdout
    assert "fee_per_day_idr = 1000000, deportation_after_days = 60" in listed.stdout
    assert "PERMIT_EXPIRING\n" in listed.stdout
    assert "within_days = 10" in listed.stdout


def test_pantau_settings_wins_over_the_make_run_file(project: Project, tmp_path: Path) -> None:
    other = tmp_path / "other.toml"
    other.write_text("rule_permit_expiring_within_days = 7\n")
    listed = pantau(project, "rules", "list", env={"PANTAU_SETTINGS": str(other)})
    assert listed.returncode == 0, listed.stderr
    assert f"settings: {other}" in listed.stderr
    assert "within_days = 7" in listed.stdout


def test_rules_run_acts_on_the_make_run_database_and_records_each_run_in_the_trail(
    project: Project,
) -> None:
    before = _rows(project)
    ran = pantau(project, "rules", "run", "--as-of", AS_OF_DAY.isoformat())
    assert ran.returncode == 0, ran.stdout + ran.stderr
    start = f"{AS_OF_DAY.isoformat()}T00:00:00+07:00"
    assert f"OVERSTAY as of {start}: 1 opened, 0 updated, 0 escalated, 0 resolved" in ran.stdout
    assert f"PERMIT_EXPIRING as of {start}: 0 opened" in ran.stdout
    alert = _scalar(
        project,
        "SELECT evidence ->> 'fee_accrued_idr' FROM alerts WHERE rule = 'OVERSTAY'"
        f" AND subject_id = '{project.overstayer.subject_id}'",
    )
    # Day 37 begins at the start of the WIB day given.
    assert alert == "37000000"
    with project.engine.connect() as connection:
        records = connection.execute(
            text(
                "SELECT method, agency_id, agency_kind, officer, status, person_ids"
                " FROM audit_records ORDER BY seq"
            )
        ).all()
        actors = connection.execute(text("SELECT DISTINCT actor FROM rule_runs")).scalars().all()
    # One event per rule of the catalogue, in its order.
    assert [tuple(r)[:3] for r in records] == [
        (f"rules/{name}", "rules-command", "SYSTEM") for name in RULES
    ]
    assert all(r.officer and r.status == "OK" for r in records)
    assert records[0].person_ids == [project.overstayer.subject_id]
    assert actors == ["rules-command"]
    # `pantau audit` reads only PANTAU_SETTINGS or ./pantau.toml.
    verified = pantau(project, "audit", "verify", env={"PANTAU_SETTINGS": "deploy/pantau.dev.toml"})
    assert verified.returncode == 0, verified.stdout
    assert "OK: audit trail" in verified.stdout

    # Again, as of the same instant: one more run record and audit record, no alert change.
    middle = _rows(project)
    assert middle[:3] == (before[0] + 1, before[1] + 1, before[2] + len(RULES))
    again = pantau(project, "rules", "run", "--rule", "overstay", "--as-of", start)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "OVERSTAY as of" in again.stdout
    assert "0 opened, 0 updated, 0 escalated, 0 resolved" in again.stdout
    assert "PERMIT_EXPIRING" not in again.stdout
    assert _rows(project) == (middle[0], middle[1], middle[2] + 1, middle[3] + 1)


def test_rules_run_while_a_server_holds_the_trail_has_its_events_chained_by_that_writer(
    project: Project,
) -> None:
    before = _rows(project)
    server_trail = open_audit_log(project.settings)  # as a running server holds it
    try:
        ran = pantau(project, "rules", "run", "--as-of", AS_OF_DAY.isoformat())
        assert ran.returncode == 0, ran.stdout + ran.stderr
        assert "the trail's writer (a running server) chains each run's event" in ran.stdout
        # The command wrote no record itself: its events wait for the server's writer,
        # or were chained by it already.
        deadline = time.monotonic() + 20
        while _scalar(project, "SELECT count(*) FROM audit_inbox") > 0:
            assert time.monotonic() < deadline, "the server's writer did not drain the inbox"
            time.sleep(0.05)
        assert server_trail.flush(timeout=10)
        assert server_trail.head.seq == before[3] + len(RULES)
    finally:
        server_trail.close()
    after = _rows(project)
    assert after[2:] == (before[2] + len(RULES), before[3] + len(RULES))
    with project.engine.connect() as connection:
        chained = connection.execute(
            text("SELECT method, agency_id FROM audit_records WHERE seq > :seq ORDER BY seq"),
            {"seq": before[3]},
        ).all()
    assert [tuple(r) for r in chained] == [(f"rules/{name}", "rules-command") for name in RULES]
    verified = pantau(project, "audit", "verify", env={"PANTAU_SETTINGS": "deploy/pantau.dev.toml"})
    assert verified.returncode == 0, verified.stdout
    assert "OK: audit trail" in verified.stdout
    assert "inbox" not in verified.stdout


def test_rules_run_on_a_database_not_migrated_runs_nothing(
    project: Project, tmp_path: Path
) -> None:
    with fresh_database("pantau_test_rules_unmigrated", migrated=False) as url:
        other = tmp_path / "unmigrated.toml"
        other.write_text(
            f'database_url = "{url}"\n'
            f'audit_signing_key_file = "{tmp_path}/audit.key"\n'
            f'audit_checkpoint_file = "{tmp_path}/checkpoints.jsonl"\n'
        )
        refused = pantau(project, "rules", "run", env={"PANTAU_SETTINGS": str(other)})
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "cannot use the database" in refused.stdout
    assert "Nothing was run." in refused.stdout


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("--as-of", "yesterday"), "--as-of takes an ISO date or time"),
        (("--rule", "LOITERING"), "invalid choice: 'LOITERING'"),
    ],
)
def test_rules_run_refuses_bad_arguments_and_runs_nothing(
    project: Project, args: tuple[str, ...], said: str
) -> None:
    before = _rows(project)
    refused = pantau(project, "rules", "run", *args)
    assert refused.returncode == 2
    assert said in refused.stderr
    assert _rows(project) == before
