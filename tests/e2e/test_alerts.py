"""The alerts over real gRPC and mutual TLS: listed and read after a rule run, reviewed, audited."""

from __future__ import annotations

import time
from pathlib import Path

import grpc
import pytest
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from sqlalchemy import Engine, text

from exchange_service import app
from exchange_service.services.alerts import RuleEngine
from tests.conftest import AGENCIES, OFFICER_AND_PURPOSE, RowCounts, agency_channel
from tests.e2e.conftest import register_overstayer, run_overstay

OFFICER = dict(OFFICER_AND_PURPOSE)["x-pantau-officer"]


def _all_alerts(queries: q_grpc.QueryServiceStub, **filters: object) -> list[apb.Alert]:
    found: list[apb.Alert] = []
    token = ""
    while True:
        page = queries.ListAlerts(
            q.ListAlertsRequest(**filters, page_size=500, page_token=token)  # type: ignore[arg-type]
        )
        found.extend(page.alerts)
        token = page.next_page_token
        if not token:
            return found


def test_a_supervisor_lists_reads_and_reviews_an_overstayers_alert(
    grpc_channel: grpc.Channel,
    grpc_target: str,
    pki_dir: Path,
    rule_engine: RuleEngine,
    row_counts: RowCounts,
) -> None:
    overstayer = register_overstayer(grpc_channel, days_over=37)
    run_overstay(rule_engine)
    with agency_channel(grpc_target, pki_dir, AGENCIES["SUPERVISOR"]) as channel:
        queries = q_grpc.QueryServiceStub(channel)
        listed = [
            a
            for a in _all_alerts(queries, rules=[apb.ALERT_RULE_OVERSTAY])
            if a.person_id == overstayer.person.id
        ]
        assert len(listed) == 1
        alert = listed[0]
        assert (alert.rule, alert.subject_kind, alert.subject_id, alert.stay_id) == (
            apb.ALERT_RULE_OVERSTAY,
            apb.ALERT_SUBJECT_KIND_PERSON,
            overstayer.person.id,
            overstayer.stay.id,
        )
        assert (alert.severity, alert.status, alert.action) == (
            apb.ALERT_SEVERITY_HIGH,
            apb.ALERT_STATUS_OPEN,
            apb.ADMINISTRATIVE_ACTION_OVERSTAY_FEE,
        )
        assert alert.district_code == "21.05.01"
        evidence = alert.evidence.fields
        assert evidence["days_over"].number_value == 37
        assert evidence["fee_accrued_idr"].number_value == 37_000_000
        assert evidence["permit_number"].string_value == overstayer.stay.permit.permit_number
        assert "Rp 37.000.000" in alert.summary_id
        assert "has overstayed by 37 days" in alert.summary_en
        assert not alert.HasField("resolved_at")

        read = queries.GetAlert(q.GetAlertRequest(alert_id=alert.id))
        assert read.alert == alert
        (opened,) = read.events
        assert (opened.kind, opened.actor_kind, opened.person_id) == (
            apb.ALERT_EVENT_KIND_OPENED,
            "SYSTEM",
            overstayer.person.id,
        )
        assert opened.rule_run_id

        # A second run changes no alert and writes no event: only its own run record.
        before = row_counts.snapshot()
        run_overstay(rule_engine)
        after = row_counts.snapshot()
        assert after.pop("rule_runs") == before.pop("rule_runs") + 1
        assert after == before
        assert queries.GetAlert(q.GetAlertRequest(alert_id=alert.id)) == read

        reviewed = ar_grpc.AlertReviewServiceStub(channel).ReviewAlert(
            ar.ReviewAlertRequest(
                alert_id=alert.id,
                decision=apb.REVIEW_DECISION_CONFIRM,
                note="Surat perintah deportasi disiapkan",
            )
        )
        assert reviewed.alert.status == apb.ALERT_STATUS_CONFIRMED
        event = reviewed.event
        assert (event.kind, event.decision, event.status) == (
            apb.ALERT_EVENT_KIND_REVIEWED,
            apb.REVIEW_DECISION_CONFIRM,
            apb.ALERT_STATUS_CONFIRMED,
        )
        assert (event.actor_id, event.actor_kind, event.officer, event.note) == (
            "supervisor-tarempa",
            "SUPERVISOR",
            OFFICER,
            "Surat perintah deportasi disiapkan",
        )
        assert not event.rule_run_id
        assert list(queries.GetAlert(q.GetAlertRequest(alert_id=alert.id)).events) == [
            opened,
            event,
        ]
        # Resolving records when and why.
        resolved = ar_grpc.AlertReviewServiceStub(channel).ReviewAlert(
            ar.ReviewAlertRequest(alert_id=alert.id, decision=apb.REVIEW_DECISION_RESOLVE)
        )
    assert resolved.alert.status == apb.ALERT_STATUS_RESOLVED
    assert resolved.alert.resolution_reason == apb.RESOLUTION_REASON_REVIEWED
    assert resolved.alert.HasField("resolved_at")
    assert resolved.event.resolution_reason == apb.RESOLUTION_REASON_REVIEWED


def test_listings_filter_and_page_over_grpc(
    grpc_channel: grpc.Channel, rule_engine: RuleEngine
) -> None:
    overstayers = [register_overstayer(grpc_channel, days_over=days) for days in (3, 61, 62)]
    run_overstay(rule_engine)
    queries = q_grpc.QueryServiceStub(grpc_channel)
    ids = {o.person.id for o in overstayers}
    critical = [
        a.person_id
        for a in _all_alerts(queries, min_severity=apb.ALERT_SEVERITY_CRITICAL)
        if a.person_id in ids
    ]
    assert sorted(critical) == sorted(o.person.id for o in overstayers[1:])
    mine = _all_alerts(queries, person_id=overstayers[0].person.id)
    assert [(a.severity, a.status) for a in mine] == [
        (apb.ALERT_SEVERITY_HIGH, apb.ALERT_STATUS_OPEN)
    ]
    newest = mine[0].first_detected_at
    whole = _all_alerts(queries, since=newest)
    paged: list[apb.Alert] = []
    token = ""
    while True:
        page = queries.ListAlerts(q.ListAlertsRequest(since=newest, page_size=1, page_token=token))
        assert len(page.alerts) <= 1
        paged.extend(page.alerts)
        token = page.next_page_token
        if not token:
            break
    assert [a.id for a in paged] == [a.id for a in whole]
    assert ids <= {a.person_id for a in whole}
    assert queries.ListAlerts(q.ListAlertsRequest(district_code="21.05.99")).alerts == []


def _records(
    running_server: app.RunningServer, engine: Engine, person_id: str
) -> list[tuple[str, str, str]]:
    assert running_server.audit_log.flush(timeout=10), "the audit trail was not written"
    with engine.connect() as connection:
        return [
            (row.agency_id, row.method, row.status)
            for row in connection.execute(
                text(
                    "SELECT agency_id, method, status FROM audit_records"
                    " WHERE :id = ANY(person_ids) ORDER BY seq"
                ),
                {"id": person_id},
            )
        ]


def _inbox_drained(engine: Engine) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if not connection.execute(text("SELECT count(*) FROM audit_inbox")).scalar_one():
                return
        time.sleep(0.05)
    pytest.fail("the audit inbox was not drained in 10 s")


def test_the_audit_trail_names_the_person_of_each_alert_call_and_of_the_run(  # noqa: PLR0917 (fixtures)
    grpc_channel: grpc.Channel,
    grpc_target: str,
    pki_dir: Path,
    rule_engine: RuleEngine,
    engine: Engine,
    running_server: app.RunningServer,
) -> None:
    overstayer = register_overstayer(grpc_channel)
    person_id = overstayer.person.id
    run_overstay(rule_engine)
    # The run's event waits in the audit inbox until the server's trail writer chains it.
    _inbox_drained(engine)
    with agency_channel(grpc_target, pki_dir, AGENCIES["SUPERVISOR"]) as channel:
        queries = q_grpc.QueryServiceStub(channel)
        reviews = ar_grpc.AlertReviewServiceStub(channel)
        (alert,) = _all_alerts(queries, rules=[apb.ALERT_RULE_OVERSTAY], person_id=person_id)
        queries.GetAlert(q.GetAlertRequest(alert_id=alert.id))
        reviews.ReviewAlert(
            ar.ReviewAlertRequest(alert_id=alert.id, decision=apb.REVIEW_DECISION_RESOLVE)
        )
        # Refused: nothing is disclosed, yet the alert was read, so its person is named.
        with pytest.raises(grpc.RpcError) as refused:
            reviews.ReviewAlert(
                ar.ReviewAlertRequest(alert_id=alert.id, decision=apb.REVIEW_DECISION_CONFIRM)
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with agency_channel(grpc_target, pki_dir, AGENCIES["POLICE"]) as police:
        with pytest.raises(grpc.RpcError) as denied:
            ar_grpc.AlertReviewServiceStub(police).ReviewAlert(
                ar.ReviewAlertRequest(alert_id=alert.id, decision=apb.REVIEW_DECISION_CONFIRM)
            )
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED
        # The request names no person: the response does.
        listed = q_grpc.QueryServiceStub(police).ListAlerts(
            q.ListAlertsRequest(since=alert.first_detected_at, page_size=500)
        )
        assert person_id in {a.person_id for a in listed.alerts}
    records = _records(running_server, engine, person_id)
    registration = [r for r in records if r[1].startswith("/pantau.v1.RegistryService/")]
    assert [r[1].rsplit("/", 1)[1] for r in registration] == [
        "RegisterPerson",
        "RecordEntry",
        "ReportAddress",
    ]
    assert records[len(registration) :] == [
        ("rules", "rules/OVERSTAY", "OK"),
        ("supervisor-tarempa", "/pantau.v1.QueryService/ListAlerts", "OK"),
        ("supervisor-tarempa", "/pantau.v1.QueryService/GetAlert", "OK"),
        ("supervisor-tarempa", "/pantau.v1.AlertReviewService/ReviewAlert", "OK"),
        ("supervisor-tarempa", "/pantau.v1.AlertReviewService/ReviewAlert", "FAILED_PRECONDITION"),
        ("polres-anambas", "/pantau.v1.QueryService/ListAlerts", "OK"),
    ]
