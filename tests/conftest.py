"""Test fixtures: a fresh PostGIS database per test session and a real gRPC server.

The database is copied from ``pantau_template`` (made by
deploy/dev/setup-postgres.sh), migrated to head, and dropped at the end.
"""

from __future__ import annotations

import os
import secrets
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import grpc
import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service import app, client_example
from exchange_service.settings import Settings, load_settings
from exchange_service.tools.pki import create_dev_pki
from tests.clock import CLOCK, TestClock
from tests.feeds import feed_key_settings

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
    "reports",
)


@contextmanager
def fresh_database(prefix: str = "pantau_test", *, migrated: bool = True) -> Iterator[str]:
    """A new database copied from the template and (unless not ``migrated``) migrated to head.

    Dropped on exit. Yields its URL.
    """
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE pantau_template'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        if migrated:
            app.migrate(load_settings(database_url=url))
        yield url
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_url() -> Iterator[str]:
    with fresh_database() as url:
        yield url


AGENCIES = {
    "IMMIGRATION": "kanim-tarempa",
    "POLICE": "polres-anambas",
    "LOCAL_GOVERNMENT": "pemkab-anambas",
    "SUPERVISOR": "supervisor-tarempa",
}
ROOT = Path(__file__).resolve().parents[1]
OFFICER_AND_PURPOSE = (
    ("x-pantau-officer", "Insp. Rahmat Hidayat"),
    ("x-pantau-purpose", "ND/IMI.4-GR.01/XI/2026 test"),
)


# A police sector office with a tight rate limit, to test the limiter.
LIMITED_AGENCY = "polsek-jemaja"


@pytest.fixture(scope="session")
def agencies_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped agencies file plus one agency with a small token bucket."""
    path = tmp_path_factory.mktemp("agencies") / "agencies.toml"
    shipped = (ROOT / "deploy" / "agencies.toml").read_text()
    path.write_text(
        shipped
        + f"""
[[agency]]
id = "{LIMITED_AGENCY}"
name = "Polsek Jemaja"
kind = "POLICE"
rate_limit_per_second = 1.0
rate_limit_burst = 3
"""
    )
    return path


@pytest.fixture(scope="session")
def pki_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pki")
    create_dev_pki(out, sorted([*AGENCIES.values(), LIMITED_AGENCY]))
    return out


@pytest.fixture(scope="session")
def page_token_secrets() -> list[str]:
    """The server's page token secrets: the first signs, the second (an older one) verifies."""
    return [secrets.token_urlsafe(32), secrets.token_urlsafe(32)]


@pytest.fixture(scope="session")
def settings(
    database_url: str,
    pki_dir: Path,
    agencies_file: Path,
    page_token_secrets: list[str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Settings:
    audit_dir = tmp_path_factory.mktemp("audit")
    return load_settings(
        page_token_secrets=page_token_secrets,
        database_url=database_url,
        listen_address="127.0.0.1:0",
        grpc_workers=4,
        tls_cert_file=pki_dir / "server.crt",
        tls_key_file=pki_dir / "server.key",
        tls_client_ca_file=pki_dir / "ca.crt",
        tls_crl_file=pki_dir / "ca.crl",
        agencies_file=agencies_file,
        audit_signing_key_file=audit_dir / "audit-signing.key",
        audit_checkpoint_file=audit_dir / "checkpoints.jsonl",
        **feed_key_settings(tmp_path_factory.mktemp("feed-keys")),
        rate_limit_per_second=10_000.0,
        rate_limit_burst=10_000,
    )


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture(scope="session")
def clock() -> TestClock:
    """The suite's clock (real time, or frozen by PANTAU_TEST_NOW): see tests/clock.py."""
    return CLOCK


@pytest.fixture(scope="session")
def running_server(settings: Settings, clock: TestClock) -> Iterator[app.RunningServer]:
    running = app.start_server(settings, clock=clock.now)
    yield running
    running.stop(grace=1.0)


@pytest.fixture(scope="session")
def grpc_target(running_server: app.RunningServer) -> str:
    return f"127.0.0.1:{running_server.port}"


class _WithMetadata(
    grpc.UnaryUnaryClientInterceptor,  # type: ignore[misc]
    grpc.StreamUnaryClientInterceptor,  # type: ignore[misc]
    grpc.UnaryStreamClientInterceptor,  # type: ignore[misc]
):
    """Adds the officer and purpose headers to every call."""

    def __init__(self, metadata: tuple[tuple[str, str], ...]) -> None:
        self._metadata = metadata

    def _details(self, details: Any) -> Any:
        return details._replace(metadata=(*(details.metadata or ()), *self._metadata))

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)


def agency_channel(
    target: str,
    pki: Path,
    agency_id: str,
    metadata: tuple[tuple[str, str], ...] = OFFICER_AND_PURPOSE,
) -> grpc.Channel:
    """A mutual-TLS channel presenting the agency's certificate, with officer and purpose."""
    channel = client_example.agency_channel(target, pki, agency_id)
    return grpc.intercept_channel(channel, _WithMetadata(metadata))


@pytest.fixture(scope="session")
def grpc_channel(grpc_target: str, pki_dir: Path) -> Iterator[grpc.Channel]:
    """An immigration officer's channel: every RPC allowed, full data view."""
    channel = agency_channel(grpc_target, pki_dir, AGENCIES["IMMIGRATION"])
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
