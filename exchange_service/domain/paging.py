"""Opaque page tokens, bound to the query they continue.

A token carries the sort key of the last result and a fingerprint of the
query, so a token used with another query, or edited by hand, is rejected
as malformed instead of silently returning the wrong page.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Sequence

from exchange_service.domain.errors import FieldViolation, InvalidInput

_VERSION = 1
JsonScalar = str | int | float


def query_fingerprint(*parts: object) -> str:
    return hashlib.sha256(repr(parts).encode()).hexdigest()[:16]


def encode_page_token(fingerprint: str, last_key: Sequence[JsonScalar]) -> str:
    body = json.dumps({"v": _VERSION, "q": fingerprint, "k": list(last_key)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")


def malformed_page_token() -> InvalidInput:
    return InvalidInput([FieldViolation("page_token", "is malformed or belongs to another query")])


def decode_page_token(token: str, fingerprint: str, arity: int) -> list[JsonScalar] | None:
    """The last sort key of the previous page, or None for the first page."""
    if not token:
        return None
    malformed = malformed_page_token()
    try:
        padded = token + "=" * (-len(token) % 4)
        body = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, binascii.Error, UnicodeError) as error:
        raise malformed from error
    if not isinstance(body, dict) or body.get("v") != _VERSION or body.get("q") != fingerprint:
        raise malformed
    key = body.get("k")
    if not isinstance(key, list) or len(key) != arity:
        raise malformed
    if not all(isinstance(item, str | int | float) and not isinstance(item, bool) for item in key):
        raise malformed
    return key
