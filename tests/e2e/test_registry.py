"""RegistryService through a real gRPC server on the real PostGIS."""

from __future__ import annotations

from datetime import UTC, timedelta

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc

from tests import factories as f
from tests.clock import CLOCK
from tests.conftest import RowCounts


@pytest.fixture
def registry(grpc_channel: grpc.Channel) -> r_grpc.RegistryServiceStub:
    return r_grpc.RegistryServiceStub(grpc_channel)


@pytest.fixture
def queries(grpc_channel: grpc.Channel) -> q_grpc.QueryServiceStub:
    return q_grpc.QueryServiceStub(grpc_channel)


def test_registering_again_with_same_document_and_identity_returns_same_person(
    registry: r_grpc.RegistryServiceStub, row_counts: RowCounts
) -> None:
    first = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    again = f.person(family="NGUYEN", given="van  an", number=first.documents[0].number.lower())
    before = row_counts.snapshot()
    second = registry.RegisterPerson(r.RegisterPersonRequest(person=again))
    assert second.id == first.id
    assert row_counts.snapshot() == before


def test_known_document_with_other_identity_is_already_exists_naming_the_person(
    registry: r_grpc.RegistryServiceStub, row_counts: RowCounts
) -> None:
    first = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    other = f.person(family="Tran", given="Thi Bich", number=first.documents[0].number)
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        registry.RegisterPerson(r.RegisterPersonRequest(person=other))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    info = f.error_info(caught.value)
    assert info.reason == "DOCUMENT_REGISTERED_TO_OTHER_IDENTITY"
    assert info.metadata["person_id"] == first.id
    assert row_counts.snapshot() == before


def test_registering_again_with_a_new_document_adds_it(
    registry: r_grpc.RegistryServiceStub,
) -> None:
    first = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    again = f.person(number=first.documents[0].number)
    again.documents.add(issuing_state="VNM", number=f.document_number())
    second = registry.RegisterPerson(r.RegisterPersonRequest(person=again))
    assert second.id == first.id
    assert {d.number for d in second.documents} == {d.number for d in again.documents}


def test_stay_lifecycle_keeps_permit_history(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    stay = registry.RecordEntry(f.entry(person.id))
    assert stay.permit.type == pb.PERMIT_TYPE_VOA
    assert not stay.HasField("exited_at")

    # To the VOA's 60 days in all: the first period is from yesterday.
    extension = f.permit(days=58, number="VOA-1-EXT", starts=31)
    extended = registry.ExtendPermit(r.ExtendPermitRequest(stay_id=stay.id, permit=extension))
    assert [p.permit_number for p in extended.permit_history] == ["VOA-1", "VOA-1-EXT"]
    assert extended.permit.valid_until == extension.valid_until

    dossier = queries.GetPerson(q.GetPersonRequest(person_id=person.id))
    assert dossier.current_stay.id == stay.id

    closed = registry.RecordExit(
        r.RecordExitRequest(person_id=person.id, port_code="MWK", exited_at=f.hours_ago(0.5))
    )
    assert closed.exit_port_code == "MWK"
    assert closed.HasField("exited_at")
    assert len(closed.permit_history) == 2
    assert not queries.GetPerson(q.GetPersonRequest(person_id=person.id)).HasField("current_stay")

    again = registry.RecordEntry(f.entry(person.id, hours=0.1))
    assert again.id != stay.id


def test_entry_while_a_stay_is_open_is_failed_precondition_and_writes_nothing(
    registry: r_grpc.RegistryServiceStub, row_counts: RowCounts
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    registry.RecordEntry(f.entry(person.id))
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        registry.RecordEntry(f.entry(person.id, hours=1))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f.precondition_types(caught.value) == ["STAY_OPEN"]
    assert row_counts.snapshot() == before


def test_exit_without_open_stay_is_failed_precondition_and_writes_nothing(
    registry: r_grpc.RegistryServiceStub, row_counts: RowCounts
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        registry.RecordExit(
            r.RecordExitRequest(person_id=person.id, port_code="MWK", exited_at=f.hours_ago(1))
        )
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f.precondition_types(caught.value) == ["NO_OPEN_STAY"]
    assert row_counts.snapshot() == before


def test_extension_must_join_the_current_period_and_writes_nothing_otherwise(
    registry: r_grpc.RegistryServiceStub, row_counts: RowCounts
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    stay = registry.RecordEntry(f.entry(person.id))  # permit ends in 30 days
    before = row_counts.snapshot()
    for gap_or_backdated in (f.permit(days=90, starts=40), f.permit(days=90, starts=-400)):
        with pytest.raises(grpc.RpcError) as caught:
            registry.ExtendPermit(r.ExtendPermitRequest(stay_id=stay.id, permit=gap_or_backdated))
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f.precondition_types(caught.value) == ["EXTENSION_NOT_CONTIGUOUS"]
    assert row_counts.snapshot() == before


def test_a_sighting_reference_of_another_person_is_refused_without_revealing_it(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub, row_counts: RowCounts
) -> None:
    first = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    second = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    reference = f"POLRES-KKA-{f.document_number()}"

    def sighting(person_id: str, lat: float) -> r.RecordSightingRequest:
        return r.RecordSightingRequest(
            person_id=person_id,
            location=pb.GeoPoint(latitude=lat, longitude=106.22),
            observed_at=f.hours_ago(1),
            source=pb.SIGHTING_SOURCE_POLICE_CHECK,
            reference=reference,
            place_name="Pasar Tarempa",
        )

    original = registry.RecordSighting(sighting(first.id, 3.21))
    assert registry.RecordSighting(sighting(first.id, 3.21)).id == original.id
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        registry.RecordSighting(sighting(second.id, 3.25))
    assert caught.value.code() == grpc.StatusCode.ALREADY_EXISTS
    assert f.error_info(caught.value).reason == "SIGHTING_REFERENCE_TAKEN"
    assert first.id not in str(caught.value.details())
    assert row_counts.snapshot() == before
    assert not queries.GetPerson(q.GetPersonRequest(person_id=second.id)).recent_sightings


def test_a_person_who_left_is_no_longer_listed_near_their_address(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    centre = pb.GeoPoint(latitude=2.8624, longitude=105.7424)  # Genting Pulur
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    registry.RecordEntry(f.entry(person.id))
    registry.ReportAddress(f.address(person.id, centre.latitude, centre.longitude))

    def near() -> list[str]:
        found = queries.ListPersonsNear(
            q.ListPersonsNearRequest(center=centre, radius_meters=300, page_size=500)
        )
        return [n.person.id for n in found.results]

    assert person.id in near()
    registry.RecordExit(
        r.RecordExitRequest(person_id=person.id, port_code="LMU", exited_at=f.hours_ago(0.1))
    )
    assert person.id not in near()
    dossier = queries.GetPerson(q.GetPersonRequest(person_id=person.id))
    assert not dossier.HasField("current_address")


def test_extension_must_end_later_and_writes_nothing_otherwise(
    registry: r_grpc.RegistryServiceStub, row_counts: RowCounts
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    stay = registry.RecordEntry(f.entry(person.id))
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        registry.ExtendPermit(r.ExtendPermitRequest(stay_id=stay.id, permit=f.permit(days=10)))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert f.precondition_types(caught.value) == ["EXTENSION_NOT_LATER"]
    assert row_counts.snapshot() == before


def test_address_change_adds_a_record_and_moves_the_current_address(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub, row_counts: RowCounts
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    first = registry.ReportAddress(f.address(person.id, 3.2166, 106.2211, days=-30))
    assert (first.address.district_code, first.address.village_code) == (
        "21.05.01",
        "21.05.01.1001",
    )
    assert first.address.village_name == "Terempa"
    before = row_counts.snapshot()
    moved = registry.ReportAddress(f.address(person.id, 3.3184, 106.2425, days=-2))
    assert moved.address.district_code == "21.05.10"  # Kute Siantan, on Matak island
    after = row_counts.snapshot()
    assert after["addresses"] == before["addresses"] + 1
    assert after["current_addresses"] == before["current_addresses"]
    assert queries.GetPerson(q.GetPersonRequest(person_id=person.id)).current_address.id == moved.id

    # A late report of an older move is kept but does not become current.
    late = registry.ReportAddress(f.address(person.id, 3.2, 106.21, days=-10))
    dossier = queries.GetPerson(q.GetPersonRequest(person_id=person.id))
    assert dossier.current_address.id == moved.id
    assert late.id not in {moved.id, first.id}


def test_address_outside_the_regency_gets_no_district(
    registry: r_grpc.RegistryServiceStub,
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    batam = registry.ReportAddress(f.address(person.id, 1.0456, 104.0305))
    assert (batam.address.district_code, batam.address.village_code) == ("", "")


def test_sighting_by_document_is_placed_and_shows_in_the_dossier(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    document = person.documents[0]
    sighting = registry.RecordSighting(
        r.RecordSightingRequest(
            document=pb.TravelDocument(
                issuing_state=document.issuing_state, number=document.number
            ),
            location=pb.GeoPoint(latitude=2.9941, longitude=105.7065),
            observed_at=f.hours_ago(3),
            source=pb.SIGHTING_SOURCE_POLICE_CHECK,
            reference=f"POL-{document.number}",
            place_name="Pelabuhan Letung",
        )
    )
    assert sighting.person_id == person.id
    assert sighting.district_code.startswith("21.05.")
    dossier = queries.GetPerson(q.GetPersonRequest(person_id=person.id))
    assert [s.id for s in dossier.recent_sightings] == [sighting.id]


def _lodging_report(number: str, reference: str, **changes: object) -> r.LodgingReport:
    report = r.LodgingReport(
        lodging_id="APOA-2105-0042",
        lodging_name="Wisma Tarempa Indah",
        location=pb.GeoPoint(latitude=3.2171, longitude=106.2213),
        event=r.LODGING_EVENT_CHECK_IN,
        document=pb.TravelDocument(issuing_state="VNM", number=number),
        occurred_at=f.hours_ago(5),
        reference=reference,
    )
    for name, value in changes.items():
        if isinstance(value, (pb.GeoPoint, Timestamp)):
            getattr(report, name).CopyFrom(value)
        else:
            setattr(report, name, value)
    return report


def test_lodging_import_counts_each_report_and_a_bad_one_never_stops_the_stream(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub, row_counts: RowCounts
) -> None:
    guest = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    number = guest.documents[0].number
    tag = f.document_number()
    reports = [
        _lodging_report(number, f"{tag}-1"),
        _lodging_report("UNKNOWN999", f"{tag}-2"),
        _lodging_report(number, f"{tag}-3", location=pb.GeoPoint(latitude=95, longitude=106)),
        _lodging_report(number, f"{tag}-4", event=r.LODGING_EVENT_CHECK_OUT),
        _lodging_report(number, f"{tag}-1"),  # sent twice
        _lodging_report(number, f"{tag}-5", lodging_id=" "),
    ]
    before = row_counts.snapshot()
    summary = registry.ImportLodgingReports(iter(reports))
    assert (summary.accepted, summary.duplicates, summary.rejected) == (2, 1, 3)
    reasons = {rejection.index: rejection for rejection in summary.rejections}
    assert set(reasons) == {1, 2, 5}
    assert reasons[1].field == "document"
    assert reasons[2].field == "location.latitude"
    assert reasons[5].field == "lodging_id"
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 2

    dossier = queries.GetPerson(q.GetPersonRequest(person_id=guest.id))
    sources = sorted(s.source for s in dossier.recent_sightings)
    assert sources == [pb.SIGHTING_SOURCE_LODGING_CHECK_IN, pb.SIGHTING_SOURCE_LODGING_CHECK_OUT]

    again = registry.ImportLodgingReports(iter(reports[:1]))
    assert (again.accepted, again.duplicates) == (0, 1)


def test_an_extension_to_the_voa_limit_is_accepted_and_one_day_more_refused_naming_it(
    registry: r_grpc.RegistryServiceStub, row_counts: RowCounts
) -> None:
    # Each first period runs from yesterday to day 30: 32 days of the VOA's 60.
    met = registry.RecordEntry(
        f.entry(registry.RegisterPerson(r.RegisterPersonRequest(person=f.person())).id)
    )
    to_the_limit = f.permit(days=58, number="VOA-EXT", starts=31)
    extended = registry.ExtendPermit(r.ExtendPermitRequest(stay_id=met.id, permit=to_the_limit))
    assert len(extended.permit_history) == 2

    over = registry.RecordEntry(
        f.entry(registry.RegisterPerson(r.RegisterPersonRequest(person=f.person())).id)
    )
    one_day_more = f.permit(days=59, number="VOA-EXT", starts=31)
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        registry.ExtendPermit(r.ExtendPermitRequest(stay_id=over.id, permit=one_day_more))
    assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    ((kind, subject, description),) = f.precondition_violations(caught.value)
    assert (kind, subject) == ("PERMIT_LIMIT_EXCEEDED", f"stays/{over.id}")
    assert "VOA periods would cover 61 days" in description
    assert "over the VOA limit of 60 days in all (setting permit_voa.total_days)" in description
    assert row_counts.snapshot() == before


def test_imported_addresses_and_sightings_keep_the_time_they_were_reported(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    now = CLOCK.now()
    moved_reported = now - timedelta(days=98)
    record = registry.ReportAddress(
        f.address(person.id, 3.2166, 106.2211, days=-100, reported_at=f.timestamp(moved_reported))
    )
    assert record.reported_at.ToDatetime(tzinfo=UTC) == moved_reported
    assert record.recorded_at.ToDatetime(tzinfo=UTC) - now < timedelta(minutes=1)

    seen = now - timedelta(days=50)
    sighting = registry.RecordSighting(
        r.RecordSightingRequest(
            person_id=person.id,
            location=pb.GeoPoint(latitude=2.9941, longitude=105.7065),
            observed_at=f.timestamp(seen),
            source=pb.SIGHTING_SOURCE_POLICE_CHECK,
            reported_at=f.timestamp(seen + timedelta(hours=2)),
        )
    )
    assert sighting.reported_at.ToDatetime(tzinfo=UTC) == seen + timedelta(hours=2)

    number = person.documents[0].number
    checked_in = now - timedelta(days=40)
    reports = [
        _lodging_report(
            number,
            f"{number}-1",
            occurred_at=f.timestamp(checked_in),
            reported_at=f.timestamp(checked_in + timedelta(minutes=10)),
        ),
        _lodging_report(
            number,
            f"{number}-2",
            occurred_at=f.timestamp(checked_in),
            reported_at=f.timestamp(checked_in - timedelta(minutes=10)),
        ),
    ]
    summary = registry.ImportLodgingReports(iter(reports))
    assert (summary.accepted, summary.rejected) == (1, 1)
    assert (summary.rejections[0].index, summary.rejections[0].field) == (1, "reported_at")

    dossier = queries.GetPerson(q.GetPersonRequest(person_id=person.id))
    assert dossier.current_address.reported_at == record.reported_at
    assert dossier.current_address.recorded_at == record.recorded_at
    reported = {s.source: s.reported_at.ToDatetime(tzinfo=UTC) for s in dossier.recent_sightings}
    assert reported == {
        pb.SIGHTING_SOURCE_POLICE_CHECK: seen + timedelta(hours=2),
        pb.SIGHTING_SOURCE_LODGING_CHECK_IN: checked_in + timedelta(minutes=10),
    }


def test_health_and_reflection_serve_generic_clients(grpc_channel: grpc.Channel) -> None:
    health = health_pb2_grpc.HealthStub(grpc_channel)
    services = (
        "pantau.v1.RegistryService",
        "pantau.v1.QueryService",
        "pantau.v1.AlertReviewService",
    )
    for service in ("", *services):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING
    reflection = reflection_pb2_grpc.ServerReflectionStub(grpc_channel)
    answers = reflection.ServerReflectionInfo(
        iter([reflection_pb2.ServerReflectionRequest(list_services="")])
    )
    names = {s.name for answer in answers for s in answer.list_services_response.service}
    assert set(services) <= names
