"""Bulk-seeds an agency's feed for benchmarks and delivery tests: N signed entries, fast.

One sponsor alert gets N events (one ``INSERT ... SELECT generate_series``), and
the agency's feed gets one entry per event, appended after its head: each a
real ``pantau.v1.AlertEvent`` payload with its feed position and previous
hash, signed over DSSE's PAE with a throwaway Ed25519 key (``key_id``
``bench-seed``: no receiver should trust it), written with COPY. The
entries are what ``FeedWriter`` writes, minus the disclosure of a real
alert: enough for the delivery queue, which moves bytes and never reads them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from google.protobuf.timestamp_pb2 import Timestamp
from pantau.v1 import alerts_pb2 as apb
from sqlalchemy import Engine

from exchange_service.domain.feed import PAYLOAD_TYPE, ZERO_HASH, entry_hash, pae
from exchange_service.storage.feed_store import NOTIFY_CHANNEL

SEED_KEY_ID = "bench-seed"

_ALERT = (
    "INSERT INTO alerts (id, rule, subject_kind, subject_id, severity, status, evidence,"
    " summary_id, summary_en, action, facts, first_detected_at, changed_at)"
    " VALUES (%(id)s, 'SPONSOR_OVERSTAY_CLUSTER', 'SPONSOR', %(subject)s, 'HIGH', 'OPEN',"
    " '{}'::jsonb, 'benih', 'seed', 'SPONSOR_REVIEW', '', %(at)s, %(at)s)"
)
_EVENTS = (
    "INSERT INTO alert_events (alert_id, kind, rule, subject_kind, subject_id, severity, status,"
    " evidence, summary_id, summary_en, action, actor_id, actor_kind, occurred_at)"
    " SELECT %(id)s, 'UPDATED', 'SPONSOR_OVERSTAY_CLUSTER', 'SPONSOR', %(subject)s, 'HIGH',"
    " 'OPEN', '{}'::jsonb, 'benih', 'seed', 'SPONSOR_REVIEW', 'bench-seed', 'SYSTEM', %(at)s"
    " FROM generate_series(1, %(count)s) RETURNING seq"
)
_HEAD = (
    "INSERT INTO feed_heads (agency_id, last_sequence, last_hash) VALUES (%(agency)s, 0, %(zero)s)"
    " ON CONFLICT (agency_id) DO NOTHING;"
)
_LOCK_HEAD = "SELECT last_sequence, last_hash FROM feed_heads WHERE agency_id = %s FOR UPDATE"
_COPY = (
    "COPY feed_entries (agency_id, sequence, event_seq, person_id, payload, payload_type,"
    " key_id, signature, previous_hash, entry_hash, signed_at) FROM STDIN"
)
_MOVE_HEAD = (
    "UPDATE feed_heads SET last_sequence = %s, last_hash = %s, updated_at = now()"
    " WHERE agency_id = %s"
)


class SeedSigner(Protocol):
    """A feed key that signs (``signing.keyset.Signer``), for entries receivers will trust."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


@dataclass(frozen=True)
class SeededFeed:
    """What was seeded: the agency's sequences ``first..last`` (its head is ``last``)."""

    agency_id: str
    first: int
    last: int

    @property
    def count(self) -> int:
        return self.last - self.first + 1


def seed_feed(
    engine: Engine,
    agency_id: str,
    count: int,
    *,
    signed_at: datetime | None = None,
    person_ids: bool = True,
    signer: SeedSigner | None = None,
) -> SeededFeed:
    """Appends ``count`` signed entries to the agency's feed after its head, in one
    transaction (notified at commit as a writer would). ``person_ids``: each entry names
    a distinct made-up person, so the delivery audit has someone to name. ``signer``: a
    feed key receivers trust (default a throwaway key none does)."""
    if count < 1:
        raise ValueError("count: seed at least one entry")
    at = signed_at or datetime.now(UTC)
    sign: Callable[[bytes], bytes]
    if signer is None:
        throwaway = Ed25519PrivateKey.generate()
        key_id, sign = SEED_KEY_ID, throwaway.sign
    else:
        key_id, sign = signer.key_id, signer.sign
    alert_id = uuid.uuid4()
    subject = f"BENCH-{alert_id.hex[:8]}"
    stamp = Timestamp()
    stamp.FromDatetime(at.astimezone(UTC).replace(tzinfo=None))
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cursor:  # type: ignore[union-attr]
            cursor.execute(_HEAD, {"agency": agency_id, "zero": ZERO_HASH})
            cursor.execute(_LOCK_HEAD, (agency_id,))
            head = cursor.fetchone()
            last, previous = int(head[0]), bytes(head[1])
            cursor.execute(_ALERT, {"id": alert_id, "subject": subject, "at": at})
            cursor.execute(_EVENTS, {"id": alert_id, "subject": subject, "at": at, "count": count})
            event_seqs = sorted(int(row[0]) for row in cursor.fetchall())
            first = last + 1
            with cursor.copy(_COPY) as copy:
                for offset, event_seq in enumerate(event_seqs):
                    sequence = first + offset
                    message = apb.AlertEvent(
                        seq=event_seq,
                        alert_id=str(alert_id),
                        subject_id=subject,
                        summary_en="seed",
                        feed=apb.FeedPosition(
                            agency_id=agency_id,
                            sequence=sequence,
                            previous_hash=previous,
                            signed_at=stamp,
                        ),
                    )
                    payload = message.SerializeToString(deterministic=True)
                    digest = entry_hash(payload)
                    copy.write_row(
                        (
                            agency_id,
                            sequence,
                            event_seq,
                            f"person-{sequence}" if person_ids else "",
                            payload,
                            PAYLOAD_TYPE,
                            key_id,
                            sign(pae(PAYLOAD_TYPE, payload)),
                            previous,
                            digest,
                            at,
                        )
                    )
                    previous = digest
            last = first + count - 1
            cursor.execute(_MOVE_HEAD, (last, previous, agency_id))
            cursor.execute("SELECT pg_notify(%s, %s)", (NOTIFY_CHANNEL, agency_id))
        connection.commit()  # type: ignore[union-attr]
    except BaseException:
        raw.rollback()
        raise
    finally:
        raw.close()
    return SeededFeed(agency_id, first, last)
