"""Rotating the audit signing key: the trail goes on, verified with the old and the new key."""

from __future__ import annotations

import argparse
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from exchange_service.audit import store
from exchange_service.audit.chain import key_id, sign_checkpoint
from exchange_service.audit.log import open_audit_log
from exchange_service.cli import audit as commands
from exchange_service.settings import Settings
from exchange_service.signing.files import (
    keyring,
    load_private_key,
    load_retired_keys,
    retired_keys_dir,
)
from tests.audit.test_trail import EVERY, write_calls
from tests.clock import TestClock

BEFORE = 120  # records signed by the first key; not a multiple of EVERY
AFTER = 100


def _verify(
    settings: Settings, export_path: Path | None = None, public_key_paths: Sequence[Path] = ()
) -> tuple[int, str]:
    out = io.StringIO()
    code = commands.verify(
        settings, export_path=export_path, public_key_paths=public_key_paths, out=out
    )
    return code, out.getvalue()


@dataclass(frozen=True)
class Rotated:
    settings: Settings
    old: str  # key ids
    new: str
    stolen: Path  # a copy of the retired private key, as a thief would keep it


@pytest.fixture
def rotated(audit_settings: Settings, tmp_path: Path, clock: TestClock) -> Rotated:
    """A trail of BEFORE records under one key, rotated, then AFTER records under the next."""
    audit_log = open_audit_log(audit_settings, clock=clock.now)
    write_calls(audit_log, BEFORE)
    audit_log.close()
    key_file = audit_settings.audit_signing_key_file
    old = key_id(load_private_key(key_file).public_key())
    stolen = tmp_path / "stolen.key"
    stolen.write_bytes(key_file.read_bytes())
    out = io.StringIO()
    assert commands.rotate_key(audit_settings, out=out) == 0, out.getvalue()
    new = key_id(load_private_key(key_file).public_key())
    assert new != old
    assert f"retired audit key {old} after seq {BEFORE}" in out.getvalue()
    audit_log = open_audit_log(audit_settings, clock=clock.now)
    write_calls(audit_log, AFTER, seed=11)
    audit_log.close()
    return Rotated(audit_settings, old, new, stolen)


def test_the_trail_verifies_across_a_rotation(rotated: Rotated, audit_engine: Engine) -> None:
    settings, old, new = rotated.settings, rotated.old, rotated.new
    with audit_engine.connect() as connection:
        checkpoints = store.load_checkpoints(connection)
    signers = {c.seq: c.key_id for c in checkpoints}
    # Every record up to the rotation is signed by the old key, later ones by the new.
    assert signers[BEFORE] == old
    assert {k for seq, k in signers.items() if seq <= BEFORE} == {old}
    assert {k for seq, k in signers.items() if seq > BEFORE} == {new}
    assert max(signers) == BEFORE + AFTER
    code, text = _verify(settings)
    assert code == 0, text
    assert f"{BEFORE + AFTER} records" in text
    assert f"{old} (retired after seq {BEFORE})" in text
    # The retired key is kept for auditors only as its public half.
    folder = retired_keys_dir(settings.audit_signing_key_file)
    assert sorted(p.name for p in folder.iterdir()) == [f"{old}.json", f"{old}.pub"]
    (retired,) = load_retired_keys(settings.audit_signing_key_file)
    assert (key_id(retired.public_key), retired.last_seq) == (old, BEFORE)


def test_without_the_retired_key_the_old_checkpoints_are_untrusted(
    rotated: Rotated, tmp_path: Path
) -> None:
    settings, old, new = rotated.settings, rotated.old, rotated.new
    only_new = tmp_path / "new.pub"
    only_new.write_bytes(Path(f"{settings.audit_signing_key_file}.pub").read_bytes())
    code, text = _verify(settings, public_key_paths=[only_new])
    assert code == 1
    assert f"is signed by key '{old}', not by {new}" in text
    both = [only_new, retired_keys_dir(settings.audit_signing_key_file) / f"{old}.pub"]
    code, text = _verify(settings, public_key_paths=both)
    assert code == 0, text


def test_a_retired_key_cannot_vouch_for_later_records(
    rotated: Rotated, audit_engine: Engine, clock: TestClock
) -> None:
    """Had the retired private key leaked, a checkpoint it signs past its retirement fails."""
    settings, old = rotated.settings, rotated.old
    with audit_engine.connect() as connection:
        last = store.last_record(connection)
    assert last is not None
    # The thief signs the true head: the signature is good, the key is not trusted there.
    forged = sign_checkpoint(load_private_key(rotated.stolen), last.head, clock.now())
    store.append_checkpoint_lines(settings.audit_checkpoint_file, [forged])
    code, text = _verify(settings)
    assert code == 1
    assert f"checkpoint seq {last.seq} is signed by key '{old}', retired after seq {BEFORE}" in text


def test_an_export_spanning_the_rotation_verifies_offline(
    rotated: Rotated, tmp_path: Path, clock: TestClock
) -> None:
    settings, old = rotated.settings, rotated.old
    export_file = tmp_path / "export.json"
    start = clock.now() - timedelta(days=1)
    with export_file.open("w") as out:
        assert commands.export(settings, start=start, end=clock.now(), out=out) == 0
    document = json.loads(export_file.read_text())
    assert document["manifest"]["record_count"] == BEFORE + AFTER
    assert {c["key_id"] for c in document["checkpoints"]} >= {old}
    # The auditor holds both public keys; the retired one only vouches up to its seq.
    folder = retired_keys_dir(settings.audit_signing_key_file)
    current = Path(f"{settings.audit_signing_key_file}.pub")
    code, text = _verify(
        settings, export_path=export_file, public_key_paths=[current, folder / f"{old}.pub"]
    )
    assert code == 0, text
    code, text = _verify(settings, export_path=export_file, public_key_paths=[current])
    assert code == 1


def test_rotation_is_refused_while_a_server_writes_the_trail(audit_settings: Settings) -> None:
    audit_log = open_audit_log(audit_settings)
    try:
        key_file = audit_settings.audit_signing_key_file
        before = key_file.read_bytes()
        out = io.StringIO()
        assert commands.rotate_key(audit_settings, out=out) == 2
        assert "stop the server first" in out.getvalue()
        assert key_file.read_bytes() == before
        assert not retired_keys_dir(key_file).exists()
    finally:
        audit_log.close()


def test_the_command_line_rotates(
    audit_settings: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    parser = argparse.ArgumentParser(prog="pantau")
    commands.add_audit_parser(parser.add_subparsers(dest="command", required=True))
    audit_log = open_audit_log(audit_settings)
    write_calls(audit_log, EVERY)
    audit_log.close()
    args = parser.parse_args(["audit", "rotate-key"])
    assert commands.run_audit_command(args, audit_settings) == 0
    assert "retired audit key" in capsys.readouterr().out
    ring = keyring(audit_settings.audit_signing_key_file)
    assert len(ring.current) == 1
    assert len(ring.retired) == 1
    assert commands.run_audit_command(parser.parse_args(["audit", "verify"]), audit_settings) == 0
