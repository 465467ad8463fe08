"""`pantau verify FILE --jwks JWKS`: checks a saved feed entry offline, as an agency would.

FILE is one of: a SignedAlert (binary protobuf, as AlertFeedService sends it),
a DSSE JSON envelope (``{"payload", "payloadType", "signatures": [{"keyid",
"sig"}]}``, base64), a JWS compact file (an entry's JSON form, as webhooks and
``pantau feed export --format jws`` carry it), or a CAP document with its
detached JWS beside it as FILE.jws. The check is the reference receivers'
(``agency_adapters.receivers.verify``), so it is the one agencies run: the
signature over the bytes in the file, by a key of the JWKS that was valid
when it signed. It does not check the chain, which needs the entries before.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
import re
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

from google.protobuf.message import DecodeError
from joserfc.errors import JoseError
from pantau.v1 import alert_feed_service_pb2 as fpb

from agency_adapters.receivers.verify import (
    PAYLOAD_TYPE,
    FeedVerifier,
    KeyRing,
    Rejected,
    verify_jws_bytes,
)

VERIFIED = 0
NOT_VERIFIED = 1
# A CAP document's sent time: the instant its detached JWS was made.
_CAP_SENT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?sent>\s*([^<\s]+)\s*</(?:[A-Za-z_][\w.-]*:)?sent>")
_JWS_COMPACT = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]+$")


def add_verify_parser(commands: Any) -> None:
    """Adds ``verify`` to the ``pantau`` subcommands."""
    check = commands.add_parser(
        "verify",
        help="verify a saved feed entry (SignedAlert, DSSE JSON, JWS, or CAP + .jws) offline",
    )
    check.add_argument("file", type=Path, help="the saved entry")
    check.add_argument(
        "--jwks", type=Path, required=True, help="Pantau's signing keys (GetSigningKeys jwks_json)"
    )
    check.add_argument(
        "--payload-type", default=PAYLOAD_TYPE, help="the DSSE payload type expected"
    )


def _describe_position(agency_id: str, sequence: int, event_id: str) -> str:
    return f"{agency_id} #{sequence} (event {event_id})"


def _verify_dsse_json(verifier: FeedVerifier, document: dict[str, Any]) -> str:
    try:
        payload = base64.b64decode(str(document["payload"]), validate=True)
        payload_type = str(document["payloadType"])
        signatures = [
            (str(s["keyid"]), base64.b64decode(str(s["sig"]), validate=True))
            for s in document["signatures"]
        ]
    except (KeyError, TypeError, binascii.Error) as exc:
        raise Rejected(
            f"not a DSSE JSON envelope (payload, payloadType, signatures): {exc}"
        ) from exc
    event, key_id = verifier.verify_dsse(payload, payload_type, signatures)
    feed = event.feed
    return (
        f"DSSE envelope of {_describe_position(feed.agency_id, feed.sequence, str(event.seq))},"
        f" signed {feed.signed_at.ToDatetime().isoformat()}Z by key {key_id} (valid then)"
    )


def _verify_signed_alert(verifier: FeedVerifier, data: bytes) -> str:
    try:
        alert = fpb.SignedAlert.FromString(data)
    except DecodeError as exc:
        raise Rejected(
            f"not a SignedAlert, a DSSE JSON envelope, a JWS or a CAP file: {exc}"
        ) from exc
    if not alert.payload or not alert.payload_type:
        raise Rejected("not a SignedAlert, a DSSE JSON envelope, a JWS or a CAP file")
    entry = verifier.verify_signed_alert(alert)
    return (
        f"SignedAlert of {_describe_position(entry.agency_id, entry.sequence, entry.event_id)},"
        f" signed {entry.signed_at.isoformat()} by key {entry.key_id} (valid then)"
    )


def _verify_jws(verifier: FeedVerifier, token: str) -> str:
    document, key_id = verifier.verify_jws(token)
    feed = document.get("data", {}).get("feed") if isinstance(document.get("data"), dict) else None
    if isinstance(feed, dict):
        return (
            f"JWS of {feed.get('agency_id')} #{feed.get('sequence')}"
            f" (entry hash {str(feed.get('entry_hash'))[:16]}...) by key {key_id}"
        )
    return f"JWS by key {key_id}"


def _verify_cap(verifier: FeedVerifier, document: bytes, token: str) -> str:
    header = token.split(".", 1)[0]
    try:
        key_id = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))["kid"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise Rejected(f"the .jws beside the CAP document has no key id: {exc}") from exc
    key = verifier.keys.get(str(key_id))
    if key is None:
        raise Rejected(f"signed by key {key_id!r}, which Pantau does not publish")
    try:
        verify_jws_bytes(token, key.okp(), detached_payload=document)
    except (JoseError, ValueError) as exc:
        raise Rejected(f"the detached JWS by key {key_id!r} does not verify: {exc}") from exc
    found = _CAP_SENT.search(document)
    if found is None:
        raise Rejected("the CAP document has no <sent> time to check the key's validity at")
    try:
        sent = datetime.fromisoformat(found.group(1).decode())
    except ValueError as exc:
        raise Rejected(f"the CAP document's <sent> is not a date and time: {exc}") from exc
    if not key.covers(sent):
        raise Rejected(f"key {key_id!r} did not sign at {sent.isoformat()} (the document's sent)")
    return f"CAP document sent {sent.isoformat()}, detached JWS by key {key_id} (valid then)"


def verify_file(path: Path, jwks: Path, payload_type: str = PAYLOAD_TYPE) -> str:
    """What ``path`` is and that it verified; Rejected (or OSError, ValueError) saying why not."""
    try:
        keys = KeyRing.from_file(jwks)
    except ValueError as exc:
        raise Rejected(f"{jwks}: {exc}") from exc
    verifier = FeedVerifier(keys, payload_type=payload_type)
    data = path.read_bytes()
    beside = path.with_name(path.name + ".jws")
    if beside.exists():
        return _verify_cap(verifier, data, beside.read_text("ascii").strip())
    stripped = data.strip()
    if stripped.startswith(b"{"):
        try:
            document = json.loads(stripped)
        except ValueError as exc:
            raise Rejected(f"JSON that does not parse: {exc}") from exc
        if not isinstance(document, dict):
            raise Rejected("not a DSSE JSON envelope")
        return _verify_dsse_json(verifier, document)
    if _JWS_COMPACT.match(stripped):
        return _verify_jws(verifier, stripped.decode("ascii"))
    return _verify_signed_alert(verifier, data)


def run_verify_command(args: argparse.Namespace) -> int:
    """Runs ``pantau verify``: 0 and what was verified, or 1 and why not."""
    try:
        line = verify_file(args.file, args.jwks, args.payload_type)
    except Rejected as exc:
        sys.stderr.write(f"{args.file}: NOT verified: {exc.reason}\n")
        return NOT_VERIFIED
    except (OSError, ValueError) as exc:
        sys.stderr.write(f"{args.file}: NOT verified: {exc}\n")
        return NOT_VERIFIED
    sys.stdout.write(f"{args.file}: verified {line}\n")
    return VERIFIED
