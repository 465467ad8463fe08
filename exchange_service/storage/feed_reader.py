"""An agency's feed read in sequence order on a synchronous connection, for exports.

The entries come back exactly as sealed (the signed payload bytes), in
batches by sequence so that a long feed is never held in memory at once and
a batch's query is an index range scan on the primary key.
"""

from __future__ import annotations

from collections.abc import Iterator

from sqlalchemy import Engine, select

from exchange_service.domain.feed import FeedEntry
from exchange_service.storage.tables import FeedEntryRow

_ENTRIES = FeedEntryRow.__table__


def read_feed(engine: Engine, agency_id: str, *, batch: int = 500) -> Iterator[FeedEntry]:
    """Every entry of the agency's feed, sequence 1 first; none for an agency without one."""
    after = 0
    columns = _ENTRIES.c
    while True:
        query = (
            select(
                columns.agency_id,
                columns.sequence,
                columns.event_seq,
                columns.payload,
                columns.payload_type,
                columns.key_id,
                columns.signature,
                columns.previous_hash,
                columns.signed_at,
            )
            .where(columns.agency_id == agency_id, columns.sequence > after)
            .order_by(columns.sequence)
            .limit(batch)
        )
        with engine.connect() as connection:
            rows = connection.execute(query).all()
        for row in rows:
            yield FeedEntry(
                agency_id=row.agency_id,
                sequence=row.sequence,
                event_seq=row.event_seq,
                payload=bytes(row.payload),
                payload_type=row.payload_type,
                key_id=row.key_id,
                signature=bytes(row.signature),
                previous_hash=bytes(row.previous_hash),
                signed_at=row.signed_at,
            )
        if len(rows) < batch:
            return
        after = rows[-1].sequence
