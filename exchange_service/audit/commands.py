"""``pantau audit verify``, ``pantau audit export`` and ``pantau audit rotate-key``.

``verify`` checks the trail in the database against the checkpoints in the
database and in the checkpoint file outside it, or, with ``--export``, an
export file against nothing but the public key(s). ``export`` writes the
records of a period with what an auditor needs to verify them offline.
``rotate-key`` retires the signing key (the server must be stopped) and makes
a new one; the trail goes on, verified with both.

Exit codes: 0 verified (or exported) without problems, 1 problems found
(each printed with its seq), 2 the check could not be made (missing key or
file, unreadable export).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

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
from exchange_service.audit.export import build_export, verify_export
from exchange_service.audit.keys import (
    keyring,
    load_public_key,
    load_signing_key,
    retire_signing_key,
)
from exchange_service.audit.log import AuditUnavailable, open_audit_log
from exchange_service.settings import Settings

OK, PROBLEMS, CANNOT = 0, 1, 2


# --- verification of the database trail ------------------------------------------------


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
    with the trail.
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
    return report


@contextmanager
def _snapshot(settings: Settings) -> Iterator[Connection]:
    """A read-only transaction on one consistent snapshot of the database."""
    engine = create_engine(settings.database_url, isolation_level="REPEATABLE READ")
    try:
        with engine.begin() as connection:
            connection.execute(text("SET TRANSACTION READ ONLY"))
            yield connection
    finally:
        engine.dispose()


def _keyring(settings: Settings, paths: Sequence[Path]) -> Keyring:
    """The keys given (all trusted as current), or else the settings' key and its retired ones."""
    if paths:
        return Keyring(current=tuple(load_public_key(path) for path in paths))
    return keyring(settings.audit_signing_key_file)


def print_report(report: VerificationReport, what: str, out: TextIO) -> int:
    """Prints every problem and note, then a summary; the exit code."""
    for seq, kind, message in report.problems:
        where = "" if seq is None else f"seq {seq}: "
        out.write(f"PROBLEM {where}{message} [{kind}]\n")
    for _seq, kind, message in report.notes:
        out.write(f"note: {message} [{kind}]\n")
    span = (
        "no records"
        if report.first_seq is None
        else f"{report.records} records (seq {report.first_seq} to {report.last_seq})"
    )
    signed = (
        "no valid checkpoint"
        if report.signed_through is None
        else f"signed through seq {report.signed_through}"
    )
    if report.ok:
        out.write(f"OK: {what}: {span}, {report.checkpoints} checkpoints, {signed}\n")
        return OK
    out.write(f"FAILED: {what}: {len(report.problems)} problems in {span}, {signed}\n")
    return PROBLEMS


def verify(
    settings: Settings,
    *,
    export_path: Path | None = None,
    public_key_paths: Sequence[Path] = (),
    out: TextIO | None = None,
) -> int:
    """Verifies the database trail, or with ``export_path`` an export file offline.

    The keys are those in ``public_key_paths`` if any (an auditor's, each
    trusted for the whole trail), else the public key beside the signing key
    in the settings and the keys retired from it (each trusted up to the last
    seq it signed). Offline, nothing but the keys and the export is read.
    ``out`` defaults to standard output.
    """
    out = sys.stdout if out is None else out
    try:
        keys = _keyring(settings, public_key_paths)
    except (OSError, ValueError) as error:
        out.write(f"cannot read the public key: {error}\n")
        return CANNOT
    if export_path is not None:
        try:
            document = json.loads(export_path.read_bytes())
        except (OSError, ValueError) as error:
            out.write(f"cannot read the export {export_path}: {error}\n")
            return CANNOT
        report = verify_export(document, keys)
        return print_report(report, f"export {export_path} (keys {keys.describe()})", out)
    file_checkpoints, file_report = read_file_checkpoints(settings.audit_checkpoint_file)
    with _snapshot(settings) as connection:
        report = verify_database(connection, keys, file_checkpoints, file_report)
    return print_report(report, f"audit trail (keys {keys.describe()})", out)


# --- export -----------------------------------------------------------------------------


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


def export(settings: Settings, *, start: datetime, end: datetime, out: TextIO) -> int:
    """Writes the export of [start, end] to ``out`` and checks it; problems go to stderr.

    The export is written even when the trail it holds fails verification, so
    that the auditor sees exactly what is there; the exit code is then 1.
    """
    try:
        private_key = load_signing_key(settings.audit_signing_key_file)
        retired = keyring(settings.audit_signing_key_file).retired
    except (OSError, ValueError) as error:
        sys.stderr.write(f"cannot read the signing key: {error}\n")
        return CANNOT
    file_checkpoints: list[Checkpoint] = []
    if settings.audit_checkpoint_file.exists():
        file_checkpoints, _problems = store.read_checkpoint_file(settings.audit_checkpoint_file)
    with _snapshot(settings) as connection:
        document = export_document(
            connection,
            private_key,
            start=start,
            end=end,
            now=datetime.now(UTC),
            file_checkpoints=file_checkpoints,
        )
    out.write(json.dumps(document, indent=1, sort_keys=True))
    out.write("\n")
    out.flush()
    report = verify_export(document, Keyring((private_key.public_key(),), retired))
    manifest = document["manifest"]
    if manifest["first_seq"] is None:
        sys.stderr.write("no audit records in that period\n")
    else:
        sys.stderr.write(
            f"exported records seq {manifest['first_seq']} to {manifest['last_seq']} (with"
            f" {manifest['record_count']} records from seq {manifest['anchor_seq'] + 1} to"
            f" {manifest['end_seq']} to link them to signed checkpoints)\n"
        )
    return print_report(report, "export", sys.stderr)


# --- key rotation -------------------------------------------------------------------------


def rotate_key(settings: Settings, *, out: TextIO | None = None) -> int:
    """Retires the signing key after a final checkpoint and makes a new one.

    Takes the trail's writer lock first, so it refuses while a server writes
    the trail; then signs whatever the old key has not signed yet, so every
    record up to the rotation is vouched for by the old key.
    """
    out = sys.stdout if out is None else out
    try:
        audit_log = open_audit_log(settings)
    except AuditUnavailable as error:
        out.write(f"cannot rotate the key now: {error}; stop the server first\n")
        return CANNOT
    except (OSError, ValueError) as error:
        out.write(f"cannot read the signing key: {error}\n")
        return CANNOT
    audit_log.close()  # signs what the key in use has not signed yet
    signed = audit_log.head.seq
    # Retire under the writer lock, so no server signs with the old key meanwhile.
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            locked = store.try_writer_lock(connection)
            last = store.last_record(connection) if locked else None
            if not locked or (last.seq if last else 0) != signed:
                out.write("cannot rotate the key now: a server started writing the trail\n")
                return CANNOT
            old, new = retire_signing_key(
                settings.audit_signing_key_file, last_seq=signed, at=datetime.now(UTC)
            )
    finally:
        engine.dispose()  # closing the session releases the lock
    out.write(
        f"retired audit key {old} after seq {signed}; signing with new key {new} from now on.\n"
        f"Give auditors the new public key {settings.audit_signing_key_file}.pub; the retired"
        f" one stays in {settings.audit_signing_key_file}.retired/{old}.pub.\n"
    )
    return OK


# --- the command line ---------------------------------------------------------------------


def add_audit_parser(commands: Any) -> None:
    """Adds ``audit verify``, ``export`` and ``rotate-key`` to the ``pantau`` subcommands."""
    audit = commands.add_parser("audit", help="verify or export the audit trail")
    actions = audit.add_subparsers(dest="audit_command", required=True)
    check = actions.add_parser(
        "verify", help="verify the trail in the database, or an export file offline"
    )
    check.add_argument("--export", type=Path, help="an export file to verify offline")
    check.add_argument(
        "--public-key",
        type=Path,
        action="append",
        default=[],
        help="PEM public key, repeatable for a trail signed by rotated keys"
        " (default: the one beside the signing key and the keys retired from it)",
    )
    actions.add_parser(
        "rotate-key",
        help="retire the signing key and make a new one (with the server stopped)",
    )
    dump = actions.add_parser("export", help="export the records of a period with proofs")
    dump.add_argument(
        "--from",
        dest="start",
        required=True,
        help="ISO date or time; without a zone, in the settings' timezone",
    )
    dump.add_argument("--to", dest="end", required=True, help="ISO date (whole day) or time")
    dump.add_argument("--output", type=Path, help="file to write (default: standard output)")


def parse_when(text: str, zone: str, *, end_of_day: bool) -> datetime:
    """An ISO date or date-time; a bare date is its first or last microsecond."""
    if len(text) == 10:
        day = datetime.fromisoformat(text).date()
        moment = datetime.combine(day, time.min, ZoneInfo(zone))
        return moment + timedelta(days=1, microseconds=-1) if end_of_day else moment
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


def run_audit_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the ``audit`` subcommand parsed by ``add_audit_parser``; the exit code."""
    if args.audit_command == "verify":
        return verify(settings, export_path=args.export, public_key_paths=args.public_key)
    if args.audit_command == "rotate-key":
        return rotate_key(settings)
    try:
        start = parse_when(args.start, settings.timezone, end_of_day=False)
        end = parse_when(args.end, settings.timezone, end_of_day=True)
    except ValueError as error:
        sys.stderr.write(f"--from and --to take ISO dates or times: {error}\n")
        return CANNOT
    if args.output is None:
        return export(settings, start=start, end=end, out=sys.stdout)
    with args.output.open("w", encoding="utf-8") as out:
        return export(settings, start=start, end=end, out=out)
