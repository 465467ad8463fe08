"""The servers under test, each in a process of its own.

A server process is spawned (not forked: gRPC and open database connections
do not survive a fork), starts its server on an ephemeral port of 127.0.0.1,
sends the port back through a pipe and serves until the parent sends on the
pipe or goes away (end of file). ``server_process`` always stops and reaps
the process, escalating to SIGTERM and SIGKILL if it does not stop in time.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from exchange_service.app import start_server
from exchange_service.settings import load_settings
from exchange_service.tools.bench.echo import ServerTls, start_echo_server

# How long a server may take to start, and to stop, seconds.
_START_TIMEOUT = 120.0
_STOP_TIMEOUT = 15.0


def _wait_for_stop(control: Connection) -> None:
    with suppress(EOFError):
        control.recv()


def run_pantau(settings_fields: dict[str, Any], insecure_dev: bool, control: Connection) -> None:
    """Process body: the real Pantau server (``app.start_server``) with these settings.

    ``insecure_dev`` is passed on: plaintext, the agency named in a header.
    """
    running = start_server(load_settings(**settings_fields), insecure_dev=insecure_dev)
    try:
        control.send(running.port)
        _wait_for_stop(control)
    finally:
        running.stop(grace=1.0)


def run_echo(workers: int, tls: ServerTls | None, control: Connection) -> None:
    """Process body: the bare echo server with ``workers`` handler threads."""
    server, port = start_echo_server(workers, tls)
    try:
        control.send(port)
        _wait_for_stop(control)
    finally:
        server.stop(grace=1.0).wait()


@dataclass(frozen=True)
class ServerProcess:
    """A running server process: the port it serves on and its process id."""

    port: int
    pid: int

    def cpu_seconds(self) -> float:
        """User and system CPU the process has used so far (Linux ``/proc``)."""
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        # After the command name: state is field 3; utime and stime are 14 and 15.
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def server_process(name: str, body: Callable[..., None], *args: Any) -> Iterator[ServerProcess]:
    """Runs ``body(*args, control)`` in a spawned process; yields its port and pid."""
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    process = context.Process(target=body, args=(*args, child), name=name, daemon=True)
    process.start()
    child.close()
    try:
        if not parent.poll(_START_TIMEOUT):
            raise RuntimeError(f"the {name} server did not start in {_START_TIMEOUT:g} s")
        try:
            port = parent.recv()
        except EOFError:
            raise RuntimeError(f"the {name} server failed to start (see its error above)") from None
        if process.pid is None:
            raise RuntimeError(f"the {name} server process has no pid")
        yield ServerProcess(int(port), process.pid)
    finally:
        with suppress(OSError):  # the process may be gone already
            parent.send("stop")
        process.join(_STOP_TIMEOUT)
        if process.is_alive():
            process.terminate()
            process.join(_STOP_TIMEOUT)
        if process.is_alive():
            process.kill()
            process.join()
        parent.close()
