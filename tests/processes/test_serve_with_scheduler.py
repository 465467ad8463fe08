"""`make run`'s last step: the server and one scheduler beside it, started and stopped together.

The launcher (``deploy/dev/serve-with-scheduler.sh``) runs against a project
directory of the test's own (settings, PKI, a migrated database). Ctrl-C (SIGINT
to the terminal's process group) or SIGTERM to the launcher stops both
processes; the terminal shows the server's lines and one line about the
scheduler; the scheduler's runs reach the trail through the server's writer.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

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
        settings = (REPOSITORY / "deploy" / "pantau.dev.toml").read_text()
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


@pytest.mark.parametrize("stop", ["ctrl-c", "sigterm"])
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
        else:
            launcher.send_signal(signal.SIGTERM)
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
    assert scheduler_log.read_text().splitlines()[-1].endswith("stopped")
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            waiting = connection.execute(text("SELECT count(*) FROM audit_inbox")).scalar_one()
            chained = connection.execute(
                text("SELECT count(*) FROM audit_records WHERE agency_id = 'scheduler'")
            ).scalar_one()
            runs = connection.execute(
                text("SELECT count(*) FROM rule_runs WHERE actor = 'scheduler'")
            ).scalar_one()
    finally:
        engine.dispose()
    assert runs >= 1
    assert (waiting, chained) == (0, runs)  # the server's writer chained every run's event
