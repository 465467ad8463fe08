"""QueryService: the agencies look up persons, places and the early-warning alerts."""

from __future__ import annotations

import grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc

from exchange_service.domain.call import caller_view
from exchange_service.domain.disclosure import disclose
from exchange_service.services import Queries
from exchange_service.services.alerts import Alerts
from exchange_service.wire import convert


class QueryServicer(q_grpc.QueryServiceServicer):
    def __init__(self, queries: Queries, alerts: Alerts) -> None:
        self._queries = queries
        self._alerts = alerts

    async def GetPerson(
        self, request: q.GetPersonRequest, context: grpc.ServicerContext
    ) -> q.PersonDossier:
        """On the event loop: the police's most frequent call holds no worker thread."""
        dossier = await self._queries.get_person_async(convert.person_key(request))
        return convert.dossier_pb(disclose(dossier, caller_view()))

    def SearchPersons(
        self, request: q.SearchPersonsRequest, context: grpc.ServicerContext
    ) -> q.SearchPersonsResponse:
        matches = self._queries.search_persons(convert.search_persons(request))
        return convert.search_response_pb(disclose(matches, caller_view()))

    def ListPersonsNear(
        self, request: q.ListPersonsNearRequest, context: grpc.ServicerContext
    ) -> q.ListPersonsNearResponse:
        nearby = self._queries.list_persons_near(convert.list_persons_near(request))
        return convert.near_response_pb(disclose(nearby, caller_view()))

    def ListAlerts(
        self, request: q.ListAlertsRequest, context: grpc.ServicerContext
    ) -> q.ListAlertsResponse:
        page = self._alerts.list_alerts(convert.list_alerts(request))
        return convert.list_alerts_response_pb(disclose(page, caller_view()))

    def GetAlert(
        self, request: q.GetAlertRequest, context: grpc.ServicerContext
    ) -> q.GetAlertResponse:
        alert, events = self._alerts.get_alert(request.alert_id)
        view = caller_view()
        return convert.get_alert_response_pb(disclose(alert, view), disclose(events, view))
