"""PERMIT_LIMIT_EXCEEDED through the rule engine on the real PostGIS, at its boundaries.

A stay's first period is recorded through the registry (``RecordEntry``); its
further periods as an import writes them, straight to the store, past
``ExtendPermit``'s refusal, which is what the rule is there to catch. Day N is
N days after the entry day; every run is as of day 40, when every stay here
is present and within a period.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date, timedelta

from sqlalchemy import Connection

from exchange_service.app import rule_engine_options
from exchange_service.domain import model
from exchange_service.domain.agencies import DataView
from exchange_service.domain.alerts import (
    AdministrativeAction,
    AlertEventKind,
    AlertStatus,
    ResolutionReason,
    RuleName,
    Severity,
    SubjectKind,
)
from exchange_service.domain.disclosure import EVIDENCE, disclose
from exchange_service.domain.model import PermitType
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import PermitLimitSetting, Settings
from exchange_service.storage.database import SavepointUnitOfWork
from scheduler.rules import RULES
from tests.service import commands as c
from tests.service.conftest import SettableClock
from tests.service.residents import Resident, arrive, leave, listed, permit, report_address
from tests.service.stays import alert_rows, alerts_of, dismiss, events_of, the_alert, wib

RULE = RuleName.PERMIT_LIMIT_EXCEEDED
ENTRY_DAY = date(2026, 1, 1)
VOA, VISIT, ITAS = PermitType.VOA, PermitType.VISIT, PermitType.LIMITED_STAY
SPONSOR = "PT Anambas Bahari Wisata"


def day(n: int) -> date:
    return ENTRY_DAY + timedelta(days=n)


AS_OF = wib(day(40), 9)


def import_period(
    uow: SavepointUnitOfWork,
    resident: Resident,
    sequence: int,
    period: tuple[PermitType, int, int],
) -> None:
    """A further period (type, first day, last day) of the resident's stay, as an import
    writes it: straight to the store, unchecked."""
    kind, first, last = period
    permit = model.StayPermit(f"{kind}-{sequence}", kind, day(first), day(last), SPONSOR, "tourism")
    with uow.begin() as tx:
        tx.registry.add_permit(resident.stay.id, permit, sequence=sequence)


def staying(
    registry: Registry,
    clock: SettableClock,
    uow: SavepointUnitOfWork,
    connection: Connection,
    periods: list[tuple[PermitType, int, int]],
    *,
    family: str = "Nguyen",
) -> Resident:
    """A person who entered on day 0 with an address in Tarempa, on these periods in order."""
    (kind, first, last), *more = periods
    resident = arrive(
        registry,
        clock,
        at=wib(day(0), 10),
        permit=permit(
            kind, day(first), day(last), number=f"{kind}-1", sponsor=SPONSOR, purpose="tourism"
        ),
        family=family,
    )
    report_address(
        connection, resident, at=c.TAREMPA, effective_from=day(0), reported_at=wib(day(0), 12)
    )
    for sequence, period in enumerate(more, start=2):
        import_period(uow, resident, sequence, period)
    return resident


def test_a_voa_of_exactly_60_days_is_within_and_61_days_open_a_warning(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    met = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 59)], family="Le")
    over = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 60)])
    run = rule_engine.run(RULE, as_of=AS_OF)
    assert (run.error, run.opened) == (None, 1)
    assert alerts_of(uow, met, RULE) == ()
    alert = the_alert(uow, over, RULE)
    assert (alert.subject_kind, alert.stay_id) == (SubjectKind.PERSON, over.stay.id)
    assert (alert.severity, alert.status) == (Severity.WARNING, AlertStatus.OPEN)
    assert alert.action is AdministrativeAction.PERMIT_REVIEW
    assert alert.district_code == "21.05.01"
    evidence = alert.evidence
    assert evidence["exceeded_limits"] == [
        {
            "permit_type": "VOA",
            "limit_kind": "total_days",
            "limit": 60,
            "actual": 61,
            "over": 1,
            "setting": "permit_voa.total_days",
            "days_covered": 61,
            "extensions": 1,
            "first_day": "2026-01-01",
            "last_day": "2026-03-02",
        }
    ]
    assert evidence["permit_periods"] == [
        {
            "sequence": 1,
            "permit_type": "VOA",
            "permit_number": "VOA-1",
            "valid_from": "2026-01-01",
            "valid_until": "2026-01-30",
        },
        {
            "sequence": 2,
            "permit_type": "VOA",
            "permit_number": "VOA-2",
            "valid_from": "2026-01-31",
            "valid_until": "2026-03-02",
        },
    ]
    assert evidence["permit_period_dates"] == [
        {k: v for k, v in period.items() if k != "permit_number"}
        for period in listed(evidence, "permit_periods")
    ]
    # The stay and its permit now in force, as the other rules about stays give them.
    assert (evidence["person_name"], evidence["permit_number"], evidence["last_valid_day"]) == (
        "NGUYEN Van An",
        "VOA-2",
        "2026-03-02",
    )
    assert set(evidence) <= set(EVIDENCE)
    assert alert.facts == (
        f"{over.stay.id}/1:VOA:2026-01-01..2026-01-30,2:VOA:2026-01-31..2026-03-02"
    )
    assert alert.summary_id == (
        "NGUYEN Van An (VNM), dalam tinggal sejak 1 Januari 2026: periode izin VOA mencakup 61"
        " hari (1 Januari 2026 sampai 2 Maret 2026), lebih 1 hari dari batas 60 hari"
        " seluruhnya. Periksa dasar periode izin yang tercatat; izin tinggal dapat dibatasi,"
        " diubah atau dibatalkan (Pasal 75 ayat (2) huruf b UU 6/2011)."
    )
    assert alert.summary_en == (
        "NGUYEN Van An (VNM), in the stay since 1 January 2026: the VOA periods cover 61 days"
        " (1 January 2026 to 2 March 2026), 1 day over the limit of 60 days in all. Check what"
        " the recorded permit periods rest on; the stay permit may be restricted, changed or"
        " cancelled (Article 75(2)(b) of Law 6/2011)."
    )
    (opened,) = events_of(uow, alert)
    assert (opened.kind, opened.rule_run_id, opened.evidence) == (
        AlertEventKind.OPENED,
        run.id,
        evidence,
    )


def test_a_single_first_period_longer_than_the_type_allows_is_found_without_an_extension(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    met = staying(registry, clock, uow, connection, [(VOA, 0, 59)], family="Le")
    over = staying(registry, clock, uow, connection, [(VOA, 0, 60)])
    rule_engine.run(RULE, as_of=AS_OF)
    assert alerts_of(uow, met, RULE) == ()
    (excess,) = listed(the_alert(uow, over, RULE).evidence, "exceeded_limits")
    assert (excess["limit_kind"], excess["actual"], excess["over"], excess["extensions"]) == (
        "total_days",
        61,
        1,
        0,
    )


def test_a_second_extension_of_a_voa_goes_over_its_one_extension(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    # 30 days in all, well within 60: the number of extensions alone is over.
    twice = staying(registry, clock, uow, connection, [(VOA, 0, 9), (VOA, 10, 19), (VOA, 20, 45)])
    rule_engine.run(RULE, as_of=AS_OF)
    alert = the_alert(uow, twice, RULE)
    assert alert.evidence["exceeded_limits"] == [
        {
            "permit_type": "VOA",
            "limit_kind": "extensions",
            "limit": 1,
            "actual": 2,
            "over": 1,
            "setting": "permit_voa.extensions",
            "days_covered": 46,
            "extensions": 2,
            "first_day": "2026-01-01",
            "last_day": "2026-02-15",
        }
    ]
    assert "izin VOA diperpanjang 2 kali, lebih 1 kali dari batas 1 kali." in alert.summary_id
    assert "the VOA permit was extended 2 times, 1 over the limit of 1." in alert.summary_en


def test_a_stay_over_both_limits_lists_the_days_then_the_extensions(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    both = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 40), (VOA, 41, 70)])
    rule_engine.run(RULE, as_of=AS_OF)
    alert = the_alert(uow, both, RULE)
    limits = listed(alert.evidence, "exceeded_limits")
    assert [(e["limit_kind"], e["actual"], e["over"]) for e in limits] == [
        ("total_days", 71, 11),
        ("extensions", 2, 1),
    ]
    assert (
        "the VOA periods cover 71 days (1 January 2026 to 12 March 2026), 11 days over the limit"
        " of 60 days in all; the VOA permit was extended 2 times, 1 over the limit of 1."
    ) in alert.summary_en


def test_days_two_overlapping_periods_cover_count_once(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    # 30 + 50 days of periods, but days 10 to 29 are in both: 60 days covered, then 61.
    met = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 10, 59)], family="Le")
    over = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 10, 60)])
    rule_engine.run(RULE, as_of=AS_OF)
    assert alerts_of(uow, met, RULE) == ()
    (excess,) = listed(the_alert(uow, over, RULE).evidence, "exceeded_limits")
    assert (excess["days_covered"], excess["over"]) == (61, 1)


def test_a_visit_of_180_days_in_all_is_within_and_181_days_over(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    met = staying(
        registry,
        clock,
        uow,
        connection,
        [(VISIT, 0, 59), (VISIT, 60, 119), (VISIT, 120, 179)],
        family="Le",
    )
    over = staying(
        registry, clock, uow, connection, [(VISIT, 0, 59), (VISIT, 60, 119), (VISIT, 120, 180)]
    )
    rule_engine.run(RULE, as_of=AS_OF)
    assert alerts_of(uow, met, RULE) == ()
    alert = the_alert(uow, over, RULE)
    # Any number of VISIT extensions: only the days are over.
    assert [
        (e["permit_type"], e["limit_kind"], e["limit"], e["actual"], e["over"], e["setting"])
        for e in listed(alert.evidence, "exceeded_limits")
    ] == [("VISIT", "total_days", 180, 181, 1, "permit_visit.total_days")]
    assert [p["sequence"] for p in listed(alert.evidence, "permit_periods")] == [1, 2, 3]


def test_each_type_is_counted_apart_and_a_type_without_a_limit_is_never_over(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    # 60 days of VOA, then 180 of VISIT, then years of ITAS: 240 days before the ITAS.
    changed_status = staying(
        registry, clock, uow, connection, [(VOA, 0, 59), (VISIT, 60, 239), (ITAS, 240, 2000)]
    )
    itas = staying(registry, clock, uow, connection, [(ITAS, 0, 3000)], family="Le")
    run = rule_engine.run(RULE, as_of=AS_OF)
    assert (run.error, run.opened) == (None, 0)
    assert alerts_of(uow, changed_status, RULE) == alerts_of(uow, itas, RULE) == ()
    # Over in one type: only that type's periods are the evidence and the facts.
    import_period(uow, changed_status, 4, (VISIT, 240, 240))
    rule_engine.run(RULE, as_of=AS_OF)
    alert = the_alert(uow, changed_status, RULE)
    assert [e["permit_type"] for e in listed(alert.evidence, "exceeded_limits")] == ["VISIT"]
    assert [p["sequence"] for p in listed(alert.evidence, "permit_periods")] == [2, 4]
    assert alert.facts == (
        f"{changed_status.stay.id}/2:VISIT:2026-03-02..2026-08-28,4:VISIT:2026-08-29..2026-08-29"
    )


def test_a_rerun_with_nothing_changed_writes_no_alert_or_event(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    for family in ("Nguyen", "Tran", "Le"):
        staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 60)], family=family)
    first = rule_engine.run(RULE, as_of=AS_OF)
    assert first.opened == 3
    before = alert_rows(connection)
    # The same instant, and a day later: the periods, and so the findings, are the same.
    for as_of in (AS_OF, AS_OF + timedelta(days=1)):
        again = rule_engine.run(RULE, as_of=as_of)
        assert (again.error, again.changed, again.rows_scanned) == (None, 0, first.rows_scanned)
    after = alert_rows(connection)
    assert (after["alerts"], after["alert_events"]) == (before["alerts"], before["alert_events"])
    assert after["rule_runs"] == before["rule_runs"] + 2


def test_an_exit_resolves_the_alert_as_departed(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    over = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 60)])
    rule_engine.run(RULE, as_of=AS_OF)
    leave(registry, clock, over, wib(day(41), 8))
    # As of before the exit the person is still present, the alert still open.
    assert rule_engine.run(RULE, as_of=wib(day(41), 7)).resolved == 0
    assert the_alert(uow, over, RULE).status is AlertStatus.OPEN
    run = rule_engine.run(RULE, as_of=wib(day(41), 9))
    assert run.resolved == 1
    alert = the_alert(uow, over, RULE)
    assert (alert.status, alert.resolution_reason, alert.resolved_at) == (
        AlertStatus.RESOLVED,
        ResolutionReason.DEPARTED,
        wib(day(41), 9),
    )
    # The run as of before the exit updated the place alone: the exit ends the person's
    # current address, which the rules read as it stands, not as of the run.
    assert [e.kind for e in events_of(uow, alert)] == [
        AlertEventKind.OPENED,
        AlertEventKind.UPDATED,
        AlertEventKind.RESOLVED,
    ]
    assert alert.evidence["exceeded_limits"] == events_of(uow, alert)[0].evidence["exceeded_limits"]
    # Gone, the stay is found no more: resolved stays resolved.
    assert rule_engine.run(RULE, as_of=wib(day(42), 9)).changed == 0


def test_the_alert_resolves_as_corrected_only_when_the_limits_change(  # noqa: PLR0917 (fixtures)
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
    service_settings: Settings,
) -> None:
    over = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 60)])
    rule_engine.run(RULE, as_of=AS_OF)
    # A later period only adds days: the stay is still over.
    import_period(uow, over, 3, (VOA, 61, 61))
    assert rule_engine.run(RULE, as_of=AS_OF).resolved == 0
    # The office's limit rises to 90 days and 2 extensions: the periods are within it now.
    relaxed = service_settings.model_copy(
        update={"permit_voa": PermitLimitSetting(total_days=90, extensions=2)}
    )
    engine = RuleEngine(uow, RULES, rule_engine_options(relaxed), clock=clock)
    run = engine.run(RULE, as_of=wib(day(40), 10))
    assert (run.resolved, run.opened) == (1, 0)
    alert = the_alert(uow, over, RULE)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.PERMIT_CORRECTED,
    )


def test_a_dismissed_alert_is_not_opened_again_until_the_periods_change(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    over = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 60)])
    rule_engine.run(RULE, as_of=AS_OF)
    dismissed = the_alert(uow, over, RULE)
    dismiss(connection, dismissed)
    assert rule_engine.run(RULE, as_of=AS_OF + timedelta(days=1)).opened == 0
    assert alerts_of(uow, over, RULE) == (replace(dismissed, status=AlertStatus.DISMISSED),)
    # Another period of the type: new facts, a new alert.
    import_period(uow, over, 3, (VOA, 61, 70))
    run = rule_engine.run(RULE, as_of=AS_OF + timedelta(days=2))
    assert run.opened == 1
    old, new = alerts_of(uow, over, RULE)
    assert (old.id, old.status) == (dismissed.id, AlertStatus.DISMISSED)
    assert new.status is AlertStatus.OPEN
    assert [(e["limit_kind"], e["actual"]) for e in listed(new.evidence, "exceeded_limits")] == [
        ("total_days", 71),
        ("extensions", 2),
    ]


def test_the_district_view_gets_the_limits_and_dates_but_no_permit_number(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    over = staying(registry, clock, uow, connection, [(VOA, 0, 29), (VOA, 30, 60)])
    rule_engine.run(RULE, as_of=AS_OF)
    alert = the_alert(uow, over, RULE)
    district = disclose(alert, DataView.DISTRICT)
    assert "permit_periods" not in district.evidence
    assert district.evidence["exceeded_limits"] == alert.evidence["exceeded_limits"]
    assert district.evidence["permit_period_dates"] == alert.evidence["permit_period_dates"]
    for withheld in ("VOA-1", "VOA-2", SPONSOR):
        assert withheld not in repr(district)
    assert disclose(alert, DataView.FULL) == alert
