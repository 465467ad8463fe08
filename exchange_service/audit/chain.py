"""The audit trail as a hash chain with signed checkpoints: records, encoding, verification.

Pure: no I/O, no clock, no database. Everything a third party needs to check
an audit trail offline is here, and it is small enough to re-implement.

Encoding (stable; a change needs a new format version):

* ``canonical(obj)`` is ``json.dumps(obj, sort_keys=True, separators=(",", ":"))``
  encoded as UTF-8: keys sorted, no spaces, non-ASCII escaped as ``\\uXXXX``.
* Times are UTC with microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
* A record's hash is ``sha256(canonical(content)).hexdigest()`` where the
  content is every field except ``hash``; ``person_ids`` is a JSON array.
  The first record's ``prev_hash`` is 64 zeros (``GENESIS_HASH``).
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

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, NamedTuple

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

GENESIS_HASH = "0" * 64
_HEX = frozenset("0123456789abcdef")

RECORD_FIELDS = (
    "seq",
    "at",
    "agency_id",
    "agency_kind",
    "officer",
    "purpose",
    "method",
    "person_ids",
    "status",
    "request_digest",
    "prev_hash",
    "hash",
)
CHECKPOINT_FIELDS = ("seq", "head", "at", "key_id", "signature")


_ENCODER = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def canonical(obj: Any) -> bytes:
    """The canonical bytes of a JSON value: sorted keys, no spaces, ASCII only.

    The same bytes as ``json.dumps(obj, sort_keys=True, separators=(",", ":"))``.
    """
    return _ENCODER.encode(obj).encode("ascii")


def format_time(at: datetime) -> str:
    """``at`` (timezone-aware) in UTC as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``."""
    if at.tzinfo is None:
        raise ValueError("audit times must be timezone-aware")
    return at.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def parse_time(text: str) -> datetime:
    """The inverse of ``format_time``; refuses any other spelling of a time."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"not an audit time: {text!r}")
    at = datetime.fromisoformat(text[:-1]).replace(tzinfo=UTC)
    if format_time(at) != text:
        raise ValueError(f"not an audit time: {text!r}")
    return at


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_hex64(value: object) -> bool:
    """Whether ``value`` is 64 lower-case hex digits (a sha256 digest)."""
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


class ChainHead(NamedTuple):
    """A position in the chain: the last record's seq and hash (0 and zeros when empty)."""

    seq: int
    hash: str


GENESIS = ChainHead(0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One RPC as the audit trail keeps it; ``hash`` seals all the other fields.

    ``person_ids`` is sorted and without duplicates when built by
    ``build_record``; a stored record is hashed exactly as stored, so
    reordering its ids is a change like any other.
    """

    seq: int
    at: datetime
    agency_id: str
    agency_kind: str
    officer: str
    purpose: str
    method: str
    person_ids: tuple[str, ...]
    status: str
    request_digest: str
    prev_hash: str
    hash: str

    def content(self) -> dict[str, Any]:
        """Every field except ``hash``, as JSON values: what the hash covers."""
        return _content(
            seq=self.seq,
            at=self.at,
            agency_id=self.agency_id,
            agency_kind=self.agency_kind,
            officer=self.officer,
            purpose=self.purpose,
            method=self.method,
            person_ids=self.person_ids,
            status=self.status,
            request_digest=self.request_digest,
            prev_hash=self.prev_hash,
        )

    def computed_hash(self) -> str:
        """The hash the content calls for; equal to ``hash`` unless the record was changed."""
        return _record_hash(
            seq=self.seq,
            at=self.at,
            agency_id=self.agency_id,
            agency_kind=self.agency_kind,
            officer=self.officer,
            purpose=self.purpose,
            method=self.method,
            person_ids=self.person_ids,
            status=self.status,
            request_digest=self.request_digest,
            prev_hash=self.prev_hash,
        )

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.seq, self.hash)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object: its content and its hash."""
        return {**self.content(), "hash": self.hash}

    @classmethod
    def from_json(cls, data: object) -> AuditRecord:
        """A record from ``to_json`` output; ``ValueError`` when anything is malformed."""
        if not isinstance(data, Mapping) or set(data) != set(RECORD_FIELDS):
            raise ValueError("an audit record needs exactly the fields " + ", ".join(RECORD_FIELDS))
        seq = data["seq"]
        if not isinstance(seq, int) or isinstance(seq, bool):
            raise ValueError("seq must be an integer")
        ids = data["person_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("person_ids must be a list of strings")
        texts: dict[str, str] = {}
        for name in RECORD_FIELDS:
            if name in ("seq", "at", "person_ids"):
                continue
            value = data[name]
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string")
            texts[name] = value
        return cls(
            seq=seq,
            at=parse_time(data["at"]),
            agency_id=texts["agency_id"],
            agency_kind=texts["agency_kind"],
            officer=texts["officer"],
            purpose=texts["purpose"],
            method=texts["method"],
            person_ids=tuple(ids),
            status=texts["status"],
            request_digest=texts["request_digest"],
            prev_hash=texts["prev_hash"],
            hash=texts["hash"],
        )


def _content(
    *,
    seq: int,
    at: datetime,
    agency_id: str,
    agency_kind: str,
    officer: str,
    purpose: str,
    method: str,
    person_ids: tuple[str, ...],
    status: str,
    request_digest: str,
    prev_hash: str,
) -> dict[str, Any]:
    return {
        "agency_id": agency_id,
        "agency_kind": agency_kind,
        "at": format_time(at),
        "method": method,
        "officer": officer,
        "person_ids": list(person_ids),
        "prev_hash": prev_hash,
        "purpose": purpose,
        "request_digest": request_digest,
        "seq": seq,
        "status": status,
    }


def _record_hash(
    *,
    seq: int,
    at: datetime,
    agency_id: str,
    agency_kind: str,
    officer: str,
    purpose: str,
    method: str,
    person_ids: tuple[str, ...],
    status: str,
    request_digest: str,
    prev_hash: str,
) -> str:
    """sha256 of ``canonical(_content(...))``, built without the generic encoder.

    The keys are fixed and already sorted, and ``_json_string`` is the very
    function ``json.dumps`` escapes strings with, so the bytes are the same
    (tests compare the two); it is several times faster, and this runs on
    every call while the log's lock is held.
    """
    text = (
        '{"agency_id":' + _json_string(agency_id)
        + ',"agency_kind":' + _json_string(agency_kind)
        + ',"at":"' + format_time(at)
        + '","method":' + _json_string(method)
        + ',"officer":' + _json_string(officer)
        + ',"person_ids":[' + ",".join(map(_json_string, person_ids))
        + '],"prev_hash":' + _json_string(prev_hash)
        + ',"purpose":' + _json_string(purpose)
        + ',"request_digest":' + _json_string(request_digest)
        + ',"seq":' + int.__repr__(seq)
        + ',"status":' + _json_string(status)
        + "}"
    )  # fmt: skip
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def build_record(
    previous: ChainHead,
    *,
    at: datetime,
    agency_id: str,
    agency_kind: str,
    officer: str,
    purpose: str,
    method: str,
    person_ids: Iterable[str],
    status: str,
    request_digest: str,
) -> AuditRecord:
    """The record that follows ``previous``, with its hash computed.

    Guarantees ``seq == previous.seq + 1``, ``prev_hash == previous.hash``,
    sorted distinct ``person_ids``, and ``hash == computed_hash()``.
    """
    seq = previous.seq + 1
    ids = tuple(sorted(set(person_ids)))
    digest = _record_hash(
        seq=seq,
        at=at,
        agency_id=agency_id,
        agency_kind=agency_kind,
        officer=officer,
        purpose=purpose,
        method=method,
        person_ids=ids,
        status=status,
        request_digest=request_digest,
        prev_hash=previous.hash,
    )
    return AuditRecord(
        seq=seq,
        at=at,
        agency_id=agency_id,
        agency_kind=agency_kind,
        officer=officer,
        purpose=purpose,
        method=method,
        person_ids=ids,
        status=status,
        request_digest=request_digest,
        prev_hash=previous.hash,
        hash=digest,
    )


# --- keys and checkpoints ------------------------------------------------------


def raw_public_key(public_key: Ed25519PublicKey) -> bytes:
    return public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)


def key_id(public_key: Ed25519PublicKey) -> str:
    """Names a signing key: first 16 hex digits of sha256 of the raw public key."""
    return sha256_hex(raw_public_key(public_key))[:16]


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
    signature = private_key.sign(checkpoint_message(head.seq, head.hash, at, signer))
    return Checkpoint(head.seq, head.hash, at, signer, base64.b64encode(signature).decode("ascii"))


def signature_valid(public_key: Ed25519PublicKey, message: bytes, signature_b64: str) -> bool:
    """Whether ``signature_b64`` is a valid Ed25519 signature of ``message``."""
    try:
        signature = base64.b64decode(signature_b64, validate=True)
        public_key.verify(signature, message)
    except (InvalidSignature, binascii.Error, ValueError):
        return False
    return True


@dataclass(frozen=True)
class Keyring:
    """The public keys a verifier trusts, by key id.

    ``current`` keys may sign anything (checkpoints, export manifests);
    ``retired`` ones, given with the last seq they signed before rotation,
    are trusted only for checkpoints up to that seq, so a retired private key
    that leaks cannot vouch for later records.
    """

    current: tuple[Ed25519PublicKey, ...] = ()
    retired: tuple[tuple[Ed25519PublicKey, int], ...] = ()

    @classmethod
    def of(cls, keys: Ed25519PublicKey | Keyring) -> Keyring:
        return keys if isinstance(keys, Keyring) else cls(current=(keys,))

    def describe(self) -> str:
        """The key ids, for messages: ``a1b2...``, retired ones with their last seq."""
        ids = [key_id(k) for k in self.current]
        ids += [f"{key_id(k)} (retired after seq {last})" for k, last in self.retired]
        return ", ".join(ids) or "none"

    def signer(self, name: str) -> Ed25519PublicKey | None:
        """The current key with this id, if any."""
        return next((k for k in self.current if key_id(k) == name), None)

    def checkpoint_key(self, name: str, seq: int) -> tuple[Ed25519PublicKey | None, str]:
        """The key that may have signed checkpoint ``seq`` as ``name``, or None and why not."""
        key = self.signer(name)
        if key is not None:
            return key, ""
        for retired, last in self.retired:
            if key_id(retired) == name:
                if seq <= last:
                    return retired, ""
                return None, (
                    f"checkpoint seq {seq} is signed by key {name!r}, retired after seq {last}"
                )
        return None, (f"checkpoint seq {seq} is signed by key {name!r}, not by {self.describe()}")


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
                public_key, untrusted = keyring.checkpoint_key(checkpoint.key_id, seq)
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


def verify_sorted(
    records: Iterable[AuditRecord],
    checkpoints: Iterable[Checkpoint],
    keys: Ed25519PublicKey | Keyring,
    *,
    anchor: ChainHead = GENESIS,
) -> VerificationReport:
    """Like ``verify_chain`` for records already in ascending seq order, streamed."""
    verifier = ChainVerifier(checkpoints, keys, anchor=anchor)
    for record in records:
        verifier.feed(record)
    return verifier.finish()
