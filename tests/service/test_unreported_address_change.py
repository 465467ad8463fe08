"""UNREPORTED_ADDRESS_CHANGE through the rule engine on the real PostGIS, at its boundaries.

The person lives at ``TAREMPA`` (reported on entry); "far" is farther than
3,000 m from the address in force on the sighting's WIB day; the window is
the 30 WIB days ending today, the grace 14 days after the first far
sighting's day. ``TODAY`` is the WIB day of the runs unless a test says.
"""

from __future__ import annotations

from datetime import UTC, date, timedelta

from sqlalchemy import Connection

from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import (
    AdministrativeAction,
    AlertEventKind,
    AlertStatus,
    ResolutionReason,
    RuleName,
    Severity,
    SubjectKind,
)
from exchange_service.domain.model import PermitType, SightingSource
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import SettableClock
from tests.service.residents import (
    Resident,
    arrive,
    distance_meters,
    leave,
    listed,
    permit,
    point_from,
    record,
    report_address,
    sight,
)
from tests.service.stays import alert_rows, alerts_of, dismiss, events_of, the_alert, wib

RULE = RuleName.UNREPORTED_ADDRESS_CHANGE
TODAY = date(2026, 3, 10)
ENTRY_DAY = date(2026, 1, 5)
TAREMPA = c.TAREMPA
# The police post at Letung, on Jemaja: some 60 km from Tarempa.
LETUNG = cmd.RawPoint(2.9941, 105.7065)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def resident(
    registry: Registry,
    clock: SettableClock,
    connection: Connection,
    *,
    family: str = "Nguyen",
    home: cmd.RawPoint = TAREMPA,
) -> Resident:
    """A KITAS holder who entered on ``ENTRY_DAY`` and reported a home the same day."""
    person = arrive(
        registry,
        clock,
        at=wib(ENTRY_DAY, 10),
        permit=permit(PermitType.LIMITED_STAY, ENTRY_DAY, ENTRY_DAY + timedelta(days=364)),
        family=family,
    )
    report_address(
        connection, person, at=home, effective_from=ENTRY_DAY, reported_at=wib(ENTRY_DAY, 12)
    )
    return person


def seen_in_letung_twice(registry: Registry, clock: SettableClock, person: Resident) -> None:
    """Far from the Tarempa home 20 and 18 days ago: past the grace today."""
    for n in (20, 18):
        sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(n), 10))


def test_two_far_sightings_past_the_grace_open_a_warning_with_the_evidence(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    first = sight(
        registry,
        clock,
        person,
        at=LETUNG,
        observed_at=wib(days_ago(20), 10),
        place_name="Pelabuhan Letung",
    )
    sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(18), 15))
    # Seen at home in between: near, so not counted, and no report.
    sight(registry, clock, person, at=TAREMPA, observed_at=wib(days_ago(19), 9))

    run = rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert run.error is None
    alert = the_alert(uow, person, RULE)
    assert (alert.subject_kind, alert.stay_id) == (SubjectKind.PERSON, person.stay.id)
    assert (alert.severity, alert.action) == (
        Severity.WARNING,
        AdministrativeAction.ADDRESS_REPORT_DEMAND,
    )
    assert alert.district_code == "21.05.01"  # where the registered address is: Siantan
    evidence = alert.evidence
    assert evidence["far_sighting_count"] == 2
    assert evidence["first_far_sighting_at"] == "2026-02-18T03:00:00Z"
    assert evidence["grace_ended_on"] == "2026-03-04"
    assert (evidence["min_sightings"], evidence["window_days"], evidence["grace_days"]) == (
        2,
        30,
        14,
    )
    assert evidence["far_beyond_meters"] == 3000
    registered = record(evidence, "registered_address")
    assert registered["line"] == "Jl. Hang Tuah 7, Tarempa"
    assert (registered["latitude"], registered["longitude"]) == (
        TAREMPA.latitude,
        TAREMPA.longitude,
    )
    far = listed(evidence, "far_sightings")
    assert far[0]["sighting_id"] == str(first.id)
    expected = round(distance_meters(connection, TAREMPA, LETUNG))
    assert [s["distance_meters"] for s in far] == [expected, expected]
    assert far[0]["place_name"] == "Pelabuhan Letung"
    assert far[0]["source"] == SightingSource.POLICE_CHECK
    assert far[0]["seen_on"] == "2026-02-18"
    assert far[0]["district_code"] == "21.05.06"  # Jemaja
    kept = ("observed_at", "seen_on", "source", "district_code", "village_code")
    assert evidence["far_sighting_places"] == [{key: s[key] for key in kept} for s in far]
    assert alert.facts.startswith(f"{person.stay.id}/")
    km = f"{expected // 1000}.{expected % 1000:03d}"
    assert alert.summary_id == (
        "NGUYEN Van An (VNM) terlihat 2 kali dalam 30 hari terakhir lebih dari 3.000 m dari"
        " alamat yang terdaftar saat itu (alamat terdaftar kini: Jl. Hang Tuah 7, Tarempa),"
        f" pertama kali pada 18 Februari 2026 di Pelabuhan Letung, {km} m dari alamat itu, dan"
        " sejak itu tidak melaporkan alamat baru; tenggang 14 hari berakhir 4 Maret 2026."
        " Menurut Pasal 71 UU 6/2011 perubahan alamat wajib dilaporkan (sanksi Pasal 116):"
        " minta laporan alamat barunya."
    )
    assert alert.summary_en.startswith(
        "NGUYEN Van An (VNM) was seen 2 times in the last 30 days more than 3,000 m from the"
        " address registered at the time (registered now: Jl. Hang Tuah 7, Tarempa), first on"
        f" 18 February 2026 at Pelabuhan Letung, {km.replace('.', ',')} m from it"
    )
    assert "Article 71 of Law 6/2011" in alert.summary_en


def test_exactly_d_metres_is_not_far_and_d_plus_one_is(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    at_d = point_from(connection, TAREMPA, 3000.0)
    past_d = point_from(connection, TAREMPA, 3001.0)
    # As the rule measures (ST_Distance on the spheroid), the first point is 3,000 m exactly.
    assert distance_meters(connection, TAREMPA, at_d) == 3000.0
    assert distance_meters(connection, TAREMPA, past_d) > 3000.0
    exactly = resident(registry, clock, connection, family="Tran")
    beyond = resident(registry, clock, connection, family="Le")
    for n in (20, 18):
        sight(registry, clock, exactly, at=at_d, observed_at=wib(days_ago(n), 10))
        sight(registry, clock, beyond, at=past_d, observed_at=wib(days_ago(n), 10))

    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, exactly, RULE) == ()
    alert = the_alert(uow, beyond, RULE)
    far = listed(alert.evidence, "far_sightings")
    assert [s["distance_meters"] for s in far] == [3001, 3001]


def test_one_sighting_fewer_than_k_is_no_finding(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(20), 10))
    # One far and one exactly at D: only one is far.
    sight(
        registry,
        clock,
        person,
        at=point_from(connection, TAREMPA, 3000.0),
        observed_at=wib(days_ago(19), 10),
    )
    assert rule_engine.run(RULE, as_of=wib(TODAY, 9)).error is None
    assert alerts_of(uow, person, RULE) == ()
    # The second far sighting makes the finding, still past the grace from the first.
    sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(1), 10))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert the_alert(uow, person, RULE).evidence["far_sighting_count"] == 2


def test_both_edges_of_the_grace_window_at_wib_midnight(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    first_day = date(2026, 2, 20)
    sight(registry, clock, person, at=LETUNG, observed_at=wib(first_day, 10))
    sight(registry, clock, person, at=LETUNG, observed_at=wib(first_day + timedelta(days=3), 10))
    # The last second of the grace's last day (its 14th after the first far sighting's day).
    last_second = wib(first_day + timedelta(days=14), 23, 59, 59)
    first_second = wib(first_day + timedelta(days=15), 0, 0, 0)
    assert (first_second - last_second).total_seconds() == 1
    # Both fall on the same UTC day: only the WIB day tells them apart.
    assert last_second.astimezone(first_second.tzinfo).date() != first_second.date()
    rule_engine.run(RULE, as_of=last_second)
    assert alerts_of(uow, person, RULE) == ()
    rule_engine.run(RULE, as_of=first_second)
    alert = the_alert(uow, person, RULE)
    assert alert.evidence["grace_ended_on"] == (first_day + timedelta(days=14)).isoformat()
    assert alert.first_detected_at == first_second


def test_a_sighting_just_outside_the_window_does_not_count(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    inside = resident(registry, clock, connection, family="Tran")
    outside = resident(registry, clock, connection, family="Le")
    # The window is the 30 WIB days ending today: its first day is 29 days ago, from 00:00.
    sight(registry, clock, inside, at=LETUNG, observed_at=wib(days_ago(29), 0, 0, 0))
    sight(registry, clock, outside, at=LETUNG, observed_at=wib(days_ago(30), 23, 59, 59))
    for person in (inside, outside):
        sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(20), 10))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, outside, RULE) == ()
    alert = the_alert(uow, inside, RULE)
    assert alert.evidence["far_sighting_count"] == 2
    assert alert.evidence["first_far_sighting_at"] == "2026-02-08T17:00:00Z"


def test_far_is_measured_from_the_address_in_force_on_the_sightings_day_not_todays(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    # Both announced, before the sightings, a move to Letung from 10 days ago (the table
    # holds a move reported ahead of its day; ReportAddress itself takes none).
    at_old_home = resident(registry, clock, connection, family="Tran")
    at_new_home = resident(registry, clock, connection, family="Le")
    for person in (at_old_home, at_new_home):
        report_address(
            connection,
            person,
            at=LETUNG,
            effective_from=days_ago(10),
            reported_at=wib(days_ago(25), 10),
            line="Jl. Pelabuhan 2, Letung",
        )
    # Seen before the move took effect: in Letung (far from the Tarempa home then in
    # force, though near today's), and in Tarempa (near the home then, far from today's).
    for n in (20, 18):
        sight(registry, clock, at_new_home, at=LETUNG, observed_at=wib(days_ago(n), 10))
        sight(registry, clock, at_old_home, at=TAREMPA, observed_at=wib(days_ago(n), 10))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, at_old_home, RULE) == ()
    alert = the_alert(uow, at_new_home, RULE)
    registered = record(alert.evidence, "registered_address")
    assert registered["line"] == "Jl. Pelabuhan 2, Letung"
    assert "(alamat terdaftar kini: Jl. Pelabuhan 2, Letung)" in alert.summary_id


def test_the_wib_day_of_a_sighting_picks_the_address_in_force(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    move_day = days_ago(20)
    before_midnight = resident(registry, clock, connection, family="Tran")
    after_midnight = resident(registry, clock, connection, family="Le")
    for person in (before_midnight, after_midnight):
        report_address(
            connection,
            person,
            at=LETUNG,
            effective_from=move_day,
            reported_at=wib(days_ago(40), 10),
            line="Jl. Pelabuhan 2, Letung",
        )
        sight(registry, clock, person, at=LETUNG, observed_at=wib(move_day - timedelta(days=2)))
    # 23:59:59 WIB on the eve of the move: the Tarempa home is in force, Letung is far.
    sight(
        registry,
        clock,
        before_midnight,
        at=LETUNG,
        observed_at=wib(move_day - timedelta(days=1), 23, 59, 59),
    )
    # 00:00:00 WIB on the move's day (still the eve in UTC): the Letung home, near.
    at_midnight = wib(move_day, 0, 0, 0)
    assert at_midnight.astimezone(UTC).date() == move_day - timedelta(days=1)
    sight(registry, clock, after_midnight, at=LETUNG, observed_at=at_midnight)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, after_midnight, RULE) == ()
    assert the_alert(uow, before_midnight, RULE).evidence["far_sighting_count"] == 2


def test_an_address_reported_after_the_first_far_sighting_resolves_it(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    seen_in_letung_twice(registry, clock, person)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    opened = the_alert(uow, person, RULE)
    # Late, but reported: the new address takes effect from the first far sighting.
    report_address(
        connection,
        person,
        at=LETUNG,
        effective_from=days_ago(20),
        reported_at=wib(TODAY, 11),
        line="Jl. Pelabuhan 2, Letung",
    )
    # A run as of before the report does not know of it.
    assert rule_engine.run(RULE, as_of=wib(TODAY, 10)).resolved == 0
    run = rule_engine.run(RULE, as_of=wib(TODAY, 12))
    assert run.resolved == 1
    alert = the_alert(uow, person, RULE)
    assert alert.id == opened.id
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.ADDRESS_REPORTED,
    )
    # Not found again: the sightings before the report are answered by it.
    rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=1), 9))
    assert [e.kind for e in events_of(uow, alert)] == [
        AlertEventKind.OPENED,
        AlertEventKind.RESOLVED,
    ]
    assert len(alerts_of(uow, person, RULE)) == 1


def test_far_sightings_after_a_report_count_anew_from_it(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(28), 10))
    # A correction of the line, same place, reported between the far sightings.
    report_address(
        connection, person, at=TAREMPA, effective_from=ENTRY_DAY, reported_at=wib(days_ago(25))
    )
    sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(20), 10))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, person, RULE) == ()
    sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(19), 10))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    alert = the_alert(uow, person, RULE)
    assert alert.evidence["far_sighting_count"] == 2
    assert alert.evidence["first_far_sighting_at"] == "2026-02-18T03:00:00Z"


def test_leaving_resolves_it_and_a_rerun_writes_nothing(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    seen_in_letung_twice(registry, clock, person)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    before = alert_rows(connection)
    again = rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert again.changed == 0
    assert alert_rows(connection)["alert_events"] == before["alert_events"]
    # The next day: the same sightings, the same evidence, no change.
    assert rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=1), 9)).changed == 0
    leave(registry, clock, person, wib(TODAY + timedelta(days=2), 8))
    rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=2), 9))
    alert = the_alert(uow, person, RULE)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.DEPARTED,
    )


def test_sightings_ageing_out_of_the_window_leave_the_alert_open(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    seen_in_letung_twice(registry, clock, person)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    opened = the_alert(uow, person, RULE)
    run = rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=40), 9))
    assert run.changed == 0
    assert the_alert(uow, person, RULE) == opened


def test_a_dismissed_alert_stays_dismissed_until_another_address_is_reported(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = resident(registry, clock, connection)
    seen_in_letung_twice(registry, clock, person)
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    dismiss(connection, the_alert(uow, person, RULE))
    # More far sightings, the same registered address: still the same facts.
    sight(registry, clock, person, at=LETUNG, observed_at=wib(days_ago(5), 10))
    assert rule_engine.run(RULE, as_of=wib(TODAY, 9)).opened == 0
    (dismissed,) = alerts_of(uow, person, RULE)
    assert dismissed.status is AlertStatus.DISMISSED
