"""The memory sender: keeps what it is sent, per agency and channel, for tests."""

from __future__ import annotations

import threading
from collections.abc import Sequence

from exchange_service.domain.feed import ChannelKind, FeedEntry, PushChannel


class MemorySender:
    """Keeps each agency's entries per channel target, each sequence once, and returns the
    last sequence held. Safe to call from several threads."""

    def __init__(self, kind: ChannelKind) -> None:
        self._kind = kind
        self._lock = threading.Lock()
        self._entries: dict[tuple[str, str], dict[int, FeedEntry]] = {}

    @property
    def kind(self) -> ChannelKind:
        return self._kind

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        with self._lock:
            held = self._entries.setdefault((agency_id, channel.target), {})
            for entry in entries:
                held.setdefault(entry.sequence, entry)
            return max(held, default=0)

    def entries(self, agency_id: str, target: str) -> tuple[FeedEntry, ...]:
        """What was sent to ``target`` for ``agency_id``, in sequence order."""
        with self._lock:
            held = self._entries.get((agency_id, target), {})
            return tuple(held[s] for s in sorted(held))

    def close(self) -> None:
        return None
