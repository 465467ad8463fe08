"""ReportService: the early-warning report, in the caller's edition."""

from __future__ import annotations

import grpc
from pantau.v1 import report_service_pb2 as rpt
from pantau.v1 import report_service_pb2_grpc as rpt_grpc

from exchange_service.domain.audit import Actor
from exchange_service.domain.call import current_agency, current_call
from exchange_service.domain.errors import Unauthenticated
from exchange_service.services.reports import EarlyWarningReports
from exchange_service.wire import convert


class ReportServicer(rpt_grpc.ReportServiceServicer):
    def __init__(self, reports: EarlyWarningReports) -> None:
        self._reports = reports

    def GetEarlyWarningReport(
        self, request: rpt.GetEarlyWarningReportRequest, context: grpc.ServicerContext
    ) -> rpt.GetEarlyWarningReportResponse:
        agency, call = current_agency.get(), current_call.get()
        if agency is None:
            raise Unauthenticated("no identified agency: no report is disclosed")
        actor = Actor.agency(agency.id, agency.kind.value, "" if call is None else call.officer)
        # The edition is the agency's data view's: the disclosure policy decides what is in it.
        stored = self._reports.get(convert.report_request(request), actor, agency.view)
        return convert.report_response_pb(stored)
