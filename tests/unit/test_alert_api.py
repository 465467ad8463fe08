"""Alerts at the edge, with no I/O: enums both ways, messages field for field, the review table."""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime

import pytest
from google.protobuf import json_format
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q

from exchange_service.api.audit import collect_person_ids
from exchange_service.domain import alerts
from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import (
    Alert,
    AlertEvent,
    AlertEventKind,
    AlertStatus,
    ReviewDecision,
    Severity,
    SubjectKind,
)
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.model import Page
from exchange_service.domain.validation import valid_alert_query, valid_review
from exchange_service.wire import convert

AT = datetime(2026, 3, 10, 2, 0, 0, 123456, tzinfo=UTC)
PERSON_ID = "0b7e1c2a-4d5f-4a6b-8c9d-0e1f2a3b4c5d"
EVIDENCE = {
    "days_over": 37,
    "fee_accrued_idr": 37_000_000,
    "last_valid_day": "2026-01-31",
    "permit_number": "VISIT-2105-0001",
    "far_sightings": [{"village_code": "21.05.01.2001", "meters": 3000.5}, None],
}
ALERT = Alert(
    id=uuid.UUID("4b1c9d2e-3f4a-4b5c-8d6e-7f8091a2b3c4"),
    rule=alerts.RuleName.OVERSTAY,
    subject_kind=SubjectKind.PERSON,
    subject_id=PERSON_ID,
    stay_id=uuid.UUID("1c8f2d3b-5e6a-4b7c-9d0e-1f2a3b4c5d6e"),
    severity=Severity.HIGH,
    status=AlertStatus.ACKNOWLEDGED,
    district_code="21.05.01",
    village_code="21.05.01.2001",
    evidence=EVIDENCE,
    summary_id="NGUYEN Van An (VNM) melampaui izin tinggal selama 37 hari.",
    summary_en="NGUYEN Van An (VNM) has overstayed by 37 days.",
    action=alerts.AdministrativeAction.OVERSTAY_FEE,
    facts="1c8f2d3b/2026-01-31",
    first_detected_at=AT,
    changed_at=AT,
)
REVIEWED = AlertEvent(
    seq=7,
    alert_id=ALERT.id,
    kind=AlertEventKind.REVIEWED,
    rule=ALERT.rule,
    subject_kind=ALERT.subject_kind,
    subject_id=ALERT.subject_id,
    stay_id=ALERT.stay_id,
    severity=ALERT.severity,
    status=AlertStatus.ACKNOWLEDGED,
    district_code=ALERT.district_code,
    village_code=ALERT.village_code,
    evidence=EVIDENCE,
    summary_id=ALERT.summary_id,
    summary_en=ALERT.summary_en,
    action=ALERT.action,
    resolution_reason=None,
    actor_id="supervisor-tarempa",
    actor_kind="SUPERVISOR",
    officer="Kasi Inteldakim",
    note="Dicek",
    rule_run_id=None,
    occurred_at=AT,
    recorded_at=AT,
)

ENUMS: list[tuple[type[enum.StrEnum], object, str]] = [
    (alerts.RuleName, apb.AlertRule, "ALERT_RULE_"),
    (alerts.Severity, apb.AlertSeverity, "ALERT_SEVERITY_"),
    (alerts.AlertStatus, apb.AlertStatus, "ALERT_STATUS_"),
    (alerts.SubjectKind, apb.AlertSubjectKind, "ALERT_SUBJECT_KIND_"),
    (alerts.AdministrativeAction, apb.AdministrativeAction, "ADMINISTRATIVE_ACTION_"),
    (alerts.ResolutionReason, apb.ResolutionReason, "RESOLUTION_REASON_"),
    (alerts.AlertEventKind, apb.AlertEventKind, "ALERT_EVENT_KIND_"),
    (alerts.ReviewDecision, apb.ReviewDecision, "REVIEW_DECISION_"),
]


@pytest.mark.parametrize(
    ("domain", "proto", "prefix"), ENUMS, ids=lambda v: getattr(v, "__name__", "")
)
def test_each_alert_enum_is_the_domains_value_for_value(
    domain: type[enum.StrEnum], proto: object, prefix: str
) -> None:
    names = {v.name.removeprefix(prefix) for v in proto.DESCRIPTOR.values}  # type: ignore[attr-defined]
    assert names == {"UNSPECIFIED", *(value.value for value in domain)}


def test_severities_are_numbered_in_their_order() -> None:
    numbers = [convert.SEVERITIES.pb(severity) for severity in alerts.SEVERITY_ORDER]
    assert numbers == sorted(numbers) == [1, 2, 3, 4]


def test_an_alert_converts_field_for_field_with_its_evidence_as_json() -> None:
    message = convert.list_alerts_response_pb(Page((ALERT,), "next")).alerts[0]
    assert json_format.MessageToDict(message.evidence) == EVIDENCE
    assert (message.id, message.subject_id, message.person_id, message.stay_id) == (
        str(ALERT.id),
        PERSON_ID,
        PERSON_ID,
        str(ALERT.stay_id),
    )
    assert (message.rule, message.severity, message.status, message.action) == (
        apb.ALERT_RULE_OVERSTAY,
        apb.ALERT_SEVERITY_HIGH,
        apb.ALERT_STATUS_ACKNOWLEDGED,
        apb.ADMINISTRATIVE_ACTION_OVERSTAY_FEE,
    )
    assert (message.district_code, message.village_code) == ("21.05.01", "21.05.01.2001")
    assert (message.summary_id, message.summary_en) == (ALERT.summary_id, ALERT.summary_en)
    assert message.first_detected_at.ToDatetime(tzinfo=UTC) == AT
    assert not message.HasField("resolved_at")
    assert message.resolution_reason == apb.RESOLUTION_REASON_UNSPECIFIED


def test_a_sponsors_alert_names_no_person_and_a_resolved_one_says_when_and_why() -> None:
    sponsor = Alert(
        **{
            **ALERT.__dict__,
            "subject_kind": SubjectKind.SPONSOR,
            "subject_id": "sponsor:9f2c",
            "stay_id": None,
            "status": AlertStatus.RESOLVED,
            "resolved_at": AT,
            "resolution_reason": alerts.ResolutionReason.SPONSEES_RESOLVED,
        }
    )
    message = convert.get_alert_response_pb(sponsor, ()).alert
    assert (message.subject_kind, message.subject_id, message.person_id, message.stay_id) == (
        apb.ALERT_SUBJECT_KIND_SPONSOR,
        "sponsor:9f2c",
        "",
        "",
    )
    assert message.resolved_at.ToDatetime(tzinfo=UTC) == AT
    assert message.resolution_reason == apb.RESOLUTION_REASON_SPONSEES_RESOLVED
    ids: set[str] = set()
    collect_person_ids(message, ids)
    assert ids == set()


def test_a_review_event_carries_its_decision_and_the_audit_finds_its_person() -> None:
    response = convert.review_alert_response_pb(ALERT, REVIEWED)
    event = response.event
    assert (event.kind, event.decision, event.status) == (
        apb.ALERT_EVENT_KIND_REVIEWED,
        apb.REVIEW_DECISION_ACKNOWLEDGE,
        apb.ALERT_STATUS_ACKNOWLEDGED,
    )
    assert (event.seq, event.actor_id, event.actor_kind, event.officer, event.note) == (
        7,
        "supervisor-tarempa",
        "SUPERVISOR",
        "Kasi Inteldakim",
        "Dicek",
    )
    assert event.rule_run_id == ""
    run_event = convert.get_alert_response_pb(
        ALERT,
        (
            AlertEvent(
                **{
                    **REVIEWED.__dict__,
                    "kind": AlertEventKind.OPENED,
                    "status": AlertStatus.OPEN,
                    "rule_run_id": uuid.UUID(int=5),
                }
            ),
        ),
    ).events[0]
    assert (run_event.decision, run_event.rule_run_id) == (
        apb.REVIEW_DECISION_UNSPECIFIED,
        str(uuid.UUID(int=5)),
    )
    ids: set[str] = set()
    collect_person_ids(response, ids)
    assert ids == {PERSON_ID}


def test_requests_arrive_as_names_and_numbers_unknown_to_this_contract_as_text() -> None:
    request = q.ListAlertsRequest(
        rules=[apb.ALERT_RULE_OVERSTAY, 99],  # type: ignore[list-item]
        statuses=[apb.ALERT_STATUS_UNSPECIFIED],
        min_severity=apb.ALERT_SEVERITY_WARNING,
        district_code="21.05.01",
        sponsor_id="sponsor:9f2c",
        page_size=10,
        page_token="t",
    )
    request.since.FromDatetime(AT)
    assert convert.list_alerts(request) == cmd.ListAlerts(
        rules=("OVERSTAY", "99"),
        statuses=("",),
        min_severity="WARNING",
        district_code="21.05.01",
        person_id=None,
        sponsor_id="sponsor:9f2c",
        since=AT,
        page_size=10,
        page_token="t",
    )
    assert convert.list_alerts(q.ListAlertsRequest()) == cmd.ListAlerts()
    assert convert.review_alert(
        ar.ReviewAlertRequest(alert_id="a", decision=apb.REVIEW_DECISION_DISMISS, note="n")
    ) == cmd.ReviewAlert("a", "DISMISS", "n")


def test_an_alert_filter_keeps_every_severity_from_the_least() -> None:
    where, size = valid_alert_query(cmd.ListAlerts(min_severity="HIGH", person_id=PERSON_ID))
    assert where.severities == (Severity.HIGH, Severity.CRITICAL)
    assert (where.subject_kind, where.subject_id, size) == (SubjectKind.PERSON, PERSON_ID, 50)
    assert valid_alert_query(cmd.ListAlerts())[0].severities == alerts.SEVERITY_ORDER
    with pytest.raises(InvalidInput) as bad:
        valid_alert_query(cmd.ListAlerts(sponsor_id="x" * 201))
    assert [v.field for v in bad.value.violations] == ["sponsor_id"]


# Each decision -> the statuses it may be made on (and so every other is refused).
REVIEWABLE = {
    ReviewDecision.ACKNOWLEDGE: {AlertStatus.OPEN},
    ReviewDecision.CONFIRM: {AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.DISMISSED},
    ReviewDecision.DISMISS: {AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED},
    ReviewDecision.RESOLVE: {AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED},
}


@pytest.mark.parametrize("decision", list(ReviewDecision))
@pytest.mark.parametrize("status", list(AlertStatus))
def test_the_review_table(decision: ReviewDecision, status: AlertStatus) -> None:
    alert = Alert(**{**ALERT.__dict__, "status": status})
    refusal = alerts.review_refusal(alert, decision)
    if status in REVIEWABLE[decision]:
        assert refusal is None
        return
    assert refusal is not None
    assert refusal.subject == f"alerts/{ALERT.id}"
    closed = status in {AlertStatus.RESOLVED, AlertStatus.DISMISSED}
    assert refusal.type == ("ALERT_CLOSED" if closed else "ALERT_ALREADY_REVIEWED")
    assert str(decision) in refusal.description


def test_each_decision_leads_to_the_status_of_its_name() -> None:
    for decision in ReviewDecision:
        assert decision.status.value.startswith(decision.value[:6])
        assert ReviewDecision.of_status(decision.status) is decision
    assert ReviewDecision.of_status(AlertStatus.OPEN) is None


def test_a_review_names_every_bad_field_and_a_dismissal_its_missing_reason() -> None:
    alert_id = str(ALERT.id)
    assert valid_review(cmd.ReviewAlert(alert_id, "RESOLVE")) == (
        ALERT.id,
        ReviewDecision.RESOLVE,
        "",
    )
    with pytest.raises(InvalidInput) as bad:
        valid_review(cmd.ReviewAlert("", "DISMISS", " \n "))
    assert [v.field for v in bad.value.violations] == ["alert_id", "note"]
    with pytest.raises(InvalidInput) as control:
        valid_review(cmd.ReviewAlert(alert_id, "CONFIRM", "ok\x07"))
    assert [v.field for v in control.value.violations] == ["note"]
