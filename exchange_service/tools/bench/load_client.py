"""The load client: one piece of code that drives every measured method.

A measurement runs ``processes`` client processes (spawned, so their GIL is
neither the servers' nor the parent's), each with its own channel keeping a
fixed number of unary calls in flight: a call's completion callback issues
the next one, so the client never waits on a Python thread per call. All
processes start together at an agreed instant of the system-wide monotonic
clock, warm up, then measure a common window:

* throughput counts the successful calls that completed in the window;
* latency is taken over the calls that started in the window, however late
  they complete (no call is issued after it, and the client waits for those
  in flight), including those the server gave up on at the deadline
  (DEADLINE_EXCEEDED: the caller waited that long), counted as timeouts;
* any other failed call makes the measurement fail (a benchmark of errors
  measures nothing).

What differs between workloads is only the multi-callable: the generated
``QueryServiceStub`` methods for Pantau, or ``channel.unary_unary`` with
identity serializers for the echo server, fed the very same request bytes.
"""

from __future__ import annotations

import enum
import functools
import itertools
import multiprocessing
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

import grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc

from exchange_service.tools.bench.echo import ECHO_METHOD

# How long a client process may take to start and connect, seconds.
_CONNECT_TIMEOUT = 30.0


class Kind(enum.StrEnum):
    GET_PERSON = "GetPerson"
    ECHO = "Echo"
    LIST_PERSONS_NEAR = "ListPersonsNear"


@dataclass(frozen=True)
class ClientTransport:
    """How every call reaches its server: plaintext or mutual TLS, and its metadata."""

    metadata: tuple[tuple[str, str], ...]
    root_ca: bytes | None = None  # PEM; None means plaintext
    client_key: bytes | None = None
    client_cert: bytes | None = None

    def channel(self, target: str) -> grpc.Channel:
        if self.root_ca is None:
            return grpc.insecure_channel(target)
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.root_ca,
            private_key=self.client_key,
            certificate_chain=self.client_cert,
        )
        return grpc.secure_channel(target, credentials)


@dataclass(frozen=True)
class Workload:
    """Which method of which server to call, how, and with which serialized requests.

    The requests are used in a random order, each process its own.
    """

    kind: Kind
    target: str
    transport: ClientTransport
    payloads: tuple[bytes, ...]


@dataclass(frozen=True)
class ClientShape:
    """How many client processes, and how many calls in flight in all."""

    processes: int
    in_flight: int

    def per_process(self) -> list[int]:
        base, extra = divmod(self.in_flight, self.processes)
        return [base + (1 if i < extra else 0) for i in range(self.processes)]


@dataclass(frozen=True)
class Measurement:
    kind: Kind
    seconds: float
    calls: int
    qps: float
    p50_ms: float
    p99_ms: float
    timeouts: int  # calls that ended in DEADLINE_EXCEEDED
    # CPU the observed server process used in the window, per call counted;
    # None when no observer was given.
    server_cpu_ms_per_call: float | None = None


@dataclass(frozen=True)
class _Window:
    start_at: float  # the processes begin calling (time.monotonic)
    measure_from: float
    measure_until: float


@dataclass(frozen=True)
class _Outcome:
    calls: int
    latencies: list[float]
    timeouts: int
    errors: int
    first_error: str


def _multi_callable(
    kind: Kind, channel: grpc.Channel
) -> tuple[Callable[..., Any], Callable[[bytes], Any]]:
    """The method to call and how a request payload becomes its argument."""
    if kind is Kind.ECHO:
        return channel.unary_unary(ECHO_METHOD), bytes
    stub = q_grpc.QueryServiceStub(channel)
    if kind is Kind.GET_PERSON:
        return stub.GetPerson, q.GetPersonRequest.FromString
    return stub.ListPersonsNear, q.ListPersonsNearRequest.FromString


class _InFlightLoop:
    """Keeps ``in_flight`` calls outstanding from start_at until measure_until."""

    def __init__(
        self,
        call: Callable[..., Any],
        requests: Sequence[Any],
        metadata: tuple[tuple[str, str], ...],
        in_flight: int,
        window: _Window,
    ) -> None:
        self._call = call
        self._metadata = metadata
        self._requests = itertools.cycle(requests)
        self._in_flight = in_flight
        self._window = window
        self._lock = threading.Lock()
        self._finished = threading.Event()
        self._outstanding = in_flight
        self._calls = 0
        self._latencies: list[float] = []
        self._timeouts = 0
        self._errors = 0
        self._first_error = ""

    def run(self) -> _Outcome:
        delay = self._window.start_at - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        for _ in range(self._in_flight):
            self._issue()
        self._finished.wait()
        return _Outcome(
            self._calls, self._latencies, self._timeouts, self._errors, self._first_error
        )

    def _issue(self) -> None:
        started = time.monotonic()
        future = self._call.future(next(self._requests), metadata=self._metadata)  # type: ignore[attr-defined]
        future.add_done_callback(functools.partial(self._completed, started))

    def _completed(self, started: float, future: grpc.Future) -> None:
        finished = time.monotonic()
        error = future.exception()
        window = self._window
        timed_out = error is not None and error.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        with self._lock:
            if error is not None and not timed_out:
                self._errors += 1
                if not self._first_error:
                    self._first_error = f"{error.code()}: {error.details()}"
            else:
                if not timed_out and window.measure_from <= finished <= window.measure_until:
                    self._calls += 1
                if window.measure_from <= started < window.measure_until:
                    self._latencies.append(finished - started)
                    self._timeouts += timed_out
            more = finished < window.measure_until
            if not more:
                self._outstanding -= 1
                if self._outstanding == 0:
                    self._finished.set()
        if more:
            self._issue()


def _client_main(workload: Workload, in_flight: int, seed: int, control: Connection) -> None:
    """One client process: connects, reports ready, is given the window, runs, reports."""
    with workload.transport.channel(workload.target) as channel:
        grpc.channel_ready_future(channel).result(timeout=_CONNECT_TIMEOUT)
        call, parse = _multi_callable(workload.kind, channel)
        requests = [parse(payload) for payload in workload.payloads]
        random.Random(seed).shuffle(requests)
        control.send("ready")
        window: _Window = control.recv()
        control.send(
            _InFlightLoop(call, requests, workload.transport.metadata, in_flight, window).run()
        )
    control.close()


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile of sorted values."""
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(fraction * len(ordered) + 0.999999)))
    return ordered[rank - 1]


class _CpuWindow(threading.Thread):
    """Reads a CPU clock at the start and at the end of the measured window."""

    def __init__(self, read: Callable[[], float], window: _Window) -> None:
        super().__init__(name="bench-cpu-window", daemon=True)
        self._read = read
        self._window = window
        self.used: float | None = None

    def run(self) -> None:
        time.sleep(max(0.0, self._window.measure_from - time.monotonic()))
        before = self._read()
        time.sleep(max(0.0, self._window.measure_until - time.monotonic()))
        self.used = self._read() - before


def measure(
    workload: Workload,
    shape: ClientShape,
    *,
    seconds: float,
    warmup_seconds: float,
    seed: int = 1,
    server_cpu: Callable[[], float] | None = None,
) -> Measurement:
    """Drives ``workload`` with ``shape`` for a warm-up, then ``seconds`` measured.

    ``server_cpu``, if given, reads the CPU seconds the server process has
    used so far; it is read when the window opens and when it closes.
    Raises RuntimeError if any call failed other than by its deadline, or if
    no call completed in the window.
    """
    context = multiprocessing.get_context("spawn")
    clients = []
    try:
        for index, in_flight in enumerate(shape.per_process()):
            parent, child = context.Pipe()
            process = context.Process(
                target=_client_main,
                args=(workload, in_flight, seed + index, child),
                name=f"bench-client-{workload.kind}-{index}",
                daemon=True,
            )
            process.start()
            child.close()
            clients.append((process, parent))
        for process, control in clients:
            if not control.poll(_CONNECT_TIMEOUT + 30) or control.recv() != "ready":
                raise RuntimeError(f"{process.name} did not connect to {workload.target}")
        start_at = time.monotonic() + 0.1
        window = _Window(start_at, start_at + warmup_seconds, start_at + warmup_seconds + seconds)
        for _process, control in clients:
            control.send(window)
        cpu_window = _CpuWindow(server_cpu, window) if server_cpu is not None else None
        if cpu_window is not None:
            cpu_window.start()
        outcomes: list[_Outcome] = []
        for process, control in clients:
            if not control.poll(warmup_seconds + seconds + 60):
                raise RuntimeError(f"{process.name} did not report")
            outcomes.append(control.recv())
        if cpu_window is not None:
            cpu_window.join(seconds + 10)
    finally:
        for process, control in clients:
            process.join(10)
            if process.is_alive():
                process.terminate()
                process.join()
            control.close()
    errors = sum(o.errors for o in outcomes)
    if errors:
        first = next(o.first_error for o in outcomes if o.errors)
        raise RuntimeError(f"{errors} {workload.kind} calls failed; the first: {first}")
    calls = sum(o.calls for o in outcomes)
    if not calls:
        raise RuntimeError(f"no {workload.kind} call completed in {seconds} s")
    latencies = sorted(itertools.chain.from_iterable(o.latencies for o in outcomes))
    cpu_used = cpu_window.used if cpu_window is not None else None
    return Measurement(
        kind=workload.kind,
        seconds=seconds,
        calls=calls,
        qps=calls / seconds,
        p50_ms=_percentile(latencies, 0.50) * 1000.0,
        p99_ms=_percentile(latencies, 0.99) * 1000.0,
        timeouts=sum(o.timeouts for o in outcomes),
        server_cpu_ms_per_call=None if cpu_used is None else cpu_used / calls * 1000.0,
    )
