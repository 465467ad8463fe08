"""Builds the gRPC server: servicers, interceptor chain, health and reflection."""

from __future__ import annotations

from concurrent import futures
from dataclasses import dataclass

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from pantau.v1 import alert_review_service_pb2, query_service_pb2, registry_service_pb2
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import registry_service_pb2_grpc as r_grpc

from exchange_service.api.alerts import AlertReviewServicer
from exchange_service.api.interceptors import DeadlineInterceptor, DomainErrorInterceptor
from exchange_service.api.query import QueryServicer
from exchange_service.api.registry import RegistryServicer
from exchange_service.services import Queries, Registry
from exchange_service.services.alerts import Alerts

SERVICE_NAMES = (
    registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"].full_name,
    query_service_pb2.DESCRIPTOR.services_by_name["QueryService"].full_name,
    alert_review_service_pb2.DESCRIPTOR.services_by_name["AlertReviewService"].full_name,
)


# HTTP/2 streams one client connection may have open at once.
MAX_STREAMS_PER_CONNECTION = 100


@dataclass(frozen=True)
class ServerOptions:
    workers: int
    max_message_bytes: int
    default_deadline_seconds: float


def build_server(
    registry: Registry,
    queries: Queries,
    alerts: Alerts,
    options: ServerOptions,
    *,
    access: grpc.ServerInterceptor,
    audit: grpc.ServerInterceptor | None = None,
) -> tuple[grpc.Server, health.HealthServicer]:
    """A server with every service; the caller adds ports and starts it.

    Interceptors run outermost first: the audit interceptor (so it records
    every call with its final status, denied ones included), domain errors to
    statuses, access control (identity, permission, purpose, rate, data view),
    then the deadline.
    """
    interceptors: list[grpc.ServerInterceptor] = [
        *([audit] if audit is not None else []),
        DomainErrorInterceptor(),
        access,
        DeadlineInterceptor(options.default_deadline_seconds),
    ]
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=options.workers, thread_name_prefix="pantau-rpc"),
        interceptors=interceptors,
        options=[
            ("grpc.max_receive_message_length", options.max_message_bytes),
            ("grpc.max_send_message_length", options.max_message_bytes),
            # Calls beyond the workers wait in the pool's queue; a client may
            # keep many in flight on one connection without being refused.
            ("grpc.max_concurrent_streams", MAX_STREAMS_PER_CONNECTION),
        ],
        maximum_concurrent_rpcs=max(MAX_STREAMS_PER_CONNECTION, options.workers * 8),
    )
    r_grpc.add_RegistryServiceServicer_to_server(RegistryServicer(registry), server)
    q_grpc.add_QueryServiceServicer_to_server(QueryServicer(queries, alerts), server)
    ar_grpc.add_AlertReviewServiceServicer_to_server(AlertReviewServicer(alerts), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in (*SERVICE_NAMES, ""):
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*SERVICE_NAMES, health.SERVICE_NAME, reflection.SERVICE_NAME), server
    )
    return server, health_servicer
