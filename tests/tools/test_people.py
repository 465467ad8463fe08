"""The people the sample and the bench share: names, passport numbers, villages, addresses."""

from __future__ import annotations

import random
import re

import pytest

from exchange_service.data.loader import PlaceKind, places
from exchange_service.domain.model import Sex
from exchange_service.tools import people

DOCUMENT_NUMBER = re.compile(r"[A-Z0-9]{1,20}")  # what the registry accepts


def _matches_a_format(state: str, number: str) -> bool:
    return any(re.fullmatch(fmt.pattern, number) for _, fmt in people.PASSPORT_FORMATS[state])


@pytest.mark.parametrize("state", sorted(people.PASSPORT_FORMATS))
def test_drawn_numbers_are_in_the_issuers_format(state: str) -> None:
    rng = random.Random(state)
    for _ in range(500):
        number = people.draw_passport_number(rng, state)
        assert _matches_a_format(state, number), number
        assert DOCUMENT_NUMBER.fullmatch(number), number


@pytest.mark.parametrize("state", sorted(people.PASSPORT_FORMATS))
def test_serials_give_distinct_numbers_in_the_issuers_format(state: str) -> None:
    numbers = [people.passport_number(state, serial) for serial in range(20_000)]
    assert len(set(numbers)) == len(numbers)
    assert all(_matches_a_format(state, n) and DOCUMENT_NUMBER.fullmatch(n) for n in numbers)
    capacity = people.passport_capacity(state)
    assert people.passport_number(state, capacity - 1)
    with pytest.raises(ValueError, match=state):
        people.passport_number(state, capacity)


def test_every_nationality_has_names_and_a_passport_format() -> None:
    assert set(people.NAMES) == set(people.PASSPORT_FORMATS)
    rng = random.Random(1)
    for nationality in people.NAMES:
        for sex in Sex:
            family, given = people.person_name(rng, nationality, sex)
            assert family.strip()
            assert given == "" or given.strip()


def test_birth_dates_lie_in_the_years_and_some_give_the_year_only() -> None:
    rng = random.Random(2)
    births = [people.birth_date(rng, (1950, 2006)) for _ in range(2_000)]
    assert all(1950 <= year <= 2006 for year, _, _ in births)
    assert all(1 <= month <= 12 and 1 <= day <= 28 for _, month, day in births if month)
    assert any(month == day == 0 for _, month, day in births)


def test_villages_are_every_desa_and_kelurahan_of_the_places_file() -> None:
    kinds = (PlaceKind.DESA_CENTROID, PlaceKind.KELURAHAN_CENTROID)
    centroids = [place for place in places() if place.kind in kinds]
    villages = people.villages()
    assert [v.code for v in villages] == [p.code for p in centroids]
    assert all(v.district_code == v.code[:8] and v.district_name for v in villages)
    assert people.village_named("Terempa").kelurahan
    with pytest.raises(KeyError, match="Atlantis"):
        people.village_named("Atlantis")


def test_an_address_line_names_its_village_and_district() -> None:
    village = people.village_named("Air Bini")
    line = people.address_line(random.Random(3), village, "Homestay Air Bini")
    assert line.startswith("Homestay Air Bini, Jl. ")
    assert line.endswith(f", Desa Air Bini, Kec. {village.district_name}")
