"""Test fixtures: a fresh PostGIS database per test session and a real gRPC server.

The database is copied from ``pantau_template`` (made by
deploy/dev/setup-postgres.sh), migrated to head, and dropped at the end.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import grpc
import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service import app
from exchange_service.settings import Settings, load_settings

ADMIN_URL = os.environ.get(
    "PANTAU_TEST_ADMIN_URL", "postgresql+psycopg://pantau@127.0.0.1:5432/postgres"
)
HISTORY_AND_RECORD_TABLES = (
    "persons",
    "travel_documents",
    "stays",
    "stay_permits",
    "addresses",
    "current_addresses",
    "sightings",
)


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    name = f"pantau_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE pantau_template'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        app.migrate(load_settings(database_url=url))
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    return load_settings(database_url=database_url, listen_address="127.0.0.1:0", grpc_workers=4)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def running_server(settings: Settings) -> Iterator[app.RunningServer]:
    running = app.start_server(settings)
    yield running
    running.stop(grace=1.0)


@pytest.fixture(scope="session")
def grpc_target(running_server: app.RunningServer) -> str:
    return f"127.0.0.1:{running_server.port}"


@pytest.fixture(scope="session")
def grpc_channel(grpc_target: str) -> Iterator[grpc.Channel]:
    channel = grpc.insecure_channel(grpc_target)
    grpc.channel_ready_future(channel).result(timeout=10)
    yield channel
    channel.close()


class RowCounts:
    """Counts of rows in every record table, to prove a rejected call wrote nothing."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def snapshot(self) -> dict[str, int]:
        with self._engine.connect() as connection:
            return {
                table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
                for table in HISTORY_AND_RECORD_TABLES
            }


@pytest.fixture
def row_counts(engine: Engine) -> RowCounts:
    return RowCounts(engine)
