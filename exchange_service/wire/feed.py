"""A feed entry's payload as Pantau signs it, and its JSON form for JSON deliveries.

The payload is the deterministic serialisation of a ``pantau.v1.AlertEvent``
(map keys sorted, so the evidence's order never changes the bytes) of an
event already disclosed to the recipient's data view, with its ``feed``
position. Signatures and hashes are over these bytes, and receivers verify
the bytes they received, never a re-serialisation.

The JSON form (webhooks, ``pantau feed export --format jws``) is the payload
parsed back and written as JSON in Standard Webhooks' shape
(``type``, ``timestamp``, ``data``), with the feed position and both hashes in
hex, the event without its position, and the keys sorted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from google.protobuf import json_format
from pantau.v1 import alert_feed_service_pb2 as afpb
from pantau.v1 import alerts_pb2 as apb

from exchange_service.domain.alerts import AlertEvent
from exchange_service.domain.feed import FeedEntry
from exchange_service.signing.keyset import KeyValidity
from exchange_service.wire import convert

# The JSON form's media type (the cty of its JWS) and its type in Standard Webhooks' shape.
JSON_MEDIA_TYPE = "application/vnd.pantau.alert-event.v1+json"
JSON_EVENT_TYPE = "pantau.alert.event.v1"


def entry_payload(
    event: AlertEvent,
    *,
    agency_id: str,
    sequence: int,
    previous_hash: bytes,
    signed_at: datetime,
) -> bytes:
    """The payload of an agency's entry: the event (disclosed by the caller) and its position."""
    fields = convert.alert_event_fields(event)
    fields["feed"] = {
        "agency_id": agency_id,
        "sequence": sequence,
        "previous_hash": previous_hash,
        "signed_at": convert.timestamp_fields(signed_at),
    }
    return apb.AlertEvent(**fields).SerializeToString(deterministic=True)


def rfc3339(value: datetime) -> str:
    """UTC, seconds with microseconds when present, and a Z."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def entry_json(entry: FeedEntry) -> bytes:
    """The JSON form of an entry, UTF-8, keys sorted, no insignificant white space."""
    event = apb.AlertEvent.FromString(entry.payload)
    event.ClearField("feed")
    document = {
        "type": JSON_EVENT_TYPE,
        "timestamp": rfc3339(entry.signed_at),
        "data": {
            "event_id": str(entry.event_seq),
            "feed": {
                "agency_id": entry.agency_id,
                "sequence": entry.sequence,
                "previous_hash": entry.previous_hash.hex(),
                "entry_hash": entry.hash.hex(),
            },
            "event": json_format.MessageToDict(event, preserving_proto_field_name=True),
        },
    }
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def signed_alert_pb(entry: FeedEntry) -> afpb.SignedAlert:
    """The entry as its DSSE envelope: the payload bytes exactly as signed."""
    return afpb.SignedAlert(
        payload=entry.payload,
        payload_type=entry.payload_type,
        signatures=[afpb.Signature(key_id=entry.key_id, signature=entry.signature)],
    )


def signing_key_pb(key: KeyValidity, overlap: timedelta) -> afpb.SigningKey:
    """A published key: signs from ``not_before`` until ``not_after`` (unset while in use);
    what it signed verifies until ``verify_until``."""
    message = afpb.SigningKey(key_id=key.key_id, public_key=key.public_key)
    message.not_before.FromDatetime(key.valid_from.astimezone(UTC))
    if key.valid_until is not None:
        message.not_after.FromDatetime(key.valid_until.astimezone(UTC))
        message.verify_until.FromDatetime((key.valid_until + overlap).astimezone(UTC))
    return message
