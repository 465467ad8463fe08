"""What each data view may receive of the registry's records and alerts: the one disclosure policy.

Personal data leaves Pantau through ``disclose``, which returns a copy of domain
values holding only what the recipient's view allows, before anything
serialises them (protobuf responses today; alert payloads, CAP documents and
HTML reports later), so no serialiser can leak a field the view withholds.

The FULL view is everything the registry holds. The DISTRICT view (local
government) says who a person is and where only by district and village: no
document or permit numbers, no sponsors, the birth year only, no coordinates,
address lines, lodging names, references or distances. ``POLICY`` says it field
by field, for every record type that can leave and every view; tests fail while
a field or a record type of ``domain/model.py`` or ``domain/alerts.py`` is
unclassified, so nothing new is disclosed until someone decides it may be, and
README.md's table of what the views withhold is checked against it.

An alert's evidence is structured facts, so ``EVIDENCE`` says key by key what
each view receives of it; a key it does not name is withheld from every view
but FULL. The alert's summaries name permits and sponsors, so the DISTRICT
view does not receive them; it reads the facts it may from the evidence.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import typing
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, TypeVar

from exchange_service.data.loader import PlaceKind, places
from exchange_service.domain import alerts, model, report
from exchange_service.domain.agencies import DataView

T = TypeVar("T")


class Rule(enum.Enum):
    """What a view receives of one field."""

    KEEP = "kept as recorded"
    WITHHOLD = "withheld: left empty ('' or None)"
    BIRTH_YEAR = "a birth date trimmed to its year"
    OWN_ENTRY = "records inside the record, disclosed by their own type's entry"
    EVIDENCE_KEYS = "structured facts, each key as EVIDENCE says (keys it does not name withheld)"


FieldRules = Mapping[DataView, Rule]

_EVERY_VIEW: FieldRules = {DataView.FULL: Rule.KEEP, DataView.DISTRICT: Rule.KEEP}
_FULL_VIEW_ONLY: FieldRules = {DataView.FULL: Rule.KEEP, DataView.DISTRICT: Rule.WITHHOLD}
_YEAR_IN_DISTRICT: FieldRules = {DataView.FULL: Rule.KEEP, DataView.DISTRICT: Rule.BIRTH_YEAR}
_RECORDS_INSIDE: FieldRules = {DataView.FULL: Rule.OWN_ENTRY, DataView.DISTRICT: Rule.OWN_ENTRY}
_EVIDENCE_BY_KEY: FieldRules = {DataView.FULL: Rule.KEEP, DataView.DISTRICT: Rule.EVIDENCE_KEYS}

# The keys of alert evidence (scheduler/rules) -> what each view receives of each.
EVIDENCE: Mapping[str, FieldRules] = MappingProxyType(
    {
        "person_name": _EVERY_VIEW,
        "nationality": _EVERY_VIEW,
        "entered_at": _EVERY_VIEW,
        "entry_port_code": _EVERY_VIEW,
        "permit_number": _FULL_VIEW_ONLY,
        "permit_type": _EVERY_VIEW,
        "permit_valid_from": _EVERY_VIEW,
        "last_valid_day": _EVERY_VIEW,
        "sponsor": _FULL_VIEW_ONLY,
        "purpose": _EVERY_VIEW,
        # OVERSTAY
        "days_over": _EVERY_VIEW,
        "fee_per_day_idr": _EVERY_VIEW,
        "fee_accrued_idr": _EVERY_VIEW,
        "deportation_after_days": _EVERY_VIEW,
        # PERMIT_EXPIRING
        "days_left": _EVERY_VIEW,
        "within_days": _EVERY_VIEW,
        # UNREPORTED_ADDRESS_CHANGE. The address (its line and point) and the sightings
        # (their points, place names and distances from the home) locate the person more
        # finely than a village; the places list says only when, by whom, district and village.
        "registered_address": _FULL_VIEW_ONLY,
        "far_sightings": _FULL_VIEW_ONLY,
        "far_sighting_places": _EVERY_VIEW,
        "far_sighting_count": _EVERY_VIEW,
        "first_far_sighting_at": _EVERY_VIEW,
        "grace_ended_on": _EVERY_VIEW,
        "min_sightings": _EVERY_VIEW,
        "window_days": _EVERY_VIEW,
        "far_beyond_meters": _EVERY_VIEW,
        "grace_days": _EVERY_VIEW,
        # NO_RECENT_CONTACT
        "last_contact_at": _EVERY_VIEW,
        "last_contact_on": _EVERY_VIEW,
        "last_contact_kind": _EVERY_VIEW,
        "no_contact_days": _EVERY_VIEW,
        # RESTRICTED_AREA_PRESENCE. An area (a port, the Matak zone) is a place finer than a
        # village, and the sightings hold points, place names and permit numbers.
        "restricted_areas": _FULL_VIEW_ONLY,
        "area_sightings": _FULL_VIEW_ONLY,
        "area_sighting_places": _EVERY_VIEW,
        "area_sighting_count": _EVERY_VIEW,
        "last_area_sighting_at": _EVERY_VIEW,
        # SPONSOR_OVERSTAY_CLUSTER: the sponsees by id, name, nationality, stay, permit type,
        # last valid day, days over, district and village (no permit number, no sponsor).
        "sponsees": _EVERY_VIEW,
        "sponsees_overstaying": _EVERY_VIEW,
        "min_sponsees": _EVERY_VIEW,
        # PERMIT_LIMIT_EXCEEDED: each limit gone over (type, kind, value, the days or extensions
        # made, how far over, the setting); the periods with their permit numbers, and as dates.
        "exceeded_limits": _EVERY_VIEW,
        "permit_periods": _FULL_VIEW_ONLY,
        "permit_period_dates": _EVERY_VIEW,
        # WATCHLIST_MATCH: the entries matched (list, reason, issuing agency, the names
        # compared, the score and its features) name the lists a person is on, for the
        # immigration office and the police only; how many and how close, for every view.
        "watchlist_matches": _FULL_VIEW_ONLY,
        "watchlist_match_count": _EVERY_VIEW,
        "best_score": _EVERY_VIEW,
        "registered_by": _FULL_VIEW_ONLY,
    }
)

# What an alert says of its subject, kept in every view but its text and internal key.
_ALERT_FIELDS: Mapping[str, FieldRules] = {
    "rule": _EVERY_VIEW,
    "subject_kind": _EVERY_VIEW,
    # A person's id, or a sponsor's opaque key (never the name: SubjectKind).
    "subject_id": _EVERY_VIEW,
    "stay_id": _EVERY_VIEW,
    "severity": _EVERY_VIEW,
    "status": _EVERY_VIEW,
    "district_code": _EVERY_VIEW,
    "village_code": _EVERY_VIEW,
    "evidence": _EVIDENCE_BY_KEY,
    # Paragraphs naming the permit, its number and the sponsor.
    "summary_id": _FULL_VIEW_ONLY,
    "summary_en": _FULL_VIEW_ONLY,
    "action": _EVERY_VIEW,
}

# Record type -> field -> what each view receives of it.
POLICY: Mapping[type[Any], Mapping[str, FieldRules]] = MappingProxyType(
    {
        model.Person: {
            "id": _EVERY_VIEW,
            "identity": _RECORDS_INSIDE,
            "documents": _RECORDS_INSIDE,
            "registered_at": _EVERY_VIEW,
        },
        model.Identity: {
            "family_name": _EVERY_VIEW,
            "given_names": _EVERY_VIEW,
            "nationality": _EVERY_VIEW,
            "birth_date": _YEAR_IN_DISTRICT,
            "sex": _EVERY_VIEW,
        },
        model.TravelDocument: {
            "issuing_state": _EVERY_VIEW,
            "number": _FULL_VIEW_ONLY,
            "expiry_date": _FULL_VIEW_ONLY,
        },
        model.Stay: {
            "id": _EVERY_VIEW,
            "person_id": _EVERY_VIEW,
            "entry_port_code": _EVERY_VIEW,
            "entered_at": _EVERY_VIEW,
            "permits": _RECORDS_INSIDE,
            "exit_port_code": _EVERY_VIEW,
            "exited_at": _EVERY_VIEW,
        },
        model.StayPermit: {
            "permit_number": _FULL_VIEW_ONLY,
            "type": _EVERY_VIEW,
            "valid_from": _EVERY_VIEW,
            "valid_until": _EVERY_VIEW,
            "sponsor": _FULL_VIEW_ONLY,
            "purpose": _EVERY_VIEW,
            "recorded_at": _EVERY_VIEW,
        },
        model.AddressRecord: {
            "id": _EVERY_VIEW,
            "person_id": _EVERY_VIEW,
            "address": _RECORDS_INSIDE,
            "effective_from": _EVERY_VIEW,
            "reported_at": _EVERY_VIEW,
            "recorded_at": _EVERY_VIEW,
        },
        model.Address: {
            "line": _FULL_VIEW_ONLY,
            "location": _FULL_VIEW_ONLY,
            "district_code": _EVERY_VIEW,
            "village_code": _EVERY_VIEW,
            "district_name": _EVERY_VIEW,
            "village_name": _EVERY_VIEW,
        },
        model.Sighting: {
            "id": _EVERY_VIEW,
            "person_id": _EVERY_VIEW,
            "location": _FULL_VIEW_ONLY,
            "observed_at": _EVERY_VIEW,
            "source": _EVERY_VIEW,
            # A lodging's receipt and name would place the person more finely than a village.
            "reference": _FULL_VIEW_ONLY,
            "place_name": _FULL_VIEW_ONLY,
            "district_code": _EVERY_VIEW,
            "village_code": _EVERY_VIEW,
            "recorded_at": _EVERY_VIEW,
            "reported_at": _EVERY_VIEW,
        },
        model.PersonDossier: {
            "person": _RECORDS_INSIDE,
            "current_stay": _RECORDS_INSIDE,
            "current_address": _RECORDS_INSIDE,
            "recent_sightings": _RECORDS_INSIDE,
        },
        model.PersonMatch: {"person": _RECORDS_INSIDE, "score": _EVERY_VIEW},
        model.PersonNearby: {
            "person": _RECORDS_INSIDE,
            "address": _RECORDS_INSIDE,
            # A distance from a chosen centre locates a person more finely than a village.
            "distance_meters": _FULL_VIEW_ONLY,
        },
        model.Page: {"items": _RECORDS_INSIDE, "next_page_token": _EVERY_VIEW},
        # What became of a lodging batch tells the sender only of its own reports.
        model.ImportSummary: {
            "accepted": _EVERY_VIEW,
            "duplicates": _EVERY_VIEW,
            "rejections": _RECORDS_INSIDE,
            "rejection_counts": _RECORDS_INSIDE,
            "reached_cap": _EVERY_VIEW,
        },
        model.RejectedLodgingReport: {
            "index": _EVERY_VIEW,
            "lodging_id": _EVERY_VIEW,
            "reference": _EVERY_VIEW,
            "field": _EVERY_VIEW,
            "reason": _EVERY_VIEW,
            "reason_code": _EVERY_VIEW,
        },
        model.RejectionCount: {
            "field": _EVERY_VIEW,
            "reason_code": _EVERY_VIEW,
            "count": _EVERY_VIEW,
        },
        alerts.Alert: {
            "id": _EVERY_VIEW,
            **_ALERT_FIELDS,
            # The key of the facts can hold numbers the evidence withholds.
            "facts": _FULL_VIEW_ONLY,
            "first_detected_at": _EVERY_VIEW,
            "changed_at": _EVERY_VIEW,
            "resolved_at": _EVERY_VIEW,
            "resolution_reason": _EVERY_VIEW,
        },
        alerts.AlertEvent: {
            **_ALERT_FIELDS,
            "seq": _EVERY_VIEW,
            "alert_id": _EVERY_VIEW,
            "kind": _EVERY_VIEW,
            "resolution_reason": _EVERY_VIEW,
            "actor_id": _EVERY_VIEW,
            "actor_kind": _EVERY_VIEW,
            "officer": _EVERY_VIEW,
            # A reviewer's free text may name anything the view withholds.
            "note": _FULL_VIEW_ONLY,
            "rule_run_id": _EVERY_VIEW,
            "occurred_at": _EVERY_VIEW,
            "recorded_at": _EVERY_VIEW,
        },
    }
)

# Values that are not records of their own: the field holding one keeps,
# withholds or trims it whole (a point, a birth date).
WHOLE_VALUES: frozenset[type[Any]] = frozenset({model.GeoPoint, model.BirthDate})


@dataclasses.dataclass(frozen=True)
class _Change:
    """One field a view does not receive as recorded."""

    field: str
    rule: Rule
    # What the field becomes when withheld.
    empty: object = None


def _empty_value(record_type: type[Any], name: str) -> object:
    hint = typing.get_type_hints(record_type)[name]
    if type(None) in typing.get_args(hint):
        return None
    if hint is str:
        return ""
    raise TypeError(
        f"{record_type.__name__}.{name} cannot be withheld: it has no empty value"
        " (make it optional)"
    )


def _changes(record_type: type[Any], view: DataView) -> tuple[_Change, ...]:
    changes = []
    for name, rules in POLICY[record_type].items():
        rule = rules[view]
        if rule is Rule.WITHHOLD:
            changes.append(_Change(name, rule, _empty_value(record_type, name)))
        elif rule is not Rule.KEEP:
            changes.append(_Change(name, rule))
    return tuple(changes)


_CHANGES: Mapping[tuple[type[Any], DataView], tuple[_Change, ...]] = {
    (record_type, view): _changes(record_type, view) for record_type in POLICY for view in DataView
}

# Views that receive every field as recorded: disclosing to them copies nothing.
_WHOLE_RECORD_VIEWS = frozenset(
    view
    for view in DataView
    if all(
        change.rule is Rule.OWN_ENTRY
        for record_type in POLICY
        for change in _CHANGES[record_type, view]
    )
)


def disclose(value: T, view: DataView) -> T:
    """``value`` as ``view`` may receive it: copies of its records without what the view withholds.

    ``value`` is a record of ``POLICY``, a tuple of them, or None. Anything else
    raises TypeError: what the policy does not know is not disclosed.
    """
    if view in _WHOLE_RECORD_VIEWS:
        _require_policy(value)
        return value
    disclosed: T = _disclosed(value, view)
    return disclosed


def _require_policy(value: object) -> None:
    if isinstance(value, tuple):
        for item in value:
            _require_policy(item)
    elif value is not None and type(value) not in POLICY:
        raise TypeError(f"{type(value).__name__} has no disclosure policy")


def _disclosed(value: Any, view: DataView) -> Any:
    if value is None:
        return None
    if isinstance(value, tuple):
        return tuple(_disclosed(item, view) for item in value)
    changes = _CHANGES.get((type(value), view))
    if changes is None:
        raise TypeError(f"{type(value).__name__} has no disclosure policy")
    if not changes:
        return value
    replaced: dict[str, Any] = {}
    for change in changes:
        if change.rule is Rule.WITHHOLD:
            replaced[change.field] = change.empty
        elif change.rule is Rule.BIRTH_YEAR:
            replaced[change.field] = model.BirthDate(getattr(value, change.field).year)
        elif change.rule is Rule.EVIDENCE_KEYS:
            replaced[change.field] = _disclosed_evidence(getattr(value, change.field), view)
        else:
            replaced[change.field] = _disclosed(getattr(value, change.field), view)
    return dataclasses.replace(value, **replaced)


def _disclosed_evidence(evidence: Mapping[str, object], view: DataView) -> Mapping[str, object]:
    """The keys of the evidence the view receives; those ``EVIDENCE`` does not name are withheld."""
    return {
        key: item
        for key, item in evidence.items()
        if key in EVIDENCE and EVIDENCE[key][view] is Rule.KEEP
    }


# --- the early-warning report ----------------------------------------------------------

# The report's tables (``domain.report_tables``) -> what each view receives of each: the
# whole table, or nothing. The regional government's edition is aggregates only: no list
# of cases (names, documents, permits, sponsors, alert ids) reaches it.
REPORT_TABLES: Mapping[str, FieldRules] = MappingProxyType(
    {
        "alerts_by_rule": _EVERY_VIEW,
        "open_by_age": _EVERY_VIEW,
        "past_deadline": _FULL_VIEW_ONLY,
        "critical_cases": _FULL_VIEW_ONLY,
        "overstays": _FULL_VIEW_ONLY,
        "overstays_by_district": _EVERY_VIEW,
        "unreported_moves": _FULL_VIEW_ONLY,
        "unreported_moves_by_district": _EVERY_VIEW,
        "watchlist_pending": _FULL_VIEW_ONLY,
        "watchlist_pending_by_district": _EVERY_VIEW,
        "permits_expiring": _FULL_VIEW_ONLY,
        "permits_expiring_by_district": _EVERY_VIEW,
        "present_by_district": _EVERY_VIEW,
        "trend_summary": _EVERY_VIEW,
        "trend": _EVERY_VIEW,
        "agencies": _EVERY_VIEW,
        "false_positives": _EVERY_VIEW,
        "data_quality": _EVERY_VIEW,
    }
)


def disclose_report(value: report.EarlyWarningReport, view: DataView) -> report.EarlyWarningReport:
    """The edition of the report ``view`` receives (``report.EDITION_OF_VIEW``).

    A view that does not receive every table gets the tables ``REPORT_TABLES``
    gives it and the CRITICAL cases counted by village, each at the village's
    centre (a person's address is finer than a village). A table the policy
    does not name raises TypeError: what it does not know is not disclosed.
    """
    for table in value.tables:
        if table.key not in REPORT_TABLES:
            raise TypeError(f"report table {table.key} has no disclosure policy")
    edition = report.EDITION_OF_VIEW[view]
    if all(REPORT_TABLES[t.key][view] is Rule.KEEP for t in value.tables):
        return dataclasses.replace(value, edition=edition)
    return dataclasses.replace(
        value,
        edition=edition,
        tables=tuple(t for t in value.tables if REPORT_TABLES[t.key][view] is Rule.KEEP),
        critical_points=_points_by_village(value.critical_points),
    )


def _points_by_village(points: tuple[report.MapPoint, ...]) -> tuple[report.MapPoint, ...]:
    """The points counted by village, at the village's centre; those of no village dropped."""
    centres = village_centres()
    counts: dict[str, int] = {}
    for point in points:
        if point.village_code in centres:
            counts[point.village_code] = counts.get(point.village_code, 0) + point.count
    return tuple(
        report.MapPoint(
            longitude=centres[code][0],
            latitude=centres[code][1],
            count=n,
            label=centres[code][2],
            village_code=code,
        )
        for code, n in sorted(counts.items())
    )


@functools.cache
def village_centres() -> Mapping[str, tuple[float, float, str]]:
    """Each village's code -> its centre's longitude, latitude and name (the shipped places)."""
    kinds = {PlaceKind.DESA_CENTROID, PlaceKind.KELURAHAN_CENTROID}
    return MappingProxyType(
        {
            place.code: (place.longitude, place.latitude, place.name)
            for place in places()
            if place.kind in kinds and place.code
        }
    )
