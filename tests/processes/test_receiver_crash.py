"""A real police receiver process killed with SIGKILL mid-delivery loses and repeats nothing.

`python -m agency_adapters.receivers police` runs with its durable file store;
Pantau's gRPC sender pushes entries one by one over mutual TLS while the test
kills the receiver. Started again on the same store, it holds every entry it
acknowledged (and at most the one it had written but not yet answered), and
after the sender resumes the store holds the whole feed, each entry once, in
order, with the chain intact.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agency_adapters.receivers.store import FileReceiverStore
from agency_adapters.senders.grpc import GrpcSender
from agency_adapters.senders.webhook import WebhookSender
from exchange_service.domain.feed import ChannelKind, DeliveryFailed, PushChannel
from exchange_service.tools.bench.delivery_chaos import Process, free_port, wait_listening
from exchange_service.tools.pki import DevPki, create_dev_pki
from tests import feed_entries
from tests.clock import TestClock

POLICE = "polres-anambas"
PANTAU = "kanim-tarempa"


class Receiver:
    """The receiver process (the delivery chaos bench's ``Process``), its log in a file."""

    def __init__(
        self,
        pki: DevPki,
        jwks: Path,
        store: Path,
        port: int,
        log: Path,
        *,
        kind: str = "police",
        agency_id: str = POLICE,
    ) -> None:
        trust = ["--ca", str(pki.ca_cert)] if kind == "police" else []
        self.process = Process(
            [
                sys.executable,
                "-m",
                "agency_adapters.receivers",
                kind,
                "--listen",
                f"127.0.0.1:{port}",
                "--cert",
                str(pki.server_cert),
                "--key",
                str(pki.server_key),
                *trust,
                "--jwks",
                str(jwks),
                "--store",
                str(store),
                "--agency",
                agency_id,
            ],
            log,
        )
        self.process.start()
        try:
            wait_listening(port, self.process)
        except RuntimeError as error:
            self.process.kill()
            pytest.fail(f"the receiver did not start: {error}")

    def kill(self) -> None:
        self.process.kill()


def test_a_receiver_killed_mid_delivery_holds_each_entry_once(
    tmp_path: Path, clock: TestClock
) -> None:
    pki = create_dev_pki(tmp_path / "pki", [PANTAU])
    start = clock.now() - timedelta(days=1)
    keys = feed_entries.key_set(tmp_path / "keys", start)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks(clock.now())))
    entries = feed_entries.chain(keys, POLICE, 60, start + timedelta(hours=1))
    store_dir = tmp_path / "store"
    port = free_port()
    channel = PushChannel(ChannelKind.GRPC, f"127.0.0.1:{port}", str(pki.ca_cert), "localhost")
    log = tmp_path / "receiver.log"

    receiver = Receiver(pki, jwks, store_dir, port, log)
    acknowledged: list[int] = []
    stop = threading.Event()

    def push() -> None:
        sender = GrpcSender(
            client_cert_file=pki.agency_cert(PANTAU),
            client_key_file=pki.agency_key(PANTAU),
            timeout_seconds=5,
        )
        try:
            for entry in entries:
                if stop.is_set():
                    return
                acknowledged.append(sender.send(POLICE, channel, [entry]))
        except DeliveryFailed:
            return
        finally:
            sender.close()

    pusher = threading.Thread(target=push)
    pusher.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 15 and time.monotonic() < deadline:
        time.sleep(0.001)
    receiver.kill()
    stop.set()
    pusher.join(timeout=30)
    assert len(acknowledged) >= 15, log.read_text()
    last_acknowledged = max(acknowledged)
    assert last_acknowledged < len(entries), "the kill came after the whole feed"

    reopened = FileReceiverStore(store_dir)
    held = reopened.head(POLICE).sequence
    reopened.close()
    # Nothing acknowledged is lost; at most the entry in flight was written unanswered.
    assert last_acknowledged <= held <= last_acknowledged + 1

    receiver = Receiver(pki, jwks, store_dir, port, log)
    sender = GrpcSender(
        client_cert_file=pki.agency_cert(PANTAU),
        client_key_file=pki.agency_key(PANTAU),
        timeout_seconds=10,
    )
    try:
        # The worker resumes from its cursor (the last acknowledged): a repeat included.
        assert sender.send(POLICE, channel, entries[last_acknowledged - 1 :]) == len(entries)
    finally:
        sender.close()
        receiver.kill()

    final = FileReceiverStore(store_dir)
    try:
        records = final.records(POLICE)
    finally:
        final.close()
    assert [r.sequence for r in records] == list(range(1, len(entries) + 1))
    assert [r.entry_hash for r in records] == [e.hash for e in entries]
    text = log.read_text()
    assert f"accepted {POLICE} #1 " in text
    assert f"accepted {POLICE} #{len(entries)} " in text


def test_a_restarted_webhook_receiver_still_knows_the_ids_it_took(
    tmp_path: Path, clock: TestClock
) -> None:
    pemkab = "pemkab-anambas"
    pki = create_dev_pki(tmp_path / "pki", [PANTAU])
    start = clock.now() - timedelta(days=1)
    keys = feed_entries.key_set(tmp_path / "keys", start)
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks(clock.now())))
    entries = feed_entries.chain(keys, pemkab, 4, start + timedelta(hours=1))
    store_dir = tmp_path / "store"
    port = free_port()
    channel = PushChannel(
        ChannelKind.WEBHOOK,
        f"https://127.0.0.1:{port}/pantau/alerts",
        str(pki.ca_cert),
        "localhost",
    )
    log = tmp_path / "receiver.log"
    # The receiver goes by the machine's clock, so the posts are stamped with it.
    sender = WebhookSender(keys, lambda: datetime.now(UTC))
    receiver = Receiver(pki, jwks, store_dir, port, log, kind="webhook", agency_id=pemkab)
    try:
        assert sender.send(pemkab, channel, entries[:3]) == 3
    finally:
        receiver.kill()
    sender.close()

    receiver = Receiver(pki, jwks, store_dir, port, log, kind="webhook", agency_id=pemkab)
    sender = WebhookSender(keys, lambda: datetime.now(UTC))
    try:
        assert sender.send(pemkab, channel, entries[1:2]) == 3
        assert sender.send(pemkab, channel, entries) == 4
    finally:
        sender.close()
        receiver.kill()
    text = log.read_text()
    assert f"repeated webhook-id {pemkab}-2: held already" in text
    assert f"accepted {pemkab} #4 " in text
    final = FileReceiverStore(store_dir)
    try:
        assert [r.sequence for r in final.records(pemkab)] == [1, 2, 3, 4]
    finally:
        final.close()
