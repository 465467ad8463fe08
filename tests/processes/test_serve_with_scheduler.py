"""`make run`'s last step: the server and one scheduler beside it, started and stopped together.

The launcher (``deploy/dev/serve-with-scheduler.sh``) runs against a project
directory of the test's own (settings, PKI, a migrated database). Ctrl-C (SIGINT
to the terminal's process group) or SIGTERM to the launcher stops both
processes, and the server stops when the scheduler dies; the terminal shows
the server's lines and one line about the scheduler; each of the scheduler's
runs reaches the trail once, through the server's writer or, committed after
its last drain, the next writer's."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from exchange_service.audit.log import open_audit_log
from exchange_service.settings import load_settings
from tests.conftest import fresh_database

REPOSITORY = Path(__file__).resolve().parents[2]
LAUNCHER = REPOSITORY / "deploy" / "dev" / "serve-with-scheduler.sh"
PANTAU = Path(sys.executable).parent / "pantau"


@pytest.fixture
def project(tmp_path: Path, free_port: int) -> Iterator[tuple[Path, str]]:
    with fresh_database("pantau_serve_scheduler") as url:
        (tmp_path / "deploy").mkdir()
        (tmp_path / "deploy" / "agencies.toml").write_text(
            (REPOSITORY / "deploy" / "agencies.toml").read_text()
        )
        # Every rule hourly: the scheduler's first runs are those of the last hour's slot,
        # within the misfire grace at any hour (the daily crons of make run have none
        # within it between 06:05 and 07:00 WIB).
        settings = re.sub(
            r"^scheduler_crons\.(\w+) = .*$",
            r'scheduler_crons.\1 = ["0 * * * *"]',
            (REPOSITORY / "deploy" / "pantau.dev.toml").read_text(),
            flags=re.MULTILINE,
        )
        (tmp_path / "deploy" / "pantau.dev.toml").write_text(
            settings.replace("postgresql+psycopg://pantau@127.0.0.1:5432/pantau", url).replace(
                "127.0.0.1:50051", f"127.0.0.1:{free_port}"
            )
        )
        subprocess.run(
            [str(PANTAU), "pki", "--out", "var/pki"],
            cwd=tmp_path,
            env=_environment(),
            check=True,
            capture_output=True,
        )
        yield tmp_path, url


@pytest.fixture
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _environment() -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    return clean | {"PANTAU_SETTINGS": "deploy/pantau.dev.toml"}


def _wait_for(what: str, condition: Callable[[], bool], logs: Callable[[], str]) -> None:
    deadline = time.monotonic() + 60
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not within 60 s\n{logs()}")
        time.sleep(0.1)


def _counts(url: str) -> tuple[int, int, int]:
    """Audit events waiting in the inbox, the scheduler's records in the trail, and what it
    did that is audited: its rules' runs and the reports it made (the morning's, both
    editions, if the scheduler starts after the morning hour)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return tuple(  # type: ignore[return-value]
                int(connection.execute(text(sql)).scalar_one())
                for sql in (
                    "SELECT count(*) FROM audit_inbox",
                    "SELECT count(*) FROM audit_records WHERE agency_id = 'scheduler'",
                    "SELECT (SELECT count(*) FROM rule_runs WHERE actor = 'scheduler')"
                    " + (SELECT count(*) FROM reports WHERE made_by = 'scheduler')",
                )
            )
    finally:
        engine.dispose()


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm", "scheduler-killed"])
def test_the_server_and_its_scheduler_start_and_stop_together(
    project: tuple[Path, str], stop: str
) -> None:
    directory, url = project
    output = directory / "terminal.txt"
    scheduler_log = directory / "var" / "log" / "scheduler.log"
    with output.open("wb") as terminal:
        launcher = subprocess.Popen(
            ["bash", str(LAUNCHER), str(PANTAU)],
            cwd=directory,
            env=_environment(),
            stdout=terminal,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, as a terminal's job
        )

    def logs() -> str:
        scheduler = scheduler_log.read_text() if scheduler_log.exists() else ""
        return f"--- terminal\n{output.read_text()}\n--- scheduler\n{scheduler}"

    try:
        _wait_for("the server", lambda: "Pantau is serving" in output.read_text(), logs)
        _wait_for(
            "the scheduler's first runs",
            lambda: scheduler_log.exists() and "committed in term 1" in scheduler_log.read_text(),
            logs,
        )
        children = subprocess.run(
            ["pgrep", "-g", str(launcher.pid)], capture_output=True, text=True, check=False
        ).stdout.split()
        assert len(children) == 3, logs()  # the launcher, the server, the scheduler
        if stop == "ctrl-c":
            os.killpg(launcher.pid, signal.SIGINT)
        elif stop == "sigterm":
            launcher.send_signal(signal.SIGTERM)
        else:  # the scheduler dies: the launcher stops the server too
            found = re.search(r"running beside the server \(pid (\d+)\)", output.read_text())
            assert found is not None, logs()
            os.kill(int(found.group(1)), signal.SIGKILL)
        try:
            status = launcher.wait(timeout=30)
        except subprocess.TimeoutExpired:
            running = subprocess.run(
                ["ps", "-o", "pid,stat,cmd", "-g", str(launcher.pid)],
                capture_output=True,
                text=True,
                check=False,
            ).stdout
            pytest.fail(f"not stopped within 30 s:\n{running}\n{logs()}")
        assert status == 0, logs()
    finally:
        if launcher.poll() is None:
            os.killpg(launcher.pid, signal.SIGKILL)
    left = subprocess.run(
        ["pgrep", "-g", str(launcher.pid)], capture_output=True, text=True, check=False
    ).stdout.split()
    assert left == [], logs()
    shown = output.read_text()
    assert shown.count("scheduler: running beside the server") == 1
    assert "Traceback" not in shown + scheduler_log.read_text(), logs()
    if stop != "scheduler-killed":
        assert scheduler_log.read_text().splitlines()[-1].endswith("stopped")
    waiting, chained, runs = _counts(url)
    assert runs >= 1
    # Each run's event is chained or waits for the next writer, once. On SIGTERM the
    # launcher stops the scheduler first: the server's writer, closing last, chains
    # them all. Ctrl-C reaches both at once: a run committing after the server's
    # last drain waits in the inbox.
    assert waiting + chained == runs
    if stop == "sigterm":
        assert waiting == 0
    # The next writer (a server, `pantau rules run`) chains what waits.
    trail = load_settings(
        database_url=url,
        audit_signing_key_file=directory / "var" / "audit" / "audit-signing.key",
        audit_checkpoint_file=directory / "var" / "audit" / "checkpoints.jsonl",
    )
    open_audit_log(trail).close()
    assert _counts(url) == (0, runs, runs)
