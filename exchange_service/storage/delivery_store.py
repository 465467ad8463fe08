"""The delivery lanes in the database: claimed with SKIP LOCKED, moved only under a fencing token.

A lane (one push channel of an agency, ``domain.delivery``) is one row of
``delivery_lanes``; nothing is queued per entry: the entries are the feed's
own sealed rows, and a lane is due when its agency's feed head is beyond its
cursor. Each method is one short transaction of its own:

* ``claim`` picks due lanes (not dead-lettered, their retry time come, no
  live lease), locks them ``FOR UPDATE SKIP LOCKED`` so concurrent workers
  pick different lanes without waiting on each other, and leases them with a
  token one higher than the last, all in one statement.
* ``advance``, ``fail`` and ``release`` change a lane only while its token
  is still the claim's: a worker whose lease ran out and was taken over
  finds its token gone and changes nothing. ``advance`` records the audit
  events of the entries delivered in the same transaction as the cursor, so
  the trail and the cursor never disagree.
* ``fail`` plans the retry with the policy's backoff, or dead-letters the
  lane: a row in ``delivery_dead_letters`` and a log line at ERROR (the
  operator's alert; ``pantau deliver status`` lists them and ``requeue``
  starts the lane again).

``FeedListener`` LISTENs on the feeds' commit notices (``pantau_feed``,
sent by ``feed_store``) so idle workers wake when entries are committed.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import psycopg
from sqlalchemy import Engine, bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, TEXT
from sqlalchemy.orm import sessionmaker

from exchange_service.domain.agencies import Agency
from exchange_service.domain.audit import AuditEvent
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.delivery import (
    DeadLetter,
    DeliveryPolicy,
    LaneClaim,
    LaneKey,
    LaneStatus,
    QueuedEntry,
)
from exchange_service.domain.errors import NotFound
from exchange_service.domain.feed import ChannelKind, FeedEntry
from exchange_service.storage.async_reads import libpq_url
from exchange_service.storage.audit_inbox import AuditInboxStore
from exchange_service.storage.feed_store import NOTIFY_CHANNEL

log = logging.getLogger(__name__)

# Errors kept on a lane and its dead letters are cut to this many characters.
_ERROR_CHARS = 2000

_SYNC = text(
    "INSERT INTO delivery_lanes AS l (agency_id, channel, next_attempt_at, updated_at)"
    " SELECT a, c, :now, :now FROM unnest(:agencies, :channels) AS n(a, c)"
    " ON CONFLICT (agency_id, channel) DO UPDATE SET enabled = true, updated_at = :now"
    " WHERE NOT l.enabled"
).bindparams(bindparam("agencies", type_=ARRAY(TEXT)), bindparam("channels", type_=ARRAY(TEXT)))
_DISABLE_OTHERS = text(
    "UPDATE delivery_lanes SET enabled = false, updated_at = :now"
    " WHERE enabled AND (agency_id, channel) NOT IN"
    " (SELECT a, c FROM unnest(:agencies, :channels) AS n(a, c))"
).bindparams(bindparam("agencies", type_=ARRAY(TEXT)), bindparam("channels", type_=ARRAY(TEXT)))
# Due: entries beyond the cursor, the retry time come, no live lease. The
# join reads the feed's head, so a lane with nothing to send costs no entry read.
_CLAIM = text(
    "WITH due AS ("
    "  SELECT l.agency_id, l.channel FROM delivery_lanes l"
    "  JOIN feed_heads h ON h.agency_id = l.agency_id"
    "  WHERE l.enabled AND l.dead_lettered_at IS NULL"
    "    AND h.last_sequence > l.delivered_through"
    "    AND l.next_attempt_at <= :now"
    "    AND (l.lease_expires_at IS NULL OR l.lease_expires_at <= :now)"
    "  ORDER BY l.next_attempt_at, l.agency_id, l.channel"
    "  LIMIT :limit"
    "  FOR UPDATE OF l SKIP LOCKED)"
    " UPDATE delivery_lanes l SET lease_owner = :worker, lease_token = l.lease_token + 1,"
    "  lease_expires_at = :expires, updated_at = :now"
    " FROM due WHERE l.agency_id = due.agency_id AND l.channel = due.channel"
    " RETURNING l.agency_id, l.channel, l.lease_token, l.delivered_through, l.attempts,"
    "  l.lease_expires_at"
)
_ENTRIES = text(
    "SELECT agency_id, sequence, event_seq, person_id, payload, payload_type, key_id,"
    " signature, previous_hash, signed_at FROM feed_entries"
    " WHERE agency_id = :agency_id AND sequence > :after ORDER BY sequence LIMIT :limit"
)
_FENCED = "agency_id = :agency_id AND channel = :channel AND lease_token = :token"
_ADVANCE = text(
    "UPDATE delivery_lanes SET delivered_through = GREATEST(delivered_through, :through),"
    " attempts = 0, last_error = NULL, lease_expires_at = :expires, updated_at = :now"
    f" WHERE {_FENCED} RETURNING delivered_through"
)
_RETRY = text(
    "UPDATE delivery_lanes SET attempts = :attempts, last_error = :error,"
    " next_attempt_at = :retry_at, lease_owner = NULL, lease_expires_at = NULL, updated_at = :now"
    f" WHERE {_FENCED} RETURNING delivered_through"
)
_DEAD_LETTER = text(
    "WITH lane AS ("
    "  UPDATE delivery_lanes SET attempts = :attempts, last_error = :error,"
    "   dead_lettered_at = :now, lease_owner = NULL, lease_expires_at = NULL, updated_at = :now"
    f"  WHERE {_FENCED} RETURNING agency_id, channel, delivered_through)"
    " INSERT INTO delivery_dead_letters"
    " (agency_id, channel, from_sequence, through_sequence, attempts, error, at)"
    " SELECT agency_id, channel, delivered_through + 1,"
    "  GREATEST(delivered_through + 1, :through), :attempts, :error, :now FROM lane"
    " RETURNING from_sequence, through_sequence"
)
_RELEASE = text(
    "UPDATE delivery_lanes SET lease_owner = NULL, lease_expires_at = NULL, updated_at = :now"
    f" WHERE {_FENCED} RETURNING 1"
)
_REQUEUE = text(
    "UPDATE delivery_lanes SET dead_lettered_at = NULL, attempts = 0, last_error = NULL,"
    " next_attempt_at = :now, updated_at = :now"
    " WHERE agency_id = :agency_id AND channel = :channel RETURNING 1"
)
_REQUEUE_LETTERS = text(
    "UPDATE delivery_dead_letters SET requeued_at = :now"
    " WHERE agency_id = :agency_id AND channel = :channel AND requeued_at IS NULL RETURNING id"
)
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', :agency_id)")
_STATUS = text(
    "SELECT l.agency_id, l.channel, l.enabled, l.delivered_through,"
    " coalesce(h.last_sequence, 0) AS last_sequence, l.attempts, l.next_attempt_at,"
    " l.lease_owner, l.lease_expires_at, l.last_error, l.dead_lettered_at"
    " FROM delivery_lanes l LEFT JOIN feed_heads h ON h.agency_id = l.agency_id"
    " ORDER BY l.agency_id, l.channel"
)
_DEAD_LETTERS = text(
    "SELECT id, agency_id, channel, from_sequence, through_sequence, attempts, error, at,"
    " requeued_at FROM delivery_dead_letters"
    " WHERE (:pending_only = false OR requeued_at IS NULL) ORDER BY id"
)


def _cut(error: str) -> str:
    # PostgreSQL text holds no NUL; a receiver's error text might.
    error = error.replace("\x00", "\ufffd")
    return error if len(error) <= _ERROR_CHARS else error[: _ERROR_CHARS - 1] + "…"


def _lane_params(claim: LaneClaim) -> dict[str, Any]:
    return {
        "agency_id": claim.lane.agency_id,
        "channel": str(claim.lane.channel),
        "token": claim.token,
    }


def push_lanes(agencies: Mapping[str, Agency]) -> list[LaneKey]:
    """The lanes the agencies file configures: one per push channel of each agency."""
    return sorted(
        {
            LaneKey(agency.id, channel.kind)
            for agency in agencies.values()
            for channel in agency.push
        }
    )


class DeliveryStore:
    """The delivery lanes on an engine: each method its own transaction (``services.delivery``
    uses it through the ``DeliveryQueue`` port)."""

    def __init__(
        self,
        engine: Engine,
        policy: DeliveryPolicy,
        *,
        clock: Clock = system_clock,
        rng: random.Random | None = None,
    ) -> None:
        self._engine = engine
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)
        self.policy = policy
        self._clock = clock
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not a secret

    def sync_lanes(self, agencies: Mapping[str, Agency]) -> list[LaneKey]:
        """Creates a lane for each configured push channel (cursor 0) and disables the lanes
        no longer configured (kept, with their cursor, should they come back)."""
        lanes = push_lanes(agencies)
        params = {
            "agencies": [lane.agency_id for lane in lanes],
            "channels": [str(lane.channel) for lane in lanes],
            "now": self._clock(),
        }
        with self._sessions.begin() as session:
            session.execute(_SYNC, params)
            session.execute(_DISABLE_OTHERS, params)
        return lanes

    def claim(self, worker_id: str, limit: int, lease_seconds: float) -> list[LaneClaim]:
        """Leases up to ``limit`` due lanes to ``worker_id``, each with a new fencing token.

        Lanes another transaction holds locked are skipped, not waited for;
        a lane whose lease expired is taken over (its token goes up).
        """
        now = self._clock()
        params = {
            "worker": worker_id,
            "limit": limit,
            "now": now,
            "expires": now + timedelta(seconds=lease_seconds),
        }
        with self._sessions.begin() as session:
            rows = session.execute(_CLAIM, params).all()
        return [
            LaneClaim(
                lane=LaneKey(row.agency_id, ChannelKind(row.channel)),
                worker_id=worker_id,
                token=int(row.lease_token),
                delivered_through=int(row.delivered_through),
                attempts=int(row.attempts),
                lease_expires_at=row.lease_expires_at,
            )
            for row in sorted(rows, key=lambda r: (r.agency_id, r.channel))
        ]

    def entries(self, lane: LaneKey, after: int, limit: int) -> list[QueuedEntry]:
        """The lane's agency's entries after sequence ``after``, at most ``limit``, in order."""
        with self._engine.connect() as connection:
            rows = connection.execute(
                _ENTRIES, {"agency_id": lane.agency_id, "after": after, "limit": limit}
            ).all()
        return [
            QueuedEntry(
                FeedEntry(
                    agency_id=row.agency_id,
                    sequence=int(row.sequence),
                    event_seq=int(row.event_seq),
                    payload=bytes(row.payload),
                    payload_type=row.payload_type,
                    key_id=row.key_id,
                    signature=bytes(row.signature),
                    previous_hash=bytes(row.previous_hash),
                    signed_at=row.signed_at,
                ),
                row.person_id,
            )
            for row in rows
        ]

    def advance(
        self,
        claim: LaneClaim,
        through: int,
        events: Sequence[AuditEvent],
        *,
        lease_seconds: float,
    ) -> bool:
        """Moves the lane's cursor to ``through`` and records ``events`` (one per entry
        delivered) in the audit inbox, together; renews the lease.

        False, with nothing written, when the claim's token is no longer the
        lane's (the lease was taken over): the caller must stop delivering it.
        """
        now = self._clock()
        params = _lane_params(claim) | {
            "through": through,
            "now": now,
            "expires": now + timedelta(seconds=lease_seconds),
        }
        with self._sessions.begin() as session:
            moved = session.execute(_ADVANCE, params).scalar_one_or_none()
            if moved is None:
                return False
            # One statement for the batch's events, in the advance's transaction.
            AuditInboxStore(session).record_all(events, now)
        return True

    def fail(
        self,
        claim: LaneClaim,
        error: str,
        *,
        retryable: bool,
        attempted_through: int,
    ) -> LaneStatus | None:
        """Records a failed push and releases the lease: the lane is retried after the
        policy's backoff, or dead-lettered (a ``delivery_dead_letters`` row naming the
        entries from the cursor to ``attempted_through``, and an ERROR log line).

        Returns the lane as it is now; None when the token is no longer the lane's
        (nothing was written).
        """
        now = self._clock()
        plan = self.policy.after_failure(claim.attempts, retryable=retryable, at=now, rng=self._rng)
        params = _lane_params(claim) | {
            "attempts": plan.attempts,
            "error": _cut(error),
            "now": now,
        }
        with self._sessions.begin() as session:
            if plan.retry_at is not None:
                moved = session.execute(
                    _RETRY, params | {"retry_at": plan.retry_at}
                ).scalar_one_or_none()
                if moved is None:
                    return None
                log.warning(
                    "delivery to %s failed (attempt %d of %d), retrying at %s: %s",
                    claim.lane.recipient,
                    plan.attempts,
                    self.policy.max_attempts,
                    plan.retry_at.isoformat(),
                    error,
                )
            else:
                letter = session.execute(
                    _DEAD_LETTER, params | {"through": attempted_through}
                ).one_or_none()
                if letter is None:
                    return None
                # The operator's alert: the lane is stopped until requeued.
                log.error(
                    "delivery to %s DEAD-LETTERED after %d attempts, entries %d..%d: %s;"
                    " the lane is stopped: `pantau deliver requeue --agency %s --channel %s`",
                    claim.lane.recipient,
                    plan.attempts,
                    letter.from_sequence,
                    letter.through_sequence,
                    error,
                    claim.lane.agency_id,
                    claim.lane.channel,
                )
        return self.lane(claim.lane)

    def release(self, claim: LaneClaim) -> bool:
        """Gives the lane up so any worker may claim it at once; False if the token had
        passed already (nothing changed)."""
        with self._sessions.begin() as session:
            released = session.execute(
                _RELEASE, _lane_params(claim) | {"now": self._clock()}
            ).scalar_one_or_none()
        return released is not None

    def requeue(self, lane: LaneKey) -> bool:
        """Starts a lane again from its cursor: clears its dead letter and its failures,
        marks its dead letters requeued, and wakes the workers.

        Returns whether the lane was dead-lettered; ``NotFound`` if there is no such lane.
        """
        params = {"agency_id": lane.agency_id, "channel": str(lane.channel), "now": self._clock()}
        with self._sessions.begin() as session:
            row = session.execute(_REQUEUE, params).one_or_none()
            if row is None:
                raise NotFound("delivery lane", lane.recipient, "agency")
            letters = session.execute(_REQUEUE_LETTERS, params).all()
            session.execute(_NOTIFY, params)
        return bool(letters)

    def lanes(self) -> list[LaneStatus]:
        """Every lane with its cursor, its feed's last sequence, lease and failures."""
        with self._engine.connect() as connection:
            rows = connection.execute(_STATUS).all()
        return [_status(row) for row in rows]

    def lane(self, lane: LaneKey) -> LaneStatus | None:
        """One lane's status, if it exists."""
        for status in self.lanes():
            if status.lane == lane:
                return status
        return None

    def dead_letters(self, *, pending_only: bool = False) -> list[DeadLetter]:
        """The dead letters, oldest first; ``pending_only``: those not requeued yet."""
        with self._engine.connect() as connection:
            rows = connection.execute(_DEAD_LETTERS, {"pending_only": pending_only}).all()
        return [
            DeadLetter(
                id=int(row.id),
                lane=LaneKey(row.agency_id, ChannelKind(row.channel)),
                from_sequence=int(row.from_sequence),
                through_sequence=int(row.through_sequence),
                attempts=int(row.attempts),
                error=row.error,
                at=row.at,
                requeued_at=row.requeued_at,
            )
            for row in rows
        ]


def _status(row: Any) -> LaneStatus:
    return LaneStatus(
        lane=LaneKey(row.agency_id, ChannelKind(row.channel)),
        enabled=bool(row.enabled),
        delivered_through=int(row.delivered_through),
        last_sequence=int(row.last_sequence),
        attempts=int(row.attempts),
        next_attempt_at=row.next_attempt_at,
        lease_owner=row.lease_owner,
        lease_expires_at=row.lease_expires_at,
        last_error=row.last_error,
        dead_lettered_at=row.dead_lettered_at,
    )


class FeedListener:
    """Wakes idle delivery workers when a feed commits entries (or a lane is requeued).

    A thread of its own holds one autocommit connection that LISTENs on
    ``pantau_feed``. When the connection drops it reconnects with backoff and
    then wakes the waiters once, since notices sent meanwhile are lost; the
    workers also poll, so a lost notice costs at most one poll interval.
    """

    def __init__(self, url: str, *, application_name: str = "pantau-deliver-listen") -> None:
        self._conninfo = libpq_url(url)
        self._application_name = application_name
        self._woken = threading.Event()
        self._closing = threading.Event()
        self._listening = threading.Event()
        self._connection: psycopg.Connection[Any] | None = None
        self._thread = threading.Thread(target=self._listen, name="feed-listener", daemon=True)
        self._thread.start()

    def wait(self, timeout: float) -> bool:
        """Waits up to ``timeout`` seconds for a notice; True if one came (and resets it)."""
        woken = self._woken.wait(timeout)
        self._woken.clear()
        return woken

    def wake(self) -> None:
        """Wakes the waiter now (a stop request, a test)."""
        self._woken.set()

    def listening(self, timeout: float) -> bool:
        """Whether the LISTEN is in place, waiting up to ``timeout`` seconds for it."""
        return self._listening.wait(timeout)

    def close(self) -> None:
        self._closing.set()
        self._woken.set()
        self._thread.join(timeout=5.0)

    def _listen(self) -> None:
        delay = 0.5
        while not self._closing.is_set():
            try:
                with psycopg.Connection.connect(
                    self._conninfo, autocommit=True, application_name=self._application_name
                ) as connection:
                    connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self._listening.set()
                    self._woken.set()  # anything committed while not listening
                    delay = 0.5
                    while not self._closing.is_set():
                        # A short timeout, so a close is noticed without a notice.
                        for _notice in connection.notifies(timeout=0.5):
                            self._woken.set()
            except psycopg.Error as error:
                self._listening.clear()
                if self._closing.is_set():
                    return
                log.warning("feed listener: %s; listening again in %.1f s", error, delay)
                self._closing.wait(delay)
                delay = min(delay * 2, 10.0)
