"""The seal: each alert event, in the transaction that writes it, into the feeds that carry it.

For every agency whose subscription (the agencies file) carries an event,
``FeedWriter.append`` builds the agency's entry inside the event's own
transaction (the transactional outbox): the event disclosed to the agency's
data view (``domain.disclosure``, so no entry holds a field outside the
view), encoded with its feed position (the agency's next sequence, the
previous entry's hash, the signing time) by the injected encoder
(``wire.feed.entry_payload``; the use cases know no protobuf), and signed
over DSSE's pre-authentication encoding by the key in use at that time. The
heads are locked until commit (``ports.FeedStore``), so each agency's
sequence follows commit order, and an event rolled back leaves no entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol

from exchange_service.domain.agencies import Agency
from exchange_service.domain.alerts import AlertEvent, SubjectKind
from exchange_service.domain.clock import Clock
from exchange_service.domain.disclosure import disclose
from exchange_service.domain.feed import PAYLOAD_TYPE, FeedEntry, entry_hash, pae
from exchange_service.services.ports import Transaction


class PayloadEncoder(Protocol):
    """The bytes of an entry's payload: the (disclosed) event with its feed position."""

    def __call__(
        self,
        event: AlertEvent,
        *,
        agency_id: str,
        sequence: int,
        previous_hash: bytes,
        signed_at: datetime,
    ) -> bytes: ...


class Signer(Protocol):
    """A signing key in use: its id, and Ed25519 signatures (64 bytes) by it."""

    @property
    def key_id(self) -> str: ...

    def sign(self, message: bytes) -> bytes: ...


class SigningKeys(Protocol):
    """The feeds' keys: the one that signs at a given instant (``signing.keyset.KeySet``)."""

    def signer_at(self, at: datetime) -> Signer: ...


class FeedWriter:
    """Seals alert events into the feeds of the agencies that subscribe to them."""

    def __init__(
        self,
        agencies: Mapping[str, Agency],
        encode: PayloadEncoder,
        keys: SigningKeys | None,
        clock: Clock,
    ) -> None:
        # In id order: the order the heads are locked in.
        self._subscribers = tuple(
            agency for _, agency in sorted(agencies.items()) if agency.feed is not None
        )
        if self._subscribers and keys is None:
            raise ValueError(
                "agencies "
                + ", ".join(a.id for a in self._subscribers)
                + " have feeds, but no signing keys were given"
            )
        self._encode = encode
        self._keys = keys
        self._clock = clock

    @property
    def agencies(self) -> tuple[Agency, ...]:
        """The agencies with a feed."""
        return self._subscribers

    def append(self, tx: Transaction, events: Sequence[AlertEvent]) -> int:
        """Appends the events, in order, to every feed that carries them; returns the entries."""
        carried = [
            (agency, [e for e in events if agency.feed is not None and agency.feed.carries(e)])
            for agency in self._subscribers
        ]
        carried = [(agency, chosen) for agency, chosen in carried if chosen]
        if not carried or self._keys is None:
            return 0
        heads = tx.feed.lock_heads(agency.id for agency, _ in carried)
        # After the lock: a writer that waited for another signs after that one committed.
        signed_at = self._clock()
        signer = self._keys.signer_at(signed_at)
        entries: list[FeedEntry] = []
        persons: list[str] = []
        for agency, chosen in carried:
            sequence, previous = heads[agency.id]
            for event in sorted(chosen, key=lambda e: e.seq):
                sequence += 1
                payload = self._encode(
                    disclose(event, agency.view),
                    agency_id=agency.id,
                    sequence=sequence,
                    previous_hash=previous,
                    signed_at=signed_at,
                )
                entries.append(
                    FeedEntry(
                        agency_id=agency.id,
                        sequence=sequence,
                        event_seq=event.seq,
                        payload=payload,
                        payload_type=PAYLOAD_TYPE,
                        key_id=signer.key_id,
                        signature=signer.sign(pae(PAYLOAD_TYPE, payload)),
                        previous_hash=previous,
                        signed_at=signed_at,
                    )
                )
                persons.append(event.subject_id if event.subject_kind is SubjectKind.PERSON else "")
                previous = entry_hash(payload)
        tx.feed.append(entries, persons)
        return len(entries)
