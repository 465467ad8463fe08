"""OVERSTAY through the rule engine on the real PostGIS, at its boundaries; nothing outlives a test.

The permit's last valid day is ``LAST_DAY``; day N of the overstay is the
WIB day N days after it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import Connection

from exchange_service.domain.alerts import (
    AdministrativeAction,
    Alert,
    AlertEventKind,
    AlertStatus,
    ResolutionReason,
    RuleName,
    Severity,
    SubjectKind,
)
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service.conftest import SettableClock
from tests.service.stays import (
    alert_rows,
    alerts_of,
    dismiss,
    events_of,
    extend,
    leave,
    the_alert,
    visitor_until,
    wib,
)

OVERSTAY = RuleName.OVERSTAY
LAST_DAY = date(2026, 1, 31)


def day(n: int) -> date:
    """Day ``n`` of the overstay (day 0 is the last valid day)."""
    return LAST_DAY + timedelta(days=n)


def _kinds(uow: SavepointUnitOfWork, alert: Alert) -> list[AlertEventKind]:
    return [event.kind for event in events_of(uow, alert)]


def test_37_days_over_owe_rp_37_million_and_the_alert_says_so(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    run = rule_engine.run(OVERSTAY, as_of=wib(day(37)))
    assert run.error is None
    assert run.opened >= 1
    alert = the_alert(uow, visitor, OVERSTAY)
    assert (alert.subject_kind, alert.stay_id) == (SubjectKind.PERSON, visitor.stay.id)
    assert (alert.severity, alert.status) == (Severity.HIGH, AlertStatus.OPEN)
    assert alert.action is AdministrativeAction.OVERSTAY_FEE
    assert (alert.district_code, alert.village_code) == (
        visitor.address.address.district_code,
        visitor.address.address.village_code,
    )
    assert alert.district_code
    assert alert.evidence["days_over"] == 37
    assert alert.evidence["fee_accrued_idr"] == 37_000_000
    assert alert.evidence["fee_per_day_idr"] == 1_000_000
    assert alert.evidence["last_valid_day"] == "2026-01-31"
    assert alert.evidence["permit_number"] == "VISIT-2105-0001"
    assert alert.evidence["permit_type"] == "VISIT"
    assert alert.evidence["person_name"] == "NGUYEN Van An"
    assert alert.facts == f"{visitor.stay.id}/2026-01-31"
    assert alert.first_detected_at == wib(day(37))
    assert alert.summary_id == (
        "NGUYEN Van An (VNM) melampaui izin tinggal selama 37 hari: izin VISIT nomor"
        " VISIT-2105-0001 berlaku sampai 31 Januari 2026. Biaya beban menurut Pasal 78 ayat (1)"
        " UU 6/2011: Rp 37.000.000 (Rp 1.000.000 per hari); bila tidak dibayar, deportasi dan"
        " penangkalan."
    )
    assert alert.summary_en == (
        "NGUYEN Van An (VNM) has overstayed by 37 days: VISIT permit VISIT-2105-0001 was valid"
        " until 31 January 2026. Overstay fee under Article 78(1) of Law 6/2011: Rp 37.000.000"
        " (Rp 1.000.000 a day); unpaid, deportation and an entry ban."
    )
    (opened,) = events_of(uow, alert)
    assert opened.kind is AlertEventKind.OPENED
    assert (opened.alert_id, opened.rule_run_id, opened.occurred_at) == (
        alert.id,
        run.id,
        wib(day(37)),
    )
    assert (opened.evidence, opened.summary_en, opened.severity) == (
        alert.evidence,
        alert.summary_en,
        Severity.HIGH,
    )
    assert (opened.actor_id, opened.actor_kind) == ("rules", "SYSTEM")


def test_day_60_is_high_and_day_61_critical_with_one_escalation(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    rule_engine.run(OVERSTAY, as_of=wib(day(60)))
    alert = the_alert(uow, visitor, OVERSTAY)
    assert (alert.severity, alert.action) == (Severity.HIGH, AdministrativeAction.OVERSTAY_FEE)
    assert alert.evidence["days_over"] == 60

    run = rule_engine.run(OVERSTAY, as_of=wib(day(61)))
    assert run.escalated >= 1
    alert = the_alert(uow, visitor, OVERSTAY)
    assert alert.severity is Severity.CRITICAL
    assert alert.action is AdministrativeAction.DEPORTATION_AND_ENTRY_BAN
    assert alert.evidence["days_over"] == 61
    assert alert.evidence["fee_accrued_idr"] == 61_000_000
    assert "lebih dari 60 hari" in alert.summary_id
    assert "deportasi dan penangkalan" in alert.summary_id
    assert "more than 60" in alert.summary_en
    assert "deportation and an entry ban apply" in alert.summary_en

    rule_engine.run(OVERSTAY, as_of=wib(day(62)))
    assert _kinds(uow, alert) == [
        AlertEventKind.OPENED,
        AlertEventKind.ESCALATED,
        AlertEventKind.UPDATED,
    ]
    assert the_alert(uow, visitor, OVERSTAY).severity is Severity.CRITICAL


def test_wib_midnight_divides_the_last_valid_day_from_the_first_day_over(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    last_second = wib(LAST_DAY, 23, 59, 59)
    first_second = wib(day(1), 0, 0, 0)
    # In UTC both instants fall on the last valid day: only the WIB day tells them apart.
    assert last_second.date() == LAST_DAY
    assert first_second.astimezone(last_second.tzinfo).date() == day(1)
    assert (first_second - last_second).total_seconds() == 1

    rule_engine.run(OVERSTAY, as_of=last_second)
    assert alerts_of(uow, visitor, OVERSTAY) == ()

    rule_engine.run(OVERSTAY, as_of=first_second)
    alert = the_alert(uow, visitor, OVERSTAY)
    assert alert.evidence["days_over"] == 1
    assert alert.evidence["fee_accrued_idr"] == 1_000_000
    assert "overstayed by 1 day:" in alert.summary_en
    assert "Rp 1.000.000 (Rp 1.000.000 per hari)" in alert.summary_id


def test_the_days_and_the_fee_grow_by_one_a_day(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    rule_engine.run(OVERSTAY, as_of=wib(day(37)))
    # Later the same day: nothing new.
    later = rule_engine.run(OVERSTAY, as_of=wib(day(37), 22))
    assert later.changed == 0
    next_day = rule_engine.run(OVERSTAY, as_of=wib(day(38), 0, 5))
    assert next_day.updated >= 1
    alert = the_alert(uow, visitor, OVERSTAY)
    assert (alert.evidence["days_over"], alert.evidence["fee_accrued_idr"]) == (38, 38_000_000)
    assert "Rp 38.000.000" in alert.summary_id
    assert alert.first_detected_at == wib(day(37))
    assert alert.changed_at == wib(day(38), 0, 5)
    opened, updated = events_of(uow, alert)
    assert (opened.kind, updated.kind) == (AlertEventKind.OPENED, AlertEventKind.UPDATED)
    assert opened.evidence["days_over"] == 37
    assert updated.evidence["days_over"] == 38
    assert updated.rule_run_id == next_day.id


def test_a_rerun_with_nothing_changed_writes_no_alert_or_event(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    for n, name in enumerate(("Nguyen", "Tran", "Le")):
        visitor_until(registry, clock, LAST_DAY - timedelta(days=n), family=name)
    first = rule_engine.run(OVERSTAY, as_of=wib(day(10)))
    assert first.opened >= 3
    before = alert_rows(connection)
    again = rule_engine.run(OVERSTAY, as_of=wib(day(10)))
    assert (again.opened, again.updated, again.escalated, again.resolved) == (0, 0, 0, 0)
    assert again.rows_scanned == first.rows_scanned
    after = alert_rows(connection)
    assert (after["alerts"], after["alert_events"]) == (before["alerts"], before["alert_events"])
    assert after["rule_runs"] == before["rule_runs"] + 1


def test_an_extension_granted_on_the_last_valid_day_leaves_no_overstay(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    extend(
        registry,
        clock,
        visitor,
        on=wib(LAST_DAY, 15),
        first_day=day(1),
        last_day=day(30),
    )
    rule_engine.run(OVERSTAY, as_of=wib(day(1), 0, 0, 0))
    rule_engine.run(OVERSTAY, as_of=wib(day(30), 23, 59, 59))
    assert alerts_of(uow, visitor, OVERSTAY) == ()
    # The day after the extension's last day, the person overstays it.
    rule_engine.run(OVERSTAY, as_of=wib(day(31), 0, 0, 0))
    alert = the_alert(uow, visitor, OVERSTAY)
    assert alert.evidence["last_valid_day"] == day(30).isoformat()
    assert alert.evidence["permit_number"] == "EXT-2105-0001"
    assert alert.evidence["days_over"] == 1


def test_an_open_overstay_resolves_when_a_period_covers_today(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    rule_engine.run(OVERSTAY, as_of=wib(day(5)))
    extend(registry, clock, visitor, on=wib(day(6), 10), first_day=day(1), last_day=day(40))
    run = rule_engine.run(OVERSTAY, as_of=wib(day(6), 11))
    assert run.resolved >= 1
    alert = the_alert(uow, visitor, OVERSTAY)
    assert alert.status is AlertStatus.RESOLVED
    assert alert.resolution_reason is ResolutionReason.PERMIT_EXTENDED
    assert alert.resolved_at == wib(day(6), 11)
    *_, resolved = events_of(uow, alert)
    assert resolved.kind is AlertEventKind.RESOLVED
    assert resolved.status is AlertStatus.RESOLVED
    assert resolved.resolution_reason is ResolutionReason.PERMIT_EXTENDED
    # Resolved stays resolved.
    rule_engine.run(OVERSTAY, as_of=wib(day(7)))
    assert _kinds(uow, alert) == [AlertEventKind.OPENED, AlertEventKind.RESOLVED]


def test_an_exit_resolves_the_overstay_as_departed(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    rule_engine.run(OVERSTAY, as_of=wib(day(12)))
    leave(registry, clock, visitor, wib(day(13), 8))
    # A run as of before the exit still sees the person present.
    assert rule_engine.run(OVERSTAY, as_of=wib(day(13), 7)).resolved == 0
    assert the_alert(uow, visitor, OVERSTAY).status is AlertStatus.OPEN
    rule_engine.run(OVERSTAY, as_of=wib(day(13), 9))
    alert = the_alert(uow, visitor, OVERSTAY)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.DEPARTED,
    )
    # The days over are those of the last update, not grown past the exit.
    assert alert.evidence["days_over"] == 13


def test_a_dismissed_alert_is_not_opened_again_for_the_same_facts_but_is_when_they_change(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY)
    rule_engine.run(OVERSTAY, as_of=wib(day(3)))
    dismissed = the_alert(uow, visitor, OVERSTAY)
    dismiss(connection, dismissed)
    # The days grow, the facts (the stay and its last valid day) do not.
    assert rule_engine.run(OVERSTAY, as_of=wib(day(4))).opened == 0
    rule_engine.run(OVERSTAY, as_of=wib(day(9)))
    assert alerts_of(uow, visitor, OVERSTAY) == (replace(dismissed, status=AlertStatus.DISMISSED),)
    # A short extension, itself over by now: new facts, a new alert.
    extend(registry, clock, visitor, on=wib(day(10), 9), first_day=day(1), last_day=day(5))
    run = rule_engine.run(OVERSTAY, as_of=wib(day(10), 10))
    assert run.opened >= 1
    old, new = alerts_of(uow, visitor, OVERSTAY)
    assert (old.id, old.status) == (dismissed.id, AlertStatus.DISMISSED)
    assert new.status is AlertStatus.OPEN
    assert new.evidence["last_valid_day"] == day(5).isoformat()
    assert new.evidence["days_over"] == 5
    assert _kinds(uow, new) == [AlertEventKind.OPENED]
