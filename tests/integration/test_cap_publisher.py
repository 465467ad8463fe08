"""The CAP channel on a real directory: signed documents, their Atom feed and keys, written once,
verified by joserfc and checked back by the receiver's import."""

from __future__ import annotations

import json
import os
import warnings
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwk, jws
from joserfc.errors import SecurityWarning
from lxml import etree

from agency_adapters.receivers.cap_import import import_cap_dir
from agency_adapters.senders.cap import (
    ATOM_FILE,
    INDEX_FILE,
    JWKS_FILE,
    CapKeys,
    CapPublisher,
    document_name,
)
from exchange_service.domain.alerts import AlertEventKind
from exchange_service.domain.feed import (
    AlertSender,
    ChannelKind,
    DeliveryFailed,
    FeedEntry,
    PushChannel,
)
from exchange_service.signing.keys import raw_public_key
from exchange_service.signing.keyset import KeySet, b64url
from exchange_service.wire.cap import CapOptions, cap_field, validate_cap
from tests import cap_samples
from tests.clock import CLOCK

ATOM = {"atom": "http://www.w3.org/2005/Atom"}
OPTIONS = CapOptions(sender="kanim-tarempa@imigrasi.go.id", status="Exercise")
AGENCY = cap_samples.PEMKAB


@pytest.fixture
def keys(tmp_path: Path) -> KeySet:
    return KeySet.open(
        tmp_path / "keys", b"cap test passphrase", create_at=CLOCK.now() - timedelta(days=1)
    )


@pytest.fixture
def channel(tmp_path: Path) -> PushChannel:
    return PushChannel(ChannelKind.CAP, str(tmp_path / "cap" / AGENCY))


@pytest.fixture
def publisher(keys: KeySet) -> CapPublisher:
    return CapPublisher(OPTIONS, keys, CLOCK.now)


def _entries(keys: KeySet) -> list[FeedEntry]:
    at = CLOCK.now() - timedelta(hours=1)
    return cap_samples.entries(cap_samples.lifecycle(at), keys.signer_at(at), at)


def _snapshot(directory: Path) -> dict[str, tuple[bytes, int]]:
    return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in sorted(directory.iterdir())}


def test_the_publisher_is_an_alert_sender_of_the_cap_kind(publisher: CapPublisher) -> None:
    sender: AlertSender = publisher
    assert sender.kind is ChannelKind.CAP


def test_it_writes_every_entry_signed_with_the_feed_and_keys(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    entries = _entries(keys)
    assert publisher.send(AGENCY, channel, entries) == 6
    directory = Path(channel.target)
    names = [document_name(AGENCY, i) for i in range(1, 7)]
    assert names[0] == "pemkab-anambas-0000000001.xml"
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        [*names, *(n + ".jws" for n in names), ATOM_FILE, JWKS_FILE, INDEX_FILE]
    )
    msg_types = [cap_field(validate_cap((directory / n).read_bytes()), "msgType") for n in names]
    assert msg_types == ["Alert", "Update", "Update", "Update", "Cancel", "Alert"]
    # No temporary file is left behind.
    assert not [p for p in directory.iterdir() if p.name.startswith(".")]


def test_every_detached_jws_verifies_with_joserfc_and_the_published_keys(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    publisher.send(AGENCY, channel, _entries(keys))
    directory = Path(channel.target)
    published = json.loads((directory / JWKS_FILE).read_text())
    key_set = jwk.KeySet.import_key_set(
        {
            "keys": [
                {k: v for k, v in key.items() if not k.startswith("pantau_")}
                for key in published["keys"]
            ]
        }
    )
    for document in sorted(directory.glob("*.xml")):
        token = (directory / (document.name + ".jws")).read_text()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=SecurityWarning)
            verified = jws.deserialize_compact(
                token, key_set, algorithms=["EdDSA"], payload=document.read_bytes()
            )
        assert verified.headers()["cty"] == "application/cap+xml"
        assert verified.headers()["kid"] == keys.signer_at(CLOCK.now()).key_id


def test_the_atom_feed_lists_every_document_with_its_signature(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    publisher.send(AGENCY, channel, _entries(keys))
    directory = Path(channel.target)
    feed = etree.fromstring((directory / ATOM_FILE).read_bytes())
    assert feed.tag == "{http://www.w3.org/2005/Atom}feed"
    entries = feed.findall("atom:entry", ATOM)
    assert len(entries) == 6
    alternates = [e.find("atom:link[@rel='alternate']", ATOM) for e in entries]
    assert [a.get("href") for a in alternates] == [
        document_name(AGENCY, i) for i in range(6, 0, -1)
    ]
    assert {a.get("type") for a in alternates} == {"application/cap+xml"}
    for entry, alternate in zip(entries, alternates, strict=True):
        related = entry.find("atom:link[@rel='related']", ATOM)
        assert related.get("href") == alternate.get("href") + ".jws"
        assert (directory / related.get("href")).is_file()
        assert entry.findtext("atom:title", namespaces=ATOM)
        assert entry.findtext("atom:id", namespaces=ATOM).startswith("urn:uuid:")
    assert len({e.findtext("atom:id", namespaces=ATOM) for e in entries}) == 6


def test_a_repeated_push_rewrites_nothing_and_a_later_one_continues_the_alert(
    keys: KeySet, channel: PushChannel
) -> None:
    entries = _entries(keys)
    first = CapPublisher(OPTIONS, keys, CLOCK.now)
    assert first.send(AGENCY, channel, entries[:3]) == 3
    directory = Path(channel.target)
    before = _snapshot(directory)
    # Later, the worker resends what it is unsure of: nothing changes.
    later = CapPublisher(OPTIONS, keys, lambda: CLOCK.now() + timedelta(minutes=5))
    assert later.send(AGENCY, channel, entries[:3]) == 3
    assert _snapshot(directory) == before
    # The index lost: it is rebuilt from the documents, and the next one references them all.
    (directory / INDEX_FILE).unlink()
    assert later.send(AGENCY, channel, entries[2:5]) == 5
    for name in before:
        if name.endswith(".xml"):
            assert (directory / name).read_bytes() == before[name][0]
    fifth = validate_cap((directory / document_name(AGENCY, 5)).read_bytes())
    references = cap_field(fifth, "references").split()
    assert [r.split(",")[1] for r in references] == [
        f"{OPTIONS.identifier_prefix}.{AGENCY}.{i}" for i in range(1, 5)
    ]
    first_sent = cap_field(
        validate_cap((directory / document_name(AGENCY, 1)).read_bytes()), "sent"
    )
    assert references[0].endswith("," + first_sent)
    assert (directory / INDEX_FILE).is_file()


def test_entries_beyond_a_gap_are_not_written_and_the_sender_learns_where_to_resume(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    entries = _entries(keys)
    assert publisher.send(AGENCY, channel, entries[:2]) == 2
    assert publisher.send(AGENCY, channel, entries[3:]) == 2
    directory = Path(channel.target)
    assert not (directory / document_name(AGENCY, 4)).exists()
    assert publisher.send(AGENCY, channel, entries[2:]) == 6


def test_a_document_that_lost_its_signature_is_signed_again_as_it_stands(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    entries = _entries(keys)
    publisher.send(AGENCY, channel, entries)
    directory = Path(channel.target)
    signature = directory / (document_name(AGENCY, 2) + ".jws")
    document = directory / document_name(AGENCY, 2)
    xml = document.read_bytes()
    signature.unlink()
    assert publisher.send(AGENCY, channel, entries[1:2]) == 6
    assert signature.is_file()
    assert document.read_bytes() == xml
    assert import_cap_dir(directory, json.loads((directory / JWKS_FILE).read_text())).ok


def test_another_entry_at_a_written_sequence_is_refused_and_nothing_is_written(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    entries = _entries(keys)
    publisher.send(AGENCY, channel, entries[:2])
    directory = Path(channel.target)
    before = _snapshot(directory)
    at = CLOCK.now()
    other = cap_samples.entries(
        [cap_samples.alert_event(AlertEventKind.OPENED, 999, at)], keys.signer_at(at), at
    )
    with pytest.raises(DeliveryFailed, match="holds another entry at sequence 1") as failed:
        publisher.send(AGENCY, channel, other)
    assert failed.value.retryable is False
    assert _snapshot(directory) == before
    with pytest.raises(DeliveryFailed, match="entries of polres-anambas"):
        publisher.send(
            AGENCY,
            channel,
            cap_samples.entries(
                [cap_samples.alert_event(AlertEventKind.OPENED, 1, at)],
                keys.signer_at(at),
                at,
                agency_id=cap_samples.POLRES,
            ),
        )
    assert _snapshot(directory) == before


def test_the_import_accepts_the_published_directory(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    publisher.send(AGENCY, channel, _entries(keys))
    directory = Path(channel.target)
    imported = import_cap_dir(directory, json.loads((directory / JWKS_FILE).read_text()))
    assert imported.rejected == ()
    assert [a.sequence for a in imported.accepted] == [1, 2, 3, 4, 5, 6]
    assert imported.last_sequence == 6
    assert {a.agency_id for a in imported.accepted} == {AGENCY}


def _published(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> tuple[Path, dict[str, Any]]:
    publisher.send(AGENCY, channel, _entries(keys))
    directory = Path(channel.target)
    return directory, json.loads((directory / JWKS_FILE).read_text())


def test_the_import_rejects_a_bit_flipped_document_and_holds_back_what_follows(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    directory, jwks = _published(publisher, keys, channel)
    third = directory / document_name(AGENCY, 3)
    data = bytearray(third.read_bytes())
    # A bit of a digit in the description: still valid CAP, no longer what was signed.
    position = data.index(b"37 hari")
    data[position] ^= 0x01
    third.write_bytes(bytes(data))
    validate_cap(bytes(data))
    imported = import_cap_dir(directory, jwks)
    assert [a.sequence for a in imported.accepted] == [1, 2]
    reasons = {r.file: r.reason for r in imported.rejected}
    assert "does not verify" in reasons[third.name]
    assert "sequence 3 is missing" in reasons[document_name(AGENCY, 4)]
    assert "held back" in reasons[document_name(AGENCY, 6)]


def test_the_import_rejects_a_gap_in_the_sequence(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    directory, jwks = _published(publisher, keys, channel)
    (directory / document_name(AGENCY, 2)).unlink()
    (directory / (document_name(AGENCY, 2) + ".jws")).unlink()
    imported = import_cap_dir(directory, jwks)
    assert [a.sequence for a in imported.accepted] == [1]
    assert imported.rejected[0].file == document_name(AGENCY, 3)
    assert "sequence 2 is missing before it" in imported.rejected[0].reason
    assert len(imported.rejected) == 4


def test_the_import_rejects_an_unknown_kid_and_a_key_not_valid_when_sent(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    directory, jwks = _published(publisher, keys, channel)
    other = KeySet.open(
        directory.parent / "other-keys", b"another", create_at=CLOCK.now() - timedelta(days=1)
    )
    imported = import_cap_dir(directory, other.jwks(CLOCK.now()))
    assert imported.accepted == ()
    assert all("is not a key of the JWKS" in r.reason for r in imported.rejected)
    assert len(imported.rejected) == 6
    # The right key, but published as valid only from tomorrow.
    (key,) = jwks["keys"]
    key["pantau_valid_from"] = (CLOCK.now() + timedelta(days=1)).isoformat()
    imported = import_cap_dir(directory, jwks)
    assert imported.accepted == ()
    assert all("was not valid when the document was sent" in r.reason for r in imported.rejected)


def test_the_import_rejects_a_document_the_schema_refuses(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    directory, jwks = _published(publisher, keys, channel)
    first = directory / document_name(AGENCY, 1)
    first.write_bytes(
        first.read_bytes().replace(b"<scope>Restricted</scope>", b"<scope>Secret</scope>")
    )
    imported = import_cap_dir(directory, jwks)
    assert imported.accepted == ()
    assert "not a valid CAP 1.2 alert" in imported.rejected[0].reason
    assert imported.rejected[0].file == first.name


def test_a_directory_that_cannot_be_written_fails_the_delivery_for_a_retry(
    publisher: CapPublisher, keys: KeySet, tmp_path: Path
) -> None:
    blocked = tmp_path / "blocked"
    blocked.write_text("a file where the directory should be")
    with pytest.raises(DeliveryFailed, match="cannot write the CAP directory") as failed:
        publisher.send(AGENCY, PushChannel(ChannelKind.CAP, str(blocked / AGENCY)), _entries(keys))
    assert failed.value.retryable is True
    assert os.path.isfile(blocked)


def test_keys_satisfy_the_channels_protocol(keys: KeySet) -> None:
    typed: CapKeys = keys
    assert typed.jwks(CLOCK.now())["keys"]


def test_the_import_accepts_a_signature_named_ed25519_as_rfc_9864_has_it(
    publisher: CapPublisher, keys: KeySet, channel: PushChannel
) -> None:
    directory, jwks = _published(publisher, keys, channel)
    signer = keys.signer_at(CLOCK.now())
    private = jwk.import_key(
        {
            "kty": "OKP",
            "crv": "Ed25519",
            "x": b64url(raw_public_key(signer.private_key.public_key())),
            "d": b64url(signer.private_key.private_bytes_raw()),
        }
    )
    first = directory / document_name(AGENCY, 1)
    token = jws.serialize_compact(
        {"alg": "Ed25519", "kid": signer.key_id},
        first.read_bytes(),
        private,
        algorithms=["Ed25519"],
    )
    head, _, signature = token.split(".")
    (directory / (first.name + ".jws")).write_text(f"{head}..{signature}")
    imported = import_cap_dir(directory, jwks)
    assert imported.rejected == ()
    assert imported.last_sequence == 6
    # The same bytes under an algorithm it does not take are refused.
    (directory / (first.name + ".jws")).write_text(
        _header({"alg": "ES256", "kid": signer.key_id}) + f"..{signature}"
    )
    refused = import_cap_dir(directory, jwks)
    assert "is not Ed25519" in refused.rejected[0].reason


def _header(header: dict[str, str]) -> str:
    return b64url(json.dumps(header).encode())
