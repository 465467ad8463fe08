"""Signing key pairs as PEM files, and their rotation.

The private key is PKCS#8 PEM, readable by its owner only (mode 0600); the
public key is SubjectPublicKeyInfo PEM beside it, named ``<private key
file>.pub``, and is all a verifier needs.

Rotation retires the pair: its public key goes to ``<private key
file>.retired/<key id>.json`` with the last seq it signed (and as ``<key
id>.pub`` for verifiers), the private key is deleted, and a new pair takes
its place. The keyring of a key file trusts a retired key up to that seq only.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    PublicFormat,
    load_pem_private_key,
    load_pem_public_key,
)

from exchange_service.signing.keys import Keyring, TrustedKey, key_id


def public_key_path(private_key_path: Path) -> Path:
    """Where the public key of ``private_key_path`` lives: the same name plus ``.pub``."""
    return private_key_path.with_name(private_key_path.name + ".pub")


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)


def _write_new(path: Path, data: bytes, mode: int) -> None:
    """Writes a file that must not exist yet, durably; FileExistsError if it does."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())


def ensure_private_key(path: Path) -> Path:
    """Creates the key pair at ``path`` unless it exists; returns the public key's path.

    Guarantees: an existing private key is never replaced; a new one is
    created atomically with mode 0600 (its directory 0700 if new); the public
    key file is (re)written from the private key when missing.
    """
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        pem = Ed25519PrivateKey.generate().private_bytes(
            Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()
        )
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            _write_new(path, pem, 0o600)
    public = public_key_path(path)
    if not public.exists():
        public.write_bytes(public_pem(load_private_key(path).public_key()))
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    """The Ed25519 private key in the PEM file; ``ValueError`` if it is another kind of key."""
    key = load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError(f"{path} is not an Ed25519 private key")
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    """The Ed25519 public key in the PEM file; ``ValueError`` if it is another kind of key."""
    key = load_pem_public_key(path.read_bytes())
    if not isinstance(key, Ed25519PublicKey):
        raise ValueError(f"{path} is not an Ed25519 public key")
    return key


# --- rotation ----------------------------------------------------------------------


@dataclass(frozen=True)
class RetiredKey:
    """A signing key taken out of use: its public half and the last seq it signed."""

    public_key: Ed25519PublicKey
    last_seq: int
    retired_at: str  # UTC, YYYY-MM-DDTHH:MM:SS.ffffffZ


def retired_keys_dir(private_key_path: Path) -> Path:
    """Where the retired keys of ``private_key_path`` are kept: ``<key file>.retired``."""
    return private_key_path.with_name(private_key_path.name + ".retired")


def load_retired_keys(private_key_path: Path) -> list[RetiredKey]:
    """The keys retired from ``private_key_path`` (none if never rotated), oldest first.

    ``ValueError`` names a file that is not a retired key record, or whose
    key does not have the id its name and content claim.
    """
    folder = retired_keys_dir(private_key_path)
    if not folder.is_dir():
        return []
    keys: list[RetiredKey] = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_bytes())
            public = load_pem_public_key(data["public_key"].encode("ascii"))
            last_seq, retired_at, name = data["last_seq"], data["retired_at"], data["key_id"]
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise ValueError(f"{path} is not a retired signing key: {error}") from error
        if not isinstance(public, Ed25519PublicKey) or not isinstance(last_seq, int):
            raise ValueError(f"{path} is not a retired Ed25519 signing key")
        if key_id(public) != name or path.stem != name:
            raise ValueError(f"{path}: the key's id is {key_id(public)}, not {name}")
        keys.append(RetiredKey(public, last_seq, str(retired_at)))
    return sorted(keys, key=lambda k: k.last_seq)


def keyring(private_key_path: Path) -> Keyring:
    """The keys that verify what this key file signed: its public key and the retired ones."""
    public = public_key_path(private_key_path)
    current = (
        load_public_key(public)
        if public.exists()
        else load_private_key(private_key_path).public_key()
    )
    retired = tuple(
        TrustedKey(k.public_key, last_seq=k.last_seq) for k in load_retired_keys(private_key_path)
    )
    return Keyring((TrustedKey(current), *retired))


def _utc_text(at: datetime) -> str:
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def retire_private_key(path: Path, *, last_seq: int, at: datetime) -> tuple[str, str]:
    """Retires the key pair at ``path`` after seq ``last_seq`` and makes a new one.

    Returns the old and the new key id. The retired record is written (and
    synced) before the private key is deleted, so a crash in between leaves
    either the old key in use or no key (the next start makes a new one),
    never signatures that cannot be verified. The caller must make sure that
    nothing signs with the old key meanwhile.
    """
    old = load_private_key(path).public_key()
    name = key_id(old)
    folder = retired_keys_dir(path)
    folder.mkdir(mode=0o700, exist_ok=True)
    record = {
        "key_id": name,
        "public_key": public_pem(old).decode("ascii"),
        "last_seq": last_seq,
        "retired_at": _utc_text(at),
    }
    _write_new(folder / f"{name}.json", json.dumps(record, indent=1).encode("utf-8"), 0o644)
    (folder / f"{name}.pub").write_bytes(public_pem(old))
    path.unlink()
    public_key_path(path).unlink(missing_ok=True)
    ensure_private_key(path)
    return name, key_id(load_private_key(path).public_key())
