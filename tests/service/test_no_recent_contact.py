"""NO_RECENT_CONTACT through the rule engine on the real PostGIS, at its boundaries.

The last contact is a police check on ``LAST_CONTACT`` (WIB); 180 days later
the resident has gone 180 days without one. Permit periods recorded through
the registry carry the database's time (``recorded_at``, the real time, long
after these runs), so they are no contact for a run as of 2026 unless a test
reads that time and runs after it.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Connection, text

from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import (
    AdministrativeAction,
    AlertStatus,
    ResolutionReason,
    RuleName,
    Severity,
)
from exchange_service.domain.model import PermitType
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import WIB, SettableClock, wib_day
from tests.service.residents import Resident, arrive, leave, permit, report_address, sight
from tests.service.stays import alerts_of, the_alert, wib

RULE = RuleName.NO_RECENT_CONTACT
ENTRY_DAY = date(2025, 9, 1)
LAST_CONTACT = date(2025, 10, 1)
# The 180th day after the last contact.
DUE = LAST_CONTACT + timedelta(days=180)


def holder(
    registry: Registry,
    clock: SettableClock,
    connection: Connection,
    kind: PermitType = PermitType.LIMITED_STAY,
    *,
    entered_at: datetime | None = None,
    family: str = "Nguyen",
) -> Resident:
    """A permit holder who entered (on ``ENTRY_DAY`` unless given), reporting a home then."""
    entered_at = entered_at or wib(ENTRY_DAY, 10)
    first_day = wib_day(entered_at)
    person = arrive(
        registry,
        clock,
        at=entered_at,
        permit=permit(kind, first_day, first_day + timedelta(days=364), number=f"{kind}-1"),
        family=family,
    )
    report_address(
        connection,
        person,
        at=c.TAREMPA,
        effective_from=first_day,
        reported_at=entered_at + timedelta(hours=2),
    )
    return person


def seen_last_on_the_contact_day(
    registry: Registry, clock: SettableClock, person: Resident
) -> None:
    sight(registry, clock, person, at=c.TAREMPA, observed_at=wib(LAST_CONTACT, 10))


def test_180_days_without_contact_open_an_info_alert_from_wib_midnight(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = holder(registry, clock, connection)
    seen_last_on_the_contact_day(registry, clock, person)
    rule_engine.run(RULE, as_of=wib(DUE - timedelta(days=1), 23, 59, 59))
    assert alerts_of(uow, person, RULE) == ()
    rule_engine.run(RULE, as_of=wib(DUE, 0, 0, 0))
    alert = the_alert(uow, person, RULE)
    assert (alert.severity, alert.action, alert.stay_id) == (
        Severity.INFO,
        AdministrativeAction.NONE,
        person.stay.id,
    )
    assert alert.district_code == "21.05.01"
    evidence = alert.evidence
    assert evidence["last_contact_kind"] == "SIGHTING"
    assert evidence["last_contact_at"] == "2025-10-01T03:00:00Z"
    assert evidence["last_contact_on"] == "2025-10-01"
    assert evidence["no_contact_days"] == 180
    assert (evidence["permit_type"], evidence["permit_number"]) == (
        "LIMITED_STAY",
        "LIMITED_STAY-1",
    )
    assert alert.facts == f"{person.stay.id}/2025-10-01T03:00:00Z"
    assert alert.summary_id == (
        "NGUYEN Van An (VNM), pemegang ITAS nomor LIMITED_STAY-1, tidak tercatat kontak"
        " (penampakan, laporan alamat atau tindakan izin tinggal) sejak 1 Oktober 2025, 180"
        " hari atau lebih; kontak terakhir: penampakan. Periksa di alamat terdaftarnya"
        " (Jl. Hang Tuah 7, Tarempa) bahwa ia masih tinggal di sana."
    )
    assert alert.summary_en == (
        "NGUYEN Van An (VNM), holder of ITAS LIMITED_STAY-1, has had no recorded contact"
        " (a sighting, an address report or a permit action) since 1 October 2025, 180 days or"
        " more; the last was a sighting. Check at the registered address (Jl. Hang Tuah 7,"
        " Tarempa) that the person still lives there."
    )
    # The days since grow; the alert does not change with them.
    assert rule_engine.run(RULE, as_of=wib(DUE + timedelta(days=9))).changed == 0


def test_only_itas_and_itap_holders_are_watched(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    visit = holder(registry, clock, connection, PermitType.VISIT, family="Tran")
    itap = holder(registry, clock, connection, PermitType.PERMANENT_STAY, family="Le")
    rule_engine.run(RULE, as_of=wib(DUE + timedelta(days=60)))
    assert alerts_of(uow, visit, RULE) == ()
    alert = the_alert(uow, itap, RULE)
    # Nothing since the address report made two hours after the entry.
    assert alert.evidence["last_contact_kind"] == "ADDRESS_REPORT"
    assert alert.evidence["last_contact_at"] == "2025-09-01T05:00:00Z"
    assert "pemegang ITAP nomor PERMANENT_STAY-1" in alert.summary_id


def test_contact_after_the_runs_instant_is_not_yet_known(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = holder(registry, clock, connection)
    seen_last_on_the_contact_day(registry, clock, person)
    sight(registry, clock, person, at=c.TAREMPA, observed_at=wib(DUE + timedelta(days=5)))
    rule_engine.run(RULE, as_of=wib(DUE, 9))
    assert the_alert(uow, person, RULE).evidence["last_contact_on"] == "2025-10-01"
    # As of after that sighting it is contact, and resolves the alert.
    run = rule_engine.run(RULE, as_of=wib(DUE + timedelta(days=5), 12))
    assert run.resolved == 1
    alert = the_alert(uow, person, RULE)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.CONTACT_RECORDED,
    )


def test_an_address_report_is_contact(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = holder(registry, clock, connection)
    seen_last_on_the_contact_day(registry, clock, person)
    rule_engine.run(RULE, as_of=wib(DUE, 9))
    report_address(
        connection,
        person,
        at=c.MATAK,
        effective_from=DUE,
        reported_at=wib(DUE, 10),
        line="Desa Matak",
    )
    rule_engine.run(RULE, as_of=wib(DUE, 11))
    alert = the_alert(uow, person, RULE)
    assert alert.resolution_reason is ResolutionReason.CONTACT_RECORDED
    # The report is the last contact now: nothing found until 180 days after it.
    rule_engine.run(RULE, as_of=wib(DUE + timedelta(days=179), 23, 59, 59))
    assert len(alerts_of(uow, person, RULE)) == 1


def test_a_permit_action_is_contact_from_the_time_it_was_recorded(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    # What the registry records now is stamped with the database's time of this transaction.
    recorded = connection.execute(text("SELECT now()")).scalar_one().astimezone(WIB)
    person = holder(
        registry, clock, connection, entered_at=recorded - timedelta(days=300), family="Tran"
    )
    rule_engine.run(RULE, as_of=recorded - timedelta(minutes=1))
    opened = the_alert(uow, person, RULE)
    assert opened.evidence["last_contact_kind"] == "ADDRESS_REPORT"
    first_day = wib_day(recorded - timedelta(days=300))
    clock.set(recorded)
    registry.extend_permit(
        cmd.ExtendPermit(
            str(person.stay.id),
            permit(
                PermitType.LIMITED_STAY,
                first_day + timedelta(days=365),
                first_day + timedelta(days=729),
                number="KITAS-2105-0002",
            ),
        )
    )
    run = rule_engine.run(RULE, as_of=recorded + timedelta(minutes=1))
    assert run.resolved == 1
    assert the_alert(uow, person, RULE).resolution_reason is ResolutionReason.CONTACT_RECORDED
    # The extension is the last contact now: nothing is found again for 180 days.
    assert rule_engine.run(RULE, as_of=recorded + timedelta(days=179)).opened == 0
    assert rule_engine.run(RULE, as_of=recorded + timedelta(days=181)).opened == 1
    _resolved, reopened = alerts_of(uow, person, RULE)
    assert reopened.evidence["last_contact_kind"] == "PERMIT"


def test_leaving_resolves_it_as_departed(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = holder(registry, clock, connection)
    rule_engine.run(RULE, as_of=wib(DUE, 9))
    leave(registry, clock, person, wib(DUE, 10))
    rule_engine.run(RULE, as_of=wib(DUE, 11))
    alert = the_alert(uow, person, RULE)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.DEPARTED,
    )
