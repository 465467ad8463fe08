"""The one table from domain errors to gRPC status codes and google.rpc details.

Servicers never call ``context.abort`` themselves: they raise domain errors,
and ``abort_with`` turns each into a status with machine-readable details.
"""

from __future__ import annotations

import logging
from typing import NoReturn

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from exchange_service.domain.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    InvalidInput,
    MessageTooLarge,
    NotFound,
    PantauError,
    PermissionDenied,
    ResourceExhausted,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger(__name__)

DOMAIN = "pantau.anambas.imigrasi.go.id"


def _pack(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def to_status(error: PantauError) -> status_pb2.Status:
    """The google.rpc.Status of a domain error."""
    if isinstance(error, InvalidInput):
        details = error_details_pb2.BadRequest(
            field_violations=[
                error_details_pb2.BadRequest.FieldViolation(
                    field=v.field, description=v.description
                )
                for v in error.violations
            ]
        )
        return status_pb2.Status(
            code=code_pb2.INVALID_ARGUMENT, message=error.message, details=[_pack(details)]
        )
    if isinstance(error, NotFound):
        info = error_details_pb2.ResourceInfo(
            resource_type=error.resource_type,
            resource_name=error.resource_name,
            description=f"no such record (field {error.field})"
            if error.field
            else "no such record",
        )
        return status_pb2.Status(
            code=code_pb2.NOT_FOUND, message=error.message, details=[_pack(info)]
        )
    if isinstance(error, FailedPrecondition):
        failure = error_details_pb2.PreconditionFailure(
            violations=[
                error_details_pb2.PreconditionFailure.Violation(
                    type=v.type, subject=v.subject, description=v.description
                )
                for v in error.violations
            ]
        )
        return status_pb2.Status(
            code=code_pb2.FAILED_PRECONDITION, message=error.message, details=[_pack(failure)]
        )
    if isinstance(error, AlreadyExists):
        info = error_details_pb2.ErrorInfo(
            reason=error.reason, domain=DOMAIN, metadata=error.metadata
        )
        resource = error_details_pb2.ResourceInfo(
            resource_type=error.resource_type, resource_name=error.resource_name
        )
        return status_pb2.Status(
            code=code_pb2.ALREADY_EXISTS,
            message=error.message,
            details=[_pack(info), _pack(resource)],
        )
    if isinstance(error, DeadlineExceeded):
        return status_pb2.Status(code=code_pb2.DEADLINE_EXCEEDED, message=error.message)
    if isinstance(error, Unavailable):
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromSeconds(1)
        return status_pb2.Status(
            code=code_pb2.UNAVAILABLE, message=error.message, details=[_pack(retry)]
        )
    if isinstance(error, Unauthenticated):
        return status_pb2.Status(code=code_pb2.UNAUTHENTICATED, message=error.message)
    if isinstance(error, PermissionDenied):
        denied = error_details_pb2.ErrorInfo(
            reason=error.reason, domain=DOMAIN, metadata=error.metadata
        )
        return status_pb2.Status(
            code=code_pb2.PERMISSION_DENIED, message=error.message, details=[_pack(denied)]
        )
    if isinstance(error, ResourceExhausted):
        retry = error_details_pb2.RetryInfo()
        retry.retry_delay.FromMilliseconds(max(1, int(error.retry_after_seconds * 1000)))
        return status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED, message=error.message, details=[_pack(retry)]
        )
    if isinstance(error, MessageTooLarge):
        info = error_details_pb2.ErrorInfo(
            reason="MESSAGE_TOO_LARGE",
            domain=DOMAIN,
            metadata={"size": str(error.size), "limit": str(error.limit)},
        )
        return status_pb2.Status(
            code=code_pb2.RESOURCE_EXHAUSTED, message=error.message, details=[_pack(info)]
        )
    log.error("unmapped domain error %s", type(error).__name__)
    return status_pb2.Status(code=code_pb2.INTERNAL, message="internal error")


def abort_with(context: grpc.ServicerContext, error: PantauError) -> NoReturn:
    context.abort_with_status(rpc_status.to_status(to_status(error)))
    raise AssertionError("abort_with_status returned")  # pragma: no cover
