"""The agencies' signed alert feeds over real gRPC and mutual TLS.

Each alert event an agency subscribes to is in its feed, in its data view,
signed over DSSE's pre-authentication encoding and chained to the previous
entry; ``Subscribe`` streams the backlog then new entries live, resumes from
any sequence, and open subscriptions leave the server's capacity to other
calls; ``Acknowledge`` refuses bad sequences and writes nothing then.
"""

from __future__ import annotations

import hashlib
import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import Any

import grpc
import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from pantau.v1 import alert_feed_service_pb2 as af
from pantau.v1 import alert_feed_service_pb2_grpc as af_grpc
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from sqlalchemy import Engine, text

from exchange_service.services.alerts import RuleEngine
from tests.conftest import AGENCIES, agency_channel
from tests.e2e.conftest import Overstayer, register_overstayer, run_overstay

POLICE = AGENCIES["POLICE"]
REGION = AGENCIES["LOCAL_GOVERNMENT"]
PAYLOAD_TYPE = "application/vnd.pantau.alert-event.v1+protobuf"


def dsse_pae(payload_type: str, payload: bytes) -> bytes:
    """PAE as the DSSE v1 spec defines it, written here apart from Pantau's code:
    "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII decimal."""
    kind = payload_type.encode("utf-8")
    return b" ".join(
        [b"DSSEv1", str(len(kind)).encode(), kind, str(len(payload)).encode(), payload]
    )


def dsse_verify(envelope: af.SignedAlert, keys: dict[str, bytes]) -> apb.AlertEvent:
    """Verifies the envelope's bytes as received and only then parses them."""
    assert envelope.payload_type == PAYLOAD_TYPE
    assert envelope.signatures, "an envelope with no signature"
    for signature in envelope.signatures:
        public = Ed25519PublicKey.from_public_bytes(keys[signature.key_id])
        public.verify(signature.signature, dsse_pae(envelope.payload_type, envelope.payload))
    return apb.AlertEvent.FromString(envelope.payload)


def signing_keys(channel: grpc.Channel) -> dict[str, bytes]:
    answer = af_grpc.AlertFeedServiceStub(channel).GetSigningKeys(af.GetSigningKeysRequest())
    return {key.key_id: key.public_key for key in answer.keys}


def _stream(channel: grpc.Channel, after: int) -> Any:
    return af_grpc.AlertFeedServiceStub(channel).Subscribe(
        af.SubscribeRequest(after_sequence=after), timeout=60
    )


def read_until(responses: Any, sequence: int) -> list[af.SubscribeResponse]:
    """The responses up to the entry ``sequence`` (heartbeats left out)."""
    taken: list[af.SubscribeResponse] = []
    for response in responses:
        if not response.HasField("alert"):
            continue
        taken.append(response)
        event = apb.AlertEvent.FromString(response.alert.payload)
        if event.feed.sequence >= sequence:
            return taken
    raise AssertionError("the stream ended early")


def last_sequence(engine: Engine, agency_id: str) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text("SELECT coalesce(max(sequence), 0) FROM feed_entries WHERE agency_id = :a"),
                {"a": agency_id},
            ).scalar_one()
        )


@pytest.fixture(scope="module")
def overstayer(grpc_channel: grpc.Channel, rule_engine: RuleEngine) -> Overstayer:
    """An overstayer whose OPENED event (HIGH) both feeds carry."""
    person = register_overstayer(grpc_channel, days_over=21)
    run_overstay(rule_engine)
    return person


@pytest.fixture
def police(grpc_target: str, pki_dir: Path) -> Iterator[grpc.Channel]:
    with agency_channel(grpc_target, pki_dir, POLICE) as channel:
        yield channel


@pytest.fixture
def region(grpc_target: str, pki_dir: Path) -> Iterator[grpc.Channel]:
    with agency_channel(grpc_target, pki_dir, REGION) as channel:
        yield channel


def test_each_feed_is_signed_chained_and_in_its_agencys_view(
    overstayer: Overstayer, police: grpc.Channel, region: grpc.Channel, engine: Engine
) -> None:
    for channel, agency_id in ((police, POLICE), (region, REGION)):
        keys = signing_keys(channel)
        previous = bytes(32)
        last = last_sequence(engine, agency_id)
        assert last >= 1
        events: list[apb.AlertEvent] = []
        for response in read_until(_stream(channel, 0), last):
            event = dsse_verify(response.alert, keys)
            assert event.feed.agency_id == agency_id
            assert event.feed.sequence == len(events) + 1
            assert event.feed.previous_hash == previous
            previous = hashlib.sha256(response.alert.payload).digest()
            events.append(event)
        mine = [e for e in events if e.person_id == overstayer.person.id]
        assert [e.kind for e in mine] == [apb.ALERT_EVENT_KIND_OPENED]
        (opened,) = mine
        assert opened.rule == apb.ALERT_RULE_OVERSTAY
        assert opened.district_code == "21.05.01"
        permit = opened.evidence.fields.get("permit_number")
        if agency_id == POLICE:
            assert permit is not None
            assert permit.string_value == overstayer.stay.permit.permit_number
        else:  # the DISTRICT view: no permit number, no summaries naming it
            assert permit is None
            assert (opened.summary_en, opened.summary_id) == ("", "")
            assert overstayer.stay.permit.permit_number.encode() not in opened.SerializeToString()
        # Below the feeds' minimum severity (WARNING): not carried.
        assert all(e.severity >= apb.ALERT_SEVERITY_WARNING for e in events)


def test_a_bit_flip_in_a_payload_breaks_its_signature(
    overstayer: Overstayer, police: grpc.Channel
) -> None:
    keys = signing_keys(police)
    (response,) = read_until(_stream(police, 0), 1)
    envelope = response.alert
    for bit in (0, 7, 8 * len(envelope.payload) // 2, 8 * len(envelope.payload) - 1):
        flipped = bytearray(envelope.payload)
        flipped[bit // 8] ^= 1 << (bit % 8)
        tampered = af.SignedAlert()
        tampered.CopyFrom(envelope)
        tampered.payload = bytes(flipped)
        with pytest.raises(InvalidSignature):
            dsse_verify(tampered, keys)


def test_a_subscription_streams_new_entries_live_and_resumes_after_a_break(
    overstayer: Overstayer,
    police: grpc.Channel,
    grpc_channel: grpc.Channel,
    engine: Engine,
) -> None:
    keys = signing_keys(police)
    before = last_sequence(engine, POLICE)
    responses = _stream(police, before)
    arrived: queue.Queue[af.SubscribeResponse] = queue.Queue()

    def take() -> None:
        for response in responses:
            if response.HasField("alert"):
                arrived.put(response)
                return

    taker = threading.Thread(target=take)
    taker.start()
    alerts = q_grpc.QueryServiceStub(grpc_channel).ListAlerts(
        q.ListAlertsRequest(person_id=overstayer.person.id)
    )
    (alert,) = alerts.alerts
    ar_grpc.AlertReviewServiceStub(grpc_channel).ReviewAlert(
        ar.ReviewAlertRequest(
            alert_id=alert.id,
            decision=apb.REVIEW_DECISION_ACKNOWLEDGE,
            note="Diteruskan ke Polres untuk pengawasan",
        )
    )
    live = arrived.get(timeout=30)
    taker.join(timeout=5)
    responses.cancel()
    event = dsse_verify(live.alert, keys)
    assert event.feed.sequence == before + 1
    assert (event.kind, event.alert_id, event.note) == (
        apb.ALERT_EVENT_KIND_REVIEWED,
        alert.id,
        "Diteruskan ke Polres untuk pengawasan",
    )
    # Resumed from the sequence before it: the same bytes again, as sealed.
    (again,) = read_until(_stream(police, before), before + 1)
    assert again.alert == live.alert


def test_acknowledge_refuses_bad_sequences_and_writes_nothing(
    overstayer: Overstayer, police: grpc.Channel, engine: Engine
) -> None:
    feeds = af_grpc.AlertFeedServiceStub(police)

    def acknowledged() -> int:
        with engine.connect() as connection:
            return int(
                connection.execute(
                    text(
                        "SELECT count(*) FROM feed_entries"
                        " WHERE agency_id = :a AND acknowledged_at IS NOT NULL"
                    ),
                    {"a": POLICE},
                ).scalar_one()
            )

    last = last_sequence(engine, POLICE)
    before = acknowledged()
    for sequence in (0, -3, last + 1):
        with pytest.raises(grpc.RpcError) as refused:
            feeds.Acknowledge(af.AcknowledgeRequest(sequence=sequence))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "sequence" in (refused.value.details() or "")
        assert acknowledged() == before
    answer = feeds.Acknowledge(af.AcknowledgeRequest(sequence=1))
    assert answer.acknowledged_through == 1
    assert acknowledged() >= 1
    again = feeds.Acknowledge(af.AcknowledgeRequest(sequence=1))
    assert again.newly_acknowledged == 0


def test_only_agencies_with_a_feed_subscribe_and_bad_positions_are_refused(
    overstayer: Overstayer, grpc_channel: grpc.Channel, police: grpc.Channel, engine: Engine
) -> None:
    with pytest.raises(grpc.RpcError) as denied:
        next(iter(_stream(grpc_channel, 0)))
    assert denied.value.code() is grpc.StatusCode.PERMISSION_DENIED
    for after in (-1, last_sequence(engine, POLICE) + 5):
        with pytest.raises(grpc.RpcError) as refused:
            next(iter(_stream(police, after)))
        assert refused.value.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert "after_sequence" in (refused.value.details() or "")


def test_the_published_keys_are_the_jwks_and_cover_the_signing_time(
    overstayer: Overstayer, region: grpc.Channel
) -> None:
    answer = af_grpc.AlertFeedServiceStub(region).GetSigningKeys(af.GetSigningKeysRequest())
    jwks = json.loads(answer.jwks_json)
    assert {k["kid"] for k in jwks["keys"]} == {k.key_id for k in answer.keys}
    for jwk in jwks["keys"]:
        assert (jwk["kty"], jwk["crv"], jwk["alg"]) == ("OKP", "Ed25519", "EdDSA")
    (response,) = read_until(_stream(region, 0), 1)
    event = apb.AlertEvent.FromString(response.alert.payload)
    (signature,) = response.alert.signatures
    (key,) = [k for k in answer.keys if k.key_id == signature.key_id]
    signed_at = event.feed.signed_at.ToDatetime(tzinfo=UTC)
    assert key.not_before.ToDatetime(tzinfo=UTC) <= signed_at
    assert not key.HasField("not_after")


def test_two_hundred_open_subscriptions_leave_every_other_call_served(
    overstayer: Overstayer, police: grpc.Channel, grpc_channel: grpc.Channel, engine: Engine
) -> None:
    last = last_sequence(engine, POLICE)
    streams = [_stream(police, last) for _ in range(200)]
    try:
        # Each is open on the server: its first response (a heartbeat, or nothing yet) waits.
        time.sleep(1.0)
        assert all(s.running() for s in streams)
        queries = q_grpc.QueryServiceStub(grpc_channel)
        police_queries = q_grpc.QueryServiceStub(police)
        started = time.monotonic()
        for _ in range(20):
            person = queries.GetPerson(q.GetPersonRequest(person_id=overstayer.person.id))
            assert person.person.id == overstayer.person.id
            listed = police_queries.ListAlerts(
                q.ListAlertsRequest(person_id=overstayer.person.id), timeout=10
            )
            assert len(listed.alerts) == 1
        assert time.monotonic() - started < 20
    finally:
        for s in streams:
            s.cancel()
