"""Agencies that call Pantau, what kind each is, and which data view it gets."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field


class AgencyKind(enum.StrEnum):
    IMMIGRATION = "IMMIGRATION"
    POLICE = "POLICE"
    LOCAL_GOVERNMENT = "LOCAL_GOVERNMENT"
    SUPERVISOR = "SUPERVISOR"


class DataView(enum.StrEnum):
    """How much personal data a recipient receives.

    What each view gets, field by field, is the one disclosure policy:
    ``exchange_service.domain.disclosure``.
    """

    FULL = "FULL"
    DISTRICT = "DISTRICT"


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    kind: AgencyKind
    view: DataView
    # Overrides of the settings' token bucket for this agency, if set.
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None


@dataclass
class CallRecord:
    """What is known about the call being served; filled as the call proceeds.

    The audit interceptor creates it, the access interceptor fills in who is
    calling and why, and the audit interceptor writes it when the call ends.
    """

    method: str
    agency_id: str = ""
    agency_kind: str = ""
    officer: str = ""
    purpose: str = ""
    # Persons the use cases touched that neither request nor response names
    # (the guests of a lodging import, found by their documents).
    person_ids: set[str] = field(default_factory=set)
