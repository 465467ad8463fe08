"""`pantau bench-report` end to end at a tiny scale: load, sweep, history, bare scan, report."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import psycopg
import pytest

from exchange_service.domain.delivery import DELIVER_ACTION
from exchange_service.reports.render import HTML_NAME
from exchange_service.services.reports import REPORT_ACTION
from exchange_service.settings import Settings
from exchange_service.tools.bench.population import AS_OF
from exchange_service.tools.bench.report import (
    REPORT_AFTER,
    REPORT_TABLES,
    REPORT_TARGETS,
    run_report_bench,
)
from scheduler.rules import RULES
from tests.conftest import ADMIN_URL

PERSONS = 3_000
SIGHTINGS = 9_000
KEYS = {
    "persons",
    "report_seconds",
    "second_report_seconds",
    "read_seconds",
    "scan_seconds",
    "report_to_scan_ratio",
    "html_bytes",
    "alerts_open",
    "foreigners_present",
}


@dataclass(frozen=True)
class Bench:
    result: dict[str, Any]
    stdout: str
    stderr: str
    conninfo: str


@pytest.fixture(scope="module")
def bench(settings: Settings) -> Iterator[Bench]:
    name = f"pantau_bench_report_test_{uuid.uuid4().hex[:10]}"
    admin_url = ADMIN_URL.replace("+psycopg", "")
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            result = run_report_bench(
                settings, RULES, persons=PERSONS, sightings=SIGHTINGS, database_name=name
            )
        yield Bench(
            result, out.getvalue(), err.getvalue(), admin_url.rsplit("/", 1)[0] + f"/{name}"
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_one_json_line_with_the_issues_figures(bench: Bench) -> None:
    lines = bench.stdout.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result == bench.result
    assert set(result) == KEYS
    assert result["persons"] == PERSONS
    for key in ("report_seconds", "second_report_seconds", "read_seconds", "scan_seconds"):
        assert result[key] > 0, key
    # The reader is part of a report's making.
    assert result["read_seconds"] < max(result["report_seconds"], result["second_report_seconds"])
    scan = result["scan_seconds"]
    rounding = 0.0001 / scan + 0.01
    assert result["report_to_scan_ratio"] == pytest.approx(
        result["report_seconds"] / scan, rel=rounding
    )
    assert result["html_bytes"] > 0
    for target in REPORT_TARGETS:
        assert f"target {target}" in bench.stderr
    for table in REPORT_TABLES:
        assert f"{table} " in bench.stderr, table


def test_both_editions_are_stored_and_audited_twice(bench: Bench) -> None:
    first = AS_OF + REPORT_AFTER
    with psycopg.connect(bench.conninfo) as connection:
        reports = connection.execute(
            "SELECT r.edition, r.date, r.district_code, r.as_of, r.made_at, r.digest,"
            " bool_or(f.name = %s AND length(f.content) > 0)"
            " FROM reports r JOIN report_files f ON f.report_id = r.id"
            " GROUP BY r.id ORDER BY r.made_at, r.edition",
            (HTML_NAME,),
        ).fetchall()
        audited = connection.execute(
            "SELECT request_digest, actor_id FROM audit_inbox WHERE action = %s ORDER BY id",
            (REPORT_ACTION,),
        ).fetchall()
    second = first + timedelta(minutes=1)
    assert [(edition, made_at) for edition, _d, _a, _o, made_at, _g, _h in reports] == [
        ("AGGREGATE", first),
        ("FULL", first),
        ("AGGREGATE", second),
        ("FULL", second),
    ]
    # The population's day in WIB, for the whole regency, as of the instant made.
    assert {(day, area) for _e, day, area, *_ in reports} == {(date(2026, 11, 28), "")}
    assert all(as_of == made_at for _e, _d, _a, as_of, made_at, _g, _h in reports)
    assert all(html for *_, html in reports)
    # Each report's digest recorded once, by the bench; nothing else made a report.
    assert sorted(digest for *_, digest, _html in reports) == sorted(d for d, _ in audited)
    assert {actor for _d, actor in audited} == {"bench-report"}


def test_the_reports_figures_are_the_databases(bench: Bench) -> None:
    as_of = AS_OF + REPORT_AFTER
    with psycopg.connect(bench.conninfo) as connection:
        open_alerts = connection.execute(
            "SELECT count(*) FROM alerts WHERE status IN ('OPEN', 'ACKNOWLEDGED', 'CONFIRMED')"
        ).fetchone()
        present = connection.execute(
            "SELECT count(*) FROM stays WHERE entered_at <= %(at)s"
            " AND (exited_at IS NULL OR exited_at > %(at)s)",
            {"at": as_of},
        ).fetchone()
    assert open_alerts == (bench.result["alerts_open"],)
    assert present == (bench.result["foreigners_present"],)
    assert 0 < bench.result["alerts_open"] < bench.result["foreigners_present"] < PERSONS


def test_the_morning_has_reviews_and_deliveries_in_the_trail(bench: Bench) -> None:
    with psycopg.connect(bench.conninfo) as connection:
        reviews = connection.execute(
            "SELECT status, count(*) FROM alert_events WHERE kind = 'REVIEWED'"
            " GROUP BY status ORDER BY status"
        ).fetchall()
        mismatched = connection.execute(
            "SELECT count(*) FROM alerts a WHERE a.status <> (SELECT e.status FROM alert_events e"
            " WHERE e.alert_id = a.id ORDER BY e.seq DESC LIMIT 1)"
        ).fetchone()
        delivered = connection.execute(
            "SELECT count(*), count(DISTINCT recipient), max(at) FROM audit_records"
            " WHERE method = %s",
            (DELIVER_ACTION,),
        ).fetchone()
        lanes = connection.execute(
            "SELECT count(*) FROM delivery_lanes l JOIN feed_heads h USING (agency_id)"
            " WHERE l.delivered_through BETWEEN 1 AND h.last_sequence - 1"
        ).fetchone()
        acknowledged = connection.execute(
            "SELECT count(*) FILTER (WHERE acknowledged_at IS NOT NULL), count(*) FROM feed_entries"
        ).fetchone()
    assert {status for status, _n in reviews} == {"ACKNOWLEDGED", "CONFIRMED", "DISMISSED"}
    # Every alert's status is its last event's, as the reader rebuilds it.
    assert mismatched == (0,)
    assert delivered is not None
    count, recipients, last = delivered
    assert count > 0
    assert recipients == 3  # police over gRPC, the regency over webhook and CAP
    assert last < AS_OF + REPORT_AFTER
    # Each lane a little behind its feed at the report's instant.
    assert lanes == (3,)
    assert acknowledged is not None
    assert 0 < acknowledged[0] < acknowledged[1]
