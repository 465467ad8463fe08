"""The Ed25519 key pair that signs audit checkpoints and exports, as PEM files.

The private key is PKCS#8 PEM, unencrypted, readable by its owner only
(mode 0600); the public key is SubjectPublicKeyInfo PEM beside it, named
``<private key file>.pub``, and is all an auditor needs.
"""

from __future__ import annotations

import os
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


def public_key_path(private_key_path: Path) -> Path:
    """Where the public key of ``private_key_path`` lives: the same name plus ``.pub``."""
    return private_key_path.with_name(private_key_path.name + ".pub")


def ensure_signing_key(path: Path) -> Path:
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
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process made it first: use theirs
        else:
            with os.fdopen(fd, "wb") as out:
                out.write(pem)
                out.flush()
                os.fsync(out.fileno())
    public = public_key_path(path)
    if not public.exists():
        key = load_signing_key(path)
        public.write_bytes(
            key.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
        )
    return public


def load_signing_key(path: Path) -> Ed25519PrivateKey:
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
