"""The rule engine's guarantees, whatever the rule: failures, fences, the audit trail, bad input."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from exchange_service.app import rule_engine_options
from exchange_service.domain.alerts import AlertStatus, RuleName, RuleRun, RuleSettings
from exchange_service.domain.audit import Actor
from exchange_service.domain.disclosure import EVIDENCE
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.fencing import Firing, LeadershipLost, SlotAlreadyFired
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings
from exchange_service.storage.database import SavepointUnitOfWork
from exchange_service.storage.leases import take_term
from scheduler.rules import RULES
from scheduler.rules.base import FINDING_COLUMNS, OPEN_ALERT_OF_RULE, RESOLUTION_COLUMNS, Rule
from scheduler.rules.overstay import OVERSTAY
from tests.service.conftest import AuditEvents, SettableClock
from tests.service.stays import alert_rows, events_of, the_alert, visitor_until, wib

LAST_DAY = date(2026, 2, 28)
AS_OF = wib(LAST_DAY + timedelta(days=10))

# Would resolve every open OVERSTAY alert, were its findings not to fail.
BROKEN = Rule(
    name=RuleName.OVERSTAY,
    title="fails on the database",
    findings_sql="""
        SELECT 'PERSON' AS subject_kind, 'nobody' AS subject_id, CAST(NULL AS uuid) AS stay_id,
            'HIGH' AS severity, CAST(NULL AS text) AS district_code,
            CAST(NULL AS text) AS village_code,
            jsonb_build_object('days_over', 1 / (count(*) - count(*))) AS evidence,
            'nobody' AS facts, '' AS summary_id, '' AS summary_en, 'NONE' AS action,
            'nobody' AS inputs
        FROM persons
    """,
    resolutions_sql=f"SELECT a.id AS alert_id, 'DEPARTED' AS reason FROM alerts a"
    f" WHERE {OPEN_ALERT_OF_RULE}",
)
# Finds every overstayer twice: a rule breaking the contract of one row per subject.
TWICE = Rule(
    name=RuleName.OVERSTAY,
    title="finds each subject twice",
    findings_sql=f"({OVERSTAY.findings_sql}) UNION ALL ({OVERSTAY.findings_sql})",
    resolutions_sql=OVERSTAY.resolutions_sql,
    numbers=OVERSTAY.numbers,
)


@dataclass(frozen=True)
class World:
    """What an engine test works with, on the test's transaction."""

    registry: Registry
    engine: RuleEngine
    uow: SavepointUnitOfWork
    clock: SettableClock
    connection: Connection
    settings: Settings
    audit: AuditEvents


@pytest.fixture
def world(request: pytest.FixtureRequest) -> World:
    return World(
        *(
            request.getfixturevalue(name)
            for name in (
                "registry",
                "rule_engine",
                "uow",
                "clock",
                "connection",
                "service_settings",
                "audit_events",
            )
        )
    )


def _engine_with(
    rule: Rule,
    uow: SavepointUnitOfWork,
    settings: Settings,
    clock: SettableClock,
) -> RuleEngine:
    return RuleEngine(uow, {rule.name: rule}, rule_engine_options(settings), clock=clock)


def _run_rows(connection: Connection, run: RuleRun) -> list[tuple[object, ...]]:
    return [
        tuple(row)
        for row in connection.execute(
            text(
                "SELECT rule, error, opened, updated, escalated, resolved, fence_lease,"
                " fence_term FROM rule_runs WHERE id = :id"
            ),
            {"id": run.id},
        )
    ]


def test_a_failed_run_changes_no_alert_and_records_its_error(world: World) -> None:
    uow, connection = world.uow, world.connection
    visitor = visitor_until(world.registry, world.clock, LAST_DAY)
    world.engine.run(RuleName.OVERSTAY, as_of=AS_OF)
    alert = the_alert(uow, visitor, RuleName.OVERSTAY)
    before = alert_rows(connection)

    broken = _engine_with(BROKEN, uow, world.settings, world.clock)
    failed = broken.run(RuleName.OVERSTAY, as_of=AS_OF + timedelta(days=1))
    assert failed.error is not None
    assert "division by zero" in failed.error
    assert failed.changed == 0
    assert the_alert(uow, visitor, RuleName.OVERSTAY) == alert
    assert alert.status is AlertStatus.OPEN
    assert len(events_of(uow, alert)) == 1
    after = alert_rows(connection)
    assert after == {**before, "rule_runs": before["rule_runs"] + 1}
    assert _run_rows(connection, failed) == [("OVERSTAY", failed.error, 0, 0, 0, 0, None, None)]
    event = world.audit.events[-1]
    assert (event.action, event.outcome) == ("rules/OVERSTAY", "FAILED RuleFailed")
    assert tuple(event.person_ids) == ()


def test_a_rule_finding_a_subject_twice_fails_and_what_it_wrote_is_undone(world: World) -> None:
    visitor = visitor_until(world.registry, world.clock, LAST_DAY)
    before = alert_rows(world.connection)
    twice = _engine_with(TWICE, world.uow, world.settings, world.clock)
    failed = twice.run(RuleName.OVERSTAY, as_of=AS_OF)
    assert failed.error is not None
    assert "more than once" in failed.error
    assert alert_rows(world.connection) == {**before, "rule_runs": before["rule_runs"] + 1}
    # The same findings once each open the alert: the statement did find it.
    assert world.engine.run(RuleName.OVERSTAY, as_of=AS_OF).opened >= 1
    assert the_alert(world.uow, visitor, RuleName.OVERSTAY).status is AlertStatus.OPEN


def test_a_run_fenced_with_a_passed_term_writes_nothing(world: World) -> None:
    connection, clock = world.connection, world.clock
    visitor = visitor_until(world.registry, clock, LAST_DAY)
    deposed = take_term(connection, "scheduler-test", "paused-leader", clock())
    take_term(connection, "scheduler-test", "new-leader", clock())
    before = alert_rows(connection)
    with pytest.raises(LeadershipLost, match="no longer held in term 1"):
        world.engine.run(RuleName.OVERSTAY, as_of=AS_OF, fence=deposed)
    assert alert_rows(connection) == before
    assert world.audit.events == []
    with world.uow.begin() as tx:
        assert tx.alerts.alerts_of(visitor.subject_id) == ()


def test_a_run_for_a_slot_already_fired_writes_nothing_not_even_a_failure(world: World) -> None:
    connection, clock = world.connection, world.clock
    visitor_until(world.registry, clock, LAST_DAY)
    fence = take_term(connection, "scheduler-test", "leader", clock())

    def firing() -> Firing:
        return Firing(uuid.uuid4(), "OVERSTAY", AS_OF, AS_OF, "leader", clock())

    first = world.engine.run(RuleName.OVERSTAY, as_of=AS_OF, fence=fence.for_firing(firing()))
    assert first.error is None
    before, events = alert_rows(connection), world.audit.events
    with pytest.raises(SlotAlreadyFired):
        world.engine.run(RuleName.OVERSTAY, as_of=AS_OF, fence=fence.for_firing(firing()))
    assert alert_rows(connection) == before  # no run record, failed or not
    assert world.audit.events == events


def test_a_run_fenced_with_the_current_term_runs_and_names_its_term(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    take_term(connection, "scheduler-test", "old-leader", clock())
    fence = take_term(connection, "scheduler-test", "leader", clock())
    run = rule_engine.run(RuleName.OVERSTAY, as_of=AS_OF, fence=fence)
    assert run.error is None
    assert (run.fence_lease, run.fence_term) == ("scheduler-test", 2)
    assert _run_rows(connection, run)[0][-2:] == ("scheduler-test", 2)
    assert the_alert(uow, visitor, RuleName.OVERSTAY).status is AlertStatus.OPEN


def test_each_run_is_one_audit_event_naming_the_persons_whose_alerts_changed(
    registry: Registry,
    rule_engine: RuleEngine,
    clock: SettableClock,
    audit_events: AuditEvents,
) -> None:
    one = visitor_until(registry, clock, LAST_DAY)
    other = visitor_until(registry, clock, LAST_DAY - timedelta(days=3), family="Tran")
    run = rule_engine.run(RuleName.OVERSTAY, as_of=AS_OF)
    (event,) = audit_events.events
    assert event.actor == Actor.system("rules")
    assert (event.action, event.outcome) == ("rules/OVERSTAY", "OK")
    assert {one.subject_id, other.subject_id} <= set(event.person_ids)
    assert len(set(event.person_ids)) == run.changed
    assert str(run.id) in event.purpose
    assert AS_OF.isoformat() in event.purpose

    rule_engine.run(RuleName.OVERSTAY, as_of=AS_OF)
    _, rerun = audit_events.events
    assert (rerun.action, rerun.outcome, tuple(rerun.person_ids)) == ("rules/OVERSTAY", "OK", ())


def test_a_run_goes_by_the_clock_unless_given_an_instant(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    clock.set(AS_OF)
    run = rule_engine.run("OVERSTAY")
    assert (run.rule, run.as_of, run.started_at, run.finished_at) == (
        RuleName.OVERSTAY,
        AS_OF,
        AS_OF,
        AS_OF,
    )
    assert the_alert(uow, visitor, RuleName.OVERSTAY).first_detected_at == AS_OF


@pytest.mark.parametrize(
    ("rule", "as_of", "fields"),
    [
        ("OVERSTAYED", AS_OF, {"rule"}),
        ("overstay", AS_OF, {"rule"}),
        (RuleName.OVERSTAY, datetime(2026, 3, 10, 9, 0), {"as_of"}),  # noqa: DTZ001
        ("", datetime(2026, 3, 10, 9, 0), {"rule", "as_of"}),  # noqa: DTZ001
    ],
)
def test_a_bad_run_request_names_each_bad_field_and_writes_nothing(
    rule: str, as_of: datetime, fields: set[str], world: World
) -> None:
    before = alert_rows(world.connection)
    with pytest.raises(InvalidInput) as caught:
        world.engine.run(rule, as_of=as_of)
    assert {v.field for v in caught.value.violations} == fields
    assert alert_rows(world.connection) == before
    assert world.audit.events == []


def test_a_rule_known_to_the_domain_but_not_to_the_catalogue_is_refused(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
) -> None:
    engine = _engine_with(OVERSTAY, uow, service_settings, clock)
    with pytest.raises(InvalidInput, match="rule: 'PERMIT_EXPIRING' is not a rule here"):
        engine.run(RuleName.PERMIT_EXPIRING, as_of=AS_OF)


def test_the_catalogue_lists_its_rules_with_their_numbers(rule_engine: RuleEngine) -> None:
    assert list(rule_engine.rules) == [
        RuleName.OVERSTAY,
        RuleName.PERMIT_EXPIRING,
        RuleName.UNREPORTED_ADDRESS_CHANGE,
        RuleName.NO_RECENT_CONTACT,
        RuleName.RESTRICTED_AREA_PRESENCE,
        RuleName.SPONSOR_OVERSTAY_CLUSTER,
        RuleName.PERMIT_LIMIT_EXCEEDED,
        RuleName.WATCHLIST_MATCH,
    ]
    # The screener applies the threshold; the rule raises what it kept.
    assert rule_engine.numbers(RuleName.WATCHLIST_MATCH) == {}
    assert rule_engine.numbers(RuleName.OVERSTAY) == {
        "fee_per_day_idr": 1_000_000,
        "deportation_after_days": 60,
    }
    assert rule_engine.numbers(RuleName.PERMIT_EXPIRING) == {"within_days": 14}
    assert rule_engine.numbers(RuleName.UNREPORTED_ADDRESS_CHANGE) == {
        "min_sightings": 2,
        "window_days": 30,
        "far_beyond_meters": 3000.0,
        "grace_days": 14,
    }
    assert rule_engine.numbers(RuleName.NO_RECENT_CONTACT) == {"no_contact_days": 180}
    assert rule_engine.numbers(RuleName.RESTRICTED_AREA_PRESENCE) == {"window_days": 30}
    assert rule_engine.numbers(RuleName.SPONSOR_OVERSTAY_CLUSTER) == {
        "min_sponsees": 3,
        "window_days": 90,
    }
    limits = rule_engine.numbers(RuleName.PERMIT_LIMIT_EXCEEDED)
    assert list(limits) == ["permit_limits"]
    assert json.loads(str(limits["permit_limits"])) == [
        {"type": "VOA", "total_days": 60, "extensions": 1},
        {"type": "VISIT", "total_days": 180, "extensions": None},
        {"type": "LIMITED_STAY", "total_days": None, "extensions": None},
        {"type": "PERMANENT_STAY", "total_days": None, "extensions": None},
        {"type": "DIPLOMATIC", "total_days": None, "extensions": None},
    ]


def test_every_number_of_a_rule_comes_from_the_settings(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
    registry: Registry,
) -> None:
    settings = service_settings.model_copy(
        update={"rule_overstay_fee_per_day_idr": 500_000, "rule_overstay_deportation_after_days": 5}
    )
    engine = RuleEngine(uow, RULES, rule_engine_options(settings), clock=clock)
    visitor = visitor_until(registry, clock, LAST_DAY)
    engine.run(RuleName.OVERSTAY, as_of=AS_OF)
    alert = the_alert(uow, visitor, RuleName.OVERSTAY)
    assert alert.evidence["fee_accrued_idr"] == 5_000_000
    assert alert.severity == "CRITICAL"
    assert "Rp 5.000.000 (Rp 500.000 per hari)" in alert.summary_id
    assert RuleSettings().overstay_fee_per_day_idr == 1_000_000


def test_the_evidence_of_every_rule_is_classified_for_every_view(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    rule_engine.run(RuleName.PERMIT_EXPIRING, as_of=wib(LAST_DAY - timedelta(days=1)))
    rule_engine.run(RuleName.OVERSTAY, as_of=AS_OF)
    with uow.begin() as tx:
        alerts = tx.alerts.alerts_of(visitor.subject_id)
    # The other rules' evidence: tests/service/test_rules_disclosure.py.
    assert {alert.rule for alert in alerts} == {RuleName.OVERSTAY, RuleName.PERMIT_EXPIRING}
    for alert in alerts:
        assert set(alert.evidence) <= set(EVIDENCE), alert.rule


# PostgreSQL type OIDs the contract allows for each column.
_TEXT, _UUID, _JSONB = {25, 1043}, {2950}, {3802}
_FINDING_TYPES = {
    **dict.fromkeys(FINDING_COLUMNS, _TEXT),
    "stay_id": _UUID,
    "evidence": _JSONB,
}


@pytest.mark.parametrize("rule", list(RULES.values()), ids=str)
def test_every_rule_returns_the_columns_of_the_contract(
    rule: Rule, connection: Connection, service_settings: Settings
) -> None:
    parameters = {
        **rule.parameters(rule_engine_options(service_settings).rules, AS_OF, AS_OF.date()),
        "as_of": AS_OF,
        "today": AS_OF.date(),
        "rule": str(rule.name),
        "timezone": "Asia/Jakarta",
    }
    for sql, columns in (
        (rule.findings_sql, _FINDING_TYPES),
        (rule.resolutions_sql, {"alert_id": _UUID, "reason": _TEXT}),
    ):
        result = connection.execute(text(f"SELECT * FROM ({sql}) f LIMIT 0"), parameters)
        described = {column[0]: column[1] for column in result.cursor.description}
        assert set(described) == set(columns), rule.name
        for name, oid in described.items():
            assert oid in columns[name], f"{rule.name}: {name} has type {oid}"
    assert tuple(_FINDING_TYPES) == FINDING_COLUMNS
    assert set(RESOLUTION_COLUMNS) == {"alert_id", "reason"}
