"""The read path on pooled read-only connections: deadlines, lost connections, session settings."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from exchange_service.domain.deadlines import current_deadline
from exchange_service.domain.errors import DeadlineExceeded, Unavailable
from exchange_service.storage.database import UnitOfWork, make_engine
from watchlist.names import search_key

# Below PostgreSQL's default (0.3), as the service's default is.
SEARCH_SIMILARITY_THRESHOLD = 0.2


@pytest.fixture
def uow(database_url: str, engine: Engine) -> Iterator[UnitOfWork]:
    reads = make_engine(
        database_url,
        pool_size=1,
        application_name="pantau-reader-test",
        read_only=True,
        search_similarity_threshold=SEARCH_SIMILARITY_THRESHOLD,
    )
    try:
        yield UnitOfWork(engine, reads, boundary_tolerance_meters=1500.0)
    finally:
        reads.dispose()


def _person(engine: Engine, family: str, given: str) -> uuid.UUID:
    person_id = uuid.uuid4()
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO persons (id, family_name, given_names, name_key, nationality,"
                " birth_year, birth_month, birth_day, sex)"
                " VALUES (:id, :family, :given, :key, 'NZL', 1971, 3, 4, 'F')"
            ),
            {"id": person_id, "family": family, "given": given, "key": search_key(family, given)},
        )
    return person_id


def test_a_read_past_its_deadline_stops_in_the_database(uow: UnitOfWork, engine: Engine) -> None:
    person_id = _person(engine, "Lockwood", "Ada")
    with engine.connect() as blocker:
        blocker.execute(text("LOCK TABLE persons IN ACCESS EXCLUSIVE MODE"))
        token = current_deadline.set(time.monotonic() + 0.3)
        started = time.monotonic()
        try:
            with pytest.raises(DeadlineExceeded), uow.read() as reader:
                reader.dossier(person_id=person_id, sightings=3)
        finally:
            current_deadline.reset(token)
        assert time.monotonic() - started < 3.0
        blocker.rollback()
    # The connection is still good for the next call, with no limit outside a call.
    with uow.read() as reader:
        dossier = reader.dossier(person_id=person_id, sightings=3)
    assert dossier is not None
    assert dossier.person.identity.family_name == "Lockwood"


def test_a_connection_the_database_dropped_fails_one_call_then_is_replaced(
    uow: UnitOfWork, engine: Engine
) -> None:
    person_id = _person(engine, "Okafor", "Ngozi")
    with uow.read() as reader:
        assert reader.dossier(person_id=person_id, sightings=3) is not None
    with engine.connect() as admin:
        killed = admin.execute(
            text(
                "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = 'pantau-reader-test'"
                # Only this session's database: other test runs share the server.
                " AND datname = current_database()) t"
            )
        ).scalar_one()
    assert killed == 1
    with pytest.raises(Unavailable), uow.read() as reader:
        reader.dossier(person_id=person_id, sightings=3)
    with uow.read() as reader:
        dossier = reader.dossier(person_id=person_id, sightings=3)
    assert dossier is not None
    assert dossier.person.id == person_id


def test_search_candidates_use_the_configured_trigram_threshold(
    uow: UnitOfWork, engine: Engine
) -> None:
    stored = ("Wojciechowska", "Agnieszka")
    person_id = _person(engine, *stored)
    # A query less similar than PostgreSQL's default threshold (0.3) but above ours.
    query = search_key("Wojcik", "Agata")
    with engine.connect() as connection:
        similarity = connection.execute(
            text("SELECT similarity(:a, :b)"), {"a": search_key(*stored), "b": query}
        ).scalar_one()
    assert SEARCH_SIMILARITY_THRESHOLD <= similarity < 0.3
    with uow.read() as reader:
        found = reader.search_candidates(query, "", 0, 50)
    assert person_id in found
