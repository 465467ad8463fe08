"""The early-warning report's figures, read from the database in one snapshot.

Five statements in one REPEATABLE READ transaction, so every figure is of the
same instant of the database: the population present (its presence by
district, nationality and permit type, overstays, permits expiring, data
quality), the alerts as of the report's instant (rebuilt from their events,
so a report of a past day says what was open then), the agencies' feeds and
deliveries, the officers' reviews, and the sightings outside the regency.
Each statement returns its lists as JSON built in the database, so a million
persons cost one pass over each table and no row-by-row traffic.

The definitions are the rules' own (``scheduler/rules/base.py``): present is
entered by ``as_of`` and not left by then; a stay's permit state is its last
period; a person's district and village are those of their current address;
a day is the office's (WIB). An alert is open from its first event to the
first that resolves or dismisses it; its status, severity and place are
those of its last event by ``as_of``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any, LiteralString

import psycopg

from exchange_service.domain import report_tables as rt
from exchange_service.domain.alerts import OPEN_STATUSES, Severity
from exchange_service.domain.delivery import DELIVER_ACTION
from exchange_service.domain.report import (
    DistrictFigure,
    EarlyWarningReport,
    Edition,
    Headline,
    MapPoint,
    ReportQuery,
    Table,
    TrendDay,
)

_OPEN = "(" + ", ".join(f"'{status}'" for status in sorted(OPEN_STATUSES)) + ")"
_TREND_DAYS = 90


def _name(person: LiteralString) -> LiteralString:
    # As officers write it, and as the rules' evidence does: FAMILY NAME Given Names.
    return f"concat_ws(' ', upper({person}.family_name), nullif({person}.given_names, ''))"


def _day(instant: LiteralString) -> LiteralString:
    return f"CAST(timezone(%(timezone)s::text, {instant}) AS date)"


# --- the population present ------------------------------------------------------------

_POPULATION_SQL: LiteralString = f"""
WITH present AS MATERIALIZED (
    SELECT s.id AS stay_id, s.person_id, s.permit_valid_until, s.permit_type, s.permit_id,
        ad.district_code, ad.village_code, ca.person_id IS NOT NULL AS has_address
    FROM stays s
    LEFT JOIN current_addresses ca ON ca.person_id = s.person_id
    LEFT JOIN addresses ad ON ad.id = ca.address_id
    WHERE s.entered_at <= %(as_of)s::timestamptz
      AND (s.exited_at IS NULL OR s.exited_at > %(as_of)s::timestamptz)
      AND (%(district)s::text = '' OR ad.district_code = %(district)s::text)
),
listed AS MATERIALIZED (
    -- The present persons a list names: overstaying, or their permit ending soon.
    SELECT pr.*, {_name("p")} AS name, p.nationality,
        lp.permit_number, lp.sponsor, dn.name AS district_name, vn.name AS village_name,
        (SELECT d.number FROM travel_documents d WHERE d.person_id = pr.person_id
         ORDER BY d.recorded_at DESC, d.id DESC LIMIT 1) AS document
    FROM present pr
    JOIN persons p ON p.id = pr.person_id
    LEFT JOIN stay_permits lp ON lp.id = pr.permit_id
    LEFT JOIN districts dn ON dn.code = pr.district_code
    LEFT JOIN villages vn ON vn.code = pr.village_code
    WHERE pr.permit_valid_until < %(today)s::date
       OR pr.permit_valid_until <= %(today)s::date + %(expiring_days)s::int
)
SELECT
    (SELECT coalesce(json_agg(json_build_array(g.district_code, g.nationality, g.permit_type, g.n)
        ORDER BY g.district_code NULLS LAST, g.n DESC, g.nationality, g.permit_type), '[]')
     FROM (SELECT pr.district_code, p.nationality, pr.permit_type, count(*) AS n
           FROM present pr JOIN persons p ON p.id = pr.person_id
           GROUP BY 1, 2, 3) g) AS presence,
    (SELECT coalesce(json_agg(json_build_array(
            l.name, l.nationality, l.document, l.permit_type, l.permit_number,
            l.permit_valid_until, %(today)s::date - l.permit_valid_until,
            (%(today)s::date - l.permit_valid_until) * %(fee)s::bigint,
            l.district_name, l.village_name,
            -- The status of its OVERSTAY alert as of the report's instant, if open then.
            (SELECT st.status FROM (
                SELECT (SELECT e.status FROM alert_events e WHERE e.alert_id = a.id
                        AND e.occurred_at <= %(as_of)s::timestamptz
                        ORDER BY e.seq DESC LIMIT 1) AS status
                FROM alerts a
                WHERE a.rule = 'OVERSTAY' AND a.subject_kind = 'PERSON'
                  AND a.subject_id = CAST(l.person_id AS text) AND a.stay_id = l.stay_id
             ) st WHERE st.status IN {_OPEN} LIMIT 1),
            l.district_code)
        ORDER BY l.permit_valid_until, l.name, l.stay_id), '[]')
     FROM listed l WHERE l.permit_valid_until < %(today)s::date) AS overstays,
    (SELECT coalesce(json_agg(json_build_array(
            l.name, l.nationality, l.document, l.permit_type, l.permit_number,
            l.permit_valid_until, l.permit_valid_until - %(today)s::date, l.sponsor,
            l.district_name, l.village_name, l.district_code)
        ORDER BY l.permit_valid_until, l.name, l.stay_id), '[]')
     FROM listed l WHERE l.permit_valid_until >= %(today)s::date) AS expiring
"""

# --- the alerts as of the report's instant -----------------------------------------------

_ALERTS_SQL: LiteralString = f"""
WITH life AS MATERIALIZED (
    SELECT e.alert_id,
        min(e.rule) AS rule,
        min(e.occurred_at) AS opened_at,
        min(e.occurred_at) FILTER (WHERE e.status IN ('RESOLVED', 'DISMISSED')) AS closed_at,
        (array_agg(e.status ORDER BY e.seq DESC))[1] AS status,
        (array_agg(e.severity ORDER BY e.seq DESC))[1] AS severity,
        (array_agg(e.district_code ORDER BY e.seq DESC))[1] AS district_code,
        (array_agg(e.village_code ORDER BY e.seq DESC))[1] AS village_code
    FROM alert_events e
    WHERE e.occurred_at <= %(as_of)s::timestamptz
    GROUP BY e.alert_id
),
scoped AS MATERIALIZED (
    SELECT l.*,
        floor(extract(epoch FROM %(as_of)s::timestamptz - l.opened_at) / 86400)::int + 1
            AS age_days,
        (%(deadlines)s::jsonb ->> l.severity)::int AS deadline_days
    FROM life l
    WHERE %(district)s::text = '' OR l.district_code = %(district)s::text
),
open_alerts AS MATERIALIZED (
    SELECT s.*, a.subject_kind, a.subject_id, a.evidence,
        coalesce(a.evidence ->> 'person_name', a.evidence ->> 'sponsor') AS subject,
        dn.name AS district_name, vn.name AS village_name
    FROM scoped s
    JOIN alerts a ON a.id = s.alert_id
    LEFT JOIN districts dn ON dn.code = s.district_code
    LEFT JOIN villages vn ON vn.code = s.village_code
    WHERE s.status IN {_OPEN}
),
days AS (
    SELECT CAST(d AS date) AS day
    FROM generate_series(%(today)s::date - {_TREND_DAYS - 1}, %(today)s::date, interval '1 day') d
),
opened AS (SELECT {_day("opened_at")} AS day, count(*) AS n FROM scoped GROUP BY 1),
closed AS (
    SELECT {_day("closed_at")} AS day, count(*) AS n FROM scoped
    WHERE closed_at IS NOT NULL GROUP BY 1
),
every_day AS (SELECT day FROM days UNION SELECT day FROM opened UNION SELECT day FROM closed),
running AS (
    SELECT e.day, coalesce(o.n, 0) AS opened, coalesce(c.n, 0) AS closed,
        sum(coalesce(o.n, 0) - coalesce(c.n, 0)) OVER (ORDER BY e.day) AS open_at_end
    FROM every_day e
    LEFT JOIN opened o ON o.day = e.day
    LEFT JOIN closed c ON c.day = e.day
)
SELECT
    (SELECT coalesce(json_agg(json_build_array(g.rule, g.severity, g.new, g.open, g.resolved,
            g.dismissed) ORDER BY g.rule, g.severity), '[]')
     FROM (SELECT rule, severity,
              count(*) FILTER (WHERE opened_at > %(window_start)s::timestamptz) AS new,
              count(*) FILTER (WHERE status IN {_OPEN}) AS open,
              count(*) FILTER (WHERE status = 'RESOLVED'
                  AND closed_at > %(window_start)s::timestamptz) AS resolved,
              count(*) FILTER (WHERE status = 'DISMISSED'
                  AND closed_at > %(window_start)s::timestamptz) AS dismissed
           FROM scoped GROUP BY rule, severity) g
     WHERE g.new + g.open + g.resolved + g.dismissed > 0) AS by_rule,
    (SELECT coalesce(json_agg(json_build_array(g.rule, g.severity, g.a1, g.a2, g.a3, g.a4,
            g.late, g.deadline_days) ORDER BY g.rule, g.severity), '[]')
     FROM (SELECT rule, severity,
              count(*) FILTER (WHERE age_days <= 5) AS a1,
              count(*) FILTER (WHERE age_days BETWEEN 6 AND 10) AS a2,
              count(*) FILTER (WHERE age_days BETWEEN 11 AND 30) AS a3,
              count(*) FILTER (WHERE age_days > 30) AS a4,
              count(*) FILTER (WHERE age_days > deadline_days) AS late,
              min(deadline_days) AS deadline_days
           FROM open_alerts GROUP BY rule, severity) g) AS by_age,
    (SELECT coalesce(json_agg(json_build_array(o.alert_id, o.rule, o.severity, o.status,
            o.subject, o.district_name, o.village_name, o.opened_at, o.age_days, o.deadline_days)
        ORDER BY o.age_days - o.deadline_days DESC, o.opened_at, o.alert_id), '[]')
     FROM open_alerts o WHERE o.age_days > o.deadline_days) AS past_deadline,
    (SELECT coalesce(json_agg(json_build_array(o.alert_id, o.rule, o.status, o.subject,
            o.evidence ->> 'nationality', o.district_name, o.village_name, o.age_days)
        ORDER BY o.opened_at, o.alert_id), '[]')
     FROM open_alerts o WHERE o.severity = 'CRITICAL') AS critical,
    (SELECT coalesce(json_agg(json_build_array(g.longitude, g.latitude, g.n, g.rules,
            g.village_code, g.village_name) ORDER BY g.village_code, g.longitude, g.latitude),
            '[]')
     FROM (SELECT ST_X(ca.location::geometry) AS longitude, ST_Y(ca.location::geometry) AS latitude,
              count(*) AS n, string_agg(DISTINCT o.rule, ', ' ORDER BY o.rule) AS rules,
              coalesce(o.village_code, '') AS village_code, min(o.village_name) AS village_name
           FROM open_alerts o
           JOIN current_addresses ca ON o.subject_kind = 'PERSON'
               AND ca.person_id = CAST(o.subject_id AS uuid)
           WHERE o.severity = 'CRITICAL'
           GROUP BY 1, 2, 5) g) AS points,
    (SELECT coalesce(json_agg(json_build_array(o.alert_id, o.subject, o.evidence ->> 'nationality',
            (SELECT string_agg(DISTINCT m ->> 'list', ', ' ORDER BY m ->> 'list')
             FROM jsonb_array_elements(o.evidence -> 'watchlist_matches') m),
            (o.evidence ->> 'best_score')::numeric, o.severity, o.status, o.district_name,
            o.age_days, o.district_code)
        ORDER BY (o.evidence ->> 'best_score')::numeric DESC, o.alert_id), '[]')
     FROM open_alerts o
     WHERE o.rule = 'WATCHLIST_MATCH' AND o.status IN ('OPEN', 'ACKNOWLEDGED')) AS watchlist,
    (SELECT coalesce(json_agg(json_build_array(o.alert_id, o.subject,
            o.evidence ->> 'nationality', o.district_name, o.village_name,
            jsonb_array_length(coalesce(o.evidence -> 'far_sightings', '[]'::jsonb)),
            (SELECT min(f ->> 'seen_on') FROM
                jsonb_array_elements(coalesce(o.evidence -> 'far_sightings', '[]'::jsonb)) f),
            o.status, o.age_days, o.district_code)
        ORDER BY o.opened_at, o.alert_id), '[]')
     FROM open_alerts o WHERE o.rule = 'UNREPORTED_ADDRESS_CHANGE') AS moves,
    (SELECT coalesce(json_agg(json_build_array(g.district_code, g.open, g.critical)), '[]')
     FROM (SELECT district_code, count(*) AS open,
              count(*) FILTER (WHERE severity = 'CRITICAL') AS critical
           FROM open_alerts GROUP BY district_code) g) AS by_district,
    (SELECT coalesce(json_agg(json_build_array(r.day, r.opened, r.closed, r.open_at_end)
        ORDER BY r.day), '[]')
     FROM running r WHERE r.day >= %(today)s::date - {_TREND_DAYS - 1}
       AND r.day <= %(today)s::date) AS trend,
    (SELECT count(*) FROM scoped WHERE opened_at > %(window_start)s::timestamptz) AS new_24h
"""

# --- the agencies' feeds, their deliveries and acknowledgements ----------------------------

_AGENCIES_SQL: LiteralString = """
WITH entries AS MATERIALIZED (
    SELECT f.agency_id, encode(f.entry_hash, 'hex') AS digest, f.acknowledged_at,
        e.occurred_at AS detected_at, e.alert_id
    FROM feed_entries f
    JOIN alert_events e ON e.seq = f.event_seq
    WHERE e.occurred_at > %(response_start)s::timestamptz
      AND e.occurred_at <= %(as_of)s::timestamptz
      AND (%(district)s::text = '' OR e.district_code = %(district)s::text)
),
pushes AS (
    SELECT split_part(recipient, '/', 1) AS agency_id, request_digest AS digest, min(at) AS at
    FROM (
        SELECT recipient, CAST(request_digest AS text) AS request_digest, at FROM audit_records
        WHERE method = %(deliver)s AND at > %(response_start)s::timestamptz
          AND at <= %(as_of)s::timestamptz
        UNION ALL
        SELECT recipient, CAST(request_digest AS text), at FROM audit_inbox
        WHERE action = %(deliver)s AND at > %(response_start)s::timestamptz
          AND at <= %(as_of)s::timestamptz
    ) d
    GROUP BY 1, 2
),
timed AS (
    SELECT en.*, p.at AS delivered_at,
        CASE WHEN en.acknowledged_at <= %(as_of)s::timestamptz THEN en.acknowledged_at END
            AS acked_at
    FROM entries en
    LEFT JOIN pushes p ON p.agency_id = en.agency_id AND p.digest = en.digest
),
resolved AS (
    SELECT t.agency_id, a.id, a.resolved_at - a.first_detected_at AS took
    FROM (SELECT DISTINCT agency_id, alert_id FROM entries) t
    JOIN alerts a ON a.id = t.alert_id
    WHERE a.resolved_at <= %(as_of)s::timestamptz
),
lanes AS (
    SELECT agency_id, string_agg(channel, ', ' ORDER BY channel) AS channels
    FROM delivery_lanes WHERE enabled GROUP BY agency_id
),
dead AS (
    SELECT agency_id, count(*) AS n FROM delivery_dead_letters
    WHERE requeued_at IS NULL AND at <= %(as_of)s::timestamptz GROUP BY agency_id
),
hours AS (SELECT 3600.0 AS s)
SELECT h.agency_id, coalesce(l.channels, ''),
    (SELECT count(*) FROM timed t WHERE t.agency_id = h.agency_id
        AND t.detected_at > %(window_start)s::timestamptz),
    (SELECT count(*) FROM timed t WHERE t.agency_id = h.agency_id
        AND t.delivered_at > %(window_start)s::timestamptz),
    CASE WHEN l.channels IS NOT NULL THEN
        (SELECT count(*) FROM timed t WHERE t.agency_id = h.agency_id AND t.delivered_at IS NULL)
    END,
    (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
        ORDER BY extract(epoch FROM t.delivered_at - t.detected_at) / (SELECT s FROM hours))
     FROM timed t WHERE t.agency_id = h.agency_id AND t.delivered_at IS NOT NULL),
    (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
        ORDER BY extract(epoch FROM t.acked_at - t.detected_at) / (SELECT s FROM hours))
     FROM timed t WHERE t.agency_id = h.agency_id AND t.acked_at IS NOT NULL),
    (SELECT CASE WHEN count(*) > 0 THEN count(t.acked_at)::float / count(*) END
     FROM timed t WHERE t.agency_id = h.agency_id),
    (SELECT percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (
        ORDER BY extract(epoch FROM r.took) / (SELECT s FROM hours))
     FROM resolved r WHERE r.agency_id = h.agency_id),
    coalesce(d.n, 0)
FROM feed_heads h
LEFT JOIN lanes l ON l.agency_id = h.agency_id
LEFT JOIN dead d ON d.agency_id = h.agency_id
ORDER BY h.agency_id
"""

# --- the officers' reviews: how often each rule was wrong ---------------------------------

_REVIEWS_SQL: LiteralString = """
SELECT rule,
    count(*) FILTER (WHERE status = 'CONFIRMED'),
    count(*) FILTER (WHERE status = 'DISMISSED')
FROM (
    SELECT DISTINCT ON (e.alert_id) e.rule, e.status
    FROM alert_events e
    WHERE e.kind = 'REVIEWED' AND e.status IN ('CONFIRMED', 'DISMISSED')
      AND e.occurred_at > %(review_start)s::timestamptz
      AND e.occurred_at <= %(as_of)s::timestamptz
      AND (%(district)s::text = '' OR e.district_code = %(district)s::text)
    ORDER BY e.alert_id, e.seq DESC
) decided
GROUP BY rule ORDER BY rule
"""

# --- data quality over the whole regency --------------------------------------------------

_QUALITY_SQL: LiteralString = """
WITH present AS (
    SELECT s.person_id, s.permit_id FROM stays s
    WHERE s.entered_at <= %(as_of)s::timestamptz
      AND (s.exited_at IS NULL OR s.exited_at > %(as_of)s::timestamptz)
)
SELECT
    (SELECT count(DISTINCT pr.person_id) FROM present pr
     WHERE NOT EXISTS (SELECT 1 FROM current_addresses ca WHERE ca.person_id = pr.person_id)),
    (SELECT count(*) FROM present pr WHERE pr.permit_id IS NULL),
    (SELECT count(*) FROM sightings g WHERE g.district_code IS NULL
        AND g.observed_at > %(window_start)s::timestamptz
        AND g.observed_at <= %(as_of)s::timestamptz),
    (SELECT count(*) FROM sightings g WHERE g.district_code IS NULL
        AND g.observed_at > %(response_start)s::timestamptz
        AND g.observed_at <= %(as_of)s::timestamptz)
"""

_DISTRICTS_SQL: LiteralString = "SELECT code, name FROM districts ORDER BY code"


class ReportReader:
    """Reads a report's figures on one connection, in one snapshot."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def report(self, query: ReportQuery) -> EarlyWarningReport:
        """The full edition of the report ``query`` asks for."""
        options = query.options
        window_start = query.as_of - timedelta(hours=24)
        params: dict[str, Any] = {
            "as_of": query.as_of,
            "window_start": window_start,
            "today": query.date,
            "timezone": query.timezone,
            "district": query.district_code,
            "expiring_days": options.expiring_within_days,
            "fee": options.overstay_fee_per_day_idr,
            "deadlines": json.dumps(
                {str(s): options.deadline_days.get(str(s), 0) for s in Severity}
            ),
            "response_start": query.as_of - timedelta(days=options.response_window_days),
            "review_start": query.as_of - timedelta(days=options.review_window_days),
            "deliver": DELIVER_ACTION,
        }
        with self._snapshot():
            districts = {str(c): str(n) for c, n in self._fetch(_DISTRICTS_SQL, params)}
            population = self._fetch(_POPULATION_SQL, params)[0]
            alerts = self._fetch(_ALERTS_SQL, params)[0]
            agencies = self._fetch(_AGENCIES_SQL, params)
            reviews = self._fetch(_REVIEWS_SQL, params)
            quality = self._fetch(_QUALITY_SQL, params)[0]
        return _assemble(
            query,
            window_start=window_start,
            district_names=districts,
            population=population,
            alerts=alerts,
            agencies=agencies,
            reviews=reviews,
            quality=quality,
        )

    def _fetch(self, sql: LiteralString, params: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        return self._connection.execute(sql, params).fetchall()

    def _snapshot(self) -> Any:
        # One snapshot for every statement; inside a caller's transaction (the service
        # tests' savepoints) that transaction's snapshot already is one.
        if self._connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            return _Nothing()
        return _RepeatableRead(self._connection)


class _Nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


class _RepeatableRead:
    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection
        self._transaction: Any = None

    def __enter__(self) -> None:
        self._transaction = self._connection.transaction()
        self._transaction.__enter__()
        self._connection.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def __exit__(self, *exc: object) -> None:
        self._transaction.__exit__(*exc)


# --- from rows to the report ----------------------------------------------------------------


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _day_of(value: str | None) -> date | None:
    return None if value is None else date.fromisoformat(value[:10])


def _hours(pair: Sequence[float] | None) -> tuple[float | None, float | None]:
    if not pair:
        return None, None
    return (round(pair[0], 2), round(pair[1], 2))


def _assemble(
    query: ReportQuery,
    *,
    window_start: datetime,
    district_names: Mapping[str, str],
    population: Sequence[Any],
    alerts: Sequence[Any],
    agencies: Sequence[Sequence[Any]],
    reviews: Sequence[Sequence[Any]],
    quality: Sequence[Any],
) -> EarlyWarningReport:
    presence, overstays, expiring = population
    (
        by_rule,
        by_age,
        past_deadline,
        critical,
        points,
        watchlist,
        moves,
        open_by_district,
        trend,
        new_24h,
    ) = alerts
    options = query.options

    def district(code: str | None) -> str | None:
        return None if code is None else district_names.get(code, code)

    present_in: dict[str | None, int] = {}
    for code, _, _, n in presence:
        present_in[code] = present_in.get(code, 0) + n
    open_in = {code: (n, critical_n) for code, n, critical_n in open_by_district}
    figures = []
    for code, name in district_names.items():
        in_scope = query.district_code in ("", code)
        present = present_in.get(code, 0) if in_scope else 0
        open_n, critical_n = open_in.get(code, (0, 0)) if in_scope else (0, 0)
        figures.append(
            DistrictFigure(
                code=code,
                name=name,
                foreigners_present=present,
                open_alerts=open_n,
                critical_open=critical_n,
                open_per_100=round(100 * open_n / present, 2) if present else None,
                in_scope=in_scope,
            )
        )

    overstay_rows = [(*row[:5], _day_of(row[5]), *row[6:11]) for row in overstays]
    by_district_overstay: dict[str | None, list[int]] = {}
    for row in overstays:
        totals = by_district_overstay.setdefault(row[11], [0, 0, 0, 0])
        totals[0] += 1
        totals[1] += row[6]
        totals[2] += row[7]
        totals[3] += row[6] > 60
    trend_days = tuple(TrendDay(date.fromisoformat(d), o, c, int(n)) for d, o, c, n in trend)
    counts_by = _counts_by_district
    tables: list[Table] = [
        rt.ALERTS_BY_RULE.table(by_rule),
        rt.OPEN_BY_AGE.table(by_age),
        rt.PAST_DEADLINE.table(
            (a, r, s, st, subj, d, v, _instant(at), age, dl)
            for a, r, s, st, subj, d, v, at, age, dl in past_deadline
        ),
        rt.CRITICAL_CASES.table(critical),
        rt.OVERSTAYS.table(overstay_rows),
        rt.OVERSTAYS_BY_DISTRICT.table(
            (district(code), *totals)
            for code, totals in sorted(by_district_overstay.items(), key=_code_order)
        ),
        rt.UNREPORTED_MOVES.table((*row[:6], _day_of(row[6]), row[7], row[8]) for row in moves),
        rt.UNREPORTED_MOVES_BY_DISTRICT.table(counts_by((row[9] for row in moves), district)),
        rt.WATCHLIST_PENDING.table(
            (*row[:4], None if row[4] is None else float(row[4]), *row[5:9]) for row in watchlist
        ),
        rt.WATCHLIST_PENDING_BY_DISTRICT.table(counts_by((row[9] for row in watchlist), district)),
        rt.PERMITS_EXPIRING.table((*row[:5], _day_of(row[5]), *row[6:10]) for row in expiring),
        rt.PERMITS_EXPIRING_BY_DISTRICT.table(_expiring_by_district(expiring, district)),
        rt.PRESENT_BY_DISTRICT.table(
            (district(code), nationality, permit_type, n)
            for code, nationality, permit_type, n in presence
        ),
        rt.TREND_SUMMARY.table(_trend_summary(trend_days)),
        rt.TREND.table((t.day, t.opened, t.closed, t.open_at_end) for t in trend_days),
        rt.AGENCIES.table(_agency_rows(agencies, query.agency_names)),
        rt.FALSE_POSITIVES.table(
            (rule, confirmed, dismissed, round(dismissed / (confirmed + dismissed), 4))
            for rule, confirmed, dismissed in reviews
        ),
        rt.DATA_QUALITY.table(_quality_rows(quality)),
    ]
    open_total = sum(row[3] for row in by_rule)
    headlines = (
        Headline("present", "Orang asing berada", "Foreigners present", sum(present_in.values())),
        Headline("open_alerts", "Peringatan terbuka", "Open alerts", open_total),
        Headline("new_alerts", "Peringatan baru (24 jam)", "New alerts (24 h)", int(new_24h)),
        Headline("critical_open", "KRITIS terbuka", "CRITICAL open", len(critical)),
        Headline("overstays", "Overstay", "Overstays", len(overstays)),
        Headline(
            "fees_idr",
            "Biaya beban terhitung",
            "Fees accrued",
            sum(row[7] for row in overstays),
            rt.K.IDR,
        ),
        Headline("past_deadline", "Lewat tenggat", "Past deadline", len(past_deadline)),
        Headline(
            "watchlist_pending",
            "Kecocokan menunggu konfirmasi",
            "Matches awaiting confirmation",
            len(watchlist),
        ),
        Headline("expiring", "Izin berakhir ≤ 14 hari", "Permits ending ≤ 14 days", len(expiring)),
    )
    return EarlyWarningReport(
        date=query.date,
        district_code=query.district_code,
        area_name=(
            district_names.get(query.district_code, query.district_code)
            if query.district_code
            else "Kabupaten Kepulauan Anambas"
        ),
        edition=Edition.FULL,
        as_of=query.as_of,
        window_start=window_start,
        made_at=query.made_at,
        options=options,
        headlines=headlines,
        districts=tuple(figures),
        critical_points=tuple(
            MapPoint(
                longitude=round(lon, 6),
                latitude=round(lat, 6),
                count=n,
                label=f"{rules} · {village or '-'}",
                village_code=village_code,
            )
            for lon, lat, n, rules, village_code, village in points
        ),
        trend=trend_days,
        tables=tuple(tables),
        timezone=query.timezone,
    )


def _code_order(item: tuple[str | None, Any]) -> tuple[bool, str]:
    return (item[0] is None, item[0] or "")


def _counts_by_district(codes: Any, district: Any) -> list[tuple[str | None, int]]:
    counts: dict[str | None, int] = {}
    for code in codes:
        counts[code] = counts.get(code, 0) + 1
    return [(district(code), n) for code, n in sorted(counts.items(), key=_code_order)]


def _expiring_by_district(expiring: Sequence[Sequence[Any]], district: Any) -> list[Any]:
    counts: dict[tuple[str | None, str | None], int] = {}
    for row in expiring:
        key = (row[10], row[3])
        counts[key] = counts.get(key, 0) + 1
    return [
        (district(code), permit_type, n)
        for (code, permit_type), n in sorted(
            counts.items(), key=lambda kv: (kv[0][0] is None, kv[0][0] or "", kv[0][1] or "")
        )
    ]


def _trend_summary(days: Sequence[TrendDay]) -> list[tuple[int, int, int, int, int, int]]:
    rows = []
    for span in (30, 90):
        part = days[-span:]
        if not part:
            continue
        start = part[0].open_at_end - part[0].opened + part[0].closed
        end = part[-1].open_at_end
        rows.append(
            (
                span,
                sum(d.opened for d in part),
                sum(d.closed for d in part),
                start,
                end,
                end - start,
            )
        )
    return rows


def _agency_rows(rows: Sequence[Sequence[Any]], names: Mapping[str, str]) -> list[tuple[Any, ...]]:
    out = []
    for agency_id, channels, entries, delivered, awaiting, push, ack, acked, took, dead in rows:
        out.append(
            (
                names.get(agency_id, agency_id),
                channels or "PULL",
                entries,
                delivered,
                awaiting,
                *_hours(push),
                *_hours(ack),
                None if acked is None else round(acked, 4),
                *_hours(took),
                dead,
            )
        )
    return out


QUALITY_CHECKS = (
    ("NO_ADDRESS", "Orang asing berada tanpa alamat", "Foreigners present with no address"),
    ("NO_PERMIT", "Tinggal tanpa izin tercatat", "Stays present with no permit recorded"),
    (
        "SIGHTED_OUTSIDE_24H",
        "Penampakan di luar kabupaten (24 jam)",
        "Sightings outside the regency (24 h)",
    ),
    (
        "SIGHTED_OUTSIDE_30D",
        "Penampakan di luar kabupaten (30 hari)",
        "Sightings outside the regency (30 days)",
    ),
)


def _quality_rows(values: Sequence[int]) -> list[tuple[str, str, str, int]]:
    return [
        (key, label_id, label_en, n)
        for (key, label_id, label_en), n in zip(QUALITY_CHECKS, values, strict=True)
    ]
