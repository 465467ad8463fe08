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
from collections.abc import Sequence
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from exchange_service.audit.chain import Keyring, VerificationReport
from exchange_service.audit.export import verify_export
from exchange_service.audit.rotation import RotationRefused, rotate_signing_key
from exchange_service.audit.verify import (
    export_document,
    read_file_checkpoints,
    snapshot,
    verify_database,
)
from exchange_service.settings import Settings
from exchange_service.signing.files import (
    keyring,
    load_private_key,
    load_public_key,
)
from exchange_service.signing.keys import TrustedKey

OK, PROBLEMS, CANNOT = 0, 1, 2


def _keyring(settings: Settings, paths: Sequence[Path]) -> Keyring:
    """The keys given (all trusted as current), or else the settings' key and its retired ones."""
    if paths:
        return Keyring.in_use(*(load_public_key(path) for path in paths))
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
    with snapshot(settings.database_url) as connection:
        report = verify_database(connection, keys, file_checkpoints, file_report)
    return print_report(report, f"audit trail (keys {keys.describe()})", out)


def export(settings: Settings, *, start: datetime, end: datetime, out: TextIO) -> int:
    """Writes the export of [start, end] to ``out`` and checks it; problems go to stderr.

    The export is written even when the trail it holds fails verification, so
    that the auditor sees exactly what is there; the exit code is then 1.
    """
    try:
        private_key = load_private_key(settings.audit_signing_key_file)
        retired = keyring(settings.audit_signing_key_file).retired
    except (OSError, ValueError) as error:
        sys.stderr.write(f"cannot read the signing key: {error}\n")
        return CANNOT
    file_checkpoints, _problems = read_file_checkpoints(settings.audit_checkpoint_file)
    with snapshot(settings.database_url) as connection:
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
    report = verify_export(document, Keyring((TrustedKey(private_key.public_key()), *retired)))
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
    """Retires the signing key after a final checkpoint and makes a new one (server stopped)."""
    out = sys.stdout if out is None else out
    try:
        rotation = rotate_signing_key(settings, at=datetime.now(UTC))
    except RotationRefused as error:
        out.write(f"cannot rotate the key now: {error}\n")
        return CANNOT
    except (OSError, ValueError) as error:
        out.write(f"cannot read the signing key: {error}\n")
        return CANNOT
    key_file, old = settings.audit_signing_key_file, rotation.old_key_id
    out.write(
        f"retired audit key {old} after seq {rotation.last_seq}; signing with new key"
        f" {rotation.new_key_id} from now on.\n"
        f"Give auditors the new public key {key_file}.pub; the retired"
        f" one stays in {key_file}.retired/{old}.pub.\n"
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
