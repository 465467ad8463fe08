"""Alerts as the agencies list, read and review them, through the use cases on the real PostGIS.

The alerts come from real OVERSTAY runs (``tests/service/stays.py``); each
test's writes are rolled back at its end. The database may hold other
alerts (the end-to-end tiers commit theirs), so listings are checked by
filter, relative order and complete paging, not by exact totals.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from exchange_service.app import alerts_options, page_tokens
from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import (
    Alert,
    AlertEvent,
    AlertEventKind,
    AlertStatus,
    ResolutionReason,
    ReviewDecision,
    RuleName,
    Severity,
    SubjectKind,
)
from exchange_service.domain.audit import Actor
from exchange_service.domain.call import CallRecord, current_call
from exchange_service.domain.errors import FailedPrecondition, InvalidInput, NotFound
from exchange_service.domain.paging import query_fingerprint
from exchange_service.services import Registry
from exchange_service.services.alerts import Alerts, RuleEngine
from exchange_service.settings import Settings
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service.conftest import SettableClock
from tests.service.stays import (
    Visitor,
    alert_rows,
    extend,
    leave,
    the_alert,
    visitor_until,
    wib,
)

OVERSTAY = RuleName.OVERSTAY
LAST_DAY = date(2026, 1, 31)
SUPERVISOR = Actor.agency("supervisor-tarempa", "SUPERVISOR", "Kasi Inteldakim Tarempa")


def day(n: int) -> date:
    """Day ``n`` of the overstay (day 0 is the last valid day)."""
    return LAST_DAY + timedelta(days=n)


@pytest.fixture
def alerts(uow: SavepointUnitOfWork, service_settings: Settings, clock: SettableClock) -> Alerts:
    return Alerts(uow, alerts_options(service_settings), clock)


@dataclass(frozen=True)
class Desk:
    """What a review test works with, on the test's transaction."""

    registry: Registry
    engine: RuleEngine
    alerts: Alerts
    uow: SavepointUnitOfWork
    clock: SettableClock
    connection: Connection

    def overstayer(self, *, on_day: int = 10, family: str = "Nguyen") -> tuple[Visitor, Alert]:
        """A visitor overstaying, and the OVERSTAY alert a run as of day ``on_day`` opened."""
        visitor = visitor_until(self.registry, self.clock, LAST_DAY, family=family)
        self.run(on_day)
        return visitor, the_alert(self.uow, visitor, OVERSTAY)

    def run(self, on_day: int) -> None:
        self.clock.set(wib(day(on_day), 9))
        assert self.engine.run(OVERSTAY).error is None

    def review(
        self,
        alert: Alert,
        decision: ReviewDecision,
        note: str = "Diperiksa di kantor",
        reviewer: Actor = SUPERVISOR,
    ) -> tuple[Alert, AlertEvent]:
        return self.alerts.review_alert(
            cmd.ReviewAlert(str(alert.id), str(decision), note), reviewer
        )

    def row(self, alert: Alert) -> tuple[object, ...]:
        """The alert's stored row, whole."""
        return tuple(
            self.connection.execute(
                text("SELECT a.* FROM alerts a WHERE id = :id"), {"id": alert.id}
            ).one()
        )

    def listing(self, **filters: object) -> list[Alert]:
        """Every alert the filters match, page by page, following the tokens."""
        found: list[Alert] = []
        token = ""
        while True:
            page = self.alerts.list_alerts(cmd.ListAlerts(**filters, page_token=token))  # type: ignore[arg-type]
            found.extend(page.items)
            token = page.next_page_token
            if not token:
                return found


@pytest.fixture
def desk(  # noqa: PLR0917 (pytest fixtures)
    registry: Registry,
    rule_engine: RuleEngine,
    alerts: Alerts,
    uow: SavepointUnitOfWork,
    clock: SettableClock,
    connection: Connection,
) -> Desk:
    return Desk(registry, rule_engine, alerts, uow, clock, connection)


# --- reviews ------------------------------------------------------------------------

# (status before, decision) -> the status after, or the precondition the refusal names.
REVIEWS: dict[tuple[AlertStatus, ReviewDecision], AlertStatus | str] = {
    (AlertStatus.OPEN, ReviewDecision.ACKNOWLEDGE): AlertStatus.ACKNOWLEDGED,
    (AlertStatus.OPEN, ReviewDecision.CONFIRM): AlertStatus.CONFIRMED,
    (AlertStatus.OPEN, ReviewDecision.DISMISS): AlertStatus.DISMISSED,
    (AlertStatus.OPEN, ReviewDecision.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.ACKNOWLEDGED, ReviewDecision.ACKNOWLEDGE): "ALERT_ALREADY_REVIEWED",
    (AlertStatus.ACKNOWLEDGED, ReviewDecision.CONFIRM): AlertStatus.CONFIRMED,
    (AlertStatus.ACKNOWLEDGED, ReviewDecision.DISMISS): AlertStatus.DISMISSED,
    (AlertStatus.ACKNOWLEDGED, ReviewDecision.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.CONFIRMED, ReviewDecision.ACKNOWLEDGE): "ALERT_ALREADY_REVIEWED",
    (AlertStatus.CONFIRMED, ReviewDecision.CONFIRM): "ALERT_ALREADY_REVIEWED",
    (AlertStatus.CONFIRMED, ReviewDecision.DISMISS): AlertStatus.DISMISSED,
    (AlertStatus.CONFIRMED, ReviewDecision.RESOLVE): AlertStatus.RESOLVED,
    (AlertStatus.DISMISSED, ReviewDecision.ACKNOWLEDGE): "ALERT_CLOSED",
    (AlertStatus.DISMISSED, ReviewDecision.CONFIRM): AlertStatus.CONFIRMED,
    (AlertStatus.DISMISSED, ReviewDecision.DISMISS): "ALERT_CLOSED",
    (AlertStatus.DISMISSED, ReviewDecision.RESOLVE): "ALERT_CLOSED",
    (AlertStatus.RESOLVED, ReviewDecision.ACKNOWLEDGE): "ALERT_CLOSED",
    (AlertStatus.RESOLVED, ReviewDecision.CONFIRM): "ALERT_CLOSED",
    (AlertStatus.RESOLVED, ReviewDecision.DISMISS): "ALERT_CLOSED",
    (AlertStatus.RESOLVED, ReviewDecision.RESOLVE): "ALERT_CLOSED",
}

# How an alert is brought to a status before the review under test.
_TO_STATUS = {
    AlertStatus.ACKNOWLEDGED: ReviewDecision.ACKNOWLEDGE,
    AlertStatus.CONFIRMED: ReviewDecision.CONFIRM,
    AlertStatus.DISMISSED: ReviewDecision.DISMISS,
}


def _alert_in(desk: Desk, status: AlertStatus) -> Alert:
    visitor, alert = desk.overstayer()
    if status is AlertStatus.RESOLVED:
        # Resolved by the rule, for its reason: the exit recorded.
        leave(desk.registry, desk.clock, visitor, wib(day(11), 8))
        desk.run(11)
    elif status is not AlertStatus.OPEN:
        desk.review(alert, _TO_STATUS[status])
    alert = the_alert(desk.uow, visitor, OVERSTAY)
    assert alert.status is status
    return alert


@pytest.mark.parametrize(
    ("before", "decision"), list(REVIEWS), ids=[f"{s}-{d}" for s, d in REVIEWS]
)
def test_a_review_moves_the_alert_as_the_table_says_or_writes_nothing(
    desk: Desk, before: AlertStatus, decision: ReviewDecision
) -> None:
    alert = _alert_in(desk, before)
    desk.clock.set(wib(day(12), 14))
    expected = REVIEWS[before, decision]
    if not isinstance(expected, AlertStatus):
        rows, row = alert_rows(desk.connection), desk.row(alert)
        with pytest.raises(FailedPrecondition) as refused:
            desk.review(alert, decision)
        assert [v.type for v in refused.value.violations] == [expected]
        assert refused.value.violations[0].subject == f"alerts/{alert.id}"
        assert (alert_rows(desk.connection), desk.row(alert)) == (rows, row)
        return
    events_before = desk.alerts.get_alert(str(alert.id))[1]
    reviewed, event = desk.alerts.review_alert(
        cmd.ReviewAlert(str(alert.id), str(decision), "Paspor diperiksa"), SUPERVISOR
    )
    assert reviewed.status is expected
    assert reviewed.changed_at == wib(day(12), 14)
    stored, events = desk.alerts.get_alert(str(alert.id))
    assert stored == reviewed
    assert events[:-1] == events_before
    assert events[-1] == event
    assert event.kind is AlertEventKind.REVIEWED
    assert (event.actor_id, event.actor_kind, event.officer) == (
        "supervisor-tarempa",
        "SUPERVISOR",
        "Kasi Inteldakim Tarempa",
    )
    assert (event.status, event.note, event.rule_run_id) == (expected, "Paspor diperiksa", None)
    assert ReviewDecision.of_status(event.status) is decision
    assert event.occurred_at == wib(day(12), 14)
    assert (event.evidence, event.severity) == (alert.evidence, alert.severity)
    if expected is AlertStatus.RESOLVED:
        assert (reviewed.resolved_at, reviewed.resolution_reason) == (
            wib(day(12), 14),
            ResolutionReason.REVIEWED,
        )
        assert event.resolution_reason is ResolutionReason.REVIEWED
    else:
        assert (reviewed.resolved_at, reviewed.resolution_reason) == (None, None)


def test_dismissing_needs_a_reason_and_bad_input_names_every_field(desk: Desk) -> None:
    _, alert = desk.overstayer()
    rows, row = alert_rows(desk.connection), desk.row(alert)
    with pytest.raises(InvalidInput) as missing:
        desk.review(alert, ReviewDecision.DISMISS, note="   ")
    assert [v.field for v in missing.value.violations] == ["note"]
    with pytest.raises(InvalidInput) as bad:
        desk.alerts.review_alert(cmd.ReviewAlert("42", "", "x" * 2001), SUPERVISOR)
    assert [v.field for v in bad.value.violations] == ["alert_id", "decision", "note"]
    with pytest.raises(InvalidInput) as unknown:
        desk.alerts.review_alert(cmd.ReviewAlert(str(alert.id), "9", ""), SUPERVISOR)
    assert [v.field for v in unknown.value.violations] == ["decision"]
    assert (alert_rows(desk.connection), desk.row(alert)) == (rows, row)
    # A note of exactly 2,000 characters is taken, white space folded.
    reviewed, event = desk.review(alert, ReviewDecision.DISMISS, note=" ya\n  " + "x" * 1997)
    assert reviewed.status is AlertStatus.DISMISSED
    assert event.note == "ya " + "x" * 1997


def test_reviewing_an_alert_that_does_not_exist_is_not_found_naming_alert_id(
    desk: Desk,
) -> None:
    rows = alert_rows(desk.connection)
    missing = "6f1d7a52-0a51-4c39-9d4e-3b1f6e2a9c10"
    with pytest.raises(NotFound) as caught:
        desk.alerts.review_alert(cmd.ReviewAlert(missing, "ACKNOWLEDGE"), SUPERVISOR)
    assert (caught.value.resource_type, caught.value.resource_name, caught.value.field) == (
        "pantau.v1.Alert",
        f"alerts/{missing}",
        "alert_id",
    )
    with pytest.raises(NotFound):
        desk.alerts.get_alert(missing)
    assert alert_rows(desk.connection) == rows


def test_the_call_being_served_records_the_person_the_review_touched(desk: Desk) -> None:
    visitor, alert = desk.overstayer()
    desk.review(alert, ReviewDecision.RESOLVE)
    call = CallRecord("/pantau.v1.AlertReviewService/ReviewAlert")
    token = current_call.set(call)
    try:
        with pytest.raises(FailedPrecondition):
            desk.review(alert, ReviewDecision.ACKNOWLEDGE)
    finally:
        current_call.reset(token)
    # Refused, yet the alert was read: the audit record names its person.
    assert call.person_ids == {visitor.subject_id}


def test_the_rules_keep_a_reviewed_open_alert_up_to_date_and_leave_a_dismissed_one(
    desk: Desk,
) -> None:
    acknowledged_visitor, acknowledged = desk.overstayer(family="Tran")
    dismissed_visitor, dismissed = desk.overstayer(family="Le")
    desk.review(acknowledged, ReviewDecision.ACKNOWLEDGE)
    desk.review(dismissed, ReviewDecision.DISMISS, note="Izin diperpanjang di Batam")
    dismissed_row = desk.row(dismissed)
    desk.run(11)
    kept = the_alert(desk.uow, acknowledged_visitor, OVERSTAY)
    assert (kept.status, kept.evidence["days_over"]) == (AlertStatus.ACKNOWLEDGED, 11)
    events = desk.alerts.get_alert(str(kept.id))[1]
    assert [e.kind for e in events] == [
        AlertEventKind.OPENED,
        AlertEventKind.REVIEWED,
        AlertEventKind.UPDATED,
    ]
    assert events[-1].status is AlertStatus.ACKNOWLEDGED
    # The false positive stays dismissed as it was, its facts unchanged; no new alert.
    assert desk.row(dismissed) == dismissed_row
    assert [(a.id, a.status) for a in _alerts_of(desk, dismissed_visitor)] == [
        (dismissed.id, AlertStatus.DISMISSED)
    ]


def _alerts_of(desk: Desk, visitor: Visitor) -> list[Alert]:
    return desk.listing(person_id=visitor.subject_id)


def test_a_dismissal_is_overturned_by_confirming_and_the_rules_then_resolve_it(
    desk: Desk,
) -> None:
    visitor, alert = desk.overstayer()
    desk.review(alert, ReviewDecision.DISMISS, note="Salah orang")
    desk.clock.set(wib(day(13), 10))
    confirmed, _ = desk.review(alert, ReviewDecision.CONFIRM, note="Orang yang benar")
    assert (confirmed.id, confirmed.status) == (alert.id, AlertStatus.CONFIRMED)
    leave(desk.registry, desk.clock, visitor, wib(day(14), 8))
    desk.run(14)
    resolved = the_alert(desk.uow, visitor, OVERSTAY)
    assert (resolved.id, resolved.status, resolved.resolution_reason) == (
        alert.id,
        AlertStatus.RESOLVED,
        ResolutionReason.DEPARTED,
    )


def test_a_dismissal_cannot_be_overturned_once_the_rules_opened_another_alert_of_its_key(
    desk: Desk,
) -> None:
    visitor, alert = desk.overstayer()
    desk.review(alert, ReviewDecision.DISMISS, note="Sudah diperpanjang")
    # The facts change (a later period, then an overstay of it): a new alert.
    extend(
        desk.registry,
        desk.clock,
        visitor,
        on=wib(day(10), 11),
        first_day=day(1),
        last_day=day(20),
    )
    desk.run(25)
    newer = [a for a in _alerts_of(desk, visitor) if a.id != alert.id]
    assert [a.status for a in newer] == [AlertStatus.OPEN]
    rows, row = alert_rows(desk.connection), desk.row(alert)
    with pytest.raises(FailedPrecondition) as refused:
        desk.review(alert, ReviewDecision.CONFIRM)
    (violation,) = refused.value.violations
    assert violation.type == "ALERT_SUPERSEDED"
    assert str(newer[0].id) in violation.description
    assert (alert_rows(desk.connection), desk.row(alert)) == (rows, row)


def test_an_alert_resolved_by_review_while_its_condition_holds_is_followed_by_a_new_one(
    desk: Desk,
) -> None:
    """RESOLVE is final for that alert; the rule still finds the overstay, and says so anew."""
    visitor, alert = desk.overstayer()
    desk.review(alert, ReviewDecision.RESOLVE, note="Biaya beban dibayar")
    desk.run(11)
    alerts = _alerts_of(desk, visitor)
    assert [(a.id == alert.id, a.status) for a in alerts] == [
        (False, AlertStatus.OPEN),
        (True, AlertStatus.RESOLVED),
    ]


# --- reading ------------------------------------------------------------------------


def test_an_alert_is_read_with_its_events_oldest_first(desk: Desk) -> None:
    visitor, alert = desk.overstayer()
    desk.run(61)
    desk.clock.set(wib(day(61), 15))
    desk.review(alert, ReviewDecision.CONFIRM, note="Deportasi disiapkan")
    read, events = desk.alerts.get_alert(str(alert.id))
    assert read == the_alert(desk.uow, visitor, OVERSTAY)
    assert [e.kind for e in events] == [
        AlertEventKind.OPENED,
        AlertEventKind.ESCALATED,
        AlertEventKind.REVIEWED,
    ]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert [e.severity for e in events] == [Severity.HIGH, Severity.CRITICAL, Severity.CRITICAL]
    assert events[1].evidence["days_over"] == 61
    with pytest.raises(InvalidInput) as bad:
        desk.alerts.get_alert("not-an-id")
    assert [v.field for v in bad.value.violations] == ["alert_id"]


def test_listings_filter_by_rule_status_severity_district_person_and_since(
    desk: Desk,
) -> None:
    early, early_alert = desk.overstayer(family="Early")
    late = visitor_until(desk.registry, desk.clock, day(20), family="Late")
    desk.run(70)  # early is past day 60 (CRITICAL); late on day 50 (HIGH)
    late_alert = the_alert(desk.uow, late, OVERSTAY)
    desk.review(late_alert, ReviewDecision.ACKNOWLEDGE)
    since = wib(day(70), 9)

    def ids(**filters: object) -> list[object]:
        wanted = {early_alert.id, late_alert.id}
        return [a.id for a in desk.listing(**filters) if a.id in wanted]

    # Newest first: the late alert was first detected on day 70, the early one on day 10.
    assert ids() == [late_alert.id, early_alert.id]
    assert ids(rules=("OVERSTAY",)) == [late_alert.id, early_alert.id]
    assert ids(rules=("PERMIT_EXPIRING",)) == []
    assert ids(statuses=("ACKNOWLEDGED",)) == [late_alert.id]
    assert ids(statuses=("OPEN", "CONFIRMED")) == [early_alert.id]
    assert ids(min_severity="CRITICAL") == [early_alert.id]
    assert ids(min_severity="HIGH") == [late_alert.id, early_alert.id]
    assert ids(district_code=early_alert.district_code) == [late_alert.id, early_alert.id]
    assert ids(district_code="21.05.09") == []
    assert ids(person_id=early.subject_id) == [early_alert.id]
    assert ids(since=since) == [late_alert.id]
    assert ids(since=since + timedelta(microseconds=1)) == []
    everything = desk.listing(person_id=late.subject_id, statuses=("ACKNOWLEDGED",))
    assert [a.subject_kind for a in everything] == [SubjectKind.PERSON]
    assert ids(sponsor_id="PT Anambas Bahari") == []


def test_pages_follow_each_other_without_gaps_or_repeats(desk: Desk) -> None:
    for family in ("Satu", "Dua", "Tiga", "Empat", "Lima"):
        visitor_until(desk.registry, desk.clock, LAST_DAY, family=family)
    desk.run(10)
    filters: dict[str, object] = {"rules": ("OVERSTAY",), "since": wib(day(10), 9)}
    whole = desk.alerts.list_alerts(cmd.ListAlerts(**filters, page_size=500))  # type: ignore[arg-type]
    assert len(whole.items) >= 5
    assert not whole.next_page_token
    paged = desk.listing(**filters, page_size=2)
    assert [a.id for a in paged] == [a.id for a in whole.items]
    keys = [(a.first_detected_at, a.id) for a in paged]
    assert keys == sorted(keys, reverse=True)
    # A token continues only the listing it came from.
    first = desk.alerts.list_alerts(cmd.ListAlerts(**filters, page_size=2))  # type: ignore[arg-type]
    with pytest.raises(InvalidInput) as other:
        desk.alerts.list_alerts(
            cmd.ListAlerts(rules=("PERMIT_EXPIRING",), page_token=first.next_page_token)
        )
    assert [v.field for v in other.value.violations] == ["page_token"]


def test_a_listing_defaults_to_50_and_refuses_bad_filters_naming_each(
    desk: Desk, service_settings: Settings
) -> None:
    for n in range(51):
        visitor_until(desk.registry, desk.clock, LAST_DAY, family=f"Orang{n:02d}")
    desk.run(10)
    page = desk.alerts.list_alerts(cmd.ListAlerts(since=wib(day(10), 9)))
    assert len(page.items) == 50
    assert page.next_page_token
    with pytest.raises(InvalidInput) as bad:
        desk.alerts.list_alerts(
            cmd.ListAlerts(
                rules=("OVERSTAY", ""),
                statuses=("7",),
                min_severity="LOUD",
                district_code="2105.01",
                person_id="someone",
                page_size=501,
                page_token="x" * 1001,
            )
        )
    assert [v.field for v in bad.value.violations] == [
        "rules[1]",
        "statuses[0]",
        "min_severity",
        "district_code",
        "person_id",
        "page_size",
        "page_token",
    ]
    with pytest.raises(InvalidInput) as negative:
        desk.alerts.list_alerts(cmd.ListAlerts(page_size=-1, sponsor_id=" "))
    assert [v.field for v in negative.value.violations] == ["sponsor_id", "page_size"]
    with pytest.raises(InvalidInput) as forged:
        desk.alerts.list_alerts(cmd.ListAlerts(page_token="bm90IGEgdG9rZW4"))
    assert [v.field for v in forged.value.violations] == ["page_token"]
    # Tokens of this very listing whose keys were edited: not an instant, no offset, no id.
    every_alert = query_fingerprint("alerts", [], [], None, "", None, "", None)
    edited_keys: list[list[str | int | float]] = [
        ["yesterday", str(uuid.uuid4())],
        ["2026-03-10T09:00:00", str(uuid.uuid4())],
        ["2026-03-10T09:00:00+07:00", "alert-1"],
        [1741572000, str(uuid.uuid4())],
    ]
    # The same fingerprint with a well-formed key is taken: the edits are what is refused.
    tokens = page_tokens(service_settings)
    well_formed = tokens.encode(every_alert, ["2026-03-10T09:00:00+07:00", str(uuid.uuid4())])
    desk.alerts.list_alerts(cmd.ListAlerts(page_token=well_formed))
    for key in edited_keys:
        with pytest.raises(InvalidInput) as edited:
            desk.alerts.list_alerts(cmd.ListAlerts(page_token=tokens.encode(every_alert, key)))
        assert [v.field for v in edited.value.violations] == ["page_token"], key


def test_the_listing_sees_the_review_at_once(desk: Desk) -> None:
    visitor, alert = desk.overstayer()
    desk.review(alert, ReviewDecision.CONFIRM)
    (listed,) = desk.listing(person_id=visitor.subject_id)
    assert listed.status is AlertStatus.CONFIRMED
    assert isinstance(listed.changed_at, datetime)
