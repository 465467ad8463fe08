"""PERMIT_LIMIT_EXCEEDED: a person present whose permit periods go over what their type allows.

Each type of permit allows so much in one stay (``RuleSettings.permit_limits``,
the settings ``permit_<type>`` the registry goes by: VOA 60 days in all and 1
extension, VISIT 180 days in all; DOMAIN.md, every figure "(check)").
``ExtendPermit`` refuses an extension past them; this rule finds what arrived
past them anyway (an import, legacy data, a first period already too long).
The periods are counted as ``domain/permits.py`` counts them: per type, the
local calendar days at least one period covers, both ends included (a day two
overlapping periods cover counts once: ``range_agg`` of the periods as
inclusive date ranges), and the periods after the type's first as extensions.

Only stays that can go over a limit are read (migration 0011): those with an
extension of a type that has a limit (the partial index of the periods after
the first; a renewed ITAS cannot go over anything) and those with one period
longer than its type allows in all (the index of each period's type and
length: a range scan per type, its limit read from the parameter as a
constant); then, by stay, the periods of those of them present as of the run.
Most stays are neither, and the run reads neither them nor their periods.

One alert per stay, WARNING: review, restrict or cancel the stay permit
(Pasal 75(2)(b)). The evidence holds the stay and its permit now in force (as
the other rules' about stays), each limit gone over (type, which limit, its
value, the days or extensions the periods make, how far over, the setting
that holds the limit), and the periods of the types gone over: with their
permit numbers (``permit_periods``, the FULL view only) and as dates alone
(``permit_period_dates``). The facts are the stay and those periods: a
dismissed alert is not opened again until a period of such a type is added.
Resolved DEPARTED when the stay's exit is recorded; PERMIT_CORRECTED when the
stay's periods no longer go over any limit. Periods are append-only and a
period added can only add days or extensions, so that follows only a change
of the limits' settings, never anything recorded about the stay.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange_service.domain.alerts import RuleName, RuleSettings
from exchange_service.domain.model import PermitType
from exchange_service.domain.permits import PermitLimitKind
from scheduler.rules.base import (
    OPEN_ALERT_OF_RULE,
    Rule,
    date_en,
    date_id,
    departed_by_as_of,
    office_day,
    present_on_last_period,
    stay_evidence,
)

# The types in the domain's order, for listing what a stay goes over in a fixed order.
_TYPE_ORDER = "ARRAY[" + ", ".join(f"'{t.value}'" for t in PermitType) + "]"
_TOTAL_DAYS = PermitLimitKind.TOTAL_DAYS.value
_EXTENSIONS = PermitLimitKind.EXTENSIONS.value

# The limits as a table, a row per type (``PermitLimits.sql_parameters``); a null limit is none.
_PERMIT_LIMITS = """
permit_limits AS MATERIALIZED (
    SELECT l.type, l.total_days, l.extensions
    FROM jsonb_to_recordset(CAST(:permit_limits AS jsonb))
        AS l(type text, total_days integer, extensions integer)
)"""


def _excesses(stays: str) -> str:
    """The limits the periods of each stay of ``stays`` (a relation with ``stay_id``) go over,
    a row per stay, type and kind of limit: stay_id, type, kind, kind_rank, allowed, actual,
    days_covered, extensions, first_day, last_day. Needs the CTE ``permit_limits``."""
    return f"""
    SELECT m.stay_id, m.type, k.kind, k.kind_rank, k.allowed, k.actual, m.days_covered,
        m.extensions, m.first_day, m.last_day
    FROM (
        SELECT t.*, covered.days AS days_covered
        FROM (
            SELECT sp.stay_id, sp.type, count(*) - 1 AS extensions,
                range_agg(daterange(sp.valid_from, sp.valid_until, '[]')) AS covered,
                min(sp.valid_from) AS first_day, max(sp.valid_until) AS last_day
            FROM ({stays}) st
            JOIN stay_permits sp ON sp.stay_id = st.stay_id
            GROUP BY sp.stay_id, sp.type
        ) t
        -- Inclusive ranges are canonical as [from, until + 1): upper - lower is their days.
        CROSS JOIN LATERAL (
            SELECT sum(upper(r) - lower(r)) AS days FROM unnest(t.covered) r
        ) covered
    ) m
    JOIN permit_limits l ON l.type = m.type
    CROSS JOIN LATERAL (VALUES
        (1, '{_TOTAL_DAYS}', l.total_days, m.days_covered),
        (2, '{_EXTENSIONS}', l.extensions, m.extensions)
    ) AS k(kind_rank, kind, allowed, actual)
    -- Against a null limit (none) the comparison is null: never over.
    WHERE k.actual > k.allowed
"""


def _limit(permit_type: PermitType, kind: PermitLimitKind) -> str:
    """The type's limit of that kind from ``:permit_limits`` as an integer (NULL: none).

    Immutable functions of the parameter, so the planner reads it as the constant it is and
    plans the range scan of that type's periods with the statistics of their lengths."""
    path = f'$[*] ? (@.type == "{permit_type.value}").{kind.value}'
    return (
        f"CAST(jsonb_path_query_first(CAST(:permit_limits AS jsonb), '{path}') #>> '{{}}'"
        " AS integer)"
    )


def _longer_than_the_type_allows(permit_type: PermitType) -> str:
    """The stays with a period of the type longer than the type allows in all: a range scan
    of the index of periods by type and length (days after the first >= total_days)."""
    return f"""
    SELECT sp.stay_id FROM stay_permits sp
    WHERE sp.type = '{permit_type.value}'
      AND (sp.valid_until - sp.valid_from) >= {_limit(permit_type, PermitLimitKind.TOTAL_DAYS)}"""


# The stays that can go over a limit: those with an extension of a type that has a limit
# (a renewed ITAS cannot go over anything), and those with one period longer than its type
# allows in all.
_CANDIDATES = f"""
candidates AS MATERIALIZED (
    SELECT sp.stay_id FROM stay_permits sp
    WHERE sp.sequence > 1 AND sp.type IN (
        SELECT l.type FROM permit_limits l
        WHERE l.total_days IS NOT NULL OR l.extensions IS NOT NULL
    )
    UNION
    {" UNION ".join(_longer_than_the_type_allows(t) for t in PermitType)}
)"""

_OVER = "e.actual - e.allowed"


def _phrase_id(e: str) -> str:
    return f"""CASE WHEN {e}.kind = '{_TOTAL_DAYS}' THEN format(
            'periode izin %s mencakup %s hari (%s sampai %s), lebih %s hari dari batas %s hari'
            ' seluruhnya',
            {e}.type, {e}.actual, {date_id(f"{e}.first_day")}, {date_id(f"{e}.last_day")},
            {_OVER}, {e}.allowed)
        ELSE format('izin %s diperpanjang %s kali, lebih %s kali dari batas %s kali',
            {e}.type, {e}.actual, {_OVER}, {e}.allowed)
        END"""


def _phrase_en(e: str) -> str:
    return f"""CASE WHEN {e}.kind = '{_TOTAL_DAYS}' THEN format(
            'the %s periods cover %s days (%s to %s), %s %s over the limit of %s days in all',
            {e}.type, {e}.actual, {date_en(f"{e}.first_day")}, {date_en(f"{e}.last_day")},
            {_OVER}, CASE WHEN {_OVER} = 1 THEN 'day' ELSE 'days' END, {e}.allowed)
        ELSE format('the %s permit was extended %s %s, %s over the limit of %s',
            {e}.type, {e}.actual, CASE WHEN {e}.actual = 1 THEN 'time' ELSE 'times' END,
            {_OVER}, {e}.allowed)
        END"""


FINDINGS = f"""
WITH {_PERMIT_LIMITS},
{_CANDIDATES},
present AS MATERIALIZED (
    {present_on_last_period("s.id = ANY(ARRAY(SELECT c.stay_id FROM candidates c))")}
),
over_by_stay AS (
    SELECT e.stay_id,
        jsonb_agg(jsonb_build_object(
            'permit_type', e.type,
            'limit_kind', e.kind,
            'limit', e.allowed,
            'actual', e.actual,
            'over', {_OVER},
            'setting', 'permit_' || lower(e.type) || '.' || e.kind,
            'days_covered', e.days_covered,
            'extensions', e.extensions,
            'first_day', e.first_day,
            'last_day', e.last_day
        ) ORDER BY array_position({_TYPE_ORDER}, e.type), e.kind_rank) AS exceeded_limits,
        array_agg(DISTINCT e.type) AS types_over,
        string_agg({_phrase_id("e")}, '; '
            ORDER BY array_position({_TYPE_ORDER}, e.type), e.kind_rank) AS phrases_id,
        string_agg({_phrase_en("e")}, '; '
            ORDER BY array_position({_TYPE_ORDER}, e.type), e.kind_rank) AS phrases_en
    FROM ({_excesses("SELECT pr.stay_id FROM present pr")}) e
    GROUP BY e.stay_id
),
described AS (
    SELECT pr.*, o.exceeded_limits, o.phrases_id, o.phrases_en, pp.permit_periods,
        pp.permit_period_dates, pp.period_key
    FROM present pr
    JOIN over_by_stay o ON o.stay_id = pr.stay_id
    -- The periods of the types gone over, in the order they were recorded.
    CROSS JOIN LATERAL (
        SELECT
            jsonb_agg(jsonb_build_object(
                'sequence', sp.sequence, 'permit_type', sp.type,
                'permit_number', sp.permit_number, 'valid_from', sp.valid_from,
                'valid_until', sp.valid_until
            ) ORDER BY sp.sequence) AS permit_periods,
            jsonb_agg(jsonb_build_object(
                'sequence', sp.sequence, 'permit_type', sp.type,
                'valid_from', sp.valid_from, 'valid_until', sp.valid_until
            ) ORDER BY sp.sequence) AS permit_period_dates,
            string_agg(format('%s:%s:%s..%s', sp.sequence, sp.type, sp.valid_from,
                sp.valid_until), ',' ORDER BY sp.sequence) AS period_key
        FROM stay_permits sp
        WHERE sp.stay_id = pr.stay_id AND sp.type = ANY(o.types_over)
    ) pp
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
        'exceeded_limits', d.exceeded_limits,
        'permit_periods', d.permit_periods,
        'permit_period_dates', d.permit_period_dates
    ) AS evidence,
    CAST(d.stay_id AS text) || '/' || d.period_key AS facts,
    format(
        '%s (%s), dalam tinggal sejak %s: %s. Periksa dasar periode izin yang tercatat; izin'
        ' tinggal dapat dibatasi, diubah atau dibatalkan (Pasal 75 ayat (2) huruf b UU 6/2011).',
        d.name, d.nationality, {date_id(office_day("d.entered_at"))}, d.phrases_id
    ) AS summary_id,
    format(
        '%s (%s), in the stay since %s: %s. Check what the recorded permit periods rest on;'
        ' the stay permit may be restricted, changed or cancelled (Article 75(2)(b) of'
        ' Law 6/2011).',
        d.name, d.nationality, {date_en(office_day("d.entered_at"))}, d.phrases_en
    ) AS summary_en,
    'PERMIT_REVIEW' AS action,
    CAST(ROW(d.*) AS text) AS inputs
FROM described d
"""

RESOLUTIONS = f"""
WITH {_PERMIT_LIMITS},
open_stays AS MATERIALIZED (
    SELECT a.id AS alert_id, s.id AS stay_id, {departed_by_as_of("s")} AS departed
    FROM alerts a JOIN stays s ON s.id = a.stay_id
    WHERE {OPEN_ALERT_OF_RULE}
),
still_over AS (
    SELECT DISTINCT e.stay_id FROM ({_excesses("SELECT o.stay_id FROM open_stays o")}) e
)
SELECT o.alert_id, CASE WHEN o.departed THEN 'DEPARTED' ELSE 'PERMIT_CORRECTED' END AS reason
FROM open_stays o
WHERE o.departed OR NOT EXISTS (SELECT 1 FROM still_over x WHERE x.stay_id = o.stay_id)
"""


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return settings.permit_limits.sql_parameters()


PERMIT_LIMIT_EXCEEDED = Rule(
    name=RuleName.PERMIT_LIMIT_EXCEEDED,
    title="present, and the stay's periods of a permit type go over what the type allows"
    " (days in all, extensions)",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
