"""The server under abuse: held calls, unparseable requests, bursts, over-size messages, refusals.

Each test serves from a server of its own (settings set for the case) on a
database of its own, over mutual TLS with the suite's agency certificates, and
reads the audit trail that server wrote.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from sqlalchemy import create_engine, text

from exchange_service import app
from exchange_service.api.query import QueryServicer
from exchange_service.settings import Settings
from tests import factories as f
from tests.clock import TestClock
from tests.conftest import (
    AGENCIES,
    LIMITED_AGENCY,
    OFFICER_AND_PURPOSE,
    _WithMetadata,
    agency_channel,
    fresh_database,
)

GET_PERSON = "/pantau.v1.QueryService/GetPerson"
IMPORT = "/pantau.v1.RegistryService/ImportLodgingReports"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"
# Whoever holds calls, and whoever must still be served meanwhile.
HOLDER = AGENCIES["IMMIGRATION"]
OTHER = AGENCIES["POLICE"]


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    with fresh_database("pantau_hardening") as url:
        yield url


class Served:
    """A running server of the test's own, and its audit trail."""

    def __init__(self, running: app.RunningServer, url: str, pki: Path) -> None:
        self.running = running
        self.target = f"127.0.0.1:{running.port}"
        self._url = url
        self._pki = pki
        # The trail before this server: earlier tests' servers wrote to the same database.
        self._after = self._query("SELECT coalesce(max(seq), 0) FROM audit_records", {})[0][0]

    def _query(self, statement: str, parameters: dict[str, Any]) -> list[Any]:
        engine = create_engine(self._url)
        try:
            with engine.connect() as connection:
                return list(connection.execute(text(statement), parameters).all())
        finally:
            engine.dispose()

    def channel(self, agency: str, options: list[tuple[str, Any]] | None = None) -> grpc.Channel:
        """The agency's channel with officer and purpose; ``options`` for the channel's own."""
        if options is None:
            return agency_channel(self.target, self._pki, agency)
        channel = grpc.secure_channel(self.target, self._credentials(agency), options=options)
        return grpc.intercept_channel(channel, _WithMetadata(OFFICER_AND_PURPOSE))

    def aio_channel(self, agency: str) -> grpc.aio.Channel:
        return grpc.aio.secure_channel(self.target, self._credentials(agency))

    def _credentials(self, agency: str) -> grpc.ChannelCredentials:
        pki = self._pki
        return grpc.ssl_channel_credentials(
            root_certificates=(pki / "ca.crt").read_bytes(),
            private_key=(pki / f"{agency}.key").read_bytes(),
            certificate_chain=(pki / f"{agency}.crt").read_bytes(),
        )

    def statuses(self, agency: str, method: str, calls: int) -> Counter[str]:
        """The trail's statuses for the agency's calls to ``method``, once all ``calls`` are in.

        A call is recorded as it ends, which may be just after its client saw its status.
        """
        deadline = time.monotonic() + 10
        while True:
            assert self.running.audit_log.flush()
            rows = self._query(
                "SELECT status, count(*) FROM audit_records WHERE agency_id = :agency"
                " AND seq > :after AND method = :method GROUP BY status",
                {"agency": agency, "method": method, "after": self._after},
            )
            found = Counter(dict(rows))
            if found.total() >= calls or time.monotonic() > deadline:
                return found
            time.sleep(0.05)


@pytest.fixture
def serve(settings: Settings, own_database: str, pki_dir: Path, clock: TestClock) -> Iterator[Any]:
    """``serve(**settings)``: starts a server with these settings; stopped at the test's end."""
    started: list[app.RunningServer] = []

    def start(**overrides: Any) -> Served:
        fields = {
            **settings.model_dump(),
            "database_url": own_database,
            "audit_checkpoint_file": Path(str(settings.audit_checkpoint_file)).with_name(
                f"checkpoints-{uuid.uuid4().hex[:8]}.jsonl"
            ),
            **overrides,
        }
        running = app.start_server(Settings(**fields), clock=clock.now)
        started.append(running)
        return Served(running, own_database, pki_dir)

    yield start
    for running in started:
        running.stop(grace=1.0)


def _register(served: Served) -> str:
    with served.channel(HOLDER) as channel:
        person = r_grpc.RegistryServiceStub(channel).RegisterPerson(
            r.RegisterPersonRequest(person=f.person())
        )
    return str(person.id)


def _retry_info(error: grpc.RpcError) -> error_details_pb2.RetryInfo | None:
    status = rpc_status.from_call(error)
    if status is None:
        return None
    for detail in status.details:
        info = error_details_pb2.RetryInfo()
        if detail.Unpack(info):
            return info
    return None


# --- held calls ---------------------------------------------------------------------


SLOW_READERS = 100
HELD_UNARY = 350
HELD_HEALTH = 300
HELD_STREAMS = 250
HELD_TOTAL = SLOW_READERS + HELD_UNARY + HELD_HEALTH + HELD_STREAMS


async def _slow_readers(served: Served, subject: str, held: list[Any]) -> None:
    """The holder's GetPerson calls whose responses it does not read (until the end)."""
    channel = served.aio_channel(HOLDER)
    held.append(channel)
    request = q.GetPersonRequest(person_id=subject).SerializeToString()
    callable_ = channel.stream_stream(GET_PERSON)
    for _ in range(SLOW_READERS):
        call = callable_(metadata=OFFICER_AND_PURPOSE, timeout=60)
        await call.write(request)
        await call.done_writing()
        held.append(("slow", call))


async def _hold(served: Served, held: list[Any]) -> None:
    """Opens the holder's calls that never send a message (the headers only)."""
    channel = served.aio_channel(HOLDER)
    held.append(channel)
    for method, count in (
        (GET_PERSON, HELD_UNARY),
        (HEALTH_CHECK, HELD_HEALTH),
        (IMPORT, HELD_STREAMS),
    ):
        callable_ = channel.stream_unary(method)
        for _ in range(count):
            call = callable_(metadata=OFFICER_AND_PURPOSE, timeout=60)
            held.append((method, call))
    await asyncio.sleep(0.5)  # the headers are out


async def _outcomes(held: list[Any]) -> Counter[tuple[str, str]]:
    codes: Counter[tuple[str, str]] = Counter()
    for item in held:
        if isinstance(item, grpc.aio.Channel):
            continue
        method, call = item
        if method == "slow":  # read at last
            dossier = q.PersonDossier.FromString(await call.read())
            assert dossier.person.id
        codes[(method, (await call.code()).name)] += 1
    for item in held:
        if isinstance(item, grpc.aio.Channel):
            await item.close()
    return codes


def test_a_thousand_held_calls_leave_the_other_agencies_served_and_are_each_audited(
    serve: Any,
) -> None:
    served = serve(request_wait_seconds=8.0, stream_idle_seconds=8.0, grpc_workers=4)
    subject = _register(served)
    loop = asyncio.new_event_loop()
    held: list[Any] = []
    with served.channel(OTHER) as other:
        queries = q_grpc.QueryServiceStub(other)
        health = health_pb2_grpc.HealthStub(other)
        queries.GetPerson(q.GetPersonRequest(person_id=subject), timeout=10)  # connected
        try:
            loop.run_until_complete(_slow_readers(served, subject, held))
            # Served (and recorded) though no response was read: they hold no slot now.
            assert served.statuses(HOLDER, GET_PERSON, SLOW_READERS)["OK"] == SLOW_READERS
            loop.run_until_complete(_hold(served, held))
            started = time.monotonic()
            for _ in range(20):
                dossier = queries.GetPerson(q.GetPersonRequest(person_id=subject), timeout=3)
                assert dossier.person.id == subject
                assert (
                    health.Check(health_pb2.HealthCheckRequest(), timeout=3).status
                    == health_pb2.HealthCheckResponse.SERVING
                )
            # All that while the held calls were still waiting for their messages.
            assert time.monotonic() - started < 8.0
            codes = loop.run_until_complete(_outcomes(held))
        finally:
            loop.close()
    assert codes.total() == HELD_TOTAL
    assert codes[("slow", "OK")] == SLOW_READERS
    # The agency's 100 slots held until the wait ran out; the others refused at once.
    waited = sum(n for (_, code), n in codes.items() if code == "DEADLINE_EXCEEDED")
    refused = sum(n for (_, code), n in codes.items() if code == "RESOURCE_EXHAUSTED")
    assert (waited, refused) == (100, HELD_TOTAL - SLOW_READERS - 100)
    # Every Pantau call is in the trail with the status its client got.
    trail = served.statuses(HOLDER, GET_PERSON, SLOW_READERS + HELD_UNARY) + served.statuses(
        HOLDER, IMPORT, HELD_STREAMS
    )
    expected: Counter[str] = Counter()
    for (method, code), n in codes.items():
        if method != HEALTH_CHECK:  # health carries no personal data: not audited
            expected[code] += n
    assert trail == expected


def test_calls_over_the_agency_cap_are_refused_with_retry_info_never_unavailable(
    serve: Any,
) -> None:
    served = serve(agency_max_calls=20, grpc_workers=2)
    with served.channel(OTHER) as channel:
        stub = q_grpc.QueryServiceStub(channel)
        calls = [
            stub.GetPerson.future(q.GetPersonRequest(person_id=str(uuid.uuid4())), timeout=30)
            for _ in range(300)
        ]
        errors = [call.exception() for call in calls]
    codes = Counter(error.code() for error in errors if error is not None)
    assert set(codes) <= {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert codes[grpc.StatusCode.NOT_FOUND] >= 20
    for error in errors:
        if error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED:
            info = _retry_info(error)
            assert info is not None
            assert info.retry_delay.ToMilliseconds() > 0


def test_a_burst_of_thousands_on_one_connection_is_answered_never_unavailable(
    serve: Any,
) -> None:
    served = serve(grpc_workers=2)  # 100 calls in flight per agency
    with served.channel(OTHER) as channel:
        stub = q_grpc.QueryServiceStub(channel)
        calls = [
            stub.GetPerson.future(q.GetPersonRequest(person_id=str(uuid.uuid4())), timeout=60)
            for _ in range(3000)
        ]
        errors = [call.exception() for call in calls]
    codes = Counter(error.code() for error in errors if error is not None)
    assert codes.total() == 3000  # every call answered (none OK: no such persons)
    assert set(codes) <= {grpc.StatusCode.NOT_FOUND, grpc.StatusCode.RESOURCE_EXHAUSTED}
    assert all(
        _retry_info(error) is not None
        for error in errors
        if error is not None and error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    )


# --- unparseable, over-size, internal --------------------------------------------------


def test_unparseable_requests_are_invalid_argument_audited_and_leave_the_connection_serving(
    serve: Any, caplog: pytest.LogCaptureFixture
) -> None:
    served = serve()
    subject = _register(served)
    caplog.set_level(logging.WARNING)
    with served.channel(OTHER) as channel:
        raw = channel.unary_unary(GET_PERSON)
        for n in range(300):
            with pytest.raises(grpc.RpcError) as refused:
                raw(b"\xff\xff\xff" + n.to_bytes(2, "big"), timeout=5)
            assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "pantau.v1.GetPersonRequest" in (refused.value.details() or "")
        assert grpc.channel_ready_future(channel).result(timeout=1) is None
        dossier = q_grpc.QueryServiceStub(channel).GetPerson(
            q.GetPersonRequest(person_id=subject), timeout=5
        )
        assert dossier.person.id == subject
    assert served.statuses(OTHER, GET_PERSON, 301) == Counter({"INVALID_ARGUMENT": 300, "OK": 1})
    lines = [record for record in caplog.records if "unparseable" in record.getMessage()]
    assert len(lines) == 300
    assert not any(record.exc_info for record in caplog.records)


@pytest.mark.parametrize("size", [100_000, 1_000_000], ids=["over-the-cap", "over-the-transport"])
def test_an_over_size_request_is_refused_and_audited(serve: Any, size: int) -> None:
    served = serve(max_message_bytes=64 * 1024, max_rejections_listed=100)
    with served.channel(OTHER, options=[("grpc.max_send_message_length", 1 << 24)]) as channel:
        raw = channel.unary_unary(GET_PERSON)
        with pytest.raises(grpc.RpcError) as refused:
            raw(q.GetPersonRequest(person_id="x" * size).SerializeToString(), timeout=5)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert served.statuses(OTHER, GET_PERSON, 1) == Counter({"RESOURCE_EXHAUSTED": 1})


def test_an_internal_error_answers_a_generic_message_and_an_error_id_the_log_holds(
    serve: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*_args: Any) -> Any:
        raise ValueError("could not convert string to float: 'secret detail'")

    monkeypatch.setattr(QueryServicer, "GetPerson", broken)
    served = serve()
    caplog.set_level(logging.ERROR)
    with served.channel(OTHER) as channel, pytest.raises(grpc.RpcError) as failed:
        q_grpc.QueryServiceStub(channel).GetPerson(
            q.GetPersonRequest(person_id=str(uuid.uuid4())), timeout=5
        )
    assert failed.value.code() == grpc.StatusCode.INTERNAL
    details = failed.value.details() or ""
    assert "secret detail" not in details
    assert "ValueError" not in details
    error_id = details.rsplit(" ", 1)[-1]
    logged = [record for record in caplog.records if error_id in record.getMessage()]
    assert len(logged) == 1
    assert logged[0].exc_info is not None
    assert served.statuses(OTHER, GET_PERSON, 1) == Counter({"INTERNAL": 1})


# --- streams --------------------------------------------------------------------------


def _report(n: int) -> r.LodgingReport:
    return r.LodgingReport(lodging_id="", reference=f"R-{n}")  # rejected: no lodging


def test_a_stream_past_its_deadline_is_recorded_as_the_client_saw_it(serve: Any) -> None:
    served = serve()

    def slowly() -> Iterator[r.LodgingReport]:
        yield _report(1)
        time.sleep(3)
        yield _report(2)

    with served.channel(HOLDER) as channel, pytest.raises(grpc.RpcError) as late:
        r_grpc.RegistryServiceStub(channel).ImportLodgingReports(slowly(), timeout=1)
    assert late.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert served.statuses(HOLDER, IMPORT, 1) == Counter({"DEADLINE_EXCEEDED": 1})


def test_a_stream_the_client_cancels_is_recorded_cancelled(serve: Any) -> None:
    served = serve()
    release = threading.Event()

    def reports() -> Iterator[r.LodgingReport]:
        yield _report(1)
        release.wait(10)

    with served.channel(HOLDER) as channel:
        call = r_grpc.RegistryServiceStub(channel).ImportLodgingReports.future(
            reports(), timeout=30
        )
        time.sleep(0.5)
        assert call.cancel()
        release.set()
    assert served.statuses(HOLDER, IMPORT, 1) == Counter({"CANCELLED": 1})


def test_an_idle_stream_ends_after_the_idle_bound(serve: Any) -> None:
    served = serve(stream_idle_seconds=1.0)

    def idle() -> Iterator[r.LodgingReport]:
        yield _report(1)
        time.sleep(3)
        yield _report(2)

    with served.channel(HOLDER) as channel, pytest.raises(grpc.RpcError) as idled:
        r_grpc.RegistryServiceStub(channel).ImportLodgingReports(idle(), timeout=10)
    assert idled.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    assert "stream_idle_seconds" in (idled.value.details() or "")
    assert served.statuses(HOLDER, IMPORT, 1) == Counter({"DEADLINE_EXCEEDED": 1})


@pytest.mark.parametrize("size", [100_000, 1_000_000], ids=["over-the-cap", "over-the-transport"])
def test_an_over_size_message_inside_a_stream_is_recorded_as_the_client_saw_it(
    serve: Any, size: int
) -> None:
    served = serve(max_message_bytes=64 * 1024, max_rejections_listed=100)
    seen: Counter[str] = Counter()
    for _ in range(6):
        with served.channel(HOLDER, options=[("grpc.max_send_message_length", 1 << 24)]) as channel:
            stream = channel.stream_unary(IMPORT)
            messages = [_report(1).SerializeToString(), b"\x0a" + b"\x00" * size]
            try:
                summary = r.ImportSummary.FromString(stream(iter(messages), timeout=5))
                # Over the cap but within the transport's: the batch goes on without it.
                assert summary.rejected == 2
                seen["OK"] += 1
            except grpc.RpcError as error:
                seen[error.code().name] += 1
    recorded = served.statuses(HOLDER, IMPORT, 6)
    if size < 256 * 1024:  # within the transport's limit: the edge reads it and goes on
        assert seen == Counter({"OK": 6})
        assert recorded == seen
    else:  # gRPC refuses it and ends the call: never recorded OK
        assert seen == Counter({"RESOURCE_EXHAUSTED": 6})
        assert recorded.total() == 6
        assert set(recorded) <= {"RESOURCE_EXHAUSTED", "CANCELLED"}


# --- refusals count -------------------------------------------------------------------


def test_denied_calls_count_against_the_agency_rate_limit(serve: Any) -> None:
    served = serve()  # the limited agency: 1 call a second, bursts of 3
    with served.channel(LIMITED_AGENCY) as channel:
        review = channel.unary_unary("/pantau.v1.AlertReviewService/ReviewAlert")
        codes = []
        for _ in range(10):
            with pytest.raises(grpc.RpcError) as refused:
                review(b"", timeout=5)
            codes.append(refused.value.code())
    assert codes[:3] == [grpc.StatusCode.PERMISSION_DENIED] * 3
    assert set(codes[3:]) == {grpc.StatusCode.RESOURCE_EXHAUSTED}


def test_an_unparseable_message_in_a_lodging_stream_is_one_rejected_report(serve: Any) -> None:
    served = serve()
    with served.channel(HOLDER) as channel:
        stream = channel.stream_unary(IMPORT)
        messages = [_report(1).SerializeToString(), b"\xff\xff\xff", _report(3).SerializeToString()]
        summary = r.ImportSummary.FromString(stream(iter(messages), timeout=10))
    assert summary.rejected == 3
    assert "is not a valid pantau.v1.LodgingReport message" in summary.rejections[1].reason
    assert served.statuses(HOLDER, IMPORT, 1) == Counter({"OK": 1})
