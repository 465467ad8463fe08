"""The alert queries of the agencies, on the read path's connection (as ``registry_reader``).

Each query is one SQL statement, prepared once per connection, returning the
alerts' own rows, which ``alert_store``'s parsers turn into domain values.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import psycopg
from psycopg.rows import dict_row

from exchange_service.domain import alerts as a
from exchange_service.storage.alert_store import (
    ALERT_COLUMNS,
    ALERT_EVENT_COLUMNS,
    alert_from_row,
    event_from_row,
)

_EVENT_FIELDS = tuple(column.strip() for column in ALERT_EVENT_COLUMNS.split(","))

# Every filter is always bound, an empty one matching everything, so one
# prepared statement serves every listing. Newest first by first detection,
# which never changes, so a page's key stays valid however the alerts change
# between pages.
_LIST_SQL = f"""
SELECT {ALERT_COLUMNS} FROM alerts
WHERE (cardinality(%(rules)s::text[]) = 0 OR rule = ANY(%(rules)s::text[]))
  AND (cardinality(%(statuses)s::text[]) = 0 OR status = ANY(%(statuses)s::text[]))
  AND severity = ANY(%(severities)s::text[])
  AND (%(district_code)s::text = '' OR district_code = %(district_code)s::text)
  AND (%(subject_kind)s::text = ''
    OR (subject_kind = %(subject_kind)s::text AND subject_id = %(subject_id)s::text))
  AND (%(since)s::timestamptz IS NULL OR first_detected_at >= %(since)s::timestamptz)
  AND (%(after_at)s::timestamptz IS NULL
    OR (first_detected_at, id) < (%(after_at)s::timestamptz, %(after_id)s::uuid))
ORDER BY first_detected_at DESC, id DESC
LIMIT %(limit)s
"""

# The alert with its events, one row per event (the alert's columns repeated).
_ALERT_WITH_EVENTS_SQL = (
    "SELECT "
    + ", ".join(f"a.{column.strip()}" for column in ALERT_COLUMNS.split(","))
    + ", "
    + ", ".join(f"e.{field} AS event_{field}" for field in _EVENT_FIELDS)
    + " FROM alerts a LEFT JOIN alert_events e ON e.alert_id = a.id"
    + " WHERE a.id = %(id)s ORDER BY e.seq"
)


class AlertReader:
    """Read-only alert queries on one autocommit connection: each sees its own snapshot."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    def _rows(self, query: str, params: dict[str, Any]) -> list[dict[str, Any]]:
        with self._connection.cursor(row_factory=dict_row) as cursor:
            return cursor.execute(query, params, prepare=True).fetchall()

    def list_alerts(
        self,
        where: a.AlertFilter,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> list[a.Alert]:
        """Alerts matching the filter, newest first, after the key (first detected, id)."""
        rows = self._rows(
            _LIST_SQL,
            {
                "rules": sorted(where.rules),
                "statuses": sorted(where.statuses),
                "severities": [str(severity) for severity in where.severities],
                "district_code": where.district_code,
                "subject_kind": "" if where.subject_kind is None else str(where.subject_kind),
                "subject_id": where.subject_id,
                "since": where.since,
                "after_at": None if after is None else after[0],
                "after_id": None if after is None else after[1],
                "limit": limit,
            },
        )
        return [alert_from_row(row) for row in rows]

    def alert_with_events(
        self, alert_id: uuid.UUID
    ) -> tuple[a.Alert, tuple[a.AlertEvent, ...]] | None:
        """The alert and its events, oldest first; None if there is no such alert."""
        rows = self._rows(_ALERT_WITH_EVENTS_SQL, {"id": alert_id})
        if not rows:
            return None
        events = tuple(
            event_from_row({field: row[f"event_{field}"] for field in _EVENT_FIELDS})
            for row in rows
            if row["event_seq"] is not None
        )
        return alert_from_row(rows[0]), events
