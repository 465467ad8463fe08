"""The regional government push: Standard Webhooks 1.0 POSTs over HTTPS, one per entry.

The body is a JWS (compact, ``application/jose``) over the entry's JSON form,
signed with the feed key in use at the time of sending. The headers are
Standard Webhooks': ``webhook-id`` (``<agency>-<sequence>``, the same on every
retry, so the receiver sees a repeat), ``webhook-timestamp`` (unix seconds
now) and ``webhook-signature`` (``v1a,<base64 Ed25519 signature>`` over
``id.timestamp.body``, the asymmetric scheme, by the same key). One HTTPS
connection per target is kept open between posts.
"""

from __future__ import annotations

import base64
import http.client
import json
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from exchange_service.domain.feed import ChannelKind, DeliveryFailed, FeedEntry, PushChannel
from exchange_service.signing import jws
from exchange_service.wire.feed import JSON_MEDIA_TYPE, entry_json

if TYPE_CHECKING:
    from agency_adapters.senders import FeedKeys

CONTENT_TYPE = "application/jose"


def webhook_id(agency_id: str, sequence: int) -> str:
    """The Standard Webhooks message id of an entry: the same for every attempt."""
    return f"{agency_id}-{sequence}"


class _Connection(http.client.HTTPSConnection):
    """An HTTPS connection that checks the certificate for ``server_name`` (when the
    channel names one) rather than the target's host."""

    def __init__(
        self, host: str, port: int, *, context: ssl.SSLContext, server_name: str, timeout: float
    ) -> None:
        super().__init__(host, port, context=context, timeout=timeout)
        self._server_name = server_name
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self.host, self.port), self.timeout)
        # As http.client does: a request is not held back waiting for an ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self._server_name)


class WebhookSender:
    """Posts each entry; the receiver's answer decides: 200 goes on (from its
    ``accepted_through``), 409 is a gap (retryable, ``accepted_through`` given), 400 a
    refusal (not retryable), 401 a stale timestamp and anything else retryable."""

    def __init__(
        self,
        keys: FeedKeys,
        clock: Callable[[], datetime],
        *,
        timeout_seconds: float = 10.0,
        client_cert_file: Path | None = None,
        client_key_file: Path | None = None,
    ) -> None:
        self._keys = keys
        self._clock = clock
        self._timeout = timeout_seconds
        self._client = (client_cert_file, client_key_file)
        self._lock = threading.Lock()
        self._connections: dict[tuple[str, str | None, str | None], _Connection] = {}

    @property
    def kind(self) -> ChannelKind:
        return ChannelKind.WEBHOOK

    def _context(self, channel: PushChannel) -> ssl.SSLContext:
        if channel.ca_file is None:
            raise DeliveryFailed(
                f"{channel.target}: the channel has no ca_file (the receiver's CA)",
                retryable=False,
            )
        context = ssl.create_default_context(cafile=channel.ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        cert, key = self._client
        if cert is not None and key is not None:
            # Presented when asked: a receiver may also want to know it is Pantau.
            context.load_cert_chain(cert, key)
        return context

    def _connection(self, channel: PushChannel) -> tuple[_Connection, str]:
        url = urlsplit(channel.target)
        if url.scheme != "https" or not url.hostname:
            raise DeliveryFailed(f"{channel.target}: not an https:// URL", retryable=False)
        key = (channel.target, channel.ca_file, channel.server_name)
        connection = self._connections.get(key)
        if connection is None:
            try:
                context = self._context(channel)
            except (OSError, ssl.SSLError) as exc:
                raise DeliveryFailed(f"{channel.target}: {exc}", retryable=True) from exc
            connection = _Connection(
                url.hostname,
                url.port or 443,
                context=context,
                server_name=channel.server_name or url.hostname,
                timeout=self._timeout,
            )
            self._connections[key] = connection
        return connection, (url.path or "/") + (f"?{url.query}" if url.query else "")

    def _drop(self, channel: PushChannel) -> None:
        connection = self._connections.pop(
            (channel.target, channel.ca_file, channel.server_name), None
        )
        if connection is not None:
            connection.close()

    def _post(
        self, channel: PushChannel, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        # A kept connection the receiver closed meanwhile fails at once: try once anew.
        for attempt in range(2):
            connection, path = self._connection(channel)
            try:
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                if response.will_close:
                    self._drop(channel)
                return response.status, data
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as exc:
                self._drop(channel)
                if attempt == 1:
                    raise DeliveryFailed(f"{channel.target}: {exc}", retryable=True) from exc
            except (OSError, http.client.HTTPException) as exc:
                self._drop(channel)
                raise DeliveryFailed(f"{channel.target}: {exc}", retryable=True) from exc
        raise AssertionError("unreachable")

    def signed_request(self, entry: FeedEntry, now: datetime) -> tuple[bytes, dict[str, str]]:
        """The body and headers of an entry's POST, signed at ``now``."""
        signer = self._keys.signer_at(now)
        body = jws.compact(signer, entry_json(entry), content_type=JSON_MEDIA_TYPE).encode("ascii")
        message_id = webhook_id(entry.agency_id, entry.sequence)
        timestamp = str(int(now.timestamp()))
        signature = signer.sign(f"{message_id}.{timestamp}.".encode() + body)
        return body, {
            "Content-Type": CONTENT_TYPE,
            "webhook-id": message_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": "v1a," + base64.b64encode(signature).decode("ascii"),
        }

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        accepted = 0
        with self._lock:
            for entry in entries:
                if entry.agency_id != agency_id:
                    raise DeliveryFailed(
                        f"entry {entry.sequence} is {entry.agency_id!r}'s, not {agency_id!r}'s",
                        retryable=False,
                    )
                if entry.sequence <= accepted:
                    continue  # the receiver said it holds it
                body, headers = self.signed_request(entry, self._clock())
                status, data = self._post(channel, body, headers)
                answer = _json(data)
                through = answer.get("accepted_through")
                through = int(through) if isinstance(through, int) else None
                reason = (
                    f"{channel.target}: {status} for #{entry.sequence}: {answer.get('error', '')}"
                )
                if status == 200 and through is not None:
                    accepted = through
                    continue
                if status == 409:
                    raise DeliveryFailed(reason, retryable=True, accepted_through=through)
                if status == 400:
                    raise DeliveryFailed(reason, retryable=False, accepted_through=through)
                raise DeliveryFailed(reason, retryable=True, accepted_through=through)
        return accepted

    def close(self) -> None:
        with self._lock:
            for connection in self._connections.values():
                connection.close()
            self._connections.clear()


def _json(data: bytes) -> dict[str, object]:
    try:
        document = json.loads(data)
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
