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
