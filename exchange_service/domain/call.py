"""The record of the call being served, shared by the interceptors of one call."""

from __future__ import annotations

from contextvars import ContextVar

from exchange_service.domain.agencies import CallRecord

current_call: ContextVar[CallRecord | None] = ContextVar("current_call", default=None)


def note_person_touched(person_id: str) -> None:
    """Adds a person to the audit record of the call being served, if any."""
    call = current_call.get()
    if call is not None:
        call.person_ids.add(person_id)
