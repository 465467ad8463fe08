"""The regional government's reference receiver: Standard Webhooks 1.0 over HTTPS.

Each POST to the path carries one entry: the body is a JWS (compact) whose
payload is the entry's JSON form. In order, the receiver checks the
Standard Webhooks headers (timestamp within five minutes: else 401, which
the sender retries with a fresh timestamp), the v1a Ed25519 signature (400),
a webhook-id it has already taken (200, nothing stored again), the JWS with
joserfc by a key valid at the timestamp (400), and the chain: an entry after
a gap is 409 with ``accepted_through``, a broken chain 400. Answers are JSON.
"""

from __future__ import annotations

import json
import logging
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agency_adapters.receivers.receiver import FeedReceiver
from agency_adapters.receivers.verify import (
    WEBHOOK_TOLERANCE,
    FeedVerifier,
    Gap,
    Rejected,
    StaleDelivery,
    verify_webhook,
)

log = logging.getLogger("agency_adapters.receivers.webhook")
# A body larger than this is refused before it is read: one entry is a few kilobytes.
MAX_BODY = 1 << 20


@dataclass(frozen=True)
class WebhookConfig:
    """What the handler needs: the path it answers, the checks and where entries go."""

    path: str
    verifier: FeedVerifier
    receiver: FeedReceiver
    clock: Callable[[], datetime]
    agency_id: str | None = None


class _Handler(BaseHTTPRequestHandler):
    config: WebhookConfig
    protocol_version = "HTTP/1.1"
    # The answer's head and body are written apart: without this, Nagle's algorithm and
    # the client's delayed ACK hold each answer back by tens of milliseconds.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        # The outcome of each delivery is logged on its own line; the access log adds nothing.
        return None

    def _answer(self, status: HTTPStatus, document: dict[str, Any]) -> None:
        body = json.dumps(document, sort_keys=True).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        config = self.config
        if self.path.split("?", 1)[0] != config.path:
            self._answer(HTTPStatus.NOT_FOUND, {"error": f"no receiver at {self.path}"})
            return
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = 0
        if length <= 0 or length > MAX_BODY:
            self.close_connection = True
            self._answer(HTTPStatus.BAD_REQUEST, {"error": "a body of 1 byte to 1 MiB is needed"})
            return
        body = self.rfile.read(length)
        headers = {k.lower(): v for k, v in self.headers.items()}
        agency_id = config.agency_id
        try:
            delivery = verify_webhook(
                headers,
                body,
                config.verifier.keys,
                now=config.clock(),
                tolerance=WEBHOOK_TOLERANCE,
            )
            entry = config.verifier.verify_json_entry(body, signed_at=delivery.timestamp)
            agency_id = entry.agency_id
            store = config.receiver.store
            if store.seen_delivery(agency_id, delivery.webhook_id):
                through = config.receiver.accepted_through(agency_id)
                log.info("repeated webhook-id %s: held already", delivery.webhook_id)
                self._answer(HTTPStatus.OK, {"accepted_through": through, "stored": 0})
                return
            taken = config.receiver.take(agency_id, [entry], delivery.webhook_id)
        except OSError as exc:
            # The store could not write (a full disk): nothing was answered as held; retry later.
            log.error("cannot store webhook %s: %s", headers.get("webhook-id"), exc)
            self._answer(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "the receiver cannot store now"})
            return
        except StaleDelivery as exc:
            log.warning("rejected webhook %s: %s", headers.get("webhook-id"), exc.reason)
            self._answer(HTTPStatus.UNAUTHORIZED, {"error": exc.reason})
            return
        except Gap as exc:
            self._answer(
                HTTPStatus.CONFLICT, {"accepted_through": exc.accepted_through, "error": exc.reason}
            )
            return
        except Rejected as exc:
            if exc.accepted_through is None:
                log.warning("rejected webhook %s: %s", headers.get("webhook-id"), exc.reason)
            document: dict[str, Any] = {"error": exc.reason}
            if exc.accepted_through is not None:
                document["accepted_through"] = exc.accepted_through
            elif agency_id is not None:
                document["accepted_through"] = config.receiver.accepted_through(agency_id)
            self._answer(HTTPStatus.BAD_REQUEST, document)
            return
        self._answer(
            HTTPStatus.OK, {"accepted_through": taken.accepted_through, "stored": taken.stored}
        )


@dataclass
class RunningWebhook:
    """A started HTTPS receiver: its port and how to stop it."""

    server: ThreadingHTTPServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_webhook(
    listen: str,
    *,
    cert_file: Path,
    key_file: Path,
    config: WebhookConfig,
    client_ca_file: Path | None = None,
) -> RunningWebhook:
    """Starts the HTTPS receiver on ``listen`` (host:port) in a thread. With
    ``client_ca_file`` it also asks for a client certificate from that CA."""
    host, _, port = listen.rpartition(":")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        context.load_verify_locations(client_ca_file)
        context.verify_mode = ssl.CERT_REQUIRED
    handler = type("WebhookHandler", (_Handler,), {"config": config})
    server = ThreadingHTTPServer((host.strip("[]") or "127.0.0.1", int(port)), handler)
    server.daemon_threads = True
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="webhook-receiver", daemon=True)
    thread.start()
    running = RunningWebhook(server, thread)
    log.info("webhook receiver listening on https://%s:%d%s", host, running.port, config.path)
    return running
