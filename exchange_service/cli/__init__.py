"""The `pantau` command."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from exchange_service.cli.audit import add_audit_parser, run_audit_command
from exchange_service.cli.deliver import (
    add_bench_delivery_parser,
    add_deliver_parser,
    run_bench_delivery_command,
    run_deliver_command,
)
from exchange_service.cli.feed import add_feed_parser, run_feed_command
from exchange_service.cli.keys import add_keys_parser, run_keys_command
from exchange_service.cli.mrz import add_mrz_parser, run_mrz_command
from exchange_service.cli.report import add_report_parser, run_report_command
from exchange_service.cli.rules import add_rules_parser, rules_settings, run_rules_command
from exchange_service.cli.verify import add_verify_parser, run_verify_command
from exchange_service.cli.watchlist import add_watchlist_parser, run_watchlist_command
from exchange_service.settings import Settings, load_settings


def _run_bench_watchlist(args: argparse.Namespace, settings: Settings) -> int:
    from exchange_service.tools.bench.watchlist import run_watchlist_bench

    run_watchlist_bench(
        settings,
        entries=args.entries,
        queries=args.queries,
        persons=args.persons,
        pairs=args.pairs,
        plans_file=args.plans,
    )
    return 0


def _run_bench_report(args: argparse.Namespace, settings: Settings) -> int:
    from exchange_service.tools.bench.report import run_report_bench
    from scheduler.rules import RULES

    run_report_bench(settings, RULES, persons=args.persons, sightings=args.sightings)
    return 0


def _review_sample(_args: argparse.Namespace, settings: Settings) -> int:
    from exchange_service.tools.sample_reviews import review_sample

    made = review_sample(settings)
    decided = ", ".join(f"{n} {d.lower()}" for d, n in sorted(made.items()))
    print(f"reviews of the sample's alerts: {decided or 'none to make'}")  # noqa: T201
    return 0


# The subcommands that parse their own arguments and return their exit code.
_RUNNERS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "audit": run_audit_command,
    "rules": run_rules_command,
    "keys": run_keys_command,
    "feed": run_feed_command,
    "deliver": run_deliver_command,
    "bench-delivery": run_bench_delivery_command,
    "watchlist": run_watchlist_command,
    "bench-watchlist": _run_bench_watchlist,
    "bench-report": _run_bench_report,
    "report": run_report_command,
    "review-sample": _review_sample,
}


def _run_bench_names(args: argparse.Namespace) -> int:
    from exchange_service.tools.bench.names import run_names_bench

    run_names_bench(args.pairs, rounds=args.rounds)
    return 0


# The subcommands that need neither settings nor the database.
_OFFLINE_RUNNERS: dict[str, Callable[[argparse.Namespace], int]] = {
    "bench-names": _run_bench_names,
    "mrz": run_mrz_command,
}


def _add_bench_parsers(commands: Any) -> None:
    """``bench``, ``bench-rules``, ``bench-servers``, ``bench-names``, ``bench-watchlist`` and
    ``bench-report``."""
    bench = commands.add_parser("bench", help="bulk-load a large population and measure")
    bench.add_argument("--persons", type=int, default=1_000_000)
    bench.add_argument("--sightings", type=int, default=3_000_000)
    bench.add_argument("--seconds", type=float, default=10.0, help="per measurement")
    bench_rules = commands.add_parser(
        "bench-rules",
        help="bulk-load the bench population, then time the rules' sweep against a bare scan",
    )
    bench_rules.add_argument("--persons", type=int, default=1_000_000)
    bench_rules.add_argument("--sightings", type=int, default=3_000_000)
    bench_rules.add_argument(
        "--plans",
        type=Path,
        default=Path("var/bench/rule-plans.txt"),
        help="where the rules' query plans of the noop sweep go",
    )
    bench_servers = commands.add_parser(
        "bench-servers",
        help="measure an echo method on each gRPC server model, side by side (no database)",
    )
    bench_servers.add_argument("--seconds", type=float, default=5.0, help="per measurement")
    bench_servers.add_argument("--rounds", type=int, default=3, help="rounds of every model")
    bench_servers.add_argument(
        "--held-calls",
        type=int,
        default=64,
        help="calls held open without their request message in the held-call check",
    )
    add_bench_delivery_parser(commands)
    bench_names = commands.add_parser(
        "bench-names",
        help="pantau's name matching against nomenklatura logic-v2 on the labelled pairs",
    )
    bench_names.add_argument("--pairs", type=Path, default=Path("tests/data/name_pairs/pairs.csv"))
    bench_names.add_argument("--rounds", type=int, default=3)
    bench_watchlist = commands.add_parser(
        "bench-watchlist",
        help="bulk-load a watchlist, then time screenings, the screener and name pairs",
    )
    bench_watchlist.add_argument("--entries", type=int, default=100_000)
    bench_watchlist.add_argument("--queries", type=int, default=2_000)
    bench_watchlist.add_argument("--persons", type=int, default=20_000)
    bench_watchlist.add_argument("--pairs", type=int, default=50_000)
    bench_watchlist.add_argument(
        "--plans",
        type=Path,
        default=Path("var/bench/watchlist-plans.txt"),
        help="where the slowest candidate statement's plan goes",
    )
    bench_report = commands.add_parser(
        "bench-report",
        help="bulk-load the bench population, sweep and review it, then time the morning report"
        " against a bare scan",
    )
    bench_report.add_argument("--persons", type=int, default=1_000_000)
    bench_report.add_argument("--sightings", type=int, default=3_000_000)


def _create_pki(out: Path, settings: Any) -> None:
    from exchange_service.security.agencies import load_agencies
    from exchange_service.tools.pki import create_dev_pki

    agencies = load_agencies(settings.agencies_file)
    create_dev_pki(out, sorted(agencies))
    ids = ", ".join(sorted(agencies))
    print(f"development PKI in {out}: ca.crt, ca.crl, server.crt/.key; {ids}")  # noqa: T201


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="pantau", description="Foreigner supervision and inter-agency data exchange."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="run the gRPC service (mutual TLS)")
    serve.add_argument(
        "--insecure-dev",
        action="store_true",
        help="development only: serve without TLS; the agency comes from a header",
    )
    pki = commands.add_parser(
        "pki", help="create a development CA, server and per-agency client certificates"
    )
    pki.add_argument("--out", type=Path, default=Path("var/pki"))
    commands.add_parser("migrate", help="bring the database schema to head, load boundaries")
    sample = commands.add_parser("load-sample", help="load the realistic Anambas sample")
    sample.add_argument(
        "--persons",
        type=int,
        default=300,
        help="persons drawn from the groups (the rule cases come on top)",
    )
    sample.add_argument("--seed", type=int, default=2105)
    commands.add_parser(
        "review-sample",
        help="review the sample's open alerts as the office would (after `pantau rules run`)",
    )
    _add_bench_parsers(commands)
    add_audit_parser(commands)
    add_rules_parser(commands)
    add_keys_parser(commands)
    add_feed_parser(commands)
    add_deliver_parser(commands)
    add_verify_parser(commands)
    for add_parser in (add_mrz_parser, add_watchlist_parser, add_report_parser):
        add_parser(commands)
    scheduler = commands.add_parser(
        "scheduler", help="run the rules on their schedule (one leader among such processes)"
    )
    scheduler.add_argument(
        "--dry-run",
        action="store_true",
        help="fire the schedule and record each firing, without running the rules",
    )
    args = parser.parse_args(argv)
    if args.command == "verify":
        # Offline: no settings, no database.
        return run_verify_command(args)
    if args.command in _OFFLINE_RUNNERS:
        # Offline too: names only.
        return _OFFLINE_RUNNERS[args.command](args)

    settings = (
        rules_settings()
        if args.command in ("rules", "keys", "feed", "watchlist", "report")
        else load_settings()
    )
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    from exchange_service import app

    if args.command == "serve":
        app.serve(settings, insecure_dev=args.insecure_dev)
    elif args.command == "pki":
        _create_pki(args.out, settings)
    elif args.command in _RUNNERS:
        return _RUNNERS[args.command](args, settings)
    elif args.command == "migrate":
        app.migrate(settings)
    elif args.command == "load-sample":
        from exchange_service.tools.sample import load_sample_into

        load_sample_into(settings, persons=args.persons, seed=args.seed)
    elif args.command == "scheduler":
        from scheduler.process import run_scheduler

        run_scheduler(settings, dry_run=args.dry_run)
    elif args.command == "bench":
        from exchange_service.tools.bench import run_bench

        run_bench(settings, persons=args.persons, sightings=args.sightings, seconds=args.seconds)
    elif args.command == "bench-rules":
        from exchange_service.tools.bench.rules import run_rules_bench
        from scheduler.rules import RULES

        run_rules_bench(
            settings,
            RULES,
            persons=args.persons,
            sightings=args.sightings,
            plans_file=args.plans,
        )
    elif args.command == "bench-servers":
        from exchange_service.tools.bench.server_models import run_server_models

        run_server_models(
            settings, seconds=args.seconds, rounds=args.rounds, held_calls=args.held_calls
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
