"""PERMIT_EXPIRING through the rule engine on the real PostGIS, at its boundaries."""

from __future__ import annotations

from datetime import date, timedelta

from exchange_service.domain.alerts import (
    AdministrativeAction,
    AlertEventKind,
    AlertStatus,
    ResolutionReason,
    RuleName,
    Severity,
)
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service.conftest import SettableClock
from tests.service.stays import alerts_of, events_of, extend, leave, the_alert, visitor_until, wib

EXPIRING = RuleName.PERMIT_EXPIRING
LAST_DAY = date(2026, 4, 30)
WINDOW = 14  # the default of rule_permit_expiring_within_days


def before(n: int) -> date:
    return LAST_DAY - timedelta(days=n)


def test_a_permit_ending_in_exactly_n_days_warns_and_in_n_plus_one_does_not(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY, days=60)
    rule_engine.run(EXPIRING, as_of=wib(before(WINDOW + 1), 23, 59, 59))
    assert alerts_of(uow, visitor, EXPIRING) == ()

    rule_engine.run(EXPIRING, as_of=wib(before(WINDOW), 0, 0, 0))
    alert = the_alert(uow, visitor, EXPIRING)
    assert (alert.severity, alert.status) == (Severity.WARNING, AlertStatus.OPEN)
    assert alert.action is AdministrativeAction.NONE
    assert alert.evidence["days_left"] == WINDOW
    assert alert.evidence["within_days"] == WINDOW
    assert alert.evidence["last_valid_day"] == "2026-04-30"
    assert alert.facts == f"{visitor.stay.id}/2026-04-30"
    assert alert.summary_id == (
        "NGUYEN Van An (VNM): izin tinggal VISIT nomor VISIT-2105-0001 berakhir dalam 14 hari"
        " (30 April 2026) dan belum ada perpanjangan tercatat. Ajukan perpanjangan atau keluar"
        " sebelum tanggal itu berlalu."
    )
    assert alert.summary_en == (
        "NGUYEN Van An (VNM): VISIT permit VISIT-2105-0001 ends in 14 days (30 April 2026) and"
        " no extension is recorded. The permit must be extended, or the person leave, before"
        " that day is over."
    )


def test_the_warning_counts_down_to_the_last_valid_day_and_then_stays_open(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY, days=60)
    rule_engine.run(EXPIRING, as_of=wib(before(3)))
    rule_engine.run(EXPIRING, as_of=wib(LAST_DAY, 23, 59, 59))
    alert = the_alert(uow, visitor, EXPIRING)
    assert alert.evidence["days_left"] == 0
    assert "berakhir hari ini" in alert.summary_id
    assert "ends today" in alert.summary_en
    # Past the last valid day the finding no longer holds, but nothing resolved it:
    # the alert stays open (OVERSTAY now holds as well).
    run = rule_engine.run(EXPIRING, as_of=wib(LAST_DAY + timedelta(days=1), 0, 0, 0))
    assert (run.resolved, run.updated) == (0, 0)
    assert the_alert(uow, visitor, EXPIRING) == alert
    assert [e.kind for e in events_of(uow, alert)] == [
        AlertEventKind.OPENED,
        AlertEventKind.UPDATED,
    ]


def test_an_extension_granted_on_the_last_valid_day_resolves_the_warning(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY, days=60)
    rule_engine.run(EXPIRING, as_of=wib(before(5)))
    extend(
        registry,
        clock,
        visitor,
        on=wib(LAST_DAY, 14),
        first_day=LAST_DAY + timedelta(days=1),
        last_day=LAST_DAY + timedelta(days=60),
    )
    run = rule_engine.run(EXPIRING, as_of=wib(LAST_DAY, 15))
    assert run.resolved >= 1
    alert = the_alert(uow, visitor, EXPIRING)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.PERMIT_EXTENDED,
    )
    # The new period is not ending within the window: no new warning.
    rule_engine.run(EXPIRING, as_of=wib(LAST_DAY + timedelta(days=1)))
    assert alerts_of(uow, visitor, EXPIRING) == (alert,)


def test_the_warning_resolves_when_the_person_leaves(
    registry: Registry, rule_engine: RuleEngine, uow: SavepointUnitOfWork, clock: SettableClock
) -> None:
    visitor = visitor_until(registry, clock, LAST_DAY, days=60)
    rule_engine.run(EXPIRING, as_of=wib(before(2)))
    leave(registry, clock, visitor, wib(before(1), 10))
    rule_engine.run(EXPIRING, as_of=wib(before(1), 11))
    alert = the_alert(uow, visitor, EXPIRING)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.DEPARTED,
    )
