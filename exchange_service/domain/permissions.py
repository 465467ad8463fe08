"""Who may do what: the one permission table, agency kind by action.

Every way in (an RPC today; the alert feed, acknowledgements and reports
later) names the action it performs and asks ``is_allowed``; an action no
kind is listed for is refused to everyone. README.md shows the table RPC by
RPC, and a test checks it cell by cell.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType

from exchange_service.domain.agencies import AgencyKind


class Action(enum.StrEnum):
    """Something an agency asks Pantau to do."""

    REGISTER_PERSON = "REGISTER_PERSON"
    ADD_TRAVEL_DOCUMENT = "ADD_TRAVEL_DOCUMENT"
    RECORD_ENTRY = "RECORD_ENTRY"
    EXTEND_PERMIT = "EXTEND_PERMIT"
    RECORD_EXIT = "RECORD_EXIT"
    REPORT_ADDRESS = "REPORT_ADDRESS"
    RECORD_SIGHTING = "RECORD_SIGHTING"
    IMPORT_LODGING_REPORTS = "IMPORT_LODGING_REPORTS"
    READ_DOSSIER = "READ_DOSSIER"
    SEARCH_PERSONS = "SEARCH_PERSONS"
    LIST_PERSONS_NEAR = "LIST_PERSONS_NEAR"
    LIST_ALERTS = "LIST_ALERTS"
    READ_ALERT = "READ_ALERT"
    REVIEW_ALERT = "REVIEW_ALERT"
    READ_SIGNING_KEYS = "READ_SIGNING_KEYS"
    SUBSCRIBE_FEED = "SUBSCRIBE_FEED"
    ACKNOWLEDGE_FEED = "ACKNOWLEDGE_FEED"
    WRITE_WATCHLIST = "WRITE_WATCHLIST"
    READ_WATCHLIST = "READ_WATCHLIST"
    SCREEN_WATCHLIST = "SCREEN_WATCHLIST"
    READ_REPORT = "READ_REPORT"


_I, _P, _L, _S = (
    AgencyKind.IMMIGRATION,
    AgencyKind.POLICE,
    AgencyKind.LOCAL_GOVERNMENT,
    AgencyKind.SUPERVISOR,
)

# Action -> the agency kinds that may perform it.
ALLOWED_KINDS: Mapping[Action, frozenset[AgencyKind]] = MappingProxyType(
    {
        Action.REGISTER_PERSON: frozenset({_I}),
        Action.ADD_TRAVEL_DOCUMENT: frozenset({_I}),
        Action.RECORD_ENTRY: frozenset({_I}),
        Action.EXTEND_PERMIT: frozenset({_I}),
        Action.RECORD_EXIT: frozenset({_I}),
        Action.REPORT_ADDRESS: frozenset({_I}),
        Action.RECORD_SIGHTING: frozenset({_I, _P}),
        Action.IMPORT_LODGING_REPORTS: frozenset({_I}),
        Action.READ_DOSSIER: frozenset({_I, _P, _L, _S}),
        Action.SEARCH_PERSONS: frozenset({_I, _P, _S}),
        # Distances from a chosen centre would locate a person more finely than
        # a village: not for local government, whose view stops at the village.
        Action.LIST_PERSONS_NEAR: frozenset({_I, _P, _S}),
        # Every agency reads the alerts, each in its own data view (local
        # government: districts and villages, no numbers, sponsors or summaries).
        Action.LIST_ALERTS: frozenset({_I, _P, _L, _S}),
        Action.READ_ALERT: frozenset({_I, _P, _L, _S}),
        # Acknowledging, confirming, dismissing or resolving is for the office
        # that acts on an alert and for its supervisors.
        Action.REVIEW_ALERT: frozenset({_I, _S}),
        # The public keys are public: every agency verifies what it receives.
        Action.READ_SIGNING_KEYS: frozenset({_I, _P, _L, _S}),
        # The feeds are for the agencies Pantau shares alerts with; each reads its
        # own only (the agencies file gives it one), in its own data view.
        Action.SUBSCRIBE_FEED: frozenset({_P, _L}),
        Action.ACKNOWLEDGE_FEED: frozenset({_P, _L}),
        # The watchlist is the immigration office's; the police add and remove entries of
        # their own wanted list (DPO) only (``domain.watchlist.may_write`` checks the
        # list); local government has no access at all.
        Action.WRITE_WATCHLIST: frozenset({_I, _P}),
        # Supervisors read the entries behind the matches they confirm or dismiss.
        Action.READ_WATCHLIST: frozenset({_I, _P, _S}),
        Action.SCREEN_WATCHLIST: frozenset({_I, _P, _S}),
        # The early-warning report is for those who supervise: the office and its
        # supervisors (the full edition) and the regional government (the aggregate
        # one, by its view). The police act on alerts, they do not review the office.
        Action.READ_REPORT: frozenset({_I, _L, _S}),
    }
)


def is_allowed(kind: AgencyKind, action: Action) -> bool:
    """Whether agencies of this kind may perform the action (an unlisted action: no one)."""
    return kind in ALLOWED_KINDS.get(action, frozenset())
