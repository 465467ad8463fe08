"""`pantau bench-watchlist` end to end at a small scale: the load as the service writes
entries, the screenings beside their candidate statement, the screener's batch, the pairs."""

from __future__ import annotations

import io
import json
import random
import uuid
from collections.abc import Iterator
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from exchange_service.domain import watchlist as wl
from exchange_service.services.watchlist import party_keys
from exchange_service.settings import Settings
from exchange_service.storage.watchlist_store import WatchlistReader
from exchange_service.tools.bench.watchlist import (
    TODAY,
    WATCHLIST_TARGETS,
    ReadConnection,
    generate_entries,
    generate_queries,
    run_watchlist_bench,
    vary,
)
from tests.conftest import ADMIN_URL
from watchlist.matching import comparable_name, retrieval_keys

ENTRIES = 2_000
QUERIES = 200
PERSONS = 500
PAIRS = 2_000
ISSUE_KEYS = ["entries", "screen_p99_ms", "batch_screen_per_second", "compare_pairs_per_second"]


@dataclass(frozen=True)
class Bench:
    result: dict[str, Any]
    stdout: str
    stderr: str
    plans: Path
    conninfo: str


@pytest.fixture(scope="module")
def bench(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bench]:
    name = f"pantau_bench_watchlist_test_{uuid.uuid4().hex[:10]}"
    plans = tmp_path_factory.mktemp("bench-watchlist") / "watchlist-plans.txt"
    admin_url = ADMIN_URL.replace("+psycopg", "")
    out, err = io.StringIO(), io.StringIO()
    try:
        with redirect_stdout(out), redirect_stderr(err):
            result = run_watchlist_bench(
                settings,
                entries=ENTRIES,
                queries=QUERIES,
                persons=PERSONS,
                pairs=PAIRS,
                database_name=name,
                plans_file=plans,
            )
        yield Bench(
            result, out.getvalue(), err.getvalue(), plans, admin_url.rsplit("/", 1)[0] + f"/{name}"
        )
    finally:
        with psycopg.connect(admin_url, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_one_json_line_with_the_issues_figures_first(bench: Bench) -> None:
    lines = bench.stdout.splitlines()
    assert len(lines) == 1
    result = json.loads(lines[0])
    assert result == bench.result
    assert list(result)[:4] == ISSUE_KEYS
    assert result["entries"] == ENTRIES
    assert result["queries"] == QUERIES
    assert result["persons"] == result["persons_screened"] == PERSONS
    assert result["pairs"] == PAIRS
    assert 0 < result["screen_p50_ms"] <= result["screen_p99_ms"]
    assert 0 < result["retrieval_p50_ms"] <= result["retrieval_p99_ms"]
    for key in ("batch_screen_per_second", "compare_pairs_per_second", "persons_read_per_second"):
        assert result[key] > 0, key
    assert result["batch_screen_per_second"] == pytest.approx(
        PERSONS / result["batch_seconds"], rel=0.01
    )
    for target in WATCHLIST_TARGETS:
        assert f"target {target}" in bench.stderr


def test_listed_persons_are_found_under_their_variations(bench: Bench) -> None:
    # Half the queries and a twentieth of the persons are listed persons under a
    # variation; the matcher is not perfect (a typo in a short name, a lossy script),
    # but nine in ten must come back.
    assert bench.result["listed_queries"] > QUERIES // 3
    assert bench.result["screen_recall"] >= 0.85
    assert set(bench.result["screen_recall_by_variation"]) >= {"exact", "typo", "word order"}
    assert bench.result["screen_recall_by_variation"]["exact"] >= 0.95
    assert bench.result["planted_persons"] >= 10
    assert bench.result["planted_recall"] >= 0.85
    assert bench.result["persons_matched"] >= bench.result["planted_persons"] * 0.85


def test_the_entries_are_stored_as_the_service_stores_them(bench: Bench) -> None:
    with psycopg.connect(bench.conninfo) as connection:
        counts = connection.execute(
            "SELECT (SELECT count(*) FROM watchlist_entries),"
            " (SELECT count(*) FROM watchlist_entry_versions WHERE version = 1"
            "   AND change = 'ADDED'),"
            " (SELECT count(*) FROM watchlist_keys)"
        ).fetchone()
        rows = connection.execute(
            "SELECT e.id, e.content, e.digest, e.list, e.valid_until,"
            " ARRAY(SELECT n.comparable FROM watchlist_names n WHERE n.entry_id = e.id"
            "       ORDER BY n.position),"
            " ARRAY(SELECT k.key FROM watchlist_keys k WHERE k.entry_id = e.id ORDER BY k.key),"
            " ARRAY(SELECT d.number FROM watchlist_documents d WHERE d.entry_id = e.id"
            "       ORDER BY d.number)"
            " FROM watchlist_entries e ORDER BY e.id LIMIT 300"
        ).fetchall()
    assert counts is not None
    assert counts[0] == counts[1] == ENTRIES
    assert counts[2] == bench.result["retrieval_keys"]
    for _id, data, digest, kind, valid_until, names, keys, documents in rows:
        content = wl.content_from_json(data)
        assert content.digest == digest
        assert str(content.list) == kind
        assert content.valid_until == valid_until
        assert names == [comparable_name(name) for name in content.names]
        assert keys == sorted(set().union(*(retrieval_keys(name) for name in content.names)))
        assert documents == sorted(content.documents)


def test_the_batch_leaves_nothing_queued_and_only_matches_over_the_threshold(
    bench: Bench, settings: Settings
) -> None:
    with psycopg.connect(bench.conninfo) as connection:
        queued = connection.execute("SELECT count(*) FROM screening_queue").fetchone()
        screened = connection.execute("SELECT count(*) FROM person_screenings").fetchone()
        lowest = connection.execute("SELECT min(score) FROM watchlist_matches").fetchone()
    assert queued == (0,)
    assert screened == (PERSONS,)
    assert lowest is not None
    assert lowest[0] >= settings.watchlist_threshold


def test_the_plans_file_holds_the_candidate_statements_plan(bench: Bench) -> None:
    plans = bench.plans.read_text(encoding="utf-8")
    assert "watchlist_keys" in plans
    assert "watchlist_names" in plans
    assert "Execution Time:" in plans
    assert str(bench.plans) in bench.stderr


def test_the_bare_statement_is_the_one_the_reader_runs(bench: Bench) -> None:
    listed = generate_entries(ENTRIES)
    queries = generate_queries(20, listed)
    with psycopg.connect(bench.conninfo) as connection:
        reader, store = ReadConnection(connection), WatchlistReader(connection)
        for query in queries:
            party = wl.valid_screen(query.request, TODAY)
            keys, names = party_keys(party.names)
            params = {"keys": keys, "names": names, "documents": list(party.documents)}
            entries = store.candidate_entries(**params, today=TODAY)
            assert reader.candidates({**params, "today": TODAY}) == len(entries)


def test_the_generator_is_seeded_and_speaks_several_scripts() -> None:
    first, again = generate_entries(3_000), generate_entries(3_000)
    assert [p.content for p in first] == [p.content for p in again]
    assert len({p.entry_id for p in first}) == len(first)
    names = [name for p in first for name in p.content.names]
    assert any("\u0400" <= ch <= "\u04ff" for name in names for ch in name)  # Cyrillic
    assert any("\u0600" <= ch <= "\u06ff" for name in names for ch in name)  # Arabic
    assert any("\u4e00" <= ch <= "\u9fff" for name in names for ch in name)  # Han
    in_force = sum(p.in_force for p in first) / len(first)
    assert 0.8 < in_force < 0.97
    with_documents = sum(bool(p.content.documents) for p in first) / len(first)
    assert 0.45 < with_documents < 0.65


def test_a_variation_keeps_the_person_recognisable_but_not_always_the_same() -> None:
    rng = random.Random(3)
    listed = generate_entries(500)
    kinds: set[str] = set()
    for person in listed:
        how, family, given = vary(rng, person)
        kinds.add(how)
        varied = " ".join(part for part in (given, family) if part)
        if how == "exact":
            assert varied == person.latin
        elif how in ("typo", "word order"):
            assert varied != person.latin or len(person.family) < 4
        elif how == "other script":
            assert varied == person.other
    assert kinds >= {"exact", "typo", "word order", "other script", "other spelling"}
