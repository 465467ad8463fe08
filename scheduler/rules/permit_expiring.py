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
    Rule,
    date_en,
    date_id,
    departed_or_extended,
    present_on_last_period,
    stay_evidence,
    stay_facts,
    stay_inputs,
)

_WITHIN = "CAST(:within_days AS integer)"
# The present stays whose last valid day is today or within the next N days.
_WINDOW = f"s.permit_valid_until BETWEEN CAST(:today AS date) AND CAST(:today AS date) + {_WITHIN}"

FINDINGS = f"""
WITH described AS (
    SELECT s.*, s.permit_valid_until - CAST(:today AS date) AS days_left
    -- The window is the stays' own last valid day, which is their last period's: said once,
    -- so the planner does not count the same condition twice in its estimates.
    FROM ({present_on_last_period(_WINDOW)}) s
)
SELECT
    'PERSON' AS subject_kind,
    CAST(d.person_id AS text) AS subject_id,
    d.stay_id,
    'WARNING' AS severity,
    d.district_code,
    d.village_code,
    jsonb_build_object(
        {stay_evidence("d")},
        'days_left', d.days_left,
        'within_days', {_WITHIN}
    ) AS evidence,
    {stay_facts("d")} AS facts,
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
    'NONE' AS action,
    {stay_inputs("d", "d.days_left")} AS inputs
FROM described d
"""

RESOLUTIONS = departed_or_extended(
    "EXISTS (SELECT 1 FROM stay_permits sp WHERE sp.stay_id = s.id"
    " AND sp.valid_until > CAST(a.evidence ->> 'last_valid_day' AS date))"
)


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {"within_days": settings.permit_expiring_within_days}


PERMIT_EXPIRING = Rule(
    name=RuleName.PERMIT_EXPIRING,
    title="present, the permit's last period ends within N days (WIB) and no later one is recorded",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
