"""Delivery under fire: alert events pushed to a police and a regional-government reference
receiver while each receiver is killed at random and PostgreSQL is restarted once.

On a PostgreSQL cluster of its own (``tools/scratch_cluster.py``, another
port), with its own PKI, feed keys and agencies file, it seeds ``events``
signed entries into each agency's feed in chunks while two `pantau deliver`
processes push them: the police's over gRPC (``AlertReceiverService.Deliver``,
mutual TLS), the regional government's as Standard Webhooks over HTTPS, each
to a reference receiver process (``python -m agency_adapters.receivers``) with
its durable file store. During the chaos phase a receiver, chosen at random,
is SIGKILLed every ``kill_min`` to ``kill_max`` seconds and started again,
and half way through PostgreSQL is stopped as a crash would and started
again. Then the chaos stops and the run waits until both lanes are
delivered. What each receiver holds is read back from its store: entries
lost (a sequence missing), entries applied twice (a sequence or event id
held more than once), and how long after the last restart the last entry
arrived.

``make test`` runs it at a reduced count (tests/processes); ``make
bench-delivery`` at 10,000 events per receiver.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import DBAPIError

from exchange_service import app
from exchange_service.settings import load_settings
from exchange_service.signing.keyset import KeySet
from exchange_service.tools.bench.feed_seed import seed_feed
from exchange_service.tools.pki import create_dev_pki
from exchange_service.tools.scratch_cluster import scratch_cluster

PANTAU = "kanim-tarempa"
POLICE = "polres-anambas"
REGION = "pemkab-anambas"
PASSPHRASE = "delivery chaos: development only"  # noqa: S105 (a throwaway key set)
# The delivery settings of the run: short leases and backoff, so recovery is quick.
DELIVERY = {
    "delivery_batch": 100,
    "delivery_lease_seconds": 4.0,
    "delivery_backoff_initial_seconds": 0.2,
    "delivery_backoff_max_seconds": 2.0,
    "delivery_poll_seconds": 0.5,
    "delivery_max_attempts": 10_000,
}


def free_port() -> int:
    """A TCP port on 127.0.0.1 nothing listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _environment(settings_file: Path) -> dict[str, str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
    return clean | {
        "PANTAU_SETTINGS": str(settings_file),
        "PANTAU_FEED_KEY_PASSPHRASE": PASSPHRASE,
        "PANTAU_LOG_LEVEL": "WARNING",
    }


class Process:
    """A child process, its output appended to a log file."""

    def __init__(self, command: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.command = command
        self.log_path = log
        self._env = env
        self._log: IO[bytes] | None = None
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            self.command, stdout=self._log, stderr=subprocess.STDOUT, env=self._env
        )

    def kill(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait(timeout=10)
        self._close_log()

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after 15 s; the exit code."""
        if self.popen is None:
            return None
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=10)
        self._close_log()
        return self.popen.returncode

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def wait_listening(port: int, process: Process, seconds: float = 20.0) -> None:
    """Returns once something listens on ``port``; RuntimeError, with the process's log, if
    it exits first or nothing listens within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.popen is not None and process.popen.poll() is not None:
            raise RuntimeError(
                f"{' '.join(process.command[1:4])} exited: {process.log_path.read_text()}"
            )
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port} after {seconds:g} s")


@dataclass
class ReceiverHeld:
    """What one receiver's store holds, read back from its file."""

    agency_id: str
    expected: int
    sequences: list[int]
    event_ids: list[str]

    @property
    def lost(self) -> int:
        return len(set(range(1, self.expected + 1)) - set(self.sequences))

    @property
    def applied_twice(self) -> int:
        repeats = Counter(self.sequences) + Counter(self.event_ids)
        return sum(n - 1 for n in repeats.values() if n > 1)


@dataclass
class ChaosResult:
    events: int
    receiver_kills: int
    database_restarts: int
    held: list[ReceiverHeld]
    # Seconds from the last restart (of a receiver or PostgreSQL) to the last entry held.
    delivered_after_last_restart: float
    seconds: float
    timed_out: bool
    logs: dict[str, str] = field(default_factory=dict)

    @property
    def lost(self) -> int:
        return sum(h.lost for h in self.held)

    @property
    def applied_twice(self) -> int:
        return sum(h.applied_twice for h in self.held)

    def describe(self) -> str:
        return (
            f"{self.events} events to each of {len(self.held)} receivers in {self.seconds:.1f} s;"
            f" {self.receiver_kills} receiver kills, {self.database_restarts} PostgreSQL"
            f" restart(s); lost {self.lost}, applied twice {self.applied_twice};"
            f" all delivered {self.delivered_after_last_restart:.1f} s after the last restart"
            + (" (TIMED OUT)" if self.timed_out else "")
        )


def _read_store(path: Path, agency_id: str, expected: int) -> ReceiverHeld:
    sequences: list[int] = []
    event_ids: list[str] = []
    if path.exists():
        for line in path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                continue  # a torn last line: never acknowledged
            sequences.append(int(record["sequence"]))
            event_ids.append(str(record["event_id"]))
    return ReceiverHeld(agency_id, expected, sequences, event_ids)


def _agencies_file(path: Path, pki_dir: Path, police_port: int, region_port: int) -> None:
    path.write_text(
        f"""[[agency]]
id = "{PANTAU}"
name = "Kantor Imigrasi Kelas II TPI Tarempa"
kind = "IMMIGRATION"
view = "FULL"

[[agency]]
id = "{POLICE}"
name = "Polres Kepulauan Anambas"
kind = "POLICE"
view = "FULL"

[agency.feed]

[[agency.push]]
channel = "GRPC"
target = "127.0.0.1:{police_port}"
ca_file = "{pki_dir / "ca.crt"}"
server_name = "localhost"

[[agency]]
id = "{REGION}"
name = "Pemerintah Kabupaten Kepulauan Anambas"
kind = "LOCAL_GOVERNMENT"
view = "DISTRICT"

[agency.feed]

[[agency.push]]
channel = "WEBHOOK"
target = "https://localhost:{region_port}/pantau/alerts"
ca_file = "{pki_dir / "ca.crt"}"
"""
    )


def _delivered(engine: Engine) -> dict[str, int]:
    """Each lane's cursor; nothing while the database restarts."""
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                text("SELECT agency_id, delivered_through FROM delivery_lanes")
            ).all()
    except DBAPIError:
        return {}
    return {str(agency): int(through) for agency, through in rows}


def run_delivery_chaos(  # noqa: PLR0915 (one scenario, told in order)
    workdir: Path,
    *,
    events: int,
    chunks: int = 10,
    chaos_seconds: float = 30.0,
    kill_min: float = 1.0,
    kill_max: float = 4.0,
    deadline_seconds: float = 600.0,
    seed: int = 2105,
    say: Any = print,
) -> ChaosResult:
    """Runs the scenario in ``workdir``; the result says what each receiver holds."""
    rng = random.Random(seed)
    workdir.mkdir(parents=True, exist_ok=True)
    pki = create_dev_pki(workdir / "pki", [PANTAU, POLICE, REGION])
    started = time.monotonic()
    with scratch_cluster() as cluster:
        police_port, region_port = free_port(), free_port()
        agencies = workdir / "agencies.toml"
        _agencies_file(agencies, workdir / "pki", police_port, region_port)
        keys_dir = workdir / "feed-keys"
        keys = KeySet.open(
            keys_dir, PASSPHRASE.encode(), create_at=datetime.now(UTC) - timedelta(hours=1)
        )
        jwks = workdir / "jwks.json"
        jwks.write_text(json.dumps(keys.jwks(datetime.now(UTC))))
        settings_file = workdir / "pantau.toml"
        settings_file.write_text(
            f'database_url = "{cluster.url}"\n'
            f'agencies_file = "{agencies}"\n'
            f'feed_keys_dir = "{keys_dir}"\n'
            f'delivery_client_cert_file = "{pki.agency_cert(PANTAU)}"\n'
            f'delivery_client_key_file = "{pki.agency_key(PANTAU)}"\n'
            + "".join(f"{key} = {value}\n" for key, value in DELIVERY.items())
        )
        env = _environment(settings_file)
        settings = load_settings(
            database_url=cluster.url, agencies_file=agencies, feed_keys_dir=keys_dir
        )
        app.migrate(settings)
        engine = create_engine(cluster.url, pool_pre_ping=True)
        stores = {POLICE: workdir / "police-store", REGION: workdir / "region-store"}

        def receiver(kind: str, agency_id: str, port: int) -> Process:
            trust = ["--ca", str(pki.ca_cert)] if kind == "police" else []
            return Process(
                [
                    sys.executable,
                    "-m",
                    "agency_adapters.receivers",
                    kind,
                    "--listen",
                    f"127.0.0.1:{port}",
                    "--cert",
                    str(pki.server_cert),
                    "--key",
                    str(pki.server_key),
                    *trust,
                    "--jwks",
                    str(jwks),
                    "--store",
                    str(stores[agency_id]),
                    "--agency",
                    agency_id,
                ],
                workdir / f"receiver-{kind}.log",
            )

        receivers = {
            POLICE: (receiver("police", POLICE, police_port), police_port),
            REGION: (receiver("webhook", REGION, region_port), region_port),
        }
        for process, port in receivers.values():
            process.start()
            wait_listening(port, process)
        workers = [
            Process(
                [sys.executable, "-m", "exchange_service.cli", "deliver", "--worker-id", f"w{i}"],
                workdir / f"deliver-{i}.log",
                env,
            )
            for i in range(2)
        ]
        for worker in workers:
            worker.start()
        kills = restarts = 0
        last_restart = time.monotonic()
        seeded = 0
        per_chunk = -(-events // chunks)
        chaos_until = time.monotonic() + chaos_seconds
        next_kill = time.monotonic() + rng.uniform(kill_min, kill_max)
        next_chunk = time.monotonic()
        restart_at = time.monotonic() + chaos_seconds / 2
        signer = keys.signer_at(datetime.now(UTC))
        timed_out = False
        try:
            while True:
                now = time.monotonic()
                if seeded < events and now >= next_chunk:
                    count = min(per_chunk, events - seeded)
                    for agency_id in (POLICE, REGION):
                        for attempt in range(30):
                            try:
                                seed_feed(engine, agency_id, count, signer=signer)
                                break
                            except DBAPIError:  # the database is restarting
                                if attempt == 29:
                                    raise
                                time.sleep(1.0)
                    seeded += count
                    next_chunk = now + chaos_seconds / (chunks + 1)
                if now < chaos_until and now >= next_kill:
                    agency_id = rng.choice([POLICE, REGION])
                    process, port = receivers[agency_id]
                    process.kill()
                    time.sleep(rng.uniform(0.1, 1.0))
                    process.start()
                    wait_listening(port, process)
                    kills += 1
                    last_restart = time.monotonic()
                    next_kill = last_restart + rng.uniform(kill_min, kill_max)
                if restarts == 0 and now >= restart_at:
                    say("restarting PostgreSQL (immediate stop, as a crash)")
                    engine.dispose()
                    cluster.restart(down_seconds=2.0)
                    restarts += 1
                    last_restart = time.monotonic()
                done = _delivered(engine)
                if (
                    seeded == events
                    and now >= chaos_until
                    and restarts
                    and all(done.get(a, 0) >= events for a in (POLICE, REGION))
                ):
                    break
                if now - started > deadline_seconds:
                    timed_out = True
                    break
                time.sleep(0.2)
            finished = time.monotonic()
        finally:
            for worker in workers:
                worker.stop()
            for process, _ in receivers.values():
                process.stop()
            engine.dispose()
        held = [
            _read_store(stores[agency_id] / f"{agency_id}.jsonl", agency_id, events)
            for agency_id in (POLICE, REGION)
        ]
        logs = {
            p.log_path.name: p.log_path.read_text(errors="replace")[-4000:]
            for p in [*workers, *(r for r, _ in receivers.values())]
        }
    return ChaosResult(
        events=events,
        receiver_kills=kills,
        database_restarts=restarts,
        held=held,
        delivered_after_last_restart=finished - last_restart,
        seconds=finished - started,
        timed_out=timed_out,
        logs=logs,
    )
