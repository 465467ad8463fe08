"""The rules that read sightings read them once, not person by person: their query plans.

A population of some thousands (persons on stays with permits, an address
each and sightings over two months, some far from home or in a restricted
area) is written in a transaction rolled back at the end, analysed, and each
rule's statements are run under ``EXPLAIN (ANALYZE)``: every scan of
``sightings`` runs once (the areas' rule: once per area, by the GiST index of
the points), never once per person or stay.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Connection, Engine, text

from exchange_service.domain.alerts import RuleName, RuleSettings
from scheduler.rules import RULES

PERSONS = 8_000
AS_OF = datetime(2026, 3, 10, 2, 0, tzinfo=UTC)
TODAY = AS_OF.astimezone(ZoneInfo("Asia/Jakarta")).date()
SIGHTING_RULES = (
    RuleName.UNREPORTED_ADDRESS_CHANGE,
    RuleName.NO_RECENT_CONTACT,
    RuleName.RESTRICTED_AREA_PRESENCE,
)

POPULATION = """
INSERT INTO persons (id, family_name, given_names, name_key, nationality, birth_year,
    birth_month, birth_day, sex)
SELECT md5('p' || i)::uuid, 'Person' || i, 'Test', 'person' || i || ' test', 'VNM', 1980, 1, 1,
    'M'
FROM generate_series(1, :n) i;

INSERT INTO stays (id, person_id, entry_port_code, entered_at)
SELECT md5('s' || i)::uuid, md5('p' || i)::uuid, 'IDTRE',
    CAST(:as_of AS timestamptz) - make_interval(days => 20 + i % 400)
FROM generate_series(1, :n) i;

INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from, valid_until,
    sponsor, purpose)
SELECT md5('s' || i)::uuid, 1, 'P-' || i,
    (ARRAY['VOA', 'VISIT', 'LIMITED_STAY', 'PERMANENT_STAY'])[1 + i % 4],
    CAST(:today AS date) - (20 + i % 400),
    CAST(:today AS date) - (20 + i % 400) + CASE WHEN i % 7 = 0 THEN 10 ELSE 800 END,
    'Sponsor ' || (i % 40), CASE WHEN i % 3 = 0 THEN 'oil and gas work' ELSE 'tourism' END
FROM generate_series(1, :n) i;

INSERT INTO addresses (id, person_id, line, location, district_code, village_code,
    effective_from, reported_at)
SELECT md5('a' || i)::uuid, md5('p' || i)::uuid, 'Jl. ' || i,
    CAST(ST_SetSRID(ST_MakePoint(106.20 + (i % 97) * 0.0004, 3.20 + (i % 89) * 0.0004), 4326)
        AS geography),
    '21.05.01', NULL, CAST(:today AS date) - (20 + i % 400),
    CAST(:as_of AS timestamptz) - make_interval(days => 20 + i % 400)
FROM generate_series(1, :n) i;

INSERT INTO current_addresses (person_id, address_id, location)
SELECT person_id, id, location FROM addresses WHERE id = md5('a' || substr(line, 5))::uuid;

INSERT INTO sightings (id, person_id, location, district_code, observed_at, source, reference,
    place_name)
SELECT gen_random_uuid(), md5('p' || i)::uuid,
    CASE
        WHEN i % 10 = 0 AND k > 0 THEN CAST(ST_SetSRID(ST_MakePoint(105.7065, 2.9941), 4326)
            AS geography)
        WHEN i % 25 = 0 THEN CAST(ST_SetSRID(ST_MakePoint(106.258, 3.348), 4326) AS geography)
        ELSE CAST(ST_SetSRID(ST_MakePoint(106.20 + (i % 97) * 0.0004,
            3.20 + (i % 89) * 0.0004), 4326) AS geography)
    END,
    '21.05.01', CAST(:as_of AS timestamptz) - make_interval(days => (i * 7 + k * 11) % 19,
        hours => k),
    'POLICE_CHECK', '', ''
FROM generate_series(1, :n) i, generate_series(0, 2) k
-- Some never seen: residents no one has heard of since their address report.
WHERE i % 13 <> 0;

ANALYZE persons; ANALYZE stays; ANALYZE stay_permits; ANALYZE addresses;
ANALYZE current_addresses; ANALYZE sightings; ANALYZE alerts; ANALYZE restricted_areas;
"""


@pytest.fixture(scope="module")
def population(engine: Engine) -> Iterator[Connection]:
    """A connection whose transaction holds the population; rolled back after the module."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            values = {"n": PERSONS, "as_of": AS_OF, "today": TODAY}
            for statement in POPULATION.split(";"):
                if statement.strip():
                    connection.execute(text(statement), values)
            # The plans of a sweep on one core, as the benchmark measures them.
            connection.execute(text("SET LOCAL max_parallel_workers_per_gather = 0"))
            yield connection
        finally:
            transaction.rollback()


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


def _sighting_scans(connection: Connection, sql: str, rule: RuleName) -> list[dict[str, Any]]:
    parameters = {
        **RULES[rule].parameters(RuleSettings(), AS_OF, TODAY),
        "as_of": AS_OF,
        "today": TODAY,
        "rule": str(rule),
        "timezone": "Asia/Jakarta",
    }
    (explained,) = connection.execute(
        text(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}"), parameters
    ).scalar_one()
    return [node for node in _nodes(explained["Plan"]) if node.get("Relation Name") == "sightings"]


@pytest.mark.parametrize("rule", SIGHTING_RULES)
def test_the_findings_read_the_sightings_once(population: Connection, rule: RuleName) -> None:
    scans = _sighting_scans(population, RULES[rule].findings_sql, rule)
    assert scans, "the findings read sightings"
    areas = population.execute(text("SELECT count(*) FROM restricted_areas")).scalar_one()
    for scan in scans:
        if rule is RuleName.RESTRICTED_AREA_PRESENCE:
            # One index scan of the points per area.
            assert scan["Index Name"] == "ix_sightings_location", scan["Node Type"]
            assert scan["Actual Loops"] <= areas
        else:
            assert scan["Actual Loops"] == 1, (scan["Node Type"], scan.get("Index Name"))


def test_the_rules_find_what_the_population_holds(population: Connection) -> None:
    # Not plans of empty sets: each rule's findings hold rows in this population.
    for rule in (*SIGHTING_RULES, RuleName.SPONSOR_OVERSTAY_CLUSTER):
        parameters = {
            **RULES[rule].parameters(RuleSettings(), AS_OF, TODAY),
            "as_of": AS_OF,
            "today": TODAY,
            "rule": str(rule),
            "timezone": "Asia/Jakarta",
        }
        found = population.execute(
            text(f"SELECT count(*) FROM ({RULES[rule].findings_sql}) f"), parameters
        ).scalar_one()
        assert found > 0, rule
