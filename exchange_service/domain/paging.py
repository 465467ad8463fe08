"""Opaque page tokens: signed by the server, bound to the query they continue.

A token is ``<key id>.<body>.<mac>``: the body (base64url JSON) carries the
sort key of the previous page's last result and a fingerprint of the query;
the MAC is HMAC-SHA256, under one of the server's secrets, of the key id and
the body exactly as they stand in the token; the key id names that secret.
So a token the server did not make, or made for another query, is refused:
any character changed, a token cut short or extended, one signed with a
secret the server no longer holds, all fail the same check, before anything
in the body is read. The body is then checked field by field, and each key
value by its type (``key_number``, ``key_uuid``, ``key_instant``), so that
even a token the server did sign never reaches a conversion unchecked.
Every refusal is one ``InvalidInput`` naming ``page_token``, with one
description: it tells nothing of how a token was wrong.

Secrets rotate without breaking tokens in flight (``PageTokens``): the
first secret signs, every one listed verifies. To rotate, put a new secret
first and keep the old one after it while clients may still hold its
tokens (a client pages through a listing in minutes); then remove it, and
its tokens are refused. With no secret configured the composition root
makes a random one per process: tokens then die with the process (and are
not taken by another server process).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import re
import uuid
from collections.abc import Sequence
from datetime import datetime

from exchange_service.domain.errors import FieldViolation, InvalidInput

_VERSION = 2
JsonScalar = str | int | float
# What the MAC is over: this tag, then ``<key id>.<body>`` as they stand in the token.
_MAC_TAG = b"pantau page token\x00"
_KEY_ID_TAG = b"pantau page token key id"
_KEY_ID_LENGTH = 8  # hex digits
# Shortest secret taken, bytes: HMAC-SHA256 gains nothing beyond 32.
MIN_SECRET_BYTES = 32
# ``<key id>.<body>.<mac>``: the MAC, 32 bytes, is 43 characters of unpadded base64url.
_TOKEN = re.compile(rf"([0-9a-f]{{{_KEY_ID_LENGTH}}})\.([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{{43}})")


def query_fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def malformed_page_token() -> InvalidInput:
    return InvalidInput([FieldViolation("page_token", "is malformed or belongs to another query")])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def page_token_key_id(secret: bytes) -> str:
    """The id a token names its secret by: derived from the secret, so it reveals nothing."""
    return hmac.new(secret, _KEY_ID_TAG, hashlib.sha256).hexdigest()[:_KEY_ID_LENGTH]


class PageTokens:
    """Makes and checks page tokens with the server's secrets: the first signs, all verify.

    Guarantees: ``decode`` returns a key only from a token that ``encode``
    made, under a secret still listed, for the same query fingerprint; any
    other string but ``""`` raises ``malformed_page_token()``.
    """

    def __init__(self, secrets: Sequence[bytes]) -> None:
        if not secrets:
            raise ValueError("page tokens need a secret")
        short = [i for i, secret in enumerate(secrets) if len(secret) < MIN_SECRET_BYTES]
        if short:
            raise ValueError(f"the secrets at {short} are shorter than {MIN_SECRET_BYTES} bytes")
        if len(set(secrets)) != len(secrets):
            repeated = [i for i, secret in enumerate(secrets) if secret in secrets[:i]]
            raise ValueError(f"the secrets at {repeated} are listed before")
        by_id = {page_token_key_id(secret): secret for secret in secrets}
        if len(by_id) != len(secrets):  # two ids of 32 bits alike: one chance in 4 billion
            raise ValueError("two secrets have one key id; replace one")
        self._signing_id = page_token_key_id(secrets[0])
        self._by_id = by_id

    def __repr__(self) -> str:  # never the secrets themselves
        return f"PageTokens(signing={self._signing_id}, verifying={sorted(self._by_id)})"

    def encode(self, fingerprint: str, last_key: Sequence[JsonScalar]) -> str:
        """The token continuing the query ``fingerprint`` after the result keyed ``last_key``."""
        body = {"v": _VERSION, "q": fingerprint, "k": list(last_key)}
        return self.sign_body(json.dumps(body, separators=(",", ":"), allow_nan=False).encode())

    def sign_body(self, body: bytes) -> str:
        """The token carrying ``body`` as given, signed with the first secret: ``encode``'s end."""
        signed = f"{self._signing_id}.{_b64(body)}"
        return f"{signed}.{self._mac(self._by_id[self._signing_id], signed)}"

    def verified_body(self, token: str) -> bytes:
        """The body of a token one of the secrets signed; else ``malformed_page_token()``.

        The MAC is compared as text, in constant time, with the MAC of the
        token's own text, so no two spellings of one token are taken.
        """
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise malformed_page_token()
        key_id, body, mac = match.groups()
        secret = self._by_id.get(key_id)
        if secret is None:
            raise malformed_page_token()
        if not hmac.compare_digest(self._mac(secret, f"{key_id}.{body}"), mac):
            raise malformed_page_token()
        try:
            return base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        except (ValueError, binascii.Error) as error:
            raise malformed_page_token() from error

    def decode(self, token: str, fingerprint: str, arity: int) -> list[JsonScalar] | None:
        """The last sort key of the previous page (``arity`` scalars), or None for the first page.

        Each value is a string or a number, not yet of the type the query
        needs: check each with ``key_number``, ``key_uuid`` or ``key_instant``.
        """
        if not token:
            return None
        raw = self.verified_body(token)
        try:
            body = json.loads(raw.decode("utf-8"), parse_constant=_no_constant)
        except (ValueError, RecursionError) as error:
            raise malformed_page_token() from error
        if (
            not isinstance(body, dict)
            or set(body) != {"v", "q", "k"}
            or body["v"] != _VERSION
            or not isinstance(body["v"], int)
            or body["q"] != fingerprint
        ):
            raise malformed_page_token()
        key = body["k"]
        if not isinstance(key, list) or len(key) != arity:
            raise malformed_page_token()
        if not all(
            isinstance(item, str | int | float) and not isinstance(item, bool) for item in key
        ):
            raise malformed_page_token()
        return key

    @staticmethod
    def _mac(secret: bytes, signed: str) -> str:
        return _b64(hmac.new(secret, _MAC_TAG + signed.encode("ascii"), hashlib.sha256).digest())


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number here")


def key_number(value: JsonScalar) -> float:
    """A finite number of a page key (a score, a distance)."""
    if isinstance(value, str | bool):
        raise malformed_page_token()
    try:
        number = float(value)
    except OverflowError as error:
        raise malformed_page_token() from error
    if not math.isfinite(number):
        raise malformed_page_token()
    return number


def key_uuid(value: JsonScalar) -> uuid.UUID:
    """An id of a page key, in the canonical form ``encode`` wrote it in."""
    if not isinstance(value, str):
        raise malformed_page_token()
    try:
        parsed = uuid.UUID(value)
    except ValueError as error:
        raise malformed_page_token() from error
    if str(parsed) != value:
        raise malformed_page_token()
    return parsed


def key_instant(value: JsonScalar) -> datetime:
    """An instant of a page key: ISO 8601 with its UTC offset."""
    if not isinstance(value, str):
        raise malformed_page_token()
    try:
        instant = datetime.fromisoformat(value)
    except ValueError as error:
        raise malformed_page_token() from error
    if instant.utcoffset() is None:
        raise malformed_page_token()
    return instant
