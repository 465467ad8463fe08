"""``pantau rules list`` and ``pantau rules run [--rule R] [--as-of T]``.

``list`` shows each rule of ``scheduler.rules``, its title and its numbers
as the settings give them. ``run`` runs the rules (every one, or each
``--rule``) as of now or of ``--as-of``, and prints what each run changed.

Settings: as every ``pantau`` command (``PANTAU_SETTINGS``, else
``./pantau.toml``), and failing both ``./deploy/pantau.dev.toml``, the file
`make run` serves with, so that from the project directory the command acts on
the database `make run` serves with no environment set. It prints which file
it read.

The audit trail: each run is one audit event, recorded in the audit inbox
in the run's own transaction, so the run and its event commit together. The
trail has one writer at a time (an advisory lock its writer holds for its
lifetime), which chains the inbox's events: while a server runs, it is the
writer and chains them; otherwise this command opens the trail itself, and
whatever it ran (with any event waiting from the scheduler) is in the trail
when it exits: closing the trail writes the records and signs a final
checkpoint.

Exit codes: 0 every run succeeded, 1 a run failed (recorded with its error;
it changed no alert), 2 nothing was run (bad arguments, the database
unreachable or not migrated).
"""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from typing import Any, TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from exchange_service.audit.log import AuditLog, AuditUnavailable, open_audit_log
from exchange_service.cli.audit import parse_when
from exchange_service.domain.alerts import RuleName, RuleRun
from exchange_service.domain.audit import SYSTEM_ACTOR_KIND, Actor
from exchange_service.domain.clock import Clock, local_today, system_clock
from exchange_service.domain.errors import PantauError
from exchange_service.settings import Settings, load_settings, settings_file
from exchange_service.storage.database import make_engine
from scheduler.rules import RULES

OK, FAILED, CANNOT = 0, 1, 2

# The process named in the audit trail and the run records; the officer is the OS user.
RULES_COMMAND = "rules-command"


def add_rules_parser(commands: Any) -> None:
    """Adds ``rules list`` and ``rules run`` to the ``pantau`` subcommands."""
    rules = commands.add_parser("rules", help="list the early-warning rules, or run them")
    actions = rules.add_subparsers(dest="rules_command", required=True)
    actions.add_parser("list", help="each rule, its title and its numbers")
    run = actions.add_parser("run", help="run the rules as of now, or as of an instant")
    run.add_argument(
        "--rule",
        action="append",
        type=str.upper,
        choices=[str(name) for name in RULES],
        help="a rule to run, repeatable (default: every rule, in catalogue order)",
    )
    run.add_argument(
        "--as-of",
        dest="as_of",
        help="ISO instant (2026-12-02T07:00+07:00); without an offset, in the settings'"
        " timezone; a bare date is the start of that day there (default: now)",
    )
    run.add_argument(
        "--since",
        type=date.fromisoformat,
        help="backfill: first run the rules as of 00:05 (WIB) of each day from this date"
        " (YYYY-MM-DD) to yesterday, then as of now; for a database whose records came from"
        " the previous system, so that its alerts have their history. Only when no rule has"
        " run yet",
    )


def rules_settings() -> Settings:
    """The settings ``pantau rules`` reads, falling back to the file `make run` uses."""
    return load_settings(development_fallback=True)


def list_rules(settings: Settings, out: TextIO) -> int:
    """Prints each rule with its title and numbers."""
    from exchange_service import app

    numbers_from = app.rule_settings(settings)
    now = datetime.now(ZoneInfo(settings.timezone))
    for name, rule in RULES.items():
        numbers = rule.parameters(numbers_from, now, now.date())
        shown = ", ".join(f"{key} = {value}" for key, value in numbers.items()) or "none"
        out.write(f"{name}\n    {rule.title}\n    numbers: {shown}\n")
    return OK


def _describe(run: RuleRun, zone: ZoneInfo) -> str:
    when = run.as_of.astimezone(zone).isoformat()
    if run.error is not None:
        return f"{run.rule} as of {when}: FAILED, no alert changed: {run.error}"
    seconds = (run.finished_at - run.started_at).total_seconds()
    return (
        f"{run.rule} as of {when}: {run.opened} opened, {run.updated} updated,"
        f" {run.escalated} escalated, {run.resolved} resolved"
        f" ({run.rows_scanned} rows scanned, {seconds:.2f} s)"
    )


def open_trail(settings: Settings, out: TextIO, what: str = "each run's event") -> AuditLog | None:
    """The audit trail opened by this process to chain what it records, or None when a
    running server writes it (and chains the events this process leaves in the inbox)."""
    try:
        return open_audit_log(settings)
    except AuditUnavailable:
        out.write(f"audit: the trail's writer (a running server) chains {what}\n")
        return None


def run_rules(
    settings: Settings,
    names: Sequence[RuleName],
    as_of: datetime | None,
    *,
    out: TextIO,
    actor: Actor | None = None,
) -> int:
    """Runs each rule as of ``as_of`` (now if None); each run's audit event goes to the inbox.

    The events are chained by the trail's writer: this process, when no
    other holds the trail, before it returns.
    """
    from exchange_service import app

    zone = ZoneInfo(settings.timezone)
    try:
        audit_log = open_trail(settings, out)
    except DBAPIError as error:
        return _cannot_use_database(error, out)
    engine = make_engine(settings.database_url, pool_size=1, application_name="pantau-rules")
    status = OK
    try:
        rule_engine = app.build_rule_engine(
            settings,
            engine,
            RULES,
            actor=actor or Actor(RULES_COMMAND, SYSTEM_ACTOR_KIND, getpass.getuser()),
        )
        for name in names:
            try:
                run = rule_engine.run(name, as_of)
            except PantauError as error:
                out.write(f"{name}: not run: {error.message}\n")
                return CANNOT
            except DBAPIError as error:
                return _cannot_use_database(error, out)
            out.write(_describe(run, zone) + "\n")
            out.flush()
            if run.error is not None:
                status = FAILED
    finally:
        if audit_log is not None:
            audit_log.close()
        engine.dispose()
    return status


def _cannot_use_database(error: DBAPIError, out: TextIO) -> int:
    # Unreachable, or not migrated (`pantau migrate` makes the tables).
    out.write(f"cannot use the database: {error.orig}. Nothing was run.\n")
    return CANNOT


def run_rules_command(args: argparse.Namespace, settings: Settings) -> int:
    """Runs the ``rules`` subcommand parsed by ``add_rules_parser``; the exit code."""
    source = settings_file(development_fallback=True)
    sys.stderr.write(f"settings: {source or 'defaults (no settings file found)'}\n")
    if args.rules_command == "list":
        return list_rules(settings, sys.stdout)
    as_of = None
    if args.as_of is not None:
        try:
            as_of = parse_when(args.as_of, settings.timezone, end_of_day=False)
        except ValueError as error:
            sys.stderr.write(f"--as-of takes an ISO date or time: {error}\n")
            return CANNOT
    names = [RuleName(rule) for rule in args.rule] if args.rule else list(RULES)
    if args.since is not None:
        status = backfill(settings, names, args.since, out=sys.stdout)
        if status != OK:
            return status
    return run_rules(settings, names, as_of, out=sys.stdout)


def backfill(
    settings: Settings,
    names: Sequence[RuleName],
    since: date,
    *,
    out: TextIO,
    clock: Clock = system_clock,
) -> int:
    """Runs the rules as of 00:05 WIB of each day from ``since`` to yesterday (by ``clock``),
    one summary line a day; nothing when a rule has run already (the history would come
    after it)."""
    from exchange_service import app

    zone = ZoneInfo(settings.timezone)
    engine = make_engine(settings.database_url, pool_size=1, application_name="pantau-rules")
    try:
        with engine.connect() as connection:
            ran = connection.execute(text("SELECT count(*) FROM rule_runs")).scalar_one()
        if ran:
            out.write(f"backfill: not run: {ran} rule runs are recorded already\n")
            return OK
        audit_log = open_trail(settings, out)
        try:
            rule_engine = app.build_rule_engine(
                settings,
                engine,
                RULES,
                clock=clock,
                actor=Actor(RULES_COMMAND, SYSTEM_ACTOR_KIND, getpass.getuser()),
            )
            day, today = since, local_today(clock, zone)
            while day < today:
                runs = [
                    rule_engine.run(name, datetime.combine(day, time(0, 5), zone)) for name in names
                ]
                failed = [run for run in runs if run.error is not None]
                for run in failed:
                    out.write(_describe(run, zone) + "\n")
                out.write(
                    f"backfill {day.isoformat()}: {sum(r.opened for r in runs)} opened,"
                    f" {sum(r.escalated for r in runs)} escalated,"
                    f" {sum(r.resolved for r in runs)} resolved\n"
                )
                if failed:
                    return FAILED
                day += timedelta(days=1)
        finally:
            if audit_log is not None:
                audit_log.close()
    except PantauError as error:
        out.write(f"backfill: not run: {error.message}\n")
        return CANNOT
    except DBAPIError as error:
        return _cannot_use_database(error, out)
    finally:
        engine.dispose()
    return OK
