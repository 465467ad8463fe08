"""RESTRICTED_AREA_PRESENCE: seen inside a restricted area the permit's purpose is not allowed in.

The areas are the table ``restricted_areas``, loaded by ``pantau migrate``
from the GeoJSON file of ``rule_restricted_areas_file`` (the shipped example:
the Matak oil and gas zone and the ports of Letung and Tarempa, illustrative
polygons). The rule finds a person present (entered, not left) with a
sighting on this stay in the last ``restricted_area_window_days`` (30) WIB
days inside an area (``ST_Intersects`` on geography, by the GiST index of the
sightings' points) whose allowed purposes the purpose of the permit in force
on the sighting's WIB day does not contain: the stay's latest period started
by that day. A purpose contains an allowed phrase when the phrase's words
appear in it in order, ignoring case and punctuation ("oil and gas" is in
"Offshore oil-and-gas work"); no purpose stated contains none.

HIGH; the action is Pasal 75(2)(c): a ban from being at certain places. The
evidence lists the sightings (in every view only by district and village)
and the areas. Resolved DEPARTED when the stay's exit is recorded; otherwise
an officer resolves it on review (REVIEWED): a sighting ageing out of the
window never resolves it. The facts are the stay and the areas it was seen
in: a dismissed alert is opened again only when the person is seen in another
area.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange_service.domain.alerts import RuleName, RuleSettings
from scheduler.rules.base import (
    OPEN_ALERT_OF_RULE,
    PRESENT_STAYS,
    Rule,
    current_address_of,
    date_en,
    date_id,
    departed_by_as_of,
    office_day,
    office_midnight,
    person_name,
    utc_time,
)

_WINDOW = "CAST(:window_days AS integer)"
_AS_OF = "CAST(:as_of AS timestamptz)"
_TODAY = "CAST(:today AS date)"


def words(text: str) -> str:
    """A text as its words in lower case, one space between them, none around: how purposes
    and allowed phrases are compared."""
    # \W and _ rather than [^[:alnum:]]: a colon followed by a word is a bind parameter to
    # SQLAlchemy.
    return f"trim(regexp_replace(lower({text}), '[\\W_]+', ' ', 'g'))"


FINDINGS = f"""
WITH seen AS (
    SELECT g.id AS sighting_id, g.person_id, pr.stay_id, pr.entered_at, g.observed_at,
        g.source, g.place_name, g.district_code, g.village_code,
        ST_Y(CAST(g.location AS geometry)) AS latitude,
        ST_X(CAST(g.location AS geometry)) AS longitude,
        {office_day("g.observed_at")} AS seen_on,
        ra.code AS area_code, ra.name AS area_name, ra.allowed_purposes
    FROM restricted_areas ra
    JOIN sightings g ON ST_Intersects(ra.boundary, g.location)
    JOIN ({PRESENT_STAYS}) pr ON pr.person_id = g.person_id
    WHERE g.observed_at >= {office_midnight(f"{_TODAY} - {_WINDOW} + 1")}
      AND g.observed_at <= {_AS_OF}
      AND g.observed_at >= pr.entered_at
),
on_permit AS (
    -- The permit in force on the sighting's day: the latest period started by then (else the
    -- first), whether or not it still covered the day.
    SELECT DISTINCT ON (s.sighting_id, s.area_code) s.*, sp.permit_number,
        sp.type AS permit_type, sp.purpose, sp.sponsor
    FROM seen s JOIN stay_permits sp ON sp.stay_id = s.stay_id
    ORDER BY s.sighting_id, s.area_code, (sp.valid_from <= s.seen_on) DESC,
        CASE WHEN sp.valid_from <= s.seen_on THEN sp.sequence END DESC NULLS LAST, sp.sequence
),
not_allowed AS (
    SELECT o.* FROM on_permit o
    WHERE NOT EXISTS (
        SELECT 1 FROM unnest(o.allowed_purposes) AS allowed(phrase)
        WHERE position(
            ' ' || {words("allowed.phrase")} || ' ' IN ' ' || {words("o.purpose")} || ' ') > 0
    )
),
found AS (
    SELECT n.person_id, n.stay_id, min(n.entered_at) AS entered_at, count(*) AS sightings,
        string_agg(DISTINCT n.area_code, ',' ORDER BY n.area_code) AS area_codes,
        string_agg(DISTINCT n.area_name, ', ' ORDER BY n.area_name) AS area_names,
        max(n.observed_at) AS last_seen_at,
        (array_agg(n.seen_on ORDER BY n.observed_at DESC, n.sighting_id DESC))[1] AS last_seen_on,
        (array_agg(coalesce(nullif(n.place_name, ''), n.area_name)
            ORDER BY n.observed_at DESC, n.sighting_id DESC))[1] AS last_place,
        (array_agg(n.permit_number ORDER BY n.observed_at DESC, n.sighting_id DESC))[1]
            AS permit_number,
        (array_agg(n.permit_type ORDER BY n.observed_at DESC, n.sighting_id DESC))[1]
            AS permit_type,
        (array_agg(n.purpose ORDER BY n.observed_at DESC, n.sighting_id DESC))[1] AS purpose,
        (array_agg(n.sponsor ORDER BY n.observed_at DESC, n.sighting_id DESC))[1] AS sponsor,
        jsonb_agg(jsonb_build_object(
            'sighting_id', n.sighting_id,
            'observed_at', {utc_time("n.observed_at")},
            'seen_on', n.seen_on,
            'source', n.source,
            'place_name', n.place_name,
            'latitude', n.latitude,
            'longitude', n.longitude,
            'district_code', n.district_code,
            'village_code', n.village_code,
            'area_code', n.area_code,
            'area_name', n.area_name,
            'permit_number', n.permit_number,
            'purpose', n.purpose
        ) ORDER BY n.observed_at, n.sighting_id, n.area_code) AS area_sightings,
        jsonb_agg(jsonb_build_object(
            'observed_at', {utc_time("n.observed_at")},
            'seen_on', n.seen_on,
            'source', n.source,
            'district_code', n.district_code,
            'village_code', n.village_code
        ) ORDER BY n.observed_at, n.sighting_id, n.area_code) AS area_sighting_places,
        jsonb_agg(DISTINCT jsonb_build_object(
            'area_code', n.area_code,
            'area_name', n.area_name,
            'allowed_purposes', to_jsonb(n.allowed_purposes)
        )) AS areas
    FROM not_allowed n
    GROUP BY n.person_id, n.stay_id
),
described AS (
    SELECT f.*, {person_name("p")} AS name, p.nationality
    FROM found f JOIN persons p ON p.id = f.person_id
)
SELECT
    'PERSON' AS subject_kind,
    CAST(d.person_id AS text) AS subject_id,
    d.stay_id,
    'HIGH' AS severity,
    ad.district_code,
    ad.village_code,
    jsonb_build_object(
        'person_name', d.name,
        'nationality', d.nationality,
        'entered_at', {utc_time("d.entered_at")},
        'permit_number', d.permit_number,
        'permit_type', d.permit_type,
        'sponsor', d.sponsor,
        'purpose', d.purpose,
        'restricted_areas', d.areas,
        'area_sightings', d.area_sightings,
        'area_sighting_places', d.area_sighting_places,
        'area_sighting_count', d.sightings,
        'last_area_sighting_at', {utc_time("d.last_seen_at")},
        'window_days', {_WINDOW}
    ) AS evidence,
    CAST(d.stay_id AS text) || '/' || d.area_codes AS facts,
    format(
        '%s (%s), izin %s nomor %s untuk keperluan "%s", terlihat %s kali dalam %s hari'
        ' terakhir di kawasan terbatas yang tidak mengizinkan keperluan itu: %s (terakhir %s,'
        ' %s). Menurut Pasal 75 ayat (2) huruf c UU 6/2011 orang asing dapat dilarang berada'
        ' di tempat tertentu: periksa keperluannya di sana dan pertimbangkan larangan itu.',
        d.name, d.nationality, d.permit_type, d.permit_number, d.purpose, d.sightings,
        {_WINDOW}, d.area_names, {date_id("d.last_seen_on")}, d.last_place
    ) AS summary_id,
    format(
        '%s (%s), on %s permit %s for "%s", was seen %s %s in the last %s days in restricted'
        ' areas where that purpose is not allowed: %s (last on %s, %s). Article 75(2)(c) of'
        ' Law 6/2011 allows a ban from being at certain places: check why the person was'
        ' there and consider the ban.',
        d.name, d.nationality, d.permit_type, d.permit_number, d.purpose, d.sightings,
        CASE WHEN d.sightings = 1 THEN 'time' ELSE 'times' END, {_WINDOW}, d.area_names,
        {date_en("d.last_seen_on")}, d.last_place
    ) AS summary_en,
    'PLACE_BAN' AS action,
    CAST(ROW(d.*, ad.district_code, ad.village_code) AS text) AS inputs
FROM described d
{current_address_of("d.person_id")}
"""

RESOLUTIONS = f"""
SELECT a.id AS alert_id, 'DEPARTED' AS reason
FROM alerts a JOIN stays s ON s.id = a.stay_id
WHERE {OPEN_ALERT_OF_RULE} AND {departed_by_as_of("s")}
"""


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {"window_days": settings.restricted_area_window_days}


RESTRICTED_AREA_PRESENCE = Rule(
    name=RuleName.RESTRICTED_AREA_PRESENCE,
    title="present, seen in the last L days inside a restricted area where the permit's"
    " purpose is not allowed (Pasal 75(2)(c))",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
