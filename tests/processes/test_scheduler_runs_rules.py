"""A real `pantau scheduler` (no `--dry-run`) runs the rules, and the trail hears of each run.

Against a database of the test's own holding an overstayer, the process runs
every rule every two seconds: OVERSTAY opens the overstayer's alert once and
never again, each run is recorded with the scheduler's fence, and each run's
audit event waits in the inbox (the scheduler writes no trail) until a trail
writer chains it; `pantau audit verify` then finds the trail whole.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service.app import build_application
from exchange_service.audit.log import open_audit_log
from exchange_service.cli import audit as audit_commands
from exchange_service.settings import SCHEDULER_CRONS, Settings, load_settings
from tests.clock import TestClock
from tests.conftest import fresh_database
from tests.feeds import feed_key_environment, feed_key_settings
from tests.service.conftest import SettableClock
from tests.service.stays import Visitor, visitor_until, wib

PANTAU = Path(sys.executable).parent / "pantau"
EVERY_TWO_SECONDS = "* * * * * */2"


@dataclass(frozen=True)
class World:
    url: str
    engine: Engine
    settings: Settings
    overstayer: Visitor


@pytest.fixture
def world(tmp_path: Path, clock: TestClock) -> Iterator[World]:
    with fresh_database("pantau_scheduler_runs") as url:
        settings = load_settings(
            database_url=url,
            audit_signing_key_file=tmp_path / "audit" / "signing.key",
            audit_checkpoint_file=tmp_path / "audit" / "checkpoints.jsonl",
            **feed_key_settings(tmp_path / "feed-keys"),
        )
        # Ten days over today: the office's day of the suite's clock, which is the
        # real time here (this tier is not rerun frozen), as the scheduler process sees it.
        last_day = clock.today() - timedelta(days=10)
        registration_clock = SettableClock(wib(last_day))
        application = build_application(settings, clock=registration_clock)
        overstayer = visitor_until(application.registry, registration_clock, last_day)
        application.close()
        engine = create_engine(url)
        try:
            yield World(url, engine, settings, overstayer)
        finally:
            engine.dispose()


def _scalar(engine: Engine, sql: str, **values: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), values).scalar_one()


def _scheduler(world: World, log_path: Path) -> subprocess.Popen[bytes]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    environment |= {
        "PANTAU_SETTINGS": str(log_path.parent / "no-settings-file.toml"),
        "PANTAU_DATABASE_URL": world.url,
        "PANTAU_LOG_LEVEL": "INFO",
        **feed_key_environment(world.settings.feed_keys_dir),
        "PANTAU_SCHEDULER_CRONS": json.dumps(
            {rule: [EVERY_TWO_SECONDS] for rule in SCHEDULER_CRONS}
        ),
        # The rules alone: the morning report's job is tested on its own.
        "PANTAU_REPORT_TIME": "",
    }
    with log_path.open("wb") as output:
        return subprocess.Popen(
            [str(PANTAU), "scheduler"], env=environment, stdout=output, stderr=subprocess.STDOUT
        )


def test_the_scheduler_runs_overstay_once_per_slot_and_its_audit_events_reach_the_trail(
    world: World, tmp_path: Path
) -> None:
    log_path = tmp_path / "scheduler.log"
    process = _scheduler(world, log_path)
    runs = "SELECT count(*) FROM rule_runs WHERE rule = 'OVERSTAY' AND actor = 'scheduler'"
    try:
        deadline = time.monotonic() + 60
        while _scalar(world.engine, runs) < 3:
            assert process.poll() is None, log_path.read_text(errors="replace")
            assert time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.1)
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0, log_path.read_text(errors="replace")
    output = log_path.read_text(errors="replace")
    assert "dry run" not in output
    assert "Traceback" not in output, output
    subject = world.overstayer.subject_id
    alerts = _scalar(
        world.engine,
        "SELECT count(*) FROM alerts WHERE rule = 'OVERSTAY' AND subject_id = :s",
        s=subject,
    )
    opened = _scalar(
        world.engine,
        "SELECT count(*) FROM alert_events WHERE rule = 'OVERSTAY' AND kind = 'OPENED'"
        " AND subject_id = :s",
        s=subject,
    )
    days_over = _scalar(
        world.engine,
        "SELECT evidence ->> 'days_over' FROM alerts WHERE rule = 'OVERSTAY' AND subject_id = :s",
        s=subject,
    )
    assert (alerts, opened, days_over) == (1, 1, "10")
    # Every run fenced by the scheduler's lease, each one slot's firing, none failed.
    scheduled = _scalar(world.engine, "SELECT count(*) FROM rule_runs")
    assert scheduled >= 3
    assert _scalar(world.engine, "SELECT count(*) FROM rule_runs WHERE error IS NOT NULL") == 0
    assert (
        _scalar(world.engine, "SELECT count(*) FROM rule_runs WHERE fence_lease = 'scheduler'")
        == scheduled
    )
    assert _scalar(world.engine, "SELECT count(*) FROM scheduler_firings") == scheduled
    # The scheduler holds no trail: each run's event waits in the inbox...
    assert _scalar(world.engine, "SELECT count(*) FROM audit_inbox") == scheduled
    assert _scalar(world.engine, "SELECT count(*) FROM audit_records") == 0
    # ...until a trail writer (a server, `pantau rules run`) chains it, once.
    open_audit_log(world.settings).close()
    assert _scalar(world.engine, "SELECT count(*) FROM audit_inbox") == 0
    assert (
        _scalar(
            world.engine,
            "SELECT count(*) FROM audit_records WHERE agency_id = 'scheduler'"
            " AND agency_kind = 'SYSTEM' AND status = 'OK'",
        )
        == scheduled
    )
    assert (
        _scalar(
            world.engine,
            "SELECT count(*) FROM audit_records WHERE method = 'rules/OVERSTAY'"
            " AND :s = ANY(person_ids)",
            s=subject,
        )
        == 1  # only the run that opened its alert changed it
    )
    out = io.StringIO()
    assert audit_commands.verify(world.settings, out=out) == 0, out.getvalue()
    assert f"{scheduled} records" in out.getvalue()
