"""``pantau bench-report``: the early-warning report of the bench population, against a bare scan.

``run_report_bench`` guarantees, in order:

1. a fresh database ``pantau_bench_report`` (or the name given; dropped first
   if it exists), made as ``pantau bench`` makes its own (``fresh_database``),
   with the population of ``bench.population`` bulk-loaded;
2. the rules' sweep once, as ``pantau bench-rules`` runs it (every rule of
   the catalogue given, through the real ``RuleEngine`` as of the
   population's ``AS_OF``, its clock held at that instant), so the report has
   alerts to count and the agencies' feeds their entries (sealed by the real
   ``FeedWriter`` of the settings' agencies file);
3. the office's morning after the sweep, written in bulk, one statement per
   kind (``history``): the officers' reviews of the open alerts (the
   decisions of ``tools.sample_reviews``: a REVIEWED event and the alert's new
   status, as ``storage.alert_store`` writes them, by ``REVIEWER`` with its
   notes, between half an hour and two and a half hours after ``AS_OF``); the
   lanes of the agencies' push channels (``DeliveryStore.sync_lanes``), each
   moved over all but the last ``HELD_BACK`` of its agency's feed with one
   delivery audit event per entry in the audit inbox, as
   ``DeliveryStore.advance`` records them; and the agencies' acknowledgements
   of most of their entries. The inbox is then drained into the hash-chained
   trail by the real trail writer (``audit.log``), as the server's does within
   milliseconds; the tables written are vacuumed and analysed;
4. ``scan_seconds``: the bare sequential read of every row of the tables the
   report reads (``REPORT_TABLES``), by ``bench.rules.scan_tables``;
5. the report: ``EarlyWarningReports.make_editions`` of the population's day
   (WIB) for the whole regency in both editions (FULL, and DISTRICT's
   aggregate one), as the scheduler's morning job makes them, built by
   ``rules_root.build_reports`` on the project's unit of work, made three
   hours after ``AS_OF`` and as of that instant: its figures read in one
   snapshot, disclosed, rendered, stored and audited in one transaction.
   The first call is ``report_seconds`` (the scheduler makes it once a
   morning); a second, a minute later, ``second_report_seconds``; the
   reader alone (``uow.read()`` and ``reader.report.report``, as
   ``make_editions`` reads) ``read_seconds``, after both;
6. the reports checked: both editions stored in the database with their
   files and the HTML page, one audit event of each in the audit inbox with
   its digest, and the figures of the full report not empty (foreigners
   present, open and new alerts, overstays, permits expiring, the agencies'
   deliveries and the officers' reviews). Anything missing stops the bench,
   naming it;
7. exactly one JSON line on stdout, the target (``REPORT_TARGETS``) checked
   on stderr with the progress.

The database is left in place for inspection; the reports' audit events wait
in its audit inbox (no trail writer runs then).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import psycopg

from exchange_service.audit.log import AuditLogOptions, open_audit_log
from exchange_service.delivery_root import delivery_policy
from exchange_service.domain import report as rp
from exchange_service.domain.agencies import DataView
from exchange_service.domain.alerts import ReviewDecision, RuleDefinition, RuleName
from exchange_service.domain.audit import SYSTEM_ACTOR_KIND, Actor
from exchange_service.domain.delivery import DELIVER_ACTION, DELIVERY_ACTOR
from exchange_service.reports.render import HTML_NAME
from exchange_service.rules_root import build_feed_writer, build_reports, build_rule_engine
from exchange_service.security.agencies import load_agencies
from exchange_service.services.reports import REPORT_ACTION, EarlyWarningReports
from exchange_service.settings import Settings
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.storage.delivery_store import DeliveryStore
from exchange_service.tools.bench import start_bench, target_met
from exchange_service.tools.bench.rules import StatementRecorder, run_sweep, scan_tables
from exchange_service.tools.sample_reviews import NOTES, REVIEWER

__all__ = [
    "REPORT_BENCH_DATABASE",
    "REPORT_TABLES",
    "REPORT_TARGETS",
    "run_report_bench",
]

REPORT_BENCH_DATABASE = "pantau_bench_report"

# The tables the report reads: storage/report_reader.py, statement by statement.
REPORT_TABLES = (
    # _DISTRICTS_SQL, and the names of the population's and the alerts' districts.
    "districts",
    # _POPULATION_SQL: the present stays, their person's current address and its place,
    # the listed persons' names, last travel document and last permit period.
    "stays",
    "current_addresses",
    "addresses",
    "persons",
    "travel_documents",
    "stay_permits",
    "villages",
    # _ALERTS_SQL: every alert's life from its events, the open ones' alerts (and, for the
    # map, their person's current address); _POPULATION_SQL: each overstay's alert.
    "alert_events",
    "alerts",
    # _AGENCIES_SQL: each agency's feed (its head and entries, their events), the delivery
    # audit records (in the trail and still in its inbox), the lanes and dead letters.
    "feed_heads",
    "feed_entries",
    "audit_records",
    "audit_inbox",
    "delivery_lanes",
    "delivery_dead_letters",
    # _QUALITY_SQL: the sightings outside the regency (and the present stays again).
    "sightings",
)

# Issue 14: the report of the bench population made within a minute.
REPORT_TARGETS = {"report_seconds": ("<=", 60.0)}

# The report is made this long after the population's instant, as of then: its day is
# the population's (WIB), and the morning's reviews and deliveries come before it.
REPORT_AFTER = timedelta(hours=3)
# Reviews between these two offsets after the sweep.
REVIEWS_FROM = timedelta(minutes=30)
REVIEWS_SPREAD_MINUTES = 120
# The share of each agency's feed its lanes have not reached at the report's instant.
HELD_BACK = 0.005
# Deliveries begin this long after the sweep, one entry every DELIVERY_STEP of its lane.
DELIVERIES_FROM = timedelta(seconds=30)
DELIVERY_STEP_MS = 5
# The share of each agency's entries it has acknowledged (entry sequence modulo 10 below
# this many tenths), and how long after their delivery.
ACKNOWLEDGED_TENTHS = {"polres-anambas": 9, "pemkab-anambas": 7}
ACKNOWLEDGED_AFTER = {"polres-anambas": timedelta(minutes=3), "pemkab-anambas": timedelta(hours=1)}
# The tables the morning's history writes.
HISTORY_TABLES = (
    "alerts",
    "alert_events",
    "feed_entries",
    "feed_heads",
    "delivery_lanes",
    "audit_records",
    "audit_inbox",
)

_ACTOR = Actor.system("bench-report")
_WORKER = "bench-report"
# The figures of the full report that must not be empty for the bench to mean anything.
_HEADLINES_SET = ("present", "open_alerts", "new_alerts", "overstays", "expiring")
_TABLES_SET = ("agencies", "false_positives")

# The decisions of tools/sample_reviews.py (its ``_decision``), over each rule's open
# alerts in the order of the person's name: watchlist matches are left to a supervisor;
# an overstay past 60 days (CRITICAL) is confirmed, every second other acknowledged; of
# the other rules' every seventh is dismissed, fifth confirmed, third acknowledged.
_REVIEWS = """
WITH ranked AS (
    SELECT id, rule, severity,
        row_number() OVER (
            PARTITION BY rule ORDER BY evidence ->> 'person_name', subject_id, id) - 1 AS n
    FROM alerts WHERE status = 'OPEN'
),
decided AS (
    SELECT id, n, CASE
        WHEN rule = 'WATCHLIST_MATCH' THEN NULL
        WHEN rule = 'OVERSTAY' THEN CASE
            WHEN severity = 'CRITICAL' THEN 'CONFIRMED'
            WHEN mod(n, 2) = 1 THEN 'ACKNOWLEDGED' END
        WHEN mod(n, 7) = 6 THEN 'DISMISSED'
        WHEN mod(n, 5) = 4 THEN 'CONFIRMED'
        WHEN mod(n, 3) = 2 THEN 'ACKNOWLEDGED'
    END AS status
    FROM ranked
),
reviewed AS (
    UPDATE alerts a SET status = d.status,
        changed_at = %(start)s::timestamptz + mod(d.n, %(spread)s) * interval '1 minute'
    FROM decided d
    WHERE a.id = d.id AND d.status IS NOT NULL AND a.status = 'OPEN'
    RETURNING a.*
)
INSERT INTO alert_events (alert_id, kind, rule, subject_kind, subject_id, stay_id, severity,
    status, district_code, village_code, evidence, summary_id, summary_en, action,
    resolution_reason, actor_id, actor_kind, officer, note, rule_run_id, occurred_at)
SELECT id, 'REVIEWED', rule, subject_kind, subject_id, stay_id, severity, status,
    district_code, village_code, evidence, summary_id, summary_en, action, resolution_reason,
    %(actor_id)s, %(actor_kind)s, %(officer)s,
    CASE status WHEN 'ACKNOWLEDGED' THEN %(acknowledge)s WHEN 'CONFIRMED' THEN %(confirm)s
        ELSE %(dismiss)s END,
    NULL, changed_at
FROM reviewed
ORDER BY changed_at, id
"""

# One audit event per entry a lane delivered, as DeliveryStore.advance records them
# (services.delivery's ``_event``), in the order of their time; then the lanes' cursors.
_DELIVERIES = """
INSERT INTO audit_inbox (at, actor_id, actor_kind, officer, action, outcome, purpose,
    person_ids, recipient, request_digest)
SELECT %(start)s::timestamptz + (f.sequence - 1) * %(step_ms)s * interval '1 millisecond',
    %(actor_id)s, %(actor_kind)s, '', %(action)s, 'OK',
    concat('feed ', f.agency_id, ' sequence ', f.sequence, ' (alert event ', f.event_seq,
        ') by ', %(worker)s::text),
    CASE WHEN f.person_id = '' THEN ARRAY[]::text[] ELSE ARRAY[f.person_id] END,
    l.agency_id || '/' || l.channel, encode(f.entry_hash, 'hex')
FROM delivery_lanes l
JOIN feed_heads h ON h.agency_id = l.agency_id
JOIN feed_entries f ON f.agency_id = l.agency_id
    AND f.sequence <= floor(h.last_sequence * (1 - %(held_back)s::float8))
WHERE l.enabled
ORDER BY f.sequence, l.agency_id, l.channel
"""
_CURSORS = """
UPDATE delivery_lanes l
SET delivered_through = floor(h.last_sequence * (1 - %(held_back)s::float8))::bigint,
    updated_at = %(now)s
FROM feed_heads h
WHERE h.agency_id = l.agency_id AND l.enabled
"""
_ACKNOWLEDGEMENTS = """
UPDATE feed_entries
SET acknowledged_at = %(start)s::timestamptz
    + (sequence - 1) * %(step_ms)s * interval '1 millisecond' + %(after)s::interval
WHERE agency_id = %(agency_id)s AND mod(sequence, 10) < %(tenths)s
  AND sequence <= (SELECT floor(last_sequence * (1 - %(held_back)s::float8))
                   FROM feed_heads WHERE agency_id = %(agency_id)s)
"""


class _Instant:
    """A clock that says what it is set to."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _count(connection: psycopg.Connection[Any], query: str) -> int:
    row = connection.execute(query).fetchone()
    return int(row[0]) if row else 0


def history(settings: Settings, conninfo: str, as_of: datetime) -> dict[str, int]:
    """The office's morning after the sweep at ``as_of`` (see the module docstring, 3); what
    was written, by kind."""
    written: dict[str, int] = {}
    agencies = load_agencies(settings.agencies_file)
    engine = make_engine(settings.database_url, pool_size=1, application_name="pantau-bench")
    try:
        lanes = DeliveryStore(engine, delivery_policy(settings), clock=_Instant(as_of)).sync_lanes(
            agencies
        )
    finally:
        engine.dispose()
    deliveries_from = as_of + DELIVERIES_FROM
    with psycopg.connect(conninfo, application_name="pantau-bench-history") as connection:
        reviews = connection.execute(
            _REVIEWS,
            {
                "start": as_of + REVIEWS_FROM,
                "spread": REVIEWS_SPREAD_MINUTES,
                "actor_id": REVIEWER.id,
                "actor_kind": REVIEWER.kind,
                "officer": REVIEWER.officer,
                "acknowledge": NOTES[ReviewDecision.ACKNOWLEDGE],
                "confirm": NOTES[ReviewDecision.CONFIRM],
                "dismiss": NOTES[ReviewDecision.DISMISS],
            },
        )
        written["reviews"] = reviews.rowcount
        deliveries = connection.execute(
            _DELIVERIES,
            {
                "start": deliveries_from,
                "step_ms": DELIVERY_STEP_MS,
                "actor_id": DELIVERY_ACTOR,
                "actor_kind": SYSTEM_ACTOR_KIND,
                "action": DELIVER_ACTION,
                "worker": _WORKER,
                "held_back": HELD_BACK,
            },
        )
        written["deliveries"] = deliveries.rowcount
        connection.execute(
            _CURSORS,
            {"held_back": HELD_BACK, "now": as_of + REPORT_AFTER},
        )
        written["acknowledged"] = 0
        for agency_id, tenths in ACKNOWLEDGED_TENTHS.items():
            acknowledged = connection.execute(
                _ACKNOWLEDGEMENTS,
                {
                    "start": deliveries_from,
                    "step_ms": DELIVERY_STEP_MS,
                    "after": ACKNOWLEDGED_AFTER[agency_id],
                    "agency_id": agency_id,
                    "tenths": tenths,
                    "held_back": HELD_BACK,
                },
            )
            written["acknowledged"] += acknowledged.rowcount
        written["feed_entries"] = _count(connection, "SELECT count(*) FROM feed_entries")
    written["lanes"] = len(lanes)
    return written


def drain_inbox(settings: Settings, conninfo: str) -> int:
    """Chains every event waiting in the audit inbox into the trail with the real writer, as
    the server's does; how many records the trail then holds."""
    trail = open_audit_log(settings, AuditLogOptions(flush_batch=5_000, max_backlog=1_000_000))
    trail.close()
    with psycopg.connect(conninfo) as connection:
        return _count(connection, "SELECT count(*) FROM audit_records")


def settle(conninfo: str) -> None:
    """Vacuums and analyses the tables the history wrote, as autovacuum would have by the
    morning."""
    with psycopg.connect(conninfo, autocommit=True) as connection:
        connection.execute(f"VACUUM (ANALYZE) {', '.join(HISTORY_TABLES)}")


def _make(
    reports: EarlyWarningReports, clock: _Instant, at: datetime
) -> tuple[list[rp.StoredReport], float]:
    clock.at = at
    day = at.astimezone(reports.options.timezone).date()
    started = time.perf_counter()
    made = reports.make_editions(day, "", (DataView.FULL, DataView.DISTRICT), _ACTOR, as_of=at)
    return made, time.perf_counter() - started


def _read(
    reports: EarlyWarningReports, uow: UnitOfWork, made: rp.StoredReport
) -> tuple[rp.EarlyWarningReport, float]:
    """The full report of ``made`` read again by the reader alone, and how long it took."""
    options = reports.options
    query = rp.ReportQuery(
        date=made.date,
        district_code=made.district_code,
        as_of=made.as_of,
        made_at=made.made_at,
        timezone=options.timezone.key,
        options=options.report,
        agency_names=options.agency_names,
    )
    started = time.perf_counter()
    with uow.read() as reader:
        full = reader.report.report(query)
    return full, time.perf_counter() - started


def _fail(problem: str) -> SystemExit:
    return SystemExit(f"pantau bench-report: {problem}")


def check_reports(conninfo: str, made: list[rp.StoredReport], full: rp.EarlyWarningReport) -> int:
    """Fails loudly unless the reports are there and their figures are not empty (see the
    module docstring, 6); the size of the full edition's HTML page."""
    editions = {stored.edition for stored in made}
    if editions != {rp.Edition.FULL, rp.Edition.AGGREGATE}:
        raise _fail(f"the editions made are {sorted(editions)}, not FULL and AGGREGATE")
    with psycopg.connect(conninfo) as connection:
        for stored in made:
            row = connection.execute(
                "SELECT r.edition, r.digest, count(f.name),"
                " count(f.name) FILTER (WHERE f.name = %(html)s AND length(f.content) > 0)"
                " FROM reports r LEFT JOIN report_files f ON f.report_id = r.id"
                " WHERE r.id = %(id)s GROUP BY r.edition, r.digest",
                {"id": uuid.UUID(stored.id), "html": HTML_NAME},
            ).fetchone()
            if row is None:
                raise _fail(f"report {stored.id} ({stored.edition}) is not stored")
            if tuple(row) != (str(stored.edition), stored.digest, len(stored.files), 1):
                raise _fail(f"report {stored.id} is stored as {tuple(row)}, not as made")
            audited = _count_of(
                connection,
                "SELECT count(*) FROM audit_inbox WHERE action = %(action)s"
                " AND request_digest = %(digest)s",
                {"action": REPORT_ACTION, "digest": stored.digest},
            )
            if audited < 1:
                raise _fail(f"report {stored.id}'s digest is not in the audit inbox")
    headlines = {h.key: h.value for h in full.headlines}
    empty = [key for key in _HEADLINES_SET if not headlines.get(key)]
    rows = {t.key: len(t.rows) for t in full.tables}
    empty += [f"table {key}" for key in _TABLES_SET if not rows.get(key)]
    if empty:
        raise _fail(f"the report's figures are empty: {', '.join(empty)}")
    (page,) = (f for f in _full(made).files if f.name == HTML_NAME)
    return len(page.content)


def _count_of(connection: psycopg.Connection[Any], query: str, params: Mapping[str, Any]) -> int:
    row = connection.execute(query, params).fetchone()
    return int(row[0]) if row else 0


def _full(made: list[rp.StoredReport]) -> rp.StoredReport:
    (full,) = (stored for stored in made if stored.edition is rp.Edition.FULL)
    return full


def run_report_bench(
    settings: Settings,
    rules: Mapping[RuleName, RuleDefinition],
    *,
    persons: int = 1_000_000,
    sightings: int = 3_000_000,
    database_name: str = REPORT_BENCH_DATABASE,
) -> dict[str, Any]:
    """Runs the whole report benchmark (see the module docstring); returns the printed figures."""
    console, database, population = start_bench(
        settings, f"pantau bench-report ({len(rules)} rules)", database_name, persons, sightings
    )
    as_of = population.as_of
    engine = make_engine(
        database.settings.database_url, pool_size=2, application_name="pantau-bench-report"
    )
    try:
        uow = UnitOfWork(
            engine, boundary_tolerance_meters=database.settings.boundary_tolerance_meters
        )
        # The sweep's clock is held at the population's instant, so its runs' audit events
        # come before the morning's deliveries in the trail; the feeds sign on the system's.
        rule_engine = build_rule_engine(
            database.settings,
            uow,
            rules,
            clock=_Instant(as_of),
            actor=_ACTOR,
            feed=build_feed_writer(database.settings),
        )
        started = time.perf_counter()
        opened = sum(
            run.opened
            for _name, run, _seconds, _statements in run_sweep(
                rule_engine, list(rule_engine.rules), as_of, StatementRecorder()
            )
        )
        console.print(
            f"sweep as of {as_of.isoformat()}: {opened:,} alerts opened"
            f" in {time.perf_counter() - started:.1f} s"
        )

        started = time.perf_counter()
        written = history(database.settings, database.conninfo, as_of)
        records = drain_inbox(database.settings, database.conninfo)
        settle(database.conninfo)
        console.print(
            f"history in {time.perf_counter() - started:.1f} s: {written['reviews']:,} reviews,"
            f" {written['feed_entries']:,} feed entries ({written['acknowledged']:,}"
            f" acknowledged), {written['deliveries']:,} deliveries on {written['lanes']} lanes;"
            f" {records:,} audit records in the trail"
        )

        scanned = scan_tables(database.conninfo, REPORT_TABLES)
        scan_seconds = sum(seconds for _rows, seconds in scanned.values())
        console.print(
            f"bare scan ({scan_seconds:.3f} s): "
            + ", ".join(
                f"{table} {rows:,} rows {seconds:.3f} s"
                for table, (rows, seconds) in scanned.items()
            )
        )

        clock = _Instant(as_of + REPORT_AFTER)
        reports = build_reports(database.settings, uow, clock=clock)
        made, report_seconds = _make(reports, clock, as_of + REPORT_AFTER)
        console.print(
            f"report (both editions) as of {made[0].as_of.isoformat()}: {report_seconds:.2f} s"
        )
        _again, second_seconds = _make(reports, clock, as_of + REPORT_AFTER + timedelta(minutes=1))
        console.print(f"the same a minute later: {second_seconds:.2f} s")
        full, read_seconds = _read(reports, uow, _full(made))
        console.print(f"the reader alone: {read_seconds:.2f} s")
    finally:
        engine.dispose()
    html_bytes = check_reports(database.conninfo, made, full)
    headlines = {h.key: h.value for h in full.headlines}
    console.print(
        "figures: " + ", ".join(f"{h.label_en} {h.value:,}" for h in full.headlines if h.value)
    )

    result: dict[str, Any] = {
        "persons": persons,
        "report_seconds": round(report_seconds, 3),
        "second_report_seconds": round(second_seconds, 3),
        "read_seconds": round(read_seconds, 3),
        "scan_seconds": round(scan_seconds, 4),
        "report_to_scan_ratio": round(report_seconds / scan_seconds, 2),
        "html_bytes": html_bytes,
        "alerts_open": headlines["open_alerts"],
        "foreigners_present": headlines["present"],
    }
    for key, (op, bound) in REPORT_TARGETS.items():
        verdict = "[green]met[/]" if target_met(op, bound, result[key]) else "[red]missed[/]"
        console.print(f"target {key} {op} {bound:g}: {result[key]} {verdict}")
    print(json.dumps(result), flush=True)
    return result
