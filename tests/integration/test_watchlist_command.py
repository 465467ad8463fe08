"""`pantau watchlist import|screen|compare` as the office runs them, from the project
directory, on a database of this module's own: an OpenSanctions file imported (and
imported again, writing nothing), its rejections summed up, the registered population
screened against it, and each batch one event of the audit trail."""

from __future__ import annotations

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

from exchange_service.app import build_application
from exchange_service.domain import commands as cmd
from exchange_service.domain.model import Sex
from exchange_service.settings import load_settings
from tests.conftest import ROOT, fresh_database
from tests.feeds import FEED_KEY_PASSPHRASE, feed_key_settings

PANTAU = Path(sys.executable).parent / "pantau"
DATA = ROOT / "tests" / "data" / "watchlist"


@dataclass(frozen=True)
class Project:
    directory: Path
    engine: Engine
    person_id: str


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("project")
    with fresh_database("pantau_test_watchlist_command") as url:
        (directory / "deploy").mkdir()
        shutil.copy(ROOT / "deploy" / "agencies.toml", directory / "deploy" / "agencies.toml")
        (directory / "deploy" / "pantau.dev.toml").write_text(
            f'database_url = "{url}"\n'
            'audit_signing_key_file = "var/audit/audit-signing.key"\n'
            'audit_checkpoint_file = "var/audit/checkpoints.jsonl"\n'
            'feed_keys_dir = "var/feed-keys"\n'
            f'feed_key_passphrase = "{FEED_KEY_PASSPHRASE}"\n'
        )
        settings = load_settings(
            database_url=url, **feed_key_settings(directory / "var" / "feed-keys")
        )
        application = build_application(settings)
        # The OpenSanctions sample lists Ivan Petrovich Sidorov; he is registered here.
        person = application.registry.register_person(
            cmd.RegisterPerson(
                family_name="Sidorov",
                given_names="Ivan Petrovich",
                nationality="RUS",
                birth_date=cmd.DateParts(1962, 8, 13),
                sex=Sex.MALE,
                documents=(cmd.RawDocument("RUS", "721234567"),),
            )
        )
        application.close()
        engine = create_engine(url)
        try:
            yield Project(directory, engine, str(person.id))
        finally:
            engine.dispose()


def pantau(project: Project, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("PANTAU_")}
    return subprocess.run(
        [str(PANTAU), *args],
        cwd=project.directory,
        env=clean,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _scalar(project: Project, sql: str, **values: Any) -> Any:
    with project.engine.connect() as connection:
        return connection.execute(text(sql), values).scalar_one()


def test_an_opensanctions_file_is_imported_once_and_screened(project: Project) -> None:
    source = str(DATA / "opensanctions-sample.ftm.json")
    first = pantau(
        project,
        "watchlist",
        "import",
        source,
        "--list",
        "ENTRY_BAN",
        "--issuing-agency",
        "OpenSanctions",
        "--officer",
        "Seksi Intelijen",
    )
    assert first.returncode in (0, 1), first.stderr
    entries = _scalar(project, "SELECT count(*) FROM watchlist_entries")
    assert entries >= 3
    assert "accepted" in first.stderr
    versions = _scalar(project, "SELECT count(*) FROM watchlist_entry_versions")
    officer = _scalar(
        project, "SELECT min(officer) FROM watchlist_entry_versions WHERE change = 'ADDED'"
    )
    assert officer == "Seksi Intelijen"
    again = pantau(
        project,
        "watchlist",
        "import",
        source,
        "--list",
        "ENTRY_BAN",
        "--issuing-agency",
        "OpenSanctions",
    )
    assert again.returncode == first.returncode, again.stderr
    assert _scalar(project, "SELECT count(*) FROM watchlist_entry_versions") == versions
    screened = pantau(project, "watchlist", "screen")
    assert screened.returncode == 0, screened.stderr
    assert "screened" in screened.stdout
    assert (
        _scalar(
            project,
            "SELECT count(*) FROM alerts WHERE rule = 'WATCHLIST_MATCH' AND subject_id = :s",
            s=project.person_id,
        )
        == 1
    )
    # Each import batch and the screening are in the audit trail, chained by the command.
    assert _scalar(project, "SELECT count(*) FROM audit_inbox") == 0
    assert (
        _scalar(project, "SELECT count(*) FROM audit_records WHERE method = 'watchlist/import'")
        >= 2
    )
    assert (
        _scalar(
            project,
            "SELECT count(*) FROM audit_records WHERE method = 'watchlist/screen'"
            " AND :s = ANY(person_ids)",
            s=project.person_id,
        )
        == 1
    )


def test_a_dry_run_writes_nothing_and_bad_rows_are_summed_up(project: Project) -> None:
    before = _scalar(project, "SELECT count(*) FROM watchlist_entry_versions")
    ran = pantau(
        project,
        "watchlist",
        "import",
        str(DATA / "watchlist-office.csv"),
        "--dry-run",
        "--list",
        "ENTRY_BAN",
        "--issuing-agency",
        "Kanim Tarempa",
    )
    assert ran.returncode == 1, ran.stderr  # the office's sample CSV holds bad rows
    assert "rejected" in ran.stderr
    assert _scalar(project, "SELECT count(*) FROM watchlist_entry_versions") == before


def test_compare_decides_at_the_configured_threshold(project: Project) -> None:
    ran = pantau(
        project,
        "watchlist",
        "compare",
        stdin="name1,name2\nSukarno,Soekarno\nJohn Doe,Juan Doe\n",
    )
    assert ran.returncode == 0, ran.stderr
    header, sukarno, doe = ran.stdout.splitlines()
    assert header == "name1,name2,score,match"
    assert sukarno.endswith(",true")
    assert doe.endswith(",false")
