"""The agencies' feeds as they read them: the signing keys, subscriptions and acknowledgements.

A subscription streams the agency's entries after the sequence it names,
then waits for the next commit notice (``ports.FeedNotices``) and streams
what was added, forever: it runs on the server's event loop and reads on
asynchronous connections, holding no thread. Entries are sent exactly as
sealed (the signed bytes); each one sent is one event in the audit trail
naming the recipient and the person it is about. An acknowledgement
records, in one statement, when the agency took every entry up to a
sequence, keeping the first time of each; the supervisors' report reads
the latency from it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from exchange_service.domain.agencies import Agency
from exchange_service.domain.audit import Actor, AuditEvent, AuditRecorder
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    PreconditionViolation,
)
from exchange_service.domain.feed import FeedEntry
from exchange_service.services.ports import AsyncFeedReads, FeedNotices, UnitOfWork
from exchange_service.signing.keyset import KeyValidity

# The audit trail's action for an entry that left Pantau, and the recipient's channel.
DELIVER_ACTION = "feed/deliver"
SUBSCRIBE_CHANNEL = "SUBSCRIBE"


class PublishedKeys(Protocol):
    """The feeds' public keys as published at an instant (``signing.keyset.KeySet``)."""

    @property
    def overlap(self) -> timedelta: ...

    def published(self, at: datetime) -> tuple[KeyValidity, ...]: ...

    def jwks(self, at: datetime) -> dict[str, Any]: ...


@dataclass(frozen=True)
class AlertFeedOptions:
    # A heartbeat when nothing was sent for this long.
    heartbeat_seconds: float
    # Entries read per statement.
    read_batch: int


@dataclass(frozen=True)
class FeedItem:
    """What a subscription sends next: an entry, or (None) a heartbeat."""

    entry: FeedEntry | None
    last_sequence: int


def no_feed(agency: Agency) -> FailedPrecondition:
    return FailedPrecondition(
        [
            PreconditionViolation(
                "NO_FEED",
                f"agencies/{agency.id}",
                f"agency {agency.id} has no alert feed (no [agency.feed] in the agencies file)",
            )
        ]
    )


def _beyond(field: str, value: int, last: int) -> InvalidInput:
    return InvalidInput(
        [FieldViolation(field, f"is {value}, beyond the feed's last sequence {last}")]
    )


class AlertFeeds:
    """The feeds' read side and acknowledgements."""

    def __init__(
        self,
        uow: UnitOfWork,
        reads: AsyncFeedReads,
        notices: FeedNotices,
        keys: PublishedKeys | None,
        options: AlertFeedOptions,
        *,
        audit: AuditRecorder | None = None,
        clock: Clock = system_clock,
    ) -> None:
        self._uow = uow
        self._reads = reads
        self._notices = notices
        self._keys = keys
        self._options = options
        self._audit = audit
        self._clock = clock

    @property
    def key_overlap(self) -> timedelta:
        """How long what a retired key signed still verifies."""
        return timedelta(0) if self._keys is None else self._keys.overlap

    def signing_keys(self) -> tuple[tuple[KeyValidity, ...], str]:
        """The published keys and the same as a JWKS document (JSON text)."""
        if self._keys is None:
            return (), json.dumps({"keys": []})
        now = self._clock()
        return self._keys.published(now), json.dumps(self._keys.jwks(now), sort_keys=True)

    def acknowledge(self, agency: Agency, sequence: int) -> tuple[int, int]:
        """Marks every entry up to ``sequence`` taken now; (acknowledged through, newly marked).

        ``InvalidInput`` naming ``sequence`` when it is below 1 or beyond the
        feed's last entry; nothing is written then.
        """
        if agency.feed is None:
            raise no_feed(agency)
        if sequence < 1:
            raise InvalidInput([FieldViolation("sequence", f"is {sequence}; it must be 1 or more")])
        with self._uow.begin() as tx:
            marked = tx.feed.acknowledge(agency.id, sequence, self._clock())
            if marked is None:
                raise InvalidInput(
                    [FieldViolation("sequence", f"is {sequence}, beyond the feed's last entry")]
                )
        return sequence, marked[1]

    async def subscribe(self, agency: Agency, after: int) -> AsyncGenerator[FeedItem, None]:
        """The agency's entries after ``after``, then each new one as it commits; forever.

        ``InvalidInput`` naming ``after_sequence`` when it is negative or
        beyond the feed's last entry. A heartbeat (no entry) goes out at once
        when there is no backlog, and when nothing else was sent for
        ``heartbeat_seconds``.
        """
        if agency.feed is None:
            raise no_feed(agency)
        if after < 0:
            raise InvalidInput(
                [FieldViolation("after_sequence", f"is {after}; it must be 0 or more")]
            )
        async with self._reads.read() as reader:
            last = await reader.feed_last_sequence(agency.id)
        if after > last:
            raise _beyond("after_sequence", after, last)
        actor = Actor.agency(agency.id, agency.kind.value)
        recipient = f"{agency.id}/{SUBSCRIBE_CHANNEL}"
        if after == last:
            # No backlog: say so at once, so the subscriber knows where the feed stands.
            yield FeedItem(None, last)
        while True:
            seen = self._notices.version(agency.id)
            async with self._reads.read() as reader:
                batch = await reader.feed_entries(agency.id, after, self._options.read_batch)
                last = await reader.feed_last_sequence(agency.id)
            for entry, person_id in batch:
                yield FeedItem(entry, max(last, entry.sequence))
                # Written: the entry has left Pantau.
                after = entry.sequence
                if self._audit is not None:
                    self._audit.record(
                        AuditEvent(
                            actor=actor,
                            action=DELIVER_ACTION,
                            outcome="OK",
                            person_ids=(person_id,) if person_id else (),
                            recipient=recipient,
                        )
                    )
            if len(batch) == self._options.read_batch:
                continue
            if self._notices.version(agency.id) == seen:
                await self._notices.wait(agency.id, seen, self._options.heartbeat_seconds)
                if self._notices.version(agency.id) == seen:
                    yield FeedItem(None, last)
