"""AlertFeedService: the agencies read their signed alert feeds, and say what they took."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Iterator
from typing import Any

import grpc
from pantau.v1 import alert_feed_service_pb2 as af
from pantau.v1 import alert_feed_service_pb2_grpc as af_grpc

from exchange_service.domain.agencies import Agency
from exchange_service.domain.call import current_agency
from exchange_service.domain.errors import Unauthenticated
from exchange_service.services.alert_feed import AlertFeeds
from exchange_service.wire import feed as wire_feed


def _agency() -> Agency:
    agency = current_agency.get()
    if agency is None:
        raise Unauthenticated("no identified agency")
    return agency


class AlertFeedServicer(af_grpc.AlertFeedServiceServicer):
    """Translates and delegates to ``services.alert_feed.AlertFeeds``; ``Subscribe`` runs on
    the server's event loop (``Edge.server_stream``), the others on the worker pool."""

    def __init__(self, feeds: AlertFeeds) -> None:
        self._feeds = feeds

    def GetSigningKeys(
        self, request: af.GetSigningKeysRequest, context: grpc.ServicerContext
    ) -> af.GetSigningKeysResponse:
        keys, jwks = self._feeds.signing_keys()
        return af.GetSigningKeysResponse(
            keys=[wire_feed.signing_key_pb(k, self._feeds.key_overlap) for k in keys],
            jwks_json=jwks,
        )

    def Acknowledge(
        self, request: af.AcknowledgeRequest, context: grpc.ServicerContext
    ) -> af.AcknowledgeResponse:
        through, marked = self._feeds.acknowledge(_agency(), request.sequence)
        return af.AcknowledgeResponse(acknowledged_through=through, newly_acknowledged=marked)

    def Subscribe(
        self, request: af.SubscribeRequest, context: grpc.ServicerContext
    ) -> Iterator[af.SubscribeResponse]:
        """Never called: the server serves ``subscribe`` on its event loop instead."""
        raise NotImplementedError("AlertFeedService.Subscribe is served by subscribe()")

    async def subscribe(
        self, request: af.SubscribeRequest, _context: Any
    ) -> AsyncGenerator[af.SubscribeResponse, None]:
        """The subscription's responses: each entry as sealed, or a heartbeat (no alert)."""
        items = self._feeds.subscribe(_agency(), request.after_sequence)
        try:
            async for item in items:
                if item.entry is None:
                    yield af.SubscribeResponse(last_sequence=item.last_sequence)
                else:
                    yield af.SubscribeResponse(
                        alert=wire_feed.signed_alert_pb(item.entry),
                        last_sequence=item.last_sequence,
                    )
        finally:
            await items.aclose()
