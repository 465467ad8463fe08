"""JWS compact serialisation (RFC 7515) with EdDSA (RFC 8037), as Pantau signs JSON
deliveries and CAP documents.

``compact`` signs a payload carried in the token; ``detached`` signs bytes that
travel beside it (RFC 7515 appendix F: the token's payload part is empty and
the verifier puts the bytes it holds back in). Receivers verify with a JOSE
library of their own (``agency_adapters.receivers`` uses joserfc), never
with this module.
"""

from __future__ import annotations

import json
from typing import Protocol

from exchange_service.signing.keyset import b64url


class JwsSigner(Protocol):
    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


def _protected(signer: JwsSigner, content_type: str | None) -> str:
    header: dict[str, str] = {"alg": "EdDSA", "kid": signer.key_id}
    if content_type is not None:
        header["cty"] = content_type
    return b64url(json.dumps(header, sort_keys=True, separators=(",", ":")).encode())


def compact(signer: JwsSigner, payload: bytes, *, content_type: str | None = None) -> str:
    """``header.payload.signature``, the payload base64url-encoded."""
    head = _protected(signer, content_type)
    body = b64url(payload)
    signature = signer.sign(f"{head}.{body}".encode("ascii"))
    return f"{head}.{body}.{b64url(signature)}"


def detached(signer: JwsSigner, payload: bytes, *, content_type: str | None = None) -> str:
    """``header..signature`` over ``payload``, which travels on its own."""
    head = _protected(signer, content_type)
    signature = signer.sign(f"{head}.{b64url(payload)}".encode("ascii"))
    return f"{head}..{b64url(signature)}"
