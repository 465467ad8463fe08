"""Fixtures of the audit tests: a database of their own per test, and audit settings.

Each test gets a fresh copy of a migrated database, so that audit trails
(each signed with the test's own key, written by one process at a time) never
mix with each other or with a server another test started.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service.settings import Settings, load_settings
from exchange_service.storage.boundaries import load_boundaries
from exchange_service.storage.database import make_engine
from exchange_service.storage.migrate import upgrade_to_head
from tests.feeds import feed_key_settings

ADMIN_URL = os.environ.get(
    "PANTAU_TEST_ADMIN_URL", "postgresql+psycopg://pantau@127.0.0.1:5432/postgres"
)


def _url(name: str) -> str:
    return ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(scope="session")
def admin_engine() -> Iterator[Engine]:
    engine = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def audit_template(admin_engine: Engine) -> Iterator[str]:
    """A database migrated to head with the boundaries loaded, to copy per test."""
    name = f"pantau_audit_tpl_{uuid.uuid4().hex[:10]}"
    with admin_engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE pantau_template'))
    try:
        engine = make_engine(_url(name), pool_size=1)
        try:
            upgrade_to_head(engine)
            with engine.begin() as connection:
                load_boundaries(connection)
        finally:
            engine.dispose()
        yield name
    finally:
        with admin_engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def audit_db_url(admin_engine: Engine, audit_template: str) -> Iterator[str]:
    name = f"pantau_audit_{uuid.uuid4().hex[:12]}"
    with admin_engine.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{audit_template}"'))
    try:
        yield _url(name)
    finally:
        with admin_engine.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def audit_engine(audit_db_url: str) -> Iterator[Engine]:
    engine = make_engine(audit_db_url, pool_size=2)
    yield engine
    engine.dispose()


@pytest.fixture
def audit_settings(audit_db_url: str, tmp_path: Path) -> Settings:
    return load_settings(
        database_url=audit_db_url,
        listen_address="127.0.0.1:0",
        grpc_workers=4,
        audit_signing_key_file=tmp_path / "audit" / "signing.key",
        audit_checkpoint_file=tmp_path / "audit" / "checkpoints.jsonl",
        audit_checkpoint_every_records=50,
        audit_checkpoint_every_seconds=3600.0,
        **feed_key_settings(tmp_path / "feed-keys"),
    )
