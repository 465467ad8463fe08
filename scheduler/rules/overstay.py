"""OVERSTAY: a person present whose permit no longer covers today (Pasal 78 UU 6/2011).

Present means entered and not left as of the run. No permit period covers
today (WIB) when the last period of the stay ended before today: periods are
contiguous, so that is the permit's last valid day, and every local day after
it is a day over. Up to ``overstay_deportation_after_days`` (60) days the
alert is HIGH and the action the fee of ``overstay_fee_per_day_idr`` (Rp
1,000,000) a day; from the day after, CRITICAL: deportation and an entry ban.
The evidence (days over, fee accrued) is updated every day. Resolved when
the exit is recorded (DEPARTED) or a permit period covers today
(PERMIT_EXTENDED). The facts are the stay and its last valid day: a dismissed
alert is not opened again while they stay the same, however the days grow.
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
    rupiah,
    stay_evidence,
    stay_facts,
    stay_inputs,
)

_FEE = "CAST(:fee_per_day_idr AS bigint)"
_LIMIT = "CAST(:deportation_after_days AS integer)"

FINDINGS = f"""
WITH overstays AS (
    SELECT s.*, CAST(:today AS date) - s.permit_valid_until AS days_over
    -- Said once, on the stay's own last valid day (its last period's), so the planner does
    -- not count the same condition twice in its estimates.
    FROM ({present_on_last_period("s.permit_valid_until < CAST(:today AS date)")}) s
),
described AS (
    SELECT o.*, o.days_over * {_FEE} AS fee_idr, o.days_over > {_LIMIT} AS past_limit
    FROM overstays o
)
SELECT
    'PERSON' AS subject_kind,
    CAST(d.person_id AS text) AS subject_id,
    d.stay_id,
    CASE WHEN d.past_limit THEN 'CRITICAL' ELSE 'HIGH' END AS severity,
    d.district_code,
    d.village_code,
    jsonb_build_object(
        {stay_evidence("d")},
        'days_over', d.days_over,
        'fee_per_day_idr', {_FEE},
        'fee_accrued_idr', d.fee_idr,
        'deportation_after_days', {_LIMIT}
    ) AS evidence,
    {stay_facts("d")} AS facts,
    CASE WHEN d.past_limit THEN format(
        '%s (%s) melampaui izin tinggal selama %s hari, lebih dari %s hari: izin %s nomor %s'
        ' berlaku sampai %s. Menurut Pasal 78 ayat (3) UU 6/2011 dikenai deportasi dan'
        ' penangkalan. Biaya beban terhitung %s (%s per hari).',
        d.name, d.nationality, d.days_over, {_LIMIT}, d.type, d.permit_number,
        {date_id("d.valid_until")}, {rupiah("d.fee_idr")}, {rupiah(_FEE)})
    ELSE format(
        '%s (%s) melampaui izin tinggal selama %s hari: izin %s nomor %s berlaku sampai %s.'
        ' Biaya beban menurut Pasal 78 ayat (1) UU 6/2011: %s (%s per hari); bila tidak'
        ' dibayar, deportasi dan penangkalan.',
        d.name, d.nationality, d.days_over, d.type, d.permit_number,
        {date_id("d.valid_until")}, {rupiah("d.fee_idr")}, {rupiah(_FEE)})
    END AS summary_id,
    CASE WHEN d.past_limit THEN format(
        '%s (%s) has overstayed by %s days, more than %s: %s permit %s was valid until %s.'
        ' Under Article 78(3) of Law 6/2011 deportation and an entry ban apply. Fee accrued:'
        ' %s (%s a day).',
        d.name, d.nationality, d.days_over, {_LIMIT}, d.type, d.permit_number,
        {date_en("d.valid_until")}, {rupiah("d.fee_idr")}, {rupiah(_FEE)})
    ELSE format(
        '%s (%s) has overstayed by %s %s: %s permit %s was valid until %s. Overstay fee under'
        ' Article 78(1) of Law 6/2011: %s (%s a day); unpaid, deportation and an entry ban.',
        d.name, d.nationality, d.days_over, CASE WHEN d.days_over = 1 THEN 'day' ELSE 'days' END,
        d.type, d.permit_number, {date_en("d.valid_until")}, {rupiah("d.fee_idr")},
        {rupiah(_FEE)})
    END AS summary_en,
    CASE WHEN d.past_limit THEN 'DEPORTATION_AND_ENTRY_BAN' ELSE 'OVERSTAY_FEE' END AS action,
    {stay_inputs("d", "d.days_over")} AS inputs
FROM described d
"""

RESOLUTIONS = departed_or_extended(
    "EXISTS (SELECT 1 FROM stay_permits sp WHERE sp.stay_id = s.id"
    " AND sp.valid_from <= CAST(:today AS date) AND sp.valid_until >= CAST(:today AS date))"
)


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {
        "fee_per_day_idr": settings.overstay_fee_per_day_idr,
        "deportation_after_days": settings.overstay_deportation_after_days,
    }


OVERSTAY = Rule(
    name=RuleName.OVERSTAY,
    title="present with no permit period covering today (WIB): fee per day, past the limit"
    " deportation and entry ban",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
