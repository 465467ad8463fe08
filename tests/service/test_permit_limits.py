"""ExtendPermit stays within what each type of permit allows, and says which limit it would pass.

Every test runs with the clock at an ordinary morning and at both sides of
WIB midnight (23:59:59 and 00:00:00 local, when the UTC date is still the
eve): permit days are the office's days, so a limit met on one side of
midnight is met on the other.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from exchange_service.app import registry_options
from exchange_service.domain import commands as cmd
from exchange_service.domain.errors import FailedPrecondition
from exchange_service.domain.model import PermitType, Stay
from exchange_service.domain.permits import PermitLimits, PermitTypeLimit
from exchange_service.services import Registry
from exchange_service.settings import Settings, load_settings
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import DEFAULT_INSTANT, RowCountsInTransaction, SettableClock

INSTANTS = {
    "09:00 WIB": DEFAULT_INSTANT,
    "23:59:59 WIB": datetime(2026, 3, 14, 16, 59, 59, tzinfo=UTC),
    "00:00:00 WIB": datetime(2026, 3, 14, 17, 0, 0, tzinfo=UTC),
}


@pytest.fixture(params=sorted(INSTANTS), autouse=True)
def _clock_at(request: pytest.FixtureRequest, clock: SettableClock) -> None:
    clock.set(INSTANTS[request.param])


def _stay(
    registry: Registry, clock: SettableClock, *, ends: int, kind: PermitType = PermitType.VOA
) -> Stay:
    """A person entered now under a first period from yesterday to ``ends`` days from today."""
    person = registry.register_person(c.registration())
    first = c.permit(clock.today(), starts=-1, ends=ends, kind=kind)
    return registry.record_entry(c.entry(person.id, clock(), first))


def _extend(
    registry: Registry,
    clock: SettableClock,
    stay: Stay,
    *,
    starts: int,
    ends: int,
    kind: PermitType | None = None,
) -> Stay:
    period = c.permit(
        clock.today(), starts=starts, ends=ends, number="EXT", kind=kind or stay.permit.type
    )
    return registry.extend_permit(cmd.ExtendPermit(str(stay.id), period))


def _refusal(
    registry: Registry,
    clock: SettableClock,
    row_counts: RowCountsInTransaction,
    stay: Stay,
    *,
    starts: int,
    ends: int,
    kind: PermitType | None = None,
) -> list[str]:
    """The descriptions of an extension's refusal, which wrote nothing."""
    before = row_counts.snapshot()
    with pytest.raises(FailedPrecondition) as caught:
        _extend(registry, clock, stay, starts=starts, ends=ends, kind=kind)
    assert row_counts.snapshot() == before
    violations = caught.value.violations
    assert {(v.type, v.subject) for v in violations} == {
        ("PERMIT_LIMIT_EXCEEDED", f"stays/{stay.id}")
    }
    return [v.description for v in violations]


def test_a_voa_reaches_its_60_days_in_all_and_not_one_day_more(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    # 30 days from yesterday, then 30 more: 60 in all.
    met = _stay(registry, clock, ends=28)
    extended = _extend(registry, clock, met, starts=29, ends=58)
    assert len(extended.permits) == 2

    over = _stay(registry, clock, ends=28)
    (why,) = _refusal(registry, clock, row_counts, over, starts=29, ends=59)
    yesterday, last = clock.today() - timedelta(days=1), clock.today() + timedelta(days=59)
    assert why == (
        "with this extension the stay's VOA periods would cover 61 days"
        f" ({yesterday.isoformat()} to {last.isoformat()}),"
        " over the VOA limit of 60 days in all (setting permit_voa.total_days)"
    )


def test_a_voa_is_extended_once_however_short_the_extensions(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    stay = _stay(registry, clock, ends=8)
    stay = _extend(registry, clock, stay, starts=9, ends=18)
    (why,) = _refusal(registry, clock, row_counts, stay, starts=19, ends=28)
    assert why == (
        "this would be extension 2 of the stay's VOA permit, over the VOA limit of"
        " 1 extension (setting permit_voa.extensions)"
    )


def test_a_visit_permit_reaches_180_days_in_all_in_any_number_of_extensions(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    stay = _stay(registry, clock, ends=58, kind=PermitType.VISIT)  # 60 days
    for starts, ends in ((59, 88), (89, 118), (119, 148), (149, 178)):
        stay = _extend(registry, clock, stay, starts=starts, ends=ends)
    assert len(stay.permits) == 5  # four extensions, 180 days in all
    (why,) = _refusal(registry, clock, row_counts, stay, starts=179, ends=179)
    assert "VISIT periods would cover 181 days" in why
    assert "VISIT limit of 180 days in all (setting permit_visit.total_days)" in why


def test_overlapping_periods_count_each_day_once(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    # An extension recorded from the day it was granted overlaps the current
    # period: the days from yesterday to day 58 are 60, not 30 + 49.
    met = _stay(registry, clock, ends=28)
    assert len(_extend(registry, clock, met, starts=10, ends=58).permits) == 2
    over = _stay(registry, clock, ends=28)
    (why,) = _refusal(registry, clock, row_counts, over, starts=10, ends=59)
    assert "would cover 61 days" in why


def test_both_limits_passed_are_both_named(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    stay = _stay(registry, clock, ends=28)
    stay = _extend(registry, clock, stay, starts=29, ends=40)
    why = _refusal(registry, clock, row_counts, stay, starts=41, ends=70)
    assert [w.split(" (setting ")[-1] for w in why] == [
        "permit_voa.total_days)",
        "permit_voa.extensions)",
    ]


def test_types_the_brief_gives_no_limit_take_any_extension(
    registry: Registry, clock: SettableClock
) -> None:
    for kind in (PermitType.LIMITED_STAY, PermitType.PERMANENT_STAY, PermitType.DIPLOMATIC):
        stay = _stay(registry, clock, ends=363, kind=kind)
        for year in range(1, 12):
            stay = _extend(registry, clock, stay, starts=365 * year - 1, ends=365 * year + 363)
        assert len(stay.permits) == 12, kind


@pytest.fixture
def stricter_registry(
    uow: SavepointUnitOfWork, service_settings: Settings, clock: SettableClock
) -> Registry:
    """The registry with an office's own limits: ITAS one year in all, VISIT twice extended."""
    settings = load_settings(
        database_url=service_settings.database_url,
        permit_limited_stay={"total_days": 365},
        permit_visit={"total_days": 180, "extensions": 2},
    )
    options = registry_options(settings)
    assert options.permit_limits == PermitLimits(
        voa=PermitTypeLimit(total_days=60, extensions=1),
        visit=PermitTypeLimit(total_days=180, extensions=2),
        limited_stay=PermitTypeLimit(total_days=365),
        permanent_stay=PermitTypeLimit(),
        diplomatic=PermitTypeLimit(),
    )
    return Registry(uow, options, clock)


def test_the_settings_set_the_limits(
    stricter_registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    visit = _stay(stricter_registry, clock, ends=28, kind=PermitType.VISIT)
    visit = _extend(stricter_registry, clock, visit, starts=29, ends=40)
    visit = _extend(stricter_registry, clock, visit, starts=41, ends=50)
    (why,) = _refusal(stricter_registry, clock, row_counts, visit, starts=51, ends=60)
    assert "over the VISIT limit of 2 extensions (setting permit_visit.extensions)" in why

    itas = _stay(stricter_registry, clock, ends=363, kind=PermitType.LIMITED_STAY)  # 365 days
    (why,) = _refusal(stricter_registry, clock, row_counts, itas, starts=364, ends=364)
    assert "LIMITED_STAY periods would cover 366 days" in why


def test_a_change_of_type_starts_the_new_types_count(
    stricter_registry: Registry, clock: SettableClock
) -> None:
    # ITAS for a year, then ITAP (alih status): the ITAP periods are counted on
    # their own, and ITAP has no limit.
    itas = _stay(stricter_registry, clock, ends=363, kind=PermitType.LIMITED_STAY)
    itap = _extend(
        stricter_registry, clock, itas, starts=364, ends=364 + 1825, kind=PermitType.PERMANENT_STAY
    )
    assert [p.type for p in itap.permits] == [PermitType.LIMITED_STAY, PermitType.PERMANENT_STAY]
