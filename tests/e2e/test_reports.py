"""ReportService over mutual TLS: each agency's edition of the early-warning report.

The supervisor and the immigration office receive the full edition, naming the
overstayer; the regional government the aggregate one, which names no one. A bad
request is INVALID_ARGUMENT naming each field and makes no report.
"""

from __future__ import annotations

import hashlib
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
    ],
    ids=["no-such-day", "future", "unknown-district", "both"],
)
def test_a_bad_request_names_each_field_and_makes_no_report(
    request_: rpt.GetEarlyWarningReportRequest,
    fields: set[str],
    grpc_target: str,
    pki_dir: Path,
    row_counts: RowCounts,
) -> None:
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as refused:
        _report(grpc_target, pki_dir, "SUPERVISOR", request_)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert set(f.field_violations(refused.value)) == fields
    assert row_counts.snapshot() == before
