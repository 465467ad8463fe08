"""Each implementation of the push-channel port and of the receivers' store fits its port."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from agency_adapters.receivers.store import (
    ConsoleReceiverStore,
    FileReceiverStore,
    MemoryReceiverStore,
    ReceiverStore,
)
from agency_adapters.receivers.verify import ZERO_HASH, VerifiedEntry
from agency_adapters.senders import SenderContext, build_senders
from agency_adapters.senders.cap import CapPublisher
from agency_adapters.senders.console import ConsoleSender
from agency_adapters.senders.grpc import GrpcSender
from agency_adapters.senders.memory import MemorySender
from agency_adapters.senders.webhook import WebhookSender
from exchange_service.domain.feed import AlertSender, ChannelKind, PushChannel
from exchange_service.wire.cap import CapOptions
from tests import feed_entries

AT = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
POLICE = "polres-anambas"


def _context(tmp_path: Path, stream: io.StringIO | None = None) -> SenderContext:
    return SenderContext(
        keys=feed_entries.key_set(tmp_path / "keys", AT - timedelta(days=1)),
        clock=lambda: AT,
        stream=stream,
    )


@pytest.mark.parametrize("adapter", ["console", "memory"])
def test_console_and_memory_senders_take_entries_for_every_channel_kind(
    tmp_path: Path, adapter: str
) -> None:
    stream = io.StringIO()
    context = _context(tmp_path, stream)
    senders = build_senders(adapter, context)
    assert set(senders) == set(ChannelKind)
    entries = feed_entries.chain(context.keys, POLICE, 3, AT)  # type: ignore[arg-type]
    for kind, sender in senders.items():
        port: AlertSender = sender
        assert port.kind is kind
        channel = PushChannel(kind, f"target-of-{kind}")
        assert port.send(POLICE, channel, entries) == 3
        # Sent again: nothing new, the same answer.
        assert port.send(POLICE, channel, entries[:1]) == 3
        port.close()
    if adapter == "console":
        lines = stream.getvalue().splitlines()
        assert len(lines) == 3 * len(ChannelKind) + len(ChannelKind)
        assert lines[0].startswith(f"deliver {POLICE} GRPC target-of-GRPC #1 event 10 key ")
    else:
        memory = senders[ChannelKind.WEBHOOK]
        assert isinstance(memory, MemorySender)
        assert memory.entries(POLICE, "target-of-WEBHOOK") == tuple(entries)


def test_the_real_senders_fit_the_port(tmp_path: Path) -> None:
    keys = feed_entries.key_set(tmp_path / "keys", AT - timedelta(days=1))
    grpc_sender: AlertSender = GrpcSender(client_cert_file=None, client_key_file=None)
    webhook_sender: AlertSender = WebhookSender(keys, lambda: AT)
    console: AlertSender = ConsoleSender(ChannelKind.CAP, io.StringIO())
    assert (grpc_sender.kind, webhook_sender.kind, console.kind) == (
        ChannelKind.GRPC,
        ChannelKind.WEBHOOK,
        ChannelKind.CAP,
    )
    for sender in (grpc_sender, webhook_sender, console):
        sender.close()


def test_the_real_adapter_has_a_sender_for_every_channel_kind(tmp_path: Path) -> None:
    context = dataclasses.replace(
        _context(tmp_path), cap_options=CapOptions(sender="kanim-tarempa@imigrasi.go.id")
    )
    senders = build_senders("real", context)
    assert {kind: sender.kind for kind, sender in senders.items()} == {k: k for k in ChannelKind}
    assert isinstance(senders[ChannelKind.GRPC], GrpcSender)
    assert isinstance(senders[ChannelKind.WEBHOOK], WebhookSender)
    assert isinstance(senders[ChannelKind.CAP], CapPublisher)
    for sender in senders.values():
        sender.close()
    with pytest.raises(ValueError, match="cap_options"):
        build_senders("real", _context(tmp_path))


def test_an_unknown_adapter_names_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="delivery_adapter: 'carrier-pigeon'"):
        build_senders("carrier-pigeon", _context(tmp_path))


def _verified(sequence: int, previous: bytes) -> VerifiedEntry:
    return VerifiedEntry(
        agency_id=POLICE,
        sequence=sequence,
        previous_hash=previous,
        entry_hash=bytes([sequence]) * 32,
        signed_at=AT,
        key_id="k1",
        event_id=str(sequence * 10),
        envelope_format="dsse",
        envelope=b"envelope",
    )


@pytest.mark.parametrize("kind", ["file", "memory", "console"])
def test_each_receiver_store_fits_the_port_and_keeps_the_chain(tmp_path: Path, kind: str) -> None:
    stream = io.StringIO()
    made: ReceiverStore = (
        FileReceiverStore(tmp_path / "store")
        if kind == "file"
        else MemoryReceiverStore()
        if kind == "memory"
        else ConsoleReceiverStore(stream)
    )
    assert isinstance(made, ReceiverStore)
    assert made.head(POLICE).sequence == 0
    assert made.head(POLICE).entry_hash == ZERO_HASH
    first = _verified(1, ZERO_HASH)
    made.append(first, "polres-anambas-1")
    made.append(_verified(2, first.entry_hash), None)
    assert made.head(POLICE).sequence == 2
    assert made.hash_at(POLICE, 1) == first.entry_hash
    assert made.hash_at(POLICE, 3) is None
    assert made.seen_delivery(POLICE, "polres-anambas-1")
    assert not made.seen_delivery(POLICE, "polres-anambas-2")
    # Out of order is refused by every store, and leaves it as it was.
    with pytest.raises(ValueError, match="does not follow"):
        made.append(_verified(4, first.entry_hash), None)
    assert made.head(POLICE).sequence == 2
    made.close()
    if kind == "file":
        reopened = FileReceiverStore(tmp_path / "store")
        assert reopened.head(POLICE).sequence == 2
        assert reopened.seen_delivery(POLICE, "polres-anambas-1")
        reopened.close()
    if kind == "console":
        assert stream.getvalue().count(f"stored {POLICE} #") == 2
