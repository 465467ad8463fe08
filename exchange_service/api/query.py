"""QueryService: the police and supervisors look up persons and places."""

from __future__ import annotations

import grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc

from exchange_service.api import convert
from exchange_service.services import Queries


class QueryServicer(q_grpc.QueryServiceServicer):
    def __init__(self, queries: Queries) -> None:
        self._queries = queries

    def GetPerson(
        self, request: q.GetPersonRequest, context: grpc.ServicerContext
    ) -> q.PersonDossier:
        return convert.dossier_pb(self._queries.get_person(convert.person_key(request)))

    def SearchPersons(
        self, request: q.SearchPersonsRequest, context: grpc.ServicerContext
    ) -> q.SearchPersonsResponse:
        return convert.search_response_pb(
            self._queries.search_persons(convert.search_persons(request))
        )

    def ListPersonsNear(
        self, request: q.ListPersonsNearRequest, context: grpc.ServicerContext
    ) -> q.ListPersonsNearResponse:
        return convert.near_response_pb(
            self._queries.list_persons_near(convert.list_persons_near(request))
        )
