"""SPONSOR_OVERSTAY_CLUSTER through the rule engine on the real PostGIS, at its boundaries.

Sponsees are fishing crews on visit permits of one company, still present,
each overstaying since the day after the last valid day their test gives.
At least 3 whose overstay began within 90 days make a cluster.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

from sqlalchemy import Connection

from exchange_service.domain import commands as cmd
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
from exchange_service.domain.disclosure import disclose
from exchange_service.domain.model import PermitType
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import SettableClock
from tests.service.residents import Resident, arrive, leave, listed, permit, report_address
from tests.service.stays import alerts_of, events_of, the_alert, wib

RULE = RuleName.SPONSOR_OVERSTAY_CLUSTER
TODAY = date(2026, 3, 10)
SPONSOR = "PT Mitra Laut Natuna"
NAMES = ("Nguyen", "Tran", "Le", "Pham", "Hoang")


class Sponsor:
    """A sponsor as the alerts name it: by the SHA-256 of its text."""

    def __init__(self, name: str) -> None:
        self.name = name

    @property
    def subject_id(self) -> str:
        return hashlib.sha256(self.name.encode()).hexdigest()


def sponsee(
    registry: Registry,
    clock: SettableClock,
    connection: Connection,
    days_over: int,
    *,
    family: str,
    sponsor: str = SPONSOR,
) -> Resident:
    """A crewman on a 30-day visit permit that ended ``days_over`` days before ``TODAY``."""
    last_day = TODAY - timedelta(days=days_over)
    first_day = last_day - timedelta(days=29)
    person = arrive(
        registry,
        clock,
        at=wib(first_day, 10),
        permit=permit(
            PermitType.VISIT,
            first_day,
            last_day,
            number=f"VISIT-{family.upper()}",
            sponsor=sponsor,
            purpose="awak kapal perikanan",
        ),
        family=family,
        given="Van",
    )
    report_address(
        connection, person, at=c.TAREMPA, effective_from=first_day, reported_at=wib(first_day, 12)
    )
    return person


def crew(
    registry: Registry, clock: SettableClock, connection: Connection, *days_over: int
) -> list[Resident]:
    return [
        sponsee(registry, clock, connection, days, family=family)
        for days, family in zip(days_over, NAMES, strict=False)
    ]


def test_three_sponsees_overstaying_make_a_warning_about_the_sponsor(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    nguyen, tran, le = crew(registry, clock, connection, 5, 90, 10)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    alert = the_alert(uow, Sponsor(SPONSOR), RULE)
    assert (alert.subject_kind, alert.stay_id) == (SubjectKind.SPONSOR, None)
    assert (alert.severity, alert.action) == (Severity.WARNING, AdministrativeAction.SPONSOR_REVIEW)
    assert (alert.district_code, alert.village_code) == ("", "")
    assert alert.evidence["sponsor"] == SPONSOR
    assert alert.evidence["sponsees_overstaying"] == 3
    assert (alert.evidence["min_sponsees"], alert.evidence["window_days"]) == (3, 90)
    sponsees = listed(alert.evidence, "sponsees")
    assert [(s["person_id"], s["days_over"]) for s in sponsees] == [
        (str(tran.person.id), 90),
        (str(le.person.id), 10),
        (str(nguyen.person.id), 5),
    ]
    assert sponsees[0]["person_name"] == "TRAN Van"
    assert sponsees[0]["last_valid_day"] == (TODAY - timedelta(days=90)).isoformat()
    assert sponsees[0]["stay_id"] == str(tran.stay.id)
    assert sponsees[0]["district_code"] == "21.05.01"
    assert alert.facts == ",".join(sorted(str(p.stay.id) for p in (nguyen, tran, le)))
    assert alert.summary_id == (
        "Penjamin PT Mitra Laut Natuna menjamin 3 orang asing yang melampaui izin tinggal dan"
        " mulai melampauinya dalam 90 hari terakhir: TRAN Van (90 hari), LE Van (10 hari),"
        " NGUYEN Van (5 hari). Penjamin bertanggung jawab atas keberadaan orang asing yang"
        " dijaminnya (Pasal 63 UU 6/2011): tinjau penjamin ini dan kewajibannya."
    )
    assert alert.summary_en == (
        "Sponsor PT Mitra Laut Natuna has 3 sponsees who have overstayed their permits, each"
        " overstay begun within the last 90 days: TRAN Van (90 days), LE Van (10 days), NGUYEN"
        " Van (5 days). A sponsor answers for the foreigners it sponsors (Article 63 of Law"
        " 6/2011): review this sponsor and its obligations."
    )
    # The district view: the sponsor only by its opaque key, neither its name nor summaries.
    district = disclose(alert, DataView.DISTRICT)
    assert district.subject_id == alert.subject_id != SPONSOR
    assert "sponsor" not in district.evidence
    assert (district.summary_id, district.summary_en) == ("", "")
    assert SPONSOR not in repr(district)


def test_an_overstay_begun_91_days_ago_is_outside_the_window(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    crew(registry, clock, connection, 5, 91, 10)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, Sponsor(SPONSOR), RULE) == ()


def test_the_third_sponsee_counts_from_the_wib_midnight_after_the_last_valid_day(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    # The third's last valid day is yesterday: today is its first day over.
    crew(registry, clock, connection, 20, 30, 1)
    yesterday = TODAY - timedelta(days=1)
    rule_engine.run(RULE, as_of=wib(yesterday, 23, 59, 59))
    assert alerts_of(uow, Sponsor(SPONSOR), RULE) == ()
    rule_engine.run(RULE, as_of=wib(TODAY, 0, 0, 0))
    alert = the_alert(uow, Sponsor(SPONSOR), RULE)
    assert alert.evidence["sponsees_overstaying"] == 3


def test_other_sponsors_and_no_sponsor_are_not_one_cluster(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    crew(registry, clock, connection, 5, 6)
    sponsee(registry, clock, connection, 7, family="Pham", sponsor="PT Mitra Laut Natuna Tbk")
    for days, family in ((5, "Hoang"), (6, "Vu"), (7, "Dang")):
        sponsee(registry, clock, connection, days, family=family, sponsor="")
    run = rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert run.error is None
    assert alerts_of(uow, Sponsor(SPONSOR), RULE) == ()
    assert alerts_of(uow, Sponsor(""), RULE) == ()


def test_the_days_over_grow_and_ageing_out_of_the_window_leaves_it_open(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    crew(registry, clock, connection, 5, 89, 10)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    tomorrow = rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=1), 9))
    assert tomorrow.updated == 1
    alert = the_alert(uow, Sponsor(SPONSOR), RULE)
    sponsees = listed(alert.evidence, "sponsees")
    assert [s["days_over"] for s in sponsees] == [90, 11, 6]
    # The day after, the first one's overstay began 91 days ago: no cluster, but nobody left.
    assert rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=2), 9)).changed == 0
    assert the_alert(uow, Sponsor(SPONSOR), RULE) == alert
    assert [e.kind for e in events_of(uow, alert)] == [
        AlertEventKind.OPENED,
        AlertEventKind.UPDATED,
    ]


def test_it_resolves_when_fewer_than_three_still_overstay(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    nguyen, tran, _le, _pham = crew(registry, clock, connection, 5, 6, 7, 120)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    opened = the_alert(uow, Sponsor(SPONSOR), RULE)
    assert opened.evidence["sponsees_overstaying"] == 3
    # One leaves: three still overstay (Pham's overstay, older than the window, counts too).
    leave(registry, clock, nguyen, wib(TODAY, 10))
    assert rule_engine.run(RULE, as_of=wib(TODAY, 11)).resolved == 0
    # Another is given a period covering today.
    clock.set(wib(TODAY, 12))
    registry.extend_permit(
        cmd.ExtendPermit(
            str(tran.stay.id),
            permit(
                PermitType.VISIT,
                TODAY - timedelta(days=6),
                TODAY + timedelta(days=30),
                number="VISIT-TRAN-2",
                sponsor=SPONSOR,
                purpose="awak kapal perikanan",
            ),
        )
    )
    run = rule_engine.run(RULE, as_of=wib(TODAY, 13))
    assert run.resolved == 1
    alert = the_alert(uow, Sponsor(SPONSOR), RULE)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.SPONSEES_RESOLVED,
    )
    assert alert.id == opened.id
    # Two still overstay (Le, Pham): not a cluster, and nothing opens again.
    assert rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=1), 9)).opened == 0
    assert len(alerts_of(uow, Sponsor(SPONSOR), RULE)) == 1
