"""Protobuf <-> domain, for both services. The only module that knows both."""

from __future__ import annotations

from datetime import UTC, date, datetime

from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain.errors import FieldViolation, InvalidInput

_SEX_FROM_PB = {
    pb.SEX_FEMALE: model.Sex.FEMALE,
    pb.SEX_MALE: model.Sex.MALE,
    pb.SEX_UNKNOWN: model.Sex.UNKNOWN,
}
_SEX_TO_PB = {v: k for k, v in _SEX_FROM_PB.items()}
_PERMIT_FROM_PB = {
    pb.PERMIT_TYPE_VOA: model.PermitType.VOA,
    pb.PERMIT_TYPE_VISIT: model.PermitType.VISIT,
    pb.PERMIT_TYPE_LIMITED_STAY: model.PermitType.LIMITED_STAY,
    pb.PERMIT_TYPE_PERMANENT_STAY: model.PermitType.PERMANENT_STAY,
    pb.PERMIT_TYPE_DIPLOMATIC: model.PermitType.DIPLOMATIC,
}
_PERMIT_TO_PB = {v: k for k, v in _PERMIT_FROM_PB.items()}
_SOURCE_FROM_PB = {
    pb.SIGHTING_SOURCE_LODGING_CHECK_IN: model.SightingSource.LODGING_CHECK_IN,
    pb.SIGHTING_SOURCE_LODGING_CHECK_OUT: model.SightingSource.LODGING_CHECK_OUT,
    pb.SIGHTING_SOURCE_POLICE_CHECK: model.SightingSource.POLICE_CHECK,
    pb.SIGHTING_SOURCE_LOCAL_GOVERNMENT: model.SightingSource.LOCAL_GOVERNMENT,
    pb.SIGHTING_SOURCE_COMMUNITY_REPORT: model.SightingSource.COMMUNITY_REPORT,
    pb.SIGHTING_SOURCE_IMMIGRATION_CHECK: model.SightingSource.IMMIGRATION_CHECK,
}
_SOURCE_TO_PB = {v: k for k, v in _SOURCE_FROM_PB.items()}
LODGING_SOURCES = {
    r.LODGING_EVENT_CHECK_IN: model.SightingSource.LODGING_CHECK_IN,
    r.LODGING_EVENT_CHECK_OUT: model.SightingSource.LODGING_CHECK_OUT,
}


# --- from protobuf -------------------------------------------------------------


def date_parts(message: Date, present: bool = True) -> cmd.DateParts | None:
    if not present:
        return None
    return cmd.DateParts(message.year, message.month, message.day)


def instant(message: Timestamp, present: bool, field: str) -> datetime | None:
    if not present:
        return None
    try:
        return message.ToDatetime(tzinfo=UTC)
    except (ValueError, OverflowError) as error:
        raise InvalidInput([FieldViolation(field, "is not a valid timestamp")]) from error


def point(message: pb.GeoPoint, present: bool) -> cmd.RawPoint | None:
    return cmd.RawPoint(message.latitude, message.longitude) if present else None


def document(message: pb.TravelDocument, present: bool = True) -> cmd.RawDocument | None:
    if not present:
        return None
    return cmd.RawDocument(
        message.issuing_state,
        message.number,
        date_parts(message.expiry_date, message.HasField("expiry_date")),
    )


def permit(message: pb.StayPermit, present: bool) -> cmd.RawPermit | None:
    if not present:
        return None
    return cmd.RawPermit(
        permit_number=message.permit_number,
        type=_PERMIT_FROM_PB.get(message.type),
        valid_from=date_parts(message.valid_from, message.HasField("valid_from")),
        valid_until=date_parts(message.valid_until, message.HasField("valid_until")),
        sponsor=message.sponsor,
        purpose=message.purpose,
    )


def register_person(request: r.RegisterPersonRequest) -> cmd.RegisterPerson:
    person = request.person
    return cmd.RegisterPerson(
        family_name=person.family_name,
        given_names=person.given_names,
        nationality=person.nationality,
        birth_date=date_parts(person.birth_date, person.HasField("birth_date")),
        sex=_SEX_FROM_PB.get(person.sex),
        documents=tuple(
            cmd.RawDocument(
                d.issuing_state, d.number, date_parts(d.expiry_date, d.HasField("expiry_date"))
            )
            for d in person.documents
        ),
    )


def add_travel_document(request: r.AddTravelDocumentRequest) -> cmd.AddTravelDocument:
    return cmd.AddTravelDocument(
        request.person_id, document(request.document, request.HasField("document"))
    )


def record_entry(request: r.RecordEntryRequest) -> cmd.RecordEntry:
    return cmd.RecordEntry(
        person_id=request.person_id,
        port_code=request.port_code,
        entered_at=instant(request.entered_at, request.HasField("entered_at"), "entered_at"),
        permit=permit(request.permit, request.HasField("permit")),
    )


def extend_permit(request: r.ExtendPermitRequest) -> cmd.ExtendPermit:
    return cmd.ExtendPermit(request.stay_id, permit(request.permit, request.HasField("permit")))


def record_exit(request: r.RecordExitRequest) -> cmd.RecordExit:
    return cmd.RecordExit(
        person_id=request.person_id,
        port_code=request.port_code,
        exited_at=instant(request.exited_at, request.HasField("exited_at"), "exited_at"),
    )


def report_address(request: r.ReportAddressRequest) -> cmd.ReportAddress:
    address = request.address
    return cmd.ReportAddress(
        person_id=request.person_id,
        line=address.line,
        location=point(address.location, address.HasField("location")),
        effective_from=date_parts(request.effective_from, request.HasField("effective_from")),
    )


def record_sighting(request: r.RecordSightingRequest) -> cmd.RecordSighting:
    subject = request.WhichOneof("subject")
    return cmd.RecordSighting(
        person_id=request.person_id if subject == "person_id" else None,
        document=document(request.document) if subject == "document" else None,
        location=point(request.location, request.HasField("location")),
        observed_at=instant(request.observed_at, request.HasField("observed_at"), "observed_at"),
        source=_SOURCE_FROM_PB.get(request.source),
        reference=request.reference,
        place_name=request.place_name,
    )


def lodging_sighting(report: r.LodgingReport) -> cmd.RecordSighting:
    """A lodging report as a sighting; its reference is unique per lodging and event."""
    lodging_id = " ".join(report.lodging_id.split())
    reference = f"{lodging_id}/{report.reference.strip()}" if report.reference.strip() else ""
    return cmd.RecordSighting(
        person_id=None,
        document=document(report.document, report.HasField("document")),
        location=point(report.location, report.HasField("location")),
        observed_at=instant(report.occurred_at, report.HasField("occurred_at"), "occurred_at"),
        source=LODGING_SOURCES.get(report.event),
        reference=reference,
        place_name=report.lodging_name,
    )


def person_key(request: q.GetPersonRequest) -> cmd.PersonKey:
    key = request.WhichOneof("key")
    if key == "person_id":
        return cmd.PersonKey(person_id=request.person_id)
    if key == "document":
        return cmd.PersonKey(document=document(request.document))
    return cmd.PersonKey()


def search_persons(request: q.SearchPersonsRequest) -> cmd.SearchPersons:
    return cmd.SearchPersons(
        name=request.name,
        nationality=request.nationality,
        birth_year=request.birth_year,
        page_size=request.page_size,
        page_token=request.page_token,
    )


def list_persons_near(request: q.ListPersonsNearRequest) -> cmd.ListPersonsNear:
    return cmd.ListPersonsNear(
        center=point(request.center, request.HasField("center")),
        radius_meters=request.radius_meters,
        page_size=request.page_size,
        page_token=request.page_token,
    )


# --- to protobuf ---------------------------------------------------------------


def date_pb(value: date) -> Date:
    return Date(year=value.year, month=value.month, day=value.day)


def timestamp_pb(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def person_pb(person: model.Person) -> pb.Person:
    identity = person.identity
    message = pb.Person(
        id=str(person.id),
        family_name=identity.family_name,
        given_names=identity.given_names,
        nationality=identity.nationality,
        birth_date=Date(
            year=identity.birth_date.year,
            month=identity.birth_date.month,
            day=identity.birth_date.day,
        ),
        sex=_SEX_TO_PB[identity.sex],
        registered_at=timestamp_pb(person.registered_at),
    )
    for d in person.documents:
        doc = message.documents.add(issuing_state=d.issuing_state, number=d.number)
        if d.expiry_date:
            doc.expiry_date.CopyFrom(date_pb(d.expiry_date))
    return message


def permit_pb(permit: model.StayPermit) -> pb.StayPermit:
    message = pb.StayPermit(
        permit_number=permit.permit_number,
        type=_PERMIT_TO_PB[permit.type],
        valid_from=date_pb(permit.valid_from),
        valid_until=date_pb(permit.valid_until),
        sponsor=permit.sponsor,
        purpose=permit.purpose,
    )
    if permit.recorded_at:
        message.recorded_at.CopyFrom(timestamp_pb(permit.recorded_at))
    return message


def stay_pb(stay: model.Stay) -> pb.Stay:
    message = pb.Stay(
        id=str(stay.id),
        person_id=str(stay.person_id),
        entry_port_code=stay.entry_port_code,
        entered_at=timestamp_pb(stay.entered_at),
        exit_port_code=stay.exit_port_code,
        permit=permit_pb(stay.permit),
        permit_history=[permit_pb(p) for p in stay.permits],
    )
    if stay.exited_at:
        message.exited_at.CopyFrom(timestamp_pb(stay.exited_at))
    return message


def geo_pb(point: model.GeoPoint) -> pb.GeoPoint:
    return pb.GeoPoint(latitude=point.latitude, longitude=point.longitude)


def address_pb(address: model.Address) -> pb.Address:
    return pb.Address(
        line=address.line,
        location=geo_pb(address.location),
        district_code=address.district_code,
        village_code=address.village_code,
        district_name=address.district_name,
        village_name=address.village_name,
    )


def address_record_pb(record: model.AddressRecord) -> pb.AddressRecord:
    return pb.AddressRecord(
        id=str(record.id),
        person_id=str(record.person_id),
        address=address_pb(record.address),
        effective_from=date_pb(record.effective_from),
        reported_at=timestamp_pb(record.reported_at),
    )


def sighting_pb(sighting: model.Sighting) -> pb.Sighting:
    message = pb.Sighting(
        id=str(sighting.id),
        person_id=str(sighting.person_id),
        location=geo_pb(sighting.location),
        district_code=sighting.district_code,
        village_code=sighting.village_code,
        observed_at=timestamp_pb(sighting.observed_at),
        source=_SOURCE_TO_PB[sighting.source],
        reference=sighting.reference,
        place_name=sighting.place_name,
    )
    if sighting.recorded_at:
        message.recorded_at.CopyFrom(timestamp_pb(sighting.recorded_at))
    return message


def dossier_pb(dossier: model.PersonDossier) -> q.PersonDossier:
    message = q.PersonDossier(
        person=person_pb(dossier.person),
        recent_sightings=[sighting_pb(s) for s in dossier.recent_sightings],
    )
    if dossier.current_stay:
        message.current_stay.CopyFrom(stay_pb(dossier.current_stay))
    if dossier.current_address:
        message.current_address.CopyFrom(address_record_pb(dossier.current_address))
    return message


def search_response_pb(page: model.Page[model.PersonMatch]) -> q.SearchPersonsResponse:
    return q.SearchPersonsResponse(
        results=[q.PersonMatch(person=person_pb(m.person), score=m.score) for m in page.items],
        next_page_token=page.next_page_token,
    )


def near_response_pb(page: model.Page[model.PersonNearby]) -> q.ListPersonsNearResponse:
    return q.ListPersonsNearResponse(
        results=[
            q.PersonNearby(
                person=person_pb(n.person),
                address=address_pb(n.address),
                distance_meters=n.distance_meters,
            )
            for n in page.items
        ],
        next_page_token=page.next_page_token,
    )
