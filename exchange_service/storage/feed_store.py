"""The agencies' feeds inside a caller's transaction: the heads locked in order, entries appended.

The transaction that appends to an agency's feed locks the agency's head
row (``FOR UPDATE``, agencies in id order so two writers cannot deadlock)
and holds it to commit. The next writer of that agency waits for the lock,
then reads the head as committed: so the agency's sequence numbers are
handed out in commit order, and a reader that has read every entry up to N
never later finds one below N. The entries of a transaction are inserted in
one statement; the head moves in the same transaction, and ``pg_notify``
tells the listeners (the subscriptions, the delivery workers) at commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import bindparam, text
from sqlalchemy.dialects.postgresql import ARRAY, BIGINT, BYTEA, TEXT, TIMESTAMP
from sqlalchemy.orm import Session

from exchange_service.domain.feed import ZERO_HASH, FeedEntry

# The channel of the commit notices; the payload is the agency's id.
NOTIFY_CHANNEL = "pantau_feed"

_ENSURE_HEADS = text(
    "INSERT INTO feed_heads (agency_id, last_sequence, last_hash)"
    " SELECT id, 0, :zero FROM unnest(CAST(:ids AS text[])) AS id"
    " ON CONFLICT (agency_id) DO NOTHING"
)
_LOCK_HEADS = text(
    "SELECT agency_id, last_sequence, last_hash FROM feed_heads"
    " WHERE agency_id = ANY(CAST(:ids AS text[])) ORDER BY agency_id FOR UPDATE"
)
_APPEND = text(
    "INSERT INTO feed_entries (agency_id, sequence, event_seq, person_id, payload, payload_type,"
    " key_id, signature, previous_hash, entry_hash, signed_at)"
    " SELECT * FROM unnest(:agency_id, :sequence, :event_seq, :person_id, :payload,"
    " :payload_type, :key_id, :signature, :previous_hash, :entry_hash, :signed_at)"
).bindparams(
    bindparam("agency_id", type_=ARRAY(TEXT)),
    bindparam("sequence", type_=ARRAY(BIGINT)),
    bindparam("event_seq", type_=ARRAY(BIGINT)),
    bindparam("person_id", type_=ARRAY(TEXT)),
    bindparam("payload", type_=ARRAY(BYTEA)),
    bindparam("payload_type", type_=ARRAY(TEXT)),
    bindparam("key_id", type_=ARRAY(TEXT)),
    bindparam("signature", type_=ARRAY(BYTEA)),
    bindparam("previous_hash", type_=ARRAY(BYTEA)),
    bindparam("entry_hash", type_=ARRAY(BYTEA)),
    bindparam("signed_at", type_=ARRAY(TIMESTAMP(timezone=True))),
)
_ADVANCE = text(
    "UPDATE feed_heads h SET last_sequence = n.sequence, last_hash = n.hash, updated_at = now()"
    " FROM unnest(:ids, :sequences, :hashes) AS n(agency_id, sequence, hash)"
    " WHERE h.agency_id = n.agency_id"
).bindparams(
    bindparam("ids", type_=ARRAY(TEXT)),
    bindparam("sequences", type_=ARRAY(BIGINT)),
    bindparam("hashes", type_=ARRAY(BYTEA)),
)
_NOTIFY = text(f"SELECT pg_notify('{NOTIFY_CHANNEL}', id) FROM unnest(CAST(:ids AS text[])) AS id")


_ACKNOWLEDGE = text(
    "WITH head AS (SELECT last_sequence FROM feed_heads WHERE agency_id = :agency_id),"
    " acknowledged AS ("
    "  UPDATE feed_entries SET acknowledged_at = :at"
    "  WHERE agency_id = :agency_id AND sequence <= :sequence AND acknowledged_at IS NULL"
    "    AND :sequence <= (SELECT last_sequence FROM head)"
    "  RETURNING 1)"
    " SELECT (SELECT last_sequence FROM head) AS last_sequence,"
    " (SELECT count(*) FROM acknowledged) AS newly"
)


class FeedStore:
    """The feed tables as one transaction writes them."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_heads(self, agency_ids: Iterable[str]) -> dict[str, tuple[int, bytes]]:
        """Each agency's last sequence and hash, locked until the transaction ends."""
        ids = sorted(set(agency_ids))
        if not ids:
            return {}
        self.session.execute(_ENSURE_HEADS, {"ids": ids, "zero": ZERO_HASH})
        rows = self.session.execute(_LOCK_HEADS, {"ids": ids})
        return {row.agency_id: (row.last_sequence, bytes(row.last_hash)) for row in rows}

    def append(self, entries: Sequence[FeedEntry], person_ids: Sequence[str]) -> None:
        """Inserts the entries (each agency's consecutive after its locked head), moves the
        heads to their last, and notifies the listeners at commit."""
        if not entries:
            return
        self.session.execute(
            _APPEND,
            {
                "agency_id": [e.agency_id for e in entries],
                "sequence": [e.sequence for e in entries],
                "event_seq": [e.event_seq for e in entries],
                "person_id": list(person_ids),
                "payload": [e.payload for e in entries],
                "payload_type": [e.payload_type for e in entries],
                "key_id": [e.key_id for e in entries],
                "signature": [e.signature for e in entries],
                "previous_hash": [e.previous_hash for e in entries],
                "entry_hash": [e.hash for e in entries],
                "signed_at": [e.signed_at for e in entries],
            },
        )
        last: dict[str, FeedEntry] = {}
        for entry in entries:
            last[entry.agency_id] = entry
        self.session.execute(
            _ADVANCE,
            {
                "ids": list(last),
                "sequences": [e.sequence for e in last.values()],
                "hashes": [e.hash for e in last.values()],
            },
        )
        self.session.execute(_NOTIFY, {"ids": list(last)})

    def acknowledge(self, agency_id: str, sequence: int, at: datetime) -> tuple[int, int] | None:
        """Marks the agency's entries up to ``sequence`` taken at ``at`` (those not yet marked).

        Returns the feed's last sequence and how many were marked now; None when
        ``sequence`` is beyond the last (nothing is marked then).
        """
        row = self.session.execute(
            _ACKNOWLEDGE, {"agency_id": agency_id, "sequence": sequence, "at": at}
        ).one()
        last = row.last_sequence or 0
        if sequence > last:
            return None
        return last, row.newly
