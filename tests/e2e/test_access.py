"""Agency identity, the permission matrix, officer and purpose, data views, rate limits.

Every call goes over a real mutual-TLS connection with the agency's own
certificate, as in production.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from google.protobuf import struct_pb2
from google.protobuf.message import Message
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_status import rpc_status
from pantau.v1 import alert_feed_service_pb2 as af
from pantau.v1 import alert_feed_service_pb2_grpc as af_grpc
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from pantau.v1 import report_service_pb2 as rpt
from pantau.v1 import report_service_pb2_grpc as rpt_grpc
from pantau.v1 import watchlist_service_pb2 as w
from pantau.v1 import watchlist_service_pb2_grpc as w_grpc

from exchange_service import app
from exchange_service.api.access import PERMISSIONS
from exchange_service.domain.agencies import AgencyKind
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings
from exchange_service.tools import pki
from tests import factories as f
from tests.conftest import (
    AGENCIES,
    LIMITED_AGENCY,
    OFFICER_AND_PURPOSE,
    RowCounts,
    agency_channel,
)
from tests.e2e.conftest import Overstayer, register_overstayer, run_overstay


@dataclass
class Subject:
    """A registered person with an open stay and an address, made by immigration."""

    person: pb.Person
    stay: pb.Stay
    # Registered, with no stay: for RecordEntry.
    idle: pb.Person
    # Overstaying, with the OPEN alert a rule run gave them.
    overstayer: Overstayer
    alert_id: str
    # A POLICE_WANTED watchlist entry immigration added: for RemoveEntry and GetEntry.
    entry_id: str


def _open_alert_of(channel: grpc.Channel, person_id: str) -> str:
    (alert,) = _queries(channel).ListAlerts(q.ListAlertsRequest(person_id=person_id)).alerts
    assert alert.status == apb.ALERT_STATUS_OPEN
    return str(alert.id)


@pytest.fixture
def subject(grpc_channel: grpc.Channel, rule_engine: RuleEngine) -> Subject:
    registry = r_grpc.RegistryServiceStub(grpc_channel)
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person(nationality="MYS")))
    stay = registry.RecordEntry(f.entry(person.id))
    registry.ReportAddress(f.address(person.id, 3.2166, 106.2211))
    registry.RecordSighting(
        r.RecordSightingRequest(
            person_id=person.id,
            location=pb.GeoPoint(latitude=3.217, longitude=106.2213),
            observed_at=f.hours_ago(1),
            source=pb.SIGHTING_SOURCE_LODGING_CHECK_IN,
            reference=f"APOA-{uuid.uuid4().hex[:8]}",
            place_name="Wisma Tarempa Indah",
        )
    )
    idle = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    overstayer = register_overstayer(grpc_channel)
    run_overstay(rule_engine)
    entry = _watchlist(grpc_channel).UpsertEntry(_wanted(f"Subject {uuid.uuid4().hex[:6]}"))
    return Subject(
        person,
        stay,
        idle,
        overstayer,
        _open_alert_of(grpc_channel, overstayer.person.id),
        entry.entry.entry_id,
    )


Call = Callable[[grpc.Channel, Subject], Message]


def _registry(channel: grpc.Channel) -> r_grpc.RegistryServiceStub:
    return r_grpc.RegistryServiceStub(channel)


def _queries(channel: grpc.Channel) -> q_grpc.QueryServiceStub:
    return q_grpc.QueryServiceStub(channel)


def _reviews(channel: grpc.Channel) -> ar_grpc.AlertReviewServiceStub:
    return ar_grpc.AlertReviewServiceStub(channel)


def _feeds(channel: grpc.Channel) -> af_grpc.AlertFeedServiceStub:
    return af_grpc.AlertFeedServiceStub(channel)


def _watchlist(channel: grpc.Channel) -> w_grpc.WatchlistServiceStub:
    return w_grpc.WatchlistServiceStub(channel)


def _wanted(name: str) -> w.UpsertEntryRequest:
    """A police wanted-list entry: every agency that may write the watchlist may write it."""
    return w.UpsertEntryRequest(
        content=w.WatchlistEntryContent(
            list=w.WATCHLIST_KIND_POLICE_WANTED,
            names=[name],
            reason="DPO Polres Kepulauan Anambas: pencurian",
            issuing_agency="Polres Kepulauan Anambas",
        )
    )


def _first_feed_event(channel: grpc.Channel) -> apb.AlertEvent:
    """The first entry of the agency's feed, as the event its signed payload holds."""
    responses = _feeds(channel).Subscribe(af.SubscribeRequest(after_sequence=0), timeout=30)
    try:
        first = next(r for r in responses if r.HasField("alert"))
    finally:
        responses.cancel()
    return apb.AlertEvent.FromString(first.alert.payload)


def _lodging(_channel: grpc.Channel, s: Subject) -> Iterator[r.LodgingReport]:
    yield r.LodgingReport(
        lodging_id="APOA-2105-0001",
        lodging_name="Hotel Tarempa",
        location=pb.GeoPoint(latitude=3.2169, longitude=106.2215),
        event=r.LODGING_EVENT_CHECK_OUT,
        document=s.person.documents[0],
        occurred_at=f.hours_ago(0.5),
        reference=uuid.uuid4().hex[:10],
    )


# One valid call per RPC: an allowed agency gets OK.
VALID_CALLS: dict[str, Call] = {
    "/pantau.v1.RegistryService/RegisterPerson": lambda c, s: _registry(c).RegisterPerson(
        r.RegisterPersonRequest(person=f.person())
    ),
    "/pantau.v1.RegistryService/AddTravelDocument": lambda c, s: _registry(c).AddTravelDocument(
        r.AddTravelDocumentRequest(
            person_id=s.person.id,
            document=pb.TravelDocument(issuing_state="MYS", number=f.document_number()),
        )
    ),
    "/pantau.v1.RegistryService/RecordEntry": lambda c, s: _registry(c).RecordEntry(
        f.entry(s.idle.id)
    ),
    "/pantau.v1.RegistryService/ExtendPermit": lambda c, s: _registry(c).ExtendPermit(
        r.ExtendPermitRequest(
            # Within the VOA's 60 days in all: the first period is from yesterday.
            stay_id=s.stay.id,
            permit=f.permit(days=58, number="EXT-1", starts=31),
        )
    ),
    "/pantau.v1.RegistryService/RecordExit": lambda c, s: _registry(c).RecordExit(
        r.RecordExitRequest(person_id=s.person.id, port_code="MWK", exited_at=f.hours_ago(0.1))
    ),
    "/pantau.v1.RegistryService/ReportAddress": lambda c, s: _registry(c).ReportAddress(
        f.address(s.person.id, 3.3184, 106.2425, days=0)
    ),
    "/pantau.v1.RegistryService/RecordSighting": lambda c, s: _registry(c).RecordSighting(
        r.RecordSightingRequest(
            person_id=s.person.id,
            location=pb.GeoPoint(latitude=3.2, longitude=106.2),
            observed_at=f.hours_ago(0.2),
            source=pb.SIGHTING_SOURCE_POLICE_CHECK,
        )
    ),
    "/pantau.v1.RegistryService/ImportLodgingReports": lambda c, s: _registry(
        c
    ).ImportLodgingReports(_lodging(c, s)),
    "/pantau.v1.QueryService/GetPerson": lambda c, s: _queries(c).GetPerson(
        q.GetPersonRequest(person_id=s.person.id)
    ),
    "/pantau.v1.QueryService/SearchPersons": lambda c, s: _queries(c).SearchPersons(
        q.SearchPersonsRequest(name=f"{s.person.family_name} {s.person.given_names}")
    ),
    "/pantau.v1.QueryService/ListPersonsNear": lambda c, s: _queries(c).ListPersonsNear(
        q.ListPersonsNearRequest(
            center=pb.GeoPoint(latitude=3.2166, longitude=106.2211), radius_meters=500
        )
    ),
    "/pantau.v1.QueryService/ListAlerts": lambda c, s: _queries(c).ListAlerts(
        q.ListAlertsRequest(
            rules=[apb.ALERT_RULE_OVERSTAY], person_id=s.overstayer.person.id, page_size=10
        )
    ),
    "/pantau.v1.QueryService/GetAlert": lambda c, s: _queries(c).GetAlert(
        q.GetAlertRequest(alert_id=s.alert_id)
    ),
    "/pantau.v1.AlertReviewService/ReviewAlert": lambda c, s: _reviews(c).ReviewAlert(
        ar.ReviewAlertRequest(
            alert_id=s.alert_id,
            decision=apb.REVIEW_DECISION_ACKNOWLEDGE,
            note="Dicek bersama Polres: masih di Tarempa",
        )
    ),
    "/pantau.v1.AlertFeedService/GetSigningKeys": lambda c, _s: _feeds(c).GetSigningKeys(
        af.GetSigningKeysRequest()
    ),
    "/pantau.v1.AlertFeedService/Subscribe": lambda c, _s: _first_feed_event(c),
    "/pantau.v1.AlertFeedService/Acknowledge": lambda c, _s: _feeds(c).Acknowledge(
        af.AcknowledgeRequest(sequence=1)
    ),
    "/pantau.v1.WatchlistService/UpsertEntry": lambda c, _s: _watchlist(c).UpsertEntry(
        _wanted(f"Buronan {uuid.uuid4().hex[:6]}")
    ),
    "/pantau.v1.WatchlistService/RemoveEntry": lambda c, s: _watchlist(c).RemoveEntry(
        w.RemoveEntryRequest(entry_id=s.entry_id, note="ditangkap")
    ),
    "/pantau.v1.WatchlistService/ListEntries": lambda c, _s: _watchlist(c).ListEntries(
        w.ListEntriesRequest(page_size=5)
    ),
    "/pantau.v1.WatchlistService/GetEntry": lambda c, s: _watchlist(c).GetEntry(
        w.GetEntryRequest(entry_id=s.entry_id)
    ),
    "/pantau.v1.WatchlistService/Screen": lambda c, s: _watchlist(c).Screen(
        w.ScreenRequest(name=f"{s.person.given_names} {s.person.family_name}")
    ),
    "/pantau.v1.ReportService/GetEarlyWarningReport": lambda c, _s: rpt_grpc.ReportServiceStub(
        c
    ).GetEarlyWarningReport(rpt.GetEarlyWarningReportRequest(district_code="21.05.01")),
    "/pantau.v1.ReportService/GetReportFile": lambda c, _s: _report_file(c),
}


def _report_file(channel: grpc.Channel) -> rpt.GetReportFileResponse:
    """A part of a report's file: an unknown report first (refused before it is looked for, or
    not found), then one of the caller's edition."""
    stub = rpt_grpc.ReportServiceStub(channel)
    try:
        stub.GetReportFile(
            rpt.GetReportFileRequest(report_id=str(uuid.uuid4()), name="summary.json")
        )
    except grpc.RpcError as error:
        if error.code() != grpc.StatusCode.NOT_FOUND:
            raise
    report = stub.GetEarlyWarningReport(rpt.GetEarlyWarningReportRequest()).report
    reply: rpt.GetReportFileResponse = stub.GetReportFile(
        rpt.GetReportFileRequest(report_id=report.report_id, name="summary.json")
    )
    return reply


def test_every_rpc_of_the_contract_is_in_the_permission_table_and_tested() -> None:
    contract = {
        f"/{service.full_name}/{method.name}"
        for module in (r, q, ar, af, w, rpt)
        for service in module.DESCRIPTOR.services_by_name.values()
        for method in service.methods
    }
    assert contract == set(PERMISSIONS) == set(VALID_CALLS)


CELLS = [(method, kind) for method in sorted(PERMISSIONS) for kind in AgencyKind]


@pytest.mark.parametrize(
    ("method", "kind"), CELLS, ids=[f"{m.rsplit('/', 1)[1]}-{k}" for m, k in CELLS]
)
def test_permission_matrix_cell(  # noqa: PLR0917 (pytest fixtures)
    method: str,
    kind: AgencyKind,
    subject: Subject,
    grpc_target: str,
    pki_dir: Path,
    row_counts: RowCounts,
) -> None:
    channel = agency_channel(grpc_target, pki_dir, AGENCIES[kind.value])
    with channel:
        if kind in PERMISSIONS[method]:
            reply = VALID_CALLS[method](channel, subject)
            assert isinstance(reply, Message)
            return
        before = row_counts.snapshot()
        with pytest.raises(grpc.RpcError) as caught:
            VALID_CALLS[method](channel, subject)
        assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
        assert f.error_info(caught.value).reason == "METHOD_NOT_ALLOWED"
        assert row_counts.snapshot() == before


@pytest.mark.parametrize(
    "metadata",
    [
        (),
        OFFICER_AND_PURPOSE[:1],
        OFFICER_AND_PURPOSE[1:],
        (("x-pantau-officer", " "), OFFICER_AND_PURPOSE[1]),
    ],
    ids=["none", "officer-only", "purpose-only", "blank-officer"],
)
def test_personal_data_needs_officer_and_purpose(
    metadata: tuple[tuple[str, str], ...],
    subject: Subject,
    grpc_target: str,
    pki_dir: Path,
    row_counts: RowCounts,
) -> None:
    before = row_counts.snapshot()
    with agency_channel(
        grpc_target, pki_dir, AGENCIES["IMMIGRATION"], metadata=metadata
    ) as channel:
        for method in (
            "/pantau.v1.QueryService/GetPerson",
            "/pantau.v1.RegistryService/RegisterPerson",
        ):
            with pytest.raises(grpc.RpcError) as caught:
                VALID_CALLS[method](channel, subject)
            assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
            assert f.error_info(caught.value).reason == "PURPOSE_REQUIRED"
    assert row_counts.snapshot() == before


def _raw_channel(target: str, ca: bytes, key: bytes | None, cert: bytes | None) -> grpc.Channel:
    port = target.rsplit(":", 1)[1]
    credentials = grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )
    return grpc.secure_channel(f"localhost:{port}", credentials)


def _assert_no_call_succeeds(
    channel: grpc.Channel, subject: Subject, codes: set[grpc.StatusCode]
) -> None:
    with channel:
        for method in (
            "/pantau.v1.QueryService/GetPerson",
            "/pantau.v1.RegistryService/RegisterPerson",
        ):
            with pytest.raises(grpc.RpcError) as caught:
                _with_purpose(channel, VALID_CALLS[method], subject)
            assert caught.value.code() in codes, caught.value.details()
        with pytest.raises(grpc.RpcError) as caught:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert caught.value.code() in codes


def _with_purpose(channel: grpc.Channel, call: Call, subject: Subject) -> Message:
    from tests.conftest import _WithMetadata

    return call(grpc.intercept_channel(channel, _WithMetadata(OFFICER_AND_PURPOSE)), subject)


def test_no_client_certificate_gets_no_call(
    subject: Subject, grpc_target: str, pki_dir: Path
) -> None:
    channel = _raw_channel(grpc_target, (pki_dir / "ca.crt").read_bytes(), None, None)
    _assert_no_call_succeeds(channel, subject, {grpc.StatusCode.UNAVAILABLE})


def _pem(cert: x509.Certificate, key: object) -> tuple[bytes, bytes]:
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(  # type: ignore[attr-defined]
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _ca(pki_dir: Path) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    return pki.load_certificate(pki_dir / "ca.crt"), pki.load_private_key(pki_dir / "ca.key")


def _police_channel(
    target: str,
    pki_dir: Path,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey],
    valid_days: tuple[int, int],
) -> tuple[grpc.Channel, x509.Certificate]:
    """A channel with a new police certificate from ``issuer``, valid between the given days."""
    now = datetime.now(UTC)
    cert, key = pki.issue_client_certificate(
        *issuer,
        "polres-anambas",
        not_before=now + timedelta(days=valid_days[0]),
        not_after=now + timedelta(days=valid_days[1]),
    )
    cert_pem, key_pem = _pem(cert, key)
    return _raw_channel(target, (pki_dir / "ca.crt").read_bytes(), key_pem, cert_pem), cert


def test_certificate_from_another_ca_gets_no_call(
    subject: Subject, grpc_target: str, pki_dir: Path
) -> None:
    foreign = pki.create_ca("Not Pantau", now=datetime.now(UTC), valid_days=30)
    channel, _ = _police_channel(grpc_target, pki_dir, foreign, (-1, 30))
    _assert_no_call_succeeds(channel, subject, {grpc.StatusCode.UNAVAILABLE})


def test_expired_certificate_gets_no_call(
    subject: Subject, grpc_target: str, pki_dir: Path
) -> None:
    channel, _ = _police_channel(grpc_target, pki_dir, _ca(pki_dir), (-60, -1))
    _assert_no_call_succeeds(channel, subject, {grpc.StatusCode.UNAVAILABLE})


def test_revoked_certificate_gets_no_call(
    subject: Subject, grpc_target: str, pki_dir: Path
) -> None:
    ca = _ca(pki_dir)
    channel, cert = _police_channel(grpc_target, pki_dir, ca, (-1, 30))
    # Valid before revocation: the refusal below is the revocation's doing.
    _with_purpose(channel, VALID_CALLS["/pantau.v1.QueryService/GetPerson"], subject)
    pki.revoke(pki_dir / "ca.crl", *ca, [cert.serial_number], now=datetime.now(UTC))
    time.sleep(1.1)  # the CRL is re-read at most once a second
    _assert_no_call_succeeds(channel, subject, {grpc.StatusCode.UNAUTHENTICATED})
    # The agency's other certificate is not affected.
    with agency_channel(grpc_target, pki_dir, AGENCIES["POLICE"]) as other:
        VALID_CALLS["/pantau.v1.QueryService/GetPerson"](other, subject)


# What an alert and each of its events say of it, in the DISTRICT view.
ALERT_AS_OF = {
    "rule",
    "subject_kind",
    "subject_id",
    "person_id",
    "stay_id",
    "severity",
    "status",
    "district_code",
    "village_code",
    "evidence",
    "action",
    "resolution_reason",
}
# Fields a LOCAL_GOVERNMENT (DISTRICT view) recipient may receive, per message type.
DISTRICT_VIEW_FIELDS: dict[str, set[str]] = {
    "pantau.v1.PersonDossier": {"person", "current_stay", "current_address", "recent_sightings"},
    "pantau.v1.Person": {
        "id",
        "family_name",
        "given_names",
        "nationality",
        "birth_date",
        "sex",
        "documents",
        "registered_at",
    },
    "pantau.v1.TravelDocument": {"issuing_state"},
    "pantau.v1.Stay": {
        "id",
        "person_id",
        "entry_port_code",
        "entered_at",
        "exit_port_code",
        "exited_at",
        "permit",
        "permit_history",
    },
    "pantau.v1.StayPermit": {"type", "valid_from", "valid_until", "purpose", "recorded_at"},
    "pantau.v1.AddressRecord": {
        "id",
        "person_id",
        "address",
        "effective_from",
        "reported_at",
        "recorded_at",
    },
    "pantau.v1.Address": {"district_code", "village_code", "district_name", "village_name"},
    "pantau.v1.Sighting": {
        "id",
        "person_id",
        "district_code",
        "village_code",
        "observed_at",
        "source",
        "recorded_at",
        "reported_at",
    },
    "google.protobuf.Timestamp": {"seconds", "nanos"},
    "pantau.v1.ListAlertsResponse": {"alerts", "next_page_token"},
    "pantau.v1.GetAlertResponse": {"alert", "events"},
    "pantau.v1.ReviewAlertResponse": {"alert", "event"},
    # Not the summaries: they name the permit's number and the sponsor.
    "pantau.v1.Alert": {
        "id",
        *ALERT_AS_OF,
        "first_detected_at",
        "changed_at",
        "resolved_at",
    },
    # Nor a reviewer's note, which may say anything.
    "pantau.v1.AlertEvent": {
        "seq",
        "alert_id",
        "kind",
        *ALERT_AS_OF,
        "actor_id",
        "actor_kind",
        "officer",
        "decision",
        "rule_run_id",
        "occurred_at",
        "recorded_at",
        "feed",
    },
    "pantau.v1.FeedPosition": {"agency_id", "sequence", "previous_hash", "signed_at"},
    "pantau.v1.GetSigningKeysResponse": {"keys", "jwks_json"},
    "pantau.v1.SigningKey": {"key_id", "public_key", "not_before", "not_after", "verify_until"},
    "pantau.v1.AcknowledgeResponse": {"acknowledged_through", "newly_acknowledged"},
    # The aggregate edition of the report; what its files hold is checked in test_reports.
    "pantau.v1.GetEarlyWarningReportResponse": {"report"},
    "pantau.v1.EarlyWarningReport": {
        "report_id",
        "date",
        "district_code",
        "edition",
        "as_of",
        "made_at",
        "made_by",
        "digest",
        "files",
    },
    "pantau.v1.ReportFile": {"name", "media_type", "content", "sha256", "size", "omitted"},
    "pantau.v1.GetReportFileResponse": {
        "report_id",
        "name",
        "media_type",
        "offset",
        "content",
        "size",
        "sha256",
    },
}
# Keys of an alert's evidence a DISTRICT recipient may receive (the rules these
# tests run: OVERSTAY, PERMIT_EXPIRING), each a plain JSON value: no permit
# number, no sponsor, no place finer than the alert's district and village.
DISTRICT_EVIDENCE_KEYS = {
    "person_name",
    "nationality",
    "entered_at",
    "entry_port_code",
    "permit_type",
    "permit_valid_from",
    "last_valid_day",
    "purpose",
    "days_over",
    "fee_per_day_idr",
    "fee_accrued_idr",
    "deportation_after_days",
    "days_left",
    "within_days",
}
_PLAIN_JSON = {"null_value", "number_value", "string_value", "bool_value"}


def _fields_outside_view(message: Message, path: str = "") -> list[str]:
    name = message.DESCRIPTOR.full_name
    if name == "google.type.Date":
        # Birth dates carry the year only; other dates (permits, stays) are not personal detail.
        if path.endswith("birth_date"):
            return [
                f"{path}.{field.name}" for field, _ in message.ListFields() if field.name != "year"
            ]
        return []
    if isinstance(message, struct_pb2.Struct):
        return [
            f"{path}.{key}"
            for key, value in message.fields.items()
            if key not in DISTRICT_EVIDENCE_KEYS or value.WhichOneof("kind") not in _PLAIN_JSON
        ]
    allowed = DISTRICT_VIEW_FIELDS.get(name)
    if allowed is None:
        return [f"{path} ({name})"]
    outside: list[str] = []
    for field, value in message.ListFields():
        where = f"{path}.{field.name}" if path else field.name
        if field.name not in allowed:
            outside.append(where)
        elif field.message_type is not None:
            items = value if field.is_repeated else [value]
            for item in items:
                outside.extend(_fields_outside_view(item, where))
    return outside


def test_local_government_never_receives_a_field_outside_its_view(
    subject: Subject, grpc_target: str, pki_dir: Path, grpc_channel: grpc.Channel
) -> None:
    # A reviewed alert: its REVIEWED event carries a note.
    VALID_CALLS["/pantau.v1.AlertReviewService/ReviewAlert"](grpc_channel, subject)
    kind = AgencyKind.LOCAL_GOVERNMENT
    callable_rpcs = [m for m, kinds in PERMISSIONS.items() if kind in kinds]
    assert callable_rpcs, "the local government may call something"
    with agency_channel(grpc_target, pki_dir, AGENCIES[kind.value]) as channel:
        for method in callable_rpcs:
            reply = VALID_CALLS[method](channel, subject)
            assert _fields_outside_view(reply) == [], method
        dossier = _queries(channel).GetPerson(q.GetPersonRequest(person_id=subject.person.id))
        district_alert = _queries(channel).GetAlert(q.GetAlertRequest(alert_id=subject.alert_id))
    # Of an alert, local government keeps the facts it acts on, by district and village.
    alert = district_alert.alert
    assert (alert.rule, alert.person_id) == (apb.ALERT_RULE_OVERSTAY, subject.overstayer.person.id)
    assert (alert.district_code, alert.village_code[:8]) == ("21.05.01", "21.05.01")
    evidence = alert.evidence.fields
    assert evidence["days_over"].number_value == subject.overstayer.days_over
    assert evidence["fee_accrued_idr"].number_value == subject.overstayer.fee_idr
    assert "permit_number" not in evidence
    assert "sponsor" not in evidence
    assert (alert.summary_id, alert.summary_en) == ("", "")
    reviewed = district_alert.events[-1]
    assert (reviewed.kind, reviewed.decision) == (
        apb.ALERT_EVENT_KIND_REVIEWED,
        apb.REVIEW_DECISION_ACKNOWLEDGE,
    )
    assert (reviewed.actor_id, reviewed.note) == ("kanim-tarempa", "")
    with agency_channel(grpc_target, pki_dir, AGENCIES["POLICE"]) as police:
        full_alert = _queries(police).GetAlert(q.GetAlertRequest(alert_id=subject.alert_id))
    assert full_alert.alert.evidence.fields["permit_number"].string_value
    assert full_alert.alert.evidence.fields["sponsor"].string_value == "PT Anambas Bahari"
    assert f"has overstayed by {subject.overstayer.days_over} days" in full_alert.alert.summary_en
    assert full_alert.events[-1].note == "Dicek bersama Polres: masih di Tarempa"
    # The view keeps what local government needs: who, and where by district.
    assert dossier.person.birth_date.year == 1988
    assert dossier.current_address.address.district_code == "21.05.01"
    assert dossier.recent_sightings
    assert dossier.recent_sightings[0].village_code
    # Police see everything.
    with agency_channel(grpc_target, pki_dir, AGENCIES["POLICE"]) as police:
        full = _queries(police).GetPerson(q.GetPersonRequest(person_id=subject.person.id))
    assert full.person.documents[0].number == subject.person.documents[0].number
    assert full.current_address.address.HasField("location")
    assert full.person.birth_date.day == 14


def test_rate_limit_gives_resource_exhausted_with_retry_info(
    subject: Subject, grpc_target: str, pki_dir: Path
) -> None:
    get_person = VALID_CALLS["/pantau.v1.QueryService/GetPerson"]
    with agency_channel(grpc_target, pki_dir, LIMITED_AGENCY) as channel:
        # A burst of 3, refilled at 1 a second: the fourth call in a row is refused.
        for _ in range(3):
            get_person(channel, subject)
        with pytest.raises(grpc.RpcError) as caught:
            get_person(channel, subject)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    status = rpc_status.from_call(caught.value)
    assert status is not None
    retry = error_details_pb2.RetryInfo()
    assert any(d.Unpack(retry) for d in status.details if d.Is(retry.DESCRIPTOR))
    assert retry.retry_delay.ToMilliseconds() > 0
    assert retry.retry_delay.ToMilliseconds() <= 1000
    # Other agencies have their own buckets.
    with agency_channel(grpc_target, pki_dir, AGENCIES["POLICE"]) as other:
        get_person(other, subject)


def test_serve_refuses_to_start_without_tls_settings(settings: Settings) -> None:
    plain = settings.model_copy(update={"tls_cert_file": None})
    with pytest.raises(SystemExit, match="insecure-dev"):
        app.start_server(plain)
