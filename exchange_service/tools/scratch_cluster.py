"""A PostgreSQL cluster of its own, on a port of its own, for tests and benchmarks that restart it.

The shared cluster on 5432 serves the rest of the suite; a test that must
restart PostgreSQL under running processes makes one of these instead: a
fresh ``initdb`` (as the ``postgres`` user when the suite runs as root, since
PostgreSQL refuses to run as root), trust authentication on 127.0.0.1, the
``pantau`` role and database with PostGIS. ``restart`` stops it immediately
(as a crash would: no shutdown checkpoint) and starts it again on the same
port.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PG_BIN = Path(os.environ.get("PANTAU_PG_BIN", "/usr/lib/postgresql/15/bin"))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class ScratchCluster:
    """A running cluster in ``directory``; ``url`` is the ``pantau`` database's."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.log = directory / "postgres.log"
        self.port = _free_port()
        self._as_root = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://pantau@127.0.0.1:{self.port}/pantau"

    def _run(self, *command: str) -> None:
        full = list(command)
        if self._as_root:
            full = ["runuser", "-u", "postgres", "--", *full]
        done = subprocess.run(  # noqa: S603 (PostgreSQL's own programs)
            full, capture_output=True, text=True, timeout=120, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)}: {done.stderr or done.stdout}")

    def create(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self._as_root:
            shutil.chown(self.directory, "postgres", "postgres")
        self._run(
            str(PG_BIN / "initdb"),
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        self.start()
        for statement in (
            "CREATE ROLE pantau LOGIN SUPERUSER",
            "CREATE DATABASE pantau OWNER pantau",
        ):
            self._psql("postgres", statement)
        self._psql("pantau", "CREATE EXTENSION IF NOT EXISTS postgis")
        self._psql("pantau", "CREATE EXTENSION IF NOT EXISTS pg_trgm")
        self._psql("pantau", "CREATE EXTENSION IF NOT EXISTS btree_gist")

    def _psql(self, database: str, statement: str) -> None:
        self._run(
            str(PG_BIN / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            "postgres",
            "-d",
            database,
            "-c",
            statement,
        )

    def start(self) -> None:
        self._run(
            str(PG_BIN / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-w",
            "-t",
            "60",
            "-o",
            f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.directory}"
            " -c fsync=on -c max_connections=200",
            "start",
        )

    def stop(self, mode: str = "immediate") -> None:
        self._run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop")

    def restart(self, down_seconds: float = 0.0) -> None:
        """Stops it as a crash would, stays down ``down_seconds``, and starts it again."""
        self.stop("immediate")
        time.sleep(down_seconds)
        self.start()


@contextmanager
def scratch_cluster() -> Iterator[ScratchCluster]:
    """A fresh cluster for the block, in a directory of its own under the system's temporary
    directory (which the ``postgres`` user can reach); stopped and removed after it."""
    directory = Path(tempfile.mkdtemp(prefix="pantau-scratch-pg-"))
    cluster = ScratchCluster(directory)
    cluster.create()
    try:
        yield cluster
    finally:
        try:
            cluster.stop("immediate")
        finally:
            shutil.rmtree(directory, ignore_errors=True)
