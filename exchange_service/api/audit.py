"""The gRPC server interceptor that gives the audit trail exactly one event per Pantau RPC.

It must be the outermost interceptor, so that it sees every call with the
status the client gets: denied calls (identity, permission, purpose, rate),
invalid ones and failures alike. For each call under ``/pantau.`` it

* creates the call's ``CallRecord`` and publishes it in ``current_call``,
  where the access interceptor fills in agency, officer and purpose;
* digests the request bytes as received (sha256; for a client stream, of each
  message's 4-byte big-endian length followed by its bytes, in order);
* collects the ids of the persons the call touched from the request and the
  response (see ``collect_person_ids``);
* records once, when the call ends, with the final status code name.

Only methods under ``/pantau.`` are recorded: health checks and reflection
carry no personal data and would drown the trail. A call to an unknown
``/pantau.`` method is recorded as UNIMPLEMENTED; a request that cannot be
parsed is recorded as INTERNAL with the digest of its bytes. A unary call
whose request never arrived (the client went away first) has no record: no
handler ran and nothing was disclosed.

When the audit log cannot keep up with or reach the database
(``AuditLog.accepting`` is False) calls are refused with UNAVAILABLE, and that
refusal is recorded too. If a record cannot be appended at all (the log is
closed), the call fails instead of answering unaccounted for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from exchange_service.api.errors import abort_with
from exchange_service.api.interceptors import Behaviour, wrap_handler
from exchange_service.audit.log import AuditLog
from exchange_service.domain.audit import EMPTY_DIGEST, Actor, AuditEvent
from exchange_service.domain.call import CallRecord, current_call
from exchange_service.domain.errors import Unavailable

AUDITED_PREFIX = "/pantau."
PERSON_TYPE = "pantau.v1.Person"
# Longer values (never valid ids) are recorded as "sha256:<hex of the value>".
MAX_ID_CHARS = 100

Deserializer = Callable[[bytes], Any]


# --- person ids -------------------------------------------------------------------

_ID, _IDS, _MESSAGE, _MESSAGES, _MAP = range(5)
# Per message type: (field name, kind, full name of the nested type or "").
_Plan = tuple[tuple[str, int, str], ...]
_plans: dict[str, _Plan] = {}


def _plan(descriptor: Any, visiting: frozenset[str] = frozenset()) -> _Plan:
    """Which fields of a message type can hold person ids, directly or nested.

    ``descriptor`` is a protobuf message Descriptor (upb or pure Python).
    """
    cached = _plans.get(descriptor.full_name)
    if cached is not None:
        return cached
    inside = visiting | {descriptor.full_name}

    def reaches(sub: Any) -> bool:
        # A recursive type is walked (conservative); others only if they can hold ids.
        return sub.full_name in inside or bool(_plan(sub, inside))

    steps: list[tuple[str, int, str]] = []
    for f in descriptor.fields:
        sub = f.message_type
        if f.type == FieldDescriptor.TYPE_STRING:
            if f.name == "person_id" or (f.name == "id" and descriptor.full_name == PERSON_TYPE):
                steps.append((f.name, _IDS if f.is_repeated else _ID, ""))
        elif sub is None:
            continue
        elif sub.GetOptions().map_entry:
            value = sub.fields_by_name["value"].message_type
            if value is not None and reaches(value):
                steps.append((f.name, _MAP, value.full_name))
        elif reaches(sub):
            steps.append((f.name, _MESSAGES if f.is_repeated else _MESSAGE, sub.full_name))
    plan = tuple(steps)
    _plans[descriptor.full_name] = plan
    return plan


def _id(value: str) -> str:
    if len(value) <= MAX_ID_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def collect_person_ids(message: Any, into: set[str]) -> None:
    """Adds to ``into`` every person id in the message, however deeply nested.

    A person id is a non-empty string field named ``person_id`` (singular or
    repeated) in any message, or the ``id`` of a ``pantau.v1.Person``; nested,
    repeated and map-valued messages are searched. Driven by descriptors, so a
    new RPC or field needs no change here. Not a protobuf message: nothing.
    """
    if isinstance(message, Message):
        _walk(message, _plan(message.DESCRIPTOR), into)


def _walk(message: Any, plan: _Plan, into: set[str]) -> None:
    for name, kind, sub in plan:
        if kind == _ID:
            value = getattr(message, name)
            if value:
                into.add(_id(value))
        elif kind == _IDS:
            into.update(_id(v) for v in getattr(message, name) if v)
        elif kind == _MESSAGE:
            if message.HasField(name):
                _walk(getattr(message, name), _plans[sub], into)
        else:
            items = getattr(message, name)
            sub_plan = _plans[sub]
            for item in items if kind == _MESSAGES else items.values():
                _walk(item, sub_plan, into)


# --- the interceptor ---------------------------------------------------------------


def call_event(call: CallRecord, person_ids: Iterable[str], status: str, digest: str) -> AuditEvent:
    """The audit event of one call: the agency and officer, the method, its final status."""
    return AuditEvent(
        actor=Actor.agency(call.agency_id, call.agency_kind, call.officer),
        action=call.method,
        outcome=status,
        purpose=call.purpose,
        person_ids=person_ids,
        request_digest=digest,
    )


@dataclass(frozen=True)
class _Handler:
    """A method handler with another request deserializer; what ``wrap_handler`` reads."""

    request_streaming: bool
    response_streaming: bool
    request_deserializer: Deserializer | None
    response_serializer: Callable[[Any], bytes] | None
    unary_unary: Behaviour | None
    unary_stream: Behaviour | None
    stream_unary: Behaviour | None
    stream_stream: Behaviour | None


class _Call:
    """What the audit knows about one call while it runs."""

    __slots__ = ("digest", "failed", "hasher", "record")

    def __init__(self, method: str, streaming: bool) -> None:
        self.record = CallRecord(method=method)
        self.digest = EMPTY_DIGEST
        self.hasher = hashlib.sha256() if streaming else None
        # The request could not be parsed: gRPC answers INTERNAL.
        self.failed = False

    def request_digest(self) -> str:
        return self.digest if self.hasher is None else self.hasher.hexdigest()

    def event(self, ids: set[str], status: str) -> AuditEvent:
        """The audit event: the persons in its messages and those its use cases noted."""
        return call_event(self.record, ids | self.record.person_ids, status, self.request_digest())


def _status(context: grpc.ServicerContext, call: _Call, *, raised: bool) -> str:
    """The status name the client gets (or got), as far as the server can tell."""
    if call.failed:
        return "INTERNAL"
    code = context.code()
    if code is not None:
        return str(getattr(code, "name", code))
    if not context.is_active():
        remaining = context.time_remaining()
        return "DEADLINE_EXCEEDED" if remaining is not None and remaining <= 0 else "CANCELLED"
    return "UNKNOWN" if raised else "OK"


def _collecting(requests: Iterable[Any], ids: set[str]) -> Iterator[Any]:
    for request in requests:
        collect_person_ids(request, ids)
        yield request


class AuditInterceptor(grpc.ServerInterceptor):  # type: ignore[misc]
    """Records every Pantau RPC once in the audit log; must be the outermost interceptor."""

    def __init__(self, audit_log: AuditLog, *, prefix: str = AUDITED_PREFIX) -> None:
        self._log = audit_log
        self._prefix = prefix

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        if not method.startswith(self._prefix):
            return continuation(handler_call_details)
        handler = continuation(handler_call_details)
        if handler is None:
            self._log.record(
                call_event(CallRecord(method=method), (), "UNIMPLEMENTED", EMPTY_DIGEST)
            )
            return None
        call = _Call(method, streaming=bool(handler.request_streaming))
        swapped = _Handler(
            request_streaming=bool(handler.request_streaming),
            response_streaming=bool(handler.response_streaming),
            request_deserializer=self._deserializer(call, handler.request_deserializer),
            response_serializer=handler.response_serializer,
            unary_unary=handler.unary_unary,
            unary_stream=handler.unary_stream,
            stream_unary=handler.stream_unary,
            stream_stream=handler.stream_stream,
        )

        def wrapper(behaviour: Behaviour, _details: grpc.HandlerCallDetails) -> Behaviour:
            if swapped.response_streaming:
                return self._streaming_responses(behaviour, call, swapped.request_streaming)
            return self._unary_response(behaviour, call, swapped.request_streaming)

        return wrap_handler(swapped, handler_call_details, wrapper)

    def _deserializer(self, call: _Call, inner: Deserializer | None) -> Deserializer:
        """Digests the bytes as received, then parses them as the handler would.

        Runs on gRPC's polling thread, before the behaviour; a unary request
        that cannot be parsed never reaches the behaviour, so it is recorded here.
        """
        audit_log = self._log
        hasher = call.hasher

        def deserialize(data: bytes) -> Any:
            if hasher is None:
                call.digest = hashlib.sha256(data).hexdigest()
            else:
                hasher.update(len(data).to_bytes(4, "big"))
                hasher.update(data)
            try:
                return data if inner is None else inner(data)
            except Exception:
                call.failed = True
                if hasher is None:
                    audit_log.record(call_event(call.record, (), "INTERNAL", call.digest))
                raise

        return deserialize

    def _refuse_if_unaccountable(self, context: grpc.ServicerContext) -> None:
        if not self._log.accepting:
            abort_with(
                context,
                Unavailable("the audit trail cannot be written at the moment; try again later"),
            )

    def _unary_response(self, behaviour: Behaviour, call: _Call, streaming: bool) -> Behaviour:
        audit_log = self._log

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            token = current_call.set(call.record)
            ids: set[str] = set()
            raised = True
            try:
                self._refuse_if_unaccountable(context)
                if streaming:
                    request = _collecting(request, ids)
                else:
                    collect_person_ids(request, ids)
                response = behaviour(request, context)
                collect_person_ids(response, ids)
                raised = False
                return response
            finally:
                current_call.reset(token)
                status = _status(context, call, raised=raised)
                audit_log.record(call.event(ids, status))

        return handle

    def _streaming_responses(self, behaviour: Behaviour, call: _Call, streaming: bool) -> Behaviour:
        audit_log = self._log

        def handle(request: Any, context: grpc.ServicerContext) -> Any:
            # gRPC runs each call in a context of its own, so current_call
            # stays set while the responses are produced and needs no reset.
            current_call.set(call.record)
            ids: set[str] = set()
            try:
                self._refuse_if_unaccountable(context)
                if streaming:
                    request = _collecting(request, ids)
                else:
                    collect_person_ids(request, ids)
                responses = behaviour(request, context)
            except BaseException:
                audit_log.record(call.event(ids, _status(context, call, raised=True)))
                raise
            return _recorded_stream(responses, context, call, ids, audit_log)

        return handle


def _recorded_stream(
    responses: Iterable[Any],
    context: grpc.ServicerContext,
    call: _Call,
    ids: set[str],
    audit_log: AuditLog,
) -> Iterator[Any]:
    """Yields the responses, collecting ids; records once when the stream ends or is dropped."""
    raised = True
    try:
        for response in responses:
            collect_person_ids(response, ids)
            yield response
        raised = False
    finally:
        audit_log.record(call.event(ids, _status(context, call, raised=raised)))
