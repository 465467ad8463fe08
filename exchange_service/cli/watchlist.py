"""``pantau watchlist compare|import|screen``.

``compare`` scores name pairs from CSV on standard input (``name1,name2``) and writes
``name1,name2,score,match`` in the same order, deciding at ``watchlist_threshold``
(or ``--threshold``); it needs no database. Bad rows are named on standard error and
make the exit code 1; the other rows are still written.

``import FILE`` writes watchlist entries from the office's CSV or a FollowTheMoney file
(``cli/watchlist_import.py``), in batches, as the agency and officer named (the
agencies file's immigration office by default), each batch one transaction with its
audit event. ``screen`` drains the screening queue now (what the scheduler does every
few seconds) and raises the WATCHLIST_MATCH alerts of the matches it changed.

Settings as ``pantau rules``: ``PANTAU_SETTINGS``, else ``./pantau.toml``, else the
file `make run` serves with.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from zoneinfo import ZoneInfo

from rich.console import Console
from sqlalchemy.exc import DBAPIError

from exchange_service.cli.rules import open_trail
from exchange_service.cli.watchlist_import import add_import_arguments, run_import_command
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.audit import SYSTEM_ACTOR_KIND, Actor
from exchange_service.domain.clock import local_today, system_clock
from exchange_service.services.watchlist import Watchlist, validated_entries
from exchange_service.settings import Settings
from exchange_service.storage.database import UnitOfWork, make_engine
from watchlist.compare import BadRow, MissingColumns, compare_csv

# The process named in the audit trail when the screener runs from the command line.
SCREEN_COMMAND = "watchlist-command"


def add_watchlist_parser(commands: Any) -> None:
    """Adds ``watchlist compare``, ``import`` and ``screen`` to the ``pantau`` subcommands."""
    watchlist = commands.add_parser(
        "watchlist", help="the watchlist: compare names, import, screen"
    )
    actions = watchlist.add_subparsers(dest="watchlist_command", required=True)
    compare = actions.add_parser(
        "compare",
        help="score name pairs: CSV with name1,name2 on stdin, name1,name2,score,match on stdout",
    )
    compare.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="score at which a pair matches (default: the setting watchlist_threshold)",
    )
    imported = actions.add_parser(
        "import", help="write watchlist entries from a CSV or FollowTheMoney JSON lines file"
    )
    add_import_arguments(imported)
    imported.add_argument(
        "--agency",
        default="",
        help="the agency writing the entries (default: the agencies file's immigration office)",
    )
    imported.add_argument(
        "--officer", default="", help="the officer importing (default: the OS user)"
    )
    actions.add_parser(
        "screen", help="screen what is queued now and raise the WATCHLIST_MATCH alerts"
    )


def _report(bad: BadRow) -> None:
    print(f"row {bad.row}: {bad.reason}", file=sys.stderr)  # noqa: T201


def _compare(args: argparse.Namespace, settings: Settings) -> int:
    threshold = settings.watchlist_threshold if args.threshold is None else args.threshold
    if not 0.0 <= threshold <= 1.0:
        print("--threshold must be between 0 and 1", file=sys.stderr)  # noqa: T201
        return 2
    try:
        summary = compare_csv(sys.stdin, sys.stdout, threshold=threshold, on_bad_row=_report)
    except MissingColumns as error:
        print(str(error), file=sys.stderr)  # noqa: T201
        return 1
    return 1 if summary.bad_rows else 0


def _importer(settings: Settings, agency_id: str) -> tuple[str, AgencyKind]:
    from exchange_service.security.agencies import load_agencies

    agencies = load_agencies(settings.agencies_file)
    if agency_id:
        if agency_id not in agencies:
            raise SystemExit(f"--agency {agency_id!r} is not in {settings.agencies_file}")
        return agency_id, agencies[agency_id].kind
    for agency in agencies.values():
        if agency.kind is AgencyKind.IMMIGRATION:
            return agency.id, agency.kind
    raise SystemExit(f"{settings.agencies_file} names no immigration office: give --agency")


@contextmanager
def _work(settings: Settings, pool_size: int) -> Iterator[UnitOfWork]:
    """A unit of work on sessions that screen as the service's do, with the audit trail
    open (or chained by a running server) until the command is done."""
    engine = make_engine(
        settings.database_url,
        pool_size=pool_size,
        application_name="pantau-watchlist",
        search_similarity_threshold=settings.watchlist_similarity_threshold,
    )
    try:
        trail = open_trail(settings, sys.stderr, "this command's events")
        try:
            yield UnitOfWork(engine, boundary_tolerance_meters=settings.boundary_tolerance_meters)
        finally:
            if trail is not None:
                trail.close()
    finally:
        engine.dispose()


def _import(args: argparse.Namespace, settings: Settings) -> int:
    from exchange_service import app

    agency_id, kind = _importer(settings, args.agency)
    actor = Actor.agency(agency_id, kind.value, args.officer or getpass.getuser())
    console = Console(stderr=True)
    if args.dry_run:
        today = local_today(system_clock, ZoneInfo(settings.timezone))
        return run_import_command(
            args, lambda batch: validated_entries(batch, kind, today)[0], console
        )
    try:
        with _work(settings, pool_size=1) as uow:
            service = Watchlist(uow, app.watchlist_options(settings))
            return run_import_command(
                args, lambda batch: service.import_entries(batch, actor, kind), console
            )
    except DBAPIError as error:
        print(  # noqa: T201
            f"cannot use the database: {error.orig}. Nothing more was written.", file=sys.stderr
        )
        return 2


def _screen(settings: Settings) -> int:
    from exchange_service import app
    from scheduler.rules import RULES

    actor = Actor(SCREEN_COMMAND, SYSTEM_ACTOR_KIND, getpass.getuser())
    try:
        with _work(settings, pool_size=2) as uow:
            rules = app.build_rule_engine(settings, uow, RULES, actor=actor)
            done = app.build_screener(settings, uow, rules, actor=actor).drain()
    except DBAPIError as error:
        print(f"cannot use the database: {error.orig}", file=sys.stderr)  # noqa: T201
        return 2
    print(  # noqa: T201
        f"screened {done.persons} persons and {done.entries} watchlist entries:"
        f" {done.changed} matches changed"
        + (f", {done.population_queued} persons queued again" if done.population_queued else "")
    )
    return 0


def run_watchlist_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the ``watchlist`` subcommand parsed by ``add_watchlist_parser``; the exit code."""
    if args.watchlist_command == "compare":
        return _compare(args, settings)
    if args.watchlist_command == "import":
        return _import(args, settings)
    return _screen(settings)
