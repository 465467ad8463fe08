"""``pantau bench-servers``: the echo method served by each gRPC server model, side by side.

The models are those the service could be served by (issue 11):

* ``threaded``: ``grpc.server`` over a ``ThreadPoolExecutor`` (the model of
  ``api/server.py`` and of ``make bench``'s echo server);
* ``threaded-limited``: the same with ``maximum_concurrent_rpcs`` at the
  worker count, so that a call no thread is free for is refused
  (RESOURCE_EXHAUSTED) rather than queued;
* ``aio-migration``: ``grpc.aio.server`` running the same synchronous handler
  on its ``migration_thread_pool``;
* ``aio-async``: ``grpc.aio.server`` with an ``async`` handler (fully
  asynchronous, no thread pool);
* ``aio-edge``: ``grpc.aio.server`` with an ``async`` stream-unary handler that
  reads the raw request with ``asyncio.wait_for(context.read(), timeout)``,
  then runs the synchronous handler on a ``ThreadPoolExecutor`` through
  ``loop.run_in_executor``, the context variables copied.

``run_server_models`` guarantees:

1. every model serves the same method, ``/bench.Echo/Echo`` with identity
   serialisers (``bench.echo``), in a spawned process of its own
   (``bench.servers.server_process``), over the transport ``make bench`` uses
   (mutual TLS when the settings configure it, ``bench.transports``), with
   ``grpc_workers`` threads in its pool and the settings' GIL switch interval,
   and every process is stopped whatever happens;
2. ``rounds`` rounds, each measuring every model once with the same client as
   ``make bench`` (``bench.load_client.measure``, one process keeping 8 calls
   in flight) and the same kind of request bytes (serialised GetPerson
   requests by document); the order of the models turns by one each round, so
   that none is always measured first;
3. per model: the medians over rounds of calls/s, p50 and p99, server CPU per
   call (µs, read from ``/proc``) and the ratio of its calls/s to the threaded
   model's in the same round, with the spread (least and most) over rounds;
4. the held-call check, after the rounds: with ``held_calls`` calls open on one
   channel that never send their request message, whether an echo call on
   another channel is answered within ``probe_seconds`` (and how fast), or
   how it ended (DEADLINE_EXCEEDED: it waited; RESOURCE_EXHAUSTED: refused);
5. a table on stderr and exactly one JSON line on stdout, ``{"models": {...},
   ...}``.
"""

from __future__ import annotations

import asyncio
import contextvars
import enum
import json
import statistics
import sys
import time
from collections.abc import Sequence
from concurrent import futures
from contextlib import ExitStack, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import records_pb2 as pb
from rich.console import Console
from rich.table import Table

from exchange_service.settings import Settings
from exchange_service.tools.bench import CALLS_IN_FLIGHT, CLIENT_PROCESSES, transports
from exchange_service.tools.bench.echo import ECHO_METHOD, ECHO_SERVICE, ServerTls
from exchange_service.tools.bench.load_client import (
    ClientShape,
    ClientTransport,
    Kind,
    Measurement,
    Workload,
    measure,
)
from exchange_service.tools.bench.servers import ServerProcess, server_process
from exchange_service.tools.people import PASSPORT_FORMATS, passport_number

__all__ = [
    "HELD_CALLS",
    "PROBE_SECONDS",
    "READ_TIMEOUT_SECONDS",
    "ROUNDS",
    "HeldOutcome",
    "Model",
    "ModelFigures",
    "ServerSpec",
    "echo_payloads",
    "held_call_checks",
    "run_model",
    "run_server_models",
]


class Model(enum.StrEnum):
    THREADED = "threaded"
    THREADED_LIMITED = "threaded-limited"
    AIO_MIGRATION = "aio-migration"
    AIO_ASYNC = "aio-async"
    AIO_EDGE = "aio-edge"


DESCRIPTIONS = {
    Model.THREADED: "grpc.server + ThreadPoolExecutor",
    Model.THREADED_LIMITED: "the same, maximum_concurrent_rpcs = workers",
    Model.AIO_MIGRATION: "grpc.aio, sync handler on migration_thread_pool",
    Model.AIO_ASYNC: "grpc.aio, async handler",
    Model.AIO_EDGE: "grpc.aio, read with timeout, then run_in_executor",
}

# Rounds of every model, alternately (the machine is shared and noisy: a
# model's figures are the medians over rounds, each ratio taken within one).
ROUNDS = 3
# Calls held open without their request message in the held-call check: more
# than any worker count the settings are likely to give (16 by default).
HELD_CALLS = 64
# How long the probe call of the held-call check may take.
PROBE_SECONDS = 1.0
# How long the edge model waits for a call's request message before it gives
# the call up (longer than the held-call check holds its calls).
READ_TIMEOUT_SECONDS = 10.0
# Distinct request payloads: serialised GetPerson requests by document, the
# bytes `make bench` sends both of its servers.
_PAYLOADS = 2_000
# The held calls are given this long to reach the server before the probe.
_SETTLE_SECONDS = 0.3
# How a probe may end unanswered: it waited out its deadline, or it was refused.
_UNANSWERED = frozenset({grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.RESOURCE_EXHAUSTED})


def echo_payloads(count: int = _PAYLOADS) -> tuple[bytes, ...]:
    """``count`` serialised GetPerson requests by document, over the bench's issuing states."""
    states = sorted(PASSPORT_FORMATS)
    return tuple(
        q.GetPersonRequest(
            document=pb.TravelDocument(
                issuing_state=states[i % len(states)],
                number=passport_number(states[i % len(states)], i),
            )
        ).SerializeToString()
        for i in range(count)
    )


# --- the servers ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ServerSpec:
    """What a model's server process serves with."""

    model: Model
    workers: int  # threads in the pool the handlers run on (none in the async model)
    tls: ServerTls | None  # None: plaintext
    switch_interval_seconds: float  # the GIL's, set as the Pantau server sets it
    read_timeout_seconds: float = READ_TIMEOUT_SECONDS  # the edge model's wait for a request


def _wait_for_stop(control: Connection) -> None:
    with suppress(EOFError):
        control.recv()


def _echo(request: bytes, _context: Any) -> bytes:
    return request


async def _echo_async(request: bytes, _context: Any) -> bytes:
    return request


def _edge_handler(pool: futures.ThreadPoolExecutor, read_timeout: float) -> Any:
    """The edge model's handler: the request read on the loop, the sync handler on ``pool``."""

    async def edge(_requests: Any, context: Any) -> bytes:
        try:
            request = await asyncio.wait_for(context.read(), read_timeout)
        except TimeoutError:
            request = None
        if request is None:  # context.abort raises: the call ends here
            await context.abort(
                grpc.StatusCode.DEADLINE_EXCEEDED, "the request message did not arrive in time"
            )
        if request is grpc.aio.EOF:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "no request message")
        loop = asyncio.get_running_loop()
        call_context = contextvars.copy_context()
        result: bytes = await loop.run_in_executor(pool, call_context.run, _echo, request, context)
        return result

    return grpc.stream_unary_rpc_method_handler(edge)


def _handler(model: Model, pool: futures.ThreadPoolExecutor, read_timeout: float) -> Any:
    if model is Model.AIO_EDGE:
        return _edge_handler(pool, read_timeout)
    body = _echo_async if model is Model.AIO_ASYNC else _echo
    return grpc.unary_unary_rpc_method_handler(body)


def _listen(server: Any, tls: ServerTls | None) -> int:
    address = "127.0.0.1:0"
    port = (
        server.add_insecure_port(address)
        if tls is None
        else server.add_secure_port(address, tls.credentials())
    )
    if port == 0:
        raise RuntimeError("the echo server cannot listen on 127.0.0.1")
    return int(port)


def _generic(handler: Any) -> Any:
    return grpc.method_handlers_generic_handler(ECHO_SERVICE, {"Echo": handler})


def _run_threaded(
    workers: int, tls: ServerTls | None, control: Connection, *, limited: bool
) -> None:
    pool = futures.ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-threaded")
    server = grpc.server(pool, maximum_concurrent_rpcs=workers if limited else None)
    server.add_generic_rpc_handlers((_generic(grpc.unary_unary_rpc_method_handler(_echo)),))
    port = _listen(server, tls)
    server.start()
    try:
        control.send(port)
        _wait_for_stop(control)
    finally:
        server.stop(grace=1.0).wait()


async def _serve_aio(spec: ServerSpec, control: Connection) -> None:
    model = spec.model
    pool = futures.ThreadPoolExecutor(max_workers=spec.workers, thread_name_prefix=f"bench-{model}")
    # The fully asynchronous model runs no handler on a thread; the others run
    # theirs on ``pool`` (given to grpc.aio as its migration pool, or used by the edge).
    server = grpc.aio.server(migration_thread_pool=None if model is Model.AIO_ASYNC else pool)
    server.add_generic_rpc_handlers((_generic(_handler(model, pool, spec.read_timeout_seconds)),))
    port = _listen(server, spec.tls)
    await server.start()
    try:
        control.send(port)
        # The pipe is waited on by a thread of the loop's default executor.
        await asyncio.get_running_loop().run_in_executor(None, _wait_for_stop, control)
    finally:
        await server.stop(grace=1.0)
        pool.shutdown(wait=False, cancel_futures=True)


def run_model(spec: ServerSpec, control: Connection) -> None:
    """Process body: the echo server of ``spec.model``, until the parent says stop."""
    sys.setswitchinterval(spec.switch_interval_seconds)
    if spec.model in {Model.THREADED, Model.THREADED_LIMITED}:
        limited = spec.model is Model.THREADED_LIMITED
        _run_threaded(spec.workers, spec.tls, control, limited=limited)
    else:
        asyncio.run(_serve_aio(spec, control))


# --- the held-call check -----------------------------------------------------------------


@dataclass(frozen=True)
class HeldOutcome:
    """Whether a probe call was answered while calls were held open, and in how long."""

    held: int  # calls open without their request message during the probe
    answered: bool
    probe_ms: float | None  # None when not answered
    # How the probe ended: OK, DEADLINE_EXCEEDED (it waited its deadline out)
    # or RESOURCE_EXHAUSTED (the server refused it).
    status: str


def _aio_channel(transport: ClientTransport, target: str) -> Any:
    if transport.root_ca is None:
        return grpc.aio.insecure_channel(target)
    credentials = grpc.ssl_channel_credentials(
        root_certificates=transport.root_ca,
        private_key=transport.client_key,
        certificate_chain=transport.client_cert,
    )
    return grpc.aio.secure_channel(target, credentials)


async def _held_call_check(
    target: str, transport: ClientTransport, held: int, probe_seconds: float, payload: bytes
) -> HeldOutcome:
    async with (
        _aio_channel(transport, target) as holding,
        _aio_channel(transport, target) as probing,
    ):
        # Both channels are connected (TLS handshake done) before any call.
        await asyncio.wait_for(holding.channel_ready(), 30.0)
        await asyncio.wait_for(probing.channel_ready(), 30.0)
        open_call = holding.stream_unary(ECHO_METHOD)
        calls = [open_call(metadata=transport.metadata) for _ in range(held)]
        try:
            # Each call's headers are sent; its request message never is.
            await asyncio.gather(*(call.wait_for_connection() for call in calls))
            await asyncio.sleep(_SETTLE_SECONDS)
            started = time.monotonic()
            try:
                await _probe(probing, payload, transport, probe_seconds)
            except grpc.aio.AioRpcError as error:
                if error.code() not in _UNANSWERED:
                    raise
                return HeldOutcome(held, answered=False, probe_ms=None, status=error.code().name)
            elapsed_ms = (time.monotonic() - started) * 1e3
            return HeldOutcome(held, answered=True, probe_ms=elapsed_ms, status="OK")
        finally:
            for call in calls:
                call.cancel()
            # Their ends are taken in before the channel closes, so that no
            # completion is left for a loop that is gone.
            await asyncio.gather(*calls, return_exceptions=True)


async def _probe(channel: Any, payload: bytes, transport: ClientTransport, timeout: float) -> None:
    """One echo call on ``channel`` with a ``timeout`` deadline; it must echo ``payload``."""
    answer = await channel.unary_unary(ECHO_METHOD)(
        payload, timeout=timeout, metadata=transport.metadata
    )
    if answer != payload:
        raise RuntimeError("the echo server answered with other bytes than it was sent")


async def _held_call_checks(
    targets: Sequence[str],
    transport: ClientTransport,
    held: int,
    probe_seconds: float,
    payload: bytes,
) -> tuple[HeldOutcome, ...]:
    return tuple(
        [
            await _held_call_check(target, transport, held, probe_seconds, payload)
            for target in targets
        ]
    )


def held_call_checks(
    targets: Sequence[str],
    transport: ClientTransport,
    *,
    held: int = HELD_CALLS,
    probe_seconds: float = PROBE_SECONDS,
    payload: bytes = b"held-call probe",
) -> tuple[HeldOutcome, ...]:
    """For each target in turn: with ``held`` calls open that never send their message,
    is an echo call answered?

    The held calls share one channel; the probe goes on another, both connected
    first, so the probe's ``probe_seconds`` deadline times the call alone. A
    probe that fails other than by its deadline or by a refusal
    (RESOURCE_EXHAUSTED) raises. A target's held calls are cancelled, and their
    ends taken in, before the next target's are opened; the checks share one
    event loop.
    """
    return asyncio.run(_held_call_checks(targets, transport, held, probe_seconds, payload))


# --- the benchmark ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelFigures:
    """One model's measurements, a round each, and the threaded model's ratios."""

    model: Model
    rounds: tuple[Measurement, ...]
    ratios: tuple[float, ...]  # calls/s over the threaded model's, round by round
    held: HeldOutcome

    def as_json(self) -> dict[str, Any]:
        qps = [m.qps for m in self.rounds]
        cpu = [_cpu_us(m) for m in self.rounds]
        return {
            "qps": round(statistics.median(qps), 1),
            "qps_min": round(min(qps), 1),
            "qps_max": round(max(qps), 1),
            "p50_ms": round(statistics.median(m.p50_ms for m in self.rounds), 2),
            "p99_ms": round(statistics.median(m.p99_ms for m in self.rounds), 2),
            "server_cpu_us_per_call": round(statistics.median(cpu), 1),
            "server_cpu_us_min": round(min(cpu), 1),
            "server_cpu_us_max": round(max(cpu), 1),
            "qps_ratio_to_threaded": round(statistics.median(self.ratios), 3),
            "qps_ratios": [round(r, 3) for r in self.ratios],
            "held_calls_answered": self.held.answered,
            "held_probe_ms": None if self.held.probe_ms is None else round(self.held.probe_ms, 1),
            "held_probe_status": self.held.status,
        }


def _cpu_us(measurement: Measurement) -> float:
    cpu = measurement.server_cpu_ms_per_call
    if cpu is None:
        raise RuntimeError("the server process's CPU was not observed")
    return cpu * 1000.0


def _turned(models: Sequence[Model], by: int) -> list[Model]:
    """``models`` turned left by ``by``: each round begins with the next model."""
    shift = by % len(models)
    return [*models[shift:], *models[:shift]]


def _table(figures: dict[Model, dict[str, Any]], probe_seconds: float, held: int) -> Table:
    """Medians over rounds, the spread (least-most) beside them."""
    table = Table(title="gRPC server models: echo, medians over rounds (least-most)")
    table.add_column("model")
    table.add_column("calls/s", justify="right")
    table.add_column("p50 / p99 ms", justify="right")
    table.add_column("CPU µs/call", justify="right")
    table.add_column("÷ threaded", justify="right")
    table.add_column(f"{held} held: answered in {probe_seconds:g} s?", justify="right")
    for model, f in figures.items():
        answered = f["held_probe_ms"]
        unanswered = "[red]no, waited[/]"
        if f["held_probe_status"] == "RESOURCE_EXHAUSTED":
            unanswered = "[red]no, refused[/]"
        table.add_row(
            str(model),
            f"{f['qps']:,.0f} ({f['qps_min']:,.0f}-{f['qps_max']:,.0f})",
            f"{f['p50_ms']:.2f} / {f['p99_ms']:.2f}",
            f"{f['server_cpu_us_per_call']:.0f} "
            f"({f['server_cpu_us_min']:.0f}-{f['server_cpu_us_max']:.0f})",
            f"{f['qps_ratio_to_threaded']:.2f} "
            f"({min(f['qps_ratios']):.2f}-{max(f['qps_ratios']):.2f})",
            unanswered if answered is None else f"yes, {answered:.1f} ms",
        )
    return table


def _start_all(
    stack: ExitStack, settings: Settings, tls: ServerTls | None, models: Sequence[Model]
) -> dict[Model, ServerProcess]:
    """Each model's server process, entered on ``stack`` (which stops them all).

    The processes start together (each waits for its own port): a spawned
    process spends its first seconds importing.
    """
    managers = [
        server_process(
            f"bench-{model}",
            run_model,
            ServerSpec(model, settings.grpc_workers, tls, settings.gil_switch_interval_ms / 1000.0),
        )
        for model in models
    ]
    with futures.ThreadPoolExecutor(len(managers), thread_name_prefix="bench-start") as starting:
        # Each server is on the stack as soon as it is up, so a failed start stops the others.
        started = [starting.submit(stack.enter_context, manager) for manager in managers]
        return {model: future.result() for model, future in zip(models, started, strict=True)}


def run_server_models(
    settings: Settings,
    *,
    seconds: float = 5.0,
    rounds: int = ROUNDS,
    held_calls: int = HELD_CALLS,
    probe_seconds: float = PROBE_SECONDS,
    models: Sequence[Model] = tuple(Model),
    calls_in_flight: int = CALLS_IN_FLIGHT,
) -> dict[str, Any]:
    """Runs the comparison (see the module docstring) and returns the printed figures.

    ``models`` must include the threaded model, the one every ratio is taken to;
    with the limited threaded model, ``calls_in_flight`` must be below the
    worker count (its limit), or the measurement would count refusals.
    """
    if Model.THREADED not in models:
        raise ValueError("the threaded model is the reference of every ratio")
    if rounds < 1:
        raise ValueError("at least one round")
    if Model.THREADED_LIMITED in models and calls_in_flight >= settings.grpc_workers:
        raise ValueError(
            f"the limited threaded server refuses calls beyond its {settings.grpc_workers} "
            f"workers: keep the calls in flight ({calls_in_flight}) below that"
        )
    console = Console(stderr=True, soft_wrap=True)
    transport = transports(settings)
    shape = ClientShape(CLIENT_PROCESSES, calls_in_flight)
    warmup = max(0.25, min(2.0, seconds * 0.3))
    payloads = echo_payloads()
    console.print(
        f"[bold]pantau bench-servers[/]: {len(models)} models, {rounds} round(s); "
        f"client: {shape.processes} process(es), {shape.in_flight} calls in flight; "
        f"servers: {settings.grpc_workers} workers, "
        f"{'plaintext' if transport.insecure_dev else 'mutual TLS'}; "
        f"{warmup:g} s warm-up + {seconds:g} s per measurement"
    )
    measured: dict[Model, list[Measurement]] = {model: [] for model in models}
    ratios: dict[Model, list[float]] = {model: [] for model in models}
    with ExitStack() as stack:
        servers = _start_all(stack, settings, transport.server_tls, models)

        def target(model: Model) -> str:
            return f"127.0.0.1:{servers[model].port}"

        for number in range(rounds):
            this_round: dict[Model, Measurement] = {}
            for model in _turned(models, number):
                m = measure(
                    Workload(Kind.ECHO, target(model), transport.client, payloads),
                    shape,
                    seconds=seconds,
                    warmup_seconds=warmup,
                    server_cpu=servers[model].cpu_seconds,
                )
                this_round[model] = m
                console.print(
                    f"{number + 1}: {model:<16} {m.qps:9.1f} calls/s  p50 {m.p50_ms:6.2f} ms  "
                    f"p99 {m.p99_ms:6.2f} ms  server CPU {_cpu_us(m):5.0f} µs/call"
                )
            reference = this_round[Model.THREADED].qps
            for model, m in this_round.items():
                measured[model].append(m)
                ratios[model].append(m.qps / reference)
        outcomes = held_call_checks(
            [target(model) for model in models],
            transport.client,
            held=held_calls,
            probe_seconds=probe_seconds,
        )
    held = dict(zip(models, outcomes, strict=True))
    for model, outcome in held.items():
        console.print(
            f"{model:<16} with {held_calls} calls held open: "
            + (
                f"a call from another channel answered in {outcome.probe_ms:.1f} ms"
                if outcome.probe_ms is not None
                else f"[red]no answer within {probe_seconds:g} s ({outcome.status})[/]"
            )
        )
    figures = {
        model: ModelFigures(
            model, tuple(measured[model]), tuple(ratios[model]), held[model]
        ).as_json()
        for model in models
    }
    # Wide enough for the table's one line a model when stderr is not a terminal.
    Console(stderr=True, width=max(console.width, 120)).print(
        _table(figures, probe_seconds, held_calls)
    )
    for model in models:
        console.print(f"  {model:<16} {DESCRIPTIONS[model]}")
    result: dict[str, Any] = {
        "models": {str(model): f for model, f in figures.items()},
        "rounds": rounds,
        "seconds": seconds,
        "calls_in_flight": shape.in_flight,
        "workers": settings.grpc_workers,
        "held_calls": held_calls,
        "probe_seconds": probe_seconds,
        "mtls": not transport.insecure_dev,
    }
    print(json.dumps(result), flush=True)
    return result
