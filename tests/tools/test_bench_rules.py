"""`pantau bench-rules` end to end at a tiny scale: load, sweep, bare scan, noop sweep, plans."""

from __future__ import annotations

import io
import json
import re
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import Engine, text

from exchange_service.domain.alerts import RuleName
from exchange_service.settings import Settings
from exchange_service.tools.bench.population import (
    AS_OF,
    PURPOSES,
    purpose_allowed,
    purpose_words,
)
from exchange_service.tools.bench.rules import (
    RULE_TABLES,
    RULE_TARGETS,
    AlertRows,
    alert_rows,
    run_rules_bench,
)
from scheduler.rules import RULES
from scheduler.rules.restricted_area_presence import words
from tests.conftest import ADMIN_URL

PERSONS = 3_000
SIGHTINGS = 9_000
KEYS = {
    "persons",
    "alerts_opened",
    "sweep_seconds",
    "noop_sweep_seconds",
    "scan_seconds",
    "sweep_to_scan_ratio",
    "noop_to_scan_ratio",
    "noop_rows_written",
    "rules",
}
# A plan's node reading a table, in the text format: the table's name.
TABLE_SCAN = re.compile(
    r"(?:Seq Scan|Index(?: Only)? Scan(?: Backward)? using \S+|Bitmap Heap Scan|Tid Scan"
    r"|Tid Range Scan|Sample Scan) on (\w+)"
)
# The rules whose subjects the population holds in named shares (tools/bench/population.py).
PLANTED = (
    RuleName.OVERSTAY,
    RuleName.PERMIT_EXPIRING,
    RuleName.UNREPORTED_ADDRESS_CHANGE,
    RuleName.NO_RECENT_CONTACT,
    RuleName.RESTRICTED_AREA_PRESENCE,
)


@dataclass(frozen=True)
class Bench:
    result: dict[str, Any]
    stdout: str
    stderr: str
    plans: Path
    conninfo: str


@pytest.fixture(scope="module")
def bench(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    name = f"pantau_bench_rules_test_{uuid.uuid4().hex[:10]}"
    plans = tmp_path_factory.mktemp("bench-rules") / "rule-plans.txt"
    admin_url = ADMIN_URL.replace("+psycopg", "")
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            result = run_rules_bench(
                settings,
                RULES,
                persons=PERSONS,
                sightings=SIGHTINGS,
                database_name=name,
                plans_file=plans,
            )
        yield Bench(
            result, out.getvalue(), err.getvalue(), plans, admin_url.rsplit("/", 1)[0] + f"/{name}"
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
    assert list(result["rules"]) == [str(name) for name in RULES]
    assert result["alerts_opened"] == sum(r["opened"] for r in result["rules"].values())
    sweep = sum(r["sweep_seconds"] for r in result["rules"].values())
    assert result["sweep_seconds"] == pytest.approx(sweep, abs=0.01)
    scan = result["scan_seconds"]
    assert scan > 0
    # The ratios are of the unrounded seconds: as near as the rounding of the scan allows.
    rounding = 0.0001 / scan + 0.01
    assert result["sweep_to_scan_ratio"] == pytest.approx(
        result["sweep_seconds"] / scan, rel=rounding
    )
    assert result["noop_to_scan_ratio"] == pytest.approx(
        result["noop_sweep_seconds"] / scan, rel=rounding
    )
    for target in RULE_TARGETS:
        assert f"target {target}" in bench.stderr


def test_the_sweep_opens_alerts_and_the_noop_sweep_writes_none(bench: Bench) -> None:
    assert bench.result["alerts_opened"] > 0
    assert bench.result["noop_rows_written"] == 0
    with psycopg.connect(bench.conninfo) as connection:
        alerts = connection.execute("SELECT count(*) FROM alerts").fetchone()
        events = connection.execute(
            "SELECT count(*) FILTER (WHERE kind = 'OPENED'), count(*) FROM alert_events"
        ).fetchone()
        runs = connection.execute("SELECT count(*) FROM rule_runs").fetchone()
    # Every alert the sweep opened is there, with its one OPENED event and nothing else.
    assert alerts == (bench.result["alerts_opened"],)
    assert events == (bench.result["alerts_opened"], bench.result["alerts_opened"])
    # Both sweeps ran every rule (the replayed plans were rolled back).
    assert runs == (2 * len(RULES),)


def test_a_row_written_again_unchanged_counts_as_written(bench: Bench) -> None:
    before = alert_rows(bench.conninfo)
    with psycopg.connect(bench.conninfo) as connection:
        connection.execute(
            "UPDATE alerts SET changed_at = changed_at"
            " WHERE id = (SELECT id FROM alerts ORDER BY id LIMIT 1)"
        )
    after = alert_rows(bench.conninfo)
    assert after.written_since(before) == 1
    assert after.written_since(after) == 0


def test_written_rows_are_alerts_inserted_updated_or_gone_and_events_added() -> None:
    before = AlertRows(frozenset({("a", "10"), ("b", "11"), ("c", "12")}), 5)
    after = AlertRows(
        # a unchanged, b updated, c gone, d inserted; two events added.
        frozenset({("a", "10"), ("b", "20"), ("d", "21")}),
        7,
    )
    assert after.written_since(before) == 5


def test_the_population_trips_the_rules_it_plants(bench: Bench) -> None:
    for rule in PLANTED:
        assert bench.result["rules"][str(rule)]["opened"] > 0, rule


def test_the_plans_file_holds_each_rules_plan_on_the_scanned_tables(bench: Bench) -> None:
    plans = bench.plans.read_text(encoding="utf-8")
    sections = re.split(r"^== (\w+) \(statement \d+ of \d+\) ==$", plans, flags=re.MULTILINE)
    names = sections[1::2]
    assert set(names) == {str(name) for name in RULES}
    for plan in sections[2::2]:
        assert "Execution Time:" in plan
        assert "Buffers: shared" in plan
    read = set(re.findall(TABLE_SCAN, plans))
    assert read <= set(RULE_TABLES)
    assert "sightings" in read
    assert "leaves out" not in bench.stderr
    assert str(bench.plans) in bench.stderr


def test_the_population_is_as_of_its_instant(bench: Bench) -> None:
    times = {
        "persons": ("registered_at",),
        "travel_documents": ("recorded_at",),
        "stays": ("entered_at", "exited_at"),
        "stay_permits": ("recorded_at",),
        "addresses": ("reported_at", "recorded_at"),
        "sightings": ("observed_at", "reported_at", "recorded_at"),
    }
    with psycopg.connect(bench.conninfo) as connection:
        for table, columns in times.items():
            for column in columns:
                row = connection.execute(f"SELECT max({column}) FROM {table}").fetchone()
                assert row is not None
                assert row[0] <= AS_OF, (table, column)
        late = connection.execute(
            "SELECT count(*) FILTER (WHERE reported_at < observed_at), count(*) FROM sightings"
        ).fetchone()
        early = connection.execute(
            "SELECT count(*) FROM addresses a JOIN stays s USING (person_id)"
            " WHERE a.reported_at < s.entered_at"
            "  OR a.effective_from <> CAST(timezone('Asia/Jakarta', s.entered_at) AS date)"
        ).fetchone()
        extended = connection.execute(
            "SELECT count(*) FROM stay_permits WHERE sequence = 2"
        ).fetchone()
    assert late == (0, SIGHTINGS)
    assert early == (0,)
    assert extended is not None
    assert extended[0] > 0


def test_each_loaded_stay_keeps_its_permit_state_as_the_trigger_would(bench: Bench) -> None:
    with psycopg.connect(bench.conninfo) as connection:
        wrong = connection.execute(
            "SELECT count(*) FROM stays s LEFT JOIN LATERAL ("
            "  SELECT sp.id, sp.valid_until, sp.type FROM stay_permits sp"
            "  WHERE sp.stay_id = s.id ORDER BY sp.valid_until DESC, sp.sequence DESC LIMIT 1"
            ") last ON true"
            " WHERE (s.permit_id, s.permit_valid_until, s.permit_type)"
            "  IS DISTINCT FROM (last.id, last.valid_until, last.type)"
        ).fetchone()
        enabled = connection.execute(
            "SELECT tgenabled FROM pg_trigger WHERE tgname = 'stay_permits_state'"
        ).fetchone()
    assert wrong == (0,)
    assert enabled == ("O",)


def test_purposes_are_told_allowed_as_the_rule_tells_them(engine: Engine) -> None:
    phrases = ["oil and gas", "crew", "awak kapal", "Offshore", "port work", "tourism"]
    with engine.connect() as connection:
        areas = connection.execute(text("SELECT allowed_purposes FROM restricted_areas")).all()
        phrases += [phrase for (allowed,) in areas for phrase in allowed]
        for purpose in (*PURPOSES, "Offshore oil-and-gas work", "crew_member"):
            assert (
                purpose_words(purpose)
                == connection.execute(
                    text(f"SELECT {words(':purpose')}"), {"purpose": purpose}
                ).scalar_one()
            )
            for phrase in phrases:
                in_sql = connection.execute(
                    text(
                        f"SELECT position(' ' || {words(':phrase')} || ' '"
                        f" IN ' ' || {words(':purpose')} || ' ') > 0"
                    ),
                    {"phrase": phrase, "purpose": purpose},
                ).scalar_one()
                assert purpose_allowed(purpose, [phrase]) is in_sql, (purpose, phrase)
