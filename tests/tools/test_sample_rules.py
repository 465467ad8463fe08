"""The `make run` sample trips every early-warning rule, and its edge persons do not.

The sample is loaded as `make run` loads it, in a database of its own, as of
the suite clock's now (its day is that instant's WIB day); then every rule of
the catalogue runs once through the rule engine as of the same instant. The
persons are found by what the sample returns (their rule cases) and their
travel documents, never by their position in it.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import create_engine, text

from exchange_service.app import (
    build_application,
    build_rule_engine,
    permit_limits,
    rule_settings,
)
from exchange_service.domain import commands as cmd
from exchange_service.domain.alerts import OPEN_STATUSES, RuleName, RuleRun, SubjectKind
from exchange_service.domain.model import PermitType, Stay
from exchange_service.domain.permits import PermitLimitKind, days_covered, limits_exceeded
from exchange_service.settings import Settings, load_settings
from exchange_service.tools.sample import (
    RuleCase,
    SamplePerson,
    generate_sample,
    load_sample_into,
    registry_placement,
)
from scheduler.rules import RULES
from tests.clock import WIB, TestClock
from tests.conftest import fresh_database
from tests.feeds import feed_key_settings

PERSONS = 40

# (rule, subject kind, subject id) of every open alert.
OpenAlert = tuple[RuleName, SubjectKind, str]


@dataclass(frozen=True)
class Loaded:
    """The sample as loaded, its rules run, and what the database holds after."""

    settings: Settings
    as_of: datetime
    sample: list[SamplePerson]
    runs: list[RuleRun]
    open_alerts: frozenset[OpenAlert]
    # By the document of each person of the rule cases: their current stay.
    stays: dict[tuple[str, str], Stay]


def _document(person: SamplePerson) -> tuple[str, str]:
    return person.document.issuing_state, person.document.number


@pytest.fixture(scope="module")
def loaded(clock: TestClock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loaded]:
    as_of = clock.now()
    with fresh_database("pantau_test_sample_rules") as url:
        settings = load_settings(
            database_url=url, **feed_key_settings(tmp_path_factory.mktemp("feed-keys"))
        )
        # The sample and the use cases go by the run's instant, so the sample's day is
        # the run's day even when the load passes midnight.
        summary = load_sample_into(settings, persons=PERSONS, clock=lambda: as_of)
        assert summary.day == as_of.astimezone(WIB).date()
        with registry_placement(settings) as village_of:
            sample = generate_sample(
                PERSONS,
                today=summary.day,
                village_of=village_of,
                rules=rule_settings(settings),
                limits=permit_limits(settings),
            )
        engine = create_engine(url)
        application = build_application(settings, clock=clock.now)
        try:
            rule_engine = build_rule_engine(settings, engine, RULES, clock=clock.now)
            runs = [rule_engine.run(rule, as_of=as_of) for rule in RULES]
            with engine.connect() as connection:
                rows = connection.execute(
                    text(
                        "SELECT rule, subject_kind, subject_id FROM alerts"
                        " WHERE status = ANY(:open)"
                    ),
                    {"open": [str(status) for status in OPEN_STATUSES]},
                ).all()
            stays: dict[tuple[str, str], Stay] = {}
            for person in sample:
                if person.cases:
                    dossier = application.queries.get_person(
                        cmd.PersonKey(document=person.document)
                    )
                    assert dossier.current_stay is not None, person.party
                    stays[_document(person)] = dossier.current_stay
        finally:
            application.close()
            engine.dispose()
        open_alerts = frozenset(
            (RuleName(row.rule), SubjectKind(row.subject_kind), row.subject_id) for row in rows
        )
        yield Loaded(settings, as_of, sample, runs, open_alerts, stays)


def _subject(loaded: Loaded, person: SamplePerson, case: RuleCase) -> OpenAlert:
    """The alert key the case's rule would give its subject."""
    stay = loaded.stays[_document(person)]
    if case.subject is SubjectKind.SPONSOR:
        # A sponsor's subject id is the SHA-256 of its text as the registry stores it.
        sponsor = stay.permit.sponsor
        assert sponsor
        return case.rule, SubjectKind.SPONSOR, hashlib.sha256(sponsor.encode()).hexdigest()
    return case.rule, SubjectKind.PERSON, str(stay.person_id)


def _cases(loaded: Loaded, *, trips: bool) -> dict[RuleName, list[tuple[SamplePerson, RuleCase]]]:
    found: dict[RuleName, list[tuple[SamplePerson, RuleCase]]] = defaultdict(list)
    for person in loaded.sample:
        for case in person.cases:
            if case.trips is trips:
                found[case.rule].append((person, case))
    return found


def test_every_rule_of_the_catalogue_ran_and_has_open_alerts(loaded: Loaded) -> None:
    assert [run.rule for run in loaded.runs] == list(RULES)
    assert [run.error for run in loaded.runs] == [None] * len(RULES)
    with_alerts = {rule for rule, _, _ in loaded.open_alerts}
    assert [rule for rule in RULES if rule not in with_alerts] == []


def test_the_persons_meant_to_trip_a_rule_have_its_open_alert(loaded: Loaded) -> None:
    tripping = _cases(loaded, trips=True)
    for rule in RULES:
        assert tripping[rule], f"the sample has no one meant to trip {rule}"
        for person, case in tripping[rule]:
            assert _subject(loaded, person, case) in loaded.open_alerts, (rule, case.why)


def test_the_edge_persons_have_no_open_alert_of_their_rule(loaded: Loaded) -> None:
    edges = _cases(loaded, trips=False)
    for rule in RULES:
        assert edges[rule], f"the sample has no one at the edge of {rule}"
    # Every edge, of a rule in the catalogue or not yet.
    assert set(edges) == set(RuleName)
    for rule, cases in edges.items():
        for person, case in cases:
            assert _subject(loaded, person, case) not in loaded.open_alerts, (rule, case.why)


def test_the_migrated_stays_keep_the_times_the_previous_system_recorded_them(
    loaded: Loaded,
) -> None:
    """Not the load's: a period recorded at the load would be a contact of today (so no
    NO_RECENT_CONTACT), whatever the instant the rules run as of."""
    migrated = [p for p in loaded.sample if p.cases and p.stays[-1].migrated]
    assert {c.rule for p in migrated for c in p.cases} >= {
        RuleName.NO_RECENT_CONTACT,
        RuleName.PERMIT_LIMIT_EXCEEDED,
    }
    for person in migrated:
        stay = loaded.stays[_document(person)]
        planned = person.stays[-1]
        assert [p.recorded_at for p in stay.permits] == list(planned.previously_recorded_at)
        assert len(stay.permits) == 1 + len(planned.extensions)


def test_the_migrated_visa_on_arrival_goes_over_its_limit_and_the_extended_one_meets_it(
    loaded: Loaded,
) -> None:
    rule = RuleName.PERMIT_LIMIT_EXCEEDED
    limits = permit_limits(loaded.settings)
    allowed = limits.voa.total_days
    assert allowed is not None
    [(over_limit, _)] = _cases(loaded, trips=True)[rule]
    [(at_limit, _)] = _cases(loaded, trips=False)[rule]

    over = loaded.stays[_document(over_limit)]
    assert over_limit.stays[-1].migrated
    assert [p.type for p in over.permits] == [PermitType.VOA, PermitType.VOA]
    [excess] = limits_exceeded(over.permits, limits, PermitType.VOA)
    assert (excess.kind, excess.allowed, excess.actual) == (
        PermitLimitKind.TOTAL_DAYS,
        allowed,
        allowed + 1,
    )

    met = loaded.stays[_document(at_limit)]
    assert not at_limit.stays[-1].migrated
    assert [p.type for p in met.permits] == [PermitType.VOA, PermitType.VOA]
    assert days_covered(met.permits) == allowed
    assert limits_exceeded(met.permits, limits, PermitType.VOA) == ()
