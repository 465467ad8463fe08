"""PERMIT_EXPIRING: a person present whose permit ends within N days, no later period recorded.

The permit is the stay's last period (the one ending last), so a recorded
extension moves the end and the warning with it. It warns from
``permit_expiring_within_days`` (14) days before the last valid day down to
that day itself (0 days left), counted in WIB days; the day after, the
person overstays (OVERSTAY), and this alert stays open until its reason
holds: resolved when a period ending later is recorded (PERMIT_EXTENDED) or
the exit is recorded (DEPARTED). The facts are the stay and its last valid
day.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange_service.domain.alerts import RuleName, RuleSettings
from scheduler.rules.base import (
    LAST_PERMIT_PERIODS,
    OPEN_ALERT_OF_RULE,
    PRESENT_STAYS,
    Rule,
    current_address_of,
    date_en,
    date_id,
    departed_by_as_of,
    person_name,
    utc_time,
)

_WITHIN = "CAST(:within_days AS integer)"

FINDINGS = f"""
WITH expiring AS (
    SELECT pr.stay_id, pr.person_id, pr.entered_at, pr.entry_port_code,
        lp.permit_number, lp.type, lp.valid_from, lp.valid_until, lp.sponsor, lp.purpose,
        lp.valid_until - CAST(:today AS date) AS days_left
    FROM ({PRESENT_STAYS}) pr
    JOIN ({LAST_PERMIT_PERIODS}) lp ON lp.stay_id = pr.stay_id
    WHERE lp.valid_until >= CAST(:today AS date)
      AND lp.valid_until - CAST(:today AS date) <= {_WITHIN}
),
described AS (
    SELECT e.*, {person_name("p")} AS name, p.nationality
    FROM expiring e JOIN persons p ON p.id = e.person_id
)
SELECT
    'PERSON' AS subject_kind,
    CAST(d.person_id AS text) AS subject_id,
    d.stay_id,
    'WARNING' AS severity,
    ad.district_code,
    ad.village_code,
    jsonb_build_object(
        'person_name', d.name,
        'nationality', d.nationality,
        'entered_at', {utc_time("d.entered_at")},
        'entry_port_code', d.entry_port_code,
        'permit_number', d.permit_number,
        'permit_type', d.type,
        'permit_valid_from', d.valid_from,
        'last_valid_day', d.valid_until,
        'sponsor', d.sponsor,
        'purpose', d.purpose,
        'days_left', d.days_left,
        'within_days', {_WITHIN}
    ) AS evidence,
    CAST(d.stay_id AS text) || '/' || CAST(d.valid_until AS text) AS facts,
    format(
        '%s (%s): izin tinggal %s nomor %s berakhir %s (%s) dan belum ada perpanjangan'
        ' tercatat. Ajukan perpanjangan atau keluar sebelum tanggal itu berlalu.',
        d.name, d.nationality, d.type, d.permit_number,
        CASE WHEN d.days_left = 0 THEN 'hari ini' ELSE format('dalam %s hari', d.days_left) END,
        {date_id("d.valid_until")}
    ) AS summary_id,
    format(
        '%s (%s): %s permit %s ends %s (%s) and no extension is recorded. The permit must be'
        ' extended, or the person leave, before that day is over.',
        d.name, d.nationality, d.type, d.permit_number,
        CASE WHEN d.days_left = 0 THEN 'today'
            WHEN d.days_left = 1 THEN 'in 1 day'
            ELSE format('in %s days', d.days_left) END,
        {date_en("d.valid_until")}
    ) AS summary_en,
    'NONE' AS action
FROM described d
{current_address_of("d.person_id")}
"""

RESOLUTIONS = f"""
SELECT a.id AS alert_id,
    CASE WHEN {departed_by_as_of("s")} THEN 'DEPARTED' ELSE 'PERMIT_EXTENDED' END AS reason
FROM alerts a JOIN stays s ON s.id = a.stay_id
WHERE {OPEN_ALERT_OF_RULE}
  AND ({departed_by_as_of("s")}
    OR EXISTS (
        SELECT 1 FROM stay_permits sp
        WHERE sp.stay_id = s.id
          AND sp.valid_until > CAST(a.evidence ->> 'last_valid_day' AS date)
    ))
"""


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {"within_days": settings.permit_expiring_within_days}


PERMIT_EXPIRING = Rule(
    name=RuleName.PERMIT_EXPIRING,
    title="present, the permit's last period ends within N days (WIB) and no later one is recorded",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
