"""Builds the gRPC server: servicers behind the edge, health, reflection and the transport's limits.

The server is ``grpc.aio``'s; it must be built and run on its event loop
(``app.start_server`` gives it a thread of its own). Every Pantau method is
served through the edge (``api/edge.py``): read on the loop, run on the
worker pool. Health and reflection are asynchronous servicers: they hold no
worker, any identified agency may call them, and they are not audited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf import message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection, reflection_pb2_grpc
from grpc_reflection.v1alpha._async import ReflectionServicer
from pantau.v1 import (
    alert_feed_service_pb2,
    alert_review_service_pb2,
    query_service_pb2,
    registry_service_pb2,
    report_service_pb2,
    watchlist_service_pb2,
)
from pantau.v1 import alert_feed_service_pb2_grpc as af_grpc
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from pantau.v1 import report_service_pb2_grpc as rpt_grpc
from pantau.v1 import watchlist_service_pb2_grpc as w_grpc

from exchange_service.api.alerts import AlertReviewServicer
from exchange_service.api.audit import AUDITED_PREFIX, CallAudit
from exchange_service.api.edge import TRANSPORT_FACTOR, Access, ClientStream, Edge, EdgeLimits
from exchange_service.api.feed import AlertFeedServicer
from exchange_service.api.query import QueryServicer
from exchange_service.api.registry import RegistryServicer
from exchange_service.api.report import ReportServicer
from exchange_service.api.watchlist import WatchlistServicer
from exchange_service.audit.log import AuditLog
from exchange_service.domain.call import CallRecord
from exchange_service.services import Queries, Registry
from exchange_service.services.alert_feed import AlertFeeds
from exchange_service.services.alerts import Alerts
from exchange_service.services.reports import EarlyWarningReports
from exchange_service.services.watchlist import Watchlist

SERVICE_NAMES = (
    registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
    query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
    alert_review_service_pb2.DESCRIPTOR.services_by_name["AlertReviewService"].full_name,
    alert_feed_service_pb2.DESCRIPTOR.services_by_name["AlertFeedService"].full_name,
    watchlist_service_pb2.DESCRIPTOR.services_by_name["WatchlistService"].full_name,
    report_service_pb2.DESCRIPTOR.services_by_name["ReportService"].full_name,
)
_FILES = (
    registry_service_pb2,
    query_service_pb2,
    alert_review_service_pb2,
    alert_feed_service_pb2,
    watchlist_service_pb2,
    report_service_pb2,
)


@dataclass(frozen=True)
class ServerOptions:
    max_message_bytes: int
    # Calls received and not yet begun. No HTTP/2 stream limit is set: gRPC's
    # clients refuse calls beyond one (UNAVAILABLE) instead of queueing them, so
    # the edge's per-agency limits bound the calls instead, with RetryInfo.
    max_pending_calls: int
    limits: EdgeLimits


class _Collector:
    """Stands in for a server to the generated ``add_*_to_server``: keeps the method handlers."""

    def __init__(self) -> None:
        self.handlers: dict[str, grpc.RpcMethodHandler] = {}

    def add_generic_rpc_handlers(self, _handlers: Any) -> None:
        """The generated code adds its handlers both ways; the registered ones are kept."""

    def add_registered_method_handlers(
        self, service: str, handlers: Mapping[str, grpc.RpcMethodHandler]
    ) -> None:
        for name, handler in handlers.items():
            self.handlers[f"/{service}/{name}"] = handler


def _method_types() -> dict[str, tuple[Any, Any]]:
    """Each Pantau method's request and response message classes."""

    types: dict[str, tuple[Any, Any]] = {}
    for module in _FILES:
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                types[f"/{service.full_name}/{method.name}"] = (
                    message_factory.GetMessageClass(method.input_type),
                    message_factory.GetMessageClass(method.output_type),
                )
    return types


class _Unimplemented(grpc.GenericRpcHandler):  # type: ignore[misc]
    """Any other ``/pantau.`` method: UNIMPLEMENTED, and recorded so."""

    def __init__(self, audit: CallAudit | None) -> None:
        self._audit = audit

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method: str = details.method
        if not method.startswith(AUDITED_PREFIX):
            return None
        audit = self._audit

        async def refuse(_requests: Any, context: Any) -> None:
            if audit is not None:
                audit.start(CallRecord(method=method)).finish("UNIMPLEMENTED")
            await context.abort(grpc.StatusCode.UNIMPLEMENTED, f"no method {method}")

        return grpc.stream_unary_rpc_method_handler(refuse)


def build_server(
    registry: Registry,
    queries: Queries,
    alerts: Alerts,
    feeds: AlertFeeds,
    options: ServerOptions,
    *,
    access: Access,
    workers: Executor,
    audit_log: AuditLog | None = None,
    watchlist: Watchlist | None = None,
    threshold: float = 0.7,
    reports: EarlyWarningReports | None = None,
) -> tuple[grpc.aio.Server, HealthServicer]:
    """A server with every service; call on its event loop, then add ports and start it."""
    audit = CallAudit(audit_log) if audit_log is not None else None
    edge = Edge(access, audit, options.limits, workers)
    collected = _Collector()
    registry_servicer = RegistryServicer(registry)
    r_grpc.add_RegistryServiceServicer_to_server(registry_servicer, collected)
    q_grpc.add_QueryServiceServicer_to_server(QueryServicer(queries, alerts), collected)
    ar_grpc.add_AlertReviewServiceServicer_to_server(AlertReviewServicer(alerts), collected)
    feed_servicer = AlertFeedServicer(feeds)
    af_grpc.add_AlertFeedServiceServicer_to_server(feed_servicer, collected)
    if watchlist is not None:
        w_grpc.add_WatchlistServiceServicer_to_server(
            WatchlistServicer(watchlist, threshold), collected
        )
    if reports is not None:
        rpt_grpc.add_ReportServiceServicer_to_server(
            ReportServicer(reports, options.max_message_bytes), collected
        )
    streams: dict[str, Callable[[], ClientStream]] = {
        "/pantau.v1.RegistryService/ImportLodgingReports": registry_servicer.open_lodging_import,
    }
    types = _method_types()
    handlers: dict[str, grpc.RpcMethodHandler] = {}
    for method, handler in collected.handlers.items():
        request_type, _response_type = types[method]
        if handler.response_streaming:
            handlers[method] = edge.server_stream(
                method, feed_servicer.subscribe, request_type, handler.response_serializer
            )
        elif handler.request_streaming:
            handlers[method] = edge.client_stream(
                method, streams[method], request_type, handler.response_serializer
            )
        else:
            handlers[method] = edge.unary(
                method, handler.unary_unary, request_type, handler.response_serializer
            )
    health_servicer = HealthServicer()
    health_handlers = _Collector()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, health_handlers)
    reflection_handlers = _Collector()
    reflection_pb2_grpc.add_ServerReflectionServicer_to_server(
        ReflectionServicer((*SERVICE_NAMES, "grpc.health.v1.Health", reflection.SERVICE_NAME)),
        reflection_handlers,
    )
    for method, handler in {**health_handlers.handlers, **reflection_handlers.handlers}.items():
        handlers[method] = edge.open(method, handler)
    server = grpc.aio.server(
        options=[
            # The edge answers a message over the cap itself (and audits it).
            ("grpc.max_receive_message_length", options.max_message_bytes * TRANSPORT_FACTOR),
            ("grpc.max_send_message_length", options.max_message_bytes),
            ("grpc.server.max_pending_requests", options.max_pending_calls),
        ],
    )
    by_service: dict[str, dict[str, grpc.RpcMethodHandler]] = {}
    for method, handler in handlers.items():
        service, name = method[1:].split("/", 1)
        by_service.setdefault(service, {})[name] = handler
    for service, methods in by_service.items():
        server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(service, methods),))
    server.add_generic_rpc_handlers((_Unimplemented(audit),))
    return server, health_servicer


async def set_serving(health_servicer: HealthServicer) -> None:
    for name in (*SERVICE_NAMES, ""):
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
