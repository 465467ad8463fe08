"""``pantau bench-rules``: the rules' sweep over the bench population, against a bare scan.

``run_rules_bench`` guarantees, in order:

1. a fresh database ``pantau_bench_rules`` (or the name given; dropped first
   if it exists), made as ``pantau bench`` makes its own (``fresh_database``),
   with the population of ``bench.population`` bulk-loaded: its overstays,
   far sightings, expiring permits and the rest in the shares that module
   names;
2. the sweep: every rule of the catalogue given (``scheduler.rules.RULES``
   from the ``pantau`` command) run once, in catalogue order, through the
   real ``RuleEngine`` of ``rules_root.build_rule_engine``, as of the
   population's ``AS_OF``; each run timed whole (its transaction: the diff,
   the run's record, its audit event in the inbox, the commit).
   ``alerts_opened`` is what the runs opened. A failed run stops the bench,
   naming the rule and its error: figures around it would mean nothing;
3. ``scan_seconds``: the bare sequential read of every row of the tables the
   rules read (``RULE_TABLES``): ``SELECT count(*)`` of each with index,
   bitmap and index-only scans and parallel workers off, once to warm up and
   once timed, summed. It is taken after the sweep, so ``alerts`` holds the
   alerts the noop sweep reads (the other tables are the same for both), and
   after the alert tables are vacuumed and analysed, as autovacuum would have
   done by the next scheduled run (the database was loaded with no alerts);
4. the noop sweep: the same runs again at the same instant. Every alert row
   inserted or updated (an ``(id, xmin)`` not there before, or an id gone)
   and every ``alert_events`` row added during it is counted in
   ``noop_rows_written``; rule runs and audit events are not;
5. each rule's statements as the engine ran them in the noop sweep (captured
   from the engine's connection, with their parameters), replayed in a
   transaction that is rolled back: those embedding the rule's findings or
   resolutions under ``EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)``, the
   statements before them as they were; the plans go to ``plans_file``
   (``var/bench/rule-plans.txt``), whose path is printed. The tables those
   statements read (by their plans) and ``RULE_TABLES`` does not name are
   reported, so the scan never leaves out a table a rule has come to read;
6. exactly one JSON line on stdout (the keys of ``issue 10``, and per rule
   under ``rules``), the targets checked on stderr, with the progress.

The runs' audit events wait in the bench database's audit inbox (no trail
writer runs). The database is left in place for inspection.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import Connection

from exchange_service.domain.alerts import RuleDefinition, RuleName, RuleRun
from exchange_service.domain.audit import Actor
from exchange_service.rules_root import build_rule_engine
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings
from exchange_service.storage.database import make_engine
from exchange_service.tools.bench import start_bench, target_met

__all__ = [
    "PLANS_FILE",
    "RULES_BENCH_DATABASE",
    "RULE_TABLES",
    "RULE_TARGETS",
    "StatementRecorder",
    "run_rules_bench",
    "run_sweep",
    "scan_tables",
]

RULES_BENCH_DATABASE = "pantau_bench_rules"
PLANS_FILE = Path("var/bench/rule-plans.txt")

# The tables the rules' statements read: scheduler/rules/* (the present stays and their
# permit periods, the persons, their current and past addresses, the sightings, the
# restricted areas, the villages and districts a sighting's place is named by, the
# watchlist's matches and entries) and the diff of storage/alert_store.py (the rule's
# alerts; it only appends to alert_events).
RULE_TABLES = (
    "persons",
    "stays",
    "stay_permits",
    "addresses",
    "current_addresses",
    "sightings",
    "restricted_areas",
    "villages",
    "districts",
    "watchlist_matches",
    "watchlist_entries",
    "alerts",
)

# Issue 10: the sweep within ten bare scans, a sweep that changes nothing within three,
# and that one writes no alert or alert event.
RULE_TARGETS = {
    "sweep_to_scan_ratio": ("<=", 10.0),
    "noop_to_scan_ratio": ("<=", 3.0),
    "noop_rows_written": ("<=", 0),
}

_ACTOR = Actor.system("bench-rules")
# The plan nodes that read a table (its name is their "Relation Name").
_TABLE_NODES = {
    "Seq Scan",
    "Index Scan",
    "Index Only Scan",
    "Bitmap Heap Scan",
    "Tid Scan",
    "Tid Range Scan",
    "Sample Scan",
}


@dataclass(frozen=True)
class Statement:
    """One statement as the engine sent it to the driver, and how long it took."""

    text: str
    parameters: Mapping[str, Any]
    seconds: float


@dataclass
class StatementRecorder:
    """Collects the statements an engine's connections execute while ``on``."""

    on: bool = False
    statements: list[Statement] = field(default_factory=list)
    _started: float = 0.0

    def attach(self, engine: Engine) -> None:
        event.listen(engine, "before_cursor_execute", self._before)
        event.listen(engine, "after_cursor_execute", self._after)

    def _before(self, *_args: Any) -> None:
        self._started = time.perf_counter()

    def _after(
        self,
        _connection: Any,
        _cursor: Any,
        statement: str,
        parameters: Any,
        _context: Any,
        executemany: bool,
    ) -> None:
        if self.on and not executemany:
            self.statements.append(
                Statement(statement, dict(parameters or {}), time.perf_counter() - self._started)
            )

    @contextmanager
    def recording(self) -> Iterator[list[Statement]]:
        self.statements = []
        self.on = True
        try:
            yield self.statements
        finally:
            self.on = False


def settle_alert_tables(conninfo: str) -> None:
    """Vacuums and analyses the alert tables, as autovacuum does after the sweep's inserts
    long before the next run: the noop sweep is planned on statistics that know its alerts."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute("VACUUM (ANALYZE) alerts, alert_events")


def scan_tables(conninfo: str, tables: Sequence[str] = RULE_TABLES) -> dict[str, tuple[int, float]]:
    """Each table's rows and the seconds of its bare sequential ``count(*)``, after a warm-up.

    Index, bitmap and index-only scans and parallel workers are off, so each
    count reads the table's every page once, on one core.
    """
    scanned: dict[str, tuple[int, float]] = {}
    with psycopg.connect(conninfo, application_name="pantau-bench-scan") as connection:
        for setting in ("enable_indexscan", "enable_bitmapscan", "enable_indexonlyscan"):
            connection.execute(sql.SQL("SET LOCAL {} = off").format(sql.Identifier(setting)))
        connection.execute("SET LOCAL max_parallel_workers_per_gather = 0")
        for table in tables:
            count = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            connection.execute(count).fetchone()
            started = time.perf_counter()
            row = connection.execute(count).fetchone()
            seconds = time.perf_counter() - started
            scanned[table] = (int(row[0]) if row else 0, seconds)
        connection.rollback()
    return scanned


@dataclass(frozen=True)
class AlertRows:
    """What the alert tables hold at one moment: each alert's row version, the events."""

    versions: frozenset[tuple[str, str]]  # (id, xmin) of every alert row
    events: int  # alert_events rows (the table only grows)

    def written_since(self, before: AlertRows) -> int:
        """Alert rows inserted, updated or deleted, and events added, since ``before``."""
        ids_now = {alert_id for alert_id, _xmin in self.versions}
        gone = {alert_id for alert_id, _xmin in before.versions} - ids_now
        return len(self.versions - before.versions) + len(gone) + (self.events - before.events)


def alert_rows(conninfo: str) -> AlertRows:
    """The alert tables as they are now."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        versions = frozenset(
            (str(alert_id), str(xmin))
            for alert_id, xmin in connection.execute("SELECT id, xmin::text FROM alerts")
        )
        row = connection.execute("SELECT count(*) FROM alert_events").fetchone()
    return AlertRows(versions, int(row[0]) if row else 0)


def _compiled(engine: Engine, statement: str) -> str:
    """A rule's statement as the engine's driver receives it (placeholders, escaped %)."""
    return str(text(statement).compile(dialect=engine.dialect))


def _plan_statements(
    engine: Engine, rule: RuleDefinition, statements: Sequence[Statement]
) -> list[int]:
    """The indexes of the statements that embed the rule's findings or resolutions (else the
    slowest statement of the run)."""
    embedded = (_compiled(engine, rule.findings_sql), _compiled(engine, rule.resolutions_sql))
    chosen = [
        i
        for i, statement in enumerate(statements)
        if any(part.strip() and part.strip() in statement.text for part in embedded)
    ]
    if chosen or not statements:
        return chosen
    return [max(range(len(statements)), key=lambda i: statements[i].seconds)]


def _tables_of(plan: Any) -> set[str]:
    """The tables a JSON plan's nodes read."""
    found = set()
    if isinstance(plan, dict):
        if plan.get("Node Type") in _TABLE_NODES and "Relation Name" in plan:
            found.add(str(plan["Relation Name"]))
        for value in plan.values():
            found |= _tables_of(value)
    elif isinstance(plan, list):
        for item in plan:
            found |= _tables_of(item)
    return found


def explain_rule(
    engine: Engine, rule: RuleDefinition, statements: Sequence[Statement]
) -> tuple[list[str], set[str]]:
    """Replays the run's statements in a transaction rolled back, those that embed the rule's
    SQL under ``EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT)``; their plans, and the tables read."""
    chosen = _plan_statements(engine, rule, statements)
    plans: list[str] = []
    tables: set[str] = set()
    if not chosen:
        return plans, tables
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            for index, statement in enumerate(statements[: max(chosen) + 1]):
                if index not in chosen:
                    _execute(connection, statement.text, statement.parameters)
                    continue
                shape = _execute(
                    connection, f"EXPLAIN (FORMAT JSON) {statement.text}", statement.parameters
                )
                tables |= _tables_of(_json(shape.scalar_one()))
                rows = _execute(
                    connection,
                    f"EXPLAIN (ANALYZE, BUFFERS, FORMAT TEXT) {statement.text}",
                    statement.parameters,
                )
                plans.append("\n".join(str(line) for (line,) in rows))
        finally:
            transaction.rollback()
    return plans, tables


def _execute(connection: Connection, statement: str, parameters: Mapping[str, Any]) -> Any:
    return connection.exec_driver_sql(statement, dict(parameters))


def _json(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str) else value


def _describe(run: RuleRun, seconds: float) -> str:
    return (
        f"{run.opened:,} opened, {run.updated:,} updated, {run.escalated:,} escalated,"
        f" {run.resolved:,} resolved ({run.rows_scanned:,} rows) in {seconds:.2f} s"
    )


def run_sweep(
    engine: RuleEngine, names: Sequence[RuleName], as_of: datetime, recorder: StatementRecorder
) -> Iterator[tuple[RuleName, RuleRun, float, list[Statement]]]:
    for name in names:
        with recorder.recording() as statements:
            started = time.perf_counter()
            run = engine.run(name, as_of)
            seconds = time.perf_counter() - started
        if run.error is not None:
            raise SystemExit(f"pantau bench-rules: rule {name} failed: {run.error}")
        yield name, run, seconds, list(statements)


def run_rules_bench(
    settings: Settings,
    rules: Mapping[RuleName, RuleDefinition],
    *,
    persons: int = 1_000_000,
    sightings: int = 3_000_000,
    database_name: str = RULES_BENCH_DATABASE,
    plans_file: Path = PLANS_FILE,
) -> dict[str, Any]:
    """Runs the whole rules benchmark (see the module docstring); returns the printed figures."""
    console, database, population = start_bench(
        settings, f"pantau bench-rules ({len(rules)} rules)", database_name, persons, sightings
    )
    as_of = population.as_of
    engine = make_engine(
        database.settings.database_url, pool_size=2, application_name="pantau-bench-rules"
    )
    recorder = StatementRecorder()
    recorder.attach(engine)
    try:
        rule_engine = build_rule_engine(database.settings, engine, rules, actor=_ACTOR)
        names = list(rule_engine.rules)
        console.print(f"sweep as of {as_of.isoformat()}:")
        sweep: dict[RuleName, tuple[RuleRun, float]] = {}
        for name, run, seconds, _statements in run_sweep(rule_engine, names, as_of, recorder):
            sweep[name] = (run, seconds)
            console.print(f"  {name:<28} {_describe(run, seconds)}")
        settle_alert_tables(database.conninfo)

        scanned = scan_tables(database.conninfo)
        scan_seconds = sum(seconds for _rows, seconds in scanned.values())
        console.print(
            f"bare scan ({scan_seconds:.3f} s): "
            + ", ".join(
                f"{table} {rows:,} rows {seconds:.3f} s"
                for table, (rows, seconds) in scanned.items()
            )
        )

        before = alert_rows(database.conninfo)
        console.print("noop sweep, the same instant:")
        noop: dict[RuleName, tuple[RuleRun, float, list[Statement]]] = {}
        for name, run, seconds, statements in run_sweep(rule_engine, names, as_of, recorder):
            noop[name] = (run, seconds, statements)
            console.print(f"  {name:<28} {_describe(run, seconds)}")
        noop_rows_written = alert_rows(database.conninfo).written_since(before)

        plans_file.parent.mkdir(parents=True, exist_ok=True)
        read: set[str] = set()
        with plans_file.open("w", encoding="utf-8") as out:
            out.write(
                f"# pantau bench-rules: {persons:,} persons, {sightings:,} sightings, as of"
                f" {as_of.isoformat()}; each rule's statements as run in the noop sweep,"
                " replayed under EXPLAIN (ANALYZE, BUFFERS) in a transaction rolled back\n"
            )
            for name in names:
                plans, tables = explain_rule(engine, rules[name], noop[name][2])
                read |= tables
                for number, plan in enumerate(plans, start=1):
                    out.write(f"\n== {name} (statement {number} of {len(plans)}) ==\n{plan}\n")
        console.print(f"query plans of the noop sweep: {plans_file}")
    finally:
        engine.dispose()
    unscanned = sorted(read - set(RULE_TABLES))
    if unscanned:
        console.print(
            f"[red]the rules read tables the scan leaves out[/]: {', '.join(unscanned)}"
            " (add them to RULE_TABLES)"
        )

    sweep_seconds = sum(seconds for _run, seconds in sweep.values())
    noop_seconds = sum(seconds for _run, seconds, _statements in noop.values())
    result: dict[str, Any] = {
        "persons": persons,
        "alerts_opened": sum(run.opened for run, _seconds in sweep.values()),
        "sweep_seconds": round(sweep_seconds, 3),
        "noop_sweep_seconds": round(noop_seconds, 3),
        "scan_seconds": round(scan_seconds, 4),
        "sweep_to_scan_ratio": round(sweep_seconds / scan_seconds, 2),
        "noop_to_scan_ratio": round(noop_seconds / scan_seconds, 2),
        "noop_rows_written": noop_rows_written,
        "rules": {
            str(name): {
                "sweep_seconds": round(sweep[name][1], 3),
                "noop_seconds": round(noop[name][1], 3),
                "opened": sweep[name][0].opened,
            }
            for name in names
        },
    }
    for key, (op, bound) in RULE_TARGETS.items():
        verdict = "[green]met[/]" if target_met(op, bound, result[key]) else "[red]missed[/]"
        console.print(f"target {key} {op} {bound:g}: {result[key]} {verdict}")
    print(json.dumps(result), flush=True)
    return result
