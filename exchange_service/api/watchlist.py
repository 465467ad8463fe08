"""WatchlistService: the watchlist's entries written and read, and parties screened."""

from __future__ import annotations

import grpc
from pantau.v1 import watchlist_service_pb2 as wpb
from pantau.v1 import watchlist_service_pb2_grpc as w_grpc

from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.audit import Actor
from exchange_service.domain.call import current_agency, current_call
from exchange_service.domain.errors import Unauthenticated
from exchange_service.services.watchlist import Watchlist
from exchange_service.wire import convert


def _writer() -> tuple[Actor, AgencyKind]:
    """The agency being served, its officer, and its kind: who a version names."""
    agency, call = current_agency.get(), current_call.get()
    if agency is None:
        raise Unauthenticated("no identified agency: nothing is written")
    actor = Actor.agency(agency.id, agency.kind.value, "" if call is None else call.officer)
    return actor, agency.kind


class WatchlistServicer(w_grpc.WatchlistServiceServicer):
    def __init__(self, watchlist: Watchlist, threshold: float) -> None:
        self._watchlist = watchlist
        self._threshold = threshold

    def UpsertEntry(
        self, request: wpb.UpsertEntryRequest, context: grpc.ServicerContext
    ) -> wpb.UpsertEntryResponse:
        actor, kind = _writer()
        entry = self._watchlist.upsert_entry(convert.upsert_entry(request), actor, kind)
        return convert.upsert_entry_response_pb(entry)

    def RemoveEntry(
        self, request: wpb.RemoveEntryRequest, context: grpc.ServicerContext
    ) -> wpb.RemoveEntryResponse:
        actor, kind = _writer()
        entry = self._watchlist.remove_entry(convert.remove_entry(request), actor, kind)
        return convert.remove_entry_response_pb(entry)

    def ListEntries(
        self, request: wpb.ListEntriesRequest, context: grpc.ServicerContext
    ) -> wpb.ListEntriesResponse:
        return convert.list_entries_response_pb(
            self._watchlist.list_entries(convert.list_entries(request))
        )

    def GetEntry(
        self, request: wpb.GetEntryRequest, context: grpc.ServicerContext
    ) -> wpb.GetEntryResponse:
        entry, versions = self._watchlist.get_entry(request.entry_id)
        return convert.get_entry_response_pb(entry, versions)

    def Screen(
        self, request: wpb.ScreenRequest, context: grpc.ServicerContext
    ) -> wpb.ScreenResponse:
        matches = self._watchlist.screen(convert.screen(request))
        return convert.screen_response_pb(matches, self._threshold)
