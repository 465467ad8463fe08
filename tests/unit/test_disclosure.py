"""The disclosure policy: every field classified for every view, applied to domain values."""

from __future__ import annotations

import collections.abc
import contextvars
import dataclasses
import inspect
import re
import typing
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

from exchange_service.domain import alerts, model
from exchange_service.domain.agencies import Agency, AgencyKind, DataView
from exchange_service.domain.call import caller_view, current_agency
from exchange_service.domain.disclosure import EVIDENCE, POLICY, WHOLE_VALUES, Rule, disclose
from exchange_service.domain.errors import Unauthenticated

README = Path(__file__).resolve().parents[2] / "README.md"

PERSON_ID = uuid.UUID("0b7e1c2a-4d5f-4a6b-8c9d-0e1f2a3b4c5d")
STAY_ID = uuid.UUID("1c8f2d3b-5e6a-4b7c-9d0e-1f2a3b4c5d6e")
ADDRESS_ID = uuid.UUID("2d9a3e4c-6f7b-4c8d-8e1f-2a3b4c5d6e7f")
SIGHTING_ID = uuid.UUID("3eab4f5d-7a8c-4d9e-9f2a-3b4c5d6e7f80")
AT = datetime(2026, 11, 28, 2, 30, tzinfo=UTC)
HOME = model.GeoPoint(3.2166, 106.2211)
LODGING = model.GeoPoint(3.2170, 106.2213)


def _person(birth: model.BirthDate, *documents: model.TravelDocument) -> model.Person:
    identity = model.Identity("TAN", "Wei Ming", "MYS", birth, model.Sex.MALE)
    return model.Person(PERSON_ID, identity, documents, AT)


def _permit(number: str, sponsor: str, until: date) -> model.StayPermit:
    return model.StayPermit(
        number, model.PermitType.VISIT, date(2026, 11, 1), until, sponsor, "tourism", AT
    )


def _stay(*permits: model.StayPermit) -> model.Stay:
    return model.Stay(STAY_ID, PERSON_ID, "TRP", AT, permits)


def _address(line: str, location: model.GeoPoint | None) -> model.Address:
    return model.Address(line, location, "21.05.01", "21.05.01.2001", "Siantan", "Tarempa")


def _sighting(location: model.GeoPoint | None, reference: str, place: str) -> model.Sighting:
    return model.Sighting(
        SIGHTING_ID,
        PERSON_ID,
        location,
        AT,
        model.SightingSource.LODGING_CHECK_IN,
        reference,
        place,
        "21.05.01",
        "21.05.01.2001",
        AT,
    )


PASSPORT = model.TravelDocument("MYS", "A12345678", date(2031, 5, 1))
FIRST_PERMIT = _permit("VISIT-2026-0001", "PT Tarempa Marine", date(2026, 11, 30))
EXTENSION = _permit("EXT-2026-0001", "PT Tarempa Marine", date(2026, 12, 30))
DOSSIER = model.PersonDossier(
    _person(model.BirthDate(1988, 3, 14), PASSPORT),
    _stay(FIRST_PERMIT, EXTENSION),
    model.AddressRecord(
        ADDRESS_ID, PERSON_ID, _address("Jl. Hang Tuah 7", HOME), date(2026, 11, 2), AT
    ),
    (_sighting(LODGING, "APOA-2105-0001/77", "Wisma Tarempa Indah"),),
)

# Today's DISTRICT view: no document number or expiry, no permit number or
# sponsor, no address line, no sighting reference or place name, no
# coordinates, the birth year only; district and village stay.
DISTRICT_DOSSIER = model.PersonDossier(
    _person(model.BirthDate(1988), model.TravelDocument("MYS", "", None)),
    _stay(
        _permit("", "", date(2026, 11, 30)),
        _permit("", "", date(2026, 12, 30)),
    ),
    model.AddressRecord(ADDRESS_ID, PERSON_ID, _address("", None), date(2026, 11, 2), AT),
    (_sighting(None, "", ""),),
)


def test_the_full_view_receives_the_records_as_they_are() -> None:
    assert disclose(DOSSIER, DataView.FULL) is DOSSIER


def test_the_district_view_receives_who_and_where_by_district_and_village() -> None:
    assert disclose(DOSSIER, DataView.DISTRICT) == DISTRICT_DOSSIER


def test_a_dossier_without_stay_or_address_is_disclosed_as_such() -> None:
    bare = model.PersonDossier(DOSSIER.person, None, None)
    assert disclose(bare, DataView.DISTRICT) == model.PersonDossier(
        DISTRICT_DOSSIER.person, None, None
    )


def test_pages_of_search_results_are_disclosed_item_by_item() -> None:
    page = model.Page((model.PersonMatch(DOSSIER.person, 0.93),), "next")
    assert disclose(page, DataView.DISTRICT) == model.Page(
        (model.PersonMatch(DISTRICT_DOSSIER.person, 0.93),), "next"
    )
    nearby = model.Page(
        (model.PersonNearby(DOSSIER.person, _address("Jl. Hang Tuah 7", HOME), 42.0),)
    )
    assert disclose(nearby, DataView.DISTRICT) == model.Page(
        (model.PersonNearby(DISTRICT_DOSSIER.person, _address("", None), None),)
    )
    assert disclose(nearby, DataView.FULL) is nearby


def test_tuples_and_none_are_disclosed_as_their_items() -> None:
    assert disclose(None, DataView.DISTRICT) is None
    assert disclose(DOSSIER.recent_sightings, DataView.DISTRICT) == (
        DISTRICT_DOSSIER.recent_sightings
    )


@pytest.mark.parametrize("view", list(DataView))
def test_what_the_policy_does_not_know_is_not_disclosed(view: DataView) -> None:
    with pytest.raises(TypeError, match="no disclosure policy"):
        disclose(HOME, view)
    with pytest.raises(TypeError, match="no disclosure policy"):
        disclose((DOSSIER.person, "a stray string"), view)


def test_records_of_unknown_types_inside_a_page_are_not_disclosed() -> None:
    with pytest.raises(TypeError, match="no disclosure policy"):
        disclose(model.Page((HOME,)), DataView.DISTRICT)


def _values(value: object) -> Iterator[object]:
    """The value and everything inside it."""
    yield value
    if isinstance(value, tuple):
        for item in value:
            yield from _values(item)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from _values(getattr(value, field.name))


def test_no_coordinates_or_full_birth_date_reach_the_district_view() -> None:
    samples = [
        DOSSIER,
        model.Page((model.PersonNearby(DOSSIER.person, _address("Jl. Hang Tuah 7", HOME), 9.0),)),
    ]
    for sample in samples:
        for value in _values(disclose(sample, DataView.DISTRICT)):
            assert not isinstance(value, model.GeoPoint)
            if isinstance(value, model.BirthDate):
                assert (value.month, value.day) == (0, 0)


# --- the policy is total ------------------------------------------------------


def _dataclasses_of(module: Any) -> set[type[Any]]:
    return {
        value
        for _, value in inspect.getmembers(module, inspect.isclass)
        if dataclasses.is_dataclass(value) and value.__module__ == module.__name__
    }


# Values of domain/alerts.py that never leave Pantau for an agency: a run's
# record and counts, the rules' numbers, and the filter of a listing.
INTERNAL_ALERT_VALUES = {
    alerts.RuleRun,
    alerts.AlertChanges,
    alerts.RuleSettings,
    alerts.AlertFilter,
}


def test_every_type_of_the_model_is_a_disclosed_record_or_a_whole_value() -> None:
    assert _dataclasses_of(model) | _dataclasses_of(alerts) == (
        set(POLICY) | WHOLE_VALUES | INTERNAL_ALERT_VALUES
    )
    assert not set(POLICY) & WHOLE_VALUES
    assert not set(POLICY) & INTERNAL_ALERT_VALUES


@pytest.mark.parametrize("record_type", list(POLICY), ids=lambda t: t.__name__)
def test_every_field_is_classified_for_every_view(record_type: type[Any]) -> None:
    assert set(POLICY[record_type]) == {field.name for field in dataclasses.fields(record_type)}
    for name, rules in POLICY[record_type].items():
        assert set(rules) == set(DataView), f"{record_type.__name__}.{name}"


def _types_in(hint: object) -> Iterator[object]:
    """The hint and every type it is built from (``tuple[Sighting, ...]``, ``Stay | None``)."""
    yield hint
    for argument in typing.get_args(hint):
        yield from _types_in(argument)


FIELD_HINTS = [
    (record_type, name, typing.get_type_hints(record_type)[name])
    for record_type in POLICY
    for name in POLICY[record_type]
]
FIELD_IDS = [f"{record_type.__name__}.{name}" for record_type, name, _ in FIELD_HINTS]


@pytest.mark.parametrize(("record_type", "name", "hint"), FIELD_HINTS, ids=FIELD_IDS)
def test_each_rule_fits_the_type_of_its_field(
    record_type: type[Any], name: str, hint: object
) -> None:
    types = set(_types_in(hint))
    holds_records = bool(types & set(POLICY)) or any(isinstance(t, typing.TypeVar) for t in types)
    for view, rule in POLICY[record_type][name].items():
        where = f"{record_type.__name__}.{name} in {view}"
        if holds_records:
            # Kept whole, records inside would bypass their own entries.
            assert rule in {Rule.OWN_ENTRY, Rule.WITHHOLD}, where
        else:
            assert rule is not Rule.OWN_ENTRY, where
        if rule is Rule.BIRTH_YEAR:
            assert hint is model.BirthDate, where
        if rule is Rule.EVIDENCE_KEYS:
            assert typing.get_origin(hint) is collections.abc.Mapping, where


def test_the_district_view_keeps_no_point_and_no_full_birth_date_by_type() -> None:
    for record_type, name, hint in FIELD_HINTS:
        rule = POLICY[record_type][name][DataView.DISTRICT]
        types = set(_types_in(hint))
        if model.GeoPoint in types:
            assert rule is Rule.WITHHOLD, f"{record_type.__name__}.{name}"
        if model.BirthDate in types:
            assert rule in {Rule.BIRTH_YEAR, Rule.WITHHOLD}, f"{record_type.__name__}.{name}"


# --- README --------------------------------------------------------------------

CELLS = {
    Rule.KEEP: "yes",
    Rule.WITHHOLD: "—",
    Rule.BIRTH_YEAR: "year only",
    Rule.EVIDENCE_KEYS: "key by key",
}


def _readme_table(first_column: str, name_pattern: str) -> dict[str, tuple[str, ...]]:
    header = f"| {first_column} | " + " | ".join(DataView) + " |"
    lines = README.read_text().splitlines()
    assert header in lines, f"README shows a column per view for each {first_column}"
    start = lines.index(header) + 2  # past the header and its rule
    rows = lines[start : lines.index("", start)]
    documented: dict[str, tuple[str, ...]] = {}
    for row in rows:
        match = re.fullmatch(rf"\| `({name_pattern})` \|(.*)\|", row)
        assert match, row
        documented[match[1]] = tuple(cell.strip() for cell in match[2].split("|"))
    return documented


def test_readme_table_of_the_views_matches_the_policy() -> None:
    documented = _readme_table("field", r"[A-Za-z]+\.[a-z_]+")
    expected = {
        f"{record_type.__name__}.{name}": tuple(CELLS[rules[view]] for view in DataView)
        for record_type, fields in POLICY.items()
        for name, rules in fields.items()
        if any(rule not in {Rule.KEEP, Rule.OWN_ENTRY} for rule in rules.values())
    }
    assert documented == expected


def test_readme_table_of_the_evidence_keys_matches_the_policy() -> None:
    documented = _readme_table("evidence key", r"[a-z_]+")
    expected = {
        key: tuple(CELLS[rules[view]] for view in DataView)
        for key, rules in EVIDENCE.items()
        if any(rule is not Rule.KEEP for rule in rules.values())
    }
    assert documented == expected


# --- alerts ----------------------------------------------------------------------

ALERT_ID = uuid.UUID("4fbc5a6e-8b9d-4e0f-a13b-4c5d6e7f8091")
EVIDENCE_SAMPLE = {
    "person_name": "TAN Wei Ming",
    "nationality": "MYS",
    "permit_number": "VISIT-2026-0001",
    "permit_type": "VISIT",
    "last_valid_day": "2026-11-30",
    "sponsor": "PT Tarempa Marine",
    "days_over": 37,
    "fee_accrued_idr": 37_000_000,
    "a_key_no_one_classified": "secret",
}
ALERT = alerts.Alert(
    id=ALERT_ID,
    rule=alerts.RuleName.OVERSTAY,
    subject_kind=alerts.SubjectKind.PERSON,
    subject_id=str(PERSON_ID),
    stay_id=STAY_ID,
    severity=alerts.Severity.HIGH,
    status=alerts.AlertStatus.OPEN,
    district_code="21.05.01",
    village_code="21.05.01.2001",
    evidence=EVIDENCE_SAMPLE,
    summary_id="TAN Wei Ming (MYS) melampaui izin tinggal ... VISIT-2026-0001 ...",
    summary_en="TAN Wei Ming (MYS) has overstayed ... VISIT-2026-0001 ...",
    action=alerts.AdministrativeAction.OVERSTAY_FEE,
    facts=f"{STAY_ID}/2026-11-30",
    first_detected_at=AT,
    changed_at=AT,
)
DISTRICT_EVIDENCE = {
    "person_name": "TAN Wei Ming",
    "nationality": "MYS",
    "permit_type": "VISIT",
    "last_valid_day": "2026-11-30",
    "days_over": 37,
    "fee_accrued_idr": 37_000_000,
}


def test_the_district_view_of_an_alert_has_no_permit_number_sponsor_or_summary() -> None:
    assert disclose(ALERT, DataView.FULL) is ALERT
    assert disclose(ALERT, DataView.DISTRICT) == dataclasses.replace(
        ALERT, evidence=DISTRICT_EVIDENCE, summary_id="", summary_en="", facts=""
    )


def test_the_district_view_of_an_alert_event_has_no_reviewers_note() -> None:
    event = alerts.AlertEvent(
        seq=7,
        alert_id=ALERT_ID,
        kind=alerts.AlertEventKind.REVIEWED,
        rule=ALERT.rule,
        subject_kind=ALERT.subject_kind,
        subject_id=ALERT.subject_id,
        stay_id=STAY_ID,
        severity=ALERT.severity,
        status=alerts.AlertStatus.CONFIRMED,
        district_code=ALERT.district_code,
        village_code=ALERT.village_code,
        evidence=EVIDENCE_SAMPLE,
        summary_id=ALERT.summary_id,
        summary_en=ALERT.summary_en,
        action=ALERT.action,
        resolution_reason=None,
        actor_id="kanim-tarempa",
        actor_kind="IMMIGRATION",
        officer="Insp. Rahmat Hidayat",
        note="sponsor PT Tarempa Marine called; permit VISIT-2026-0001",
        rule_run_id=None,
        occurred_at=AT,
        recorded_at=AT,
    )
    assert disclose(event, DataView.FULL) is event
    assert disclose((event,), DataView.DISTRICT) == (
        dataclasses.replace(
            event, evidence=DISTRICT_EVIDENCE, summary_id="", summary_en="", note=""
        ),
    )


def test_every_evidence_key_is_classified_for_every_view() -> None:
    for key, rules in EVIDENCE.items():
        assert set(rules) == set(DataView), key
        assert set(rules.values()) <= {Rule.KEEP, Rule.WITHHOLD}, key
        assert rules[DataView.FULL] is Rule.KEEP, key


# --- the caller's view ----------------------------------------------------------


def test_with_no_identified_agency_nothing_is_disclosed() -> None:
    with pytest.raises(Unauthenticated, match="no identified agency"):
        contextvars.copy_context().run(caller_view)


@pytest.mark.parametrize("view", list(DataView))
def test_the_callers_view_is_that_of_the_agency_being_served(view: DataView) -> None:
    agency = Agency("pemkab-anambas", "Pemkab", AgencyKind.LOCAL_GOVERNMENT, view)

    def served() -> DataView:
        current_agency.set(agency)
        return caller_view()

    assert contextvars.copy_context().run(served) is view
    assert current_agency.get() is None
