"""Stopping the server always ends: in flight calls get the grace, the trail its final checkpoint.

The scenario that hung grpcio's threaded server (3 of 7 stops): a lodging
import whose stream ends in bytes that are no LodgingReport, another stream
still open, then SIGTERM. Repeated 50 times in one process (``RunningServer.stop``)
and a few times as the real ``pantau serve`` process (SIGTERM, exit status 0).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pantau.v1 import registry_service_pb2 as r

from exchange_service import app
from exchange_service.settings import Settings
from tests.clock import TestClock
from tests.conftest import AGENCIES, agency_channel, fresh_database
from tests.processes.test_serve_with_scheduler import (
    PANTAU,
    _environment,
    _wait_for,
    free_port,  # noqa: F401 (a fixture)
    project,  # noqa: F401 (a fixture)
)

IMPORT = "/pantau.v1.RegistryService/ImportLodgingReports"
REPETITIONS = 50
GRACE = 0.5


def _garbage_stream(channel: grpc.Channel) -> grpc.Future:
    """An import whose stream ends in bytes that do not parse; its summary comes back."""
    stream = channel.stream_unary(IMPORT)
    messages = [r.LodgingReport(lodging_id="", reference="R-1").SerializeToString(), b"\xff\xfe"]
    return stream.future(iter(messages), timeout=30)


def _idle_stream(channel: grpc.Channel) -> tuple[grpc.Future, list[bool]]:
    """An import that sends one report and then waits: in flight when the server stops."""
    release = [False]

    def reports() -> Iterator[bytes]:
        yield r.LodgingReport(lodging_id="", reference="R-2").SerializeToString()
        while not release[0]:
            time.sleep(0.05)

    return channel.stream_unary(IMPORT).future(reports(), timeout=30), release


@pytest.fixture(scope="module")
def own_database() -> Iterator[str]:
    with fresh_database("pantau_shutdown") as url:
        yield url


def test_stopping_after_a_garbage_stream_always_ends_in_the_grace(
    settings: Settings, own_database: str, pki_dir: Path, clock: TestClock, tmp_path: Path
) -> None:
    checkpoints = tmp_path / "checkpoints.jsonl"
    ours = settings.model_copy(
        update={"database_url": own_database, "audit_checkpoint_file": checkpoints}
    )
    took: list[float] = []
    for _ in range(REPETITIONS):
        running = app.start_server(ours, clock=clock.now)
        with agency_channel(f"127.0.0.1:{running.port}", pki_dir, AGENCIES["IMMIGRATION"]) as ch:
            summary = r.ImportSummary.FromString(_garbage_stream(ch).result())
            assert summary.rejected == 2
            idle, release = _idle_stream(ch)
            time.sleep(0.05)
            before = len(checkpoints.read_text().splitlines()) if checkpoints.exists() else 0
            started = time.monotonic()
            assert running.stop(grace=GRACE)  # gRPC's own stop finished: no watchdog
            took.append(time.monotonic() - started)
            release[0] = True
            assert idle.exception() is not None  # cancelled after the grace
        # The trail was closed with a final signed checkpoint.
        assert len(checkpoints.read_text().splitlines()) == before + 1
    assert max(took) < GRACE + 2.0, took


def test_sigterm_ends_pantau_serve_with_status_zero_and_a_final_checkpoint(
    project: tuple[Path, str],  # noqa: F811 (the fixture imported above)
) -> None:
    root, _url = project
    environment = _environment() | {"PANTAU_SHUTDOWN_GRACE_SECONDS": "1"}
    settings_text = (root / "deploy" / "pantau.dev.toml").read_text()
    port = int(settings_text.split('listen_address = "127.0.0.1:', 1)[1].split('"', 1)[0])
    checkpoints = root / "var" / "audit" / "checkpoints.jsonl"
    output = root / "serve.log"
    for _ in range(3):
        with output.open("w") as log_file:
            server = subprocess.Popen(
                [str(PANTAU), "serve"],
                cwd=root,
                env=environment,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for(
                "the server", lambda: "Pantau is serving" in output.read_text(), output.read_text
            )
            before = len(checkpoints.read_text().splitlines()) if checkpoints.exists() else 0
            with agency_channel(
                f"127.0.0.1:{port}", root / "var" / "pki", AGENCIES["IMMIGRATION"]
            ) as ch:
                assert r.ImportSummary.FromString(_garbage_stream(ch).result()).rejected == 2
                idle, release = _idle_stream(ch)
                health = health_pb2_grpc.HealthStub(ch)
                assert (
                    health.Check(health_pb2.HealthCheckRequest(), timeout=5).status
                    == health_pb2.HealthCheckResponse.SERVING
                )
                started = time.monotonic()
                server.send_signal(signal.SIGTERM)
                code = server.wait(timeout=20)
                took = time.monotonic() - started
                release[0] = True
                assert idle.exception() is not None
        finally:
            if server.poll() is None:
                os.kill(server.pid, signal.SIGKILL)
                server.wait()
        assert code == 0, output.read_text()
        assert took < 1 + 5.0, output.read_text()
        assert "pantau stopping" in output.read_text()
        assert len(checkpoints.read_text().splitlines()) == before + 1
        verified = subprocess.run(
            [str(PANTAU), "audit", "verify"],
            cwd=root,
            env=environment,
            capture_output=True,
            text=True,
            check=False,
        )
        assert verified.returncode == 0, verified.stdout + verified.stderr
