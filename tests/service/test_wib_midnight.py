"""Rules about "today" count WIB days: each value is refused at 23:59 WIB and accepted at 00:01.

At 00:01 WIB (17:01 UTC) the UTC date is still the day before, so a rule that
took "today" in UTC would refuse at 00:01 too. Each test runs at an ordinary
midnight and at New Year, where the year changes as well.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange_service.domain import commands as cmd
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.model import BirthDate
from exchange_service.services import Queries, Registry
from tests.service import commands as c
from tests.service.conftest import RowCountsInTransaction, SettableClock, wib_day

# (23:59 WIB on the eve, 00:01 WIB on the new day), as UTC instants.
MIDNIGHTS = {
    "14-15 March 2026": (
        datetime(2026, 3, 14, 16, 59, tzinfo=UTC),
        datetime(2026, 3, 14, 17, 1, tzinfo=UTC),
    ),
    "New Year 2026": (
        datetime(2025, 12, 31, 16, 59, tzinfo=UTC),
        datetime(2025, 12, 31, 17, 1, tzinfo=UTC),
    ),
}


@pytest.fixture(params=sorted(MIDNIGHTS))
def midnight(request: pytest.FixtureRequest) -> tuple[datetime, datetime]:
    eve, new_day = MIDNIGHTS[request.param]
    assert wib_day(new_day) == wib_day(eve) + timedelta(days=1)
    assert new_day.date() == eve.date()  # in UTC both are still the eve
    return eve, new_day


def _refused_fields(error: pytest.ExceptionInfo[InvalidInput]) -> set[str]:
    return {v.field for v in error.value.violations}


def test_a_birth_on_the_new_day_is_accepted_only_once_it_has_begun(
    midnight: tuple[datetime, datetime],
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    eve, new_day = midnight
    born = wib_day(new_day)
    clock.set(eve)
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as caught:
        registry.register_person(c.registration(born=born))
    # At New Year the year itself is not yet; otherwise the day.
    assert _refused_fields(caught) <= {"person.birth_date", "person.birth_date.year"}
    assert _refused_fields(caught)
    assert row_counts.snapshot() == before

    clock.set(new_day)
    person = registry.register_person(c.registration(born=born))
    assert person.identity.birth_date == BirthDate(born.year, born.month, born.day)


def test_an_address_effective_on_the_new_day_is_accepted_only_once_it_has_begun(
    midnight: tuple[datetime, datetime],
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    eve, new_day = midnight
    clock.set(eve)
    person = registry.register_person(c.registration())
    report = c.address(person.id, wib_day(new_day))
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as caught:
        registry.report_address(report)
    assert _refused_fields(caught) == {"effective_from"}
    assert row_counts.snapshot() == before

    clock.set(new_day)
    assert registry.report_address(report).effective_from == wib_day(new_day)


def test_a_permit_starting_on_the_new_day_covers_an_entry_only_after_midnight(
    midnight: tuple[datetime, datetime],
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    eve, new_day = midnight
    permit = c.permit(wib_day(new_day), starts=0, ends=30)
    clock.set(eve)
    person = registry.register_person(c.registration())
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as caught:
        registry.record_entry(c.entry(person.id, clock(), permit))
    assert _refused_fields(caught) == {"permit.valid_from"}
    assert row_counts.snapshot() == before

    clock.set(new_day)
    stay = registry.record_entry(c.entry(person.id, clock(), permit))
    assert stay.entered_at == new_day


def test_a_permit_ending_on_the_eve_covers_an_entry_only_before_midnight(
    midnight: tuple[datetime, datetime],
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    eve, new_day = midnight
    permit = c.permit(wib_day(eve), starts=-30, ends=0)
    clock.set(eve)
    on_time = registry.register_person(c.registration())
    late = registry.register_person(c.registration())
    stay = registry.record_entry(c.entry(on_time.id, clock(), permit))
    assert stay.permit.valid_until == wib_day(eve)

    clock.set(new_day)
    before = row_counts.snapshot()
    with pytest.raises(InvalidInput) as caught:
        registry.record_entry(c.entry(late.id, clock(), permit))
    assert _refused_fields(caught) == {"permit.valid_until"}
    assert row_counts.snapshot() == before


def test_a_search_for_a_birth_year_not_yet_begun_is_refused_until_new_year(
    clock: SettableClock, queries: Queries
) -> None:
    eve, new_day = MIDNIGHTS["New Year 2026"]
    search = cmd.SearchPersons("nguyen", birth_year=wib_day(new_day).year)
    clock.set(eve)
    with pytest.raises(InvalidInput) as caught:
        queries.search_persons(search)
    assert _refused_fields(caught) == {"birth_year"}

    clock.set(new_day)
    assert queries.search_persons(search).items == ()
