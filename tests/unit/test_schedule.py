"""The rules' schedule: crons read in WIB, and the run due at an instant, missed slots coalesced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from exchange_service.domain.alerts import RuleName
from exchange_service.domain.errors import InvalidInput
from exchange_service.settings import SCHEDULER_CRONS, load_settings
from scheduler.process import _catalogued
from scheduler.rules import RULES
from scheduler.schedule import REPORT_JOB, DueRun, Schedule, cron_trigger

WIB = ZoneInfo("Asia/Jakarta")
SIX_HOURS = timedelta(hours=6)


def _wib(day: int, hour: int, minute: int, second: int = 0, microsecond: int = 0) -> datetime:
    return datetime(2026, 12, day, hour, minute, second, microsecond, tzinfo=WIB)


def _schedule(*crons: str, grace: timedelta = SIX_HOURS) -> Schedule:
    """OVERSTAY on ``crons`` alone, as the settings would give it."""
    settings = load_settings(
        scheduler_crons={rule: [] for rule in SCHEDULER_CRONS} | {"OVERSTAY": list(crons)},
        report_time="",
        scheduler_misfire_grace_seconds=grace.total_seconds(),
    )
    schedule = Schedule.from_settings(settings)
    assert list(schedule.rules) == ["OVERSTAY"]
    return schedule


def test_the_default_schedule_runs_every_rule_after_midnight_and_the_permit_rules_at_seven() -> (
    None
):
    schedule = Schedule.from_settings(load_settings())
    assert set(schedule.rules) == set(SCHEDULER_CRONS) | {REPORT_JOB}
    assert len(schedule.rules) == 9
    day_start = _wib(2, 0, 0)
    for rule, rule_schedule in schedule.rules.items():
        slots = list(rule_schedule.slots(day_start, _wib(2, 23, 59, 59)))
        wanted = [_wib(2, 0, 5)]
        if rule == REPORT_JOB:
            # The early-warning report, each morning at 06:00 WIB (23:00 UTC the day before).
            wanted = [_wib(2, 6, 0)]
        elif rule in ("OVERSTAY", "PERMIT_EXPIRING"):
            wanted.append(_wib(2, 7, 0))
        assert slots == wanted, rule


def test_the_catalogue_holds_every_scheduled_rule_so_the_scheduler_runs_them_all() -> None:
    schedule = Schedule.from_settings(load_settings())
    assert set(RULES) == set(SCHEDULER_CRONS) == set(RuleName)
    assert list(_catalogued(schedule).rules) == list(schedule.rules)


def test_the_report_time_is_a_setting_and_empty_schedules_no_report() -> None:
    at_half_past_five = Schedule.from_settings(load_settings(report_time="05:30"))
    assert at_half_past_five.rules[REPORT_JOB].crons == ("30 5 * * *",)
    assert REPORT_JOB not in Schedule.from_settings(load_settings(report_time="")).rules
    with pytest.raises(ValueError, match="report_time"):
        load_settings(report_time="6:00")


def test_a_cron_is_read_on_the_office_clock_not_utc() -> None:
    schedule = _schedule("5 0 * * *")
    # 00:05 WIB on 2 December is 17:05 UTC on 1 December.
    slot = schedule.rules["OVERSTAY"].next_slot(datetime(2026, 12, 1, 17, 0, tzinfo=UTC))
    assert slot == datetime(2026, 12, 1, 17, 5, tzinfo=UTC)
    assert slot is not None
    assert slot.astimezone(WIB).date().isoformat() == "2026-12-02"


@pytest.mark.parametrize(
    ("now", "due_slot"),
    [
        # 23:59:59 WIB: the day's midnight slot has not come yet; yesterday's fired.
        (_wib(1, 23, 59, 59), None),
        # 00:00:00 WIB: the new day's slot is due at once, though UTC is still on 1 December.
        (_wib(2, 0, 0, 0), _wib(2, 0, 0)),
    ],
)
def test_a_midnight_slot_is_due_at_wib_midnight(now: datetime, due_slot: datetime | None) -> None:
    schedule = _schedule("0 0 * * *")
    due = schedule.due("OVERSTAY", last_fired=_wib(1, 0, 0), now=now)
    assert (due.slot if due else None) == due_slot
    if due is not None:
        assert (due.covers_from, due.slots, due.skipped_from) == (due_slot, 1, None)


def test_a_sixth_field_gives_the_seconds() -> None:
    schedule = _schedule("* * * * * */2")
    slots = list(schedule.rules["OVERSTAY"].slots(_wib(2, 0, 0), _wib(2, 0, 0, 7)))
    assert slots == [_wib(2, 0, 0, 2), _wib(2, 0, 0, 4), _wib(2, 0, 0, 6)]


def test_missed_slots_coalesce_into_one_run_of_the_latest() -> None:
    schedule = _schedule("* * * * * */2")
    due = schedule.due("OVERSTAY", last_fired=_wib(2, 0, 0), now=_wib(2, 0, 0, 7, 500_000))
    assert due == DueRun("OVERSTAY", _wib(2, 0, 0, 6), _wib(2, 0, 0, 2), 3)
    # Once that run has fired, nothing is due until the next slot.
    assert schedule.due("OVERSTAY", last_fired=due.slot, now=_wib(2, 0, 0, 7, 900_000)) is None
    again = schedule.due("OVERSTAY", last_fired=due.slot, now=_wib(2, 0, 0, 8))
    assert again == DueRun("OVERSTAY", _wib(2, 0, 0, 8), _wib(2, 0, 0, 8), 1)


def test_slots_older_than_the_grace_are_skipped_and_said_so() -> None:
    schedule = _schedule("5 0 * * *", "0 7 * * *")
    # Last run 00:05 on the 1st; the schedulers were down until 07:30 on the 2nd.
    due = schedule.due("OVERSTAY", last_fired=_wib(1, 0, 5), now=_wib(2, 7, 30))
    # 07:00 on the 1st and 00:05 on the 2nd are more than six hours late: not run.
    assert due == DueRun("OVERSTAY", _wib(2, 7, 0), _wib(2, 7, 0), 1, skipped_from=_wib(1, 7, 0))


def test_a_slot_exactly_the_grace_late_still_runs() -> None:
    schedule = _schedule("5 0 * * *", grace=timedelta(hours=1))
    on_the_edge = schedule.due("OVERSTAY", last_fired=_wib(1, 0, 5), now=_wib(2, 1, 5))
    assert on_the_edge is not None
    assert on_the_edge.slot == _wib(2, 0, 5)
    too_late = schedule.due("OVERSTAY", last_fired=_wib(1, 0, 5), now=_wib(2, 1, 5, 0, 1))
    assert too_late is None


def test_with_nothing_fired_yet_every_slot_within_the_grace_is_due_once() -> None:
    schedule = _schedule("5 0 * * *", "0 7 * * *")
    due = schedule.due("OVERSTAY", last_fired=None, now=_wib(2, 7, 30))
    assert due == DueRun("OVERSTAY", _wib(2, 7, 0), _wib(2, 7, 0), 1)
    due = schedule.due("OVERSTAY", last_fired=None, now=_wib(2, 6, 0))
    assert due == DueRun("OVERSTAY", _wib(2, 0, 5), _wib(2, 0, 5), 1)


@pytest.mark.parametrize(
    ("cron", "complaint"),
    [
        ("5 0 * *", "has 4 fields; a cron has 5, or 6 with seconds"),
        ("0 7 * * 1", "write days of the week as names"),
        ("61 0 * * *", "higher than the maximum value (59)"),
    ],
)
def test_a_bad_cron_is_refused_naming_the_setting(cron: str, complaint: str) -> None:
    settings = load_settings(scheduler_crons={"PERMIT_EXPIRING": ["5 0 * * *", cron]})
    with pytest.raises(InvalidInput) as refused:
        Schedule.from_settings(settings)
    [violation] = refused.value.violations
    assert violation.field == "scheduler_crons.PERMIT_EXPIRING[1]"
    assert complaint in violation.description


def test_days_of_the_week_by_name_mean_what_cron_means() -> None:
    trigger = cron_trigger("0 7 * * mon-fri", WIB)
    saturday = _wib(5, 8, 0)
    assert trigger.get_next_fire_time(None, saturday) == _wib(7, 7, 0)  # Monday 7 December


def test_a_rule_without_crons_is_not_scheduled_and_the_others_keep_theirs() -> None:
    settings = load_settings(scheduler_crons={"NO_RECENT_CONTACT": []})
    schedule = Schedule.from_settings(settings)
    assert "NO_RECENT_CONTACT" not in schedule.rules
    assert schedule.rules["OVERSTAY"].crons == SCHEDULER_CRONS["OVERSTAY"]
