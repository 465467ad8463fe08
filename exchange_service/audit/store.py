"""Where the audit trail is kept: two database tables and a checkpoint file outside them.

Tables (``storage.tables``, created by migrations 0002, 0003 and 0009):
``audit_records``, whose columns are the fields of ``AuditRecord``, and
``audit_checkpoints``, both append-only by trigger, and ``audit_inbox``,
the events other processes recorded for the writer to chain. Every function takes the
connection to use and never commits: the caller owns the transaction.

The checkpoint file holds one checkpoint per line as canonical JSON. It is
appended to and fsynced after each checkpoint; ship it off the database host
(or to write-once storage) so that someone who controls the database cannot
also rewrite it.
"""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import Connection, Row, Table, delete, func, select, text

from exchange_service.audit.chain import AuditRecord, Checkpoint, Problem, canonical
from exchange_service.domain import audit
from exchange_service.storage.tables import AuditCheckpointRow, AuditInboxRow, audit_records

records_table = audit_records
checkpoints_table: Table = AuditCheckpointRow.__table__  # type: ignore[assignment]
inbox_table: Table = AuditInboxRow.__table__  # type: ignore[assignment]

# pg_advisory_lock key held by the one process that writes the trail
# (int.from_bytes(sha256(b"pantau.audit.writer")[:8], "big", signed=True)).
WRITER_LOCK_KEY = -0x441A_EF07_8071_60ED


def _utc(at: datetime) -> datetime:
    return at.astimezone(UTC)


def row_record(row: Row[Any]) -> AuditRecord:
    """The record exactly as stored (nothing normalised but the time zone).

    ``row`` has the columns of ``records_table`` (``select(records_table)``).
    """
    values = row._mapping
    return AuditRecord(
        **{f.name: _FROM_COLUMN[f.kind](values[f.name]) for f in audit.RECORD_FIELDS}
    )


def row_checkpoint(row: Row[Any]) -> Checkpoint:
    m = row._mapping
    return Checkpoint(
        seq=int(m["seq"]),
        head=m["head"],
        at=_utc(m["at"]),
        key_id=m["key_id"],
        signature=m["signature"],
    )


def _same(value: Any) -> Any:
    return value


# Column value of each kind of record field, and back.
_FROM_COLUMN: dict[str, Callable[[Any], Any]] = {
    audit.SEQ: int,
    audit.TIME: _utc,
    audit.TEXT: _same,
    audit.IDS: lambda ids: tuple(ids or ()),
    audit.DIGEST: _same,
}
_COPY_FIELDS = operator.attrgetter(*(f.name for f in audit.RECORD_FIELDS))
# The one kind a COPY row must change: person ids go as a list (an array).
_IDS_AT = next(i for i, f in enumerate(audit.RECORD_FIELDS) if f.kind == audit.IDS)
_COPY_RECORDS = "COPY audit_records ({}) FROM STDIN".format(
    ", ".join(f.name for f in audit.RECORD_FIELDS)
)


def insert_records(connection: Connection, records: Sequence[AuditRecord]) -> None:
    """Inserts the records with one COPY, in the connection's current transaction.

    COPY costs the writer a few microseconds of Python per record, where a
    multi-row INSERT through SQLAlchemy costs tens: that time is taken from
    the threads serving calls (one interpreter lock).
    """
    if not records:
        return
    if not connection.in_transaction():
        connection.begin()  # so that the caller's commit() commits the COPY
    raw = connection.connection.driver_connection
    if raw is None:
        raise RuntimeError("the connection is closed")
    with raw.cursor() as cursor, cursor.copy(_COPY_RECORDS) as copy:
        for r in records:
            row = list(_COPY_FIELDS(r))
            row[_IDS_AT] = list(row[_IDS_AT])
            copy.write_row(row)


def insert_checkpoints(connection: Connection, checkpoints: Sequence[Checkpoint]) -> None:
    if checkpoints:
        connection.execute(
            checkpoints_table.insert(),
            [
                {
                    "seq": c.seq,
                    "head": c.head,
                    "at": c.at,
                    "key_id": c.key_id,
                    "signature": c.signature,
                }
                for c in checkpoints
            ],
        )


def last_record(connection: Connection) -> AuditRecord | None:
    row = connection.execute(
        select(records_table).order_by(records_table.c.seq.desc()).limit(1)
    ).first()
    return None if row is None else row_record(row)


def last_checkpoint(connection: Connection) -> Checkpoint | None:
    row = connection.execute(
        select(checkpoints_table).order_by(checkpoints_table.c.seq.desc()).limit(1)
    ).first()
    return None if row is None else row_checkpoint(row)


def iter_records(
    connection: Connection, *, after_seq: int = 0, through_seq: int | None = None
) -> Iterator[AuditRecord]:
    """Records with ``after_seq < seq <= through_seq`` in seq order, streamed from the server."""
    query = select(records_table).where(records_table.c.seq > after_seq)
    if through_seq is not None:
        query = query.where(records_table.c.seq <= through_seq)
    # On the statement: Connection.execution_options would change the caller's connection.
    result = connection.execute(
        query.order_by(records_table.c.seq).execution_options(yield_per=2000)
    )
    for row in result:
        yield row_record(row)


def load_checkpoints(
    connection: Connection, *, from_seq: int = 0, through_seq: int | None = None
) -> list[Checkpoint]:
    """Checkpoints with ``from_seq <= seq <= through_seq`` in seq order."""
    query = select(checkpoints_table).where(checkpoints_table.c.seq >= from_seq)
    if through_seq is not None:
        query = query.where(checkpoints_table.c.seq <= through_seq)
    rows = connection.execute(query.order_by(checkpoints_table.c.seq))
    return [row_checkpoint(row) for row in rows]


def seq_range(connection: Connection, start: datetime, end: datetime) -> tuple[int, int] | None:
    """The first and last seq of records with ``start <= at <= end``, or None if there are none."""
    at = records_table.c.at
    row = connection.execute(
        select(func.min(records_table.c.seq), func.max(records_table.c.seq)).where(
            at >= start, at <= end
        )
    ).one()
    return None if row[0] is None else (int(row[0]), int(row[1]))


def checkpoint_before(connection: Connection, seq: int) -> Checkpoint | None:
    """The latest checkpoint with a seq below ``seq``."""
    row = connection.execute(
        select(checkpoints_table)
        .where(checkpoints_table.c.seq < seq)
        .order_by(checkpoints_table.c.seq.desc())
        .limit(1)
    ).first()
    return None if row is None else row_checkpoint(row)


def checkpoint_from(connection: Connection, seq: int) -> Checkpoint | None:
    """The earliest checkpoint with a seq at or above ``seq``."""
    row = connection.execute(
        select(checkpoints_table)
        .where(checkpoints_table.c.seq >= seq)
        .order_by(checkpoints_table.c.seq)
        .limit(1)
    ).first()
    return None if row is None else row_checkpoint(row)


class InboxEvent(NamedTuple):
    """An event waiting in the inbox (``storage.audit_inbox``): its row's id and its time."""

    id: int
    at: datetime
    event: audit.AuditEvent


def waiting_events(
    connection: Connection, *, excluding: Collection[int], limit: int
) -> list[InboxEvent]:
    """Up to ``limit`` committed inbox events not in ``excluding``, oldest id first.

    Ids come from a sequence, so a row with a lower id may commit after one
    with a higher id: the caller excludes the ids it holds, never a range.
    """
    inbox = inbox_table.c
    query = select(inbox_table).order_by(inbox.id).limit(limit)
    if excluding:
        query = query.where(inbox.id.not_in(list(excluding)))
    return [
        InboxEvent(
            int(m["id"]),
            _utc(m["at"]),
            audit.AuditEvent(
                actor=audit.Actor(m["actor_id"], m["actor_kind"], m["officer"]),
                action=m["action"],
                outcome=m["outcome"],
                purpose=m["purpose"],
                person_ids=tuple(m["person_ids"]),
                recipient=m["recipient"],
                request_digest=m["request_digest"],
            ),
        )
        for m in (row._mapping for row in connection.execute(query))
    ]


def delete_inbox_events(connection: Connection, ids: Collection[int]) -> int:
    """Deletes the inbox rows, in the caller's transaction; how many there were."""
    if not ids:
        return 0
    return connection.execute(delete(inbox_table).where(inbox_table.c.id.in_(list(ids)))).rowcount


def inbox_count(connection: Connection) -> int:
    """How many committed events wait in the inbox for the trail's writer."""
    return int(connection.execute(select(func.count()).select_from(inbox_table)).scalar_one())


def try_writer_lock(connection: Connection) -> bool:
    """Takes the session-level writer lock; False when another session holds it."""
    return bool(
        connection.execute(
            text("SELECT pg_try_advisory_lock(:key)"), {"key": WRITER_LOCK_KEY}
        ).scalar_one()
    )


# --- the checkpoint file -----------------------------------------------------------


def append_checkpoint_lines(path: Path, checkpoints: Iterable[Checkpoint]) -> None:
    """Appends one canonical JSON line per checkpoint and fsyncs before returning."""
    lines = b"".join(canonical(c.to_json()) + b"\n" for c in checkpoints)
    if not lines:
        return
    created = not path.exists()
    if created:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
    try:
        view = memoryview(lines)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def read_checkpoint_file(path: Path) -> tuple[list[Checkpoint], list[Problem]]:
    """The checkpoints in the file, and a problem for each line that is not one."""
    checkpoints: list[Checkpoint] = []
    problems: list[Problem] = []
    with path.open("rb") as lines:
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                checkpoints.append(Checkpoint.from_json(json.loads(line)))
            except ValueError as error:
                problems.append(
                    Problem(
                        None,
                        "checkpoint-file",
                        f"line {number} of {path} is not a checkpoint ({error})",
                    )
                )
    return checkpoints, problems
