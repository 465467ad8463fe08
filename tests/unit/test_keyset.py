"""The feed signing keys: encrypted at rest, published before they sign, retired with an overlap."""

from __future__ import annotations

import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from exchange_service.cli import main
from exchange_service.signing import jws
from exchange_service.signing.keyset import (
    KeySet,
    KeySetError,
    KeyValidity,
    b64url_decode,
    jwks_keys,
)

PASSPHRASE = b"correct horse battery staple"
T0 = datetime(2026, 11, 30, 16, 59, tzinfo=UTC)  # 23:59 WIB
LEAD = timedelta(hours=1)
OVERLAP = timedelta(days=30)


def _keys(directory: Path, **kwargs: object) -> KeySet:
    return KeySet.open(directory, PASSPHRASE, overlap=OVERLAP, **kwargs)  # type: ignore[arg-type]


def test_the_private_key_is_encrypted_at_rest_and_readable_by_its_owner_only(
    tmp_path: Path,
) -> None:
    keys = _keys(tmp_path, create_at=T0)
    (key,) = keys.all()
    pem = tmp_path / f"{key.key_id}.key"
    assert pem.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(pem.stat().st_mode) == 0o600
    with pytest.raises(KeySetError, match="passphrase"):
        KeySet.open(tmp_path, b"wrong passphrase")
    with pytest.raises(KeySetError, match="empty"):
        KeySet.open(tmp_path, b"")


def test_a_signature_verifies_with_the_published_public_key(tmp_path: Path) -> None:
    keys = _keys(tmp_path, create_at=T0)
    signer = keys.signer_at(T0)
    (published,) = keys.published(T0)
    assert published.key_id == signer.key_id
    Ed25519PublicKey.from_public_bytes(published.public_key).verify(
        signer.sign(b"message"), b"message"
    )
    with pytest.raises(KeySetError, match="rotate"):
        keys.signer_at(T0 - timedelta(microseconds=1))


def test_rotation_publishes_first_signs_after_the_lead_and_keeps_the_old_key_for_the_overlap(
    tmp_path: Path,
) -> None:
    keys = _keys(tmp_path, create_at=T0)
    old = keys.signer_at(T0).key_id
    rotated_at = T0 + timedelta(days=2)
    new = keys.rotate(rotated_at, LEAD)
    assert new.valid_from == rotated_at + LEAD
    # Published at once, signing only after the lead.
    assert {k.key_id for k in keys.published(rotated_at)} == {old, new.key_id}
    assert keys.signer_at(rotated_at + LEAD - timedelta(microseconds=1)).key_id == old
    assert keys.signer_at(rotated_at + LEAD).key_id == new.key_id
    (retired,) = [k for k in keys.all() if k.key_id == old]
    assert retired.valid_until == rotated_at + LEAD
    assert not retired.covers(rotated_at + LEAD)
    assert retired.covers(rotated_at)
    # Published for the overlap after it stopped signing, then no more.
    assert old in {k.key_id for k in keys.published(rotated_at + LEAD + OVERLAP - timedelta(1))}
    assert {k.key_id for k in keys.published(rotated_at + LEAD + OVERLAP)} == {new.key_id}
    with pytest.raises(KeySetError, match="waiting"):
        keys.rotate(rotated_at + timedelta(minutes=1), LEAD)


def test_a_process_that_signs_sees_a_rotation_made_by_another(tmp_path: Path) -> None:
    server = _keys(tmp_path, create_at=T0)
    command = _keys(tmp_path)
    new = command.rotate(T0 + timedelta(days=1), LEAD)
    assert server.signer_at(T0 + timedelta(days=1) + LEAD).key_id == new.key_id


def test_the_jwks_is_rfc_8037_and_reads_back_with_each_keys_validity(tmp_path: Path) -> None:
    keys = _keys(tmp_path, create_at=T0)
    keys.rotate(T0 + timedelta(days=1), LEAD)
    document = json.loads(json.dumps(keys.jwks(T0 + timedelta(days=1))))
    for jwk in document["keys"]:
        assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == (
            "OKP",
            "Ed25519",
            "EdDSA",
            "sig",
        )
        assert len(b64url_decode(jwk["x"])) == 32
        assert "=" not in jwk["x"]

    def validity(k: KeyValidity) -> tuple[object, ...]:
        return (k.key_id, k.public_key, k.valid_from, k.valid_until)

    assert [validity(k) for k in jwks_keys(document)] == [
        validity(k) for k in keys.published(T0 + timedelta(days=1))
    ]
    with pytest.raises(KeySetError, match="keys"):
        jwks_keys({"nothing": []})


def test_a_jws_signs_the_exact_bytes(tmp_path: Path) -> None:
    keys = _keys(tmp_path, create_at=T0)
    signer = keys.signer_at(T0)
    token = jws.compact(signer, b'{"a":1}', content_type="application/json")
    head, body, signature = token.split(".")
    header = json.loads(b64url_decode(head))
    assert header == {"alg": "EdDSA", "kid": signer.key_id, "cty": "application/json"}
    assert b64url_decode(body) == b'{"a":1}'
    public = Ed25519PublicKey.from_public_bytes(keys.published(T0)[0].public_key)
    public.verify(b64url_decode(signature), f"{head}.{body}".encode())
    detached = jws.detached(signer, b"<alert/>")
    assert detached.split(".")[1] == ""


def test_pantau_keys_rotates_lists_and_writes_the_jwks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_file = tmp_path / "pantau.toml"
    settings_file.write_text(
        f'feed_keys_dir = "{tmp_path / "keys"}"\nfeed_key_publish_lead_seconds = 60.0\n'
    )
    monkeypatch.setenv("PANTAU_SETTINGS", str(settings_file))
    monkeypatch.delenv("PANTAU_FEED_KEY_PASSPHRASE", raising=False)
    assert main(["keys", "list"]) == 2
    assert "PANTAU_FEED_KEY_PASSPHRASE" in capsys.readouterr().err
    monkeypatch.setenv("PANTAU_FEED_KEY_PASSPHRASE", PASSPHRASE.decode())
    assert main(["keys", "list"]) == 0
    assert "signs now" in capsys.readouterr().out
    assert main(["keys", "rotate"]) == 0
    assert "published key" in capsys.readouterr().out
    assert main(["keys", "jwks", "--out", str(tmp_path / "jwks.json")]) == 0
    assert len(json.loads((tmp_path / "jwks.json").read_text())["keys"]) == 2
