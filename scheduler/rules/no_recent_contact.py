"""NO_RECENT_CONTACT: a resident foreigner the office has not heard of for X days.

A holder of a limited or permanent stay permit (ITAS, ITAP: present, and the
stay's last permit period of type LIMITED_STAY or PERMANENT_STAY) lives in
the regency for months or years; the office should hear of them now and
then. The rule finds those with no contact for ``no_contact_days`` (180) WIB
days or more: the last contact is the latest of the entry, a sighting
(``observed_at``), an address report (``reported_at``, the report's own time)
and a permit action on the stay (a period recorded, ``recorded_at``), of
those made by the run's instant. Its WIB day plus X is today or earlier.

INFO: nothing is wrong yet; an officer checks at the registered address that
the person still lives there (a field check of ``pengawasan``), so the action
is NONE. The evidence names the last contact and its day, not the days
since, so the alert does not change every day. Resolved CONTACT_RECORDED when
a sighting, address report or permit action later than the alert's last
contact is recorded, or DEPARTED when the exit is recorded. The facts are the
stay and the last contact.
"""

from __future__ import annotations

from collections.abc import Mapping

from exchange_service.domain.alerts import RuleName, RuleSettings
from scheduler.rules.base import (
    OPEN_ALERT_OF_RULE,
    Rule,
    current_address_of,
    date_en,
    date_id,
    departed_by_as_of,
    office_day,
    office_midnight,
    person_name,
    present_stays,
    utc_time,
)

_DAYS = "CAST(:no_contact_days AS integer)"
_AS_OF = "CAST(:as_of AS timestamptz)"
_TODAY = "CAST(:today AS date)"

# The permit types whose holders live here (KITAS, KITAP), as the registry names them.
RESIDENT_PERMIT_TYPES = ("LIMITED_STAY", "PERMANENT_STAY")
_RESIDENT_TYPES = "(" + ", ".join(f"'{kind}'" for kind in RESIDENT_PERMIT_TYPES) + ")"

# The start (00:00 WIB) of the first day a contact keeps a holder out of the rule: a last
# contact before it is X days old or more today.
_CUTOFF = office_midnight(f"{_TODAY} - {_DAYS} + 1")

FINDINGS = f"""
WITH holders AS (
    SELECT pr.stay_id, pr.person_id, pr.entered_at,
        lp.permit_number, lp.type, lp.valid_from, lp.valid_until, lp.sponsor, lp.purpose
    FROM ({present_stays(f"s.permit_type IN {_RESIDENT_TYPES} AND s.entered_at < {_CUTOFF}")}) pr
    JOIN stay_permits lp ON lp.id = pr.permit_id
),
-- Who was heard of since the cutoff: the window of each table, read by its index of time,
-- so the rule reads the last X days and not the history.
heard_of AS (
    SELECT g.person_id FROM sightings g
    WHERE g.observed_at >= {_CUTOFF} AND g.observed_at <= {_AS_OF}
    UNION
    SELECT a.person_id FROM addresses a
    WHERE a.reported_at >= {_CUTOFF} AND a.reported_at <= {_AS_OF}
),
acted_on AS (
    SELECT sp.stay_id FROM stay_permits sp
    WHERE sp.recorded_at >= {_CUTOFF} AND sp.recorded_at <= {_AS_OF}
),
quiet AS (
    SELECT h.* FROM holders h
    WHERE NOT EXISTS (SELECT 1 FROM heard_of x WHERE x.person_id = h.person_id)
      AND NOT EXISTS (SELECT 1 FROM acted_on x WHERE x.stay_id = h.stay_id)
),
-- The last contact of each quiet holder (all before the cutoff), looked up for them alone.
silent AS (
    SELECT q.*, c.at AS contact_at, {office_day("c.at")} AS contact_on,
        CASE c.at WHEN ls.at THEN 'SIGHTING' WHEN la.at THEN 'ADDRESS_REPORT'
            WHEN lp.at THEN 'PERMIT' ELSE 'ENTRY' END AS contact_kind
    FROM quiet q
    CROSS JOIN LATERAL (
        SELECT max(g.observed_at) AS at FROM sightings g
        WHERE g.person_id = q.person_id AND g.observed_at <= {_AS_OF}) ls
    CROSS JOIN LATERAL (
        SELECT max(a.reported_at) AS at FROM addresses a
        WHERE a.person_id = q.person_id AND a.reported_at <= {_AS_OF}) la
    CROSS JOIN LATERAL (
        SELECT max(sp.recorded_at) AS at FROM stay_permits sp
        WHERE sp.stay_id = q.stay_id AND sp.recorded_at <= {_AS_OF}) lp
    CROSS JOIN LATERAL (SELECT greatest(q.entered_at, ls.at, la.at, lp.at) AS at) c
),
described AS (
    SELECT s.*, {person_name("p")} AS name, p.nationality,
        CASE s.type WHEN 'LIMITED_STAY' THEN 'ITAS' ELSE 'ITAP' END AS permit_word,
        CASE s.contact_kind WHEN 'SIGHTING' THEN 'penampakan'
            WHEN 'ADDRESS_REPORT' THEN 'laporan alamat' WHEN 'PERMIT' THEN 'tindakan izin tinggal'
            ELSE 'kedatangan' END AS contact_id,
        CASE s.contact_kind WHEN 'SIGHTING' THEN 'a sighting'
            WHEN 'ADDRESS_REPORT' THEN 'an address report' WHEN 'PERMIT' THEN 'a permit action'
            ELSE 'the entry' END AS contact_en
    FROM silent s JOIN persons p ON p.id = s.person_id
)
SELECT
    'PERSON' AS subject_kind,
    CAST(d.person_id AS text) AS subject_id,
    d.stay_id,
    'INFO' AS severity,
    ad.district_code,
    ad.village_code,
    jsonb_build_object(
        'person_name', d.name,
        'nationality', d.nationality,
        'entered_at', {utc_time("d.entered_at")},
        'permit_number', d.permit_number,
        'permit_type', d.type,
        'permit_valid_from', d.valid_from,
        'last_valid_day', d.valid_until,
        'sponsor', d.sponsor,
        'purpose', d.purpose,
        'last_contact_at', {utc_time("d.contact_at")},
        'last_contact_on', d.contact_on,
        'last_contact_kind', d.contact_kind,
        'no_contact_days', {_DAYS}
    ) AS evidence,
    CAST(d.stay_id AS text) || '/' || {utc_time("d.contact_at")} AS facts,
    format(
        '%s (%s), pemegang %s nomor %s, tidak tercatat kontak (penampakan, laporan alamat'
        ' atau tindakan izin tinggal) sejak %s, %s hari atau lebih; kontak terakhir: %s.'
        ' Periksa di alamat terdaftarnya (%s) bahwa ia masih tinggal di sana.',
        d.name, d.nationality, d.permit_word, d.permit_number, {date_id("d.contact_on")},
        {_DAYS}, d.contact_id, coalesce(ad.line, '-')
    ) AS summary_id,
    format(
        '%s (%s), holder of %s %s, has had no recorded contact (a sighting, an address'
        ' report or a permit action) since %s, %s days or more; the last was %s. Check at'
        ' the registered address (%s) that the person still lives there.',
        d.name, d.nationality, d.permit_word, d.permit_number, {date_en("d.contact_on")},
        {_DAYS}, d.contact_en, coalesce(ad.line, '-')
    ) AS summary_en,
    'NONE' AS action,
    CAST(ROW(d.*, ad.district_code, ad.village_code) AS text) AS inputs
FROM described d
{current_address_of("d.person_id")}
"""

# A contact within the second of the alert's last one is not told apart from it (the
# evidence keeps whole seconds).
_LATER = "> CAST(a.evidence ->> 'last_contact_at' AS timestamptz)"

RESOLUTIONS = f"""
SELECT a.id AS alert_id,
    CASE WHEN {departed_by_as_of("s")} THEN 'DEPARTED' ELSE 'CONTACT_RECORDED' END AS reason
FROM alerts a JOIN stays s ON s.id = a.stay_id
WHERE {OPEN_ALERT_OF_RULE}
  AND ({departed_by_as_of("s")}
    OR EXISTS (
        SELECT 1 FROM sightings g
        WHERE g.person_id = s.person_id AND g.observed_at <= {_AS_OF}
          AND date_trunc('second', g.observed_at) {_LATER})
    OR EXISTS (
        SELECT 1 FROM addresses ad
        WHERE ad.person_id = s.person_id AND ad.reported_at <= {_AS_OF}
          AND date_trunc('second', ad.reported_at) {_LATER})
    OR EXISTS (
        SELECT 1 FROM stay_permits sp
        WHERE sp.stay_id = s.id AND sp.recorded_at <= {_AS_OF}
          AND date_trunc('second', sp.recorded_at) {_LATER}))
"""


def _numbers(settings: RuleSettings) -> Mapping[str, object]:
    return {"no_contact_days": settings.no_contact_days}


NO_RECENT_CONTACT = Rule(
    name=RuleName.NO_RECENT_CONTACT,
    title="a present ITAS or ITAP holder with no sighting, address report or permit action"
    " for X days",
    findings_sql=FINDINGS,
    resolutions_sql=RESOLUTIONS,
    numbers=_numbers,
)
