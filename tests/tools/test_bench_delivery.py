"""`pantau bench-delivery` at a tiny scale: both queues work every entry on one database."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from typing import Any

import psycopg
import pytest

from exchange_service.settings import Settings
from exchange_service.tools.bench.delivery import BENCH_AGENCY, run_delivery_bench
from tests.conftest import ADMIN_URL

ENTRIES = 300


@pytest.fixture(scope="module")
def bench(settings: Settings) -> Iterator[tuple[dict[str, Any], str]]:
    name = f"pantau_bench_delivery_test_{uuid.uuid4().hex[:10]}"
    admin_url = ADMIN_URL.replace("+psycopg", "")
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            run_delivery_bench(settings, entries=ENTRIES, batch=50, database_name=name)
        lines = out.getvalue().splitlines()
        assert len(lines) == 1, lines
        with psycopg.connect(admin_url.rsplit("/", 1)[0] + f"/{name}") as connection:
            cursor = connection.execute(
                "SELECT delivered_through FROM delivery_lanes WHERE agency_id = %s",
                (BENCH_AGENCY,),
            ).fetchone()
            succeeded = connection.execute(
                "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
            ).fetchone()
            audited = connection.execute(
                "SELECT count(*) FROM audit_inbox WHERE action = 'feed/deliver'"
            ).fetchone()
        assert cursor is not None
        assert succeeded is not None
        assert audited is not None
        yield (
            json.loads(lines[0])
            | {"cursor": cursor[0], "succeeded": succeeded[0], "audited": audited[0]},
            err.getvalue(),
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_both_queues_work_every_entry(bench: tuple[dict[str, Any], str]) -> None:
    result, _ = bench
    assert result["entries"] == ENTRIES
    assert result["cursor"] == ENTRIES
    assert result["audited"] == ENTRIES
    assert result["succeeded"] == ENTRIES


def test_the_rates_and_their_ratio_are_reported(bench: tuple[dict[str, Any], str]) -> None:
    result, err = bench
    assert result["batch"] == 50
    assert result["lanes_per_second"] > 0
    assert result["procrastinate_jobs_per_second"] > 0
    assert result["ratio"] == pytest.approx(
        result["lanes_per_second"] / result["procrastinate_jobs_per_second"], rel=0.01
    )
    assert "lanes:" in err
    assert "procrastinate:" in err
    assert "ratio:" in err
