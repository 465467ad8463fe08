"""Protobuf <-> domain, for every service. The only module that knows both."""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any, Literal

from google.protobuf.timestamp_pb2 import Timestamp
from google.type.date_pb2 import Date
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import report_service_pb2 as rpt
from pantau.v1 import watchlist_service_pb2 as wpb

from exchange_service.domain import alerts, model
from exchange_service.domain import commands as cmd
from exchange_service.domain import report as rp
from exchange_service.domain import watchlist as wl
from exchange_service.domain.errors import FieldViolation, InvalidInput
from watchlist.mrz import MrzDocument

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


# The alerts' enums: each domain value is the proto value of the same name
# after the enum's prefix (OVERSTAY is ALERT_RULE_OVERSTAY); a domain value
# the contract lacks fails here, at import.
class _AlertEnum:
    """One enum of alerts.proto and its domain twin."""

    # ``proto``: a generated enum (its Name and Value take and give its own int type).
    def __init__(self, proto: Any, prefix: str, domain: type[enum.StrEnum]) -> None:
        self.proto = proto
        self.prefix = prefix
        self.to_pb: Mapping[enum.StrEnum, int] = {
            value: proto.Value(prefix + value.value) for value in domain
        }

    def text(self, number: int) -> str:
        """The domain name of a received number: '' for unspecified, the number if unknown."""
        if number == 0:
            return ""
        try:
            return str(self.proto.Name(number)).removeprefix(self.prefix)
        except ValueError:
            return str(number)

    def pb(self, value: enum.StrEnum | None) -> int:
        return 0 if value is None else self.to_pb[value]


RULES = _AlertEnum(apb.AlertRule, "ALERT_RULE_", alerts.RuleName)
SEVERITIES = _AlertEnum(apb.AlertSeverity, "ALERT_SEVERITY_", alerts.Severity)
STATUSES = _AlertEnum(apb.AlertStatus, "ALERT_STATUS_", alerts.AlertStatus)
SUBJECT_KINDS = _AlertEnum(apb.AlertSubjectKind, "ALERT_SUBJECT_KIND_", alerts.SubjectKind)
ACTIONS = _AlertEnum(
    apb.AdministrativeAction, "ADMINISTRATIVE_ACTION_", alerts.AdministrativeAction
)
REASONS = _AlertEnum(apb.ResolutionReason, "RESOLUTION_REASON_", alerts.ResolutionReason)
EVENT_KINDS = _AlertEnum(apb.AlertEventKind, "ALERT_EVENT_KIND_", alerts.AlertEventKind)
DECISIONS = _AlertEnum(apb.ReviewDecision, "REVIEW_DECISION_", alerts.ReviewDecision)
# A lodging report's rejection, named the same way (INVALID_FIELD is
# REJECTION_REASON_INVALID_FIELD).
REJECTION_REASONS = _AlertEnum(r.RejectionReason, "REJECTION_REASON_", model.RejectionReason)


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
        mrz=request.mrz,
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
        reported_at=instant(request.reported_at, request.HasField("reported_at"), "reported_at"),
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
        reported_at=instant(request.reported_at, request.HasField("reported_at"), "reported_at"),
    )


def lodging_report(report: r.LodgingReport) -> cmd.LodgingReport:
    """A lodging report as a command; it never raises, so one bad report cannot stop a batch."""
    unreadable: list[FieldViolation] = []

    def readable_instant(field: Literal["occurred_at", "reported_at"]) -> datetime | None:
        try:
            return instant(getattr(report, field), report.HasField(field), field)
        except InvalidInput as error:
            unreadable.extend(error.violations)
            return None

    occurred_at = readable_instant("occurred_at")
    reported_at = readable_instant("reported_at")
    return cmd.LodgingReport(
        lodging_id=report.lodging_id,
        lodging_name=report.lodging_name,
        location=point(report.location, report.HasField("location")),
        event=LODGING_SOURCES.get(report.event),
        document=document(report.document, report.HasField("document")),
        occurred_at=occurred_at,
        reference=report.reference,
        unreadable=tuple(unreadable),
        reported_at=reported_at,
    )


def unreadable_lodging_report(reason: str) -> cmd.LodgingReport:
    """A message of a lodging batch the server could not read: a report rejected for ``reason``."""
    return cmd.LodgingReport(
        lodging_id="",
        lodging_name="",
        location=None,
        event=None,
        document=None,
        occurred_at=None,
        reference="",
        unreadable=(FieldViolation("", reason),),
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


def list_alerts(request: q.ListAlertsRequest) -> cmd.ListAlerts:
    subject = request.WhichOneof("subject")
    return cmd.ListAlerts(
        rules=tuple(RULES.text(rule) for rule in request.rules),
        statuses=tuple(STATUSES.text(status) for status in request.statuses),
        min_severity=SEVERITIES.text(request.min_severity),
        district_code=request.district_code,
        person_id=request.person_id if subject == "person_id" else None,
        sponsor_id=request.sponsor_id if subject == "sponsor_id" else None,
        since=instant(request.since, request.HasField("since"), "since"),
        page_size=request.page_size,
        page_token=request.page_token,
    )


def review_alert(request: ar.ReviewAlertRequest) -> cmd.ReviewAlert:
    return cmd.ReviewAlert(
        alert_id=request.alert_id, decision=DECISIONS.text(request.decision), note=request.note
    )


# --- to protobuf ---------------------------------------------------------------
#
# Responses are built from nested dicts of field values: upb fills the whole
# message tree in C, where building each sub-message and copying it into its
# parent costs about four times as much (the dossier is the hottest response).

Fields = dict[str, Any]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _date(value: date) -> Fields:
    return {"year": value.year, "month": value.month, "day": value.day}


def _date_or_none(value: date | None) -> Fields | None:
    return None if value is None else _date(value)


def timestamp_fields(value: datetime) -> Fields:
    """As ``Timestamp.FromDatetime`` (a naive time is UTC), without its generic path."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return {"seconds": delta.days * 86_400 + delta.seconds, "nanos": delta.microseconds * 1_000}


def _timestamp_or_none(value: datetime | None) -> Fields | None:
    return None if value is None else timestamp_fields(value)


def _point_or_none(point: model.GeoPoint | None) -> Fields | None:
    return None if point is None else {"latitude": point.latitude, "longitude": point.longitude}


def _person(person: model.Person) -> Fields:
    identity = person.identity
    birth = identity.birth_date
    return {
        "id": str(person.id),
        "family_name": identity.family_name,
        "given_names": identity.given_names,
        "nationality": identity.nationality,
        "birth_date": {"year": birth.year, "month": birth.month, "day": birth.day},
        "sex": _SEX_TO_PB[identity.sex],
        "registered_at": timestamp_fields(person.registered_at),
        "documents": [
            {
                "issuing_state": d.issuing_state,
                "number": d.number,
                "expiry_date": _date_or_none(d.expiry_date),
            }
            for d in person.documents
        ],
    }


def _permit(permit: model.StayPermit) -> Fields:
    return {
        "permit_number": permit.permit_number,
        "type": _PERMIT_TO_PB[permit.type],
        "valid_from": _date(permit.valid_from),
        "valid_until": _date(permit.valid_until),
        "sponsor": permit.sponsor,
        "purpose": permit.purpose,
        "recorded_at": _timestamp_or_none(permit.recorded_at),
    }


def _stay(stay: model.Stay) -> Fields:
    return {
        "id": str(stay.id),
        "person_id": str(stay.person_id),
        "entry_port_code": stay.entry_port_code,
        "entered_at": timestamp_fields(stay.entered_at),
        "exit_port_code": stay.exit_port_code,
        "exited_at": _timestamp_or_none(stay.exited_at),
        "permit": _permit(stay.permit),
        "permit_history": [_permit(p) for p in stay.permits],
    }


def _address(address: model.Address) -> Fields:
    return {
        "line": address.line,
        "location": _point_or_none(address.location),
        "district_code": address.district_code,
        "village_code": address.village_code,
        "district_name": address.district_name,
        "village_name": address.village_name,
    }


def _address_record(record: model.AddressRecord) -> Fields:
    return {
        "id": str(record.id),
        "person_id": str(record.person_id),
        "address": _address(record.address),
        "effective_from": _date(record.effective_from),
        "reported_at": timestamp_fields(record.reported_at),
        "recorded_at": _timestamp_or_none(record.recorded_at),
    }


def _sighting(sighting: model.Sighting) -> Fields:
    return {
        "id": str(sighting.id),
        "person_id": str(sighting.person_id),
        "location": _point_or_none(sighting.location),
        "district_code": sighting.district_code,
        "village_code": sighting.village_code,
        "observed_at": timestamp_fields(sighting.observed_at),
        "source": _SOURCE_TO_PB[sighting.source],
        "reference": sighting.reference,
        "place_name": sighting.place_name,
        "recorded_at": _timestamp_or_none(sighting.recorded_at),
        "reported_at": _timestamp_or_none(sighting.reported_at),
    }


def timestamp_pb(value: datetime) -> Timestamp:
    return Timestamp(**timestamp_fields(value))


def person_pb(person: model.Person) -> pb.Person:
    return pb.Person(**_person(person))


def stay_pb(stay: model.Stay) -> pb.Stay:
    return pb.Stay(**_stay(stay))


def address_record_pb(record: model.AddressRecord) -> pb.AddressRecord:
    return pb.AddressRecord(**_address_record(record))


def sighting_pb(sighting: model.Sighting) -> pb.Sighting:
    return pb.Sighting(**_sighting(sighting))


def dossier_pb(dossier: model.PersonDossier) -> q.PersonDossier:
    stay, address = dossier.current_stay, dossier.current_address
    fields: Fields = {
        "person": _person(dossier.person),
        "current_stay": _stay(stay) if stay else None,
        "current_address": _address_record(address) if address else None,
        "recent_sightings": [_sighting(s) for s in dossier.recent_sightings],
    }
    return q.PersonDossier(**fields)


def search_response_pb(page: model.Page[model.PersonMatch]) -> q.SearchPersonsResponse:
    fields: Fields = {
        "results": [{"person": _person(m.person), "score": m.score} for m in page.items],
        "next_page_token": page.next_page_token,
    }
    return q.SearchPersonsResponse(**fields)


def near_response_pb(page: model.Page[model.PersonNearby]) -> q.ListPersonsNearResponse:
    fields: Fields = {
        "results": [
            {
                "person": _person(n.person),
                "address": _address(n.address),
                "distance_meters": n.distance_meters,
            }
            for n in page.items
        ],
        "next_page_token": page.next_page_token,
    }
    return q.ListPersonsNearResponse(**fields)


def import_summary_pb(summary: model.ImportSummary) -> r.ImportSummary:
    fields: Fields = {
        "accepted": summary.accepted,
        "duplicates": summary.duplicates,
        "rejected": summary.rejected,
        "rejections": [
            {
                "index": rejection.index,
                "lodging_id": rejection.lodging_id,
                "reference": rejection.reference,
                "field": rejection.field,
                "reason": rejection.reason,
                "reason_code": REJECTION_REASONS.pb(rejection.reason_code),
            }
            for rejection in summary.rejections
        ],
        "rejections_unlisted": summary.rejections_unlisted,
        "rejection_counts": [
            {
                "field": count.field,
                "reason_code": REJECTION_REASONS.pb(count.reason_code),
                "count": count.count,
            }
            for count in summary.rejection_counts
        ],
        "reports_read": summary.reports_read,
        "reached_cap": summary.reached_cap,
    }
    return r.ImportSummary(**fields)


def _subject(kind: alerts.SubjectKind, subject_id: str) -> Fields:
    # person_id, so the audit trail names the person an alert is about.
    person_id = subject_id if kind is alerts.SubjectKind.PERSON else ""
    return {
        "subject_kind": SUBJECT_KINDS.pb(kind),
        "subject_id": subject_id,
        "person_id": person_id,
    }


def _alert(alert: alerts.Alert) -> Fields:
    return {
        "id": str(alert.id),
        "rule": RULES.pb(alert.rule),
        **_subject(alert.subject_kind, alert.subject_id),
        "stay_id": "" if alert.stay_id is None else str(alert.stay_id),
        "severity": SEVERITIES.pb(alert.severity),
        "status": STATUSES.pb(alert.status),
        "district_code": alert.district_code,
        "village_code": alert.village_code,
        # A dict for a google.protobuf.Struct field is its JSON object.
        "evidence": dict(alert.evidence),
        "summary_id": alert.summary_id,
        "summary_en": alert.summary_en,
        "action": ACTIONS.pb(alert.action),
        "first_detected_at": timestamp_fields(alert.first_detected_at),
        "changed_at": timestamp_fields(alert.changed_at),
        "resolved_at": _timestamp_or_none(alert.resolved_at),
        "resolution_reason": REASONS.pb(alert.resolution_reason),
    }


def alert_event_fields(event: alerts.AlertEvent) -> Fields:
    """An alert event's message fields (also a feed entry's payload, ``wire.feed``)."""
    reviewed = event.kind is alerts.AlertEventKind.REVIEWED
    return {
        "seq": event.seq,
        "alert_id": str(event.alert_id),
        "kind": EVENT_KINDS.pb(event.kind),
        "rule": RULES.pb(event.rule),
        **_subject(event.subject_kind, event.subject_id),
        "stay_id": "" if event.stay_id is None else str(event.stay_id),
        "severity": SEVERITIES.pb(event.severity),
        "status": STATUSES.pb(event.status),
        "district_code": event.district_code,
        "village_code": event.village_code,
        "evidence": dict(event.evidence),
        "summary_id": event.summary_id,
        "summary_en": event.summary_en,
        "action": ACTIONS.pb(event.action),
        "resolution_reason": REASONS.pb(event.resolution_reason),
        "actor_id": event.actor_id,
        "actor_kind": event.actor_kind,
        "officer": event.officer,
        # A review's decision is the status it led to.
        "decision": DECISIONS.pb(
            alerts.ReviewDecision.of_status(event.status) if reviewed else None
        ),
        "note": event.note,
        "rule_run_id": "" if event.rule_run_id is None else str(event.rule_run_id),
        "occurred_at": timestamp_fields(event.occurred_at),
        "recorded_at": timestamp_fields(event.recorded_at),
    }


def list_alerts_response_pb(page: model.Page[alerts.Alert]) -> q.ListAlertsResponse:
    fields: Fields = {
        "alerts": [_alert(alert) for alert in page.items],
        "next_page_token": page.next_page_token,
    }
    return q.ListAlertsResponse(**fields)


def get_alert_response_pb(
    alert: alerts.Alert, events: tuple[alerts.AlertEvent, ...]
) -> q.GetAlertResponse:
    fields: Fields = {"alert": _alert(alert), "events": [alert_event_fields(e) for e in events]}
    return q.GetAlertResponse(**fields)


def review_alert_response_pb(
    alert: alerts.Alert, event: alerts.AlertEvent
) -> ar.ReviewAlertResponse:
    fields: Fields = {"alert": _alert(alert), "event": alert_event_fields(event)}
    return ar.ReviewAlertResponse(**fields)


# --- the watchlist -------------------------------------------------------------

WATCHLISTS = _AlertEnum(wpb.WatchlistKind, "WATCHLIST_KIND_", wl.WatchlistKind)
ENTRY_CHANGES = _AlertEnum(wpb.WatchlistEntryChange, "WATCHLIST_ENTRY_CHANGE_", wl.EntryChange)


def _entry_request(entry_id: str, content: wpb.WatchlistEntryContent) -> wl.UpsertEntry:
    return wl.UpsertEntry(
        entry_id=entry_id,
        list=WATCHLISTS.text(content.list),
        names=tuple(content.names),
        birth_date=date_parts(content.birth_date, content.HasField("birth_date")),
        nationality=content.nationality,
        documents=tuple(content.document_numbers),
        reason=content.reason,
        issuing_agency=content.issuing_agency,
        valid_from=date_parts(content.valid_from, content.HasField("valid_from")),
        valid_until=date_parts(content.valid_until, content.HasField("valid_until")),
        external_id=content.external_id,
    )


def upsert_entry(request: wpb.UpsertEntryRequest) -> wl.UpsertEntry:
    return _entry_request(request.entry_id, request.content)


def remove_entry(request: wpb.RemoveEntryRequest) -> wl.RemoveEntry:
    return wl.RemoveEntry(entry_id=request.entry_id, note=request.note)


def list_entries(request: wpb.ListEntriesRequest) -> wl.ListEntries:
    return wl.ListEntries(
        lists=tuple(WATCHLISTS.text(kind) for kind in request.lists),
        include_removed=request.include_removed,
        page_size=request.page_size,
        page_token=request.page_token,
    )


def screen(request: wpb.ScreenRequest) -> wl.Screen:
    return wl.Screen(
        name=request.name,
        aliases=tuple(request.aliases),
        birth_date=date_parts(request.birth_date, request.HasField("birth_date")),
        nationality=request.nationality,
        document_number=request.document_number,
    )


def _partial_date(year: int | None, month: int | None, day: int | None) -> Fields | None:
    if not year:
        return None
    return {"year": year, "month": month or 0, "day": day or 0}


def _entry_content(content: wl.EntryContent) -> Fields:
    return {
        "list": WATCHLISTS.pb(content.list),
        "names": list(content.names),
        "birth_date": _partial_date(content.birth_year, content.birth_month, content.birth_day),
        "nationality": content.nationality,
        "document_numbers": list(content.documents),
        "reason": content.reason,
        "issuing_agency": content.issuing_agency,
        "valid_from": _date_or_none(content.valid_from),
        "valid_until": _date_or_none(content.valid_until),
        "external_id": content.external_id,
    }


def _entry(entry: wl.WatchlistEntry) -> Fields:
    return {
        "entry_id": str(entry.id),
        "content": _entry_content(entry.content),
        "version": entry.version,
        "created_at": timestamp_fields(entry.created_at),
        "updated_at": timestamp_fields(entry.updated_at),
        "created_by": entry.created_by,
        "removed_at": _timestamp_or_none(entry.removed_at),
        "removal_note": entry.removal_note,
    }


def upsert_entry_response_pb(entry: wl.WatchlistEntry) -> wpb.UpsertEntryResponse:
    fields: Fields = {"entry": _entry(entry)}
    return wpb.UpsertEntryResponse(**fields)


def remove_entry_response_pb(entry: wl.WatchlistEntry) -> wpb.RemoveEntryResponse:
    fields: Fields = {"entry": _entry(entry)}
    return wpb.RemoveEntryResponse(**fields)


def list_entries_response_pb(page: model.Page[wl.WatchlistEntry]) -> wpb.ListEntriesResponse:
    fields: Fields = {
        "entries": [_entry(entry) for entry in page.items],
        "next_page_token": page.next_page_token,
    }
    return wpb.ListEntriesResponse(**fields)


def get_entry_response_pb(
    entry: wl.WatchlistEntry, versions: tuple[wl.EntryVersion, ...]
) -> wpb.GetEntryResponse:
    fields: Fields = {
        "entry": _entry(entry),
        "versions": [
            {
                "version": v.version,
                "change": ENTRY_CHANGES.pb(v.change),
                "content": _entry_content(v.content),
                "recorded_at": timestamp_fields(v.recorded_at),
                "agency_id": v.agency_id,
                "officer": v.officer,
                "note": v.note,
            }
            for v in versions
        ],
    }
    return wpb.GetEntryResponse(**fields)


def _feature(feature: Mapping[str, Any]) -> Fields:
    return {
        "name": str(feature.get("name", "")),
        "value": float(feature.get("value", 0.0)),
        "weight": float(feature.get("weight", 0.0)),
        "contribution": float(feature.get("contribution", 0.0)),
        "detail": str(feature.get("detail", "")),
    }


def screen_response_pb(
    matches: tuple[wl.ScreeningMatch, ...], threshold: float
) -> wpb.ScreenResponse:
    fields: Fields = {
        "matches": [
            {
                "entry": _entry(m.entry),
                "score": m.score,
                "match": m.match,
                "query_name": str(m.explanation.get("query_name", "")),
                "matched_name": str(m.explanation.get("matched_name", "")),
                "features": [_feature(f) for f in m.explanation.get("features", ())],  # type: ignore[attr-defined]
            }
            for m in matches
        ],
        "threshold": threshold,
    }
    return wpb.ScreenResponse(**fields)


# --- the machine readable zone -------------------------------------------------


def mrz_reading_pb(reading: MrzDocument) -> pb.MrzReading:
    fields: Fields = {
        "layout": reading.layout,
        "document_type": reading.document_type,
        "valid": reading.valid,
        "checks": [
            {"field": c.field, "expected": c.expected, "found": c.found, "valid": c.valid}
            for c in reading.checks
        ],
        "corrections": [
            {"field": c.field, "original": c.original, "corrected": c.corrected}
            for c in reading.corrections
        ],
    }
    return pb.MrzReading(**fields)


# --- ReportService -------------------------------------------------------------------------

_EDITIONS = {
    rp.Edition.FULL: rpt.REPORT_EDITION_FULL,
    rp.Edition.AGGREGATE: rpt.REPORT_EDITION_AGGREGATE,
}


def report_request(message: rpt.GetEarlyWarningReportRequest) -> rp.ReportRequest:
    """The request as received: its date as ISO text ('' when unset), checked by the use case."""
    day = ""
    if message.HasField("date"):
        d = message.date
        day = f"{d.year:04d}-{d.month:02d}-{d.day:02d}"
    return rp.ReportRequest(
        date=day, district_code=message.district_code, regenerate=message.regenerate
    )


# What a report's answer holds besides the files' bytes: its fields, and each file's name,
# type, hash and size (generously: the bytes are counted exactly).
_REPORT_OVERHEAD = 16 * 1024
_REPORT_FILE_OVERHEAD = 256
# The files a reader opens first come first when not all of them fit.
_REPORT_FIRST = ("report.html", "summary.json", "SHA256SUMS")


def report_response_pb(
    report: rp.StoredReport, max_bytes: int
) -> rpt.GetEarlyWarningReportResponse:
    """The report with as many files' bytes as fit in ``max_bytes``: the page, the summary and
    the manifest first, then the tables smallest first; the others are ``omitted`` (their
    name, size and hash given, read with GetReportFile)."""
    room = max_bytes - _REPORT_OVERHEAD - _REPORT_FILE_OVERHEAD * len(report.files)
    included: set[str] = set()
    for f in sorted(
        report.files,
        key=lambda f: (f.name not in _REPORT_FIRST, len(f.content), f.name),
    ):
        if len(f.content) <= room:
            included.add(f.name)
            room -= len(f.content)
    return rpt.GetEarlyWarningReportResponse(
        report=rpt.EarlyWarningReport(
            report_id=report.id,
            date=Date(**_date(report.date)),
            district_code=report.district_code,
            edition=_EDITIONS[report.edition],
            as_of=timestamp_pb(report.as_of),
            made_at=timestamp_pb(report.made_at),
            made_by=report.made_by,
            digest=report.digest,
            files=[
                rpt.ReportFile(
                    name=f.name,
                    media_type=f.media_type,
                    content=f.content if f.name in included else b"",
                    sha256=hashlib.sha256(f.content).hexdigest(),
                    size=len(f.content),
                    omitted=f.name not in included,
                )
                for f in report.files
            ],
        )
    )


def report_file_request(message: rpt.GetReportFileRequest) -> rp.ReportFileRequest:
    return rp.ReportFileRequest(message.report_id, message.name, message.offset)


def report_file_response_pb(part: rp.ReportFilePart) -> rpt.GetReportFileResponse:
    return rpt.GetReportFileResponse(
        report_id=part.report_id,
        name=part.name,
        media_type=part.media_type,
        offset=part.offset,
        content=part.content,
        size=part.size,
        sha256=part.sha256,
    )
