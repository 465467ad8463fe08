"""UNREPORTED_ADDRESS_CHANGE: seen again and again far from the registered address, no move told.

Pasal 71 UU 6/2011 obliges a foreigner to report a change of address (the
penalty is Pasal 116). The rule finds a person present (entered, not left)
with at least ``address_change_min_sightings`` (2) sightings in the last
``address_change_window_days`` (30) WIB days, on this stay, each farther than
``address_change_distance_meters`` (3,000 m, geodesic: PostGIS
``ST_Distance`` on geography) from the address in force on the sighting's WIB
day, the first of them older than the grace window of
``address_change_grace_days`` (14) days (its day plus 14 is before today), and
no address reported since it (``addresses.reported_at``, the time of the
report; an import keeps its original time there).

Addresses are history: the one in force on a day is the one with the latest
``effective_from`` on or before it, the latest reported of a day winning;
what was reported after the run's instant is not yet known to it. Only
sightings after the person's last address report count, so a report answers
every sighting before it. The distance test is ``ST_Distance > D`` alone
(exactly D metres is not far): ``ST_DWithin`` disagrees with ``ST_Distance``
in the last bits near D, and the evidence shows the distance the test used.
The statement reads the window's sightings in two passes (who was seen K
times past the grace; then their far sightings), each joined by person in
hashes to the stays and to those persons' address history, so the plan never
looks up sightings person by person.

WARNING; the action is the demand of the address report. Resolved
ADDRESS_REPORTED when an address is reported after the first far sighting of
the alert, or DEPARTED when the stay's exit is recorded. Sightings ageing out
of the window change the evidence while the condition holds and otherwise
leave the alert as it is. The alert's district and village are those of the
address registered as of the run. The facts are the stay and that address: a
dismissed alert is not opened again until the person reports another
address.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange_service.domain.alerts import RuleName, RuleSettings
from scheduler.rules.base import (
    OPEN_ALERT_OF_RULE,
    PRESENT_STAYS,
    Rule,
    date_en,
    date_id,
    departed_by_as_of,
    number_en,
    number_id,
    office_day,
    office_midnight,
    person_name,
    utc_time,
)

_MIN = "CAST(:min_sightings AS integer)"
_WINDOW = "CAST(:window_days AS integer)"
_FAR = "CAST(:far_beyond_meters AS double precision)"
_GRACE = "CAST(:grace_days AS integer)"
_AS_OF = "CAST(:as_of AS timestamptz)"
_TODAY = "CAST(:today AS date)"


def _place(sighting: str) -> str:
    """Where a sighting was, in words: its place name, else its village or district, else the
    coordinates."""
    return (
        f"coalesce(nullif({sighting}.place_name, ''), {sighting}.village_name,"
        f" {sighting}.district_name, format('%s, %s', round(CAST({sighting}.latitude AS numeric),"
        f" 5), round(CAST({sighting}.longitude AS numeric), 5)))"
    )


FINDINGS = f"""
WITH recent AS NOT MATERIALIZED (
    -- The sightings of the window (its first WIB day from 00:00) on the present stays.
    SELECT g.id, g.person_id, pr.stay_id, pr.entered_at, g.location, g.observed_at, g.source,
        g.place_name, g.district_code, g.village_code, {office_day("g.observed_at")} AS seen_on
    FROM sightings g
    JOIN ({PRESENT_STAYS}) pr ON pr.person_id = g.person_id
    WHERE g.observed_at >= {office_midnight(f"{_TODAY} - {_WINDOW} + 1")}
      AND g.observed_at <= {_AS_OF}
      AND g.observed_at >= pr.entered_at
),
candidates AS (
    -- Seen K times in the window, the first past the grace, near or far: only their
    -- addresses need to be put in order.
    SELECT r.person_id FROM recent r
    GROUP BY r.person_id
    HAVING count(*) >= {_MIN} AND min(r.seen_on) + {_GRACE} < {_TODAY}
),
reported AS MATERIALIZED (
    -- Their addresses known as of the run, each with the day the next one took over from it.
    SELECT a.id, a.person_id, a.line, a.location, a.district_code, a.village_code,
        a.effective_from, a.reported_at,
        lead(a.effective_from) OVER by_effect AS superseded_on,
        max(a.reported_at) OVER (PARTITION BY a.person_id) AS last_reported_at
    FROM addresses a JOIN candidates USING (person_id)
    WHERE a.reported_at <= {_AS_OF}
    WINDOW by_effect AS (
        PARTITION BY a.person_id ORDER BY a.effective_from, a.reported_at, a.id)
),
far AS (
    -- Each sighting after the last report farther than D from the address then in force.
    SELECT r.*, f.id AS address_id, ST_Distance(r.location, f.location) AS distance_meters,
        ST_Y(CAST(r.location AS geometry)) AS latitude,
        ST_X(CAST(r.location AS geometry)) AS longitude,
        v.name AS village_name, d.name AS district_name
    FROM recent r
    JOIN reported f ON f.person_id = r.person_id
        AND f.effective_from <= r.seen_on
        AND (f.superseded_on IS NULL OR f.superseded_on > r.seen_on)
    LEFT JOIN villages v ON v.code = r.village_code
    LEFT JOIN districts d ON d.code = r.district_code
    WHERE r.observed_at > f.last_reported_at
      AND ST_Distance(r.location, f.location) > {_FAR}
),
found AS (
    SELECT f.person_id, f.stay_id, min(f.entered_at) AS entered_at, count(*) AS sightings,
        min(f.seen_on) AS first_seen_on, min(f.observed_at) AS first_seen_at,
        (array_agg(f.distance_meters ORDER BY f.observed_at, f.id))[1] AS first_distance,
        (array_agg({_place("f")} ORDER BY f.observed_at, f.id))[1] AS first_place,
        jsonb_agg(jsonb_build_object(
            'sighting_id', f.id,
            'observed_at', {utc_time("f.observed_at")},
            'seen_on', f.seen_on,
            'source', f.source,
            'place_name', f.place_name,
            'latitude', f.latitude,
            'longitude', f.longitude,
            'district_code', f.district_code,
            'village_code', f.village_code,
            'distance_meters', round(CAST(f.distance_meters AS numeric)),
            'address_id', f.address_id
        ) ORDER BY f.observed_at, f.id) AS far_sightings,
        jsonb_agg(jsonb_build_object(
            'observed_at', {utc_time("f.observed_at")},
            'seen_on', f.seen_on,
            'source', f.source,
            'district_code', f.district_code,
            'village_code', f.village_code
        ) ORDER BY f.observed_at, f.id) AS far_sighting_places
    FROM far f
    GROUP BY f.person_id, f.stay_id
    HAVING count(*) >= {_MIN} AND min(f.seen_on) + {_GRACE} < {_TODAY}
),
registered AS (
    -- The address registered now (in force today), as the evidence shows it.
    SELECT f.*, ST_Y(CAST(f.location AS geometry)) AS latitude,
        ST_X(CAST(f.location AS geometry)) AS longitude
    FROM reported f JOIN found USING (person_id)
    WHERE f.effective_from <= {_TODAY}
      AND (f.superseded_on IS NULL OR f.superseded_on > {_TODAY})
),
described AS (
    SELECT fo.*, {person_name("p")} AS name, p.nationality,
        ra.id AS registered_id, ra.line AS registered_line,
        ra.district_code AS registered_district_code, ra.village_code AS registered_village_code,
        jsonb_build_object(
            'address_id', ra.id,
            'line', ra.line,
            'latitude', ra.latitude,
            'longitude', ra.longitude,
            'district_code', ra.district_code,
            'village_code', ra.village_code,
            'effective_from', ra.effective_from,
            'reported_at', {utc_time("ra.reported_at")}
        ) AS registered_address
    FROM found fo
    JOIN persons p ON p.id = fo.person_id
    LEFT JOIN registered ra ON ra.person_id = fo.person_id
)
SELECT
    'PERSON' AS subject_kind,
    CAST(d.person_id AS text) AS subject_id,
    d.stay_id,
    'WARNING' AS severity,
    d.registered_district_code AS district_code,
    d.registered_village_code AS village_code,
    jsonb_build_object(
        'person_name', d.name,
        'nationality', d.nationality,
        'entered_at', {utc_time("d.entered_at")},
        'registered_address', d.registered_address,
        'far_sightings', d.far_sightings,
        'far_sighting_places', d.far_sighting_places,
        'far_sighting_count', d.sightings,
        'first_far_sighting_at', {utc_time("d.first_seen_at")},
        'grace_ended_on', d.first_seen_on + {_GRACE},
        'min_sightings', {_MIN},
        'window_days', {_WINDOW},
        'far_beyond_meters', {_FAR},
        'grace_days', {_GRACE}
    ) AS evidence,
    CAST(d.stay_id AS text) || '/' || coalesce(CAST(d.registered_id AS text), '') AS facts,
    format(
        '%s (%s) terlihat %s kali dalam %s hari terakhir lebih dari %s m dari alamat yang'
        ' terdaftar saat itu (alamat terdaftar kini: %s), pertama kali pada %s di %s, %s m dari'
        ' alamat itu, dan sejak itu tidak melaporkan alamat baru; tenggang %s hari berakhir %s.'
        ' Menurut Pasal 71 UU 6/2011 perubahan alamat wajib dilaporkan (sanksi Pasal 116):'
        ' minta laporan alamat barunya.',
        d.name, d.nationality, d.sightings, {_WINDOW}, {number_id(_FAR)},
        coalesce(d.registered_line, '-'), {date_id("d.first_seen_on")}, d.first_place,
        {number_id("d.first_distance")}, {_GRACE}, {date_id(f"d.first_seen_on + {_GRACE}")}
    ) AS summary_id,
    format(
        '%s (%s) was seen %s times in the last %s days more than %s m from the address'
        ' registered at the time (registered now: %s), first on %s at %s, %s m from it, and has'
        ' reported no address since; the grace period of %s days ended on %s. Article 71 of'
        ' Law 6/2011 requires a change of address to be reported (penalty: Article 116):'
        ' demand the report of the new address.',
        d.name, d.nationality, d.sightings, {_WINDOW}, {number_en(_FAR)},
        coalesce(d.registered_line, '-'), {date_en("d.first_seen_on")}, d.first_place,
        {number_en("d.first_distance")}, {_GRACE}, {date_en(f"d.first_seen_on + {_GRACE}")}
    ) AS summary_en,
    'ADDRESS_REPORT_DEMAND' AS action,
    CAST(ROW(d.*) AS text) AS inputs
FROM described d
"""

# A report within the second of the first far sighting is not told apart from it (the
# evidence keeps whole seconds), and answers it only from the next second on.
RESOLUTIONS = f"""
SELECT a.id AS alert_id,
    CASE WHEN {departed_by_as_of("s")} THEN 'DEPARTED' ELSE 'ADDRESS_REPORTED' END AS reason
FROM alerts a JOIN stays s ON s.id = a.stay_id
WHERE {OPEN_ALERT_OF_RULE}
  AND ({departed_by_as_of("s")}
    OR EXISTS (
        SELECT 1 FROM addresses ad
        WHERE ad.person_id = s.person_id
          AND ad.reported_at <= {_AS_OF}
          AND date_trunc('second', ad.reported_at)
              > CAST(a.evidence ->> 'first_far_sighting_at' AS timestamptz)
    ))
"""


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {
        "min_sightings": settings.address_change_min_sightings,
        "window_days": settings.address_change_window_days,
        "far_beyond_meters": settings.address_change_distance_meters,
        "grace_days": settings.address_change_grace_days,
    }


UNREPORTED_ADDRESS_CHANGE = Rule(
    name=RuleName.UNREPORTED_ADDRESS_CHANGE,
    title="present, seen K times in L days farther than D m from the address in force then,"
    " the first past the grace window, and no address reported since (Pasal 71)",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
