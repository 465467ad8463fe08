"""A real gRPC server with the audit interceptor outermost writes one record per call."""

from __future__ import annotations

import hashlib
import io
import uuid
from collections.abc import Callable, Iterator
from concurrent import futures
from dataclasses import dataclass
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from sqlalchemy import Engine

from exchange_service.api.audit import AuditInterceptor, collect_person_ids
from exchange_service.api.interceptors import (
    Behaviour,
    DeadlineInterceptor,
    DomainErrorInterceptor,
    wrap_handler,
)
from exchange_service.api.query import QueryServicer
from exchange_service.api.registry import RegistryServicer
from exchange_service.app import alerts_options, query_options, registry_options
from exchange_service.audit import store
from exchange_service.audit.chain import AuditRecord
from exchange_service.audit.log import AuditLog, open_audit_log
from exchange_service.cli import audit as commands
from exchange_service.domain.agencies import Agency, AgencyKind, DataView
from exchange_service.domain.audit import EMPTY_DIGEST
from exchange_service.domain.call import current_agency, current_call
from exchange_service.services import Queries, Registry
from exchange_service.services.alerts import Alerts
from exchange_service.settings import Settings
from exchange_service.storage.database import UnitOfWork, make_engine
from tests import factories as f
from tests.clock import CLOCK

AGENCY = (("x-test-agency", "polres-anambas"), ("x-test-officer", "Bripka Andi"))
DENY = (*AGENCY, ("x-test-deny", "1"))


class FakeAccess(grpc.ServerInterceptor):  # type: ignore[misc]
    """Stands in for the access interceptor: fills the call record from metadata, may deny.

    Like the real one, it makes the agency (here a police agency, FULL view) the call's.
    """

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        def wrapper(behaviour: Behaviour, _details: grpc.HandlerCallDetails) -> Behaviour:
            def handle(request: Any, context: grpc.ServicerContext) -> Any:
                headers = dict(context.invocation_metadata())
                call = current_call.get()
                if call is not None and "x-test-agency" in headers:
                    call.agency_id, call.agency_kind = headers["x-test-agency"], "POLICE"
                    call.officer = headers.get("x-test-officer", "")
                    call.purpose = "LP/123/XI/2026"
                if "x-test-deny" in headers:
                    context.abort(grpc.StatusCode.PERMISSION_DENIED, "not for you")
                agency_id = headers.get("x-test-agency")
                police = (
                    Agency(agency_id, "", AgencyKind.POLICE, DataView.FULL) if agency_id else None
                )
                token = current_agency.set(police)
                try:
                    return behaviour(request, context)
                finally:
                    current_agency.reset(token)

            return handle

        return wrap_handler(continuation(handler_call_details), handler_call_details, wrapper)


@dataclass
class Served:
    channel: grpc.Channel
    audit_log: AuditLog
    engine: Engine
    registry: r_grpc.RegistryServiceStub
    queries: q_grpc.QueryServiceStub

    def trail(self) -> list[AuditRecord]:
        assert self.audit_log.flush()
        with self.engine.connect() as connection:
            return list(store.iter_records(connection))


@pytest.fixture
def served(audit_settings: Settings, audit_db_url: str) -> Iterator[Served]:
    audit_log = open_audit_log(audit_settings)
    engine = make_engine(audit_db_url, pool_size=4)
    uow = UnitOfWork(engine, boundary_tolerance_meters=audit_settings.boundary_tolerance_meters)
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        interceptors=[
            AuditInterceptor(audit_log),  # outermost: sees the final status of every call
            DomainErrorInterceptor(),
            FakeAccess(),
            DeadlineInterceptor(30.0),
        ],
    )
    r_grpc.add_RegistryServiceServicer_to_server(
        RegistryServicer(Registry(uow, registry_options(audit_settings), CLOCK.now)), server
    )
    q_grpc.add_QueryServiceServicer_to_server(
        QueryServicer(
            Queries(uow, query_options(audit_settings), CLOCK.now),
            Alerts(uow, alerts_options(audit_settings), CLOCK.now),
        ),
        server,
    )
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Served(
            channel,
            audit_log,
            engine,
            r_grpc.RegistryServiceStub(channel),
            q_grpc.QueryServiceStub(channel),
        )
    finally:
        channel.close()
        server.stop(1).wait()
        audit_log.close()
        engine.dispose()


def digest(message: Any) -> str:
    return hashlib.sha256(message.SerializeToString()).hexdigest()


def test_every_call_is_recorded_once_with_its_status_and_persons(
    served: Served, audit_settings: Settings
) -> None:
    expected: list[tuple[str, str, set[str], str]] = []  # method, status, ids, digest

    def expect(method: str, status: str, ids: set[str], request_digest: str) -> None:
        expected.append((method, status, ids, request_digest))

    register = r.RegisterPersonRequest(person=f.person())
    person = served.registry.RegisterPerson(register, metadata=AGENCY)
    expect("/pantau.v1.RegistryService/RegisterPerson", "OK", {person.id}, digest(register))

    by_id = q.GetPersonRequest(person_id=person.id)
    served.queries.GetPerson(by_id, metadata=AGENCY)
    expect("/pantau.v1.QueryService/GetPerson", "OK", {person.id}, digest(by_id))

    by_document = q.GetPersonRequest(document=person.documents[0])
    served.queries.GetPerson(by_document, metadata=AGENCY)
    expect("/pantau.v1.QueryService/GetPerson", "OK", {person.id}, digest(by_document))

    for request, status in (
        (q.GetPersonRequest(person_id="not-a-uuid"), grpc.StatusCode.INVALID_ARGUMENT),
        (q.GetPersonRequest(person_id=str(uuid.uuid4())), grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.RpcError) as failed:
            served.queries.GetPerson(request, metadata=AGENCY)
        assert failed.value.code() == status
        expect(
            "/pantau.v1.QueryService/GetPerson", status.name, {request.person_id}, digest(request)
        )

    with pytest.raises(grpc.RpcError) as denied:
        served.queries.GetPerson(by_id, metadata=DENY)
    assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
    expect("/pantau.v1.QueryService/GetPerson", "PERMISSION_DENIED", {person.id}, digest(by_id))

    search = q.SearchPersonsRequest(name=f"{person.family_name} {person.given_names}")
    found = served.queries.SearchPersons(search, metadata=AGENCY)
    found_ids = {match.person.id for match in found.results}
    assert person.id in found_ids
    expect("/pantau.v1.QueryService/SearchPersons", "OK", found_ids, digest(search))

    reports = [
        r.LodgingReport(
            lodging_id="APOA-2105-0042",
            location=pb.GeoPoint(latitude=3.2171, longitude=106.2213),
            event=r.LODGING_EVENT_CHECK_IN,
            document=person.documents[0],
            occurred_at=f.hours_ago(5),
            reference=f"R-{n}",
        )
        for n in range(2)
    ]
    summary = served.registry.ImportLodgingReports(iter(reports), metadata=AGENCY)
    assert summary.accepted == 2
    framed = b"".join(
        len(m.SerializeToString()).to_bytes(4, "big") + m.SerializeToString() for m in reports
    )
    expect(
        "/pantau.v1.RegistryService/ImportLodgingReports",
        "OK",
        {person.id},  # the guest, found by the document in the reports
        hashlib.sha256(framed).hexdigest(),
    )

    garbage = b"\xff\xff\xff not protobuf"
    raw = served.channel.unary_unary("/pantau.v1.QueryService/GetPerson")
    with pytest.raises(grpc.RpcError) as unparsable:
        raw(garbage, metadata=AGENCY)
    assert unparsable.value.code() == grpc.StatusCode.INTERNAL
    expect(
        "/pantau.v1.QueryService/GetPerson", "INTERNAL", set(), hashlib.sha256(garbage).hexdigest()
    )

    unknown = served.channel.unary_unary("/pantau.v1.QueryService/Nothing")
    with pytest.raises(grpc.RpcError) as unimplemented:
        unknown(b"", metadata=AGENCY)
    assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
    expect("/pantau.v1.QueryService/Nothing", "UNIMPLEMENTED", set(), EMPTY_DIGEST)

    # Not under /pantau.: not recorded.
    health_pb2_grpc.HealthStub(served.channel).Check(health_pb2.HealthCheckRequest())

    trail = served.trail()
    assert [(x.method, x.status, set(x.person_ids), x.request_digest) for x in trail] == expected
    assert [x.seq for x in trail] == list(range(1, len(expected) + 1))
    by_fake_access = [x for x in trail if x.status not in ("INTERNAL", "UNIMPLEMENTED")]
    assert {(x.agency_id, x.agency_kind, x.officer) for x in by_fake_access} == {
        ("polres-anambas", "POLICE", "Bripka Andi")
    }
    assert all(x.purpose == "LP/123/XI/2026" for x in by_fake_access)

    served.audit_log.close()  # the final checkpoint
    out = io.StringIO()
    assert commands.verify(audit_settings, out=out) == 0, out.getvalue()


def test_calls_are_refused_and_recorded_when_the_trail_cannot_keep_up(
    served: Served, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(AuditLog, "accepting", property(lambda _self: False))
    request = q.GetPersonRequest(person_id=str(uuid.uuid4()))
    with pytest.raises(grpc.RpcError) as refused:
        served.queries.GetPerson(request, metadata=AGENCY)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    monkeypatch.undo()
    (record,) = served.trail()
    assert (record.status, record.person_ids) == ("UNAVAILABLE", ())
    assert record.agency_id == ""  # refused before access control ran


def test_person_ids_are_found_wherever_they_are_nested() -> None:
    dossier = q.PersonDossier(
        person=pb.Person(id="p1"),
        current_stay=pb.Stay(id="s1", person_id="p1"),
        current_address=pb.AddressRecord(id="a1", person_id="p1"),
        recent_sightings=[pb.Sighting(id="x", person_id="p2"), pb.Sighting(id="y")],
    )
    ids: set[str] = set()
    collect_person_ids(dossier, ids)
    assert ids == {"p1", "p2"}
    near = q.ListPersonsNearResponse(
        results=[q.PersonNearby(person=pb.Person(id=f"n{i}")) for i in range(3)]
    )
    collect_person_ids(near, ids)
    assert ids == {"p1", "p2", "n0", "n1", "n2"}
    long: set[str] = set()
    collect_person_ids(q.GetPersonRequest(person_id="x" * 5000), long)
    assert long == {"sha256:" + hashlib.sha256(b"x" * 5000).hexdigest()}
    nothing: set[str] = set()
    collect_person_ids(r.LodgingReport(document=pb.TravelDocument(number="X1")), nothing)
    collect_person_ids(None, nothing)
    assert nothing == set()
