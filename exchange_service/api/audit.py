"""What the audit trail records of each Pantau RPC: one event, with the status the client got.

The server edge (``api/edge.py``) starts an :class:`AuditedCall` for every call
under ``/pantau.`` before anything else, so that denied calls (identity,
permission, purpose, rate, an agency's concurrency), invalid and unparseable
ones, timeouts, cancellations and failures are all recorded:

* the call's ``CallRecord`` (agency, officer and purpose, filled by access);
* the digest of the request bytes as received (sha256; for a client stream, of
  each message's 4-byte big-endian length followed by its bytes, in order);
* the ids of the persons the call touched, from the requests and the response
  (see ``collect_person_ids``) and those its use cases noted;
* once, when the call ends, the final status code name as the edge sent it.

Health checks and reflection carry no personal data and would drown the
trail: they are not recorded. A call to an unknown ``/pantau.`` method is
recorded as UNIMPLEMENTED.

When the audit log cannot keep up with or reach the database
(``AuditLog.accepting`` is False) calls are refused with UNAVAILABLE, and that
refusal is recorded too. If a record cannot be appended at all (the log is
closed), the call fails instead of answering unaccounted for.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from exchange_service.audit.log import AuditLog
from exchange_service.domain.audit import EMPTY_DIGEST, Actor, AuditEvent
from exchange_service.domain.call import CallRecord

AUDITED_PREFIX = "/pantau."
PERSON_TYPE = "pantau.v1.Person"
# Longer values (never valid ids) are recorded as "sha256:<hex of the value>".
MAX_ID_CHARS = 100


# --- person ids -------------------------------------------------------------------

_ID, _IDS, _MESSAGE, _MESSAGES, _MAP = range(5)
# Per message type: (field name, kind, full name of the nested type or "").
_Plan = tuple[tuple[str, int, str], ...]
_plans: dict[str, _Plan] = {}


def _plan(descriptor: Any, visiting: frozenset[str] = frozenset()) -> _Plan:
    """Which fields of a message type can hold person ids, directly or nested.

    ``descriptor`` is a protobuf message Descriptor (upb or pure Python).
    """
    cached = _plans.get(descriptor.full_name)
    if cached is not None:
        return cached
    inside = visiting | {descriptor.full_name}

    def reaches(sub: Any) -> bool:
        # A recursive type is walked (conservative); others only if they can hold ids.
        return sub.full_name in inside or bool(_plan(sub, inside))

    steps: list[tuple[str, int, str]] = []
    for f in descriptor.fields:
        sub = f.message_type
        if f.type == FieldDescriptor.TYPE_STRING:
            if f.name == "person_id" or (f.name == "id" and descriptor.full_name == PERSON_TYPE):
                steps.append((f.name, _IDS if f.is_repeated else _ID, ""))
        elif sub is None:
            continue
        elif sub.GetOptions().map_entry:
            value = sub.fields_by_name["value"].message_type
            if value is not None and reaches(value):
                steps.append((f.name, _MAP, value.full_name))
        elif reaches(sub):
            steps.append((f.name, _MESSAGES if f.is_repeated else _MESSAGE, sub.full_name))
    plan = tuple(steps)
    _plans[descriptor.full_name] = plan
    return plan


def _id(value: str) -> str:
    if len(value) <= MAX_ID_CHARS:
        return value
    return "sha256:" + hashlib.sha256(value.encode("utf-8", "surrogatepass")).hexdigest()


def collect_person_ids(message: Any, into: set[str]) -> None:
    """Adds to ``into`` every person id in the message, however deeply nested.

    A person id is a non-empty string field named ``person_id`` (singular or
    repeated) in any message, or the ``id`` of a ``pantau.v1.Person``; nested,
    repeated and map-valued messages are searched. Driven by descriptors, so a
    new RPC or field needs no change here. Not a protobuf message: nothing.
    """
    if isinstance(message, Message):
        _walk(message, _plan(message.DESCRIPTOR), into)


def _walk(message: Any, plan: _Plan, into: set[str]) -> None:
    for name, kind, sub in plan:
        if kind == _ID:
            value = getattr(message, name)
            if value:
                into.add(_id(value))
        elif kind == _IDS:
            into.update(_id(v) for v in getattr(message, name) if v)
        elif kind == _MESSAGE:
            if message.HasField(name):
                _walk(getattr(message, name), _plans[sub], into)
        else:
            items = getattr(message, name)
            sub_plan = _plans[sub]
            for item in items if kind == _MESSAGES else items.values():
                _walk(item, sub_plan, into)


# --- one call ---------------------------------------------------------------------


def call_event(call: CallRecord, person_ids: Iterable[str], status: str, digest: str) -> AuditEvent:
    """The audit event of one call: the agency and officer, the method, its final status."""
    return AuditEvent(
        actor=Actor.agency(call.agency_id, call.agency_kind, call.officer),
        action=call.method,
        outcome=status,
        purpose=call.purpose,
        person_ids=person_ids,
        request_digest=digest,
    )


class CallAudit:
    """The audit trail's side of the server edge: one event per Pantau call, when it ends."""

    def __init__(self, audit_log: AuditLog) -> None:
        self._log = audit_log

    def start(self, record: CallRecord) -> AuditedCall:
        return AuditedCall(self._log, record)


class AuditedCall:
    """What the audit knows about one call while it runs.

    The digest is of the request bytes as received (sha256; for a client
    stream, of each message's 4-byte big-endian length followed by its bytes,
    in order). ``note`` collects person ids from requests and responses (on
    whichever worker runs the call's work: one at a time); ``finish`` records
    once, with the status the client got.
    """

    __slots__ = ("_digest", "_finished", "_hasher", "_ids", "_log", "record")

    def __init__(self, audit_log: AuditLog, record: CallRecord) -> None:
        self._log = audit_log
        self.record = record
        self._digest = EMPTY_DIGEST
        self._hasher: Any = None
        self._ids: set[str] = set()
        self._finished = False

    def accepting(self) -> bool:
        return self._log.accepting

    def digest_unary(self, data: bytes) -> None:
        self._digest = hashlib.sha256(data).hexdigest()

    def digest_message(self, data: bytes) -> None:
        if self._hasher is None:
            self._hasher = hashlib.sha256()
        self._hasher.update(len(data).to_bytes(4, "big"))
        self._hasher.update(data)

    def note(self, message: Any) -> None:
        collect_person_ids(message, self._ids)

    def request_digest(self) -> str:
        return self._digest if self._hasher is None else self._hasher.hexdigest()

    def finish(self, status: str) -> None:
        if self._finished:
            return
        self._finished = True
        self._log.record(
            call_event(
                self.record, self._ids | self.record.person_ids, status, self.request_digest()
            )
        )
