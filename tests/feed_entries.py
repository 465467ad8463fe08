"""Signed feed entries for the tests of senders, receivers and `pantau verify`.

Entries are made as Pantau seals them (``wire.feed.entry_payload`` and the
DSSE PAE of ``domain.feed``), signed by a real key set in a temporary
directory; a test that needs an entry a key should not have signed makes it
with the key's signer directly.
"""

from __future__ import annotations

import dataclasses
import hashlib
import uuid
from datetime import datetime, timedelta
from pathlib import Path

from exchange_service.domain import alerts
from exchange_service.domain.feed import PAYLOAD_TYPE, ZERO_HASH, FeedEntry, pae
from exchange_service.signing.keyset import KeySet, Signer
from exchange_service.wire.feed import entry_payload

PASSPHRASE = b"test feed key passphrase"


def key_set(directory: Path, valid_from: datetime) -> KeySet:
    """A key set in ``directory`` whose first key signs from ``valid_from``."""
    return KeySet.open(directory, PASSPHRASE, create_at=valid_from)


def alert_event(seq: int, at: datetime, *, district_code: str = "21.05.01") -> alerts.AlertEvent:
    """An overstay alert opening, as a rule run records it."""
    return alerts.AlertEvent(
        seq=seq,
        alert_id=uuid.UUID(int=seq),
        kind=alerts.AlertEventKind.OPENED,
        rule=alerts.RuleName.OVERSTAY,
        subject_kind=alerts.SubjectKind.PERSON,
        subject_id=str(uuid.UUID(int=1000 + seq)),
        stay_id=uuid.UUID(int=2000 + seq),
        severity=alerts.Severity.HIGH,
        status=alerts.AlertStatus.OPEN,
        district_code=district_code,
        village_code=district_code + ".2001",
        evidence={"days_over": 37 + seq, "nationality": "VNM"},
        summary_id=f"Melampaui izin tinggal selama {37 + seq} hari.",
        summary_en=f"Overstayed by {37 + seq} days.",
        action=alerts.AdministrativeAction.OVERSTAY_FEE,
        resolution_reason=None,
        actor_id="system",
        actor_kind="SYSTEM",
        officer="",
        note="",
        rule_run_id=uuid.UUID(int=3000 + seq),
        occurred_at=at,
        recorded_at=at,
    )


def signed_entry(
    signer: Signer,
    agency_id: str,
    sequence: int,
    previous_hash: bytes,
    signed_at: datetime,
    *,
    event_seq: int | None = None,
) -> FeedEntry:
    """One entry signed by ``signer`` at ``signed_at`` (whether or not its key was valid)."""
    seq = sequence * 10 if event_seq is None else event_seq
    payload = entry_payload(
        alert_event(seq, signed_at),
        agency_id=agency_id,
        sequence=sequence,
        previous_hash=previous_hash,
        signed_at=signed_at,
    )
    return FeedEntry(
        agency_id=agency_id,
        sequence=sequence,
        event_seq=seq,
        payload=payload,
        payload_type=PAYLOAD_TYPE,
        key_id=signer.key_id,
        signature=signer.sign(pae(PAYLOAD_TYPE, payload)),
        previous_hash=previous_hash,
        signed_at=signed_at,
    )


def chain(
    keys: KeySet,
    agency_id: str,
    count: int,
    start: datetime,
    *,
    first: int = 1,
    previous_hash: bytes = ZERO_HASH,
    step: timedelta = timedelta(seconds=1),
) -> list[FeedEntry]:
    """``count`` consecutive entries from sequence ``first``, each signed by the key valid
    at its time (``start`` plus ``step`` per entry)."""
    entries: list[FeedEntry] = []
    for offset in range(count):
        at = start + step * offset
        entry = signed_entry(keys.signer_at(at), agency_id, first + offset, previous_hash, at)
        entries.append(entry)
        previous_hash = entry.hash
    return entries


def flip_bit(data: bytes, bit: int) -> bytes:
    """``data`` with one bit inverted (``bit`` counted from the first byte's lowest)."""
    changed = bytearray(data)
    changed[bit // 8] ^= 1 << (bit % 8)
    return bytes(changed)


def with_payload(entry: FeedEntry, payload: bytes) -> FeedEntry:
    """The entry with other payload bytes and its signature unchanged (a tampered entry)."""
    return dataclasses.replace(entry, payload=payload)


def digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
