"""The call being served: its record, filled as the server's edge serves it, and its caller."""

from __future__ import annotations

from contextvars import ContextVar
from dataclasses import dataclass, field

from exchange_service.domain.agencies import Agency, DataView
from exchange_service.domain.errors import Unauthenticated


@dataclass
class CallRecord:
    """What is known about the call being served; filled as the call proceeds.

    The server's edge creates it, fills in who is calling and why, and has
    the audit trail record it when the call ends.
    """

    method: str
    agency_id: str = ""
    agency_kind: str = ""
    officer: str = ""
    purpose: str = ""
    # Persons the use cases touched that neither request nor response names
    # (the guests of a lodging import, found by their documents).
    person_ids: set[str] = field(default_factory=set)


current_call: ContextVar[CallRecord | None] = ContextVar("current_call", default=None)
# The identified agency the call is served to; set by the edge once the call is allowed,
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


def calling_officer() -> tuple[str, str]:
    """The agency and officer of the call being served (empty outside a call)."""
    call = current_call.get()
    if call is None:
        return "", ""
    return call.agency_id, call.officer
