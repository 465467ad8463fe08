"""The push channels end to end: Pantau's senders against the reference receivers.

Real gRPC over mutual TLS and real HTTPS on 127.0.0.1, entries sealed as
Pantau seals them with a real key set, receivers keeping entries in their
durable file store. Every JWS received is verified again here with joserfc,
and every DSSE envelope with a verifier written below from DSSE's
protocol.md, so the receivers are not their own judges.
"""

from __future__ import annotations

import base64
import http.client
import json
import random
import ssl
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from joserfc import jws as joserfc_jws
from joserfc.errors import SecurityWarning
from joserfc.jwk import OKPKey
from pantau.v1 import alert_feed_service_pb2 as fpb
from pantau.v1 import alerts_pb2 as apb

from agency_adapters.receivers.police import RunningReceiver, serve_police
from agency_adapters.receivers.receiver import FeedReceiver
from agency_adapters.receivers.store import FileReceiverStore
from agency_adapters.receivers.verify import FeedVerifier, KeyRing
from agency_adapters.receivers.webhook import RunningWebhook, WebhookConfig, serve_webhook
from agency_adapters.senders.grpc import GrpcSender
from agency_adapters.senders.webhook import WebhookSender
from exchange_service.domain.feed import (
    PAYLOAD_TYPE,
    ChannelKind,
    DeliveryFailed,
    FeedEntry,
    PushChannel,
)
from exchange_service.signing import jws
from exchange_service.signing.keyset import KeySet, Signer, b64url_decode
from exchange_service.tools.pki import DevPki, create_dev_pki
from exchange_service.wire.feed import JSON_MEDIA_TYPE, entry_json
from tests import feed_entries
from tests.clock import TestClock

POLICE = "polres-anambas"
PEMKAB = "pemkab-anambas"
# Pantau's own client certificate when it pushes: the immigration office's.
PANTAU = "kanim-tarempa"


# --- the verifiers of the test, written from the specifications --------------------


def dsse_pae(payload_type: bytes, payload: bytes) -> bytes:
    """DSSE protocol.md: PAE(type, body) = "DSSEv1" + SP + LEN(type) + SP + type + SP +
    LEN(body) + SP + body, LEN as ASCII decimal."""
    return b" ".join(
        [
            b"DSSEv1",
            str(len(payload_type)).encode(),
            payload_type,
            str(len(payload)).encode(),
            payload,
        ]
    )


def dsse_verifies(envelope: fpb.SignedAlert, public_keys: dict[str, bytes]) -> bool:
    """Whether one signature of the envelope verifies under the key it names."""
    message = dsse_pae(envelope.payload_type.encode(), envelope.payload)
    for signature in envelope.signatures:
        raw = public_keys.get(signature.key_id)
        if raw is None:
            continue
        try:
            Ed25519PublicKey.from_public_bytes(raw).verify(signature.signature, message)
        except InvalidSignature:
            continue
        return True
    return False


def joserfc_payload(token: str, jwks: dict[str, object]) -> dict[str, object]:
    """The payload of a JWS verified by joserfc with the JWKS key its kid names."""
    header = json.loads(b64url_decode(token.split(".", 1)[0]))
    keys = {k["kid"]: k for k in jwks["keys"]}  # type: ignore[attr-defined]
    key = OKPKey.import_key({f: keys[header["kid"]][f] for f in ("kty", "crv", "x")})
    with warnings.catch_warnings():
        # joserfc warns that RFC 9864 deprecates the name "EdDSA"; Pantau's keys are Ed25519.
        warnings.simplefilter("ignore", SecurityWarning)
        verified = joserfc_jws.deserialize_compact(token, key, algorithms=["EdDSA"])
    assert verified.headers()["cty"] == JSON_MEDIA_TYPE
    document = json.loads(verified.payload)
    assert isinstance(document, dict)
    return document


# --- fixtures ----------------------------------------------------------------------


@pytest.fixture
def pki(tmp_path: Path) -> DevPki:
    return create_dev_pki(tmp_path / "pki", [PANTAU, POLICE])


@dataclass
class Feed:
    """A key set whose first key has signed for a day, and the JWKS the receivers read."""

    keys: KeySet
    jwks_file: Path
    start: datetime

    def publish(self, at: datetime) -> dict[str, object]:
        document = self.keys.jwks(at)
        self.jwks_file.write_text(json.dumps(document))
        return document


@pytest.fixture
def feed(tmp_path: Path, clock: TestClock) -> Feed:
    start = clock.now() - timedelta(days=1)
    keys = feed_entries.key_set(tmp_path / "feed-keys", start)
    made = Feed(keys, tmp_path / "jwks.json", start)
    made.publish(clock.now())
    return made


@dataclass
class Police:
    server: RunningReceiver
    store: FileReceiverStore
    channel: PushChannel
    sender: GrpcSender


@pytest.fixture
def police(tmp_path: Path, pki: DevPki, feed: Feed) -> Iterator[Police]:
    store = FileReceiverStore(tmp_path / "police-store")
    server = serve_police(
        "127.0.0.1:0",
        cert_file=pki.server_cert,
        key_file=pki.server_key,
        ca_file=pki.ca_cert,
        verifier=FeedVerifier(KeyRing.from_file(feed.jwks_file), agency_id=POLICE),
        receiver=FeedReceiver(store),
        agency_id=POLICE,
    )
    sender = GrpcSender(
        client_cert_file=pki.agency_cert(PANTAU),
        client_key_file=pki.agency_key(PANTAU),
        timeout_seconds=10,
    )
    channel = PushChannel(
        ChannelKind.GRPC, f"127.0.0.1:{server.port}", str(pki.ca_cert), "localhost"
    )
    yield Police(server, store, channel, sender)
    sender.close()
    server.stop()
    store.close()


@dataclass
class Pemkab:
    server: RunningWebhook
    store: FileReceiverStore
    channel: PushChannel
    sender: WebhookSender


@pytest.fixture
def pemkab(tmp_path: Path, pki: DevPki, feed: Feed, clock: TestClock) -> Iterator[Pemkab]:
    store = FileReceiverStore(tmp_path / "pemkab-store")
    server = serve_webhook(
        "127.0.0.1:0",
        cert_file=pki.server_cert,
        key_file=pki.server_key,
        config=WebhookConfig(
            "/pantau/alerts",
            FeedVerifier(KeyRing.from_file(feed.jwks_file), agency_id=PEMKAB),
            FeedReceiver(store),
            clock.now,
            PEMKAB,
        ),
    )
    sender = WebhookSender(feed.keys, clock.now, timeout_seconds=10)
    channel = PushChannel(
        ChannelKind.WEBHOOK,
        f"https://127.0.0.1:{server.port}/pantau/alerts",
        str(pki.ca_cert),
        "localhost",
    )
    yield Pemkab(server, store, channel, sender)
    sender.close()
    server.stop()
    store.close()


def public_keys(feed: Feed) -> dict[str, bytes]:
    return {k.key_id: k.public_key for k in feed.keys.all()}


# --- police: gRPC over mutual TLS ----------------------------------------------------


def test_the_police_receiver_takes_a_feed_in_order_and_every_envelope_verifies(
    police: Police, feed: Feed
) -> None:
    entries = feed_entries.chain(feed.keys, POLICE, 12, feed.start + timedelta(hours=1))

    assert police.sender.send(POLICE, police.channel, entries[:5]) == 5
    assert police.sender.send(POLICE, police.channel, entries[5:]) == 12

    records = police.store.records(POLICE)
    assert [r.sequence for r in records] == list(range(1, 13))
    assert [r.entry_hash for r in records] == [e.hash for e in entries]
    keys = public_keys(feed)
    for record, entry in zip(records, entries, strict=True):
        envelope = fpb.SignedAlert.FromString(record.envelope)
        # The bytes Pantau sealed, not a re-serialisation, and a signature DSSE accepts.
        assert envelope.payload == entry.payload
        assert envelope.payload_type == PAYLOAD_TYPE
        assert dsse_verifies(envelope, keys)
        assert apb.AlertEvent.FromString(envelope.payload).feed.sequence == entry.sequence


def test_the_police_receiver_dedupes_a_replay_and_refuses_a_second_entry_at_a_place(
    police: Police, feed: Feed
) -> None:
    entries = feed_entries.chain(feed.keys, POLICE, 4, feed.start + timedelta(hours=1))
    police.sender.send(POLICE, police.channel, entries)

    # A retry of what it holds: answered with the head, nothing stored again.
    assert police.sender.send(POLICE, police.channel, entries[1:3]) == 4
    assert len(police.store.records(POLICE)) == 4

    # Another entry claiming sequence 3, properly signed: a fork, refused outright.
    forked = feed_entries.signed_entry(
        feed.keys.signer_at(entries[2].signed_at),
        POLICE,
        3,
        entries[1].hash,
        entries[2].signed_at,
        event_seq=999,
    )
    with pytest.raises(DeliveryFailed) as refused:
        police.sender.send(POLICE, police.channel, [forked])
    assert not refused.value.retryable
    assert "another hash" in refused.value.reason
    assert len(police.store.records(POLICE)) == 4

    # The next sequence, properly signed, but chained to an entry other than the last.
    unchained = feed_entries.signed_entry(
        feed.keys.signer_at(entries[3].signed_at), POLICE, 5, entries[2].hash, entries[3].signed_at
    )
    with pytest.raises(DeliveryFailed) as refused:
        police.sender.send(POLICE, police.channel, [unchained])
    assert not refused.value.retryable
    assert "previous hash" in refused.value.reason
    assert len(police.store.records(POLICE)) == 4


def test_a_gap_is_answered_with_what_the_police_receiver_holds(police: Police, feed: Feed) -> None:
    entries = feed_entries.chain(feed.keys, POLICE, 6, feed.start + timedelta(hours=1))
    police.sender.send(POLICE, police.channel, entries[:3])

    with pytest.raises(DeliveryFailed) as gap:
        police.sender.send(POLICE, police.channel, entries[4:])
    assert gap.value.retryable
    assert gap.value.accepted_through == 3
    assert len(police.store.records(POLICE)) == 3

    # Resuming from there, as the worker does, completes the feed.
    assert police.sender.send(POLICE, police.channel, entries[3:]) == 6


def test_bit_flips_in_payloads_and_signatures_are_refused_and_nothing_is_stored(
    police: Police, feed: Feed
) -> None:
    entries = feed_entries.chain(feed.keys, POLICE, 10, feed.start + timedelta(hours=1))
    police.sender.send(POLICE, police.channel, entries[:2])
    target = entries[2]
    rng = random.Random(2105)
    payload_bits = rng.sample(range(len(target.payload) * 8), 24)
    signature_bits = rng.sample(range(512), 8)

    tampered = [
        feed_entries.with_payload(target, feed_entries.flip_bit(target.payload, b))
        for b in payload_bits
    ]
    tampered += [
        FeedEntry(**{**target.__dict__, "signature": feed_entries.flip_bit(target.signature, b)})
        for b in signature_bits
    ]
    # Bit flips in other entries of the sample too, each sent alone after the held head.
    for entry in entries[3:8]:
        bit = rng.randrange(len(entry.payload) * 8)
        tampered.append(feed_entries.with_payload(entry, feed_entries.flip_bit(entry.payload, bit)))
    for bad in tampered:
        with pytest.raises(DeliveryFailed) as refused:
            police.sender.send(POLICE, police.channel, [bad])
        assert not refused.value.retryable, refused.value.reason
        assert refused.value.accepted_through == 2
    assert [r.sequence for r in police.store.records(POLICE)] == [1, 2]

    # The untampered entry still goes in.
    assert police.sender.send(POLICE, police.channel, [target]) == 3


def test_a_batch_stops_at_a_bad_entry_keeping_those_before_it(police: Police, feed: Feed) -> None:
    entries = feed_entries.chain(feed.keys, POLICE, 5, feed.start + timedelta(hours=1))
    bad = feed_entries.with_payload(entries[3], feed_entries.flip_bit(entries[3].payload, 77))
    with pytest.raises(DeliveryFailed) as refused:
        police.sender.send(POLICE, police.channel, [*entries[:3], bad, entries[4]])
    assert not refused.value.retryable
    assert refused.value.accepted_through == 3
    assert "alerts[3]" in refused.value.reason
    assert len(police.store.records(POLICE)) == 3


def test_an_unknown_key_and_a_key_outside_its_validity_are_refused(
    tmp_path: Path, police: Police, feed: Feed, clock: TestClock
) -> None:
    entries = feed_entries.chain(feed.keys, POLICE, 1, feed.start + timedelta(hours=1))
    police.sender.send(POLICE, police.channel, entries)

    stranger = feed_entries.key_set(tmp_path / "stranger", feed.start)
    unknown = feed_entries.chain(
        stranger, POLICE, 1, feed.start + timedelta(hours=2), first=2, previous_hash=entries[0].hash
    )
    with pytest.raises(DeliveryFailed) as refused:
        police.sender.send(POLICE, police.channel, unknown)
    assert not refused.value.retryable
    assert "does not publish" in refused.value.reason

    first_key = feed.keys.signer_at(feed.start)
    # Signed before the key's validity began.
    early = feed_entries.signed_entry(
        first_key, POLICE, 2, entries[0].hash, feed.start - timedelta(minutes=1)
    )
    with pytest.raises(DeliveryFailed) as refused:
        police.sender.send(POLICE, police.channel, [early])
    assert not refused.value.retryable
    assert "did not sign at" in refused.value.reason

    # A rotation: the first key stops signing an hour from now, the next takes over.
    now = clock.now()
    feed.keys.rotate(now, timedelta(hours=1))
    feed.publish(now)
    late = feed_entries.signed_entry(
        first_key, POLICE, 2, entries[0].hash, now + timedelta(hours=2)
    )
    with pytest.raises(DeliveryFailed) as refused:
        police.sender.send(POLICE, police.channel, [late])
    assert not refused.value.retryable
    assert "until" in refused.value.reason

    # The new key, published after the receiver started, is read from the JWKS file anew.
    after = feed_entries.signed_entry(
        feed.keys.signer_at(now + timedelta(hours=2)),
        POLICE,
        2,
        entries[0].hash,
        now + timedelta(hours=2),
    )
    assert after.key_id != first_key.key_id
    assert police.sender.send(POLICE, police.channel, [after]) == 2
    assert len(police.store.records(POLICE)) == 2


def test_the_police_receiver_refuses_a_client_certificate_of_another_ca(
    police: Police, pki: DevPki, feed: Feed
) -> None:
    stranger_pki = create_dev_pki(pki.out_dir.parent / "other-pki", [PANTAU])
    impostor = GrpcSender(
        client_cert_file=stranger_pki.agency_cert(PANTAU),
        client_key_file=stranger_pki.agency_key(PANTAU),
        timeout_seconds=5,
    )
    entries = feed_entries.chain(feed.keys, POLICE, 1, feed.start + timedelta(hours=1))
    try:
        with pytest.raises(DeliveryFailed) as refused:
            impostor.send(POLICE, police.channel, entries)
        assert refused.value.retryable  # a transport failure: UNAVAILABLE
        assert police.store.records(POLICE) == []
    finally:
        impostor.close()


def test_the_file_store_reloads_its_chain_and_cuts_a_torn_line(
    tmp_path: Path, police: Police, feed: Feed
) -> None:
    entries = feed_entries.chain(feed.keys, POLICE, 3, feed.start + timedelta(hours=1))
    police.sender.send(POLICE, police.channel, entries)
    police.store.close()
    path = tmp_path / "police-store" / f"{POLICE}.jsonl"
    whole = path.read_bytes()
    # What a crash in the middle of a write leaves: part of a line, never answered.
    path.write_bytes(whole + b'{"sequence":4,"entry_h')

    reopened = FileReceiverStore(tmp_path / "police-store")
    try:
        head = reopened.head(POLICE)
        assert head.sequence == 3
        assert head.entry_hash == entries[2].hash
        assert path.read_bytes() == whole
    finally:
        reopened.close()


# --- regional government: Standard Webhooks over HTTPS ---------------------------------


def test_the_webhook_receiver_takes_a_feed_and_every_jws_verifies_with_joserfc(
    pemkab: Pemkab, feed: Feed, clock: TestClock
) -> None:
    entries = feed_entries.chain(feed.keys, PEMKAB, 8, feed.start + timedelta(hours=1))
    assert pemkab.sender.send(PEMKAB, pemkab.channel, entries) == 8

    records = pemkab.store.records(PEMKAB)
    assert [r.sequence for r in records] == list(range(1, 9))
    assert [r.delivery_id for r in records] == [f"{PEMKAB}-{n}" for n in range(1, 9)]
    jwks = feed.keys.jwks(clock.now())
    for record, entry in zip(records, entries, strict=True):
        document = joserfc_payload(record.envelope.decode("ascii"), jwks)
        position = document["data"]["feed"]  # type: ignore[index]
        assert position["sequence"] == entry.sequence
        assert position["entry_hash"] == entry.hash.hex()
        assert position["previous_hash"] == entry.previous_hash.hex()


def _post(
    pemkab: Pemkab, pki: DevPki, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, object]]:
    context = ssl.create_default_context(cafile=str(pki.ca_cert))
    connection = http.client.HTTPSConnection(
        "localhost", pemkab.server.port, context=context, timeout=10
    )
    try:
        connection.request("POST", "/pantau/alerts", body=body, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_repeated_webhook_id_is_answered_without_storing_again(
    pemkab: Pemkab, pki: DevPki, feed: Feed, clock: TestClock
) -> None:
    entries = feed_entries.chain(feed.keys, PEMKAB, 2, feed.start + timedelta(hours=1))
    body, headers = pemkab.sender.signed_request(entries[0], clock.now())

    assert _post(pemkab, pki, body, headers) == (200, {"accepted_through": 1, "stored": 1})
    assert _post(pemkab, pki, body, headers) == (200, {"accepted_through": 1, "stored": 0})
    # The same entry under a new timestamp (a retry by the sender) is not stored twice either.
    again, again_headers = pemkab.sender.signed_request(entries[0], clock.now())
    assert _post(pemkab, pki, again, again_headers) == (200, {"accepted_through": 1, "stored": 0})
    assert len(pemkab.store.records(PEMKAB)) == 1


def test_a_stale_webhook_timestamp_is_401_and_retryable(
    pemkab: Pemkab, pki: DevPki, feed: Feed, clock: TestClock
) -> None:
    entries = feed_entries.chain(feed.keys, PEMKAB, 1, feed.start + timedelta(hours=1))
    stale = WebhookSender(feed.keys, lambda: clock.now() - timedelta(minutes=6))
    ahead = WebhookSender(feed.keys, lambda: clock.now() + timedelta(minutes=6))
    try:
        for sender in (stale, ahead):
            with pytest.raises(DeliveryFailed) as refused:
                sender.send(PEMKAB, pemkab.channel, entries)
            assert refused.value.retryable
            assert "401" in refused.value.reason
    finally:
        stale.close()
        ahead.close()
    # Within the tolerance it goes in.
    near = WebhookSender(feed.keys, lambda: clock.now() - timedelta(minutes=4))
    try:
        assert near.send(PEMKAB, pemkab.channel, entries) == 1
    finally:
        near.close()


def test_webhook_gaps_replays_and_tampering(
    pemkab: Pemkab, pki: DevPki, feed: Feed, clock: TestClock
) -> None:
    entries = feed_entries.chain(feed.keys, PEMKAB, 6, feed.start + timedelta(hours=1))
    pemkab.sender.send(PEMKAB, pemkab.channel, entries[:2])

    with pytest.raises(DeliveryFailed) as gap:
        pemkab.sender.send(PEMKAB, pemkab.channel, entries[4:])
    assert gap.value.retryable
    assert gap.value.accepted_through == 2

    # A replayed sequence under a fresh webhook id: deduped by the store, 200.
    body, headers = pemkab.sender.signed_request(entries[1], clock.now())
    headers["webhook-id"] = "replayed-2"
    signer = feed.keys.signer_at(clock.now())
    headers["webhook-signature"] = _v1a(signer, headers, body)
    assert _post(pemkab, pki, body, headers) == (200, {"accepted_through": 2, "stored": 0})

    rng = random.Random(7)
    body, headers = pemkab.sender.signed_request(entries[2], clock.now())
    # Flipped bits in the body: the Standard Webhooks signature fails first.
    for bit in rng.sample(range(len(body) * 8), 12):
        status, answer = _post(pemkab, pki, feed_entries.flip_bit(body, bit), headers)
        assert status == 400, answer
    # A JWS whose signature no longer covers its payload, under a valid webhook signature.
    head, payload, signature = body.decode().split(".")
    forged_payload = base64.urlsafe_b64encode(
        b64url_decode(payload).replace(b'"sequence":3', b'"sequence":4')
    ).rstrip(b"=")
    forged = f"{head}.{forged_payload.decode()}.{signature}".encode()
    headers["webhook-signature"] = _v1a(signer, headers, forged)
    status, answer = _post(pemkab, pki, forged, headers)
    assert status == 400
    assert "does not verify" in str(answer["error"])

    # A JWS of Pantau's key, but not saying it holds an entry's JSON form (no cty).
    untyped = jws.compact(signer, entry_json(entries[2])).encode()
    headers["webhook-signature"] = _v1a(signer, headers, untyped)
    status, answer = _post(pemkab, pki, untyped, headers)
    assert status == 400
    assert "content type None" in str(answer["error"])

    # The next sequence, signed, but chained to the first entry rather than the second.
    unchained = feed_entries.signed_entry(
        feed.keys.signer_at(entries[2].signed_at), PEMKAB, 3, entries[0].hash, entries[2].signed_at
    )
    with pytest.raises(DeliveryFailed) as refused:
        pemkab.sender.send(PEMKAB, pemkab.channel, [unchained])
    assert not refused.value.retryable
    assert "previous hash" in refused.value.reason
    assert [r.sequence for r in pemkab.store.records(PEMKAB)] == [1, 2]


def _v1a(signer: Signer, headers: dict[str, str], body: bytes) -> str:
    signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
    return "v1a," + base64.b64encode(signer.sign(signed)).decode()


class _FixedKey:
    """A key set that always signs with one key (to send with a key outside its validity)."""

    def __init__(self, signer: Signer, jwks: dict[str, object]) -> None:
        self._signer = signer
        self._jwks = jwks

    def signer_at(self, at: datetime) -> Signer:
        return self._signer

    def jwks(self, at: datetime) -> dict[str, object]:
        return self._jwks


def test_webhooks_signed_by_an_unknown_or_retired_key_are_400(
    tmp_path: Path, pemkab: Pemkab, feed: Feed, clock: TestClock
) -> None:
    entries = feed_entries.chain(feed.keys, PEMKAB, 1, feed.start + timedelta(hours=1))
    stranger = feed_entries.key_set(tmp_path / "stranger", feed.start)
    for keys in (stranger, _FixedKey(stranger.signer_at(clock.now()), {})):
        sender = WebhookSender(keys, clock.now)
        try:
            with pytest.raises(DeliveryFailed) as refused:
                sender.send(PEMKAB, pemkab.channel, entries)
            assert not refused.value.retryable
            assert "400" in refused.value.reason
        finally:
            sender.close()

    # The first key retired an hour ago: sending with it now is outside its validity.
    first = feed.keys.signer_at(feed.start)
    now = clock.now()
    feed.keys.rotate(now - timedelta(hours=2), timedelta(hours=1))
    feed.publish(now)
    retired = WebhookSender(_FixedKey(first, {}), clock.now)
    try:
        with pytest.raises(DeliveryFailed) as refused:
            retired.send(PEMKAB, pemkab.channel, entries)
        assert not refused.value.retryable
    finally:
        retired.close()
    assert pemkab.store.records(PEMKAB) == []
    # The key in use now (read from the JWKS file anew) is accepted.
    assert pemkab.sender.send(PEMKAB, pemkab.channel, entries) == 1
