"""The composition root: the one place that builds storage, use cases and the server."""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import secrets
import signal
import sys
import threading
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
from grpc_health.v1._async import HealthServicer
from sqlalchemy import Engine

from exchange_service.api.access import DEV_AGENCY_KEY, Access
from exchange_service.api.edge import EdgeLimits
from exchange_service.api.server import ServerOptions, build_server, set_serving
from exchange_service.audit.log import AuditLog, open_audit_log
from exchange_service.data.loader import RestrictedAreasFileError
from exchange_service.domain.audit import AuditRecorder
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.paging import PageTokens

# The rule engine's composition lives apart, free of gRPC, so that the scheduler
# process builds it too; its names stay importable from here.
from exchange_service.rules_root import (
    build_feed_writer,
    build_reports,
    feed_keys,
    screening_options,
)
from exchange_service.rules_root import build_rule_engine as build_rule_engine  # noqa: PLC0414
from exchange_service.rules_root import build_screener as build_screener  # noqa: PLC0414
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
from exchange_service.services.alert_feed import AlertFeedOptions, AlertFeeds
from exchange_service.services.alerts import Alerts, AlertsOptions
from exchange_service.services.reports import EarlyWarningReports
from exchange_service.services.watchlist import Watchlist, WatchlistOptions
from exchange_service.settings import Settings
from exchange_service.signing.keyset import KeySet
from exchange_service.storage.async_reads import AsyncReadPool
from exchange_service.storage.boundaries import load_boundaries
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.storage.feed_notices import FeedNotices
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
    # The feeds' signing keys; None when no agency has a feed.
    feed_keys: KeySet | None = None
    # Opened on the server's event loop, and closed there when it stops.
    async_reads: AsyncReadPool | None = None
    feed_notices: FeedNotices | None = None
    watchlist: Watchlist | None = None
    # The watchlist's reads: sessions with the screening's trigram threshold.
    watchlist_read_engine: Engine | None = None
    reports: EarlyWarningReports | None = None

    def close(self) -> None:
        self.engine.dispose()
        self.read_engine.dispose()
        if self.watchlist_read_engine is not None:
            self.watchlist_read_engine.dispose()


def registry_options(settings: Settings) -> RegistryOptions:
    """The settings the registry's write use cases go by."""
    return RegistryOptions(
        home_country=settings.home_country,
        timezone=ZoneInfo(settings.timezone),
        max_reports_per_import=settings.max_reports_per_import,
        max_rejections_listed=settings.max_rejections_listed,
        permit_limits=permit_limits(settings),
    )


@functools.cache
def _process_page_token_secret() -> bytes:
    """The random secret of this process's page tokens when the settings name none."""
    log.warning(
        "page_token_secrets is empty: page tokens are signed with a random secret of this"
        " process and die with it; list secrets to keep them across restarts and servers"
    )
    return secrets.token_bytes(32)


def page_tokens(settings: Settings) -> PageTokens:
    """Page tokens under the settings' secrets (the first signs), else this process's own.

    Exits naming the secrets by position, never by value, when one is too
    short or listed twice.
    """
    configured = [secret.get_secret_value().encode() for secret in settings.page_token_secrets]
    try:
        return PageTokens(configured or [_process_page_token_secret()])
    except ValueError as error:
        raise SystemExit(f"page_token_secrets: {error}") from error


def query_options(settings: Settings) -> QueryOptions:
    """The settings the queries go by."""
    return QueryOptions(
        timezone=ZoneInfo(settings.timezone),
        dossier_sightings=settings.dossier_sightings,
        search_candidates=settings.search_candidates,
        search_min_score=settings.search_min_score,
        page_tokens=page_tokens(settings),
    )


def watchlist_options(settings: Settings) -> WatchlistOptions:
    """The watchlist's and the screener's options from the settings."""
    return WatchlistOptions(
        screening=screening_options(settings),
        report_floor=min(settings.watchlist_report_floor, settings.watchlist_threshold),
        page_tokens=page_tokens(settings),
    )


def alerts_options(settings: Settings) -> AlertsOptions:
    """The settings the alerts' listings and reviews go by."""
    return AlertsOptions(page_tokens=page_tokens(settings))


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
    # GetPerson's and the subscriptions' reads, on the server's event loop (as many as
    # the workers).
    async_reads = AsyncReadPool(settings.database_url, size=settings.grpc_workers)
    watchlist_reads = make_engine(
        settings.database_url,
        pool_size=settings.grpc_workers,
        application_name="pantau-watchlist",
        read_only=True,
        search_similarity_threshold=settings.watchlist_similarity_threshold,
    )
    agencies = load_agencies(settings.agencies_file)
    keys = (
        feed_keys(settings, clock=clock)
        if any(agency.feed is not None for agency in agencies.values())
        else None
    )
    return Application(
        settings,
        engine,
        read_engine,
        Registry(uow, registry_options(settings), clock),
        Queries(uow, query_options(settings), clock, async_reads=async_reads),
        Alerts(
            uow,
            alerts_options(settings),
            clock,
            feed=build_feed_writer(settings, clock=clock, keys=keys, agencies=agencies),
        ),
        keys,
        async_reads,
        FeedNotices(settings.database_url),
        Watchlist(
            UnitOfWork(
                engine,
                watchlist_reads,
                boundary_tolerance_meters=settings.boundary_tolerance_meters,
            ),
            watchlist_options(settings),
            clock,
        ),
        watchlist_reads,
        build_reports(settings, uow, clock=clock, agencies=agencies),
    )


def alert_feeds(
    application: Application, audit: AuditRecorder | None, *, clock: Clock = system_clock
) -> AlertFeeds:
    """The feeds' read side on the application's asynchronous reads and notices."""
    settings = application.settings
    if application.async_reads is None or application.feed_notices is None:
        raise ValueError("the application was built without its asynchronous reads")
    return AlertFeeds(
        UnitOfWork(
            application.engine,
            application.read_engine,
            boundary_tolerance_meters=settings.boundary_tolerance_meters,
        ),
        application.async_reads,
        application.feed_notices,
        application.feed_keys,
        AlertFeedOptions(
            heartbeat_seconds=settings.feed_heartbeat_seconds, read_batch=settings.feed_read_batch
        ),
        audit=audit,
        clock=clock,
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


# How long past its grace gRPC's own stop may take before the shutdown goes on without it.
STOP_WATCHDOG_SECONDS = 5.0

_loop_lock = threading.Lock()
_loops: list[tuple[asyncio.AbstractEventLoop, threading.Thread]] = []


def _grpc_loop() -> tuple[asyncio.AbstractEventLoop, threading.Thread]:
    """The process's one event loop for gRPC servers, on a daemon thread of its own.

    One for the process, never closed: grpc.aio's completion queue poller is
    process-wide and keeps calling into the loop it started with.
    """
    with _loop_lock:
        if not _loops:
            loop = asyncio.new_event_loop()
            thread = threading.Thread(target=loop.run_forever, name="pantau-grpc-loop", daemon=True)
            thread.start()
            _loops.append((loop, thread))
        return _loops[0]


@dataclass
class RunningServer:
    """A server serving on its event loop's thread; ``stop`` always ends."""

    server: grpc.aio.Server
    health: HealthServicer
    port: int
    application: Application
    audit_log: AuditLog
    loop: asyncio.AbstractEventLoop
    thread: threading.Thread
    workers: futures.ThreadPoolExecutor
    grace_seconds: float
    stopped: bool = field(default=False)

    def stop(self, grace: float | None = None) -> bool:
        """Stops serving; True when gRPC's stop finished, False when the watchdog ended it.

        Health turns NOT_SERVING at once; calls in flight may finish within
        ``grace`` seconds (default: the setting ``shutdown_grace_seconds``), the
        rest are cancelled. If gRPC's stop hangs beyond that (a race in
        grpcio's shutdown) the watchdog goes on without it. Either way the
        workers are let go, the audit trail writes its last records and a final
        signed checkpoint and is closed, and the engines are disposed.
        """
        if self.stopped:
            return True
        self.stopped = True
        grace = self.grace_seconds if grace is None else grace
        finished = True
        stopping = asyncio.run_coroutine_threadsafe(self._stop(grace), self.loop)
        try:
            stopping.result(timeout=grace + STOP_WATCHDOG_SECONDS)
        except TimeoutError:
            finished = False
            log.warning(
                "gRPC's stop did not finish %.0f s after its grace of %.0f s; the shutdown"
                " goes on without it",
                STOP_WATCHDOG_SECONDS,
                grace,
            )
        self.workers.shutdown(wait=finished, cancel_futures=True)
        self.audit_log.close()
        self.application.close()
        return finished

    async def _stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        if self.application.async_reads is not None:
            await self.application.async_reads.close()
        if self.application.feed_notices is not None:
            await self.application.feed_notices.close()


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


def _access(settings: Settings, *, insecure_dev: bool) -> Access:
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
    return Access(
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
    workers = futures.ThreadPoolExecutor(
        max_workers=settings.grpc_workers, thread_name_prefix="pantau-rpc"
    )
    options = ServerOptions(
        max_message_bytes=settings.max_message_bytes,
        max_pending_calls=settings.max_pending_calls,
        limits=EdgeLimits(
            request_wait_seconds=settings.request_wait_seconds,
            stream_idle_seconds=settings.stream_idle_seconds,
            agency_max_calls=settings.agency_max_calls,
            agency_max_running=settings.agency_max_running,
            default_deadline_seconds=settings.default_deadline_seconds,
            max_message_bytes=settings.max_message_bytes,
            agency_max_subscriptions=settings.agency_max_subscriptions,
            stream_write_seconds=settings.feed_write_seconds,
        ),
    )
    feeds = alert_feeds(application, audit_log, clock=clock)
    if credentials is None:
        log.warning(
            "INSECURE DEVELOPMENT MODE: no TLS, no client certificates; the agency is taken"
            " from the %s header. Never use this with real data.",
            DEV_AGENCY_KEY,
        )

    async def started() -> tuple[grpc.aio.Server, HealthServicer, int]:
        server, health_servicer = build_server(
            application.registry,
            application.queries,
            application.alerts,
            feeds,
            options,
            access=access,
            workers=workers,
            audit_log=audit_log,
            watchlist=application.watchlist,
            threshold=settings.watchlist_threshold,
            reports=application.reports,
        )
        if credentials is None:
            port = server.add_insecure_port(settings.listen_address)
        else:
            port = server.add_secure_port(settings.listen_address, credentials)
        if port == 0:
            return server, health_servicer, 0
        await server.start()
        await set_serving(health_servicer)
        return server, health_servicer, port

    loop, thread = _grpc_loop()
    try:
        server, health_servicer, port = asyncio.run_coroutine_threadsafe(started(), loop).result()
    except BaseException:
        port = 0
        server = None
    if port == 0:
        workers.shutdown()
        audit_log.close()
        application.close()
        raise SystemExit(f"cannot listen on {settings.listen_address}")
    return RunningServer(
        server,
        health_servicer,
        port,
        application,
        audit_log,
        loop,
        thread,
        workers,
        settings.shutdown_grace_seconds,
    )


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
    """Runs until SIGINT or SIGTERM, then stops within the grace period and exits 0.

    Should gRPC's own stop hang, the process ends once the audit trail is
    closed, without waiting for gRPC's threads.
    """
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
    if not running.stop():
        logging.shutdown()
        sys.stdout.flush()
        os._exit(0)
