"""The database enforces the registry's rules on its own, and migrations match the models."""

from __future__ import annotations

import uuid

import pytest
from alembic import command
from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError, IntegrityError

from exchange_service.storage.migrate import alembic_config


def _person(connection: object, person_id: uuid.UUID) -> None:
    connection.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO persons (id, family_name, given_names, name_key, nationality,"
            " birth_year, birth_month, birth_day, sex)"
            " VALUES (:id, 'Doe', 'Jo', 'doe jo', 'AUS', 1980, 1, 1, 'X')"
        ),
        {"id": person_id},
    )


def _stay(connection: object, person_id: uuid.UUID) -> uuid.UUID:
    stay_id = uuid.uuid4()
    connection.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO stays (id, person_id, entry_port_code, entered_at)"
            " VALUES (:id, :person, 'MWK', now() - interval '1 day')"
        ),
        {"id": stay_id, "person": person_id},
    )
    return stay_id


def test_models_and_migrations_agree(database_url: str) -> None:
    command.check(alembic_config(database_url))


def test_database_refuses_a_second_open_stay(engine: Engine) -> None:
    with engine.connect() as connection:
        person_id = uuid.uuid4()
        _person(connection, person_id)
        _stay(connection, person_id)
        with pytest.raises(IntegrityError, match="uq_stays_one_open_per_person"):
            _stay(connection, person_id)
        connection.rollback()


def test_database_refuses_a_permit_that_ends_before_it_starts(engine: Engine) -> None:
    with engine.connect() as connection:
        person_id = uuid.uuid4()
        _person(connection, person_id)
        stay_id = _stay(connection, person_id)
        with pytest.raises(IntegrityError, match="ends_after_start"):
            connection.execute(
                text(
                    "INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from,"
                    " valid_until, sponsor, purpose)"
                    " VALUES (:stay, 1, 'X', 'VOA', '2026-02-01', '2026-01-01', '', '')"
                ),
                {"stay": stay_id},
            )
        connection.rollback()


@pytest.mark.parametrize("table", ["addresses", "stay_permits", "sightings"])
def test_history_tables_are_append_only(engine: Engine, table: str) -> None:
    with engine.connect() as connection:
        # Row triggers need a row: give each history table one first.
        person_id = uuid.uuid4()
        _person(connection, person_id)
        stay_id = _stay(connection, person_id)
        connection.execute(
            text(
                "INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from,"
                " valid_until, sponsor, purpose)"
                " VALUES (:stay, 1, 'X', 'VOA', '2026-01-01', '2026-02-01', '', '')"
            ),
            {"stay": stay_id},
        )
        connection.execute(
            text(
                "INSERT INTO addresses (id, person_id, line, location, effective_from)"
                " VALUES (:id, :person, 'x', 'SRID=4326;POINT(106.2 3.2)', '2026-01-01')"
            ),
            {"id": uuid.uuid4(), "person": person_id},
        )
        connection.execute(
            text(
                "INSERT INTO sightings (id, person_id, location, observed_at, source, reference,"
                " place_name) VALUES (:id, :person, 'SRID=4326;POINT(106.2 3.2)', now(),"
                " 'POLICE_CHECK', '', '')"
            ),
            {"id": uuid.uuid4(), "person": person_id},
        )
        for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
            nested = connection.begin_nested()
            with pytest.raises(DBAPIError, match="append-only"):
                connection.execute(text(f"{statement} WHERE ctid IS NOT NULL"))
            nested.rollback()
        connection.rollback()


def _permit(connection: object, stay_id: uuid.UUID, sequence: int, kind: str, days: str) -> None:
    first, last = days.split("..")
    connection.execute(  # type: ignore[attr-defined]
        text(
            "INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from,"
            " valid_until, sponsor, purpose)"
            " VALUES (:stay, :sequence, 'P-' || :sequence, :type, CAST(:first AS date),"
            " CAST(:last AS date), '', '')"
        ),
        {"stay": stay_id, "sequence": sequence, "type": kind, "first": first, "last": last},
    )


def _person_id(connection: object) -> uuid.UUID:
    person_id = uuid.uuid4()
    _person(connection, person_id)
    return person_id


def _permit_state(connection: object, stay_id: uuid.UUID) -> tuple[object, ...]:
    row = connection.execute(  # type: ignore[attr-defined]
        text(
            "SELECT CAST(s.permit_valid_until AS text), sp.sequence, s.permit_type"
            " FROM stays s LEFT JOIN stay_permits sp ON sp.id = s.permit_id"
            " WHERE s.id = :id"
        ),
        {"id": stay_id},
    ).one()
    return tuple(row)


def test_each_stay_keeps_the_period_ending_last_whichever_way_periods_are_written(
    engine: Engine,
) -> None:
    with engine.connect() as connection:
        person_id = uuid.uuid4()
        _person(connection, person_id)
        stay_id = _stay(connection, person_id)
        assert _permit_state(connection, stay_id) == (None, None, None)
        _permit(connection, stay_id, 1, "VOA", "2026-01-01..2026-01-30")
        assert _permit_state(connection, stay_id) == ("2026-01-30", 1, "VOA")
        _permit(connection, stay_id, 2, "VOA", "2026-01-31..2026-03-01")
        assert _permit_state(connection, stay_id) == ("2026-03-01", 2, "VOA")
        # A period written late (an import of an older one) does not take over.
        _permit(connection, stay_id, 3, "VISIT", "2025-12-01..2025-12-31")
        assert _permit_state(connection, stay_id) == ("2026-03-01", 2, "VOA")
        # A tie goes to the highest sequence, as the rules order the periods.
        _permit(connection, stay_id, 4, "LIMITED_STAY", "2026-02-01..2026-03-01")
        assert _permit_state(connection, stay_id) == ("2026-03-01", 4, "LIMITED_STAY")
        # One statement writing several stays' periods keeps each stay's own.
        other = _stay(connection, _person_id(connection))
        connection.execute(
            text(
                "INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from,"
                " valid_until, sponsor, purpose)"
                " VALUES (:a, 5, 'P-5', 'VOA', '2026-03-02', '2026-03-31', '', ''),"
                " (:b, 1, 'Q-1', 'VISIT', '2026-01-01', '2026-02-28', '', ''),"
                " (:b, 2, 'Q-2', 'VISIT', '2026-03-01', '2026-04-30', '', '')"
            ),
            {"a": stay_id, "b": other},
        )
        assert _permit_state(connection, stay_id) == ("2026-03-31", 5, "VOA")
        assert _permit_state(connection, other) == ("2026-04-30", 2, "VISIT")
        connection.rollback()
