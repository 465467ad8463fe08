"""The Anambas sample that `make run` serves: deterministic, in the past, in Anambas, varied."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from exchange_service.domain import commands as cmd
from exchange_service.domain.model import SightingSource
from exchange_service.settings import load_settings
from exchange_service.tools.people import village_named
from exchange_service.tools.sample import (
    GROUP_SHARES,
    LODGINGS,
    Group,
    SamplePerson,
    Trait,
    VillageOf,
    generate_sample,
    registry_placement,
)

DAY = date(2026, 11, 29)
ZONE = ZoneInfo("Asia/Jakarta")
PERSONS = 300
LODGING_SOURCES = {SightingSource.LODGING_CHECK_IN, SightingSource.LODGING_CHECK_OUT}

# Anambas regency with a margin: every point of the sample lies in this box.
LATITUDES = (2.0, 3.7)
LONGITUDES = (105.5, 106.9)


@pytest.fixture(scope="module")
def village_of(database_url: str) -> Iterator[VillageOf]:
    """The registry's placement of points, which the sample's homes agree with."""
    with registry_placement(load_settings(database_url=database_url)) as placement:
        yield placement


@pytest.fixture(scope="module")
def sample(village_of: VillageOf) -> list[SamplePerson]:
    return generate_sample(PERSONS, seed=2105, today=DAY, village_of=village_of)


def _date(parts: cmd.DateParts | None) -> date:
    assert parts is not None
    return date(parts.year, parts.month, parts.day)


def _who(person: SamplePerson) -> tuple[object, ...]:
    r = person.registration
    document = person.document.number
    return (r.family_name, r.given_names, r.nationality, r.birth_date, r.sex, document)


def test_the_same_seed_gives_the_same_sample(
    sample: list[SamplePerson], village_of: VillageOf
) -> None:
    assert generate_sample(PERSONS, seed=2105, today=DAY, village_of=village_of) == sample
    other = generate_sample(PERSONS, seed=2106, today=DAY, village_of=village_of)
    assert [_who(p) for p in other] != [_who(p) for p in sample]


def test_the_people_do_not_depend_on_the_day(
    sample: list[SamplePerson], village_of: VillageOf
) -> None:
    later = generate_sample(
        PERSONS, seed=2105, today=DAY + timedelta(days=45), village_of=village_of
    )
    assert [_who(p) for p in later] == [_who(p) for p in sample]


def test_every_instant_and_date_lies_before_the_day(sample: list[SamplePerson]) -> None:
    start_of_day = datetime.combine(DAY, time(), ZONE)
    instants = [
        moment
        for p in sample
        for moment in (
            *(s.entry.entered_at for s in p.stays),
            *(s.exit.exited_at for s in p.stays if s.exit is not None),
            *(s.observed_at for s in p.sightings),
            *(s.reported_at for s in p.sightings),
            *(a.reported_at for a in p.addresses),
        )
    ]
    assert instants
    assert all(moment is not None and moment < start_of_day for moment in instants)
    moves = [_date(a.effective_from) for p in sample for a in p.addresses]
    assert moves
    assert all(day < DAY for day in moves)


def test_addresses_and_sightings_carry_the_time_they_were_reported(
    sample: list[SamplePerson],
) -> None:
    """As an import of past records would: a report follows what it reports, soon or late."""
    delays: dict[bool, list[int]] = {True: [], False: []}
    for person in sample:
        late = Trait.LATE_ADDRESS_REPORT in person.traits
        for i, address in enumerate(person.addresses):
            assert address.reported_at is not None
            days = (
                address.reported_at.astimezone(ZONE).date() - _date(address.effective_from)
            ).days
            assert days >= 0
            if i > 0:
                delays[late].append(days)
        for sighting in person.sightings:
            assert sighting.reported_at is not None
            assert sighting.observed_at is not None
            assert timedelta(0) < sighting.reported_at - sighting.observed_at <= timedelta(hours=3)
            seen_on = sighting.observed_at.astimezone(ZONE).date()
            assert sighting.reported_at.astimezone(ZONE).date() == seen_on
    # Timely moves are reported within 3 days, late ones past the 14-day grace window.
    assert delays[False]
    assert max(delays[False]) <= 3
    assert delays[True]
    assert min(delays[True]) >= 15


def test_the_groups_follow_their_shares_and_every_trait_occurs(
    sample: list[SamplePerson],
) -> None:
    drawn = [p for p in sample if not p.cases]
    assert len(drawn) == PERSONS
    by_group = Counter(p.group for p in drawn)
    assert set(by_group) == set(GROUP_SHARES)
    for group, share in GROUP_SHARES.items():
        assert abs(by_group[group] - share * PERSONS) <= 2, group
    assert {p.group for p in sample} == set(Group)
    traits = Counter(t for p in sample for t in p.traits)
    assert set(traits) == set(Trait)
    overstaying = [p for p in sample if Trait.OVERSTAYING in p.traits]
    assert all(Trait.PRESENT in p.traits for p in overstaying)


def test_every_point_lies_in_the_anambas_islands(sample: list[SamplePerson]) -> None:
    points = [
        point
        for p in sample
        for point in (
            *(a.location for a in p.addresses),
            *(s.location for s in p.sightings),
        )
    ]
    assert points
    for point in points:
        assert point is not None
        assert LATITUDES[0] < point.latitude < LATITUDES[1], point
        assert LONGITUDES[0] < point.longitude < LONGITUDES[1], point


def test_every_home_is_filed_under_the_village_its_address_names(
    sample: list[SamplePerson], village_of: VillageOf
) -> None:
    addresses = [a for p in sample for a in p.addresses if not a.line.startswith("Kapal layar")]
    assert addresses
    for address in addresses:
        assert address.location is not None
        # "..., RT 02/RW 01, Desa Air Bini, Kec. Siantan Selatan"
        unit = address.line.split(", ")[-2]
        village = village_named(unit.removeprefix("Desa ").removeprefix("Kel. "))
        assert village_of(address.location) == village.code, address.line


def test_lodging_receipts_are_referenced_as_an_import_references_them(
    sample: list[SamplePerson],
) -> None:
    lodgings = {lodging.lodging_id for group in LODGINGS.values() for lodging in group}
    sightings = [s for p in sample for s in p.sightings if s.source in LODGING_SOURCES]
    assert sightings
    for sighting in sightings:
        lodging_id, _, receipt = sighting.reference.partition("/")
        assert lodging_id in lodgings
        assert receipt.isdigit()
        assert cmd.lodging_reference(lodging_id, receipt) == sighting.reference
    # A check-in and its check-out share the receipt, never two stays.
    per_event = Counter((s.source, s.reference) for s in sightings)
    assert max(per_event.values()) == 1


@pytest.mark.parametrize(
    ("lodging_id", "receipt", "expected"),
    [
        ("TRP001", "004211", "TRP001/004211"),
        ("  TRP  001 ", " 42 ", "TRP 001/42"),
        ("TRP001", "   ", ""),
    ],
)
def test_lodging_reference(lodging_id: str, receipt: str, expected: str) -> None:
    assert cmd.lodging_reference(lodging_id, receipt) == expected
