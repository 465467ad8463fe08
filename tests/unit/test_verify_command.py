"""`pantau verify`: a saved entry verifies offline against the JWKS, a tampered one does not."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agency_adapters.senders.grpc import signed_alert
from exchange_service.cli import main
from exchange_service.domain.feed import FeedEntry
from exchange_service.signing import jws
from exchange_service.signing.keyset import KeySet
from exchange_service.wire.feed import JSON_MEDIA_TYPE, entry_json
from tests import feed_entries

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
POLICE = "polres-anambas"


@pytest.fixture
def setup(tmp_path: Path) -> tuple[Path, KeySet, list[FeedEntry]]:
    keys = feed_entries.key_set(tmp_path / "keys", AT - timedelta(days=1))
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps(keys.jwks(AT)))
    return jwks, keys, feed_entries.chain(keys, POLICE, 2, AT)


def _run(path: Path, jwks: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(["verify", str(path), "--jwks", str(jwks)])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_a_signed_alert_verifies_and_a_flipped_bit_does_not(
    tmp_path: Path, setup: tuple[Path, KeySet, list[FeedEntry]], capsys: pytest.CaptureFixture[str]
) -> None:
    jwks, _, entries = setup
    good = tmp_path / "entry-2.pb"
    good.write_bytes(signed_alert(entries[1]).SerializeToString())
    code, text = _run(good, jwks, capsys)
    assert code == 0, text
    assert f"verified SignedAlert of {POLICE} #2 (event 20)" in text
    assert f"by key {entries[1].key_id} (valid then)" in text

    bad = tmp_path / "tampered.pb"
    tampered = feed_entries.with_payload(entries[1], feed_entries.flip_bit(entries[1].payload, 100))
    bad.write_bytes(signed_alert(tampered).SerializeToString())
    code, text = _run(bad, jwks, capsys)
    assert code == 1
    assert "NOT verified" in text
    assert "does not verify" in text


def test_a_dsse_json_envelope_verifies_and_a_wrong_payload_type_does_not(
    tmp_path: Path, setup: tuple[Path, KeySet, list[FeedEntry]], capsys: pytest.CaptureFixture[str]
) -> None:
    jwks, _, entries = setup
    entry = entries[0]
    envelope = {
        "payload": base64.b64encode(entry.payload).decode(),
        "payloadType": entry.payload_type,
        "signatures": [{"keyid": entry.key_id, "sig": base64.b64encode(entry.signature).decode()}],
    }
    path = tmp_path / "entry-1.dsse.json"
    path.write_text(json.dumps(envelope))
    code, text = _run(path, jwks, capsys)
    assert code == 0, text
    assert f"verified DSSE envelope of {POLICE} #1" in text

    path.write_text(json.dumps({**envelope, "payloadType": "application/json"}))
    code, text = _run(path, jwks, capsys)
    assert code == 1
    assert "payload type 'application/json'" in text


def test_a_jws_verifies_and_a_tampered_or_unknown_one_does_not(
    tmp_path: Path, setup: tuple[Path, KeySet, list[FeedEntry]], capsys: pytest.CaptureFixture[str]
) -> None:
    jwks, keys, entries = setup
    token = jws.compact(keys.signer_at(AT), entry_json(entries[1]), content_type=JSON_MEDIA_TYPE)
    path = tmp_path / "entry-2.jws"
    path.write_text(token + "\n")
    code, text = _run(path, jwks, capsys)
    assert code == 0, text
    assert f"verified JWS of {POLICE} #2" in text

    head, payload, signature = token.split(".")
    forged = feed_entries.flip_bit(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)), 50
    )
    path.write_text(f"{head}.{base64.urlsafe_b64encode(forged).rstrip(b'=').decode()}.{signature}")
    code, text = _run(path, jwks, capsys)
    assert code == 1
    assert "does not verify" in text

    stranger = feed_entries.key_set(tmp_path / "stranger", AT - timedelta(days=1))
    path.write_text(jws.compact(stranger.signer_at(AT), entry_json(entries[1])))
    code, text = _run(path, jwks, capsys)
    assert code == 1
    assert "does not publish" in text


def test_a_cap_document_verifies_with_its_detached_jws_and_not_once_changed(
    tmp_path: Path, setup: tuple[Path, KeySet, list[FeedEntry]], capsys: pytest.CaptureFixture[str]
) -> None:
    jwks, keys, _ = setup
    document = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier>'
        b"<sent>2026-12-01T09:00:00+07:00</sent></alert>\n"
    )
    path = tmp_path / "pemkab-anambas-000001.xml"
    path.write_bytes(document)
    (tmp_path / (path.name + ".jws")).write_text(jws.detached(keys.signer_at(AT), document))
    code, text = _run(path, jwks, capsys)
    assert code == 0, text
    assert "verified CAP document sent 2026-12-01T09:00:00+07:00" in text

    path.write_bytes(document.replace(b"<identifier>x", b"<identifier>y"))
    code, text = _run(path, jwks, capsys)
    assert code == 1
    assert "does not verify" in text

    # Signed, but dated before the key's validity.
    early = document.replace(b"2026-12-01T09:00", b"2026-11-01T09:00")
    path.write_bytes(early)
    (tmp_path / (path.name + ".jws")).write_text(jws.detached(keys.signer_at(AT), early))
    code, text = _run(path, jwks, capsys)
    assert code == 1
    assert "did not sign at" in text
