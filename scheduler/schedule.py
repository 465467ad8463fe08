"""When each rule runs, and which run is due: the rules' crons in the office's time zone.

Each rule has one or more cron expressions (``scheduler_crons``), read as the
office's wall clock (WIB). A *slot* is one instant the crons name. The run
that is due at an instant stands for the latest slot not yet fired and, if
slots were missed while no scheduler led, for those too: missed slots
coalesce into one run, so a leader taking over runs what was missed once,
not once per slot. A slot later than ``misfire_grace`` ago is not run any
more (the next slot will be); the run due reports it as skipped.

Pure: no clock of its own and no I/O; the caller says what "now" is and
which slot fired last.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.combining import OrTrigger
from apscheduler.triggers.cron import CronTrigger

from exchange_service.domain.errors import FieldViolation, InvalidInput
from exchange_service.settings import Settings

_MICROSECOND = timedelta(microseconds=1)
# The job of the morning's early-warning report, fired like a rule's run: once per slot.
REPORT_JOB = "EARLY_WARNING_REPORT"
_CRON_FIELDS = ("minute", "hour", "day", "month", "day_of_week")


def cron_trigger(expression: str, zone: tzinfo) -> CronTrigger:
    """The APScheduler trigger of one cron expression, read in ``zone``.

    Five fields (minute hour day month day-of-week) fire at second 0; a sixth
    gives the seconds (``*/2 * * * * *``: every two seconds). Days of the week
    must be names (``mon-fri``, ``sun``): cron counts 0 as Sunday but
    APScheduler 3 counts it as Monday, so a number would silently mean
    another day. Raises ``ValueError`` saying what is wrong.
    """
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"{expression!r} has {len(fields)} fields; a cron has 5, or 6 with seconds"
        )
    values: dict[str, Any] = dict(zip(_CRON_FIELDS, fields[:5], strict=True))
    values["second"] = fields[5] if len(fields) == 6 else "0"
    if any(character.isdigit() for character in values["day_of_week"]):
        raise ValueError(
            f"{expression!r}: write days of the week as names (mon-fri, sun), not numbers:"
            " cron counts Sunday as 0, APScheduler counts Monday"
        )
    try:
        return CronTrigger(timezone=zone, **values)
    except ValueError as error:
        raise ValueError(f"{expression!r}: {error}") from error


@dataclass(frozen=True)
class DueRun:
    """The run due at an instant: the slot it stands for, and the missed slots it covers.

    ``slot`` is the latest slot due (the run is as of it); the run covers
    ``slots`` slots, from ``covers_from`` to ``slot``. ``skipped_from`` is the
    first of the slots missed beyond the grace, which are not run, if any.
    """

    rule: str
    slot: datetime
    covers_from: datetime
    slots: int
    skipped_from: datetime | None = None


@dataclass(frozen=True)
class RuleSchedule:
    """One rule's crons, as one trigger: its slots are the union of theirs."""

    rule: str
    crons: tuple[str, ...]
    trigger: BaseTrigger

    def next_slot(self, after: datetime) -> datetime | None:
        """The first slot strictly after ``after``."""
        slot = self.trigger.get_next_fire_time(None, after + _MICROSECOND)
        return slot if isinstance(slot, datetime) else None

    def slots(self, after: datetime, until: datetime) -> Iterator[datetime]:
        """The slots strictly after ``after`` and at or before ``until``, in order."""
        slot = self.next_slot(after)
        while slot is not None and slot <= until:
            yield slot
            slot = self.next_slot(slot)


class Schedule:
    """Every scheduled rule, and which run of a rule is due, once per slot."""

    def __init__(
        self, rules: Sequence[RuleSchedule], *, zone: tzinfo, misfire_grace: timedelta
    ) -> None:
        if misfire_grace <= timedelta(0):
            raise ValueError("the misfire grace must be positive")
        self.rules: Mapping[str, RuleSchedule] = {rule.rule: rule for rule in rules}
        self.zone = zone
        self.misfire_grace = misfire_grace

    @classmethod
    def from_settings(cls, settings: Settings) -> Schedule:
        """The schedule the settings give; ``InvalidInput`` names every bad cron.

        A rule whose list of crons is empty is not scheduled.
        """
        zone = ZoneInfo(settings.timezone)
        violations: list[FieldViolation] = []
        rules: list[RuleSchedule] = []
        for rule, crons in settings.scheduler_crons.items():
            triggers: list[CronTrigger] = []
            for index, expression in enumerate(crons):
                try:
                    triggers.append(cron_trigger(expression, zone))
                except ValueError as error:
                    violations.append(
                        FieldViolation(f"scheduler_crons.{rule}[{index}]", str(error))
                    )
            if triggers and len(triggers) == len(crons):
                trigger = triggers[0] if len(triggers) == 1 else OrTrigger(triggers)
                rules.append(RuleSchedule(rule, tuple(crons), trigger))
        # The morning's early-warning report, at ``report_time`` (validated "HH:MM"; "": none).
        if settings.report_time:
            hour, minute = settings.report_time.split(":")
            cron = f"{int(minute)} {int(hour)} * * *"
            rules.append(RuleSchedule(REPORT_JOB, (cron,), cron_trigger(cron, zone)))
        if violations:
            raise InvalidInput(violations)
        return cls(
            rules,
            zone=zone,
            misfire_grace=timedelta(seconds=settings.scheduler_misfire_grace_seconds),
        )

    def due(self, rule: str, *, last_fired: datetime | None, now: datetime) -> DueRun | None:
        """The run of ``rule`` due at ``now``, given the latest slot that fired; None if none is.

        The slots due are those after ``last_fired`` and no older than the
        misfire grace; the run stands for the latest of them and covers them
        all. With no slot fired yet, every slot within the grace is due.
        """
        schedule = self.rules[rule]
        oldest_runnable = now - self.misfire_grace
        after = oldest_runnable - _MICROSECOND
        skipped_from = None
        if last_fired is not None:
            if last_fired >= oldest_runnable:
                after = last_fired
            else:
                first_missed = schedule.next_slot(last_fired)
                if first_missed is not None and first_missed < oldest_runnable:
                    skipped_from = first_missed
        covers_from = latest = None
        count = 0
        for slot in schedule.slots(after, now):
            covers_from = covers_from or slot
            latest = slot
            count += 1
        if covers_from is None or latest is None:
            return None
        return DueRun(rule, latest, covers_from, count, skipped_from)
