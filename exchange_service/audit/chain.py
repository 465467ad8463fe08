"""The audit trail as a hash chain with signed checkpoints: checkpoints and verification.

Pure: no I/O, no clock, no database. With the record's definition and
encoding (``exchange_service.domain.audit``), everything a third party needs
to check an audit trail offline is here, and it is small enough to
re-implement.

Checkpoints (stable; a change needs a new format version):

* A checkpoint signs ``canonical({"at", "head", "key_id", "seq"})`` with
  Ed25519; ``head`` is the hash of record ``seq``, so a valid checkpoint
  vouches for every record from the start of the chain up to ``seq``.
* ``key_id`` is the first 16 hex digits of sha256 of the raw 32-byte public key.
* Signing keys are rotated: a verifier holds a ``Keyring`` of the key in use
  and the retired ones, each retired key trusted only for checkpoints up to
  the last seq it signed before it was retired.

``verify_chain`` finds every kind of change to the records: an edited record
(its hash no longer matches its content), a record edited *with* a recomputed
hash, or one deleted or inserted (the next record's ``prev_hash`` no longer
links, or the sequence numbers skip or repeat), a rewritten stretch (a
checkpoint's head no longer matches), and a truncated end (a checkpoint covers
a sequence number past the last record). Records after the last checkpoint
are only protected by the chain itself: they are reported as an unsigned tail,
a note rather than a problem, because a running service always has one for up
to ``audit_checkpoint_every_seconds``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange_service.domain.audit import (
    GENESIS,
    GENESIS_HASH,
    AuditRecord,
    ChainHead,
    build_record,
    canonical,
    format_time,
    is_hex64,
    parse_time,
)
from exchange_service.signing import Keyring, key_id, sign, signature_valid

__all__ = [
    "GENESIS",
    "GENESIS_HASH",
    "AuditRecord",
    "ChainHead",
    "ChainVerifier",
    "Checkpoint",
    "Keyring",
    "Problem",
    "VerificationReport",
    "build_record",
    "canonical",
    "checkpoint_valid",
    "format_time",
    "is_hex64",
    "key_id",
    "parse_time",
    "sign_checkpoint",
    "signature_valid",
    "verify_chain",
]

CHECKPOINT_FIELDS = ("seq", "head", "at", "key_id", "signature")


# --- checkpoints ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A signature over the chain's head at ``seq``: it vouches for records 1..seq."""

    seq: int
    head: str
    at: datetime
    key_id: str
    signature: str  # base64 of the 64-byte Ed25519 signature

    def message(self) -> bytes:
        """The signed bytes."""
        return checkpoint_message(self.seq, self.head, self.at, self.key_id)

    def to_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "head": self.head,
            "at": format_time(self.at),
            "key_id": self.key_id,
            "signature": self.signature,
        }

    @classmethod
    def from_json(cls, data: object) -> Checkpoint:
        """A checkpoint from ``to_json`` output; ``ValueError`` when anything is malformed."""
        if not isinstance(data, Mapping) or set(data) != set(CHECKPOINT_FIELDS):
            raise ValueError(
                "a checkpoint needs exactly the fields " + ", ".join(CHECKPOINT_FIELDS)
            )
        seq = data["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise ValueError("seq must be an integer")
        for name in ("head", "key_id", "signature"):
            if not isinstance(data[name], str):
                raise ValueError(f"{name} must be a string")
        return cls(
            seq=seq,
            head=data["head"],
            at=parse_time(data["at"]),
            key_id=data["key_id"],
            signature=data["signature"],
        )


def checkpoint_message(seq: int, head: str, at: datetime, signer: str) -> bytes:
    return canonical({"seq": seq, "head": head, "at": format_time(at), "key_id": signer})


def sign_checkpoint(private_key: Ed25519PrivateKey, head: ChainHead, at: datetime) -> Checkpoint:
    """A checkpoint of ``head`` signed now (``at``) with ``private_key``."""
    signer = key_id(private_key.public_key())
    signature = sign(private_key, checkpoint_message(head.seq, head.hash, at, signer))
    return Checkpoint(head.seq, head.hash, at, signer, signature)


def checkpoint_valid(checkpoint: Checkpoint, public_key: Ed25519PublicKey) -> bool:
    """Whether the checkpoint is signed by ``public_key`` and names it."""
    return checkpoint.key_id == key_id(public_key) and signature_valid(
        public_key, checkpoint.message(), checkpoint.signature
    )


# --- verification ----------------------------------------------------------------


class Problem(NamedTuple):
    """One finding: the record's seq when it concerns one, a short kind, and a sentence."""

    seq: int | None
    kind: str
    message: str


@dataclass
class VerificationReport:
    """What a verification found. ``ok`` when there is no problem; notes are informational."""

    problems: list[Problem] = field(default_factory=list)
    notes: list[Problem] = field(default_factory=list)
    records: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    checkpoints: int = 0
    # The highest seq a valid checkpoint vouches for, if any.
    signed_through: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def problem(self, seq: int | None, kind: str, message: str) -> None:
        self.problems.append(Problem(seq, kind, message))

    def note(self, seq: int | None, kind: str, message: str) -> None:
        self.notes.append(Problem(seq, kind, message))

    def merge(self, other: VerificationReport) -> None:
        """Adds ``other``'s findings (the counts stay this report's)."""
        self.problems.extend(other.problems)
        self.notes.extend(other.notes)


class ChainVerifier:
    """Verifies records fed in ascending ``seq`` order against trusted checkpoints.

    Streaming: it keeps only the previous record and the checkpoints, so a
    trail of any length is checked in constant memory. Checkpoints are checked
    first (signature and key); only valid ones are trusted. ``anchor`` is where
    the chain is expected to start: genesis, or for a slice of the chain the
    head of a valid checkpoint just before it.
    """

    def __init__(
        self,
        checkpoints: Iterable[Checkpoint],
        keys: Ed25519PublicKey | Keyring,
        *,
        anchor: ChainHead = GENESIS,
    ) -> None:
        keyring = Keyring.of(keys)
        self.report = VerificationReport()
        self._anchor = anchor
        self._previous: AuditRecord | None = None
        self._last_time: datetime | None = None
        self._trusted: dict[int, Checkpoint] = {}
        self._matched: set[int] = set()
        by_seq: dict[int, list[Checkpoint]] = {}
        for checkpoint in checkpoints:
            by_seq.setdefault(checkpoint.seq, []).append(checkpoint)
        for seq in sorted(by_seq):
            distinct = list(dict.fromkeys(by_seq[seq]))
            self.report.checkpoints += len(distinct)
            valid = []
            for checkpoint in distinct:
                public_key, untrusted = keyring.key_for(checkpoint.key_id, seq=seq)
                if public_key is None:
                    self.report.problem(seq, "checkpoint-key", untrusted)
                elif not signature_valid(public_key, checkpoint.message(), checkpoint.signature):
                    self.report.problem(
                        seq,
                        "checkpoint-signature",
                        f"checkpoint seq {seq} has a bad signature (forged or edited)",
                    )
                else:
                    valid.append(checkpoint)
            if len({c.head for c in valid}) > 1:
                self.report.problem(
                    seq,
                    "checkpoint-conflict",
                    f"validly signed checkpoints disagree on the head of seq {seq}",
                )
            if valid:
                self._trusted[seq] = valid[0]
        if anchor.seq > 0:
            start = self._trusted.get(anchor.seq)
            if start is None or start.head != anchor.hash:
                self.report.problem(
                    anchor.seq,
                    "anchor",
                    f"the chain is said to start after seq {anchor.seq}, but no valid"
                    " checkpoint vouches for that starting point",
                )
            else:
                self._matched.add(anchor.seq)

    def feed(self, record: AuditRecord) -> None:
        """Checks one record; records must come in ascending (non-decreasing) seq order."""
        report = self.report
        seq = record.seq
        report.records += 1
        if report.first_seq is None:
            report.first_seq = seq
        report.last_seq = seq
        if record.computed_hash() != record.hash:
            report.problem(
                seq, "edited", f"record seq {seq} edited: its hash does not match its content"
            )
        previous = self._previous
        prev_seq, prev_hash = self._anchor if previous is None else previous.head
        if previous is not None and seq == previous.seq:
            report.problem(seq, "duplicate", f"seq {seq} appears more than once (inserted record)")
        elif seq < prev_seq + 1:
            report.problem(seq, "order", f"record seq {seq} comes after seq {prev_seq}")
        elif seq > prev_seq + 1:
            where = "the start of the chain" if previous is None else f"seq {prev_seq}"
            report.problem(
                seq,
                "gap",
                f"records missing between {where} and seq {seq} (deleted)",
            )
        if record.prev_hash != prev_hash:
            where = "the start of the chain" if previous is None else f"seq {prev_seq}"
            report.problem(
                seq,
                "link",
                f"chain broken between {where} and seq {seq}: seq {seq} does not point to"
                f" the hash of {where} (a record was deleted, inserted, or edited with a"
                " recomputed hash there)",
            )
        if self._last_time is not None and record.at < self._last_time:
            report.problem(
                seq, "time-order", f"record seq {seq} is older than the record before it"
            )
        checkpoint = self._trusted.get(seq)
        if checkpoint is not None:
            if checkpoint.head != record.hash:
                report.problem(
                    seq,
                    "checkpoint-mismatch",
                    f"record seq {seq} is not the one checkpoint seq {seq} signed: records up to"
                    f" seq {seq} were changed after signing",
                )
            self._matched.add(seq)
        self._previous = record
        self._last_time = record.at

    def finish(self) -> VerificationReport:
        """Checks what only the end can tell: missing signed records, truncation, unsigned tail."""
        report = self.report
        last = report.last_seq if report.last_seq is not None else self._anchor.seq
        for seq in sorted(set(self._trusted) - self._matched):
            if seq < self._anchor.seq:
                continue  # before the slice being verified
            if seq > last:
                continue  # reported below as truncation
            report.problem(
                seq,
                "missing",
                f"record seq {seq}, vouched for by a checkpoint, is missing (deleted)",
            )
        covered = max(self._trusted, default=None)
        report.signed_through = covered
        if covered is not None and covered > last:
            report.problem(
                last,
                "truncated",
                f"truncated after seq {last}; checkpoint covers {covered}",
            )
        signed = max((s for s in self._trusted if s <= last), default=self._anchor.seq)
        if report.records and last > signed:
            report.note(
                signed + 1,
                "unsigned-tail",
                f"{last - signed} records (seq {signed + 1} to {last}) are not yet covered"
                " by a checkpoint; their deletion or change could not be detected",
            )
        return report


def verify_chain(
    records: Iterable[AuditRecord],
    checkpoints: Iterable[Checkpoint],
    keys: Ed25519PublicKey | Keyring,
    *,
    anchor: ChainHead = GENESIS,
) -> VerificationReport:
    """Verifies records (any order; sorted here by seq) against checkpoints signed by the keys."""
    verifier = ChainVerifier(checkpoints, keys, anchor=anchor)
    for record in sorted(records, key=lambda r: r.seq):
        verifier.feed(record)
    return verifier.finish()
