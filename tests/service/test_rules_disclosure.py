"""What the alerts of the address, contact, area, sponsor and permit limit rules hold, and what
the views get.

One small world trips each of the five rules; every key of their evidence is
classified by the disclosure policy, and the DISTRICT view of each alert
holds no coordinates, address line, place name, distance, permit number or
sponsor, at any depth of the evidence.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

from sqlalchemy import Connection, text

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain.agencies import DataView
from exchange_service.domain.alerts import Alert, RuleName
from exchange_service.domain.disclosure import EVIDENCE, disclose
from exchange_service.domain.model import PermitType
from exchange_service.services import Registry
from exchange_service.services.alerts import RuleEngine
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import SettableClock
from tests.service.residents import arrive, permit, report_address, sight
from tests.service.stays import wib

TODAY = date(2026, 3, 10)
SPONSOR = "PT Samudera Anambas Perikanan"
LETUNG = cmd.RawPoint(2.9941, 105.7065)
TAREMPA_PORT = cmd.RawPoint(3.21874, 106.241112)
RULES = (
    RuleName.UNREPORTED_ADDRESS_CHANGE,
    RuleName.NO_RECENT_CONTACT,
    RuleName.RESTRICTED_AREA_PRESENCE,
    RuleName.SPONSOR_OVERSTAY_CLUSTER,
    RuleName.PERMIT_LIMIT_EXCEEDED,
)
# What would place a person more finely than a village, or name a permit or its sponsor.
WITHHELD_FROM_DISTRICT = {
    "latitude",
    "longitude",
    "line",
    "place_name",
    "distance_meters",
    "permit_number",
    "sponsor",
    "restricted_areas",
    "area_name",
}


def _keys(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _keys(item)
    elif isinstance(value, list):
        for item in value:
            yield from _keys(item)


def _world(
    registry: Registry, clock: SettableClock, connection: Connection, uow: SavepointUnitOfWork
) -> None:
    """Three crewmen of one sponsor overstaying, one of them seen far from home twice and at
    the Tarempa port with a tourist's permit; a KITAS holder no one has heard of; and a
    tourist whose visa on arrival was imported extended twice."""
    for n, family in enumerate(("Nguyen", "Tran", "Le")):
        last_day = TODAY - timedelta(days=10 + n)
        first_day = last_day - timedelta(days=29)
        person = arrive(
            registry,
            clock,
            at=wib(first_day, 10),
            permit=permit(
                PermitType.VISIT,
                first_day,
                last_day,
                number=f"VISIT-77{n}",
                sponsor=SPONSOR,
                purpose="tourism" if n == 0 else "awak kapal perikanan",
            ),
            family=family,
        )
        report_address(
            connection,
            person,
            at=c.TAREMPA,
            effective_from=first_day,
            reported_at=wib(first_day, 12),
            line="Mess KM Samudera, Jl. Hang Tuah 9",
        )
        if n == 0:
            for days in (20, 18):
                sight(registry, clock, person, at=LETUNG, observed_at=wib(TODAY - timedelta(days)))
            sight(
                registry,
                clock,
                person,
                at=TAREMPA_PORT,
                observed_at=wib(TODAY - timedelta(days=2)),
                place_name="Dermaga PP. Antang",
            )
    entered = date(2025, 6, 1)
    resident = arrive(
        registry,
        clock,
        at=wib(entered, 10),
        permit=permit(
            PermitType.LIMITED_STAY, entered, entered + timedelta(days=364), number="KITAS-9"
        ),
        family="Smith",
    )
    report_address(
        connection, resident, at=c.MATAK, effective_from=entered, reported_at=wib(entered, 12)
    )
    arrived = TODAY - timedelta(days=20)
    tourist = arrive(
        registry,
        clock,
        at=wib(arrived, 10),
        permit=permit(
            PermitType.VOA, arrived, arrived + timedelta(days=9), number="VOA-31", sponsor=SPONSOR
        ),
        family="Brown",
    )
    with uow.begin() as tx:
        for sequence, (first, last) in enumerate(((10, 19), (20, 35)), start=2):
            tx.registry.add_permit(
                tourist.stay.id,
                model.StayPermit(
                    f"VOA-3{sequence}",
                    PermitType.VOA,
                    arrived + timedelta(days=first),
                    arrived + timedelta(days=last),
                    SPONSOR,
                    "tourism",
                ),
                sequence=sequence,
            )


def test_every_evidence_key_is_classified_and_district_gets_no_finer_place(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> None:
    _world(registry, clock, connection, uow)
    alerts: list[Alert] = []
    for rule in RULES:
        run = rule_engine.run(rule, as_of=wib(TODAY, 9))
        assert (run.error, run.opened) == (None, 1), rule
        (subject_id,) = connection.execute(
            text("SELECT subject_id FROM alerts WHERE rule = :rule"), {"rule": str(rule)}
        ).scalars()
        with uow.begin() as tx:
            alerts.extend(tx.alerts.alerts_of(subject_id, rule))
    for alert in alerts:
        assert set(alert.evidence) <= set(EVIDENCE), alert.rule
        district = disclose(alert, DataView.DISTRICT)
        found = set(_keys(dict(district.evidence)))
        assert not found & WITHHELD_FROM_DISTRICT, (alert.rule, found & WITHHELD_FROM_DISTRICT)
        for withheld in (SPONSOR, "VISIT-770", "KITAS-9", "VOA-3", "Jl. Hang Tuah", "Dermaga"):
            assert withheld not in repr(district), (alert.rule, withheld)
        # The full view keeps them.
        assert disclose(alert, DataView.FULL) == alert
