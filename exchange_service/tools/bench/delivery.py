"""`pantau bench-delivery`: the delivery lanes against procrastinate, on the same database.

1. A fresh database ``pantau_bench_delivery`` (dropped first if present), migrated.
2. Lanes: N entries bulk-seeded into one agency's feed (``feed_seed``), then one
   ``DeliveryWorker`` on the real ``DeliveryStore`` pushes them through an
   in-process sender that only counts, in batches of ``delivery_batch``: every
   claim, entry read, cursor move and audit event (one per entry) is real.
3. procrastinate 3.10 (its schema applied to the same database): N no-op jobs
   deferred in batches (timed apart: per-entry job rows are an extra write the
   lanes never make), then one worker (``wait=False``) works them all.

It prints each rate and the ratio, and one JSON line last (``BENCHMARKS.md``
keeps the figures). The database is left in place for inspection.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from rich.console import Console
from sqlalchemy import create_engine

from exchange_service.domain.agencies import Agency, AgencyKind, DataView
from exchange_service.domain.delivery import DeliveryPolicy, LaneKey
from exchange_service.domain.feed import ChannelKind, FeedEntry, FeedSubscription, PushChannel
from exchange_service.services.delivery import DeliveryOptions, DeliveryWorker
from exchange_service.settings import Settings
from exchange_service.storage.delivery_store import DeliveryStore
from exchange_service.tools.bench import fresh_database
from exchange_service.tools.bench.feed_seed import seed_feed

BENCH_DELIVERY_DATABASE = "pantau_bench_delivery"
BENCH_AGENCY = "bench-polres"
# procrastinate's jobs are deferred in batches of this many (one statement each).
_DEFER_BATCH = 1000


class CountingSender:
    """An in-process ``AlertSender`` that takes every entry and keeps only the count."""

    def __init__(self, kind: ChannelKind = ChannelKind.GRPC) -> None:
        self._kind = kind
        self.count = 0

    @property
    def kind(self) -> ChannelKind:
        return self._kind

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        self.count += len(entries)
        return entries[-1].sequence

    def close(self) -> None:
        pass


@dataclass(frozen=True)
class DeliveryBenchResult:
    """The rates of one run, entries (jobs) per second."""

    entries: int
    batch: int
    seed_seconds: float
    lanes_seconds: float
    lanes_per_second: float
    procrastinate_defer_seconds: float
    procrastinate_defer_per_second: float
    procrastinate_work_seconds: float
    procrastinate_jobs_per_second: float
    procrastinate_concurrency: int

    @property
    def ratio(self) -> float:
        """How many times the lanes' rate is procrastinate's working rate."""
        return self.lanes_per_second / self.procrastinate_jobs_per_second


def measure_lanes(url: str, entries: int, batch: int) -> tuple[float, float]:
    """Seeds ``entries`` and delivers them through the lanes; (seed, delivery) seconds."""
    engine = create_engine(url, pool_size=2)
    try:
        channel = PushChannel(ChannelKind.GRPC, "127.0.0.1:7601")
        agency = Agency(
            BENCH_AGENCY,
            "Bench police",
            AgencyKind.POLICE,
            DataView.FULL,
            feed=FeedSubscription(),
            push=(channel,),
        )
        store = DeliveryStore(engine, DeliveryPolicy())
        store.sync_lanes({agency.id: agency})
        started = time.perf_counter()
        seed_feed(engine, BENCH_AGENCY, entries)
        seeded = time.perf_counter()
        sender = CountingSender()
        worker = DeliveryWorker(
            store,
            {ChannelKind.GRPC: sender},
            {LaneKey(agency.id, ChannelKind.GRPC): channel},
            DeliveryOptions("bench-delivery", batch=batch, batches_per_claim=1_000_000),
        )
        began = time.perf_counter()
        delivered = worker.run_once()
        finished = time.perf_counter()
        if delivered != entries or sender.count != entries:
            raise RuntimeError(f"the lanes delivered {delivered} of {entries} entries")
        return seeded - started, finished - began
    finally:
        engine.dispose()


async def _procrastinate(conninfo: str, jobs: int, concurrency: int) -> tuple[float, float]:
    import procrastinate

    # A log line per job would slow procrastinate down, and the lanes log none.
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=conninfo))
    done = 0

    @app.task(name="bench_noop")
    def noop() -> None:
        nonlocal done
        done += 1

    async with app.open_async():
        await app.schema_manager.apply_schema_async()
        started = time.perf_counter()
        for offset in range(0, jobs, _DEFER_BATCH):
            await noop.batch_defer_async(*({} for _ in range(min(_DEFER_BATCH, jobs - offset))))
        deferred = time.perf_counter()
        await app.run_worker_async(
            wait=False,
            concurrency=concurrency,
            install_signal_handlers=False,
            listen_notify=False,
        )
        worked = time.perf_counter()
    if done != jobs:
        raise RuntimeError(f"procrastinate worked {done} of {jobs} jobs")
    return deferred - started, worked - deferred


def measure_procrastinate(conninfo: str, jobs: int, concurrency: int = 1) -> tuple[float, float]:
    """Defers ``jobs`` no-op jobs and works them with one worker; (defer, work) seconds."""
    return asyncio.run(_procrastinate(conninfo, jobs, concurrency))


def run_delivery_bench(
    settings: Settings,
    *,
    entries: int = 20_000,
    batch: int | None = None,
    concurrency: int = 1,
    database_name: str = BENCH_DELIVERY_DATABASE,
    console: Console | None = None,
) -> DeliveryBenchResult:
    """Runs both measurements on a fresh database; prints and returns the rates."""
    console = console or Console(stderr=True)
    batch = batch or settings.delivery_batch
    console.print(f"[bold]pantau bench-delivery[/]: {entries:,} entries, batch {batch}")
    database = fresh_database(settings, database_name)
    seed_seconds, lanes_seconds = measure_lanes(database.settings.database_url, entries, batch)
    console.print(
        f"lanes: {entries / lanes_seconds:,.0f} entries/s"
        f" ({lanes_seconds:.2f} s; seeding took {seed_seconds:.2f} s)"
    )
    defer_seconds, work_seconds = measure_procrastinate(database.conninfo, entries, concurrency)
    console.print(
        f"procrastinate: {entries / work_seconds:,.0f} jobs/s worked ({work_seconds:.2f} s),"
        f" {entries / defer_seconds:,.0f} jobs/s deferred ({defer_seconds:.2f} s)"
    )
    result = DeliveryBenchResult(
        entries=entries,
        batch=batch,
        seed_seconds=round(seed_seconds, 3),
        lanes_seconds=round(lanes_seconds, 3),
        lanes_per_second=round(entries / lanes_seconds, 1),
        procrastinate_defer_seconds=round(defer_seconds, 3),
        procrastinate_defer_per_second=round(entries / defer_seconds, 1),
        procrastinate_work_seconds=round(work_seconds, 3),
        procrastinate_jobs_per_second=round(entries / work_seconds, 1),
        procrastinate_concurrency=concurrency,
    )
    console.print(f"ratio: the lanes deliver {result.ratio:.1f}x procrastinate's rate")
    print(json.dumps(asdict(result) | {"ratio": round(result.ratio, 2)}))
    return result
