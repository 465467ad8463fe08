"""AlertReviewService: supervisors and the immigration office review the early-warning alerts."""

from __future__ import annotations

import grpc
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc

from exchange_service.domain.audit import Actor
from exchange_service.domain.call import caller_view, current_agency, current_call
from exchange_service.domain.disclosure import disclose
from exchange_service.domain.errors import Unauthenticated
from exchange_service.services.alerts import Alerts
from exchange_service.wire import convert


def _reviewer() -> Actor:
    """The agency being served and its officer: who the review event names."""
    agency, call = current_agency.get(), current_call.get()
    if agency is None:
        raise Unauthenticated("no identified agency: no review is recorded")
    return Actor.agency(agency.id, agency.kind.value, "" if call is None else call.officer)


class AlertReviewServicer(ar_grpc.AlertReviewServiceServicer):
    def __init__(self, alerts: Alerts) -> None:
        self._alerts = alerts

    def ReviewAlert(
        self, request: ar.ReviewAlertRequest, context: grpc.ServicerContext
    ) -> ar.ReviewAlertResponse:
        alert, event = self._alerts.review_alert(convert.review_alert(request), _reviewer())
        view = caller_view()
        return convert.review_alert_response_pb(disclose(alert, view), disclose(event, view))
