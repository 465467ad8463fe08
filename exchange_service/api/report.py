"""ReportService: the early-warning report, in the caller's edition."""

from __future__ import annotations

import grpc
from pantau.v1 import report_service_pb2 as rpt
from pantau.v1 import report_service_pb2_grpc as rpt_grpc

from exchange_service.domain.agencies import DataView
from exchange_service.domain.audit import Actor
from exchange_service.domain.call import current_agency, current_call
from exchange_service.domain.errors import Unauthenticated
from exchange_service.services.reports import EarlyWarningReports
from exchange_service.wire import convert

# What a file's part leaves of the message limit for the answer's other fields.
_PART_OVERHEAD = 4 * 1024


class ReportServicer(rpt_grpc.ReportServiceServicer):
    def __init__(self, reports: EarlyWarningReports, max_message_bytes: int) -> None:
        self._reports = reports
        self._max_message_bytes = max_message_bytes

    @staticmethod
    def _caller() -> tuple[Actor, DataView]:
        agency, call = current_agency.get(), current_call.get()
        if agency is None:
            raise Unauthenticated("no identified agency: no report is disclosed")
        actor = Actor.agency(agency.id, agency.kind.value, "" if call is None else call.officer)
        return actor, agency.view

    def GetEarlyWarningReport(
        self, request: rpt.GetEarlyWarningReportRequest, context: grpc.ServicerContext
    ) -> rpt.GetEarlyWarningReportResponse:
        actor, view = self._caller()
        # The edition is the agency's data view's: the disclosure policy decides what is in it.
        stored = self._reports.get(convert.report_request(request), actor, view)
        return convert.report_response_pb(stored, self._max_message_bytes)

    def GetReportFile(
        self, request: rpt.GetReportFileRequest, context: grpc.ServicerContext
    ) -> rpt.GetReportFileResponse:
        _actor, view = self._caller()
        part = self._reports.file_part(
            convert.report_file_request(request),
            view,
            max(1024, self._max_message_bytes - _PART_OVERHEAD),
        )
        return convert.report_file_response_pb(part)
