"""What the audit trail records: an event, and the hash-chained record it becomes.

An ``AuditEvent`` is what any part of Pantau reports: who acted (an agency and
its officer, or one of Pantau's own processes such as the scheduler or a
delivery worker), what they did, why, whose data it touched, to whom data
went when it left the system, and how it ended. An RPC is one event; a rule
run or an alert delivery is another. ``AuditRecorder`` is the port the
callers see; the trail itself (``exchange_service.audit``) implements it.

``AuditRecord`` is the one definition of the stored record's fields: the
hash, the JSON form, the database table (``storage.tables``) and its rows
(``audit.store``) are all derived from its dataclass fields and their
``kind``. The encoding is stable; changing it needs a new format version:

* ``canonical(obj)`` is ``json.dumps(obj, sort_keys=True, separators=(",", ":"))``
  encoded as UTF-8: keys sorted, no spaces, non-ASCII escaped as ``\\uXXXX``.
* Times are UTC with microseconds, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``.
* A record's hash is ``sha256(canonical(content)).hexdigest()`` where the
  content is every field except ``hash``, an optional field only when it is
  not empty (so records written before it existed keep their hash);
  ``person_ids`` is a JSON array. The first record's ``prev_hash`` is 64
  zeros (``GENESIS_HASH``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from json.encoder import encode_basestring_ascii as _json_string
from typing import Any, NamedTuple, Protocol

GENESIS_HASH = "0" * 64
EMPTY_DIGEST = hashlib.sha256(b"").hexdigest()
_HEX = frozenset("0123456789abcdef")

# The kind an actor has when it is one of Pantau's own processes, not an agency.
SYSTEM_ACTOR_KIND = "SYSTEM"


# --- the event ---------------------------------------------------------------------


class Actor(NamedTuple):
    """Who acted: an agency (``kind`` its agency kind) and its officer, or a Pantau process.

    Tuples, as an event is made for every call: a third of a frozen dataclass's cost.
    """

    id: str
    kind: str
    officer: str = ""

    @classmethod
    def agency(cls, agency_id: str, agency_kind: str, officer: str = "") -> Actor:
        return cls(agency_id, agency_kind, officer)

    @classmethod
    def system(cls, process: str) -> Actor:
        """One of Pantau's own processes (``scheduler``, ``delivery-worker``, ...)."""
        return cls(process, SYSTEM_ACTOR_KIND)


class AuditEvent(NamedTuple):
    """One thing Pantau did that the trail must account for.

    ``action`` names it: the full RPC method for a call
    (``/pantau.v1.QueryService/GetPerson``), or a process's own name for its
    work. ``outcome`` is the gRPC status name the caller got, or for a
    process OK or the reason it failed. ``recipient`` is the agency that
    received personal data when it left the system (empty otherwise).
    """

    actor: Actor
    action: str
    outcome: str
    purpose: str = ""
    person_ids: Iterable[str] = ()
    recipient: str = ""
    request_digest: str = EMPTY_DIGEST


class AuditRecorder(Protocol):
    """The audit trail as its callers see it."""

    def record(self, event: AuditEvent) -> AuditRecord:
        """Appends the event to the trail; raises if it cannot be accounted for."""
        ...


# --- the record ---------------------------------------------------------------------

# Field kinds: how a value is hashed, shown as JSON and stored.
SEQ, TIME, TEXT, IDS, DIGEST = "seq", "time", "text", "ids", "digest"


def _kind(kind: str, *, optional: bool = False) -> dict[str, Any]:
    return {"kind": kind, "optional": optional}


class ChainHead(NamedTuple):
    """A position in the chain: the last record's seq and hash (0 and zeros when empty)."""

    seq: int
    hash: str


GENESIS = ChainHead(0, GENESIS_HASH)


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One event as the audit trail keeps it; ``hash`` seals all the other fields.

    Stored names predate ``AuditEvent``: ``agency_id``/``agency_kind``/``officer``
    are the actor, ``method`` the action and ``status`` the outcome.
    ``person_ids`` is sorted and without duplicates when built by
    ``build_record``; a stored record is hashed exactly as stored, so
    reordering its ids is a change like any other.
    """

    seq: int = field(metadata=_kind(SEQ))
    at: datetime = field(metadata=_kind(TIME))
    agency_id: str = field(metadata=_kind(TEXT))
    agency_kind: str = field(metadata=_kind(TEXT))
    officer: str = field(metadata=_kind(TEXT))
    purpose: str = field(metadata=_kind(TEXT))
    method: str = field(metadata=_kind(TEXT))
    person_ids: tuple[str, ...] = field(metadata=_kind(IDS))
    status: str = field(metadata=_kind(TEXT))
    request_digest: str = field(metadata=_kind(DIGEST))
    prev_hash: str = field(metadata=_kind(DIGEST))
    hash: str = field(metadata=_kind(DIGEST))
    recipient: str = field(metadata=_kind(TEXT, optional=True))

    def content(self) -> dict[str, Any]:
        """Every field except ``hash`` (optional ones only when set), as JSON values."""
        return {
            f.name: _TO_JSON[f.kind](getattr(self, f.name))
            for f in HASHED_FIELDS
            if not (f.optional and not getattr(self, f.name))
        }

    def computed_hash(self) -> str:
        """The hash the content calls for; equal to ``hash`` unless the record was changed."""
        return _record_hash(self.values())

    def values(self) -> dict[str, Any]:
        """Every field's value, by name."""
        return {f.name: getattr(self, f.name) for f in RECORD_FIELDS}

    @property
    def head(self) -> ChainHead:
        return ChainHead(self.seq, self.hash)

    def to_json(self) -> dict[str, Any]:
        """The record as a JSON object: its content and its hash."""
        return {**self.content(), "hash": self.hash}

    @classmethod
    def from_json(cls, data: object) -> AuditRecord:
        """A record from ``to_json`` output; ``ValueError`` when anything is malformed."""
        required = {f.name for f in RECORD_FIELDS if not f.optional}
        known = {f.name for f in RECORD_FIELDS}
        if not isinstance(data, Mapping) or not required <= set(data) <= known:
            raise ValueError("an audit record needs exactly the fields " + ", ".join(sorted(known)))
        values: dict[str, Any] = {}
        for f in RECORD_FIELDS:
            if f.name in data:
                values[f.name] = _FROM_JSON[f.kind](f.name, data[f.name])
            else:
                values[f.name] = ""
        return cls(**values)


@dataclass(frozen=True, slots=True)
class RecordField:
    """One field of ``AuditRecord``: its name, kind and whether it may be absent."""

    name: str
    kind: str
    optional: bool


RECORD_FIELDS: tuple[RecordField, ...] = tuple(
    RecordField(f.name, f.metadata["kind"], f.metadata["optional"])
    for f in dataclasses.fields(AuditRecord)
)
HASHED_FIELDS = tuple(sorted((f for f in RECORD_FIELDS if f.name != "hash"), key=lambda f: f.name))


# --- encoding ---------------------------------------------------------------------


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


def is_hex64(value: object) -> bool:
    """Whether ``value`` is 64 lower-case hex digits (a sha256 digest)."""
    return isinstance(value, str) and len(value) == 64 and _HEX.issuperset(value)


def _seq_from_json(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{name} must be an integer")
    return value


def _text_from_json(name: str, value: object) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    return value


def _ids_from_json(name: str, value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(i, str) for i in value):
        raise ValueError(f"{name} must be a list of strings")
    return tuple(value)


def _time_from_json(name: str, value: object) -> datetime:
    return parse_time(_text_from_json(name, value))


_TO_JSON: dict[str, Callable[[Any], Any]] = {
    SEQ: int,
    TIME: format_time,
    TEXT: str,
    IDS: list,
    DIGEST: str,
}
_FROM_JSON: dict[str, Callable[[str, object], Any]] = {
    SEQ: _seq_from_json,
    TIME: _time_from_json,
    TEXT: _text_from_json,
    IDS: _ids_from_json,
    DIGEST: _text_from_json,
}
# The JSON text of a value of each kind, written out directly: ``_json_string``
# is the very function ``json.dumps`` escapes strings with, so the bytes are
# those of ``canonical(content)`` (tests compare the two), several times
# faster, and this runs on every call while the trail's lock is held.
_JSON_TEXT: dict[str, Callable[[Any], str]] = {
    SEQ: int.__repr__,
    TIME: lambda at: '"' + format_time(at) + '"',
    TEXT: _json_string,
    IDS: lambda ids: "[" + ",".join(map(_json_string, ids)) + "]",
    DIGEST: _json_string,
}
_HASH_PLAN = tuple(
    (f.name, '"' + f.name + '":', _JSON_TEXT[f.kind], f.optional) for f in HASHED_FIELDS
)


def _record_hash(values: Mapping[str, Any]) -> str:
    """sha256 of ``canonical(content)``, built without the generic encoder."""
    parts = []
    for name, prefix, encode, optional in _HASH_PLAN:
        value = values[name]
        if value or not optional:
            parts.append(prefix + encode(value))
    return hashlib.sha256(("{" + ",".join(parts) + "}").encode("ascii")).hexdigest()


# The text fields a caller gives; ``prev_hash`` and ``hash`` come from the chain.
_GIVEN_TEXTS = frozenset(
    f.name
    for f in RECORD_FIELDS
    if f.kind in (TEXT, DIGEST) and f.name not in ("prev_hash", "hash")
)


def build_record(
    previous: ChainHead, *, at: datetime, person_ids: Iterable[str], **texts: str
) -> AuditRecord:
    """The record that follows ``previous``, with its hash computed.

    ``texts`` are the text fields by their stored names (optional ones may be
    left out). Guarantees ``seq == previous.seq + 1``, ``prev_hash ==
    previous.hash``, sorted distinct ``person_ids``, and ``hash == computed_hash()``.
    """
    optional = {f.name: "" for f in RECORD_FIELDS if f.optional}
    if not _GIVEN_TEXTS - optional.keys() <= texts.keys() <= _GIVEN_TEXTS:
        raise TypeError("build_record takes the text fields " + ", ".join(sorted(_GIVEN_TEXTS)))
    values: dict[str, Any] = {
        **optional,
        **texts,
        "seq": previous.seq + 1,
        "at": at,
        "person_ids": tuple(sorted(set(person_ids))),
        "prev_hash": previous.hash,
    }
    return AuditRecord(**values, hash=_record_hash(values))


def _same(text: str) -> str:
    return text


def record_of(
    previous: ChainHead,
    at: datetime,
    event: AuditEvent,
    clean: Callable[[str], str] = _same,
) -> AuditRecord:
    """The record of ``event`` at ``at``, following ``previous``: the one mapping of an
    event's parts to the record's stored names; ``clean`` is applied to every text.

    The same guarantees as ``build_record``; written out, as it runs for every call
    while the trail's lock is held.
    """
    actor = event.actor
    values: dict[str, Any] = {
        "seq": previous.seq + 1,
        "at": at,
        "agency_id": clean(actor.id),
        "agency_kind": clean(actor.kind),
        "officer": clean(actor.officer),
        "purpose": clean(event.purpose),
        "method": clean(event.action),
        "person_ids": tuple(sorted({clean(i) for i in event.person_ids})),
        "status": clean(event.outcome),
        "request_digest": clean(event.request_digest),
        "prev_hash": previous.hash,
        "recipient": clean(event.recipient),
    }
    return AuditRecord(**values, hash=_record_hash(values))
