"""The rules read the window they ask about, not the history: their query plans.

A population of some thousands (persons on stays with permits, an address
each, sightings of the last three weeks, some far from home or in a
restricted area, and years of older sightings near home) is written in a
transaction rolled back at the end, analysed, and each rule's statements are
run under ``EXPLAIN (ANALYZE)``: the rows the rules that read sightings take
from ``sightings`` are at most twice the recent ones (the areas' rule reads
them through the GiST index of the points, once per area), never the
history; and the rules about permits read the stays of their window through
the index of the present stays' last valid day, never every stay (how each
stay's last period is then joined depends on the sizes; ``make bench-rules``
records the plans at a million). PERMIT_LIMIT_EXCEEDED reads only the stays
that can go over a limit (an extension of a visitor's permit, or a period
longer than its type allows), through the indexes of migration 0011, and their
periods by stay: never every permit period.
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
# Visitors come and go: the present ones are few beside the residents.
VISITORS = 200
# Older sightings per person (the history no rule's window holds).
HISTORY = 10
# The window the rules that read sightings may read at most: the last 180 days.
RECENT_DAYS = 180
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
    -- Visitors (VOA, VISIT) among those of short periods, within their types' limits: the
    -- long periods are ITAS and ITAP, which have none.
    CASE WHEN i % 7 = 0 THEN (ARRAY['VOA', 'VISIT', 'LIMITED_STAY', 'PERMANENT_STAY'])[1 + i % 4]
        ELSE (ARRAY['LIMITED_STAY', 'PERMANENT_STAY'])[1 + i % 2] END,
    CAST(:today AS date) - (20 + i % 400),
    -- Every 7th overstays, every 11th (not 7th) expires within two weeks.
    CAST(:today AS date) - (20 + i % 400) + CASE WHEN i % 7 = 0 THEN 10
        WHEN i % 11 = 0 THEN 20 + i % 400 + i % 15 ELSE 800 END,
    'Sponsor ' || (i % 40), CASE WHEN i % 3 = 0 THEN 'oil and gas work' ELSE 'tourism' END
FROM generate_series(1, :n) i;

-- Every 20th ITAS or ITAP renewed once, within its type (no limit): a stay with an extension.
INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from, valid_until,
    sponsor, purpose)
SELECT stay_id, 2, permit_number || '-2', type, valid_until + 1, valid_until + 365, sponsor,
    purpose
FROM stay_permits
WHERE sequence = 1 AND type IN ('LIMITED_STAY', 'PERMANENT_STAY')
    AND substr(permit_number, 3)::int % 20 = 3;

-- Visitors who came 40 days ago: a VOA extended once to 60 days in all (half of them to 61,
-- over its limit), and a VISIT of a single period of 171 to 190 days (those over 180 days
-- over its limit). Ending weeks from now, they neither overstay nor expire soon.
INSERT INTO persons (id, family_name, given_names, name_key, nationality, birth_year,
    birth_month, birth_day, sex)
SELECT md5('q' || i)::uuid, 'Visitor' || i, 'Test', 'visitor' || i || ' test', 'AUS', 1990, 1,
    1, 'F'
FROM generate_series(1, :visitors) i;

INSERT INTO stays (id, person_id, entry_port_code, entered_at)
SELECT md5('t' || i)::uuid, md5('q' || i)::uuid, 'IDTRE',
    CAST(:as_of AS timestamptz) - interval '40 days'
FROM generate_series(1, :visitors) i;

INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from, valid_until,
    sponsor, purpose)
SELECT md5('t' || i)::uuid, 1, 'Q-' || i, CASE WHEN i % 2 = 0 THEN 'VOA' ELSE 'VISIT' END,
    CAST(:today AS date) - 40,
    CASE WHEN i % 2 = 0 THEN CAST(:today AS date) - 11
        ELSE CAST(:today AS date) - 40 + 170 + i % 20 END,
    'Sponsor ' || (i % 40), 'tourism'
FROM generate_series(1, :visitors) i;

INSERT INTO stay_permits (stay_id, sequence, permit_number, type, valid_from, valid_until,
    sponsor, purpose)
SELECT md5('t' || i)::uuid, 2, 'Q-' || i || '-2', 'VOA', CAST(:today AS date) - 10,
    CAST(:today AS date) + 19 + (i / 2) % 2, 'Sponsor ' || (i % 40), 'tourism'
FROM generate_series(1, :visitors) i
WHERE i % 2 = 0;

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

-- The history: sightings near home from 200 days to three years before, which no rule's
-- window holds.
INSERT INTO sightings (id, person_id, location, district_code, observed_at, source, reference,
    place_name)
SELECT gen_random_uuid(), md5('p' || i)::uuid,
    CAST(ST_SetSRID(ST_MakePoint(106.20 + (i % 97) * 0.0004, 3.20 + (i % 89) * 0.0004), 4326)
        AS geography),
    '21.05.01', CAST(:as_of AS timestamptz) - make_interval(days => 200 + (i * 13 + k * 97) % 900),
    'POLICE_CHECK', '', ''
FROM generate_series(1, :n) i, generate_series(1, :history) k
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
            values = {
                "n": PERSONS,
                "visitors": VISITORS,
                "history": HISTORY,
                "as_of": AS_OF,
                "today": TODAY,
            }
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


def _plan(connection: Connection, sql: str, rule: RuleName) -> dict[str, Any]:
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
    plan: dict[str, Any] = explained["Plan"]
    return plan


def _scans_of(plan: dict[str, Any], table: str) -> list[dict[str, Any]]:
    return [node for node in _nodes(plan) if node.get("Relation Name") == table]


def _rows_read(scan: dict[str, Any]) -> float:
    """The rows a scan took from its table, over all its loops."""
    per_loop = (
        scan["Actual Rows"]
        + scan.get("Rows Removed by Filter", 0)
        + scan.get("Rows Removed by Index Recheck", 0)
    )
    return float(per_loop * scan["Actual Loops"])


def _count(connection: Connection, sql: str) -> int:
    return int(connection.execute(text(sql), {"as_of": AS_OF}).scalar_one())


@pytest.mark.parametrize("rule", SIGHTING_RULES)
@pytest.mark.parametrize("part", ["findings", "resolutions"])
def test_the_rules_read_the_recent_sightings_not_the_history(
    population: Connection, rule: RuleName, part: str
) -> None:
    recent = _count(
        population,
        f"SELECT count(*) FROM sightings WHERE observed_at > CAST(:as_of AS timestamptz)"
        f" - interval '{RECENT_DAYS} days'",
    )
    history = _count(population, "SELECT count(*) FROM sightings") - recent
    assert history > 2 * recent, "the population's history outweighs its window"
    sql = RULES[rule].findings_sql if part == "findings" else RULES[rule].resolutions_sql
    scans = _scans_of(_plan(population, sql, rule), "sightings")
    if part == "findings":
        assert scans, "the findings read sightings"
    read = sum(_rows_read(scan) for scan in scans)
    assert read <= 2 * recent, [(s["Node Type"], s.get("Index Name")) for s in scans]
    if rule is RuleName.RESTRICTED_AREA_PRESENCE and part == "findings":
        areas = population.execute(text("SELECT count(*) FROM restricted_areas")).scalar_one()
        for scan in scans:
            # One index scan of the points per area.
            assert scan["Index Name"] == "ix_sightings_location", scan["Node Type"]
            assert scan["Actual Loops"] <= areas


PERMIT_WINDOW_RULES = (
    RuleName.OVERSTAY,
    RuleName.PERMIT_EXPIRING,
    RuleName.SPONSOR_OVERSTAY_CLUSTER,
)


@pytest.mark.parametrize("rule", PERMIT_WINDOW_RULES)
def test_the_permit_rules_read_the_stays_of_their_window(
    population: Connection, rule: RuleName
) -> None:
    plan = _plan(population, RULES[rule].findings_sql, rule)
    stays = _scans_of(plan, "stays")
    assert stays, "the findings read stays"
    assert all(scan["Node Type"] != "Seq Scan" for scan in stays), [
        (scan["Node Type"], scan.get("Index Name")) for scan in stays
    ]
    assert any(
        node.get("Index Name") == "ix_stays_present_permit_valid_until" for node in _nodes(plan)
    )
    read = sum(_rows_read(scan) for scan in stays)
    assert read < PERSONS / 4, read


def test_the_permit_limit_rule_reads_only_its_candidates_through_the_indexes(
    population: Connection,
) -> None:
    rule = RuleName.PERMIT_LIMIT_EXCEEDED
    plan = _plan(population, RULES[rule].findings_sql, rule)
    permits = _scans_of(plan, "stay_permits")
    assert all(scan["Node Type"] != "Seq Scan" for scan in permits), [
        (scan["Node Type"], scan.get("Index Name")) for scan in permits
    ]
    indexes = {node.get("Index Name") for node in _nodes(plan)}
    # The stays with an extension, and by type the periods as long as its limit or longer.
    assert {"ix_stay_permits_extensions", "ix_stay_permits_type_length"} <= indexes
    length_scans = [
        node for node in _nodes(plan) if node.get("Index Name") == "ix_stay_permits_type_length"
    ]
    # One range scan per type with a limit in all (VOA, VISIT), each once.
    assert sorted(node["Index Cond"] for node in length_scans) == [
        "(((type)::text = 'VISIT'::text) AND ((valid_until - valid_from) >= 180))",
        "(((type)::text = 'VOA'::text) AND ((valid_until - valid_from) >= 60))",
    ]
    assert all(node["Actual Loops"] == 1 for node in length_scans)
    total = _count(population, "SELECT count(*) FROM stay_permits")
    read = sum(_rows_read(scan) for scan in permits)
    assert read < total / 4, (read, total)
    stays = _scans_of(plan, "stays")
    assert all(scan["Node Type"] != "Seq Scan" for scan in stays), [
        (scan["Node Type"], scan.get("Index Name")) for scan in stays
    ]
    assert sum(_rows_read(scan) for scan in stays) < PERSONS / 4
    # What it finds: of the visitors, the VOA extended to 61 days (a quarter) and the VISIT
    # of more than 180 days (a quarter); the renewed ITAS and ITAP are within (no limit).
    assert plan["Actual Rows"] == VISITORS // 2


def test_the_rules_find_what_the_population_holds(population: Connection) -> None:
    # Not plans of empty sets: each rule's findings hold rows in this population.
    for rule in (*SIGHTING_RULES, *PERMIT_WINDOW_RULES, RuleName.PERMIT_LIMIT_EXCEEDED):
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
