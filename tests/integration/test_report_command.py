"""`pantau report` as a supervisor runs it from the project directory, on a database of
this module's own: the report written out and stored, its digest in the audit trail,
`--verify` telling a copy as made from one changed, and bad options naming each one."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from tests.conftest import ROOT, fresh_database
from tests.feeds import FEED_KEY_PASSPHRASE

PANTAU = Path(sys.executable).parent / "pantau"


@dataclass(frozen=True)
class Project:
    directory: Path
    engine: Engine


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("project")
    with fresh_database("pantau_test_report_command") as url:
        (directory / "deploy").mkdir()
        shutil.copy(ROOT / "deploy" / "agencies.toml", directory / "deploy" / "agencies.toml")
        (directory / "deploy" / "pantau.dev.toml").write_text(
            f'database_url = "{url}"\n'
            'audit_signing_key_file = "var/audit/audit-signing.key"\n'
            'audit_checkpoint_file = "var/audit/checkpoints.jsonl"\n'
            'feed_keys_dir = "var/feed-keys"\n'
            f'feed_key_passphrase = "{FEED_KEY_PASSPHRASE}"\n'
        )
        engine = create_engine(url)
        try:
            yield Project(directory, engine)
        finally:
            engine.dispose()


def pantau(project: Project, *args: str) -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PANTAU_")}
    return subprocess.run(
        [str(PANTAU), *args],
        cwd=project.directory,
        env=clean,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _scalar(project: Project, sql: str, **values: Any) -> Any:
    with project.engine.connect() as connection:
        return connection.execute(text(sql), values).scalar_one()


def test_a_report_is_written_stored_recorded_and_verified(project: Project) -> None:
    made = pantau(project, "report", "--district", "21.05.06", "--out", "handed-over")
    assert made.returncode == 0, made.stdout + made.stderr
    out = project.directory / "handed-over"
    digest = hashlib.sha256((out / "SHA256SUMS").read_bytes()).hexdigest()
    assert f"digest {digest}" in made.stdout
    assert f"file://{out.resolve()}/report.html" in made.stdout
    assert _scalar(project, "SELECT district_code FROM reports WHERE digest = :d", d=digest) == (
        "21.05.06"
    )
    # The command holds the trail: its event is chained before it returns.
    assert (
        _scalar(
            project,
            "SELECT count(*) FROM audit_records"
            " WHERE request_digest = :d AND method = 'report/make'",
            d=digest,
        )
        == 1
    )
    verified = pantau(project, "report", "--verify", "handed-over")
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout.startswith("VERIFIED: report ")
    assert "recorded: audit record " in verified.stdout
    # One byte changed in a copy: not the report Pantau made.
    copy = project.directory / "copy"
    shutil.copytree(out, copy)
    summary = copy / "summary.json"
    summary.write_bytes(summary.read_bytes() + b"\n")
    changed = pantau(project, "report", "--verify", "copy")
    assert changed.returncode == 1
    assert changed.stdout.startswith("NOT VERIFIED")


def test_bad_options_name_each_one_and_make_nothing(project: Project) -> None:
    before = _scalar(project, "SELECT count(*) FROM reports")
    refused = pantau(project, "report", "--date", "2026-02-30", "--district", "21.05.11")
    assert refused.returncode == 2
    assert "--date: must be a date" in refused.stderr
    assert "--district: is not a district" in refused.stderr
    assert _scalar(project, "SELECT count(*) FROM reports") == before
