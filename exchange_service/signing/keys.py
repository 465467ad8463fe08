"""Key ids, signatures over bytes, and the keyring a verifier trusts.

A key's id is the first 16 hex digits of sha256 of its raw 32-byte public key.
Signatures travel as base64 text. A ``Keyring`` holds the keys in use and the
retired ones; a retired key stays trusted only for what it signed before it
was retired (up to a sequence number in a numbered log such as the audit
trail, or up to the time it was retired), so a retired private key that leaks
cannot vouch for anything later.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    """The 32 bytes of the public key."""
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Names a signing key: first 16 hex digits of sha256 of the raw public key."""
    return hashlib.sha256(raw_public_key(public_key)).hexdigest()[:16]


def sign(private_key: Ed25519PrivateKey, message: bytes) -> str:
    """The Ed25519 signature of ``message``, as base64 text."""
    return base64.b64encode(private_key.sign(message)).decode("ascii")


def signature_valid(public_key: Ed25519PublicKey, message: bytes, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is a valid Ed25519 signature of ``message``; never raises."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, message)
    except (InvalidSignature, binascii.Error, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True)
class TrustedKey:
    """A public key and what it is trusted for.

    A key in use has neither bound. A retired key has ``last_seq`` (the last
    entry of a numbered log it signed before rotation) and/or ``retired_at``
    (signatures made later are not its); ``valid_from`` is when it was
    published, before which it signed nothing.
    """

    public_key: Ed25519PublicKey
    valid_from: datetime | None = None
    retired_at: datetime | None = None
    last_seq: int | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    @property
    def retired(self) -> bool:
        return self.retired_at is not None or self.last_seq is not None

    def describe(self) -> str:
        if self.last_seq is not None:
            return f"{self.key_id} (retired after seq {self.last_seq})"
        if self.retired_at is not None:
            return f"{self.key_id} (retired at {self.retired_at.isoformat()})"
        return self.key_id


@dataclass(frozen=True)
class Keyring:
    """The public keys a verifier trusts, by key id, each with its validity."""

    keys: tuple[TrustedKey, ...] = ()

    @classmethod
    def of(cls, keys: Ed25519PublicKey | Keyring) -> Keyring:
        """A keyring as given, or one trusting a single key in use."""
        return keys if isinstance(keys, Keyring) else cls.in_use(keys)

    @classmethod
    def in_use(cls, *public_keys: Ed25519PublicKey) -> Keyring:
        """A keyring trusting these keys for anything."""
        return cls(tuple(TrustedKey(k) for k in public_keys))

    def with_keys(self, *more: TrustedKey) -> Keyring:
        return Keyring(self.keys + more)

    @property
    def current(self) -> tuple[Ed25519PublicKey, ...]:
        """The keys in use (not retired)."""
        return tuple(k.public_key for k in self.keys if not k.retired)

    @property
    def retired(self) -> tuple[TrustedKey, ...]:
        return tuple(k for k in self.keys if k.retired)

    def describe(self) -> str:
        """The key ids, for messages: ``a1b2...``, retired ones with their bound."""
        ordered = [k for k in self.keys if not k.retired] + list(self.retired)
        return ", ".join(k.describe() for k in ordered) or "none"

    def signer(self, name: str) -> Ed25519PublicKey | None:
        """The key in use with this id, if any: the only kind that may sign something new."""
        return next((k.public_key for k in self.keys if not k.retired and k.key_id == name), None)

    def key_for(
        self, name: str, *, seq: int | None = None, signed_at: datetime | None = None
    ) -> tuple[Ed25519PublicKey | None, str]:
        """The key that may have signed entry ``seq`` (or at ``signed_at``) as ``name``.

        None and why not when no trusted key of that id covers it.
        """
        current = self.signer(name)
        if current is not None:
            return current, ""
        what = f"checkpoint seq {seq}" if seq is not None else "the signature"
        for key in self.retired:
            if key.key_id != name:
                continue
            if key.last_seq is not None and (seq is None or seq > key.last_seq):
                return None, f"{what} is signed by key {name!r}, retired after seq {key.last_seq}"
            if key.retired_at is not None and (signed_at is None or signed_at > key.retired_at):
                return None, (
                    f"{what} is signed by key {name!r}, retired at {key.retired_at.isoformat()}"
                )
            if key.valid_from is not None and signed_at is not None and signed_at < key.valid_from:
                return None, f"{what} predates key {name!r}"
            return key.public_key, ""
        return None, f"{what} is signed by key {name!r}, not by {self.describe()}"
