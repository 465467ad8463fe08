"""The ``pantau scheduler`` process: the rules' crons on APScheduler, fired by the leader only.

Any number of these processes may run against one database. Each keeps an
APScheduler ``BackgroundScheduler`` with one cron job per rule (in the
office's time zone) and campaigns for the ``scheduler`` lease; every job
asks the ``RunDispatcher``, which fires only in the leader and only what is
due. When a process wins the lead it fires every rule at once, so what the
previous leader missed runs now (coalesced, within the misfire grace). It
stops cleanly on SIGTERM or SIGINT: no new run starts, running ones finish,
and the lead is given up at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime
from pathlib import Path

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from exchange_service.domain.audit import Actor
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.errors import InvalidInput, Unavailable
from exchange_service.domain.fencing import Fence
from exchange_service.rules_root import build_reports, build_rule_engine, build_screener
from exchange_service.services.alerts import RuleEngine
from exchange_service.services.reports import (
    EarlyWarningReports,
    report_directory,
    write_report,
)
from exchange_service.settings import Settings
from exchange_service.signals import stopping_on_signals
from exchange_service.storage.database import UnitOfWork, make_engine
from exchange_service.storage.leases import LeaseLock, last_fired_slot
from scheduler.leadership import Leadership, LeadershipTimings
from scheduler.rules import RULES
from scheduler.runs import RecordOnlyRunner, RuleRunner, RunDispatcher
from scheduler.schedule import REPORT_JOB, Schedule
from scheduler.screening import SCREENING_JOB, ScreeningJob

log = logging.getLogger(__name__)

# The lease the scheduler processes compete for.
SCHEDULER_LEASE = "scheduler"
# The process named in the audit trail and the run records.
SCHEDULER_ACTOR = "scheduler"


def work_engine(settings: Settings) -> Engine:
    """The engine of the rule runs: a connection per run worker, bounded for fencing.

    A transaction that sits idle longer than the setting is ended by the
    database, so a leader paused inside a run cannot hold the lease's row
    (and keep the next leader from its term); a run whose process died stops
    at its next check of the client connection instead of finishing unseen.
    """
    return make_engine(
        settings.database_url,
        pool_size=settings.scheduler_run_workers,
        application_name="pantau-scheduler",
        # The screener's retrievals (the rules use no trigrams).
        search_similarity_threshold=settings.watchlist_similarity_threshold,
        session_settings={
            "idle_in_transaction_session_timeout": _ms(
                settings.scheduler_idle_in_transaction_seconds
            ),
            "client_connection_check_interval": _ms(settings.scheduler_heartbeat_seconds),
        },
    )


@contextmanager
def rule_runner(
    settings: Settings, uow: UnitOfWork, *, clock: Clock = system_clock
) -> Iterator[RuleRunner]:
    """The rule engine on ``uow``, as the system process ``scheduler``, while the process runs.

    Each run is one transaction opened with ``uow.begin(fence=fence)``: the
    fence of its firing checks the leadership's term and claims the slot, and
    the run's alerts, its record and its audit event (in the audit inbox, for
    the trail's writer to chain: the server's, or the next ``pantau rules
    run``'s) commit together or not at all.
    """
    yield ScheduledWork(
        build_rule_engine(settings, uow, RULES, clock=clock, actor=Actor.system(SCHEDULER_ACTOR)),
        build_reports(settings, uow, clock=clock),
        settings.report_dir,
    )


class ScheduledWork:
    """The scheduler's runner: a rule's run, or the morning report (``REPORT_JOB``), each
    in the firing's fenced transaction that claims its slot."""

    def __init__(
        self, engine: RuleEngine, reports: EarlyWarningReports, report_dir: Path | None
    ) -> None:
        self.engine = engine
        self._reports = reports
        self._report_dir = report_dir

    def run(self, rule: str, as_of: datetime, fence: Fence) -> object:
        if rule != REPORT_JOB:
            return self.engine.run(rule, as_of, fence)
        made = self._reports.make_morning(as_of, Actor.system(SCHEDULER_ACTOR), fence)
        for report in made:
            where = ""
            if self._report_dir is not None:
                directory = report_directory(
                    self._report_dir, report, self._reports.options.timezone
                )
                where = f", written to {write_report(report, directory)}"
            log.info(
                "early-warning report %s of %s (%s edition, digest %s)%s",
                report.id,
                report.date.isoformat(),
                report.edition.value.lower(),
                report.digest,
                where,
            )
        return made


def run_scheduler(
    settings: Settings,
    *,
    dry_run: bool = False,
    clock: Clock = system_clock,
    stop: threading.Event | None = None,
) -> None:
    """Runs the scheduler until ``stop`` is set, or SIGTERM/SIGINT when run from the main thread.

    ``dry_run`` fires the schedule and records each firing without running a rule.
    """
    stop = stop or threading.Event()
    try:
        schedule = Schedule.from_settings(settings)
    except InvalidInput as error:
        raise SystemExit(f"pantau scheduler: bad settings: {error.message}") from error
    if not dry_run:
        schedule = _catalogued(schedule)
    holder = f"{socket.gethostname()}:{os.getpid()}"
    engine = work_engine(settings)
    uow = UnitOfWork(engine, boundary_tolerance_meters=settings.boundary_tolerance_meters)
    runners = (
        nullcontext(RecordOnlyRunner(uow)) if dry_run else rule_runner(settings, uow, clock=clock)
    )
    jobs = BackgroundScheduler(
        timezone=schedule.zone,
        executors={"default": ThreadPoolExecutor(settings.scheduler_run_workers)},
        # Any late wake-up runs a job once; the dispatcher decides what is due.
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
    )

    def fire_everything_due(fence: Fence) -> None:
        # The previous leader may have missed slots (or died inside a run):
        # each rule runs what is due now, coalesced, on the scheduler's threads.
        now = clock().astimezone(schedule.zone)
        for rule in schedule.rules:
            jobs.modify_job(rule, next_run_time=now)

    leadership = Leadership(
        _lease_lock(settings),
        holder=holder,
        clock=clock,
        timings=LeadershipTimings(
            heartbeat_seconds=settings.scheduler_heartbeat_seconds,
            lock_timeout_seconds=settings.scheduler_lock_timeout_seconds,
        ),
        on_elected=fire_everything_due,
    )
    # APScheduler logs every job it runs at INFO; ours say what each run did.
    if logging.getLogger("apscheduler").getEffectiveLevel() > logging.DEBUG:
        logging.getLogger("apscheduler").setLevel(logging.WARNING)
    with runners as runner, stopping_on_signals(stop.set):
        dispatcher = RunDispatcher(
            schedule, leadership, runner, last_fired=_last_fired(engine), clock=clock
        )
        for rule, rule_schedule in schedule.rules.items():
            jobs.add_job(dispatcher.fire, rule_schedule.trigger, args=[rule], id=rule, name=rule)
        if isinstance(runner, ScheduledWork):
            screening = ScreeningJob(
                build_screener(
                    settings, uow, runner.engine, clock=clock, actor=Actor.system(SCHEDULER_ACTOR)
                ),
                leadership,
            )
            jobs.add_job(
                screening.fire,
                IntervalTrigger(seconds=settings.watchlist_screen_interval_seconds),
                id=SCREENING_JOB,
                name=SCREENING_JOB,
            )
        jobs.start()
        log.info(
            "scheduler %s started%s; rules in %s: %s",
            holder,
            " (dry run: firings are recorded, no rule runs)" if dry_run else "",
            settings.timezone,
            "; ".join(f"{rule} {', '.join(s.crons)}" for rule, s in schedule.rules.items()),
        )
        leadership.start()
        try:
            # Woken now and then: a signal taken by another thread is handled
            # only when the main thread next runs Python code.
            while not stop.wait(0.5):
                pass
        finally:
            log.info("scheduler %s stopping: waiting for running rule runs", holder)
            jobs.shutdown(wait=True)
            leadership.stop()
            engine.dispose()
            log.info("scheduler %s stopped", holder)


def _catalogued(schedule: Schedule) -> Schedule:
    """The schedule of the rules the catalogue holds: a scheduled rule it lacks is named once."""
    missing = [rule for rule in schedule.rules if rule not in RULES and rule != REPORT_JOB]
    if missing:
        log.warning(
            "scheduled rules the catalogue (scheduler.rules) does not hold, not run: %s",
            ", ".join(missing),
        )
    return Schedule(
        [
            rule_schedule
            for rule, rule_schedule in schedule.rules.items()
            if rule in RULES or rule == REPORT_JOB
        ],
        zone=schedule.zone,
        misfire_grace=schedule.misfire_grace,
    )


def _lease_lock(settings: Settings) -> LeaseLock:
    return LeaseLock(
        settings.database_url,
        SCHEDULER_LEASE,
        idle_timeout_seconds=settings.scheduler_lock_timeout_seconds,
        # Taking a term waits out a paused leader's transaction, which its
        # idle-in-transaction timeout ends.
        statement_timeout_seconds=settings.scheduler_lock_timeout_seconds
        + settings.scheduler_idle_in_transaction_seconds,
        application_name="pantau-scheduler-lock",
    )


def _last_fired(engine: Engine) -> Callable[[str], datetime | None]:
    def read(rule: str) -> datetime | None:
        try:
            with engine.connect() as connection:
                return last_fired_slot(connection, rule)
        except DBAPIError as error:
            raise Unavailable(f"the database cannot be reached: {error.orig}") from error

    return read


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
