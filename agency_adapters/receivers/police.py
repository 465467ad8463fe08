"""The police's reference receiver: ``pantau.v1.AlertReceiverService`` over mutual TLS.

Pantau calls ``Deliver`` with consecutive signed entries. Each is verified
(DSSE signature over the received bytes, key valid when it signed, payload
type, agency) and taken in order: an entry held already is not stored again;
the answer says the highest sequence held. A refused entry is
INVALID_ARGUMENT, an entry after a gap FAILED_PRECONDITION; both messages end
with ``accepted_through=N`` so that Pantau resumes after N. Entries before
the refused one stay stored.
"""

from __future__ import annotations

import logging
from concurrent import futures
from dataclasses import dataclass
from pathlib import Path

import grpc
from pantau.v1 import alert_receiver_service_pb2 as rpb
from pantau.v1 import alert_receiver_service_pb2_grpc as rpb_grpc

from agency_adapters.receivers.receiver import FeedReceiver
from agency_adapters.receivers.verify import FeedVerifier, Gap, InvalidEntry, Rejected

log = logging.getLogger("agency_adapters.receivers.police")


class AlertReceiver(rpb_grpc.AlertReceiverServiceServicer):
    """The servicer: verifies, then hands each entry to the FeedReceiver."""

    def __init__(
        self, verifier: FeedVerifier, receiver: FeedReceiver, agency_id: str | None
    ) -> None:
        self._verifier = verifier
        self._receiver = receiver
        self._agency_id = agency_id

    def Deliver(  # noqa: N802 - the contract's name
        self, request: rpb.DeliverRequest, context: grpc.ServicerContext
    ) -> rpb.DeliverResponse:
        agency_id = self._agency_id
        stored = 0
        for index, alert in enumerate(request.alerts):
            try:
                entry = self._verifier.verify_signed_alert(alert)
                agency_id = agency_id or entry.agency_id
                taken = self._receiver.take(agency_id, [entry])
                stored += taken.stored
            except Rejected as exc:
                through = exc.accepted_through
                if through is None and agency_id is not None:
                    through = self._receiver.accepted_through(agency_id)
                if isinstance(exc, InvalidEntry) and exc.accepted_through is None:
                    log.warning("rejected alerts[%d]: %s", index, exc.reason)
                code = (
                    grpc.StatusCode.FAILED_PRECONDITION
                    if isinstance(exc, Gap)
                    else grpc.StatusCode.INVALID_ARGUMENT
                )
                suffix = "" if through is None else f"; accepted_through={through}"
                context.abort(code, f"alerts[{index}]: {exc.reason}{suffix}")
        through = 0 if agency_id is None else self._receiver.accepted_through(agency_id)
        return rpb.DeliverResponse(accepted_through=through, stored=stored)


@dataclass
class RunningReceiver:
    """A started server: the port it listens on (useful with port 0) and how to stop it."""

    server: grpc.Server
    port: int

    def stop(self, grace: float | None = 1.0) -> None:
        self.server.stop(grace).wait()


def serve_police(
    listen: str,
    *,
    cert_file: Path,
    key_file: Path,
    ca_file: Path,
    verifier: FeedVerifier,
    receiver: FeedReceiver,
    agency_id: str | None = None,
    workers: int = 8,
) -> RunningReceiver:
    """Starts the receiver on ``listen`` (host:port) with mutual TLS: its certificate and
    key, and the CA whose client certificates (Pantau's) it accepts."""
    credentials = grpc.ssl_server_credentials(
        [(key_file.read_bytes(), cert_file.read_bytes())],
        root_certificates=ca_file.read_bytes(),
        require_client_auth=True,
    )
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=workers))
    rpb_grpc.add_AlertReceiverServiceServicer_to_server(
        AlertReceiver(verifier, receiver, agency_id), server
    )
    port = server.add_secure_port(listen, credentials)
    if port == 0:
        raise OSError(f"cannot listen on {listen}")
    server.start()
    log.info("police receiver listening on %s (mutual TLS)", listen.rsplit(":", 1)[0] + f":{port}")
    return RunningReceiver(server, port)
