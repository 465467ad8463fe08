"""Every bad input gets the right code, names the field, and writes nothing."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from google.type.date_pb2 import Date
from grpc_status import rpc_status
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from sqlalchemy import Engine, text

from exchange_service import app
from exchange_service.domain.paging import PageTokens
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings
from tests import factories as f
from tests.conftest import RowCounts
from tests.e2e.conftest import register_overstayer, run_overstay


class Stubs:
    def __init__(
        self, channel: grpc.Channel, rule_engine: RuleEngine, page_tokens: PageTokens
    ) -> None:
        # The server's: tokens of other queries, signed as the server signs them.
        self.page_tokens = page_tokens
        self.registry = r_grpc.RegistryServiceStub(channel)
        self.queries = q_grpc.QueryServiceStub(channel)
        self.reviews = ar_grpc.AlertReviewServiceStub(channel)
        # Made before the test takes its snapshot: one person with an open
        # stay, one with none, and two overstayers with an alert each, one
        # open and one resolved by review.
        person = self.registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
        self.registry.RecordEntry(f.entry(person.id))
        self.person_id = person.id
        idle = self.registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
        self.idle_person_id = idle.id
        overstayers = [register_overstayer(channel) for _ in range(2)]
        run_overstay(rule_engine)
        self.alert_id, self.resolved_alert_id = (self._alert_of(o.person.id) for o in overstayers)
        self.review(self.resolved_alert_id, apb.REVIEW_DECISION_RESOLVE)

    def _alert_of(self, person_id: str) -> str:
        (alert,) = self.queries.ListAlerts(q.ListAlertsRequest(person_id=person_id)).alerts
        return str(alert.id)

    def review(self, alert_id: str, decision: int, note: str = "Diperiksa") -> object:
        return self.reviews.ReviewAlert(
            ar.ReviewAlertRequest(alert_id=alert_id, decision=decision, note=note)  # type: ignore[arg-type]
        )


@pytest.fixture
def stubs(grpc_channel: grpc.Channel, rule_engine: RuleEngine, settings: Settings) -> Stubs:
    return Stubs(grpc_channel, rule_engine, app.page_tokens(settings))


def _person(**changes: object) -> r.RegisterPersonRequest:
    person = f.person()
    for name, value in changes.items():
        if name == "document_state":
            person.documents[0].issuing_state = str(value)
        elif name == "document_number":
            person.documents[0].number = str(value)
        elif isinstance(value, Date):
            getattr(person, name).CopyFrom(value)
        else:
            setattr(person, name, value)
    return r.RegisterPersonRequest(person=person)


def _address(s: Stubs, lat: float = 3.2, lon: float = 106.2, line: str = "Jl. Pasar") -> object:
    return s.registry.ReportAddress(
        r.ReportAddressRequest(
            person_id=s.person_id,
            address=pb.Address(line=line, location=pb.GeoPoint(latitude=lat, longitude=lon)),
            effective_from=f.date(),
        )
    )


def _entry_with_permit(s: Stubs, permit: pb.StayPermit) -> object:
    return s.registry.RecordEntry(
        r.RecordEntryRequest(
            person_id=s.idle_person_id, port_code="IDTRE", entered_at=f.hours_ago(1), permit=permit
        )
    )


def _reversed_permit() -> pb.StayPermit:
    permit = f.permit()
    permit.valid_from.CopyFrom(f.date(days=10))
    permit.valid_until.CopyFrom(f.date(days=-10))
    return permit


def _near(s: Stubs, **fields: object) -> object:
    request = q.ListPersonsNearRequest(
        center=pb.GeoPoint(latitude=3.2, longitude=106.2), radius_meters=1000
    )
    for name, value in fields.items():
        setattr(request, name, value)
    return s.queries.ListPersonsNear(request)


def _search(s: Stubs, **fields: object) -> object:
    request = q.SearchPersonsRequest(name="nguyen")
    for name, value in fields.items():
        setattr(request, name, value)
    return s.queries.SearchPersons(request)


def _exit_before_entry_timestamp(s: Stubs) -> object:
    return s.registry.RecordExit(
        r.RecordExitRequest(person_id=s.person_id, port_code="MWK", exited_at=f.hours_ago(-2))
    )


def _other_query_token(s: Stubs) -> object:
    # A valid token of a query around another centre is rejected as malformed.
    from exchange_service.domain.paging import query_fingerprint

    token = s.page_tokens.encode(query_fingerprint("near", 1.0, 2.0, 3.0), [1.0, str(uuid.uuid4())])
    return _near(s, page_token=token)


def _sighting(s: Stubs, *, seen_hours_ago: float, reported: Timestamp) -> object:
    return s.registry.RecordSighting(
        r.RecordSightingRequest(
            person_id=s.person_id,
            location=pb.GeoPoint(latitude=3.2, longitude=106.2),
            observed_at=f.hours_ago(seen_hours_ago),
            source=pb.SIGHTING_SOURCE_POLICE_CHECK,
            reported_at=reported,
        )
    )


# After the last day a timestamp can hold (year 10000).
_NO_SUCH_INSTANT = Timestamp(seconds=253_402_300_800)


def _alerts(s: Stubs, **fields: object) -> object:
    request = q.ListAlertsRequest(rules=[apb.ALERT_RULE_OVERSTAY])
    for name, value in fields.items():
        if name in {"rules", "statuses"}:
            getattr(request, name)[:] = value
        elif name == "since":
            request.since.seconds = int(value)  # type: ignore[call-overload]
        else:
            setattr(request, name, value)
    return s.queries.ListAlerts(request)


def _other_listing_token(s: Stubs) -> object:
    # A valid token of a listing with other filters is rejected as malformed.
    from exchange_service.domain.paging import query_fingerprint

    token = s.page_tokens.encode(
        query_fingerprint("alerts", ["PERMIT_EXPIRING"], [], None, "", None, "", None),
        ["2026-12-01T00:00:00+00:00", str(uuid.uuid4())],
    )
    return _alerts(s, page_token=token)


CASES: dict[str, tuple[Callable[[Stubs], object], grpc.StatusCode, str]] = {
    "address reported in the future": (
        lambda s: s.registry.ReportAddress(
            f.address(s.person_id, 3.2, 106.2, reported_at=f.hours_ago(-1))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reported_at",
    ),
    "address reported before the day of its move": (
        lambda s: s.registry.ReportAddress(
            f.address(s.person_id, 3.2, 106.2, days=-3, reported_at=f.hours_ago(24 * 5))
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reported_at",
    ),
    "address report time not a timestamp": (
        lambda s: s.registry.ReportAddress(
            f.address(s.person_id, 3.2, 106.2, reported_at=_NO_SUCH_INSTANT)
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reported_at",
    ),
    "sighting reported before it was seen": (
        lambda s: _sighting(s, seen_hours_ago=2, reported=f.hours_ago(3)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reported_at",
    ),
    "sighting reported in the future": (
        lambda s: _sighting(s, seen_hours_ago=2, reported=f.hours_ago(-1)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reported_at",
    ),
    "sighting report time not a timestamp": (
        lambda s: _sighting(s, seen_hours_ago=2, reported=_NO_SUCH_INSTANT),
        grpc.StatusCode.INVALID_ARGUMENT,
        "reported_at",
    ),
    "latitude over 90": (
        lambda s: _address(s, lat=90.5),
        grpc.StatusCode.INVALID_ARGUMENT,
        "address.location.latitude",
    ),
    "latitude under -90": (
        lambda s: _address(s, lat=-91),
        grpc.StatusCode.INVALID_ARGUMENT,
        "address.location.latitude",
    ),
    "longitude over 180": (
        lambda s: _address(s, lon=180.01),
        grpc.StatusCode.INVALID_ARGUMENT,
        "address.location.longitude",
    ),
    "latitude not a number": (
        lambda s: _address(s, lat=float("nan")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "address.location.latitude",
    ),
    "sighting longitude under -180": (
        lambda s: s.registry.RecordSighting(
            r.RecordSightingRequest(
                person_id=s.person_id,
                location=pb.GeoPoint(latitude=3, longitude=-181),
                observed_at=f.hours_ago(1),
                source=pb.SIGHTING_SOURCE_POLICE_CHECK,
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "location.longitude",
    ),
    "near centre latitude": (
        lambda s: s.queries.ListPersonsNear(
            q.ListPersonsNearRequest(
                center=pb.GeoPoint(latitude=-95, longitude=0), radius_meters=10
            )
        ),
        grpc.StatusCode.INVALID_ARGUMENT,
        "center.latitude",
    ),
    "unknown nationality": (
        lambda s: s.registry.RegisterPerson(_person(nationality="XYZ")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.nationality",
    ),
    "unknown document state": (
        lambda s: s.registry.RegisterPerson(_person(document_state="QQQ")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.documents[0].issuing_state",
    ),
    "unknown search nationality": (
        lambda s: _search(s, nationality="ZZZ"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "nationality",
    ),
    "indonesian citizen": (
        lambda s: s.registry.RegisterPerson(_person(nationality="IDN")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.nationality",
    ),
    "permit ends before it starts": (
        lambda s: _entry_with_permit(s, _reversed_permit()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "permit.valid_until",
    ),
    "address effective in the future": (
        lambda s: s.registry.ReportAddress(f.address(s.person_id, 3.2, 106.2, days=2)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "effective_from",
    ),
    "permit starting after the entry": (
        lambda s: _entry_with_permit(s, f.permit(days=90, starts=20)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "permit.valid_from",
    ),
    "permit ended before the entry": (
        lambda s: _entry_with_permit(s, f.permit(days=-3, starts=-40)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "permit.valid_until",
    ),
    "birth date not a calendar date": (
        lambda s: s.registry.RegisterPerson(_person(birth_date=Date(year=1990, month=2, day=30))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.birth_date",
    ),
    "birth date in the future": (
        lambda s: s.registry.RegisterPerson(_person(birth_date=f.date(days=3))),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.birth_date",
    ),
    "exit in the future": (
        _exit_before_entry_timestamp,
        grpc.StatusCode.INVALID_ARGUMENT,
        "exited_at",
    ),
    "empty family name": (
        lambda s: s.registry.RegisterPerson(_person(family_name="   ")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.family_name",
    ),
    "empty address line": (
        lambda s: _address(s, line=""),
        grpc.StatusCode.INVALID_ARGUMENT,
        "address.line",
    ),
    "family name too long": (
        lambda s: s.registry.RegisterPerson(_person(family_name="A" * 101)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.family_name",
    ),
    "given names too long": (
        lambda s: s.registry.RegisterPerson(_person(given_names="B" * 101)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.given_names",
    ),
    "document number too long": (
        lambda s: s.registry.RegisterPerson(_person(document_number="C" * 21)),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person.documents[0].number",
    ),
    "address line too long": (
        lambda s: _address(s, line="x" * 301),
        grpc.StatusCode.INVALID_ARGUMENT,
        "address.line",
    ),
    "search name too long": (
        lambda s: _search(s, name="n" * 201),
        grpc.StatusCode.INVALID_ARGUMENT,
        "name",
    ),
    "radius over 100 km": (
        lambda s: _near(s, radius_meters=100_001),
        grpc.StatusCode.INVALID_ARGUMENT,
        "radius_meters",
    ),
    "radius zero": (
        lambda s: _near(s, radius_meters=0),
        grpc.StatusCode.INVALID_ARGUMENT,
        "radius_meters",
    ),
    "near page size over cap": (
        lambda s: _near(s, page_size=501),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    "search page size over cap": (
        lambda s: _search(s, page_size=101),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    "malformed near page token": (
        lambda s: _near(s, page_token="not-a-token!"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    "malformed search page token": (
        lambda s: _search(s, page_token="eyJ2IjoxfQ"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    "page token of another query": (
        _other_query_token,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    "person id not a uuid": (
        lambda s: s.queries.GetPerson(q.GetPersonRequest(person_id="42")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person_id",
    ),
    "entry for unknown person": (
        lambda s: s.registry.RecordEntry(f.entry(str(uuid.uuid4()))),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
    "address for unknown person": (
        lambda s: s.registry.ReportAddress(f.address(str(uuid.uuid4()), 3.2, 106.2)),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
    "get unknown person": (
        lambda s: s.queries.GetPerson(q.GetPersonRequest(person_id=str(uuid.uuid4()))),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
    "get unknown document": (
        lambda s: s.queries.GetPerson(
            q.GetPersonRequest(document=pb.TravelDocument(issuing_state="AUS", number="NOPE1"))
        ),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
    "alerts of an unspecified rule": (
        lambda s: _alerts(s, rules=[apb.ALERT_RULE_OVERSTAY, apb.ALERT_RULE_UNSPECIFIED]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "rules[1]",
    ),
    "alerts of a rule this contract lacks": (
        lambda s: _alerts(s, rules=[99]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "rules[0]",
    ),
    "alerts in an unknown status": (
        lambda s: _alerts(s, statuses=[apb.ALERT_STATUS_OPEN, 42]),
        grpc.StatusCode.INVALID_ARGUMENT,
        "statuses[1]",
    ),
    "alerts of an unknown severity": (
        lambda s: _alerts(s, min_severity=9),
        grpc.StatusCode.INVALID_ARGUMENT,
        "min_severity",
    ),
    "alerts of a malformed district": (
        lambda s: _alerts(s, district_code="2105.01"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "district_code",
    ),
    "alerts of a person id not a uuid": (
        lambda s: _alerts(s, person_id="42"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "person_id",
    ),
    "alerts of an empty sponsor": (
        lambda s: _alerts(s, sponsor_id=""),
        grpc.StatusCode.INVALID_ARGUMENT,
        "sponsor_id",
    ),
    "alerts since an invalid instant": (
        lambda s: _alerts(s, since=10**12),
        grpc.StatusCode.INVALID_ARGUMENT,
        "since",
    ),
    "alerts page size over cap": (
        lambda s: _alerts(s, page_size=501),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    "alerts page size negative": (
        lambda s: _alerts(s, page_size=-1),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_size",
    ),
    "malformed alerts page token": (
        lambda s: _alerts(s, page_token="bm90IGEgdG9rZW4"),
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    "alerts page token of another listing": (
        _other_listing_token,
        grpc.StatusCode.INVALID_ARGUMENT,
        "page_token",
    ),
    "get alert without id": (
        lambda s: s.queries.GetAlert(q.GetAlertRequest()),
        grpc.StatusCode.INVALID_ARGUMENT,
        "alert_id",
    ),
    "get alert id not a uuid": (
        lambda s: s.queries.GetAlert(q.GetAlertRequest(alert_id="alert-1")),
        grpc.StatusCode.INVALID_ARGUMENT,
        "alert_id",
    ),
    "get unknown alert": (
        lambda s: s.queries.GetAlert(q.GetAlertRequest(alert_id=str(uuid.uuid4()))),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
    "review alert id not a uuid": (
        lambda s: s.review("42", apb.REVIEW_DECISION_CONFIRM),
        grpc.StatusCode.INVALID_ARGUMENT,
        "alert_id",
    ),
    "review without decision": (
        lambda s: s.review(s.alert_id, apb.REVIEW_DECISION_UNSPECIFIED),
        grpc.StatusCode.INVALID_ARGUMENT,
        "decision",
    ),
    "review with a decision this contract lacks": (
        lambda s: s.review(s.alert_id, 9),
        grpc.StatusCode.INVALID_ARGUMENT,
        "decision",
    ),
    "dismissal without a reason": (
        lambda s: s.review(s.alert_id, apb.REVIEW_DECISION_DISMISS, note="  "),
        grpc.StatusCode.INVALID_ARGUMENT,
        "note",
    ),
    "review note too long": (
        lambda s: s.review(s.alert_id, apb.REVIEW_DECISION_CONFIRM, note="n" * 2001),
        grpc.StatusCode.INVALID_ARGUMENT,
        "note",
    ),
    "review unknown alert": (
        lambda s: s.review(str(uuid.uuid4()), apb.REVIEW_DECISION_CONFIRM),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
    "review a resolved alert": (
        lambda s: s.review(s.resolved_alert_id, apb.REVIEW_DECISION_ACKNOWLEDGE),
        grpc.StatusCode.FAILED_PRECONDITION,
        "",
    ),
    "dismiss a resolved alert": (
        lambda s: s.review(s.resolved_alert_id, apb.REVIEW_DECISION_DISMISS),
        grpc.StatusCode.FAILED_PRECONDITION,
        "",
    ),
    "extend unknown stay": (
        lambda s: s.registry.ExtendPermit(
            r.ExtendPermitRequest(stay_id=str(uuid.uuid4()), permit=f.permit(days=90))
        ),
        grpc.StatusCode.NOT_FOUND,
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_rejected_naming_the_field_and_writes_nothing(
    case: str, stubs: Stubs, row_counts: RowCounts
) -> None:
    call, code, field = CASES[case]
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        call(stubs)
    assert caught.value.code() == code, caught.value.details()
    if field:
        assert field in f.field_violations(caught.value), caught.value.details()
    assert row_counts.snapshot() == before


def test_every_bad_field_is_named_at_once(stubs: Stubs, row_counts: RowCounts) -> None:
    before = row_counts.snapshot()
    bad = _person(family_name="", nationality="XYZ", document_number="")
    with pytest.raises(grpc.RpcError) as caught:
        stubs.registry.RegisterPerson(bad)
    assert {"person.family_name", "person.nationality", "person.documents[0].number"} <= set(
        f.field_violations(caught.value)
    )
    assert row_counts.snapshot() == before


def test_message_over_the_size_cap_is_refused(stubs: Stubs, row_counts: RowCounts) -> None:
    before = row_counts.snapshot()
    huge = _person(family_name="N" * (5 * 1024 * 1024))
    with pytest.raises(grpc.RpcError) as caught:
        stubs.registry.RegisterPerson(huge)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert row_counts.snapshot() == before


def test_the_deadline_bounds_work_in_the_database(
    stubs: Stubs, engine: Engine, row_counts: RowCounts
) -> None:
    """A call blocked in the database stops there when its deadline passes."""
    with engine.connect() as blocker:
        blocker.execute(
            text("SELECT id FROM persons WHERE id = :id FOR UPDATE"), {"id": stubs.idle_person_id}
        )
        before = row_counts.snapshot()
        started = time.monotonic()
        with pytest.raises(grpc.RpcError) as caught:
            stubs.registry.RecordEntry(f.entry(stubs.idle_person_id), timeout=1.0)
        assert caught.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        # The server gave up on the lock by itself: nothing of that call is
        # still waiting in the database while the blocker holds its lock.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with engine.connect() as watcher:
                waiting = watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pantau'"
                        " AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
            if waiting == 0:
                break
            time.sleep(0.1)
        assert waiting == 0
        assert time.monotonic() - started < 5
        blocker.rollback()
    assert row_counts.snapshot() == before


def _resource(error: grpc.RpcError) -> error_details_pb2.ResourceInfo:
    status = rpc_status.from_call(error)
    assert status is not None
    info = error_details_pb2.ResourceInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(info.DESCRIPTOR))
    return info


@pytest.mark.parametrize("rpc", ["GetAlert", "ReviewAlert"])
def test_an_unknown_alert_is_not_found_naming_alert_id(
    rpc: str, stubs: Stubs, row_counts: RowCounts
) -> None:
    missing = str(uuid.uuid4())
    calls: dict[str, Callable[[], object]] = {
        "GetAlert": lambda: stubs.queries.GetAlert(q.GetAlertRequest(alert_id=missing)),
        "ReviewAlert": lambda: stubs.review(missing, apb.REVIEW_DECISION_ACKNOWLEDGE),
    }
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        calls[rpc]()
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    info = _resource(caught.value)
    assert (info.resource_type, info.resource_name) == ("pantau.v1.Alert", f"alerts/{missing}")
    assert "alert_id" in info.description
    assert row_counts.snapshot() == before


def test_a_review_its_alert_does_not_allow_names_the_precondition_and_writes_nothing(
    stubs: Stubs, row_counts: RowCounts
) -> None:
    stubs.review(stubs.alert_id, apb.REVIEW_DECISION_CONFIRM)
    before = row_counts.snapshot()
    for alert_id, decision, expected in (
        (stubs.alert_id, apb.REVIEW_DECISION_ACKNOWLEDGE, "ALERT_ALREADY_REVIEWED"),
        (stubs.alert_id, apb.REVIEW_DECISION_CONFIRM, "ALERT_ALREADY_REVIEWED"),
        (stubs.resolved_alert_id, apb.REVIEW_DECISION_CONFIRM, "ALERT_CLOSED"),
        (stubs.resolved_alert_id, apb.REVIEW_DECISION_RESOLVE, "ALERT_CLOSED"),
    ):
        with pytest.raises(grpc.RpcError) as caught:
            stubs.review(alert_id, decision)
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert f.precondition_types(caught.value) == [expected]
    assert row_counts.snapshot() == before
