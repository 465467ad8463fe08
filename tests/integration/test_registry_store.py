"""The registry store in a transaction: database rules it breaks come back as domain errors."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import IntegrityError

from exchange_service.domain import model
from exchange_service.domain.errors import SightingReferenceTaken, StayAlreadyOpen
from exchange_service.storage.database import SavepointUnitOfWork
from tests.factories import document_number

# Instants and days as stored; no rule here compares them with the time now.
ENTERED = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)
PERMIT = model.StayPermit("VOA-1", model.PermitType.VOA, date(2026, 3, 1), date(2026, 3, 30))
POINT = model.GeoPoint(3.2166, 106.2211)


def _person(uow: SavepointUnitOfWork) -> model.Person:
    identity = model.Identity(
        "Nguyen", "Van An", "VNM", model.BirthDate(1988, 3, 14), model.Sex.MALE
    )
    with uow.begin() as tx:
        return tx.registry.add_person(identity, [model.TravelDocument("VNM", document_number())])


def _count(connection: Connection, table: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def test_a_second_open_stay_is_stay_already_open(uow: SavepointUnitOfWork) -> None:
    person = _person(uow)
    with uow.begin() as tx:
        first = tx.registry.add_stay(person.id, "IDTRE", ENTERED, PERMIT)
    # The use case checks first; the database's index holds even if a
    # concurrent entry slipped past that check.
    with pytest.raises(StayAlreadyOpen) as caught, uow.begin() as tx:
        tx.registry.add_stay(person.id, "IDTRE", ENTERED, PERMIT)
    assert [v.type for v in caught.value.violations] == ["STAY_OPEN"]
    with uow.begin() as tx:
        assert tx.registry.open_stay(person.id) == first


def test_a_reference_of_another_persons_sighting_is_taken(uow: SavepointUnitOfWork) -> None:
    first, second = _person(uow), _person(uow)

    def sighting(person_id: uuid.UUID) -> tuple[uuid.UUID, bool]:
        with uow.begin() as tx:
            return tx.registry.add_sighting(
                person_id,
                location=POINT,
                observed_at=ENTERED,
                source=model.SightingSource.POLICE_CHECK,
                reference="POLRES-KKA-7",
                place_name="",
                reported_at=ENTERED,
                recorded_at=ENTERED,
            )

    sighting_id, is_new = sighting(first.id)
    assert is_new
    assert sighting(first.id) == (sighting_id, False)
    with pytest.raises(SightingReferenceTaken) as caught:
        sighting(second.id)
    assert caught.value.resource_name == "sightings/POLICE_CHECK/POLRES-KKA-7"
    assert str(first.id) not in caught.value.message


def test_other_broken_rules_are_not_disguised(uow: SavepointUnitOfWork) -> None:
    with pytest.raises(IntegrityError), uow.begin() as tx:
        tx.registry.add_stay(uuid.uuid4(), "IDTRE", ENTERED, PERMIT)  # no such person


def _register_and_enter_then_give_up(uow: SavepointUnitOfWork, written: list[uuid.UUID]) -> None:
    with uow.begin() as tx:
        added = tx.registry.add_person(
            model.Identity("Tran", "Thi", "VNM", model.BirthDate(1990), model.Sex.FEMALE),
            [model.TravelDocument("VNM", document_number())],
        )
        written.append(added.id)
        tx.registry.add_stay(added.id, "IDTRE", ENTERED, PERMIT)
        raise RuntimeError("the use case gives up")


def test_what_the_stores_wrote_is_undone_when_the_block_raises(uow: SavepointUnitOfWork) -> None:
    with uow.begin() as tx:
        counts = {t: _count(tx.registry.session.connection(), t) for t in ("persons", "stays")}
    written: list[uuid.UUID] = []
    with pytest.raises(RuntimeError):
        _register_and_enter_then_give_up(uow, written)
    with uow.begin() as tx:
        assert tx.registry.person(written[0]) is None
        assert {t: _count(tx.registry.session.connection(), t) for t in counts} == counts


def test_a_permit_period_keeps_the_time_a_previous_system_recorded_it(
    uow: SavepointUnitOfWork,
) -> None:
    """As a migration writes it; a period given no time is recorded at the database's."""
    person = _person(uow)
    recorded_there = datetime(2025, 11, 20, 3, 15, tzinfo=UTC)
    extension = model.StayPermit(
        "VOA-1-P2", model.PermitType.VOA, date(2026, 3, 31), date(2026, 4, 29)
    )
    with uow.begin() as tx:
        stay = tx.registry.add_stay(
            person.id, "IDTRE", ENTERED, replace(PERMIT, recorded_at=recorded_there)
        )
        added = tx.registry.add_permit(stay.id, extension, sequence=2)
        database_now = tx.registry.session.execute(text("SELECT now()")).scalar_one()
    assert stay.permits[0].recorded_at == recorded_there
    assert added.recorded_at == database_now != recorded_there
    with uow.begin() as tx:
        stored = tx.registry.lock_stay(stay.id)
    assert stored is not None
    assert [p.recorded_at for p in stored.permits] == [recorded_there, database_now]
