"""The alert feeds' signing keys: Ed25519, encrypted at rest, each with its validity.

A key set is a directory. Each key is two files named by its key id
(``keys.key_id``): ``<id>.key``, the private key as PKCS#8 PEM encrypted with
the passphrase (mode 0600), and ``<id>.json``, its public half and validity:
when it was published, from when it signs (``valid_from``) and, once a newer
key took over, until when (``valid_until``). A retired key stays published,
for verifying what it signed while in use, until ``valid_until`` plus the
overlap; then it is no longer offered, though its files stay.

Rotation (``KeySet.rotate``) publishes the new key ``lead`` before it signs:
receivers that fetch the keys at least that often never see a signature by a
key they do not know. Every process that signs reads the directory again when
it changed, so a rotation done by `pantau keys rotate` reaches the server and
the scheduler without a restart.
"""

from __future__ import annotations

import base64
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    PrivateFormat,
    load_pem_private_key,
)

from exchange_service.signing.keys import key_id, raw_public_key


class KeySetError(Exception):
    """The key set cannot be used as asked; the message says why and what to do."""


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515 section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class KeyValidity:
    """A published public key and when it may have signed: ``valid_from`` up to
    ``valid_until`` (exclusive; None while it is the key in use)."""

    key_id: str
    public_key: bytes
    published_at: datetime
    valid_from: datetime
    valid_until: datetime | None = None

    def covers(self, signed_at: datetime) -> bool:
        """Whether a signature made at ``signed_at`` may be this key's."""
        if signed_at < self.valid_from:
            return False
        return self.valid_until is None or signed_at < self.valid_until

    def ed25519(self) -> Ed25519PublicKey:
        return Ed25519PublicKey.from_public_bytes(self.public_key)

    def jwk(self) -> dict[str, Any]:
        """The key as a JWK (RFC 8037 OKP Ed25519), its validity in Pantau's own members."""
        jwk: dict[str, Any] = {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(self.public_key),
            "kid": self.key_id,
            "use": "sig",
            "alg": "EdDSA",
            "pantau_valid_from": self.valid_from.isoformat(),
        }
        if self.valid_until is not None:
            jwk["pantau_valid_until"] = self.valid_until.isoformat()
        return jwk

    def metadata(self) -> dict[str, Any]:
        return {
            "key_id": self.key_id,
            "public_key": b64url(self.public_key),
            "published_at": self.published_at.isoformat(),
            "valid_from": self.valid_from.isoformat(),
            "valid_until": None if self.valid_until is None else self.valid_until.isoformat(),
        }

    @classmethod
    def from_metadata(cls, data: Mapping[str, Any]) -> KeyValidity:
        until = data.get("valid_until")
        return cls(
            key_id=str(data["key_id"]),
            public_key=b64url_decode(str(data["public_key"])),
            published_at=datetime.fromisoformat(str(data["published_at"])),
            valid_from=datetime.fromisoformat(str(data["valid_from"])),
            valid_until=None if until is None else datetime.fromisoformat(str(until)),
        )


def jwks_keys(document: Mapping[str, Any]) -> tuple[KeyValidity, ...]:
    """The Ed25519 keys of a JWKS document with their validity; KeySetError if malformed.

    A key without Pantau's validity members is taken as valid at any time.
    """
    keys = document.get("keys")
    if not isinstance(keys, list):
        raise KeySetError("the JWKS document has no 'keys' list")
    found: list[KeyValidity] = []
    for jwk in keys:
        if not isinstance(jwk, dict) or jwk.get("kty") != "OKP" or jwk.get("crv") != "Ed25519":
            continue
        try:
            public = b64url_decode(str(jwk["x"]))
            Ed25519PublicKey.from_public_bytes(public)
            valid_from = datetime.fromisoformat(str(jwk.get("pantau_valid_from", "0001-01-01")))
            until = jwk.get("pantau_valid_until")
            found.append(
                KeyValidity(
                    key_id=str(jwk["kid"]),
                    public_key=public,
                    published_at=valid_from,
                    valid_from=valid_from,
                    valid_until=None if until is None else datetime.fromisoformat(str(until)),
                )
            )
        except (KeyError, ValueError) as exc:
            raise KeySetError(f"the JWKS document has a malformed Ed25519 key: {exc}") from exc
    return tuple(found)


@dataclass(frozen=True)
class Signer:
    """A key in use: its id and Ed25519 signatures (64 raw bytes) by it."""

    key_id: str
    private_key: Ed25519PrivateKey

    def sign(self, message: bytes) -> bytes:
        return self.private_key.sign(message)


def _write_atomically(path: Path, data: bytes, mode: int) -> None:
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(name, path)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise


class KeySet:
    """The keys of a directory: the one that signs at an instant, and those published."""

    def __init__(self, directory: Path, passphrase: bytes, overlap: timedelta) -> None:
        if not passphrase:
            raise KeySetError("the feed key passphrase is empty")
        self._dir = directory
        self._passphrase = passphrase
        self._overlap = overlap
        self._stamp: int | None = None
        self._keys: tuple[KeyValidity, ...] = ()
        self._private: dict[str, Ed25519PrivateKey] = {}
        self._reload()

    @classmethod
    def open(
        cls,
        directory: Path,
        passphrase: bytes,
        *,
        overlap: timedelta = timedelta(days=30),
        create_at: datetime | None = None,
    ) -> KeySet:
        """The key set in ``directory``; with ``create_at``, its first key is made, valid
        from then, when it has none."""
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        keys = cls(directory, passphrase, overlap)
        if create_at is not None and not keys._keys:
            keys._add(create_at, create_at)
        return keys

    @property
    def directory(self) -> Path:
        return self._dir

    @property
    def overlap(self) -> timedelta:
        """How long a retired key stays published after it stopped signing."""
        return self._overlap

    def _stamp_now(self) -> int:
        return self._dir.stat().st_mtime_ns

    def _reload(self) -> None:
        stamp = self._stamp_now()
        keys = []
        for meta in sorted(self._dir.glob("*.json")):
            try:
                keys.append(KeyValidity.from_metadata(json.loads(meta.read_text("utf-8"))))
            except (ValueError, KeyError) as exc:
                raise KeySetError(f"{meta}: not a feed key's description ({exc})") from exc
        private = dict(self._private)
        for key in keys:
            if key.key_id in private:
                continue
            pem_path = self._dir / f"{key.key_id}.key"
            if not pem_path.exists():
                continue
            try:
                loaded = load_pem_private_key(pem_path.read_bytes(), self._passphrase)
            except (ValueError, TypeError) as exc:
                raise KeySetError(
                    f"{pem_path}: cannot decrypt the feed key; is the passphrase"
                    " (PANTAU_FEED_KEY_PASSPHRASE) the one it was made with?"
                ) from exc
            if not isinstance(loaded, Ed25519PrivateKey) or key_id(loaded.public_key()) != (
                key.key_id
            ):
                raise KeySetError(f"{pem_path}: not the Ed25519 key {key.key_id}")
            private[key.key_id] = loaded
        self._keys = tuple(sorted(keys, key=lambda k: k.valid_from))
        self._private = private
        self._stamp = stamp

    def _fresh(self) -> None:
        if self._stamp_now() != self._stamp:
            self._reload()

    def _add(self, published_at: datetime, valid_from: datetime) -> KeyValidity:
        private = Ed25519PrivateKey.generate()
        validity = KeyValidity(
            key_id=key_id(private.public_key()),
            public_key=raw_public_key(private.public_key()),
            published_at=published_at,
            valid_from=valid_from,
        )
        pem = private.private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, BestAvailableEncryption(self._passphrase)
        )
        _write_atomically(self._dir / f"{validity.key_id}.key", pem, 0o600)
        self._write_metadata(validity)
        self._reload()
        return validity

    def _write_metadata(self, validity: KeyValidity) -> None:
        text = json.dumps(validity.metadata(), indent=2, sort_keys=True) + "\n"
        _write_atomically(self._dir / f"{validity.key_id}.json", text.encode(), 0o644)

    def all(self) -> tuple[KeyValidity, ...]:
        """Every key of the directory, oldest first."""
        self._fresh()
        return self._keys

    def signer_at(self, at: datetime) -> Signer:
        """The key that signs at ``at``: the latest valid then; KeySetError when none is."""
        self._fresh()
        for key in reversed(self._keys):
            if key.covers(at) and key.key_id in self._private:
                return Signer(key.key_id, self._private[key.key_id])
        raise KeySetError(
            f"no feed key in {self._dir} signs at {at.isoformat()}: run `pantau keys rotate`"
        )

    def published(self, at: datetime) -> tuple[KeyValidity, ...]:
        """The keys offered to receivers at ``at``: published by then, and not retired
        longer ago than the overlap."""
        self._fresh()
        return tuple(
            k
            for k in self._keys
            if k.published_at <= at
            and (k.valid_until is None or at < k.valid_until + self._overlap)
        )

    def jwks(self, at: datetime) -> dict[str, Any]:
        """The published keys as a JWKS document (RFC 7517)."""
        return {"keys": [k.jwk() for k in self.published(at)]}

    def rotate(self, at: datetime, lead: timedelta) -> KeyValidity:
        """Publishes a new key now that signs from ``at + lead``; the keys signing until
        then stop at that instant. The new key's validity is returned."""
        self._fresh()
        starts = at + lead
        waiting = [k for k in self._keys if k.valid_from > at]
        if waiting:
            raise KeySetError(
                f"key {waiting[-1].key_id} is already waiting to sign (from"
                f" {waiting[-1].valid_from.isoformat()}); rotate after it took over"
            )
        current = [k for k in self._keys if k.valid_until is None or k.valid_until > starts]
        for key in current:
            self._write_metadata(replace(key, valid_until=starts))
        return self._add(at, starts)


def open_keys(
    directory: Path, passphrase: str | None, *, overlap: timedelta, create_at: datetime | None
) -> KeySet:
    """The key set, or KeySetError naming the missing passphrase."""
    if not passphrase:
        raise KeySetError(
            "feed_key_passphrase: set PANTAU_FEED_KEY_PASSPHRASE, the passphrase of the feed"
            f" signing keys in {directory}"
        )
    return KeySet.open(directory, passphrase.encode(), overlap=overlap, create_at=create_at)
