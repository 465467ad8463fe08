"""The push channels' senders (the ``AlertSender`` port of ``exchange_service.domain.feed``).

``build_senders`` makes one sender per channel kind for the ``delivery_adapter``
setting: ``real`` (gRPC over mutual TLS, Standard Webhooks over HTTPS, CAP
files), ``console`` (one printed line per entry) or ``memory`` (kept in the
process, for tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol, TextIO

from exchange_service.domain.feed import AlertSender, ChannelKind


class FeedSigner(Protocol):
    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class FeedKeys(Protocol):
    """The feed's key set as senders need it (``exchange_service.signing.keyset.KeySet``)."""

    def signer_at(self, at: datetime) -> FeedSigner: ...

    def jwks(self, at: datetime) -> dict[str, Any]: ...


@dataclass(frozen=True)
class SenderContext:
    """What the senders are made with: the feed keys (webhooks and CAP sign with the key
    in use at the time of sending), the clock, Pantau's client certificate for mutual
    TLS, the network timeout, CAP's options (``exchange_service.wire.cap.CapOptions``)
    and, for the console adapter, where to print."""

    keys: FeedKeys | None
    clock: Callable[[], datetime]
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    timeout_seconds: float = 10.0
    cap_options: Any = None
    stream: TextIO | None = None


ADAPTERS = ("real", "console", "memory")


def build_senders(adapter: str, context: SenderContext) -> dict[ChannelKind, AlertSender]:
    """One sender per channel kind for ``adapter`` ("real", "console" or "memory");
    ValueError naming the setting for another name."""
    if adapter == "console":
        from agency_adapters.senders.console import ConsoleSender

        return {kind: ConsoleSender(kind, context.stream) for kind in ChannelKind}
    if adapter == "memory":
        from agency_adapters.senders.memory import MemorySender

        return {kind: MemorySender(kind) for kind in ChannelKind}
    if adapter == "real":
        if context.keys is None:
            raise ValueError("delivery_adapter 'real' needs the feed keys (feed_keys_dir)")
        from agency_adapters.senders.cap import CapPublisher
        from agency_adapters.senders.grpc import GrpcSender
        from agency_adapters.senders.webhook import WebhookSender

        senders: dict[ChannelKind, AlertSender] = {
            ChannelKind.GRPC: GrpcSender(
                client_cert_file=context.client_cert_file,
                client_key_file=context.client_key_file,
                timeout_seconds=context.timeout_seconds,
            ),
            ChannelKind.WEBHOOK: WebhookSender(
                context.keys,
                context.clock,
                timeout_seconds=context.timeout_seconds,
                client_cert_file=context.client_cert_file,
                client_key_file=context.client_key_file,
            ),
        }
        if context.cap_options is None:
            raise ValueError("delivery_adapter 'real' needs cap_options (cap_sender, cap_status)")
        senders[ChannelKind.CAP] = CapPublisher(context.cap_options, context.keys, context.clock)
        return senders
    raise ValueError(f"delivery_adapter: {adapter!r} is not one of {', '.join(ADAPTERS)}")
