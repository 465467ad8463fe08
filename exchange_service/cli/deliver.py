"""``pantau deliver [--once] [--worker-id W]``, ``pantau deliver status`` and
``pantau deliver requeue --agency A --channel C``.

``deliver`` runs a delivery worker: it pushes every due lane (each agency push
channel of the agencies file) until SIGTERM or SIGINT, on which it finishes
the batch in flight, releases its lane and exits 0; ``--once`` returns when
nothing is due. Run as many as you like: each lane is pushed by one worker at
a time, and a worker that dies is replaced on its lane once its lease
(``delivery_lease_seconds``) runs out. Delivery is at least once; receivers
drop the entries they already hold (by sequence and event id).

Each delivered entry is one audit event (``feed/deliver``, the recipient
``<agency>/<channel>``, the person), recorded in the audit inbox with the
cursor's move; the trail's writer (the running server) chains them.

``status`` prints each lane's cursor, backlog, lease and failures and the
dead letters not requeued; it exits 1 when a configured lane is dead-lettered, so a
monitor can run it. ``requeue`` starts a dead-lettered lane again from its
cursor, once the operator has dealt with the cause.

Exit codes: 0 done, 1 a lane is dead-lettered (``status``), 2 nothing was done
(bad arguments, no such lane, the database unreachable or not migrated).
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError

from exchange_service import delivery_root
from exchange_service.domain.delivery import LaneKey
from exchange_service.domain.errors import NotFound
from exchange_service.domain.feed import AlertSender, ChannelKind
from exchange_service.settings import Settings
from exchange_service.signals import stopping_on_signals

OK, DEAD_LETTERED, CANNOT = 0, 1, 2

log = logging.getLogger(__name__)


def add_deliver_parser(commands: Any) -> None:
    """Adds ``deliver``, ``deliver status`` and ``deliver requeue`` to the subcommands."""
    deliver = commands.add_parser(
        "deliver", help="push the agencies' feeds through their channels (a delivery worker)"
    )
    deliver.add_argument("--once", action="store_true", help="deliver what is due now, then exit")
    deliver.add_argument(
        "--worker-id", dest="worker_id", help="the worker's name in the lanes (default host:pid)"
    )
    actions = deliver.add_subparsers(dest="deliver_command", required=False)
    actions.add_parser("status", help="each lane's cursor, backlog, lease and failures")
    requeue = actions.add_parser("requeue", help="start a dead-lettered lane again")
    requeue.add_argument("--agency", required=True, help="the agency's id")
    requeue.add_argument(
        "--channel",
        required=True,
        type=str.upper,
        choices=[str(kind) for kind in ChannelKind],
        help="the push channel",
    )


def run_deliver_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the ``deliver`` subcommand parsed by ``add_deliver_parser``; the exit code."""
    try:
        if args.deliver_command == "status":
            return show_status(settings, sys.stdout)
        if args.deliver_command == "requeue":
            return requeue(settings, args.agency, ChannelKind(args.channel), sys.stdout)
        return run_worker(settings, once=args.once, worker_id=args.worker_id, out=sys.stdout)
    except delivery_root.SendersUnavailable as error:
        sys.stdout.write(f"{error}. Nothing was delivered.\n")
        return CANNOT
    except DBAPIError as error:
        # Unreachable, or not migrated (`pantau migrate` makes the tables).
        sys.stdout.write(f"cannot use the database: {error.orig}. Nothing was done.\n")
        return CANNOT


def run_worker(
    settings: Settings,
    *,
    once: bool,
    worker_id: str | None,
    out: TextIO,
    senders: Mapping[ChannelKind, AlertSender] | None = None,
) -> int:
    """Runs one delivery worker until SIGTERM/SIGINT (or, ``once``, until nothing is due).

    ``senders`` replace the ``delivery_adapter`` setting's (tests, benchmarks).
    """
    process = delivery_root.build_delivery_worker(
        settings, worker_id=worker_id, senders=senders, listen=not once
    )
    worker = process.worker
    lanes = ", ".join(
        sorted(key.recipient for key in delivery_root.push_channels(process.agencies))
    )
    log.info(
        "delivery worker %s started (adapter %s); lanes: %s",
        worker.options.worker_id,
        settings.delivery_adapter if senders is None else "given",
        lanes or "none",
    )
    try:
        with stopping_on_signals(worker.stop, "finishing the batch in flight"):
            delivered = worker.run_once() if once else worker.run()
    finally:
        process.close()
    out.write(f"delivery worker {worker.options.worker_id}: {delivered} entries delivered\n")
    return OK


def show_status(settings: Settings, out: TextIO) -> int:
    """Prints the lanes and the pending dead letters; 1 if a lane is dead-lettered."""
    zone = ZoneInfo(settings.timezone)
    with delivery_root.delivery_store(settings) as store:
        lanes = store.lanes()
        letters = store.dead_letters(pending_only=True)
    if not lanes:
        out.write("no delivery lanes yet: `pantau deliver` creates them from the agencies file\n")
    for lane in lanes:
        state = (
            "DEAD-LETTERED"
            if lane.dead_lettered_at
            else ("enabled" if lane.enabled else "disabled")
        )
        line = (
            f"{lane.lane.recipient}: {state}, delivered through {lane.delivered_through}"
            f" of {lane.last_sequence} (backlog {lane.backlog})"
        )
        if lane.lease_owner is not None and lane.lease_expires_at is not None:
            until = lane.lease_expires_at.astimezone(zone).isoformat(timespec="seconds")
            line += f", leased to {lane.lease_owner} until {until}"
        if lane.attempts:
            line += (
                f", {lane.attempts} failed attempts, next at"
                f" {lane.next_attempt_at.astimezone(zone).isoformat(timespec='seconds')}"
            )
        if lane.last_error:
            line += f", last error: {lane.last_error}"
        out.write(line + "\n")
    for letter in letters:
        out.write(
            f"dead letter {letter.id}: {letter.lane.recipient} entries"
            f" {letter.from_sequence}..{letter.through_sequence} after {letter.attempts} attempts"
            f" at {letter.at.astimezone(zone).isoformat(timespec='seconds')}: {letter.error}\n"
            f"    requeue: pantau deliver requeue --agency {letter.lane.agency_id}"
            f" --channel {letter.lane.channel}\n"
        )
    # A disabled lane (no longer in the agencies file) is not waiting on anyone.
    stuck = any(lane.dead_lettered_at and lane.enabled for lane in lanes)
    return DEAD_LETTERED if stuck else OK


def requeue(settings: Settings, agency_id: str, channel: ChannelKind, out: TextIO) -> int:
    """Starts the lane again from its cursor; 2 (nothing changed) if there is no such lane."""
    lane = LaneKey(agency_id, channel)
    with delivery_root.delivery_store(settings) as store:
        try:
            was_dead = store.requeue(lane)
        except NotFound:
            out.write(
                f"--agency/--channel: no delivery lane {lane.recipient}; the lanes are the"
                " agencies file's push channels (`pantau deliver status`). Nothing was changed.\n"
            )
            return CANNOT
    if was_dead:
        out.write(f"{lane.recipient}: requeued; it is delivered again from its cursor\n")
    else:
        out.write(f"{lane.recipient}: was not dead-lettered; its failures were reset\n")
    return OK


def add_bench_delivery_parser(commands: Any) -> None:
    """Adds ``bench-delivery``: the lanes against procrastinate on one fresh database."""
    bench = commands.add_parser(
        "bench-delivery",
        help="deliver N entries through the lanes and work N procrastinate jobs; both rates",
    )
    bench.add_argument("--entries", type=int, default=20_000)
    bench.add_argument("--batch", type=int, help="entries per push (default delivery_batch)")
    bench.add_argument(
        "--procrastinate-concurrency",
        dest="concurrency",
        type=int,
        default=1,
        help="jobs procrastinate's worker runs at once",
    )
    bench.add_argument(
        "--chaos-events",
        dest="chaos_events",
        type=int,
        default=10_000,
        help="then events to each reference receiver while they are killed at random and"
        " PostgreSQL restarts once (a cluster of its own); 0 to skip",
    )
    bench.add_argument(
        "--chaos-dir",
        dest="chaos_dir",
        type=Path,
        default=Path("var/bench/delivery-chaos"),
        help="where the chaos run keeps its PKI, keys, stores and logs",
    )


def run_bench_delivery_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs ``bench-delivery``; 2 for bad arguments."""
    if args.entries < 1 or (args.batch is not None and args.batch < 1) or args.concurrency < 1:
        sys.stderr.write("--entries, --batch and --procrastinate-concurrency must be at least 1\n")
        return CANNOT
    from exchange_service.tools.bench.delivery import run_delivery_bench

    run_delivery_bench(
        settings, entries=args.entries, batch=args.batch, concurrency=args.concurrency
    )
    if args.chaos_events > 0:
        from exchange_service.tools.bench.delivery_chaos import run_delivery_chaos

        print(  # noqa: T201
            f"delivery chaos: {args.chaos_events} events to each receiver, receivers killed"
            " every 1-4 s, PostgreSQL restarted once ..."
        )
        result = run_delivery_chaos(args.chaos_dir, events=args.chaos_events, chaos_seconds=60.0)
        print(f"delivery chaos: {result.describe()}")  # noqa: T201
        if result.timed_out or result.lost or result.applied_twice:
            return DEAD_LETTERED
    return OK
