"""Migration 0007: rows before it were reported as received; the history stays append-only."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from exchange_service.storage.migrate import alembic_config
from tests.conftest import fresh_database

RECEIVED = datetime(2026, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_earlier_rows_get_their_one_time_as_both_times_and_stay_append_only() -> None:
    with fresh_database("pantau_test_0007", migrated=False) as url:
        command.upgrade(alembic_config(url), "0004")
        engine = create_engine(url)
        try:
            _write_as_before_0007(engine)
            command.upgrade(alembic_config(url), "head")
            with engine.connect() as connection:
                times = {
                    table: tuple(
                        connection.execute(
                            text(f"SELECT reported_at, recorded_at FROM {table}")
                        ).one()
                    )
                    for table in ("addresses", "sightings")
                }
            assert times == {"addresses": (RECEIVED, RECEIVED), "sightings": (RECEIVED, RECEIVED)}
            for table in times:
                with engine.connect() as connection, pytest.raises(DBAPIError, match="append-only"):
                    connection.execute(text(f"UPDATE {table} SET reported_at = now()"))
        finally:
            engine.dispose()


def _write_as_before_0007(engine: Engine) -> None:
    """A person's address and sighting in the columns before 0007, as the service wrote them."""
    person_id = uuid.uuid4()
    where = "SRID=4326;POINT(106.2211 3.2166)"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO persons (id, family_name, given_names, name_key, nationality,"
                " birth_year, birth_month, birth_day, sex)"
                " VALUES (:id, 'Doe', 'Jo', 'doe jo', 'AUS', 1980, 1, 1, 'X')"
            ),
            {"id": person_id},
        )
        connection.execute(
            text(
                "INSERT INTO addresses (id, person_id, line, location, effective_from,"
                " reported_at) VALUES (:id, :person, 'Jl. Pasar 1', :where, '2026-02-01', :at)"
            ),
            {"id": uuid.uuid4(), "person": person_id, "where": where, "at": RECEIVED},
        )
        connection.execute(
            text(
                "INSERT INTO sightings (id, person_id, location, observed_at, source,"
                " reference, place_name, recorded_at) VALUES (:id, :person, :where,"
                " '2026-02-01T03:00:00Z', 'POLICE_CHECK', '', '', :at)"
            ),
            {"id": uuid.uuid4(), "person": person_id, "where": where, "at": RECEIVED},
        )
