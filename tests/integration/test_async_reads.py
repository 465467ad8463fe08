"""GetPerson's reads on the event loop: deadlines, lost connections, the pool's bound."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from sqlalchemy import Engine, text

from exchange_service.domain import model
from exchange_service.domain.deadlines import current_deadline
from exchange_service.domain.errors import DeadlineExceeded, Unavailable
from exchange_service.storage.async_reads import AsyncReadPool
from tests.integration.test_reader import _person

APPLICATION = "pantau-async-reader-test"


def test_an_async_read_past_its_deadline_stops_in_the_database(
    database_url: str, engine: Engine
) -> None:
    person_id = _person(engine, "Lockwood", "Ada")
    pool = AsyncReadPool(database_url, size=1, application_name=APPLICATION)

    async def dossier() -> model.PersonDossier | None:
        async with pool.read() as reader:
            return await reader.dossier(person_id=person_id, sightings=3)

    async def late() -> float:
        current_deadline.set(time.monotonic() + 0.3)
        started = time.monotonic()
        with pytest.raises(DeadlineExceeded):
            await dossier()
        return time.monotonic() - started

    async def scenario() -> None:
        with engine.connect() as blocker:
            blocker.execute(text("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE"))
            assert await asyncio.create_task(late()) < 3.0
            blocker.rollback()
        # The same connection serves the next call, with no limit outside a call.
        found = await dossier()
        assert found is not None
        assert found.person.identity.family_name == "Lockwood"
        await pool.close()

    asyncio.run(scenario())


def test_an_async_connection_the_database_dropped_fails_one_call_then_is_replaced(
    database_url: str, engine: Engine
) -> None:
    person_id = _person(engine, "Okafor", "Ngozi")
    pool = AsyncReadPool(database_url, size=1, application_name=APPLICATION)

    async def dossier() -> model.PersonDossier | None:
        async with pool.read() as reader:
            return await reader.dossier(person_id=person_id, sightings=3)

    async def scenario() -> None:
        assert await dossier() is not None
        with engine.connect() as admin:
            killed = admin.execute(
                text(
                    "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()) t"
                ),
                {"name": APPLICATION},
            ).scalar_one()
        assert killed == 1
        with pytest.raises(Unavailable):
            await dossier()
        found = await dossier()
        assert found is not None
        assert found.person.id == person_id
        await pool.close()

    asyncio.run(scenario())


def test_calls_beyond_the_pool_wait_for_a_connection(database_url: str, engine: Engine) -> None:
    person_id = _person(engine, "Tan", "Mei Ling")
    pool = AsyncReadPool(database_url, size=2, application_name=APPLICATION)

    async def dossier() -> uuid.UUID:
        async with pool.read() as reader:
            found = await reader.dossier(person_id=person_id, sightings=3)
            assert found is not None
            return found.person.id

    async def scenario() -> int:
        ids = await asyncio.gather(*(dossier() for _ in range(20)))
        assert set(ids) == {person_id}
        with engine.connect() as admin:
            opened = admin.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = :name AND datname = current_database()"
                ),
                {"name": APPLICATION},
            ).scalar_one()
        await pool.close()
        return int(opened)

    assert asyncio.run(scenario()) == 2
