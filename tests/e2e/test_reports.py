"""ReportService over mutual TLS: each agency's edition of the early-warning report.

The supervisor and the immigration office receive the full edition, naming the
overstayer; the regional government the aggregate one, which names no one. A file
too large for one answer is read in parts with GetReportFile, from a report of the
caller's edition only. A bad request is INVALID_ARGUMENT naming each field and
writes nothing.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import grpc
import pytest
from google.type.date_pb2 import Date
from pantau.v1 import report_service_pb2 as rpt
from pantau.v1 import report_service_pb2_grpc as rpt_grpc

from exchange_service.services.alerts import RuleEngine
from tests import factories as f
from tests.conftest import AGENCIES, RowCounts, agency_channel
from tests.e2e.conftest import register_overstayer, run_overstay


def _report(
    target: str, pki_dir: Path, kind: str, request: rpt.GetEarlyWarningReportRequest
) -> rpt.EarlyWarningReport:
    with agency_channel(target, pki_dir, AGENCIES[kind]) as channel:
        reply = rpt_grpc.ReportServiceStub(channel).GetEarlyWarningReport(request, timeout=60)
    report: rpt.EarlyWarningReport = reply.report
    return report


def _files(report: rpt.EarlyWarningReport) -> dict[str, bytes]:
    return {file.name: file.content for file in report.files}


def test_each_agency_receives_its_edition(
    grpc_channel: grpc.Channel, rule_engine: RuleEngine, grpc_target: str, pki_dir: Path
) -> None:
    overstayer = register_overstayer(grpc_channel, days_over=12)
    run_overstay(rule_engine)
    fresh = rpt.GetEarlyWarningReportRequest(regenerate=True)
    full = _report(grpc_target, pki_dir, "SUPERVISOR", fresh)
    aggregate = _report(grpc_target, pki_dir, "LOCAL_GOVERNMENT", fresh)
    assert full.edition == rpt.REPORT_EDITION_FULL
    assert aggregate.edition == rpt.REPORT_EDITION_AGGREGATE
    assert full.made_by.startswith(AGENCIES["SUPERVISOR"])
    name = overstayer.person.family_name.upper().encode()
    assert name in _files(full)["overstays.csv"]
    assert "overstays.csv" not in _files(aggregate)
    assert all(name not in content for content in _files(aggregate).values())
    for report in (full, aggregate):
        for file in report.files:
            assert hashlib.sha256(file.content).hexdigest() == file.sha256
        sums = _files(report)["SHA256SUMS"]
        assert hashlib.sha256(sums).hexdigest() == report.digest
    # Asked again, the same report: the bytes handed to everyone are the same.
    again = _report(grpc_target, pki_dir, "IMMIGRATION", rpt.GetEarlyWarningReportRequest())
    assert again.edition == rpt.REPORT_EDITION_FULL
    assert (again.report_id, again.digest) == (full.report_id, full.digest)


def _part(
    target: str, pki_dir: Path, kind: str, request: rpt.GetReportFileRequest
) -> rpt.GetReportFileResponse:
    with agency_channel(target, pki_dir, AGENCIES[kind]) as channel:
        reply: rpt.GetReportFileResponse = rpt_grpc.ReportServiceStub(channel).GetReportFile(
            request, timeout=60
        )
    return reply


def test_a_file_is_read_in_parts_from_any_offset(
    grpc_channel: grpc.Channel, rule_engine: RuleEngine, grpc_target: str, pki_dir: Path
) -> None:
    register_overstayer(grpc_channel, days_over=3)
    run_overstay(rule_engine)
    report = _report(grpc_target, pki_dir, "SUPERVISOR", rpt.GetEarlyWarningReportRequest())
    page = next(file for file in report.files if file.name == "report.html")
    assert not page.omitted
    assert page.size == len(page.content) > 10_000
    read = b""
    while len(read) < page.size:
        part = _part(
            grpc_target,
            pki_dir,
            "IMMIGRATION",
            rpt.GetReportFileRequest(report_id=report.report_id, name=page.name, offset=len(read)),
        )
        assert (part.offset, part.size, part.sha256) == (len(read), page.size, page.sha256)
        assert part.media_type == page.media_type
        assert part.content
        read += part.content
    assert read == page.content
    assert hashlib.sha256(read).hexdigest() == page.sha256
    tail = _part(
        grpc_target,
        pki_dir,
        "SUPERVISOR",
        rpt.GetReportFileRequest(report_id=report.report_id, name=page.name, offset=page.size - 7),
    )
    assert tail.content == page.content[-7:]
    end = _part(
        grpc_target,
        pki_dir,
        "SUPERVISOR",
        rpt.GetReportFileRequest(report_id=report.report_id, name=page.name, offset=page.size),
    )
    assert end.content == b""


def test_an_agency_finds_no_file_of_another_edition(
    grpc_target: str, pki_dir: Path, row_counts: RowCounts
) -> None:
    full = _report(grpc_target, pki_dir, "SUPERVISOR", rpt.GetEarlyWarningReportRequest())
    before = row_counts.snapshot()
    for name in ("report.html", "overstays.csv"):
        with pytest.raises(grpc.RpcError) as refused:
            _part(
                grpc_target,
                pki_dir,
                "LOCAL_GOVERNMENT",
                rpt.GetReportFileRequest(report_id=full.report_id, name=name),
            )
        # As for a report that does not exist: the regency learns nothing of it.
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND
    assert row_counts.snapshot() == before


@pytest.mark.parametrize(
    ("request_", "fields"),
    [
        (rpt.GetEarlyWarningReportRequest(date=Date(year=2026, month=2, day=30)), {"date"}),
        (rpt.GetEarlyWarningReportRequest(date=Date(year=2999, month=1, day=1)), {"date"}),
        (rpt.GetEarlyWarningReportRequest(district_code="21.05.77"), {"district_code"}),
        (
            rpt.GetEarlyWarningReportRequest(date=Date(year=2026), district_code="Siantan"),
            {"date", "district_code"},
        ),
        (rpt.GetReportFileRequest(report_id="42", name="report.html"), {"report_id"}),
        (
            rpt.GetReportFileRequest(report_id=str(uuid.uuid4()), name="../etc/passwd"),
            {"name"},
        ),
        (
            rpt.GetReportFileRequest(report_id="", name="", offset=-1),
            {"report_id", "name", "offset"},
        ),
        (
            rpt.GetReportFileRequest(report_id=str(uuid.uuid4()), name="a.csv", offset=2**40),
            {"offset"},
        ),
    ],
    ids=[
        "no-such-day",
        "future",
        "unknown-district",
        "both",
        "not-an-id",
        "not-a-name",
        "all-three",
        "past-any-file",
    ],
)
def test_a_bad_request_names_each_field_and_writes_nothing(
    request_: rpt.GetEarlyWarningReportRequest | rpt.GetReportFileRequest,
    fields: set[str],
    grpc_target: str,
    pki_dir: Path,
    row_counts: RowCounts,
) -> None:
    before = row_counts.snapshot()
    call = _part if isinstance(request_, rpt.GetReportFileRequest) else _report
    with pytest.raises(grpc.RpcError) as refused:
        call(grpc_target, pki_dir, "SUPERVISOR", request_)  # type: ignore[arg-type]
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(f.field_violations(refused.value)) == fields
    assert row_counts.snapshot() == before


def test_an_offset_past_the_end_is_named(
    grpc_target: str, pki_dir: Path, row_counts: RowCounts
) -> None:
    report = _report(grpc_target, pki_dir, "SUPERVISOR", rpt.GetEarlyWarningReportRequest())
    summary = next(file for file in report.files if file.name == "summary.json")
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as refused:
        _part(
            grpc_target,
            pki_dir,
            "SUPERVISOR",
            rpt.GetReportFileRequest(
                report_id=report.report_id, name=summary.name, offset=summary.size + 1
            ),
        )
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(f.field_violations(refused.value)) == {"offset"}
    assert row_counts.snapshot() == before
