"""The console sender: one line per entry on a stream, for trying the pipeline by hand."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import TextIO

from exchange_service.domain.feed import ChannelKind, FeedEntry, PushChannel


class ConsoleSender:
    """Prints each entry (agency, channel, sequence, event, key, hash) and takes it as
    delivered: returns the last sequence printed for that agency and channel."""

    def __init__(self, kind: ChannelKind, stream: TextIO | None = None) -> None:
        self._kind = kind
        self._stream = stream
        self._lock = threading.Lock()
        self._last: dict[tuple[str, str], int] = {}

    @property
    def kind(self) -> ChannelKind:
        return self._kind

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        stream = self._stream or sys.stdout
        with self._lock:
            for entry in entries:
                stream.write(
                    f"deliver {agency_id} {channel.name} {channel.target} #{entry.sequence}"
                    f" event {entry.event_seq} key {entry.key_id}"
                    f" hash {entry.hash.hex()[:16]}\n"
                )
                self._last[(agency_id, channel.target)] = max(
                    entry.sequence, self._last.get((agency_id, channel.target), 0)
                )
            stream.flush()
            return self._last.get((agency_id, channel.target), 0)

    def close(self) -> None:
        return None
