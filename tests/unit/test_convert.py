"""Protobuf to domain and back: the same values as protobuf's own helpers, and nothing lost."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain.errors import FieldViolation
from exchange_service.domain.model import (
    ImportSummary,
    RejectedLodgingReport,
    RejectionCount,
    RejectionReason,
    SightingSource,
)
from exchange_service.wire import convert

INSTANTS = [
    datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC),
    datetime(2026, 11, 28, 16, 30, 15, 999999, tzinfo=timezone(timedelta(hours=7))),  # WIB
    datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before the epoch
    datetime(1901, 1, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2026, 2, 28, 23, 59, 59, 500000),  # noqa: DTZ001 (naive: taken as UTC)
    datetime(1970, 1, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_timestamps_match_protobufs_own_conversion(instant: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(instant)
    assert convert.timestamp_pb(instant) == expected
    assert convert.timestamp_pb(instant).ToDatetime(tzinfo=UTC) == (
        instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    )


def test_a_lodging_report_converts_without_raising_and_names_an_unreadable_timestamp() -> None:
    report = r.LodgingReport(
        lodging_id="APOA-2105-0042",
        lodging_name="Wisma Tarempa Indah",
        location=pb.GeoPoint(latitude=3.2171, longitude=106.2213),
        event=r.LODGING_EVENT_CHECK_OUT,
        document=pb.TravelDocument(issuing_state="VNM", number="C1234567"),
        occurred_at=Timestamp(seconds=253_402_300_800),  # year 10000
        reference="R-1",
    )
    command = convert.lodging_report(report)
    assert command == cmd.LodgingReport(
        lodging_id="APOA-2105-0042",
        lodging_name="Wisma Tarempa Indah",
        location=cmd.RawPoint(3.2171, 106.2213),
        event=SightingSource.LODGING_CHECK_OUT,
        document=cmd.RawDocument("VNM", "C1234567"),
        occurred_at=None,
        reference="R-1",
        unreadable=(FieldViolation("occurred_at", "is not a valid timestamp"),),
    )
    empty = convert.lodging_report(r.LodgingReport())
    assert (empty.location, empty.event, empty.document, empty.occurred_at) == (
        None,
        None,
        None,
        None,
    )
    assert empty.unreadable == ()


def test_a_lodging_reports_own_report_time_converts_or_is_named_unreadable() -> None:
    seen = datetime(2026, 3, 1, 21, 5, tzinfo=UTC)
    report = r.LodgingReport(
        lodging_id="APOA-2105-0042",
        occurred_at=convert.timestamp_pb(seen),
        reported_at=convert.timestamp_pb(seen + timedelta(minutes=20)),
    )
    command = convert.lodging_report(report)
    assert (command.occurred_at, command.reported_at) == (seen, seen + timedelta(minutes=20))
    assert command.unreadable == ()
    assert cmd.lodging_sighting(command).reported_at == seen + timedelta(minutes=20)
    assert convert.lodging_report(r.LodgingReport()).reported_at is None

    year_10000 = Timestamp(seconds=253_402_300_800)
    both_bad = convert.lodging_report(
        r.LodgingReport(occurred_at=year_10000, reported_at=year_10000)
    )
    assert (both_bad.occurred_at, both_bad.reported_at) == (None, None)
    assert both_bad.unreadable == (
        FieldViolation("occurred_at", "is not a valid timestamp"),
        FieldViolation("reported_at", "is not a valid timestamp"),
    )


def test_report_times_go_out_beside_the_times_of_receipt() -> None:
    reported = datetime(2025, 6, 3, 3, 15, tzinfo=UTC)
    received = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
    record = convert.address_record_pb(
        model.AddressRecord(
            id=uuid.UUID(int=1),
            person_id=uuid.UUID(int=2),
            address=model.Address("Jl. Hang Tuah 7", model.GeoPoint(3.2166, 106.2211)),
            effective_from=date(2025, 6, 1),
            reported_at=reported,
            recorded_at=received,
        )
    )
    assert record.reported_at.ToDatetime(tzinfo=UTC) == reported
    assert record.recorded_at.ToDatetime(tzinfo=UTC) == received
    sighting = convert.sighting_pb(
        model.Sighting(
            id=uuid.UUID(int=3),
            person_id=uuid.UUID(int=2),
            location=model.GeoPoint(3.2166, 106.2211),
            observed_at=reported - timedelta(hours=1),
            source=SightingSource.POLICE_CHECK,
            recorded_at=received,
            reported_at=reported,
        )
    )
    assert sighting.reported_at.ToDatetime(tzinfo=UTC) == reported
    assert sighting.recorded_at.ToDatetime(tzinfo=UTC) == received
    request = r.ReportAddressRequest(reported_at=convert.timestamp_pb(reported))
    assert convert.report_address(request).reported_at == reported
    assert convert.report_address(r.ReportAddressRequest()).reported_at is None
    sighted = r.RecordSightingRequest(reported_at=convert.timestamp_pb(reported))
    assert convert.record_sighting(sighted).reported_at == reported
    assert convert.record_sighting(r.RecordSightingRequest()).reported_at is None


def test_an_import_summary_converts_field_for_field() -> None:
    invalid, unknown = RejectionReason.INVALID_FIELD, RejectionReason.UNKNOWN_DOCUMENT
    summary = ImportSummary(
        accepted=3,
        duplicates=1,
        rejections=(
            RejectedLodgingReport(4, "APOA-1", "R-5", "location.latitude", "out of range", invalid),
            RejectedLodgingReport(9, "APOA-1", "R-9", "document", "no such document", unknown),
        ),
        rejection_counts=(
            RejectionCount("location.latitude", invalid, 5),
            RejectionCount("document", unknown, 2),
        ),
        reached_cap=True,
    )
    assert convert.import_summary_pb(summary) == r.ImportSummary(
        accepted=3,
        duplicates=1,
        rejected=7,
        rejections=[
            r.RejectedLodgingReport(
                index=4,
                lodging_id="APOA-1",
                reference="R-5",
                field="location.latitude",
                reason="out of range",
                reason_code=r.REJECTION_REASON_INVALID_FIELD,
            ),
            r.RejectedLodgingReport(
                index=9,
                lodging_id="APOA-1",
                reference="R-9",
                field="document",
                reason="no such document",
                reason_code=r.REJECTION_REASON_UNKNOWN_DOCUMENT,
            ),
        ],
        rejections_unlisted=5,
        rejection_counts=[
            r.RejectionCount(
                field="location.latitude", reason_code=r.REJECTION_REASON_INVALID_FIELD, count=5
            ),
            r.RejectionCount(
                field="document", reason_code=r.REJECTION_REASON_UNKNOWN_DOCUMENT, count=2
            ),
        ],
        reports_read=11,
        reached_cap=True,
    )


def test_the_rejection_reasons_of_the_contract_and_the_domain_are_the_same() -> None:
    in_the_contract = set(r.RejectionReason.keys()) - {"REJECTION_REASON_UNSPECIFIED"}
    assert in_the_contract == {f"REJECTION_REASON_{reason.value}" for reason in RejectionReason}


def test_a_report_too_large_for_one_answer_sends_the_page_first_and_names_the_rest() -> None:
    from exchange_service.domain import report as rp

    files = (
        rp.ReportFile("SHA256SUMS", "text/plain", b"s" * 2_000),
        rp.ReportFile("overstays.csv", "text/csv", b"o" * 40_000),
        rp.ReportFile("permits_expiring.csv", "text/csv", b"p" * 300_000),
        rp.ReportFile("report.html", "text/html", b"h" * 60_000),
        rp.ReportFile("summary.json", "application/json", b"j" * 10_000),
    )
    stored = rp.StoredReport(
        id=str(uuid.uuid4()),
        date=date(2026, 3, 10),
        district_code="",
        edition=rp.Edition.FULL,
        as_of=datetime(2026, 3, 10, tzinfo=UTC),
        made_at=datetime(2026, 3, 10, tzinfo=UTC),
        made_by="supervisor-tarempa",
        digest="0" * 64,
        files=files,
    )
    budget = 160 * 1024
    message = convert.report_response_pb(stored, budget)
    assert message.ByteSize() <= budget
    sent = {f.name: f for f in message.report.files}
    assert [f.name for f in message.report.files] == [f.name for f in files]
    assert {name for name, f in sent.items() if f.omitted} == {"permits_expiring.csv"}
    assert sent["permits_expiring.csv"].content == b""
    assert sent["permits_expiring.csv"].size == 300_000
    assert sent["overstays.csv"].content == files[1].content
    # With room for everything, nothing is omitted.
    whole = convert.report_response_pb(stored, 4 * 1024 * 1024)
    assert not any(f.omitted for f in whole.report.files)
    # With room for the page alone, the page comes before any table.
    tight = convert.report_response_pb(stored, 96 * 1024)
    assert {f.name for f in tight.report.files if not f.omitted} == {
        "report.html",
        "summary.json",
        "SHA256SUMS",
    }
