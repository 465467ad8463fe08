"""What both reference receivers do with verified entries: check the chain, store, log.

One lock per receiver serialises the check against the head and the append,
so two deliveries at once (a retry racing the original) never store an entry
twice or out of order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

from agency_adapters.receivers.store import ReceiverStore
from agency_adapters.receivers.verify import InvalidEntry, Rejected, VerifiedEntry, check_next

log = logging.getLogger("agency_adapters.receivers")


@dataclass(frozen=True)
class Taken:
    """The outcome of a delivery: the highest sequence held with none missing before it,
    and how many entries were stored now (the rest were held already)."""

    accepted_through: int
    stored: int


class FeedReceiver:
    """Takes verified entries of agencies' feeds into a store, in order, once each."""

    def __init__(self, store: ReceiverStore) -> None:
        self._store = store
        self._lock = threading.Lock()

    @property
    def store(self) -> ReceiverStore:
        return self._store

    def accepted_through(self, agency_id: str) -> int:
        return self._store.head(agency_id).sequence

    def take(
        self, agency_id: str, entries: Sequence[VerifiedEntry], delivery_id: str | None = None
    ) -> Taken:
        """Stores the entries that are new, in order. On an entry it refuses, those
        before it stay stored and the Rejected raised carries ``accepted_through``."""
        stored = 0
        with self._lock:
            for entry in entries:
                head = self._store.head(agency_id)
                try:
                    if entry.agency_id != agency_id:
                        raise InvalidEntry(
                            f"an entry of {entry.agency_id!r} in {agency_id!r}'s batch"
                        )
                    new = check_next(
                        entry,
                        head.sequence,
                        head.entry_hash,
                        self._store.hash_at(agency_id, entry.sequence),
                    )
                except Rejected as exc:
                    exc.accepted_through = head.sequence
                    log.warning(
                        "rejected %s #%d: %s (accepted through %d)",
                        agency_id,
                        entry.sequence,
                        exc.reason,
                        head.sequence,
                    )
                    raise
                if not new:
                    log.info("held already %s #%d", agency_id, entry.sequence)
                    continue
                self._store.append(entry, delivery_id)
                stored += 1
                log.info(
                    "accepted %s #%d event %s signed %s by key %s",
                    agency_id,
                    entry.sequence,
                    entry.event_id,
                    entry.signed_at.isoformat(),
                    entry.key_id,
                )
            return Taken(self._store.head(agency_id).sequence, stored)
