"""The server's edge: every Pantau call enters here, on the event loop, before any worker.

The server is ``grpc.aio``'s. A call holds no worker thread until there is
work for it: the edge reads the request on the event loop, with a bound on how
long it may wait for it, and only then runs the synchronous servicer (and the
use cases and storage beneath it) on the worker pool. So a client that never
sends its message, or keeps a stream idle, costs that client a coroutine and
the slot it holds, not the server's workers.

Per call, in order, on the loop:

1. the call's record is created and published (``current_call``);
2. the agency is identified from the client certificate (``Access.identify``);
3. the agency's slot is taken: at most ``agency_max_calls`` calls in flight per
   agency, waiting ones included; the excess is refused RESOURCE_EXHAUSTED with
   RetryInfo;
4. the agency's rate is taken (denied calls count too, so refusals cannot flood
   the trail), then the permission, officer and purpose are checked;
5. the request is read: within ``request_wait_seconds`` for a unary request,
   at most ``stream_idle_seconds`` between messages of a stream; bytes that do
   not parse are INVALID_ARGUMENT naming the message type, logged in one line;
6. the servicer runs on a worker, at most ``agency_max_running`` of one
   agency's calls at once (the others wait their turn on the loop), with the
   call's context variables (call, agency, deadline) copied to it; an
   asynchronous servicer method (GetPerson, on ``storage/async_reads.py``)
   is awaited on the loop instead;
7. the outcome becomes the status the client gets: domain errors through the
   one table of ``api/errors.py``; anything else is INTERNAL with a generic
   message and an error id, the traceback only in the log;
8. the audit trail gets exactly one event, with that status, whatever happened:
   refusals, timeouts, unparseable requests, the client's cancellation or
   deadline (told apart by the time remaining).

A client stream (a lodging import) is read on the loop in chunks of the
messages that have arrived; each chunk is handed to the servicer's
:class:`ClientStream` on a worker, so an import is processed as it arrives and
a trickling client holds a worker only while its chunk is being recorded.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
import time
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from typing import Any, NoReturn, Protocol

import grpc
from grpc_status import rpc_status

from exchange_service.api.access import officer_and_purpose
from exchange_service.api.audit import AuditedCall, CallAudit
from exchange_service.api.errors import to_status
from exchange_service.domain.agencies import Agency
from exchange_service.domain.call import CallRecord, current_agency, current_call
from exchange_service.domain.deadlines import current_deadline
from exchange_service.domain.errors import (
    DeadlineExceeded,
    FieldViolation,
    InvalidInput,
    MessageTooLarge,
    PantauError,
    ResourceExhausted,
    Unavailable,
)

log = logging.getLogger(__name__)

# Messages of a client stream handed to a worker at once, at most.
STREAM_CHUNK = 256
# The transport takes messages up to this many times the cap, so that the edge
# answers (and audits) one over the cap itself; beyond it gRPC refuses it.
TRANSPORT_FACTOR = 4


@dataclass(frozen=True)
class EdgeLimits:
    """What one call, and one agency, may hold of the server (settings)."""

    # From the call's start to its request message (unary requests).
    request_wait_seconds: float
    # Between two messages of a client stream, and to its first.
    stream_idle_seconds: float
    # Calls of one agency in flight at once, waiting ones included.
    agency_max_calls: int
    # Calls of one agency on worker threads at once.
    agency_max_running: int
    # The deadline a call without one gets, and the cap on any other.
    default_deadline_seconds: float
    # One request message, at most (the transport refuses outright what is
    # over TRANSPORT_FACTOR times this, before the edge sees it).
    max_message_bytes: int
    # Open server streams (feed subscriptions) of one agency: apart from its
    # calls, so that they never take the slots of its other calls.
    agency_max_subscriptions: int = 500
    # A server stream's client must take each message within this long.
    stream_write_seconds: float = 60.0


class Access(Protocol):
    """Who is calling and whether they may: ``api/access.py``."""

    def identify(self, auth: Mapping[str, Any], headers: Mapping[str, str]) -> Agency: ...

    def authorize(self, method: str, agency: Agency, metadata: dict[str, str]) -> None: ...

    def take_rate(self, agency: Agency) -> None: ...


@dataclass(frozen=True)
class Unreadable:
    """A message of a client stream that the edge could not read, and why."""

    reason: str


class ClientStream(Protocol):
    """A servicer's handling of one client stream, fed in chunks on worker threads."""

    def take(self, messages: Sequence[Any | Unreadable]) -> bool:
        """Processes these messages, in order; False: read no more."""

    def finish(self) -> Any:
        """The response, once the stream has ended or ``take`` wanted no more."""


class Aborted(Exception):
    """A synchronous handler called ``context.abort``: the status to send."""

    def __init__(self, code: grpc.StatusCode, details: str, trailing: tuple[Any, ...]) -> None:
        super().__init__(details)
        self.code = code
        self.details = details
        self.trailing = trailing


class _EndedByGrpc(Exception):
    """gRPC ended the call before the edge could answer; the call's status says how."""


class WorkerContext:
    """What a synchronous servicer sees as its ``grpc.ServicerContext``, on a worker thread.

    It reads what the edge already has (metadata, certificate, deadline) and
    never calls into the event loop: ``abort`` raises :class:`Aborted` for the
    edge to send.
    """

    __slots__ = ("_auth", "_context", "_metadata")

    def __init__(self, context: Any, metadata: tuple[Any, ...], auth: dict[str, Any]) -> None:
        self._context = context
        self._metadata = metadata
        self._auth = auth

    def invocation_metadata(self) -> tuple[Any, ...]:
        return self._metadata

    def auth_context(self) -> dict[str, Any]:
        return self._auth

    def time_remaining(self) -> float | None:
        remaining: float | None = self._context.time_remaining()
        return remaining

    def is_active(self) -> bool:
        return not bool(self._context.done())

    def peer(self) -> str:
        return str(self._context.peer())

    def abort(self, code: grpc.StatusCode, details: str = "", trailing: Any = ()) -> NoReturn:
        raise Aborted(code, details, tuple(trailing or ()))

    def abort_with_status(self, status: Any) -> NoReturn:
        self.abort(status.code, status.details, status.trailing_metadata)


@dataclass
class _AgencySlots:
    """Calls in flight and on workers per agency; used on the event loop only."""

    max_calls: int
    max_running: int
    calls: dict[str, int] = field(default_factory=dict)
    running: dict[str, asyncio.Semaphore] = field(default_factory=dict)

    def enter(self, agency_id: str) -> bool:
        held = self.calls.get(agency_id, 0)
        if held >= self.max_calls:
            return False
        self.calls[agency_id] = held + 1
        return True

    def leave(self, agency_id: str) -> None:
        self.calls[agency_id] -= 1

    def workers(self, agency_id: str) -> asyncio.Semaphore:
        semaphore = self.running.get(agency_id)
        if semaphore is None:
            semaphore = self.running[agency_id] = asyncio.Semaphore(self.max_running)
        return semaphore


def _metadata_dict(metadata: tuple[Any, ...]) -> dict[str, str]:
    return {key: value for key, value in metadata if isinstance(value, str)}


def _unparseable(type_name: str) -> InvalidInput:
    return InvalidInput([FieldViolation("request", f"is not a valid {type_name} message")])


class _Call:
    """One call as the edge serves it: what it knows, and the status the client gets."""

    __slots__ = (
        "agency",
        "audit",
        "auth",
        "context",
        "headers",
        "metadata",
        "method",
        "open_service",
        "record",
        "requests_ended",
        "status",
        "subscription",
        "worker_context",
    )

    def __init__(
        self,
        method: str,
        context: Any,
        audit: Any,
        *,
        open_service: bool,
        subscription: bool = False,
    ) -> None:
        self.method = method
        # A server stream: holds a subscription slot of its agency, not a call slot.
        self.subscription = subscription
        self.context = context
        self.record = CallRecord(method=method)
        self.audit: AuditedCall | None = None if audit is None else audit.start(self.record)
        self.open_service = open_service
        self.agency: Agency | None = None
        self.metadata: tuple[Any, ...] = ()
        self.headers: dict[str, str] = {}
        self.auth: dict[str, Any] = {}
        self.worker_context: WorkerContext | None = None
        self.status = "UNKNOWN"
        # A unary call's requests ended with no message: when gRPC ended the
        # call itself after that, it most likely refused one over its limit.
        self.requests_ended = False

    @property
    def identified(self) -> Agency:
        if self.agency is None:  # pragma: no cover: every work runs after identification
            raise RuntimeError("the call's agency is not identified yet")
        return self.agency

    def ended_by_grpc(self) -> str:
        """The status of a call gRPC had ended when the edge came to answer it.

        The deadline; else, for a unary call whose request never arrived whole,
        a message over the transport's limit (gRPC refuses one by ending the
        requests and the call); else the client. The server cannot tell a
        client's cancellation from gRPC's refusal: a unary call is most likely
        the refusal, a stream (an import under way) the client.
        """
        remaining = self.context.time_remaining()
        if remaining is not None and remaining <= 0:
            return "DEADLINE_EXCEEDED"
        if self.requests_ended:
            return "RESOURCE_EXHAUSTED"
        return "CANCELLED"

    async def send_status(self, code: grpc.StatusCode, details: str, trailing: Any) -> None:
        """Ends the call with this status, or notes the status gRPC ended it with already.

        The call is recorded before its client can see the status, as an
        answered one is (so a client that reads the trail next finds it),
        except when no request arrived: then gRPC may have ended the call
        already, and only the failed send tells.
        """
        self.status = code.name
        if self.audit is not None and not self.requests_ended:
            self.audit.finish(self.status)
        try:
            await self.context.abort(code, details, tuple(trailing))
        except grpc.aio.AbortError:
            raise
        except Exception:  # the call is over: gRPC's batch failed
            self.status = self.ended_by_grpc()


Work = Callable[[_Call], Awaitable[Any]]


class Edge:
    """Builds the asynchronous handler of each Pantau method around its synchronous servicer."""

    def __init__(
        self,
        access: Access,
        audit: CallAudit | None,
        limits: EdgeLimits,
        workers: Executor,
    ) -> None:
        self._access = access
        self._audit = audit
        self._limits = limits
        self._workers = workers
        self._slots = _AgencySlots(limits.agency_max_calls, limits.agency_max_running)
        # Open subscriptions per agency (their running count is unused: they hold no worker).
        self._subscriptions = _AgencySlots(limits.agency_max_subscriptions, 1)

    # --- handlers -------------------------------------------------------------------

    def unary(
        self,
        method: str,
        behaviour: Callable[[Any, Any], Any],
        request_type: Any,
        response_serializer: Callable[[Any], bytes],
    ) -> grpc.RpcMethodHandler:
        """A unary method: its request read on the loop, ``behaviour`` run on a worker.

        An asynchronous ``behaviour`` (a coroutine function) is awaited on the
        loop instead, with the same context: it must not block.
        """
        work = self._unary_work(
            behaviour, request_type.FromString, request_type.DESCRIPTOR.full_name
        )

        async def serve(_requests: Any, context: Any) -> Any:
            return await self._serve(_Call(method, context, self._audit, open_service=False), work)

        # Registered as a client stream: the wire is the same, and the edge
        # decides how long to wait for the one message and how to parse it.
        return grpc.stream_unary_rpc_method_handler(
            serve, request_deserializer=None, response_serializer=response_serializer
        )

    def client_stream(
        self,
        method: str,
        open_stream: Callable[[], ClientStream],
        request_type: Any,
        response_serializer: Callable[[Any], bytes],
    ) -> grpc.RpcMethodHandler:
        """A client-streaming method: chunks of arrived messages handed to a worker."""
        work = self._stream_work(
            open_stream, request_type.FromString, request_type.DESCRIPTOR.full_name
        )

        async def serve(_requests: Any, context: Any) -> None:
            await self._serve(_Call(method, context, self._audit, open_service=False), work)

        # Registered as a bidirectional stream (the same on the wire) so that the
        # edge writes the one response itself and knows whether it left.
        return grpc.stream_stream_rpc_method_handler(
            serve, request_deserializer=None, response_serializer=response_serializer
        )

    def server_stream(
        self,
        method: str,
        behaviour: Callable[[Any, Any], AsyncGenerator[Any, None]],
        request_type: Any,
        response_serializer: Callable[[Any], bytes],
    ) -> grpc.RpcMethodHandler:
        """A server-streaming method (a feed subscription), wholly on the loop.

        Its request is read and parsed as a unary call's; ``behaviour`` is an
        asynchronous generator, each response written with a bound on how long
        the client may leave it untaken (``stream_write_seconds``). The call
        holds one of the agency's subscription slots, never a call slot or a
        worker, so open subscriptions cannot use up the server's capacity.
        """
        parse = request_type.FromString
        type_name = request_type.DESCRIPTOR.full_name
        wait = self._limits.request_wait_seconds
        write_bound = self._limits.stream_write_seconds

        async def work(call: _Call) -> None:
            raw = await _read(
                call.context, wait, "the request message (setting request_wait_seconds)"
            )
            if raw is None:
                call.requests_ended = True
                raise InvalidInput([FieldViolation("request", "no request message was sent")])
            if call.audit is not None:
                call.audit.digest_unary(raw)
            try:
                request = parse(raw)
            except Exception:
                raise _unparseable(type_name) from None
            self._authorize(call)
            responses = behaviour(request, call.worker_context)
            try:
                async for response in responses:
                    try:
                        async with asyncio.timeout(write_bound):
                            await call.context.write(response)
                    except TimeoutError:
                        raise ResourceExhausted(
                            f"the subscriber took no message for {write_bound:g} s"
                            " (setting feed_write_seconds); subscribe again from the last"
                            " sequence received",
                            retry_after_seconds=1.0,
                        ) from None
                    except (asyncio.CancelledError, PantauError):
                        raise
                    except Exception as error:  # gRPC had ended the call
                        call.status = call.ended_by_grpc()
                        raise _EndedByGrpc from error
            finally:
                await responses.aclose()

        async def serve(_requests: Any, context: Any) -> None:
            await self._serve(
                _Call(method, context, self._audit, open_service=False, subscription=True), work
            )

        return grpc.stream_stream_rpc_method_handler(
            serve, request_deserializer=None, response_serializer=response_serializer
        )

    def open(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        """An open service's asynchronous handler (health, reflection), behind the same bounds.

        Any identified agency may call it, without officer, purpose or rate, and
        it is not audited; it holds the agency's slot while it runs, and its
        requests are read with the same bounds on waiting.
        """
        parse = handler.request_deserializer
        wait = self._limits.request_wait_seconds
        idle = self._limits.stream_idle_seconds

        async def one(call: _Call) -> Any:
            raw = await _read(
                call.context, wait, "the request message (setting request_wait_seconds)"
            )
            if raw is None:
                raise InvalidInput([FieldViolation("request", "no request message was sent")])
            request = _parse_or_refuse(parse, raw, method)
            self._authorize(call)
            return request

        async def requests_of(context: Any) -> Any:
            while True:
                raw = await _read(context, idle, "the next message (setting stream_idle_seconds)")
                if raw is None:
                    return
                yield _parse_or_refuse(parse, raw, method)

        async def work_unary(call: _Call) -> Any:
            return await handler.unary_unary(await one(call), call.context)

        async def work_watch(call: _Call) -> None:  # the servicer writes through the context
            await handler.unary_stream(await one(call), call.context)

        async def work_stream(call: _Call) -> None:
            self._authorize(call)
            async for response in handler.stream_stream(requests_of(call.context), call.context):
                await call.context.write(response)

        def serving(work: Work) -> Callable[[Any, Any], Awaitable[Any]]:
            async def serve(_requests: Any, context: Any) -> Any:
                return await self._serve(_Call(method, context, None, open_service=True), work)

            return serve

        serialize = handler.response_serializer
        if handler.unary_unary is not None:
            return grpc.stream_unary_rpc_method_handler(
                serving(work_unary), request_deserializer=None, response_serializer=serialize
            )
        return grpc.stream_stream_rpc_method_handler(
            serving(work_watch if handler.unary_stream is not None else work_stream),
            request_deserializer=None,
            response_serializer=serialize,
        )

    # --- one call -------------------------------------------------------------------

    async def _serve(self, call: _Call, work: Work) -> Any:
        current_call.set(call.record)  # each call runs in a task, and a context, of its own
        entered = False
        try:
            self._admit(call)
            entered = True
            response = await work(call)
            call.status = "OK"
            return response
        except _EndedByGrpc:
            pass  # the status is noted
        except _Refused as refused:
            await call.send_status(*to_status_parts(refused.error))
        except PantauError as error:
            await call.send_status(*to_status_parts(error))
        except Aborted as aborted:
            await call.send_status(aborted.code, aborted.details, aborted.trailing)
        except asyncio.CancelledError:  # gRPC ended the call: the client or its deadline
            remaining = call.context.time_remaining()
            timed_out = remaining is not None and remaining <= 0
            call.status = "DEADLINE_EXCEEDED" if timed_out else "CANCELLED"
            raise
        except Exception:
            error_id = uuid.uuid4().hex[:12]
            log.exception("internal error %s serving %s", error_id, call.method)
            await call.send_status(
                grpc.StatusCode.INTERNAL,
                f"internal error; the Pantau operators find it under error id {error_id}",
                (),
            )
        finally:
            if entered:
                self._slots_of(call).leave(call.identified.id)
            if call.audit is not None:
                call.audit.finish(call.status)
        return None

    def _admit(self, call: _Call) -> None:
        """Identifies the agency, takes its slot and (Pantau methods) its rate; raises _Refused."""
        try:
            if call.audit is not None and not call.audit.accepting():
                raise Unavailable(
                    "the audit trail cannot be written at the moment; try again later"
                )
            call.metadata = tuple(call.context.invocation_metadata())
            call.headers = _metadata_dict(call.metadata)
            call.auth = call.context.auth_context()
            agency = call.agency = self._access.identify(call.auth, call.headers)
            call.record.agency_id, call.record.agency_kind = agency.id, agency.kind.value
            if not call.open_service:  # recorded whether or not the call is refused
                call.record.officer, call.record.purpose = officer_and_purpose(call.headers)
            if call.subscription:
                if not self._subscriptions.enter(agency.id):
                    raise ResourceExhausted(
                        f"agency {agency.id} has {self._limits.agency_max_subscriptions}"
                        " subscriptions open, the most it may (setting agency_max_subscriptions)",
                        retry_after_seconds=5.0,
                    )
            elif not self._slots.enter(agency.id):
                raise ResourceExhausted(
                    f"agency {agency.id} has {self._limits.agency_max_calls} calls in flight,"
                    " the most it may (setting agency_max_calls)",
                    retry_after_seconds=1.0,
                )
        except PantauError as error:
            raise _Refused(error) from None
        try:
            if not call.open_service:
                self._access.take_rate(agency)
        except PantauError as error:
            self._slots_of(call).leave(agency.id)
            raise _Refused(error) from None
        call.worker_context = WorkerContext(call.context, call.metadata, call.auth)

    def _slots_of(self, call: _Call) -> _AgencySlots:
        return self._subscriptions if call.subscription else self._slots

    def _authorize(self, call: _Call) -> None:
        """The permission, officer and purpose (Pantau methods); the call's agency from here on."""
        agency = call.identified
        if not call.open_service:
            self._access.authorize(call.method, agency, call.headers)
        current_agency.set(agency)

    def _deadline(self, context: Any) -> float:
        remaining = context.time_remaining()
        default = self._limits.default_deadline_seconds
        if remaining is None or remaining > default:
            remaining = default
        if remaining <= 0:
            raise DeadlineExceeded("the deadline passed before the call was served")
        return time.monotonic() + float(remaining)

    async def _on_worker(self, call: _Call, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs ``fn(*args)`` on a worker within the agency's share, with the call's context."""
        async with self._slots.workers(call.identified.id):
            current_deadline.set(self._deadline(call.context))
            copied = contextvars.copy_context()
            return await asyncio.get_running_loop().run_in_executor(
                self._workers, copied.run, fn, *args
            )

    def _unary_work(
        self, behaviour: Callable[[Any, Any], Any], parse: Callable[[bytes], Any], type_name: str
    ) -> Work:
        wait = self._limits.request_wait_seconds
        cap = self._limits.max_message_bytes
        on_loop = inspect.iscoroutinefunction(behaviour)

        async def work(call: _Call) -> Any:
            # Read first, so that a refused call's record names the persons it was about.
            raw = await _read(
                call.context, wait, "the request message (setting request_wait_seconds)"
            )
            if raw is None:
                call.requests_ended = True
                raise InvalidInput([FieldViolation("request", "no request message was sent")])
            if call.audit is not None:
                call.audit.digest_unary(raw)
            if len(raw) > cap:
                raise MessageTooLarge(len(raw), cap)
            try:
                request = parse(raw)
            except Exception:  # protobuf's DecodeError, or anything a malformed message raises
                log.warning(
                    "unparseable %s from agency %s (%d bytes)",
                    type_name,
                    call.identified.id,
                    len(raw),
                )
                raise _unparseable(type_name) from None
            if call.audit is not None:
                call.audit.note(request)
            self._authorize(call)
            if on_loop:  # asynchronous: awaited here, no worker
                current_deadline.set(self._deadline(call.context))
                response = await behaviour(request, call.worker_context)
                if call.audit is not None:
                    call.audit.note(response)
                return response
            return await self._on_worker(
                call, _run_unary, behaviour, request, call.worker_context, call.audit
            )

        return work

    def _stream_work(
        self, open_stream: Callable[[], ClientStream], parse: Callable[[bytes], Any], type_name: str
    ) -> Work:
        idle = self._limits.stream_idle_seconds
        cap = self._limits.max_message_bytes

        def readable(raw: bytes, audit: AuditedCall | None) -> Any:
            if audit is not None:
                audit.digest_message(raw)
            if len(raw) > cap:
                return Unreadable(MessageTooLarge(len(raw), cap).message)
            try:
                return parse(raw)
            except Exception:  # kept as a rejection of that message
                return Unreadable(f"is not a valid {type_name} message")

        async def work(call: _Call) -> None:
            self._authorize(call)
            stream = open_stream()
            # The reader keeps reading while a worker records the chunk before,
            # so the next chunk is whatever arrived meanwhile.
            arrived: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=2 * STREAM_CHUNK)
            reader = asyncio.ensure_future(_read_into(call, arrived))
            unparseable = 0
            try:
                ended = False
                while not ended:
                    raws = await _next_chunk(arrived, idle)
                    ended = raws[-1] is None
                    chunk = [readable(raw, call.audit) for raw in raws if raw is not None]
                    unparseable += sum(isinstance(m, Unreadable) for m in chunk)
                    if chunk and not await self._on_worker(
                        call, _run_chunk, stream, chunk, call.audit
                    ):
                        break
            finally:
                reader.cancel()
            if unparseable:
                log.warning(
                    "%d unreadable %s messages from agency %s",
                    unparseable,
                    type_name,
                    call.identified.id,
                )
            response = await self._on_worker(call, _run_finish, stream, call.audit)
            try:
                await call.context.write(response)
            except Exception as error:  # gRPC had ended the call: the client saw its status
                call.status = call.ended_by_grpc()
                raise _EndedByGrpc from error

        return work


class _Refused(Exception):
    """The call is refused before any work (identity, slot, rate, audit)."""

    def __init__(self, error: PantauError) -> None:
        super().__init__(error.message)
        self.error = error


async def _next_chunk(arrived: asyncio.Queue[bytes | None], idle: float) -> list[bytes | None]:
    """The messages that have arrived (at least one, or the end as None), at most a chunk."""
    try:
        first = await asyncio.wait_for(arrived.get(), idle)
    except TimeoutError:
        raise DeadlineExceeded(
            f"the stream's next message did not arrive within {idle:g} s"
            " (setting stream_idle_seconds)"
        ) from None
    raws = [first]
    while raws[-1] is not None and len(raws) < STREAM_CHUNK and not arrived.empty():
        raws.append(arrived.get_nowait())
    return raws


async def _read(context: Any, wait: float, what: str) -> bytes | None:
    """The next request message, None at the end; DeadlineExceeded after ``wait`` seconds."""
    try:
        async with asyncio.timeout(wait):  # no task of its own, unlike wait_for
            raw: Any = await context.read()
    except TimeoutError:
        raise DeadlineExceeded(f"{what} did not arrive within {wait:g} s") from None
    if raw is grpc.aio.EOF or raw is None:
        return None
    return bytes(raw)


async def _read_into(call: _Call, arrived: asyncio.Queue[bytes | None]) -> None:
    """Reads the stream's messages into ``arrived``; None at its end."""
    while True:
        raw: Any = await call.context.read()
        if raw is grpc.aio.EOF or raw is None:
            await arrived.put(None)
            return
        await arrived.put(bytes(raw))


def _parse_or_refuse(parse: Callable[[bytes], Any] | None, raw: bytes, method: str) -> Any:
    if parse is None:
        return raw
    try:
        return parse(raw)
    except Exception:  # protobuf's DecodeError, or anything a malformed message raises
        log.warning("unparseable request to %s (%d bytes)", method, len(raw))
        raise InvalidInput([FieldViolation("request", "is not a valid request message")]) from None


def to_status_parts(error: PantauError) -> tuple[grpc.StatusCode, str, tuple[Any, ...]]:
    """The code, message and trailing details the client gets for a domain error."""
    status = rpc_status.to_status(to_status(error))
    return status.code, status.details, tuple(status.trailing_metadata)


def _run_unary(
    behaviour: Callable[[Any, Any], Any], request: Any, context: WorkerContext, audit: Any
) -> Any:
    response = behaviour(request, context)
    if audit is not None:
        audit.note(response)
    return response


def _run_chunk(stream: ClientStream, chunk: Sequence[Any | Unreadable], audit: Any) -> bool:
    if audit is not None:
        for message in chunk:
            audit.note(message)
    return stream.take(chunk)


def _run_finish(stream: ClientStream, audit: Any) -> Any:
    response = stream.finish()
    if audit is not None:
        audit.note(response)
    return response
