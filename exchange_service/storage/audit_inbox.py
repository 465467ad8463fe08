"""The audit inbox as a transaction writes it: an event recorded with the work it accounts for."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from exchange_service.domain.audit import AuditEvent
from exchange_service.storage.tables import AuditInboxRow


def _text(value: str) -> str:
    """PostgreSQL text cannot hold NUL; the trail writes U+FFFD for one, and so does the inbox."""
    return value.replace("\x00", "\ufffd") if "\x00" in value else value


class AuditInboxStore:
    """Implements ``services.ports.AuditInbox`` on the session of one transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def record(self, event: AuditEvent, at: datetime) -> None:
        """Inserts the event, as of ``at``; it commits (or not) with the transaction."""
        self._session.execute(insert(AuditInboxRow), inbox_row(event, at))

    def record_all(self, events: Sequence[AuditEvent], at: datetime) -> None:
        """Inserts the events, all as of ``at``, in one statement."""
        if events:
            self._session.execute(insert(AuditInboxRow), [inbox_row(e, at) for e in events])


def inbox_row(event: AuditEvent, at: datetime) -> dict[str, Any]:
    """The inbox's row of an event: its columns as the trail's writer reads them back."""
    actor = event.actor
    return {
        "at": at,
        "actor_id": _text(actor.id),
        "actor_kind": _text(actor.kind),
        "officer": _text(actor.officer),
        "action": _text(event.action),
        "outcome": _text(event.outcome),
        "purpose": _text(event.purpose),
        "person_ids": [_text(i) for i in event.person_ids],
        "recipient": _text(event.recipient),
        "request_digest": _text(event.request_digest),
    }
