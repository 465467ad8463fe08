"""Alerts inside a caller's transaction: a rule run's diff in one statement, its record, reviews.

``apply_rule`` embeds the rule's two statements in one SQL statement whose
data-modifying CTEs, on one snapshot, resolve the alerts whose reason holds,
update the open alerts whose finding changed (ESCALATED when the severity
rises), open alerts for new findings and append one ``alert_events`` row per
change. Nothing is looped over in Python. Each UPDATE re-checks its row's
state and the INSERT yields to the unique index of open alerts, so even two
runs of a rule that were not serialised (``lock_rule``) could not open an
alert twice or append an event for a change already made.

A review locks its alert, then writes the new status and its REVIEWED event
in the same transaction; a rule run changing that alert meanwhile waits for
it, and then sees the reviewed status. ``alert_from_row`` and
``event_from_row`` parse the rows of both this store and the read path
(``alert_reader``).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session

from exchange_service.domain import alerts as a
from exchange_service.domain.audit import Actor

_OPEN = "(" + ", ".join(f"'{status}'" for status in sorted(a.OPEN_STATUSES)) + ")"
_SEVERITIES = "ARRAY[" + ", ".join(f"'{severity}'" for severity in a.SEVERITY_ORDER) + "]"

# The columns of an alert that its events carry, as of each event.
_EVENT_COLUMNS = (
    "id, rule, subject_kind, subject_id, stay_id, severity, status, district_code,"
    " village_code, evidence, summary_id, summary_en, action, resolution_reason"
)
# What a finding says of an alert: a change to any of them is an update.
_FINDING = "severity, district_code, village_code, evidence, facts, summary_id, summary_en, action"


def _of(alias: str, columns: str) -> str:
    return ", ".join(f"{alias}.{column.strip()}" for column in columns.split(","))


# Where the rule's statements go (on lines of their own: a trailing comment stays theirs).
_FINDINGS, _RESOLUTIONS = "/* findings */", "/* resolutions */"
_SAME_KEY = (
    "o.subject_kind = f.subject_kind AND o.subject_id = f.subject_id"
    " AND o.stay_id IS NOT DISTINCT FROM f.stay_id"
)

_DIFF = f"""
WITH found_all AS NOT MATERIALIZED (
{_FINDINGS}
),
-- The findings' keys and digests alone: the planner drops the columns this does not read
-- from the rule's statement, so nothing is rendered here.
found AS MATERIALIZED (
    SELECT subject_kind, subject_id, stay_id,
        CAST(md5(inputs || :definition) AS uuid) AS digest
    FROM found_all
),
resolving AS MATERIALIZED (
{_RESOLUTIONS}
),
open_alerts AS MATERIALIZED (
    SELECT id, subject_kind, subject_id, stay_id, digest
    FROM alerts WHERE rule = :rule AND status IN {_OPEN}
),
resolution AS (
    SELECT DISTINCT ON (r.alert_id) r.alert_id, r.reason
    FROM resolving r JOIN open_alerts o ON o.id = r.alert_id
    ORDER BY r.alert_id, r.reason
),
resolved AS (
    UPDATE alerts x
    SET status = 'RESOLVED', resolution_reason = r.reason, resolved_at = :as_of,
        changed_at = :as_of
    FROM resolution r
    WHERE x.id = r.alert_id AND x.status IN {_OPEN}
    RETURNING x.*
),
-- The findings to render: new ones, and those of open alerts (not resolving now) whose
-- digest changed. A rerun with nothing changed has none.
stale AS MATERIALIZED (
    SELECT f.subject_kind, f.subject_id, f.stay_id, f.digest, o.id AS alert_id
    FROM found f LEFT JOIN open_alerts o ON {_SAME_KEY}
    WHERE o.id IS NULL
       OR (o.digest IS DISTINCT FROM f.digest
           AND NOT EXISTS (SELECT 1 FROM resolution r WHERE r.alert_id = o.id))
),
-- Rendered only when there is something to render (a one-time filter: with nothing stale
-- the rule's statement is not run again).
rendered AS MATERIALIZED (
    SELECT s.alert_id, s.digest, {_of("fa", "subject_kind, subject_id, stay_id")},
        {_of("fa", _FINDING)}
    FROM found_all fa
    JOIN stale s ON s.subject_kind = fa.subject_kind AND s.subject_id = fa.subject_id
        AND s.stay_id IS NOT DISTINCT FROM fa.stay_id
    WHERE EXISTS (SELECT 1 FROM stale)
),
changed AS (
    SELECT o.id, f.digest, {_of("f", _FINDING)},
        ({_of("o", _FINDING)}) IS DISTINCT FROM ({_of("f", _FINDING)}) AS differs,
        array_position({_SEVERITIES}, f.severity)
            > array_position({_SEVERITIES}, o.severity) AS escalates
    FROM rendered f JOIN alerts o ON o.id = f.alert_id
),
-- A new digest whose finding renders the same (an input no part of it shows) is noted,
-- with no event: nothing an agency sees changed.
updated AS (
    UPDATE alerts x
    SET severity = c.severity, district_code = c.district_code, village_code = c.village_code,
        evidence = c.evidence, facts = c.facts, summary_id = c.summary_id,
        summary_en = c.summary_en, action = c.action, digest = c.digest,
        changed_at = CASE WHEN c.differs THEN CAST(:as_of AS timestamptz) ELSE x.changed_at END
    FROM changed c
    WHERE x.id = c.id AND x.status IN {_OPEN}
    RETURNING x.*, c.escalates, c.differs
),
opened AS (
    INSERT INTO alerts (id, rule, subject_kind, subject_id, stay_id, status, {_FINDING},
        digest, first_detected_at, changed_at)
    SELECT gen_random_uuid(), :rule, f.subject_kind, f.subject_id, f.stay_id, 'OPEN',
        {_of("f", _FINDING)}, f.digest, :as_of, :as_of
    FROM rendered f
    WHERE f.alert_id IS NULL
      -- A false positive stays dismissed while its facts are the same.
      AND NOT EXISTS (
          SELECT 1 FROM alerts o
          WHERE o.rule = :rule AND o.status = 'DISMISSED' AND {_SAME_KEY} AND o.facts = f.facts
      )
    ON CONFLICT (rule, subject_kind, subject_id, stay_id) WHERE status IN {_OPEN} DO NOTHING
    RETURNING *
),
changes AS (
    SELECT 'OPENED' AS kind, {_EVENT_COLUMNS} FROM opened
    UNION ALL
    SELECT CASE WHEN escalates THEN 'ESCALATED' ELSE 'UPDATED' END, {_EVENT_COLUMNS}
    FROM updated WHERE differs
    UNION ALL
    SELECT 'RESOLVED', {_EVENT_COLUMNS} FROM resolved
),
events AS (
    INSERT INTO alert_events (alert_id, kind, rule, subject_kind, subject_id, stay_id, severity,
        status, district_code, village_code, evidence, summary_id, summary_en, action,
        resolution_reason, actor_id, actor_kind, officer, rule_run_id, occurred_at)
    SELECT id, kind, rule, subject_kind, subject_id, stay_id, severity, status, district_code,
        village_code, evidence, summary_id, summary_en, action, resolution_reason,
        :actor_id, :actor_kind, :officer, :run_id, :as_of
    FROM changes
    RETURNING kind, subject_kind, subject_id
)
SELECT
    (SELECT count(*) FROM found) AS findings,
    (SELECT count(*) FROM resolving) AS resolutions,
    (SELECT count(*) FROM (
        SELECT 1 FROM found GROUP BY subject_kind, subject_id, stay_id HAVING count(*) > 1
    ) twice) AS found_twice,
    count(*) FILTER (WHERE kind = 'OPENED') AS opened,
    count(*) FILTER (WHERE kind = 'UPDATED') AS updated,
    count(*) FILTER (WHERE kind = 'ESCALATED') AS escalated,
    count(*) FILTER (WHERE kind = 'RESOLVED') AS resolved,
    coalesce(array_agg(DISTINCT subject_id) FILTER (WHERE subject_kind = 'PERSON'),
        ARRAY[]::text[]) AS person_ids
FROM events
"""

_RECORD_RUN = text(
    "INSERT INTO rule_runs (id, rule, as_of, started_at, finished_at, actor, rows_scanned,"
    " opened, updated, escalated, resolved, error, fence_lease, fence_term)"
    " VALUES (:id, :rule, :as_of, :started_at, :finished_at, :actor, :rows_scanned, :opened,"
    " :updated, :escalated, :resolved, :error, :fence_lease, :fence_term)"
)
# For the run's transaction alone: its hashes (its findings against the rule's open
# alerts, a whole population's worth) fit in memory rather than spill to disk; the
# statement, long and run once, is not compiled (JIT takes longer than it saves here);
# and a look-up by key is costed as on the solid-state storage and page cache the
# database runs on, so a window of some thousand stays is looked up person by person
# rather than joined to hashes of every person and address.
_RUN_SETTINGS = (
    text("SET LOCAL work_mem = '64MB'"),
    text("SET LOCAL jit = off"),
    text("SET LOCAL random_page_cost = 1.1"),
)
_LOCK_RULE = text("SELECT pg_advisory_xact_lock(hashtextextended('rule-run:' || :rule, 0))")

# What ``alert_from_row`` and ``event_from_row`` read, in the tables' own names.
ALERT_COLUMNS = (
    "id, rule, subject_kind, subject_id, stay_id, severity, status, district_code, village_code,"
    " evidence, summary_id, summary_en, action, facts, first_detected_at, changed_at,"
    " resolved_at, resolution_reason"
)
ALERT_EVENT_COLUMNS = (
    "seq, alert_id, kind, rule, subject_kind, subject_id, stay_id, severity, status,"
    " district_code, village_code, evidence, summary_id, summary_en, action, resolution_reason,"
    " actor_id, actor_kind, officer, note, rule_run_id, occurred_at, recorded_at"
)
_ALERT_BY_ID = text(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = :id")
_ALERT_LOCKED = text(f"SELECT {ALERT_COLUMNS} FROM alerts WHERE id = :id FOR UPDATE")
_ALERTS_OF_SUBJECT = text(
    f"SELECT {ALERT_COLUMNS} FROM alerts WHERE subject_id = :subject_id"
    " AND (CAST(:rule AS text) IS NULL OR rule = :rule)"
    " ORDER BY first_detected_at, id"
)
_EVENTS_OF_RUN = text(
    f"SELECT {ALERT_EVENT_COLUMNS} FROM alert_events WHERE rule_run_id = :id ORDER BY seq"
)
_EVENTS_OF_ALERT = text(
    f"SELECT {ALERT_EVENT_COLUMNS} FROM alert_events WHERE alert_id = :id ORDER BY seq"
)
_OPEN_OF_SAME_KEY = text(
    "SELECT o.id FROM alerts o JOIN alerts x ON x.id = :id"
    " WHERE o.rule = x.rule AND o.subject_kind = x.subject_kind"
    " AND o.subject_id = x.subject_id AND o.stay_id IS NOT DISTINCT FROM x.stay_id"
    f" AND o.status IN {_OPEN} AND o.id <> x.id"
)
# A review: the status it leads to, and the resolution only when it resolves.
# The status it was decided on is checked again, so a change made since (by a
# rule run, or another review) makes it change nothing.
_REVIEW = text(
    "UPDATE alerts SET status = :status, changed_at = :at,"
    " resolved_at = CASE WHEN :status = 'RESOLVED' THEN CAST(:at AS timestamptz) END,"
    " resolution_reason = CASE WHEN :status = 'RESOLVED' THEN :reason END"
    f" WHERE id = :id AND status = :from_status RETURNING {ALERT_COLUMNS}"
)
_REVIEWED_EVENT = text(
    "INSERT INTO alert_events (alert_id, kind, rule, subject_kind, subject_id, stay_id, severity,"
    " status, district_code, village_code, evidence, summary_id, summary_en, action,"
    " resolution_reason, actor_id, actor_kind, officer, note, rule_run_id, occurred_at)"
    " SELECT id, 'REVIEWED', rule, subject_kind, subject_id, stay_id, severity, status,"
    " district_code, village_code, evidence, summary_id, summary_en, action, resolution_reason,"
    " :actor_id, :actor_kind, :officer, :note, NULL, :at"
    f" FROM alerts WHERE id = :id RETURNING {ALERT_EVENT_COLUMNS}"
)
_ONE_OPEN_PER_KEY = "uq_alerts_one_open_per_key"
_RUN_BY_ID = text(
    "SELECT id, rule, as_of, started_at, finished_at, actor, rows_scanned, opened, updated,"
    " escalated, resolved, error, fence_lease, fence_term FROM rule_runs WHERE id = :id"
)


def _described(row: Mapping[Any, Any]) -> dict[str, Any]:
    """What an alert and each of its events both say of it, from their columns of one name."""
    reason = row["resolution_reason"]
    return {
        "rule": a.RuleName(row["rule"]),
        "subject_kind": a.SubjectKind(row["subject_kind"]),
        "subject_id": row["subject_id"],
        "stay_id": row["stay_id"],
        "severity": a.Severity(row["severity"]),
        "status": a.AlertStatus(row["status"]),
        "district_code": row["district_code"] or "",
        "village_code": row["village_code"] or "",
        "evidence": row["evidence"],
        "summary_id": row["summary_id"],
        "summary_en": row["summary_en"],
        "action": a.AdministrativeAction(row["action"]),
        "resolution_reason": None if reason is None else a.ResolutionReason(reason),
    }


def alert_from_row(row: Mapping[Any, Any]) -> a.Alert:
    """An alert from a row of ``ALERT_COLUMNS`` (the session's or the read path's)."""
    return a.Alert(
        id=row["id"],
        **_described(row),
        facts=row["facts"],
        first_detected_at=row["first_detected_at"],
        changed_at=row["changed_at"],
        resolved_at=row["resolved_at"],
    )


def event_from_row(row: Mapping[Any, Any]) -> a.AlertEvent:
    """An alert event from a row of ``ALERT_EVENT_COLUMNS``."""
    return a.AlertEvent(
        seq=row["seq"],
        alert_id=row["alert_id"],
        kind=a.AlertEventKind(row["kind"]),
        **_described(row),
        actor_id=row["actor_id"],
        actor_kind=row["actor_kind"],
        officer=row["officer"],
        note=row["note"],
        rule_run_id=row["rule_run_id"],
        occurred_at=row["occurred_at"],
        recorded_at=row["recorded_at"],
    )


def _definition(rule: a.RuleDefinition, parameters: Mapping[str, object]) -> str:
    """What a finding's rendering depends on besides its inputs: the rule's statement and its
    numbers (not the run's instant or day), as hex."""
    numbers = {k: v for k, v in parameters.items() if k not in a.ENGINE_PARAMETERS}
    described = json.dumps([rule.findings_sql, numbers], sort_keys=True, default=str)
    return hashlib.sha256(described.encode()).hexdigest()


class AlertStore:
    """The alert tables as seen from one transaction."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def lock_rule(self, rule: a.RuleName) -> None:
        """Serialises runs of the rule until the transaction ends: a second run waits, then
        sees the first one's alerts."""
        self.session.execute(_LOCK_RULE, {"rule": str(rule)})

    def apply_rule(
        self,
        rule: a.RuleDefinition,
        parameters: Mapping[str, object],
        *,
        run_id: uuid.UUID,
        actor: Actor,
    ) -> a.AlertChanges:
        """Brings the rule's alerts in line with its findings and resolutions, one event a change.

        ``parameters`` are the statements' named parameters (``as_of``,
        ``today``, ``rule`` and the rule's numbers). Raises ``RuleFailed`` if
        the statements fail or find a subject twice; the caller's transaction
        must then be rolled back, and nothing it did is kept.
        """
        statement = text(
            _DIFF.replace(_FINDINGS, rule.findings_sql).replace(_RESOLUTIONS, rule.resolutions_sql)
        )
        values = {
            **parameters,
            "definition": _definition(rule, parameters),
            "run_id": run_id,
            "actor_id": actor.id,
            "actor_kind": actor.kind,
            "officer": actor.officer,
        }
        try:
            for setting in _RUN_SETTINGS:
                self.session.execute(setting)
            row = self.session.execute(statement, values).one()
        except OperationalError:
            raise  # the database, not the rule: a deadline or a lost connection
        except DBAPIError as error:
            raise a.RuleFailed(rule.name, str(error.orig).strip()) from error
        if row.found_twice:
            raise a.RuleFailed(
                rule.name, f"its findings name {row.found_twice} subjects more than once"
            )
        return a.AlertChanges(
            rows_scanned=row.findings + row.resolutions,
            opened=row.opened,
            updated=row.updated,
            escalated=row.escalated,
            resolved=row.resolved,
            person_ids=tuple(sorted(row.person_ids)),
        )

    def record_run(self, run: a.RuleRun) -> None:
        """Appends the run's record."""
        self.session.execute(
            _RECORD_RUN,
            {
                "id": run.id,
                "rule": str(run.rule),
                "as_of": run.as_of,
                "started_at": run.started_at,
                "finished_at": run.finished_at,
                "actor": run.actor,
                "rows_scanned": run.rows_scanned,
                "opened": run.opened,
                "updated": run.updated,
                "escalated": run.escalated,
                "resolved": run.resolved,
                "error": run.error,
                "fence_lease": run.fence_lease,
                "fence_term": run.fence_term,
            },
        )

    def run(self, run_id: uuid.UUID) -> a.RuleRun | None:
        """The record of a run, or None."""
        row = self.session.execute(_RUN_BY_ID, {"id": run_id}).one_or_none()
        if row is None:
            return None
        return a.RuleRun(**{**row._asdict(), "rule": a.RuleName(row.rule)})

    def alert(self, alert_id: uuid.UUID) -> a.Alert | None:
        """The alert, or None."""
        row = self.session.execute(_ALERT_BY_ID, {"id": alert_id}).one_or_none()
        return None if row is None else alert_from_row(row._mapping)

    def alerts_of(self, subject_id: str, rule: a.RuleName | None = None) -> tuple[a.Alert, ...]:
        """Every alert about the subject (of the rule, if given), oldest first."""
        rows = self.session.execute(
            _ALERTS_OF_SUBJECT,
            {"subject_id": subject_id, "rule": None if rule is None else str(rule)},
        )
        return tuple(alert_from_row(row._mapping) for row in rows)

    def events_of(self, alert_id: uuid.UUID) -> tuple[a.AlertEvent, ...]:
        """The alert's events, in order."""
        rows = self.session.execute(_EVENTS_OF_ALERT, {"id": alert_id})
        return tuple(event_from_row(row._mapping) for row in rows)

    def events_of_run(self, run_id: uuid.UUID) -> tuple[a.AlertEvent, ...]:
        """The events a rule run wrote, in order (in its own transaction: not yet committed)."""
        rows = self.session.execute(_EVENTS_OF_RUN, {"id": run_id})
        return tuple(event_from_row(row._mapping) for row in rows)

    def lock_alert(self, alert_id: uuid.UUID) -> a.Alert | None:
        """The alert, locked until the transaction ends (a rule run changing it waits), or None."""
        row = self.session.execute(_ALERT_LOCKED, {"id": alert_id}).one_or_none()
        return None if row is None else alert_from_row(row._mapping)

    def open_alert_of_same_key(self, alert_id: uuid.UUID) -> uuid.UUID | None:
        """Another open alert of the alert's rule, subject and stay, if there is one."""
        return self.session.execute(_OPEN_OF_SAME_KEY, {"id": alert_id}).scalar_one_or_none()

    def review(
        self,
        alert: a.Alert,
        decision: a.ReviewDecision,
        *,
        note: str,
        reviewer: Actor,
        at: datetime,
    ) -> tuple[a.Alert, a.AlertEvent] | None:
        """Gives the alert the decision's status and appends its REVIEWED event.

        Returns the alert as reviewed and the event, or None (nothing
        written) if the alert's status is no longer ``alert.status``. Raises
        the ``ALERT_SUPERSEDED`` precondition failure when the review would
        open the alert while another of its key is open.
        """
        status = decision.status
        try:
            row = self.session.execute(
                _REVIEW,
                {
                    "id": alert.id,
                    "status": str(status),
                    "from_status": str(alert.status),
                    "reason": str(a.ResolutionReason.REVIEWED),
                    "at": at,
                },
            ).one_or_none()
        except IntegrityError as error:
            if getattr(getattr(error.orig, "diag", None), "constraint_name", "") == (
                _ONE_OPEN_PER_KEY
            ):
                raise a.alert_superseded(alert.id, None) from error
            raise
        if row is None:
            return None
        event = self.session.execute(
            _REVIEWED_EVENT,
            {
                "id": alert.id,
                "actor_id": reviewer.id,
                "actor_kind": reviewer.kind,
                "officer": reviewer.officer,
                "note": note,
                "at": at,
            },
        ).one()
        return alert_from_row(row._mapping), event_from_row(event._mapping)
