"""Verifying what Pantau pushes: DSSE envelopes (gRPC), JWS-signed JSON and Standard Webhooks.

Written for agencies to run or copy: it imports only the generated
``pantau.v1`` messages, ``cryptography``, ``joserfc`` and the standard
library, never Pantau's own code, so it checks Pantau from the outside.

Every check is over the bytes as received. A DSSE envelope's signature is
verified over the pre-authentication encoding of the received payload type
and payload bytes (DSSE protocol.md), and only then is the payload parsed; a
JWS is verified by joserfc over its received segments. Then the key must be
one of Pantau's published keys, valid when it signed; the entry must be the
agency's next (sequence one more than the last held) and carry the hash of
the last held entry.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from google.protobuf.message import DecodeError
from joserfc import jws
from joserfc.errors import JoseError
from joserfc.jwa import EdDSAAlgorithm, JWSAlgModel
from joserfc.jwk import OKPKey
from joserfc.jws import JWSRegistry
from pantau.v1 import alert_feed_service_pb2 as fpb
from pantau.v1 import alerts_pb2 as apb

# The DSSE payload type of a feed entry (protobuf) and the media type of its JSON form.
PAYLOAD_TYPE = "application/vnd.pantau.alert-event.v1+protobuf"
JSON_MEDIA_TYPE = "application/vnd.pantau.alert-event.v1+json"
# The previous hash of an agency's first entry.
ZERO_HASH = bytes(32)
# JWS algorithms for Ed25519: RFC 8037's "EdDSA" and RFC 9864's fully specified "Ed25519".
JWS_ALGORITHMS = ("EdDSA", "Ed25519")
# Standard Webhooks: a delivery whose timestamp is further than this from now is refused.
WEBHOOK_TOLERANCE = timedelta(minutes=5)


class _Rfc8037EdDSA(EdDSAAlgorithm):
    # RFC 9864 deprecates "EdDSA" because it leaves the curve to the key; the keys
    # here are Ed25519 only (keys_from_jwks), so the name is not ambiguous and
    # Pantau's EdDSA tokens are verified without joserfc's warning.
    security_warning: str | None = None  # type: ignore[assignment]


class _FeedJwsRegistry(JWSRegistry):
    # A registry of its own: joserfc's algorithm table is shared by the process.
    algorithms: ClassVar[dict[str, JWSAlgModel]] = {  # type: ignore[misc]
        "EdDSA": _Rfc8037EdDSA(),
        "Ed25519": JWSRegistry.algorithms["Ed25519"],
    }
    recommended: ClassVar[list[str]] = []  # type: ignore[misc]


JWS_REGISTRY = _FeedJwsRegistry(algorithms=JWS_ALGORITHMS)


def verify_jws_bytes(
    token: str, key: OKPKey, *, detached_payload: bytes | None = None
) -> jws.CompactSignature:
    """joserfc's verification of a compact JWS (``detached_payload`` for a detached one)
    with EdDSA or Ed25519 only; JoseError or ValueError when it does not verify."""
    return jws.deserialize_compact(
        token, key, algorithms=list(JWS_ALGORITHMS), registry=JWS_REGISTRY, payload=detached_payload
    )


class Rejected(Exception):
    """An entry or delivery the receiver does not take; ``reason`` says why.

    ``accepted_through`` is the highest sequence held, with none missing
    before it, when the refusal happened (set by the receiver).
    """

    def __init__(self, reason: str, *, accepted_through: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.accepted_through = accepted_through


class InvalidEntry(Rejected):
    """Not Pantau's, or not the agency's next entry: a bad signature, an unknown key, a key
    outside its validity, the wrong payload type or agency, or a broken hash chain.
    Sending it again will not help."""


class Gap(Rejected):
    """The entry comes after one the receiver does not hold yet: resend from
    ``accepted_through`` + 1."""


class StaleDelivery(Rejected):
    """A webhook whose timestamp is too far from the receiver's time (a replay, or a clock
    off): sending it anew, with a fresh timestamp, may succeed."""


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, as DSSE's protocol.md defines it:
    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths in ASCII decimal."""
    kind = payload_type.encode("utf-8")
    return (
        b"DSSEv1 "
        + str(len(kind)).encode()
        + b" "
        + kind
        + b" "
        + str(len(payload)).encode()
        + b" "
        + payload
    )


def _b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass(frozen=True)
class PublishedKey:
    """One of Pantau's feed keys as its JWKS publishes it, and when it may have signed:
    from ``valid_from`` up to ``valid_until`` (exclusive; None while in use)."""

    key_id: str
    public_key: bytes
    valid_from: datetime
    valid_until: datetime | None = None

    def covers(self, signed_at: datetime) -> bool:
        """Whether a signature made at ``signed_at`` may be this key's."""
        if signed_at < self.valid_from:
            return False
        return self.valid_until is None or signed_at < self.valid_until

    def verifies(self, signature: bytes, message: bytes) -> bool:
        try:
            Ed25519PublicKey.from_public_bytes(self.public_key).verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def okp(self) -> OKPKey:
        """The key for joserfc."""
        return OKPKey.import_key(
            {"kty": "OKP", "crv": "Ed25519", "x": _b64url(self.public_key), "kid": self.key_id}
        )


def _instant(text: object, field: str) -> datetime:
    value = datetime.fromisoformat(str(text))
    if value.tzinfo is None:
        raise ValueError(f"{field} has no UTC offset")
    return value


def keys_from_jwks(document: Mapping[str, Any]) -> tuple[PublishedKey, ...]:
    """The Ed25519 keys of a JWKS document (RFC 7517, RFC 8037) with their validity in
    Pantau's members ``pantau_valid_from`` / ``pantau_valid_until``; ValueError naming
    what is malformed. A key without them is taken as valid at any time."""
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise ValueError("the JWKS document has no 'keys' list")
    found: list[PublishedKey] = []
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        try:
            public = _b64url_decode(str(jwk["x"]))
            Ed25519PublicKey.from_public_bytes(public)
            start = jwk.get("pantau_valid_from")
            until = jwk.get("pantau_valid_until")
            found.append(
                PublishedKey(
                    key_id=str(jwk["kid"]),
                    public_key=public,
                    valid_from=datetime.min.replace(tzinfo=UTC)
                    if start is None
                    else _instant(start, "pantau_valid_from"),
                    valid_until=None if until is None else _instant(until, "pantau_valid_until"),
                )
            )
        except (KeyError, ValueError, binascii.Error) as exc:
            raise ValueError(f"the JWKS document has a malformed Ed25519 key: {exc}") from exc
    return tuple(found)


class KeyRing:
    """Pantau's published keys, read from a JWKS document and read again when a key id
    it does not know appears (Pantau publishes a new key before it signs with it)."""

    def __init__(
        self,
        load: Callable[[], Mapping[str, Any]],
        changed: Callable[[], object] | None = None,
    ) -> None:
        self._load = load
        # A cheap token of the source's version (a file's mtime): read again when it moves,
        # so a retirement (a key's valid_until) is seen without waiting for a new kid.
        self._changed = changed
        self._version = None if changed is None else changed()
        self._lock = threading.Lock()
        self._keys: dict[str, PublishedKey] = {}
        self.refresh()

    @classmethod
    def from_file(cls, path: Path) -> KeyRing:
        """The keys of a JWKS file (Pantau's GetSigningKeys ``jwks_json``, or its jwks.json)."""
        return cls(lambda: json.loads(path.read_text("utf-8")), lambda: path.stat().st_mtime_ns)

    def _fresh(self) -> None:
        if self._changed is None:
            return
        try:
            version = self._changed()
        except OSError:
            return
        if version != self._version:
            try:
                self.refresh()
            except (OSError, ValueError):
                return
            self._version = version

    def refresh(self) -> None:
        """Reads the keys again (ValueError if the document is malformed). A document with
        no Ed25519 key at all is taken for a mistake, and the keys held are kept."""
        keys = keys_from_jwks(self._load())
        with self._lock:
            if keys or not self._keys:
                self._keys = {k.key_id: k for k in keys}

    def get(self, key_id: str) -> PublishedKey | None:
        """The key of ``key_id``, reading the keys again once if it is not known."""
        self._fresh()
        with self._lock:
            key = self._keys.get(key_id)
        if key is None:
            try:
                self.refresh()
            except (OSError, ValueError):
                return None
            with self._lock:
                key = self._keys.get(key_id)
        return key

    def all(self) -> tuple[PublishedKey, ...]:
        self._fresh()
        with self._lock:
            return tuple(self._keys.values())


def _jws_header(segment: str) -> dict[str, Any]:
    try:
        header = json.loads(_b64url_decode(segment))
    except (ValueError, binascii.Error) as exc:
        raise InvalidEntry(f"the JWS header is not base64url JSON: {exc}") from exc
    if not isinstance(header, dict):
        raise InvalidEntry("the JWS header is not a JSON object")
    return header


@dataclass(frozen=True)
class VerifiedEntry:
    """A feed entry whose signature checked out, by a key valid when it signed.

    ``entry_hash`` is the hash the agency's next entry must carry as its
    ``previous_hash``; ``envelope`` the bytes received (a serialised
    SignedAlert, or a JWS), kept as evidence.
    """

    agency_id: str
    sequence: int
    previous_hash: bytes
    entry_hash: bytes
    signed_at: datetime
    key_id: str
    event_id: str
    envelope_format: str
    envelope: bytes


def _signed_at(position: apb.FeedPosition) -> datetime:
    return position.signed_at.ToDatetime(tzinfo=UTC)


class FeedVerifier:
    """Checks entries of Pantau's feeds against its published keys: signature over the
    received bytes, key known and valid at the entry's signing time, the expected payload
    type, and (when given) the expected agency. The chain is checked by ``check_next``."""

    def __init__(
        self,
        keys: KeyRing,
        *,
        agency_id: str | None = None,
        payload_type: str = PAYLOAD_TYPE,
        json_media_type: str = JSON_MEDIA_TYPE,
    ) -> None:
        self._keys = keys
        self._agency_id = agency_id
        self._payload_type = payload_type
        self._json_media_type = json_media_type

    @property
    def keys(self) -> KeyRing:
        return self._keys

    def _key(self, key_id: str) -> PublishedKey:
        key = self._keys.get(key_id)
        if key is None:
            raise InvalidEntry(f"signed by key {key_id!r}, which Pantau does not publish")
        return key

    def _check_agency(self, agency_id: str) -> None:
        if self._agency_id is not None and agency_id != self._agency_id:
            raise InvalidEntry(f"an entry of {agency_id!r}'s feed, not {self._agency_id!r}'s")

    def verify_dsse(
        self, payload: bytes, payload_type: str, signatures: Sequence[tuple[str, bytes]]
    ) -> tuple[apb.AlertEvent, str]:
        """The event of a DSSE envelope and the id of the key whose signature, made while
        the key was valid, verifies over PAE(payload_type, payload); InvalidEntry otherwise."""
        if payload_type != self._payload_type:
            raise InvalidEntry(f"payload type {payload_type!r}, not {self._payload_type!r}")
        if not signatures:
            raise InvalidEntry("the envelope has no signature")
        message = pae(payload_type, payload)
        problems: list[str] = []
        for key_id, signature in signatures:
            key = self._keys.get(key_id)
            if key is None:
                problems.append(f"signed by key {key_id!r}, which Pantau does not publish")
                continue
            if not key.verifies(signature, message):
                problems.append(f"the signature by key {key_id!r} does not verify")
                continue
            # Parsed only now: the bytes are Pantau's.
            try:
                event = apb.AlertEvent.FromString(payload)
            except DecodeError as exc:
                raise InvalidEntry(f"a signed payload that is not an AlertEvent: {exc}") from exc
            if not event.HasField("feed"):
                raise InvalidEntry("the payload has no feed position")
            signed_at = _signed_at(event.feed)
            if not key.covers(signed_at):
                raise InvalidEntry(
                    f"key {key_id!r} did not sign at {signed_at.isoformat()}: it is valid from"
                    f" {key.valid_from.isoformat()}"
                    + ("" if key.valid_until is None else f" until {key.valid_until.isoformat()}")
                )
            self._check_agency(event.feed.agency_id)
            return event, key_id
        raise InvalidEntry("; ".join(problems))

    def verify_signed_alert(self, alert: fpb.SignedAlert) -> VerifiedEntry:
        """A SignedAlert, as received over gRPC, verified (not its place in the chain)."""
        event, key_id = self.verify_dsse(
            alert.payload,
            alert.payload_type,
            [(s.key_id, s.signature) for s in alert.signatures],
        )
        return VerifiedEntry(
            agency_id=event.feed.agency_id,
            sequence=event.feed.sequence,
            previous_hash=event.feed.previous_hash,
            entry_hash=hashlib.sha256(alert.payload).digest(),
            signed_at=_signed_at(event.feed),
            key_id=key_id,
            event_id=str(event.seq),
            envelope_format="dsse",
            envelope=alert.SerializeToString(),
        )

    def verify_jws(
        self, token: str | bytes, *, signed_at: datetime | None = None
    ) -> tuple[dict[str, Any], str]:
        """The JSON payload and key id of a JWS compact token verified with joserfc, whose
        key is published and valid at ``signed_at`` (the JWS carries no time of its own:
        for webhooks, the delivery's timestamp); InvalidEntry otherwise."""
        text = token.decode("ascii", "replace") if isinstance(token, bytes) else token
        parts = text.strip().split(".")
        if len(parts) != 3:
            raise InvalidEntry("not a JWS compact serialisation (three dot-separated parts)")
        header = _jws_header(parts[0])
        key_id = header.get("kid")
        if not isinstance(key_id, str):
            raise InvalidEntry("the JWS header names no key (kid)")
        if header.get("alg") not in JWS_ALGORITHMS:
            raise InvalidEntry(f"JWS algorithm {header.get('alg')!r}, not EdDSA or Ed25519")
        key = self._key(key_id)
        try:
            verified = verify_jws_bytes(text.strip(), key.okp())
        except (JoseError, ValueError) as exc:
            raise InvalidEntry(f"the JWS by key {key_id!r} does not verify: {exc}") from exc
        if signed_at is not None and not key.covers(signed_at):
            raise InvalidEntry(
                f"key {key_id!r} did not sign at {signed_at.isoformat()}: it is valid from"
                f" {key.valid_from.isoformat()}"
                + ("" if key.valid_until is None else f" until {key.valid_until.isoformat()}")
            )
        try:
            document = json.loads(verified.payload)
        except ValueError as exc:
            raise InvalidEntry(f"the JWS payload is not JSON: {exc}") from exc
        if not isinstance(document, dict):
            raise InvalidEntry("the JWS payload is not a JSON object")
        return document, key_id

    def verify_json_entry(self, token: str | bytes, *, signed_at: datetime) -> VerifiedEntry:
        """A JWS whose payload is an entry's JSON form (``cty`` the JSON media type),
        verified by a key valid at ``signed_at`` (not its place in the chain)."""
        text = token.decode("ascii", "replace") if isinstance(token, bytes) else token
        document, key_id = self.verify_jws(text, signed_at=signed_at)
        content_type = _jws_header(text.strip().split(".")[0]).get("cty")
        if content_type != self._json_media_type:
            raise InvalidEntry(f"content type {content_type!r}, not {self._json_media_type!r}")
        try:
            data = document["data"]
            feed = data["feed"]
            agency_id = str(feed["agency_id"])
            sequence = int(feed["sequence"])
            previous_hash = bytes.fromhex(str(feed["previous_hash"]))
            entry_hash = bytes.fromhex(str(feed["entry_hash"]))
            entry_signed_at = _instant(document["timestamp"].replace("Z", "+00:00"), "timestamp")
            event_id = str(data["event_id"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise InvalidEntry(f"the JSON entry lacks its feed position: {exc}") from exc
        self._check_agency(agency_id)
        return VerifiedEntry(
            agency_id=agency_id,
            sequence=sequence,
            previous_hash=previous_hash,
            entry_hash=entry_hash,
            signed_at=entry_signed_at,
            key_id=key_id,
            event_id=event_id,
            envelope_format="jws",
            envelope=text.strip().encode("ascii"),
        )


def check_next(
    entry: VerifiedEntry, last_sequence: int, last_hash: bytes, held_hash: bytes | None
) -> bool:
    """Whether ``entry`` is new: True when it is the next one (sequence ``last_sequence``
    + 1 carrying ``last_hash``), False when the receiver holds it already (``held_hash``,
    the hash held at its sequence, equal to its own). InvalidEntry for a broken chain or a
    different entry at a sequence held; Gap for an entry after a missing one."""
    if entry.sequence < 1:
        raise InvalidEntry(f"sequence {entry.sequence}: sequences start at 1")
    if entry.sequence <= last_sequence:
        if held_hash is not None and held_hash != entry.entry_hash:
            raise InvalidEntry(
                f"sequence {entry.sequence} is held with another hash: a second entry at one place"
            )
        return False
    if entry.sequence > last_sequence + 1:
        raise Gap(
            f"sequence {entry.sequence} after {last_sequence}: entries"
            f" {last_sequence + 1}..{entry.sequence - 1} are missing",
            accepted_through=last_sequence,
        )
    if entry.previous_hash != last_hash:
        raise InvalidEntry(
            f"sequence {entry.sequence} carries previous hash {entry.previous_hash.hex()[:16]}...,"
            f" but entry {last_sequence} hashes to {last_hash.hex()[:16]}..."
        )
    return True


@dataclass(frozen=True)
class WebhookDelivery:
    """A Standard Webhooks delivery whose v1a signature verified: its id and timestamp."""

    webhook_id: str
    timestamp: datetime
    key_id: str


def verify_webhook(
    headers: Mapping[str, str],
    body: bytes,
    keys: KeyRing,
    *,
    now: datetime,
    tolerance: timedelta = WEBHOOK_TOLERANCE,
) -> WebhookDelivery:
    """Standard Webhooks 1.0 verification with asymmetric (v1a, Ed25519) signatures.

    ``webhook-signature`` holds space-separated ``v1a,<base64 signature>`` over
    ``"{webhook-id}.{webhook-timestamp}.{body}"``; one must verify by a published key
    valid at the timestamp. StaleDelivery when the timestamp is more than ``tolerance``
    from ``now``; InvalidEntry for missing headers or no verifying signature. ``headers``
    keys are lower case.
    """
    webhook_id = headers.get("webhook-id", "")
    stamp = headers.get("webhook-timestamp", "")
    signature_header = headers.get("webhook-signature", "")
    for name, value in (
        ("webhook-id", webhook_id),
        ("webhook-timestamp", stamp),
        ("webhook-signature", signature_header),
    ):
        if not value:
            raise InvalidEntry(f"the {name} header is missing")
    if not stamp.isdigit():
        raise InvalidEntry(f"webhook-timestamp {stamp!r} is not unix seconds")
    timestamp = datetime.fromtimestamp(int(stamp), UTC)
    if abs(now - timestamp) > tolerance:
        raise StaleDelivery(
            f"webhook-timestamp {timestamp.isoformat()} is more than"
            f" {int(tolerance.total_seconds())} s from now ({now.astimezone(UTC).isoformat()})"
        )
    signed = f"{webhook_id}.{stamp}.".encode() + body
    signatures: list[bytes] = []
    for part in signature_header.split():
        version, _, value = part.partition(",")
        if version != "v1a":
            continue
        try:
            signatures.append(base64.b64decode(value, validate=True))
        except binascii.Error:
            continue
    if not signatures:
        raise InvalidEntry("webhook-signature has no v1a signature")
    for attempt in range(2):
        for key in keys.all():
            if key.covers(timestamp) and any(key.verifies(s, signed) for s in signatures):
                return WebhookDelivery(webhook_id, timestamp, key.key_id)
        if attempt == 0:
            # A key published since the keys were read: read them again, once.
            try:
                keys.refresh()
            except (OSError, ValueError):
                break
    raise InvalidEntry("no v1a signature verifies by a published key valid at webhook-timestamp")
