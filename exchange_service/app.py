"""The composition root: the one place that builds storage, use cases and the server."""

from __future__ import annotations

import logging
import signal
import threading
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health
from sqlalchemy import Engine

from exchange_service.api.server import ServerOptions, build_server
from exchange_service.services import Queries, Registry, RegistryContext
from exchange_service.settings import Settings
from exchange_service.storage.boundaries import load_boundaries
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.storage.migrate import upgrade_to_head

log = logging.getLogger(__name__)


@dataclass
class Application:
    settings: Settings
    engine: Engine
    registry: Registry
    queries: Queries

    def close(self) -> None:
        self.engine.dispose()


def build_application(settings: Settings) -> Application:
    # One connection per worker thread: a call never waits for the pool.
    engine = make_engine(settings.database_url, pool_size=settings.grpc_workers)
    context = RegistryContext(UnitOfWork(engine), settings)
    return Application(settings, engine, Registry(context), Queries(context))


def migrate(settings: Settings) -> None:
    """Brings the schema to head and loads the Anambas boundaries."""
    engine = make_engine(settings.database_url, pool_size=1)
    try:
        upgrade_to_head(engine)
        with engine.begin() as connection:
            load_boundaries(connection)
    finally:
        engine.dispose()


@dataclass
class RunningServer:
    server: grpc.Server
    health: health.HealthServicer
    port: int
    application: Application

    def stop(self, grace: float = 5.0) -> None:
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        self.application.close()


def start_server(settings: Settings) -> RunningServer:
    application = build_application(settings)
    server, health_servicer = build_server(
        application.registry,
        application.queries,
        ServerOptions(
            workers=settings.grpc_workers,
            max_message_bytes=settings.max_message_bytes,
            default_deadline_seconds=settings.default_deadline_seconds,
        ),
    )
    port = server.add_insecure_port(settings.listen_address)
    if port == 0:
        raise SystemExit(f"cannot listen on {settings.listen_address}")
    server.start()
    return RunningServer(server, health_servicer, port, application)


HOW_TO_QUERY = """
Pantau is serving on {target} (plaintext, development). Try it with any gRPC client:

  grpcurl -plaintext {target} list
  grpcurl -plaintext -d '{{"name": "nguyen", "page_size": 5}}' \\
      {target} pantau.v1.QueryService/SearchPersons
  grpcurl -plaintext -d '{{"center": {{"latitude": 3.2166, "longitude": 106.2211}}, \\
      "radius_meters": 2000, "page_size": 5}}' {target} pantau.v1.QueryService/ListPersonsNear

or in Python, with the generated package `pantau.v1`:

  .venv/bin/python -c 'import grpc; from pantau.v1 import query_service_pb2 as q, \\
query_service_pb2_grpc as g; print(g.QueryServiceStub(grpc.insecure_channel("{target}"))\\
.SearchPersons(q.SearchPersonsRequest(name="nguyen", page_size=3)))'

Ctrl-C stops it.
"""


def serve(settings: Settings) -> None:
    """Runs until SIGINT or SIGTERM, then drains calls for up to five seconds."""
    running = start_server(settings)
    host = settings.listen_address.rsplit(":", 1)[0]
    log.info("pantau serving on %s:%d", host, running.port)
    print(HOW_TO_QUERY.format(target=f"{host}:{running.port}"), flush=True)  # noqa: T201
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    stopped.wait()
    log.info("pantau stopping")
    running.stop()
