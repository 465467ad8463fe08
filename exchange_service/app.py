"""The composition root: the one place that builds storage, use cases and the server."""

from __future__ import annotations

import logging
import signal
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from grpc_health.v1 import health
from sqlalchemy import Engine

from exchange_service.api.access import DEV_AGENCY_KEY, AccessInterceptor
from exchange_service.api.audit import AuditInterceptor
from exchange_service.api.server import ServerOptions, build_server
from exchange_service.audit.log import AuditLog, open_audit_log
from exchange_service.data.loader import RestrictedAreasFileError
from exchange_service.domain.clock import Clock, system_clock

# The rule engine's composition lives apart, free of gRPC, so that the scheduler
# process builds it too; its names stay importable from here.
from exchange_service.rules_root import build_rule_engine as build_rule_engine  # noqa: PLC0414
from exchange_service.rules_root import permit_limits as permit_limits  # noqa: PLC0414
from exchange_service.rules_root import rule_engine_options as rule_engine_options  # noqa: PLC0414
from exchange_service.rules_root import rule_settings as rule_settings  # noqa: PLC0414
from exchange_service.security.agencies import load_agencies
from exchange_service.security.client_certificates import (
    ClientCertificateConfigError,
    ClientCertificateVerifier,
)
from exchange_service.security.revocation import RevocationList
from exchange_service.services import Queries, QueryOptions, Registry, RegistryOptions
from exchange_service.services.alerts import Alerts
from exchange_service.settings import Settings
from exchange_service.storage.boundaries import load_boundaries
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.storage.migrate import upgrade_to_head
from exchange_service.storage.restricted_areas import load_restricted_areas

log = logging.getLogger(__name__)


@dataclass
class Application:
    settings: Settings
    engine: Engine
    read_engine: Engine
    registry: Registry
    queries: Queries
    alerts: Alerts

    def close(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()


def registry_options(settings: Settings) -> RegistryOptions:
    """The settings the registry's write use cases go by."""
    return RegistryOptions(
        home_country=settings.home_country,
        timezone=ZoneInfo(settings.timezone),
        max_reports_per_import=settings.max_reports_per_import,
        permit_limits=permit_limits(settings),
    )


def query_options(settings: Settings) -> QueryOptions:
    """The settings the queries go by."""
    return QueryOptions(
        timezone=ZoneInfo(settings.timezone),
        dossier_sightings=settings.dossier_sightings,
        search_candidates=settings.search_candidates,
        search_min_score=settings.search_min_score,
    )


def build_application(settings: Settings, *, clock: Clock = system_clock) -> Application:
    """Storage and the use cases on it; ``clock`` is the time the use cases go by."""
    # One connection of each kind per worker thread: a call never waits for the pool.
    engine = make_engine(settings.database_url, pool_size=settings.grpc_workers)
    read_engine = make_engine(
        settings.database_url,
        pool_size=settings.grpc_workers,
        application_name="pantau",
        read_only=True,
        search_similarity_threshold=settings.search_similarity_threshold,
    )
    uow = UnitOfWork(
        engine, read_engine, boundary_tolerance_meters=settings.boundary_tolerance_meters
    )
    return Application(
        settings,
        engine,
        read_engine,
        Registry(uow, registry_options(settings), clock),
        Queries(uow, query_options(settings), clock),
        Alerts(uow, clock),
    )


def migrate(settings: Settings) -> None:
    """Brings the schema to head, loads the Anambas boundaries and the restricted areas."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        upgrade_to_head(engine)
        with engine.begin() as connection:
            load_boundaries(connection)
            load_restricted_areas(connection, settings.rule_restricted_areas_file)
    except RestrictedAreasFileError as error:
        raise SystemExit(f"rule_restricted_areas_file: {error}") from error
    finally:
        engine.dispose()


@dataclass
class RunningServer:
    server: grpc.Server
    health: health.HealthServicer
    port: int
    application: Application
    audit_log: AuditLog

    def stop(self, grace: float = 5.0) -> None:
        """Drains calls, then writes the last audit records and a final checkpoint."""
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.audit_log.close()
        self.application.close()


def _server_credentials(settings: Settings) -> grpc.ServerCredentials:
    missing = [
        name
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file")
        if getattr(settings, name) is None
    ]
    if missing:
        raise SystemExit(
            f"mutual TLS needs settings {', '.join(missing)} (make development files with "
            "`pantau pki`); `pantau serve --insecure-dev` serves without TLS for development"
        )
    cert, key, client_ca = (
        Path(str(getattr(settings, name)))
        for name in ("tls_cert_file", "tls_key_file", "tls_client_ca_file")
    )
    return grpc.ssl_server_credentials(
        [(key.read_bytes(), cert.read_bytes())],
        root_certificates=client_ca.read_bytes(),
        require_client_auth=True,
    )


def _access(settings: Settings, *, insecure_dev: bool) -> AccessInterceptor:
    revocation = certificates = None
    if settings.tls_crl_file is not None and settings.tls_client_ca_file is not None:
        revocation = RevocationList(settings.tls_crl_file, settings.tls_client_ca_file)
    if not insecure_dev and settings.tls_client_ca_file is not None:
        try:  # validity goes by the real time, as the TLS handshake's does
            certificates = ClientCertificateVerifier.from_files(
                settings.tls_client_ca_file, settings.tls_client_intermediate_files
            )
        except ClientCertificateConfigError as error:
            raise SystemExit(f"refusing the client CA settings: {error}") from error
    return AccessInterceptor(
        load_agencies(settings.agencies_file),
        default_rate=settings.rate_limit_per_second,
        default_burst=settings.rate_limit_burst,
        revocation=revocation,
        certificates=certificates,
        insecure_dev=insecure_dev,
    )


def start_server(
    settings: Settings, *, insecure_dev: bool = False, clock: Clock = system_clock
) -> RunningServer:
    """Starts serving over mutual TLS, or in plaintext with ``insecure_dev`` (logged loudly).

    ``clock`` is the time the use cases and the audit trail go by (tests set it).
    """
    credentials = None if insecure_dev else _server_credentials(settings)
    # Process-wide: this process serves.
    sys.setswitchinterval(settings.gil_switch_interval_ms / 1000)
    access = _access(settings, insecure_dev=insecure_dev)
    application = build_application(settings, clock=clock)
    audit_log = open_audit_log(settings, clock=clock)
    server, health_servicer = build_server(
        application.registry,
        application.queries,
        application.alerts,
        ServerOptions(
            workers=settings.grpc_workers,
            max_message_bytes=settings.max_message_bytes,
            default_deadline_seconds=settings.default_deadline_seconds,
        ),
        access=access,
        audit=AuditInterceptor(audit_log),
    )
    if credentials is None:
        log.warning(
            "INSECURE DEVELOPMENT MODE: no TLS, no client certificates; the agency is taken"
            " from the %s header. Never use this with real data.",
            DEV_AGENCY_KEY,
        )
        port = server.add_insecure_port(settings.listen_address)
    else:
        port = server.add_secure_port(settings.listen_address, credentials)
    if port == 0:
        audit_log.close()
        application.close()
        raise SystemExit(f"cannot listen on {settings.listen_address}")
    server.start()
    return RunningServer(server, health_servicer, port, application, audit_log)


HOW_TO_QUERY = """
Pantau is serving on {target} over mutual TLS. Each agency holds a client
certificate in {pki}/ (kanim-tarempa, polres-anambas, pemkab-anambas,
supervisor-tarempa). Calls with personal data name the officer and purpose:

  grpcurl -cacert {pki}/ca.crt -cert {pki}/polres-anambas.crt -key {pki}/polres-anambas.key \\
      -H 'x-pantau-officer: Bripka Andi' -H 'x-pantau-purpose: LP/123/XI/2026' \\
      -d '{{"name": "nguyen", "page_size": 5}}' \\
      localhost:{port} pantau.v1.QueryService/SearchPersons

A supervisor lists the early-warning alerts (the overstays here; GetAlert gives
one with its events, AlertReviewService.ReviewAlert records a review):

  grpcurl -cacert {pki}/ca.crt -cert {pki}/supervisor-tarempa.crt \
      -key {pki}/supervisor-tarempa.key \
      -H 'x-pantau-officer: Kepala Kantor' -H 'x-pantau-purpose: pengawasan harian' \
      -d '{{"rules": ["ALERT_RULE_OVERSTAY"], "page_size": 5}}' \
      localhost:{port} pantau.v1.QueryService/ListAlerts

or in Python, with the generated package `pantau.v1`:

  .venv/bin/python -m exchange_service.client_example {target} {pki} polres-anambas

Ctrl-C stops it.
"""

INSECURE_HOW_TO_QUERY = """
Pantau is serving on {target} WITHOUT TLS (development flag). Name the agency
in a header:

  grpcurl -plaintext -H 'x-pantau-agency: polres-anambas' -H 'x-pantau-officer: dev' \\
      -H 'x-pantau-purpose: testing' -d '{{"name": "nguyen"}}' \\
      {target} pantau.v1.QueryService/SearchPersons
"""


def serve(settings: Settings, *, insecure_dev: bool = False) -> None:
    """Runs until SIGINT or SIGTERM, then drains calls for up to five seconds."""
    running = start_server(settings, insecure_dev=insecure_dev)
    host = settings.listen_address.rsplit(":", 1)[0]
    log.info("pantau serving on %s:%d", host, running.port)
    pki = settings.tls_client_ca_file.parent if settings.tls_client_ca_file else Path("var/pki")
    message = INSECURE_HOW_TO_QUERY if insecure_dev else HOW_TO_QUERY
    print(message.format(target=f"{host}:{running.port}", port=running.port, pki=pki), flush=True)  # noqa: T201
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    # Woken now and then: a signal taken by one of gRPC's threads is handled only
    # when the main thread next runs Python code, which a bare wait() never does.
    while not stopped.wait(0.5):
        pass
    log.info("pantau stopping")
    running.stop()
