"""`pantau bench` end to end at a tiny scale: load, both servers over mutual TLS, one JSON line."""

from __future__ import annotations

import json
import uuid

import psycopg
import pytest

from exchange_service.settings import Settings
from exchange_service.tools.bench import MTLS_TARGETS, run_bench
from tests.conftest import ADMIN_URL


@pytest.mark.e2e
def test_a_small_bench_measures_both_servers_over_mutual_tls(
    settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    name = f"pantau_bench_test_{uuid.uuid4().hex[:10]}"
    try:
        result = run_bench(
            settings, persons=400, sightings=1_200, seconds=1.0, database_name=name, rounds=2
        )
    finally:
        with psycopg.connect(ADMIN_URL.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == result
    assert result["persons"] == 400
    assert result["sightings"] == 1_200
    assert result["mtls"] is True
    assert result["audit"] is True
    assert result["get_person_qps"] > 0
    assert result["echo_qps"] > 0
    assert result["get_person_qps_ratio"] == round(result["get_person_qps"] / result["echo_qps"], 3)
    assert result["rounds"] == 2
    ratios = result["get_person_qps_ratios"]
    assert len(ratios) == 2
    assert result["get_person_qps_ratio"] in ratios
    # Both servers are observed: a call costs them some CPU, Pantau's more than an echo.
    assert 0 < result["echo_server_cpu_ms"] < result["get_person_server_cpu_ms"]
    assert 0 < result["near_p50_ms"] <= result["near_p99_ms"]
    assert set(MTLS_TARGETS) <= set(result)
