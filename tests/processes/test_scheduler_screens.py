"""A real `pantau scheduler` screens whoever is registered within seconds: the person
registered after the scheduler started, matching an entry of the police's wanted list,
has a CRITICAL WATCHLIST_MATCH alert (and its feed entries) without any rule's cron
firing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text

from exchange_service.app import build_application
from exchange_service.domain import commands as cmd
from exchange_service.domain import watchlist as wl
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.audit import Actor
from exchange_service.domain.model import Sex
from exchange_service.settings import load_settings
from tests.conftest import fresh_database
from tests.feeds import feed_key_environment, feed_key_settings

PANTAU = Path(sys.executable).parent / "pantau"
POLICE = Actor.agency("polres-anambas", "POLICE", "Bripka Andi")


def _scalar(engine: Any, sql: str, **values: Any) -> Any:
    with engine.connect() as connection:
        return connection.execute(text(sql), values).scalar_one()


def test_a_person_registered_while_the_scheduler_runs_is_screened_within_seconds(
    tmp_path: Path,
) -> None:
    with fresh_database("pantau_scheduler_screens") as url:
        settings = load_settings(database_url=url, **feed_key_settings(tmp_path / "feed-keys"))
        application = build_application(settings)
        engine = create_engine(url)
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
        environment |= {
            "PANTAU_SETTINGS": str(tmp_path / "no-settings-file.toml"),
            "PANTAU_DATABASE_URL": url,
            "PANTAU_LOG_LEVEL": "INFO",
            "PANTAU_WATCHLIST_SCREEN_INTERVAL_SECONDS": "0.5",
            **feed_key_environment(settings.feed_keys_dir),
        }
        log_path = tmp_path / "scheduler.log"
        try:
            assert application.watchlist is not None
            application.watchlist.upsert_entry(
                wl.UpsertEntry(
                    entry_id="",
                    list="POLICE_WANTED",
                    names=("Ahmad Faizal bin Rahman", "أحمد فيصل بن رحمن"),
                    birth_date=cmd.DateParts(1987),
                    nationality="MYS",
                    documents=(),
                    reason="DPO: penyelundupan",
                    issuing_agency="Polres Kepulauan Anambas",
                    valid_from=None,
                    valid_until=None,
                ),
                POLICE,
                AgencyKind.POLICE,
            )
            with log_path.open("wb") as log_file:
                process = subprocess.Popen(
                    [str(PANTAU), "scheduler"],
                    env=environment,
                    stdout=log_file,
                    stderr=subprocess.STDOUT,
                )
            try:
                # The screener drains what was queued before it started first.
                deadline = time.monotonic() + 60
                while _scalar(engine, "SELECT count(*) FROM screening_queue"):
                    assert process.poll() is None, log_path.read_text(errors="replace")
                    assert time.monotonic() < deadline, log_path.read_text(errors="replace")
                    time.sleep(0.1)
                person = application.registry.register_person(
                    cmd.RegisterPerson(
                        family_name="Rahman",
                        given_names="Ahmad Faizal bin",
                        nationality="MYS",
                        birth_date=cmd.DateParts(1987, 2, 14),
                        sex=Sex.MALE,
                        documents=(cmd.RawDocument("MYS", "A51234567"),),
                    )
                )
                registered = time.monotonic()
                found = (
                    "SELECT count(*) FROM alerts WHERE rule = 'WATCHLIST_MATCH' AND subject_id = :s"
                )
                while not _scalar(engine, found, s=str(person.id)):
                    assert process.poll() is None, log_path.read_text(errors="replace")
                    assert time.monotonic() - registered < 30, log_path.read_text(errors="replace")
                    time.sleep(0.05)
                latency = time.monotonic() - registered
            finally:
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=30) == 0, log_path.read_text(errors="replace")
            output = log_path.read_text(errors="replace")
            assert "Traceback" not in output, output
            assert latency < 10, f"{latency:.1f} s from registration to the alert"
            severity = _scalar(
                engine,
                "SELECT severity FROM alerts WHERE rule = 'WATCHLIST_MATCH' AND subject_id = :s",
                s=str(person.id),
            )
            assert severity == "CRITICAL"
            # The police's feed carries it, signed, like any other alert.
            assert (
                _scalar(
                    engine,
                    "SELECT count(*) FROM feed_entries f JOIN alert_events e ON e.seq = f.event_seq"
                    " WHERE f.agency_id = 'polres-anambas' AND e.rule = 'WATCHLIST_MATCH'",
                )
                >= 1
            )
            assert "screened" in output
        finally:
            application.close()
            engine.dispose()
