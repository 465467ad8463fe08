"""Verifying the trail in the database, and exporting part of it for an auditor.

``verify_database`` checks every record against the checkpoints in the
database and in the checkpoint file outside it; ``export_document`` builds
the signed export of a period (``export``) that an auditor verifies offline.
The ``pantau audit`` command (``exchange_service.cli.audit``) prints what
they find.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from sqlalchemy import Connection, create_engine, text

from exchange_service.audit import store
from exchange_service.audit.chain import (
    GENESIS,
    ChainHead,
    ChainVerifier,
    Checkpoint,
    Keyring,
    VerificationReport,
)
from exchange_service.audit.export import build_export


def merge_checkpoints(
    database: Iterable[Checkpoint], file: Iterable[Checkpoint]
) -> tuple[list[Checkpoint], VerificationReport]:
    """All checkpoints of both places, and what their comparison shows.

    A checkpoint in the file but not in the database was deleted from the
    database (a problem); one in the database but not in the file is noted
    (the file append may have been lost in a crash); two different ones at
    the same seq are a problem.
    """
    found = VerificationReport()
    in_db = {c.seq: c for c in database}
    in_file: dict[int, Checkpoint] = {}
    merged: list[Checkpoint] = list(in_db.values())
    for checkpoint in file:
        earlier = in_file.setdefault(checkpoint.seq, checkpoint)
        if earlier != checkpoint:
            found.problem(
                checkpoint.seq,
                "checkpoint-conflict",
                f"the checkpoint file holds two different checkpoints for seq {checkpoint.seq}",
            )
            merged.append(checkpoint)
    for seq, checkpoint in sorted(in_file.items()):
        stored = in_db.get(seq)
        if stored is None:
            found.problem(
                seq,
                "checkpoint-deleted",
                f"checkpoint seq {seq} is in the checkpoint file but not in the database"
                " (deleted from the database)",
            )
            merged.append(checkpoint)
        elif stored != checkpoint:
            found.problem(
                seq,
                "checkpoint-conflict",
                f"checkpoint seq {seq} differs between the database and the checkpoint file",
            )
            merged.append(checkpoint)
    for seq in sorted(set(in_db) - set(in_file)):
        found.note(
            seq,
            "checkpoint-not-in-file",
            f"checkpoint seq {seq} is in the database but not in the checkpoint file",
        )
    return merged, found


def read_file_checkpoints(path: Path) -> tuple[list[Checkpoint], VerificationReport]:
    """The checkpoints in the file (none if it is missing) and what is wrong with it."""
    found = VerificationReport()
    if not path.exists():
        found.note(None, "checkpoint-file", f"the checkpoint file {path} does not exist")
        return [], found
    checkpoints, problems = store.read_checkpoint_file(path)
    found.problems.extend(problems)
    return checkpoints, found


def verify_database(
    connection: Connection,
    keys: Ed25519PublicKey | Keyring,
    file_checkpoints: Sequence[Checkpoint] | None = None,
    file_report: VerificationReport | None = None,
) -> VerificationReport:
    """Verifies every record in the database against the database's and the file's checkpoints.

    ``file_checkpoints`` None compares with no file. Read the file *before*
    the snapshot ``connection`` sees: a checkpoint reaches the file only after
    its transaction committed, so every checkpoint in the file is then
    visible to the connection. Streams the records: memory does not grow
    with the trail. Notes how many events wait in the inbox.
    """
    database = store.load_checkpoints(connection)
    comparison = VerificationReport()
    merged: list[Checkpoint] = database
    if file_checkpoints is not None:
        merged, comparison = merge_checkpoints(database, file_checkpoints)
        if database and not file_checkpoints:
            comparison.problem(
                None,
                "checkpoint-file",
                f"the checkpoint file holds none of the {len(database)} checkpoints in the"
                " database (deleted or emptied)",
            )
    if file_report is not None:
        comparison.merge(file_report)
    verifier = ChainVerifier(merged, keys)
    for record in store.iter_records(connection):
        verifier.feed(record)
    report = verifier.finish()
    report.merge(comparison)
    waiting = store.inbox_count(connection)
    if waiting:
        # Committed events of other processes, not yet chained: not a problem.
        report.note(
            None,
            "inbox",
            f"{waiting} events wait in the audit inbox for the trail's writer (a running"
            " server, or the next `pantau rules run`) to chain them",
        )
    return report


@contextmanager
def snapshot(database_url: str) -> Iterator[Connection]:
    """A read-only transaction on one consistent snapshot of the database."""
    engine = create_engine(database_url, isolation_level="REPEATABLE READ")
    try:
        with engine.begin() as connection:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            yield connection
    finally:
        engine.dispose()


def export_document(
    connection: Connection,
    private_key: Ed25519PrivateKey,
    *,
    start: datetime,
    end: datetime,
    now: datetime,
    file_checkpoints: Iterable[Checkpoint] = (),
) -> dict[str, Any]:
    """The export document of the records with ``start <= at <= end``, signed now."""
    span = store.seq_range(connection, start, end)
    extra = list(file_checkpoints)
    if span is None:
        records: list[Any] = []
        anchor = GENESIS
        checkpoints: list[Checkpoint] = []
    else:
        first, last = span
        before = store.checkpoint_before(connection, first)
        before_in_file = [c for c in extra if c.seq < first]
        candidates = ([before] if before else []) + before_in_file
        start_at = max(candidates, key=lambda c: c.seq, default=None)
        anchor = GENESIS if start_at is None else ChainHead(start_at.seq, start_at.head)
        after = store.checkpoint_from(connection, last)
        after_in_file = [c for c in extra if c.seq >= last]
        candidates = ([after] if after else []) + after_in_file
        end_at = min(candidates, key=lambda c: c.seq, default=None)
        through = None if end_at is None else end_at.seq
        records = list(store.iter_records(connection, after_seq=anchor.seq, through_seq=through))
        top = records[-1].seq if records else anchor.seq
        checkpoints = store.load_checkpoints(connection, from_seq=anchor.seq, through_seq=top)
        checkpoints += [c for c in extra if anchor.seq <= c.seq <= top]
    return build_export(
        records,
        checkpoints,
        anchor=anchor,
        start=start,
        end=end,
        exported_at=now,
        private_key=private_key,
    )
