"""Two delivery worker processes, killed mid-push again and again: every entry arrives, in order.

The feeds of the shipped agencies file are seeded (polres-anambas: GRPC;
pemkab-anambas: WEBHOOK and CAP: three lanes). Two worker processes
(``tests.processes.deliver_to_file``: `pantau deliver`'s worker with senders
that append to one file, the test's receiver) deliver them with a short
lease. The test SIGKILLs one of them, alternately, several times while
entries are still to go, starting a new one each time. Then:

* every lane's cursor reaches its feed's last entry;
* the receiver got each lane's entries in order and none lost: read in the
  order they arrived, no entry comes before its predecessor did (a line is
  either a new entry, exactly the next, or a repeat of one already held);
* the audit inbox has at least one ``feed/deliver`` event per entry per lane.

Delivery is at least once: a worker killed after its push but before its
cursor moved leaves entries that the next worker pushes again. The receiver
drops them (they are at or below what it holds: sequence and event id); the
test counts them and allows them. At the end, SIGTERM stops both workers
cleanly: each exits 0 and no lane is left leased.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service.tools.bench.feed_seed import seed_feed
from tests.conftest import ROOT, fresh_database

ENTRIES = {"polres-anambas": 1500, "pemkab-anambas": 1500}
LANES = {("polres-anambas", "GRPC"), ("pemkab-anambas", "WEBHOOK"), ("pemkab-anambas", "CAP")}
KILLS = 4
log = logging.getLogger(__name__)


class Worker:
    def __init__(self, url: str, name: str, received: Path, log: Path) -> None:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("PANTAU_")}
        environment |= {
            "PANTAU_SETTINGS": str(log.parent / "no-settings-file.toml"),
            "PANTAU_DATABASE_URL": url,
            "PANTAU_AGENCIES_FILE": str(ROOT / "deploy" / "agencies.toml"),
            "PANTAU_LOG_LEVEL": "INFO",
            "PANTAU_DELIVERY_BATCH": "20",
            "PANTAU_DELIVERY_LEASE_SECONDS": "2",
            "PANTAU_DELIVERY_POLL_SECONDS": "0.2",
        }
        self.name = name
        self.log = log
        with log.open("wb") as output:
            self.popen = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.processes.deliver_to_file",
                    "--worker-id",
                    name,
                    "--out",
                    str(received),
                ],
                cwd=ROOT,
                env=environment,
                stdout=output,
                stderr=subprocess.STDOUT,
            )


def _cursors(engine: Engine) -> dict[tuple[str, str], tuple[int, str | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            text("SELECT agency_id, channel, delivered_through, lease_owner FROM delivery_lanes")
        ).all()
    return {(r.agency_id, r.channel): (int(r.delivered_through), r.lease_owner) for r in rows}


def _backlog(engine: Engine) -> int:
    cursors = _cursors(engine)
    return sum(ENTRIES[a] - cursors.get((a, c), (0, None))[0] for a, c in LANES)


@pytest.fixture
def database() -> Iterator[tuple[str, Engine]]:
    with fresh_database("pantau_deliver") as url:
        engine = create_engine(url)
        yield url, engine
        engine.dispose()


@pytest.mark.timeout(240)
def test_killed_workers_lose_no_entry_and_keep_each_lane_in_order(
    database: tuple[str, Engine], tmp_path: Path
) -> None:
    url, engine = database
    for agency_id, count in ENTRIES.items():
        seed_feed(engine, agency_id, count)
    received = tmp_path / "received.txt"
    workers: list[Worker] = []

    def spawn() -> None:
        n = len(workers) + 1
        workers.append(Worker(url, f"worker-{n}", received, tmp_path / f"worker-{n}.log"))

    def logs() -> str:
        return "\n".join(
            f"--- {w.name}\n{w.log.read_text(errors='replace')[-3000:]}" for w in workers
        )

    spawn()
    spawn()
    # Wait until delivery is under way, then kill mid-flight.
    deadline = time.monotonic() + 60
    while not received.exists() or received.stat().st_size == 0:
        assert time.monotonic() < deadline, f"no delivery started\n{logs()}"
        time.sleep(0.05)
    backlog_at_kills = []
    for kill in range(KILLS):
        time.sleep(0.7)
        victim = [w for w in workers if w.popen.poll() is None][kill % 2]
        backlog_at_kills.append(_backlog(engine))
        victim.popen.send_signal(signal.SIGKILL)
        victim.popen.wait(timeout=10)
        spawn()
    # Every kill came while entries were still to go: they hit work in flight.
    assert all(backlog > 0 for backlog in backlog_at_kills), backlog_at_kills

    deadline = time.monotonic() + 120
    while _backlog(engine) > 0:
        assert time.monotonic() < deadline, f"backlog {_backlog(engine)} left\n{logs()}"
        time.sleep(0.1)
    cursors = _cursors(engine)
    assert {lane: cursors[lane][0] for lane in LANES} == {(a, c): ENTRIES[a] for a, c in LANES}

    held: dict[tuple[str, str], int] = dict.fromkeys(LANES, 0)
    repeats = 0
    for line in received.read_text().splitlines():
        agency_id, channel, sequence = line.split()
        lane, n = (agency_id, channel), int(sequence)
        assert n <= held[lane] + 1, f"{lane}: entry {n} arrived before {held[lane] + 1}"
        if n <= held[lane]:
            repeats += 1  # at least once: the receiver drops it
        else:
            held[lane] = n
    assert held == {(a, c): ENTRIES[a] for a, c in LANES}
    log.info("%d kills at backlogs %s; %d entries pushed twice", KILLS, backlog_at_kills, repeats)
    # Duplicates come only from pushes whose cursor move a kill cut off.
    assert repeats <= KILLS * 2 * 20, repeats

    with engine.connect() as connection:
        audited = connection.execute(
            text(
                "SELECT recipient, count(*) AS events, count(DISTINCT request_digest) AS entries"
                " FROM audit_inbox WHERE action = 'feed/deliver' GROUP BY recipient"
            )
        ).all()
    by_lane = {r.recipient: (int(r.events), int(r.entries)) for r in audited}
    for agency_id, channel in LANES:
        events, entries = by_lane[f"{agency_id}/{channel}"]
        assert entries == ENTRIES[agency_id]
        assert events >= ENTRIES[agency_id]

    alive = [w for w in workers if w.popen.poll() is None]
    assert len(alive) == 2
    for worker in alive:
        worker.popen.send_signal(signal.SIGTERM)
    for worker in alive:
        assert worker.popen.wait(timeout=15) == 0, logs()
    assert all(owner is None for _, owner in _cursors(engine).values())
