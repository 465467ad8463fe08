"""WATCHLIST_MATCH: a person whose records match an entry of the watchlist in force today.

The screener (``exchange_service.services.screening``) scores each person
against the entries retrieved for them, and each entry that changes against
the persons it may match, and keeps the pairs at or above the threshold in
``watchlist_matches`` with the features behind each score. This rule raises
one alert per person from those pairs, for the entries not removed and in
force today (WIB): HIGH, CRITICAL when one of them is on the police's wanted
list (DPO). The action is always IDENTITY_VERIFICATION: nothing is done on a
match until a supervisor confirms it (a confirming officer other than the
one who registered the person) or dismisses it.

The facts are the pairs with the digests of both records: a dismissed alert
is not opened again while the person's record and the matched entries stay
as they were; a changed entry or person, or a new entry matching, raises it
again. Resolved (WATCHLIST_CLEARED) when no entry in force matches any more:
removed, expired, or no longer scoring over the threshold.
"""

from __future__ import annotations

from exchange_service.domain.alerts import RuleName
from scheduler.rules.base import (
    OPEN_ALERT_OF_RULE,
    Rule,
    current_address_of,
    person_name,
)

_IN_FORCE = """
    e.removed_at IS NULL
    AND (e.valid_from IS NULL OR e.valid_from <= CAST(:today AS date))
    AND (e.valid_until IS NULL OR e.valid_until >= CAST(:today AS date))
"""

FINDINGS = f"""
WITH pairs AS (
    SELECT m.person_id, m.entry_id, m.score, m.explanation, m.entry_digest, m.person_digest,
        e.list, e.content
    FROM watchlist_matches m
    JOIN watchlist_entries e ON e.id = m.entry_id
    WHERE {_IN_FORCE}
),
per_person AS (
    SELECT person_id,
        max(score) AS best_score,
        count(*) AS matched,
        bool_or(list = 'POLICE_WANTED') AS wanted,
        jsonb_agg(jsonb_build_object(
            'entry_id', entry_id,
            'list', list,
            'score', round(CAST(score AS numeric), 4),
            'reason', content ->> 'reason',
            'issuing_agency', content ->> 'issuing_agency',
            'query_name', explanation ->> 'query_name',
            'matched_name', explanation ->> 'matched_name',
            'features', explanation -> 'features'
        ) ORDER BY score DESC, entry_id) AS matches,
        string_agg(DISTINCT list, ', ' ORDER BY list) AS lists,
        string_agg(CAST(entry_id AS text) || ':' || entry_digest, ',' ORDER BY entry_id)
            || '|' || max(person_digest) AS facts,
        string_agg(CAST(entry_id AS text) || ':' || entry_digest || ':'
            || CAST(round(CAST(score AS numeric), 4) AS text)
            || ':' || md5(CAST(explanation AS text)), ',' ORDER BY entry_id)
            || '|' || max(person_digest) AS inputs
    FROM pairs
    GROUP BY person_id
)
SELECT
    'PERSON' AS subject_kind,
    CAST(pp.person_id AS text) AS subject_id,
    CAST(NULL AS uuid) AS stay_id,
    CASE WHEN pp.wanted THEN 'CRITICAL' ELSE 'HIGH' END AS severity,
    ad.district_code,
    ad.village_code,
    jsonb_build_object(
        'person_name', {person_name("p")},
        'nationality', p.nationality,
        'registered_by', p.registered_by,
        'watchlist_matches', pp.matches,
        'watchlist_match_count', pp.matched,
        'best_score', round(CAST(pp.best_score AS numeric), 4)
    ) AS evidence,
    pp.facts,
    format(
        '%s (%s) cocok dengan %s entri daftar pengawasan (%s), skor tertinggi %s.'
        ' Verifikasi identitas dan dokumen; tidak ada tindakan sebelum pengawas'
        ' mengonfirmasi (petugas lain dari yang mendaftarkan).',
        {person_name("p")}, p.nationality, pp.matched, pp.lists,
        to_char(pp.best_score, 'FM0.00')
    ) AS summary_id,
    format(
        '%s (%s) matches %s watchlist %s (%s), best score %s. Verify the identity and'
        ' documents; nothing is done before a supervisor confirms (an officer other than'
        ' the one who registered the person).',
        {person_name("p")}, p.nationality, pp.matched,
        CASE WHEN pp.matched = 1 THEN 'entry' ELSE 'entries' END, pp.lists,
        to_char(pp.best_score, 'FM0.00')
    ) AS summary_en,
    'IDENTITY_VERIFICATION' AS action,
    concat_ws('|', pp.inputs, ca.address_id) AS inputs
FROM per_person pp
JOIN persons p ON p.id = pp.person_id
{current_address_of("pp.person_id")}
"""

RESOLUTIONS = f"""
SELECT a.id AS alert_id, 'WATCHLIST_CLEARED' AS reason
FROM alerts a
WHERE {OPEN_ALERT_OF_RULE}
  AND NOT EXISTS (
      SELECT 1 FROM watchlist_matches m JOIN watchlist_entries e ON e.id = m.entry_id
      WHERE CAST(m.person_id AS text) = a.subject_id AND {_IN_FORCE}
  )
"""

WATCHLIST_MATCH = Rule(
    name=RuleName.WATCHLIST_MATCH,
    title="matches a watchlist entry in force (HIGH; CRITICAL for the police wanted list):"
    " verify, a supervisor confirms (four eyes) or dismisses",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
)
