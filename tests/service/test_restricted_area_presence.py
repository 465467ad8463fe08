"""RESTRICTED_AREA_PRESENCE through the rule engine on the real PostGIS, with the shipped areas.

The session's database was migrated with the illustrative areas shipped in
``exchange_service/data/restricted_areas.geojson``: the Matak oil and gas
zone (oil and gas work allowed) and the ports of Letung and Tarempa (ships'
crews and port work allowed). The window is the 30 WIB days ending today.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import Connection, text

from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import (
    AdministrativeAction,
    AlertStatus,
    ResolutionReason,
    RuleName,
    Severity,
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
    leave,
    listed,
    permit,
    report_address,
    sight,
)
from tests.service.stays import alerts_of, dismiss, the_alert, wib

RULE = RuleName.RESTRICTED_AREA_PRESENCE
TODAY = date(2026, 3, 10)
ENTRY_DAY = date(2026, 1, 20)
# Beside the runway of Matak airport (MWK), inside the Matak zone.
MATAK_AIRPORT = cmd.RawPoint(3.34812, 106.258003)
# The quays of PP. Jemaja at Letung and PP. Antang at Tarempa.
LETUNG_PORT = cmd.RawPoint(2.99211, 105.701813)
TAREMPA_PORT = cmd.RawPoint(3.21874, 106.241112)


def days_ago(n: int) -> date:
    return TODAY - timedelta(days=n)


def visitor(
    registry: Registry,
    clock: SettableClock,
    connection: Connection,
    *,
    purpose: str,
    kind: PermitType = PermitType.VISIT,
    family: str = "Müller",
    nationality: str = "DEU",
) -> Resident:
    person = arrive(
        registry,
        clock,
        at=wib(ENTRY_DAY, 10),
        permit=permit(
            kind,
            ENTRY_DAY,
            ENTRY_DAY + timedelta(days=59),
            number="VISIT-2105-0077",
            sponsor="CV Bahari Anambas",
            purpose=purpose,
        ),
        family=family,
        given="Anna",
        nationality=nationality,
    )
    report_address(
        connection, person, at=c.TAREMPA, effective_from=ENTRY_DAY, reported_at=wib(ENTRY_DAY, 12)
    )
    return person


def test_a_tourist_seen_in_the_matak_oil_and_gas_zone_raises_a_high_alert(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    tourist = visitor(registry, clock, connection, purpose="wisata bahari (yacht)")
    seen = sight(
        registry,
        clock,
        tourist,
        at=MATAK_AIRPORT,
        observed_at=wib(days_ago(3), 14),
        source=SightingSource.IMMIGRATION_CHECK,
        place_name="Bandara Matak",
    )
    run = rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert run.error is None
    alert = the_alert(uow, tourist, RULE)
    assert (alert.severity, alert.action, alert.stay_id) == (
        Severity.HIGH,
        AdministrativeAction.PLACE_BAN,
        tourist.stay.id,
    )
    evidence = alert.evidence
    assert evidence["purpose"] == "wisata bahari (yacht)"
    assert evidence["area_sighting_count"] == 1
    assert evidence["restricted_areas"] == [
        {
            "area_code": "MATAK_MIGAS",
            "area_name": "Kawasan migas Matak (Bandara Matak/MWK dan pangkalan migas)",
            "allowed_purposes": [
                "migas",
                "minyak dan gas",
                "oil and gas",
                "lepas pantai",
                "offshore",
            ],
        }
    ]
    (sighting,) = listed(evidence, "area_sightings")
    assert sighting["sighting_id"] == str(seen.id)
    assert sighting["place_name"] == "Bandara Matak"
    assert (sighting["latitude"], sighting["longitude"]) == (3.34812, 106.258003)
    assert sighting["district_code"] == "21.05.10"  # Kute Siantan, on Matak island
    assert evidence["area_sighting_places"] == [
        {
            "observed_at": "2026-03-07T07:00:00Z",
            "seen_on": "2026-03-07",
            "source": "IMMIGRATION_CHECK",
            "district_code": sighting["district_code"],
            "village_code": sighting["village_code"],
        }
    ]
    assert alert.facts == f"{tourist.stay.id}/MATAK_MIGAS"
    assert alert.summary_id == (
        'MÜLLER Anna (DEU), izin VISIT nomor VISIT-2105-0077 untuk keperluan "wisata bahari'
        ' (yacht)", terlihat 1 kali dalam 30 hari terakhir di kawasan terbatas yang tidak'
        " mengizinkan keperluan itu: Kawasan migas Matak (Bandara Matak/MWK dan pangkalan"
        " migas) (terakhir 7 Maret 2026, Bandara Matak). Menurut Pasal 75 ayat (2) huruf c UU"
        " 6/2011 orang asing dapat dilarang berada di tempat tertentu: periksa keperluannya di"
        " sana dan pertimbangkan larangan itu."
    )
    assert alert.summary_en.startswith(
        'MÜLLER Anna (DEU), on VISIT permit VISIT-2105-0077 for "wisata bahari (yacht)", was'
        " seen 1 time in the last 30 days in restricted areas where that purpose is not allowed"
    )


def test_a_purpose_allowed_in_an_area_is_matched_by_whole_words_in_any_case(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    oil_worker = visitor(
        registry, clock, connection, purpose="Offshore oil-and-gas work", family="Smith"
    )
    crew = visitor(registry, clock, connection, purpose="awak kapal perikanan", family="Tanaka")
    # "crew" appears in "screwdriver", but not as a word.
    salesman = visitor(registry, clock, connection, purpose="screwdriver sales", family="Brown")
    sight(registry, clock, oil_worker, at=MATAK_AIRPORT, observed_at=wib(days_ago(2)))
    for person in (crew, salesman):
        sight(registry, clock, person, at=LETUNG_PORT, observed_at=wib(days_ago(2)))
    # The oil worker at the Tarempa port: oil and gas work is not port work.
    sight(registry, clock, oil_worker, at=TAREMPA_PORT, observed_at=wib(days_ago(1)))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, crew, RULE) == ()
    assert the_alert(uow, salesman, RULE).facts.endswith("/PELABUHAN_LETUNG")
    alert = the_alert(uow, oil_worker, RULE)
    assert alert.evidence["area_sighting_count"] == 1
    assert alert.facts.endswith("/PELABUHAN_TAREMPA")


def test_a_sighting_outside_every_area_or_before_the_window_is_not_counted(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    inside = visitor(registry, clock, connection, purpose="tourism", family="Tran")
    outside = visitor(registry, clock, connection, purpose="tourism", family="Le")
    elsewhere = visitor(registry, clock, connection, purpose="tourism", family="Pham")
    # The window's first second (29 days ago, 00:00 WIB) and the last one before it.
    sight(registry, clock, inside, at=MATAK_AIRPORT, observed_at=wib(days_ago(29), 0, 0, 0))
    sight(registry, clock, outside, at=MATAK_AIRPORT, observed_at=wib(days_ago(30), 23, 59, 59))
    sight(registry, clock, elsewhere, at=c.TAREMPA, observed_at=wib(days_ago(1)))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, outside, RULE) == ()
    assert alerts_of(uow, elsewhere, RULE) == ()
    assert the_alert(uow, inside, RULE).evidence["last_area_sighting_at"] == (
        "2026-02-08T17:00:00Z"
    )


def test_the_purpose_is_that_of_the_permit_in_force_on_the_sightings_day(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = visitor(registry, clock, connection, purpose="business meeting")
    # From 20 days before today, a permit for oil and gas work (overlapping the first).
    clock.set(wib(days_ago(25), 9))
    registry.extend_permit(
        cmd.ExtendPermit(
            str(person.stay.id),
            permit(
                PermitType.VISIT,
                days_ago(20),
                ENTRY_DAY + timedelta(days=120),
                number="VISIT-2105-0078",
                purpose="oil and gas work",
            ),
        )
    )
    sight(registry, clock, person, at=MATAK_AIRPORT, observed_at=wib(days_ago(20), 0, 0, 0))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, person, RULE) == ()
    # The last second of the WIB day before it: the meeting's permit, not allowed there.
    sight(registry, clock, person, at=MATAK_AIRPORT, observed_at=wib(days_ago(21), 23, 59, 59))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    alert = the_alert(uow, person, RULE)
    assert alert.evidence["area_sighting_count"] == 1
    (sighting,) = listed(alert.evidence, "area_sightings")
    assert (sighting["purpose"], sighting["permit_number"]) == (
        "business meeting",
        "VISIT-2105-0077",
    )


def test_ageing_out_never_resolves_leaving_does(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = visitor(registry, clock, connection, purpose="tourism")
    sight(registry, clock, person, at=TAREMPA_PORT, observed_at=wib(days_ago(2)))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    opened = the_alert(uow, person, RULE)
    assert rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=45))).changed == 0
    assert the_alert(uow, person, RULE) == opened
    leave(registry, clock, person, wib(TODAY + timedelta(days=46), 8))
    rule_engine.run(RULE, as_of=wib(TODAY + timedelta(days=46), 9))
    alert = the_alert(uow, person, RULE)
    assert (alert.status, alert.resolution_reason) == (
        AlertStatus.RESOLVED,
        ResolutionReason.DEPARTED,
    )


def test_a_dismissed_alert_opens_again_only_for_another_area(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    person = visitor(registry, clock, connection, purpose="tourism")
    sight(registry, clock, person, at=TAREMPA_PORT, observed_at=wib(days_ago(5)))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    dismiss(connection, the_alert(uow, person, RULE))
    sight(registry, clock, person, at=TAREMPA_PORT, observed_at=wib(days_ago(3)))
    assert rule_engine.run(RULE, as_of=wib(TODAY, 9)).opened == 0
    sight(registry, clock, person, at=MATAK_AIRPORT, observed_at=wib(days_ago(1)))
    assert rule_engine.run(RULE, as_of=wib(TODAY, 10)).opened == 1
    dismissed, reopened = alerts_of(uow, person, RULE)
    assert dismissed.status is AlertStatus.DISMISSED
    assert reopened.facts == f"{person.stay.id}/MATAK_MIGAS,PELABUHAN_TAREMPA"
    assert reopened.evidence["area_sighting_count"] == 3


def test_the_areas_are_the_rows_the_settings_file_loaded(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    codes = connection.execute(text("SELECT code FROM restricted_areas ORDER BY code")).scalars()
    assert list(codes) == ["MATAK_MIGAS", "PELABUHAN_LETUNG", "PELABUHAN_TAREMPA"]
    # Another file's areas (here: written in the test's transaction) are the rule's areas.
    connection.execute(text("DELETE FROM restricted_areas WHERE code = 'MATAK_MIGAS'"))
    person = visitor(registry, clock, connection, purpose="tourism")
    sight(registry, clock, person, at=MATAK_AIRPORT, observed_at=wib(days_ago(1)))
    rule_engine.run(RULE, as_of=wib(TODAY, 9))
    assert alerts_of(uow, person, RULE) == ()
