"""SPONSOR_OVERSTAY_CLUSTER: a sponsor several of whose sponsees have fallen into overstay lately.

A sponsor (penjamin) answers for the foreigners it brings (Pasal 63 UU
6/2011). The sponsor of a stay is the sponsor text of its last permit period,
as the registry stores it (Unicode NFC, spaces folded; no sponsor: not
counted). A sponsee overstays as OVERSTAY says: present, and the last period
ended before today (WIB). The rule finds a sponsor with at least
``sponsor_cluster_min_sponsees`` (3) sponsees whose overstay began within
the last ``sponsor_cluster_window_days`` (90) days (their last valid day is
at most 90 days before today) and who still overstay: a cluster of recent
lapses under one sponsor. Each sponsee's own alert is OVERSTAY's.

The subject is the SPONSOR; its id is the SHA-256 (hex) of the sponsor text,
an opaque key the DISTRICT view may receive (the name is evidence, withheld
from it); no stay, no district or village. WARNING; the action is the
review of the sponsor. The evidence lists the sponsees (person, name, days
over, last valid day), so it changes every day as the days grow. Resolved
SPONSEES_RESOLVED when fewer than S of the sponsor's sponsees overstay at
all (however long): each of the others left (an exit recorded) or was given
a period covering today; a sponsee's overstay passing the window leaves the
alert open. The facts are the sponsees' stays.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange_service.domain.alerts import RuleName, RuleSettings
from scheduler.rules.base import (
    OPEN_ALERT_OF_RULE,
    Rule,
    current_address_of,
    person_name,
    present_stays,
)

_MIN = "CAST(:min_sponsees AS integer)"
_WINDOW = "CAST(:window_days AS integer)"
_TODAY = "CAST(:today AS date)"


def sponsor_key(sponsor: str) -> str:
    """The opaque subject id of a sponsor: the SHA-256 (hex) of its text."""
    return f"encode(sha256(convert_to({sponsor}, 'UTF8')), 'hex')"


# Every stay present and overstaying (its last period ended before today) with a sponsor.
OVERSTAYING_SPONSEES = f"""
    SELECT pr.stay_id, pr.person_id, lp.sponsor, lp.type, lp.valid_until,
        {_TODAY} - lp.valid_until AS days_over
    FROM ({present_stays(f"s.permit_valid_until < {_TODAY}")}) pr
    JOIN stay_permits lp ON lp.id = pr.permit_id
    WHERE lp.sponsor <> ''
"""

FINDINGS = f"""
WITH recent AS (
    SELECT o.*, {person_name("p")} AS name, p.nationality, ad.district_code, ad.village_code
    FROM ({OVERSTAYING_SPONSEES}) o
    JOIN persons p ON p.id = o.person_id
    {current_address_of("o.person_id")}
    WHERE o.days_over <= {_WINDOW}
),
clusters AS (
    SELECT r.sponsor, count(*) AS sponsees,
        jsonb_agg(jsonb_build_object(
            'person_id', r.person_id,
            'person_name', r.name,
            'nationality', r.nationality,
            'stay_id', r.stay_id,
            'permit_type', r.type,
            'last_valid_day', r.valid_until,
            'days_over', r.days_over,
            'district_code', r.district_code,
            'village_code', r.village_code
        ) ORDER BY r.days_over DESC, r.person_id) AS sponsee_list,
        string_agg(format('%s (%s hari)', r.name, r.days_over), ', '
            ORDER BY r.days_over DESC, r.person_id) AS names_id,
        string_agg(format('%s (%s %s)', r.name, r.days_over,
            CASE WHEN r.days_over = 1 THEN 'day' ELSE 'days' END), ', '
            ORDER BY r.days_over DESC, r.person_id) AS names_en,
        string_agg(CAST(r.stay_id AS text), ',' ORDER BY r.stay_id) AS stays
    FROM recent r
    GROUP BY r.sponsor
    HAVING count(*) >= {_MIN}
)
SELECT
    'SPONSOR' AS subject_kind,
    {sponsor_key("c.sponsor")} AS subject_id,
    CAST(NULL AS uuid) AS stay_id,
    'WARNING' AS severity,
    CAST(NULL AS text) AS district_code,
    CAST(NULL AS text) AS village_code,
    jsonb_build_object(
        'sponsor', c.sponsor,
        'sponsees', c.sponsee_list,
        'sponsees_overstaying', c.sponsees,
        'min_sponsees', {_MIN},
        'window_days', {_WINDOW}
    ) AS evidence,
    c.stays AS facts,
    format(
        'Penjamin %s menjamin %s orang asing yang melampaui izin tinggal dan mulai'
        ' melampauinya dalam %s hari terakhir: %s. Penjamin bertanggung jawab atas keberadaan'
        ' orang asing yang dijaminnya (Pasal 63 UU 6/2011): tinjau penjamin ini dan'
        ' kewajibannya.',
        c.sponsor, c.sponsees, {_WINDOW}, c.names_id
    ) AS summary_id,
    format(
        'Sponsor %s has %s sponsees who have overstayed their permits, each overstay begun'
        ' within the last %s days: %s. A sponsor answers for the foreigners it sponsors'
        ' (Article 63 of Law 6/2011): review this sponsor and its obligations.',
        c.sponsor, c.sponsees, {_WINDOW}, c.names_en
    ) AS summary_en,
    'SPONSOR_REVIEW' AS action,
    CAST(ROW(c.*) AS text) AS inputs
FROM clusters c
"""

RESOLUTIONS = f"""
WITH overstaying AS (
    SELECT {sponsor_key("o.sponsor")} AS sponsor_key, count(*) AS sponsees
    FROM ({OVERSTAYING_SPONSEES}) o
    GROUP BY o.sponsor
)
SELECT a.id AS alert_id, 'SPONSEES_RESOLVED' AS reason
FROM alerts a
LEFT JOIN overstaying o ON o.sponsor_key = a.subject_id
WHERE {OPEN_ALERT_OF_RULE} AND a.subject_kind = 'SPONSOR'
  AND coalesce(o.sponsees, 0) < {_MIN}
"""


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {
        "min_sponsees": settings.sponsor_cluster_min_sponsees,
        "window_days": settings.sponsor_cluster_window_days,
    }


SPONSOR_OVERSTAY_CLUSTER = Rule(
    name=RuleName.SPONSOR_OVERSTAY_CLUSTER,
    title="a sponsor with at least S sponsees still overstaying, each overstay begun within"
    " the last W days (the subject is the sponsor)",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
