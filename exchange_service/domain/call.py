"""The call being served: its record, shared by the interceptors of one call, and its caller."""

from __future__ import annotations

from contextvars import ContextVar

from exchange_service.domain.agencies import Agency, CallRecord, DataView
from exchange_service.domain.errors import Unauthenticated

current_call: ContextVar[CallRecord | None] = ContextVar("current_call", default=None)
# The identified agency the call is served to; set by the access interceptor
# for the call's duration, unset otherwise.
current_agency: ContextVar[Agency | None] = ContextVar("current_agency", default=None)


def caller_view() -> DataView:
    """The data view of the agency being served; Unauthenticated when none is identified.

    Refusing, rather than falling back to some view, means a path that forgot to
    identify its caller discloses nothing.
    """
    agency = current_agency.get()
    if agency is None:
        raise Unauthenticated("no identified agency: no personal data is disclosed")
    return agency.view


def note_person_touched(person_id: str) -> None:
    """Adds a person to the audit record of the call being served, if any."""
    call = current_call.get()
    if call is not None:
        call.person_ids.add(person_id)
