"""Signing: key ids, signatures over bytes, the keyring's trust bounds, key files."""

from __future__ import annotations

import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange_service.signing import Keyring, TrustedKey, key_id, sign, signature_valid
from exchange_service.signing.files import (
    ensure_private_key,
    keyring,
    load_private_key,
    load_public_key,
    retire_private_key,
)

KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
T0 = datetime(2026, 12, 1, 16, 59, tzinfo=UTC)


def test_a_signature_verifies_only_for_its_bytes_and_key() -> None:
    signature = sign(KEY, b"alert event bytes")
    assert signature_valid(KEY.public_key(), b"alert event bytes", signature)
    assert not signature_valid(KEY.public_key(), b"alert event byteS", signature)
    assert not signature_valid(OTHER.public_key(), b"alert event bytes", signature)
    assert not signature_valid(KEY.public_key(), b"alert event bytes", "not base64!")
    assert not signature_valid(KEY.public_key(), b"alert event bytes", "")


def test_a_key_id_is_16_hex_digits_of_the_public_key() -> None:
    assert key_id(KEY.public_key()) == key_id(KEY.public_key())
    assert key_id(KEY.public_key()) != key_id(OTHER.public_key())
    assert len(key_id(KEY.public_key())) == 16
    int(key_id(KEY.public_key()), 16)


def test_a_retired_key_is_trusted_only_up_to_its_last_seq() -> None:
    old, new = KEY.public_key(), OTHER.public_key()
    ring = Keyring((TrustedKey(new), TrustedKey(old, last_seq=120)))
    assert ring.current == (new,)
    assert ring.signer(key_id(old)) is None  # a retired key signs nothing new
    assert ring.key_for(key_id(old), seq=120) == (old, "")
    key, why = ring.key_for(key_id(old), seq=121)
    assert key is None
    assert why == f"checkpoint seq 121 is signed by key '{key_id(old)}', retired after seq 120"
    assert ring.key_for(key_id(new), seq=10_000) == (new, "")
    assert f"{key_id(old)} (retired after seq 120)" in ring.describe()


def test_a_key_retired_at_a_time_vouches_only_for_what_it_signed_before() -> None:
    old = KEY.public_key()
    ring = Keyring((TrustedKey(old, valid_from=T0, retired_at=T0 + timedelta(days=30)),))
    assert ring.key_for(key_id(old), signed_at=T0 + timedelta(days=29)) == (old, "")
    assert ring.key_for(key_id(old), signed_at=T0 + timedelta(days=31))[0] is None
    assert ring.key_for(key_id(old), signed_at=T0 - timedelta(seconds=1))[0] is None
    assert ring.key_for(key_id(old))[0] is None  # no time given: not trusted
    unknown, why = ring.key_for("0123456789abcdef", signed_at=T0)
    assert unknown is None
    assert "not by" in why


def test_key_files_are_private_and_rotation_keeps_the_old_public_key(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "signing.key"
    public = ensure_private_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    first = load_private_key(path)
    assert load_public_key(public) == first.public_key()
    assert ensure_private_key(path) == public
    assert load_private_key(path).public_key() == first.public_key()  # never replaced
    old, new = retire_private_key(path, last_seq=42, at=T0)
    assert old == key_id(first.public_key()) != new
    ring = keyring(path)
    assert [k.key_id for k in ring.keys] == [new, old]
    assert ring.key_for(old, seq=42)[0] == first.public_key()
    assert ring.key_for(old, seq=43)[0] is None


def test_a_file_with_another_kind_of_key_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "not-a-key.pem"
    path.write_text("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(ValueError):  # noqa: PT011 (cryptography's own message)
        load_public_key(path)
