"""The police push: ``pantau.v1.AlertReceiverService/Deliver`` on the agency's server.

Mutual TLS: Pantau presents its delivery client certificate and trusts only
the channel's CA, checking the server's name (the channel's ``server_name``
when the target is an address). One channel per target, kept open between
pushes and closed by ``close``. The entries travel as DSSE envelopes with
their stored bytes: the payload and signature as sealed, never re-encoded.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence
from pathlib import Path

import grpc
from pantau.v1 import alert_feed_service_pb2 as fpb
from pantau.v1 import alert_receiver_service_pb2 as rpb
from pantau.v1 import alert_receiver_service_pb2_grpc as rpb_grpc

from exchange_service.domain.feed import ChannelKind, DeliveryFailed, FeedEntry, PushChannel

_ACCEPTED_THROUGH = re.compile(r"accepted_through=(\d+)")


def signed_alert(entry: FeedEntry) -> fpb.SignedAlert:
    """An entry as a DSSE envelope (SignedAlert) with its sealed bytes."""
    return fpb.SignedAlert(
        payload=entry.payload,
        payload_type=entry.payload_type,
        signatures=[fpb.Signature(key_id=entry.key_id, signature=entry.signature)],
    )


def _accepted_through(message: str) -> int | None:
    found = _ACCEPTED_THROUGH.search(message or "")
    return None if found is None else int(found.group(1))


class GrpcSender:
    """Delivers entries to an agency's AlertReceiverService; raises DeliveryFailed:
    not retryable for INVALID_ARGUMENT (the receiver refuses the entries), retryable
    with ``accepted_through`` for FAILED_PRECONDITION (a gap), retryable otherwise."""

    def __init__(
        self,
        *,
        client_cert_file: Path | None,
        client_key_file: Path | None,
        timeout_seconds: float = 10.0,
    ) -> None:
        self._cert = client_cert_file
        self._key = client_key_file
        self._timeout = timeout_seconds
        self._lock = threading.Lock()
        self._channels: dict[tuple[str, str | None, str | None], grpc.Channel] = {}

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.GRPC

    def _channel(self, channel: PushChannel) -> grpc.Channel:
        key = (channel.target, channel.ca_file, channel.server_name)
        with self._lock:
            found = self._channels.get(key)
            if found is not None:
                return found
            if channel.ca_file is None:
                raise DeliveryFailed(
                    f"{channel.target}: the channel has no ca_file (the receiver's CA)",
                    retryable=False,
                )
            if self._cert is None or self._key is None:
                raise DeliveryFailed(
                    "delivery_client_cert_file and delivery_client_key_file are needed for"
                    " mutual TLS",
                    retryable=False,
                )
            try:
                credentials = grpc.ssl_channel_credentials(
                    root_certificates=Path(channel.ca_file).read_bytes(),
                    private_key=self._key.read_bytes(),
                    certificate_chain=self._cert.read_bytes(),
                )
            except OSError as exc:
                raise DeliveryFailed(f"{channel.target}: {exc}", retryable=True) from exc
            options: list[tuple[str, str]] = []
            if channel.server_name:
                options.append(("grpc.ssl_target_name_override", channel.server_name))
            created = grpc.secure_channel(channel.target, credentials, options=options)
            self._channels[key] = created
            return created

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        for entry in entries:
            if entry.agency_id != agency_id:
                raise DeliveryFailed(
                    f"entry {entry.sequence} is {entry.agency_id!r}'s, not {agency_id!r}'s",
                    retryable=False,
                )
        stub = rpb_grpc.AlertReceiverServiceStub(self._channel(channel))
        request = rpb.DeliverRequest(alerts=[signed_alert(e) for e in entries])
        try:
            response = stub.Deliver(request, timeout=self._timeout)
        except grpc.RpcError as exc:
            code = exc.code()
            details = exc.details() or ""
            reason = f"{channel.target}: {code.name}: {details}"
            raise DeliveryFailed(
                reason,
                retryable=code != grpc.StatusCode.INVALID_ARGUMENT,
                accepted_through=_accepted_through(details),
            ) from exc
        return int(response.accepted_through)

    def close(self) -> None:
        with self._lock:
            for created in self._channels.values():
                created.close()
            self._channels.clear()
