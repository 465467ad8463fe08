"""Addresses and sightings keep when they were reported (an import's own time) and when received.

A report that says when it was made keeps that time; one that does not was
made when Pantau received it. Pantau's own time of receipt is kept beside it.
A report time in the future, before the move it reports (in WIB days) or
before the sighting it reports is refused, naming ``reported_at``, and writes
nothing.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta

import pytest

from exchange_service.domain import commands as cmd
from exchange_service.domain.errors import FieldViolation, InvalidInput
from exchange_service.domain.model import AddressRecord
from exchange_service.domain.validation import LIMITS
from exchange_service.services import Queries, Registry
from tests.service import commands as c
from tests.service.conftest import WIB, RowCountsInTransaction, SettableClock


def _refused(error: pytest.ExceptionInfo[InvalidInput]) -> dict[str, str]:
    return {v.field: v.description for v in error.value.violations}


def _wib(day: date, at: time) -> datetime:
    return datetime.combine(day, at, WIB)


def _current_address(queries: Queries, person_id: object) -> AddressRecord | None:
    return queries.get_person(cmd.PersonKey(person_id=str(person_id))).current_address


# --- addresses ---------------------------------------------------------------


def test_an_imported_address_keeps_the_time_it_was_reported(
    registry: Registry, queries: Queries, clock: SettableClock
) -> None:
    person = registry.register_person(c.registration())
    moved_on = clock.today() - timedelta(days=200)
    reported = _wib(moved_on + timedelta(days=2), time(10, 15))
    record = registry.report_address(c.address(person.id, moved_on, reported_at=reported))
    assert record.reported_at == reported
    assert record.recorded_at == clock()
    assert _current_address(queries, person.id) == record


def test_an_address_that_says_no_time_was_reported_when_received(
    registry: Registry, queries: Queries, clock: SettableClock
) -> None:
    person = registry.register_person(c.registration())
    record = registry.report_address(c.address(person.id, clock.today()))
    assert record.reported_at == record.recorded_at == clock()
    assert _current_address(queries, person.id) == record


def test_an_address_is_not_reported_before_the_wib_day_of_its_move(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    moved_on = clock.today() - timedelta(days=10)
    eve = _wib(moved_on - timedelta(days=1), time(23, 59, 59))
    midnight = _wib(moved_on, time(0, 0, 0))
    # At 00:00 WIB the UTC date is still the eve's: the day is WIB's.
    assert midnight.astimezone(UTC).date() == moved_on - timedelta(days=1)
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as caught:
        registry.report_address(c.address(person.id, moved_on, reported_at=eve))
    assert _refused(caught) == {
        "reported_at": f"{eve.isoformat()} is before effective_from {moved_on} (local time):"
        " a move is reported once made"
    }
    assert row_counts.snapshot() == before
    record = registry.report_address(c.address(person.id, moved_on, reported_at=midnight))
    assert record.reported_at == midnight


def test_an_address_is_not_reported_in_the_future(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    # Devices' clocks may run ahead by the allowance every reported instant gets.
    latest = clock() + LIMITS.clock_skew
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as caught:
        registry.report_address(
            c.address(person.id, clock.today(), reported_at=latest + timedelta(microseconds=1))
        )
    assert _refused(caught) == {"reported_at": "lies in the future"}
    assert row_counts.snapshot() == before
    record = registry.report_address(c.address(person.id, clock.today(), reported_at=latest))
    assert record.reported_at == latest


def test_a_bad_report_time_is_named_with_every_other_bad_field(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as caught:
        registry.report_address(
            c.address(person.id, clock.today(), line="", reported_at=clock.ago(days=-1))
        )
    assert set(_refused(caught)) == {"address.line", "reported_at"}
    assert row_counts.snapshot() == before


def test_of_reports_of_one_day_the_latest_reported_is_current_whenever_received(
    registry: Registry, queries: Queries, clock: SettableClock
) -> None:
    person = registry.register_person(c.registration())
    moved_on = clock.today() - timedelta(days=30)
    corrected = registry.report_address(
        c.address(person.id, moved_on, line="Jl. Hang Tuah 9", reported_at=clock.ago(days=20))
    )
    # An older report of the same move, imported afterwards, stays history.
    registry.report_address(
        c.address(person.id, moved_on, line="Jl. Hang Tuah 7", reported_at=clock.ago(days=29))
    )
    assert _current_address(queries, person.id) == corrected
    # A report made now of the same day corrects both.
    latest = registry.report_address(c.address(person.id, moved_on, line="Jl. Hang Tuah 11"))
    assert _current_address(queries, person.id) == latest


# --- sightings ---------------------------------------------------------------


def test_a_sighting_keeps_the_time_it_was_reported(
    registry: Registry, queries: Queries, clock: SettableClock
) -> None:
    person = registry.register_person(c.registration())
    seen, reported = clock.ago(days=3), clock.ago(days=2)
    sighting, is_new = registry.record_sighting(
        c.police_check(seen, person_id=person.id, reported_at=reported)
    )
    assert is_new
    assert (sighting.observed_at, sighting.reported_at, sighting.recorded_at) == (
        seen,
        reported,
        clock(),
    )
    unsaid, _ = registry.record_sighting(c.police_check(clock.ago(hours=1), person_id=person.id))
    assert unsaid.reported_at == unsaid.recorded_at == clock()
    dossier = queries.get_person(cmd.PersonKey(person_id=str(person.id)))
    assert set(dossier.recent_sightings) == {sighting, unsaid}


def test_a_sighting_is_not_reported_before_it_was_seen_nor_in_the_future(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    seen = clock.ago(hours=5)
    too_early = c.police_check(
        seen, person_id=person.id, reported_at=seen - timedelta(microseconds=1)
    )
    too_late = c.police_check(
        seen,
        person_id=person.id,
        reported_at=clock() + LIMITS.clock_skew + timedelta(microseconds=1),
    )
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as early:
        registry.record_sighting(too_early)
    assert _refused(early) == {"reported_at": f"is before the sighting itself ({seen.isoformat()})"}
    with pytest.raises(InvalidInput) as late:
        registry.record_sighting(too_late)
    assert _refused(late) == {"reported_at": "lies in the future"}
    assert row_counts.snapshot() == before
    at_once, _ = registry.record_sighting(
        c.police_check(seen, person_id=person.id, reported_at=seen)
    )
    assert at_once.reported_at == seen


def test_a_lodging_batch_keeps_each_reports_time_and_rejects_a_bad_one_by_its_field(
    registry: Registry, queries: Queries, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    guest = registry.register_person(c.registration())
    number = guest.documents[0].number
    checked_in = clock.ago(days=40)
    unreadable = (FieldViolation("reported_at", "is not a valid timestamp"),)
    reports = [
        c.lodging_report(number, "R-1", checked_in, reported_at=checked_in + timedelta(hours=1)),
        c.lodging_report(number, "R-2", checked_in, reported_at=checked_in - timedelta(hours=1)),
        c.lodging_report(number, "R-3", checked_in, reported_at=None, unreadable=unreadable),
        c.lodging_report(number, "R-4", checked_in),
    ]
    before = row_counts.snapshot()
    summary = registry.import_lodging_reports(iter(reports))
    assert (summary.accepted, summary.rejected) == (2, 2)
    assert [(r.index, r.field) for r in summary.rejections] == [
        (1, "reported_at"),
        (2, "reported_at"),
    ]
    assert summary.rejections[0].reason == (
        f"reported_at: is before the sighting itself ({checked_in.isoformat()})"
    )
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 2
    dossier = queries.get_person(cmd.PersonKey(person_id=str(guest.id)))
    reported = {s.reference.rsplit("/", 1)[1]: s.reported_at for s in dossier.recent_sightings}
    assert reported == {"R-1": checked_in + timedelta(hours=1), "R-4": clock()}


def test_a_repeated_report_keeps_the_first_ones_times(
    registry: Registry, clock: SettableClock
) -> None:
    guest = registry.register_person(c.registration())
    seen = clock.ago(days=3)
    first = c.lodging_report(
        guest.documents[0].number, "R-1", seen, reported_at=seen + timedelta(minutes=5)
    )
    registry.import_lodging_reports([first])
    clock.set(clock() + timedelta(days=1))
    again = replace(first, reported_at=seen + timedelta(hours=2))
    sighting, is_new = registry.record_sighting(cmd.lodging_sighting(again))
    assert not is_new
    assert sighting.reported_at == seen + timedelta(minutes=5)
    assert sighting.recorded_at == clock() - timedelta(days=1)
