"""Server interceptors: cross-cutting concerns kept out of the servicers.

Each interceptor wraps the behaviour of the method handler it is given, for
unary and streaming methods alike. The chain (outermost first) is built in
``exchange_service.api.server``; agency identity, authorisation and audit
join it there without touching a servicer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import grpc

from exchange_service.api.errors import abort_with
from exchange_service.domain.deadlines import current_deadline
from exchange_service.domain.errors import DeadlineExceeded, PantauError

log = logging.getLogger(__name__)

Behaviour = Callable[[Any, grpc.ServicerContext], Any]
Wrapper = Callable[[Behaviour, grpc.HandlerCallDetails], Behaviour]


_HANDLER_KINDS = (
    ("unary_unary", grpc.unary_unary_rpc_method_handler),
    ("unary_stream", grpc.unary_stream_rpc_method_handler),
    ("stream_unary", grpc.stream_unary_rpc_method_handler),
    ("stream_stream", grpc.stream_stream_rpc_method_handler),
)


def wrap_handler(
    handler: grpc.RpcMethodHandler | None,
    details: grpc.HandlerCallDetails,
    wrapper: Wrapper,
) -> grpc.RpcMethodHandler | None:
    """The same handler with its behaviour wrapped, whatever its streaming kind."""
    if handler is None:
        return None
    for kind, make_handler in _HANDLER_KINDS:
        behaviour = getattr(handler, kind)
        if behaviour:
            wrapped: grpc.RpcMethodHandler = make_handler(
                wrapper(behaviour, details),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
            return wrapped
    return handler


class DomainErrorInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Turns domain errors into statuses with google.rpc details (api/errors.py)."""

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        def wrapper(behaviour: Behaviour, _details: grpc.HandlerCallDetails) -> Behaviour:
            def handle(request: Any, context: grpc.ServicerContext) -> Any:
                try:
                    return behaviour(request, context)
                except PantauError as error:
                    abort_with(context, error)

            return handle

        return wrap_handler(continuation(handler_call_details), handler_call_details, wrapper)


class DeadlineInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Publishes the call's deadline (or the default one) to the storage layer."""

    def __init__(self, default_seconds: float) -> None:
        self._default = default_seconds

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        default = self._default

        def wrapper(behaviour: Behaviour, _details: grpc.HandlerCallDetails) -> Behaviour:
            def handle(request: Any, context: grpc.ServicerContext) -> Any:
                remaining = context.time_remaining()
                if remaining is None or remaining > default:
                    remaining = default
                if remaining <= 0:
                    raise DeadlineExceeded("the deadline passed before the call was served")
                token = current_deadline.set(time.monotonic() + remaining)
                try:
                    return behaviour(request, context)
                finally:
                    current_deadline.reset(token)

            return handle

        return wrap_handler(continuation(handler_call_details), handler_call_details, wrapper)
