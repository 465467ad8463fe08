"""Early-warning alerts as plain values: what a rule found, its changes, and the rules' numbers.

A rule (``scheduler/rules/``) is a query over the whole population; an alert
is one row per (rule, subject, stay) for which the rule's condition holds; a
change to an alert is an ``AlertEvent``, appended in the same transaction. The
events are the unit that leaves the system (signed and delivered per agency
in a later issue), so each carries what it says about the alert as of the
event. An alert resolves only for a stated ``ResolutionReason``: a fact that
ages out of a window, a failed run or missing data never resolves anything.
"""

from __future__ import annotations

import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from exchange_service.domain.errors import (
    FailedPrecondition,
    PantauError,
    PreconditionViolation,
)
from exchange_service.domain.permits import DOMAIN_PERMIT_LIMITS, PermitLimits


class RuleName(enum.StrEnum):
    """The early-warning rules of issue 10, item 2."""

    OVERSTAY = "OVERSTAY"
    PERMIT_EXPIRING = "PERMIT_EXPIRING"
    UNREPORTED_ADDRESS_CHANGE = "UNREPORTED_ADDRESS_CHANGE"
    NO_RECENT_CONTACT = "NO_RECENT_CONTACT"
    RESTRICTED_AREA_PRESENCE = "RESTRICTED_AREA_PRESENCE"
    SPONSOR_OVERSTAY_CLUSTER = "SPONSOR_OVERSTAY_CLUSTER"
    PERMIT_LIMIT_EXCEEDED = "PERMIT_LIMIT_EXCEEDED"
    # Issue 13: a person matches a watchlist entry; a supervisor confirms or dismisses.
    WATCHLIST_MATCH = "WATCHLIST_MATCH"


class Severity(enum.StrEnum):
    """How urgent an alert is; ordered INFO < WARNING < HIGH < CRITICAL (not alphabetically)."""

    INFO = "INFO"
    WARNING = "WARNING"
    HIGH = "HIGH"
    CRITICAL = "CRITICAL"

    @property
    def rank(self) -> int:
        """0 for INFO up to 3 for CRITICAL."""
        return SEVERITY_ORDER.index(self)

    def __lt__(self, other: str) -> bool:
        return self.rank < Severity(other).rank

    def __le__(self, other: str) -> bool:
        return self.rank <= Severity(other).rank

    def __gt__(self, other: str) -> bool:
        return self.rank > Severity(other).rank

    def __ge__(self, other: str) -> bool:
        return self.rank >= Severity(other).rank


# Lowest first; the engine's SQL ranks severities by this order too.
SEVERITY_ORDER: tuple[Severity, ...] = tuple(Severity)


class AlertStatus(enum.StrEnum):
    """Where an alert stands. OPEN, ACKNOWLEDGED and CONFIRMED are open: the matter is live."""

    OPEN = "OPEN"
    ACKNOWLEDGED = "ACKNOWLEDGED"
    CONFIRMED = "CONFIRMED"
    # A false positive: not opened again while the facts stay the same.
    DISMISSED = "DISMISSED"
    RESOLVED = "RESOLVED"

    @property
    def is_open(self) -> bool:
        return self in OPEN_STATUSES


OPEN_STATUSES: frozenset[AlertStatus] = frozenset(
    {AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.CONFIRMED}
)


class SubjectKind(enum.StrEnum):
    """Whom an alert is about.

    A PERSON's ``subject_id`` is the person's id. A SPONSOR is not a record
    of its own (a permit names it as text), so its ``subject_id`` is an
    opaque, stable key of the sponsor (never the name, which views may not
    receive); the name goes in the evidence under ``sponsor``.
    """

    PERSON = "PERSON"
    SPONSOR = "SPONSOR"


class AlertEventKind(enum.StrEnum):
    """What happened to an alert: each change is one event."""

    OPENED = "OPENED"
    # Evidence, summaries, place or action changed, the severity did not rise.
    UPDATED = "UPDATED"
    # The severity rose (an overstay past day 60 becomes CRITICAL).
    ESCALATED = "ESCALATED"
    RESOLVED = "RESOLVED"
    # An officer acknowledged, confirmed, dismissed or resolved it.
    REVIEWED = "REVIEWED"


class AdministrativeAction(enum.StrEnum):
    """The administrative action (tindakan administratif keimigrasian) an alert calls for.

    Pasal 75 UU 6/2011 lists the actions; Pasal 78 sets the overstay fee and,
    past 60 days or unpaid, deportation and an entry ban.
    """

    # Pasal 78(1): a fee per day of overstay.
    OVERSTAY_FEE = "OVERSTAY_FEE"
    # Pasal 78(3), Pasal 75(2)(f) and (g): deportation and an entry ban.
    DEPORTATION_AND_ENTRY_BAN = "DEPORTATION_AND_ENTRY_BAN"
    # Summon the person to the office to explain.
    SUMMONS = "SUMMONS"
    # Pasal 75(2)(b): review, restrict or cancel the stay permit.
    PERMIT_REVIEW = "PERMIT_REVIEW"
    # Pasal 71: demand the report of the new address.
    ADDRESS_REPORT_DEMAND = "ADDRESS_REPORT_DEMAND"
    # The sponsor's (guarantor's) obligations are reviewed.
    SPONSOR_REVIEW = "SPONSOR_REVIEW"
    # Pasal 75(2)(c): a ban from being at certain places.
    PLACE_BAN = "PLACE_BAN"
    # Nothing yet: the alert warns before an action applies.
    NONE = "NONE"
    # A watchlist match: verify the person's identity and documents, then confirm or
    # dismiss; nothing is done on the match alone.
    IDENTITY_VERIFICATION = "IDENTITY_VERIFICATION"


class ResolutionReason(enum.StrEnum):
    """Why an alert resolved: always something that happened, never data going missing."""

    # An exit of the stay was recorded.
    DEPARTED = "DEPARTED"
    # A permit period covers today, or a later period was recorded.
    PERMIT_EXTENDED = "PERMIT_EXTENDED"
    # A new address was reported.
    ADDRESS_REPORTED = "ADDRESS_REPORTED"
    # A sighting, address report or permit action was recorded.
    CONTACT_RECORDED = "CONTACT_RECORDED"
    # The permit periods were corrected to within the type's limit.
    PERMIT_CORRECTED = "PERMIT_CORRECTED"
    # The sponsor has fewer sponsees overstaying than the rule's threshold.
    SPONSEES_RESOLVED = "SPONSEES_RESOLVED"
    # An officer resolved it.
    REVIEWED = "REVIEWED"
    # The watchlist entry was removed or expired, or the person no longer matches it.
    WATCHLIST_CLEARED = "WATCHLIST_CLEARED"


class ReviewDecision(enum.StrEnum):
    """An officer's decision on an alert; each leads to the status of the same name."""

    ACKNOWLEDGE = "ACKNOWLEDGE"
    CONFIRM = "CONFIRM"
    # A false positive: the reviewer must say why.
    DISMISS = "DISMISS"
    RESOLVE = "RESOLVE"

    @property
    def status(self) -> AlertStatus:
        """The status the alert has after the decision."""
        return _STATUS_OF_DECISION[self]

    @classmethod
    def of_status(cls, status: AlertStatus) -> ReviewDecision | None:
        """The decision that leads to ``status`` (None for OPEN): what a REVIEWED event decided."""
        return _DECISION_OF_STATUS.get(status)


_STATUS_OF_DECISION: Mapping[ReviewDecision, AlertStatus] = {
    ReviewDecision.ACKNOWLEDGE: AlertStatus.ACKNOWLEDGED,
    ReviewDecision.CONFIRM: AlertStatus.CONFIRMED,
    ReviewDecision.DISMISS: AlertStatus.DISMISSED,
    ReviewDecision.RESOLVE: AlertStatus.RESOLVED,
}
_DECISION_OF_STATUS = {status: decision for decision, status in _STATUS_OF_DECISION.items()}

# Decision -> the statuses an alert may have for it. A review moves an alert
# forward only: acknowledging what is acknowledged or confirmed, or
# confirming what is confirmed, is refused rather than recorded twice. A
# RESOLVED alert is final: its reason happened, and a new occurrence is a new
# alert. A DISMISSED alert may be confirmed, a dismissal overturned (it is
# open again, and the rules keep it up to date), but nothing else: a
# dismissal is not undone by acknowledging or resolving it.
REVIEWABLE_STATUSES: Mapping[ReviewDecision, frozenset[AlertStatus]] = {
    ReviewDecision.ACKNOWLEDGE: frozenset({AlertStatus.OPEN}),
    ReviewDecision.CONFIRM: frozenset(
        {AlertStatus.OPEN, AlertStatus.ACKNOWLEDGED, AlertStatus.DISMISSED}
    ),
    ReviewDecision.DISMISS: OPEN_STATUSES,
    ReviewDecision.RESOLVE: OPEN_STATUSES,
}


def review_refusal(alert: Alert, decision: ReviewDecision) -> PreconditionViolation | None:
    """Why the alert's status does not allow the decision, or None when it does.

    ``ALERT_CLOSED``: the alert is RESOLVED, or DISMISSED and the decision
    is not CONFIRM. ``ALERT_ALREADY_REVIEWED``: the alert is open and already
    as far as (or past) what the decision would make it.
    """
    if alert.status in REVIEWABLE_STATUSES[decision]:
        return None
    subject = f"alerts/{alert.id}"
    if alert.status is AlertStatus.RESOLVED:
        reason = "" if alert.resolution_reason is None else f" ({alert.resolution_reason})"
        return PreconditionViolation(
            "ALERT_CLOSED",
            subject,
            f"alert {alert.id} is RESOLVED{reason}: a resolved alert is final, and cannot be"
            f" reviewed ({decision})",
        )
    if alert.status is AlertStatus.DISMISSED:
        return PreconditionViolation(
            "ALERT_CLOSED",
            subject,
            f"alert {alert.id} is DISMISSED: a dismissed alert can only be confirmed"
            f" (overturning the dismissal), not {decision}",
        )
    return PreconditionViolation(
        "ALERT_ALREADY_REVIEWED",
        subject,
        f"alert {alert.id} is {alert.status}: {decision} would not move it forward",
    )


def alert_superseded(alert_id: uuid.UUID, by: uuid.UUID | None) -> FailedPrecondition:
    """A dismissed alert cannot be confirmed: another of its rule, subject and stay is open."""
    other = "another alert" if by is None else f"alert {by}"
    return FailedPrecondition(
        [
            PreconditionViolation(
                "ALERT_SUPERSEDED",
                f"alerts/{alert_id}",
                f"alert {alert_id} cannot be confirmed: {other} of the same rule, subject and"
                " stay has been opened since it was dismissed; review that one",
            )
        ]
    )


@dataclass(frozen=True)
class AlertFilter:
    """Which alerts a listing shows: those matching every criterion given.

    Empty ``rules``/``statuses`` mean any; ``min_severity`` None means any;
    ``district_code`` '' means anywhere; ``subject_kind`` None means anyone
    (else ``subject_id`` names the subject); ``since`` None means ever, else
    alerts first detected at or after it.
    """

    rules: frozenset[RuleName] = frozenset()
    statuses: frozenset[AlertStatus] = frozenset()
    min_severity: Severity | None = None
    district_code: str = ""
    subject_kind: SubjectKind | None = None
    subject_id: str = ""
    since: datetime | None = None

    @property
    def severities(self) -> tuple[Severity, ...]:
        """The severities the listing shows, lowest first."""
        return tuple(
            s for s in SEVERITY_ORDER if self.min_severity is None or s >= self.min_severity
        )


@dataclass(frozen=True)
class Alert:
    """One alert: a rule's condition holding for a subject (and its stay), and where it stands.

    ``evidence`` holds the structured facts (JSON values, keys named in
    ``domain.disclosure.EVIDENCE``); the summaries say them in a paragraph
    each, in Indonesian and English. ``facts`` is the key of the facts that
    make the finding (for OVERSTAY the stay and its last valid day): a
    dismissed alert is not opened again while they stay the same.
    ``first_detected_at`` is the instant of the run that opened it,
    ``changed_at`` that of its last change. District and village are those of
    the subject's current address ('' when none).
    """

    id: uuid.UUID
    rule: RuleName
    subject_kind: SubjectKind
    subject_id: str
    stay_id: uuid.UUID | None
    severity: Severity
    status: AlertStatus
    district_code: str
    village_code: str
    evidence: Mapping[str, object]
    summary_id: str
    summary_en: str
    action: AdministrativeAction
    facts: str
    first_detected_at: datetime
    changed_at: datetime
    resolved_at: datetime | None = None
    resolution_reason: ResolutionReason | None = None


@dataclass(frozen=True)
class AlertEvent:
    """One change of an alert, carrying the alert as of the change: the unit that leaves Pantau.

    ``seq`` orders all events. A rule run's events name the run
    (``rule_run_id``) and the system actor; a review names the agency and
    officer and their note. ``occurred_at`` is the instant the change is
    about (the run's as-of, or the review's time); ``recorded_at`` is when
    Pantau wrote it.
    """

    seq: int
    alert_id: uuid.UUID
    kind: AlertEventKind
    rule: RuleName
    subject_kind: SubjectKind
    subject_id: str
    stay_id: uuid.UUID | None
    severity: Severity
    status: AlertStatus
    district_code: str
    village_code: str
    evidence: Mapping[str, object]
    summary_id: str
    summary_en: str
    action: AdministrativeAction
    resolution_reason: ResolutionReason | None
    actor_id: str
    actor_kind: str
    officer: str
    note: str
    rule_run_id: uuid.UUID | None
    occurred_at: datetime
    recorded_at: datetime


@dataclass(frozen=True)
class RuleRun:
    """The record of one run of a rule: as of when, how long, what it changed, or why it failed.

    ``rows_scanned`` counts the rows the rule's two statements returned (its
    findings and its resolutions). A failed run (``error`` set) changed no
    alert. ``fence_lease``/``fence_term`` name the leadership the run was
    started under, if it was fenced.
    """

    id: uuid.UUID
    rule: RuleName
    as_of: datetime
    started_at: datetime
    finished_at: datetime
    actor: str
    rows_scanned: int = 0
    opened: int = 0
    updated: int = 0
    escalated: int = 0
    resolved: int = 0
    error: str | None = None
    fence_lease: str | None = None
    fence_term: int | None = None

    @property
    def changed(self) -> int:
        """Alerts changed by the run (each is one alert event)."""
        return self.opened + self.updated + self.escalated + self.resolved


@dataclass(frozen=True)
class AlertChanges:
    """What one run changed: the rows its statements returned, alerts changed by kind, and whom.

    ``person_ids`` are the persons whose alerts changed (subjects of kind PERSON).
    """

    rows_scanned: int = 0
    opened: int = 0
    updated: int = 0
    escalated: int = 0
    resolved: int = 0
    person_ids: tuple[str, ...] = ()


class RuleFailed(PantauError):
    """A rule's statements failed, or broke the rules' contract: the run changed nothing."""

    def __init__(self, rule: RuleName, reason: str) -> None:
        super().__init__(f"rule {rule} failed: {reason}")
        self.rule = rule
        self.reason = reason


@dataclass(frozen=True)
class RuleSettings:
    """Every number of every rule, with the domain brief's defaults (DOMAIN.md, issue 10).

    ``exchange_service.app`` builds it from the settings named ``rule_<field>``,
    but for ``permit_limits``: the limits of PERMIT_LIMIT_EXCEEDED are the
    registry's own (``ExtendPermit`` refuses past them), so they come from the
    settings ``permit_<type>`` the registry reads, one value for both.
    """

    # OVERSTAY: the fee per day overstayed (Pasal 78, PP 28/2019; check PP 45/2024), rupiah.
    overstay_fee_per_day_idr: int = 1_000_000
    # OVERSTAY: past this many days overstayed, deportation and an entry ban (Pasal 78).
    overstay_deportation_after_days: int = 60
    # PERMIT_EXPIRING: warn when the last permit period ends within this many days.
    permit_expiring_within_days: int = 14
    # UNREPORTED_ADDRESS_CHANGE: far sightings needed ...
    address_change_min_sightings: int = 2
    # ... within this many days before the run ...
    address_change_window_days: int = 30
    # ... each farther than this from the address registered at its time, metres ...
    address_change_distance_meters: float = 3_000.0
    # ... the first of them older than the grace window (Pasal 71; check), days.
    address_change_grace_days: int = 14
    # NO_RECENT_CONTACT: no sighting, address report or permit action for this many days.
    no_contact_days: int = 180
    # SPONSOR_OVERSTAY_CLUSTER: a sponsor with at least this many sponsees overstaying ...
    sponsor_cluster_min_sponsees: int = 3
    # ... whose overstay began within this many days.
    sponsor_cluster_window_days: int = 90
    # RESTRICTED_AREA_PRESENCE: sightings in a restricted area within this many days count
    # (not a figure of the law: how far back a sighting still calls for a look).
    restricted_area_window_days: int = 30
    # PERMIT_LIMIT_EXCEEDED: what each type of permit allows in one stay (DOMAIN.md; check).
    permit_limits: PermitLimits = DOMAIN_PERMIT_LIMITS


# The named parameters the engine gives every rule statement; a rule's own take other names.
ENGINE_PARAMETERS = frozenset({"as_of", "today", "rule", "timezone"})


class RuleDefinition(Protocol):
    """A rule as the engine runs it: two set-based SQL statements and their numbers.

    ``findings_sql`` returns one row per subject for which the condition
    holds now; ``resolutions_sql`` the rule's open alerts whose stated reason
    now holds, and the reason. ``scheduler.rules.base`` says their columns
    and parameters; ``scheduler.rules.base.Rule`` implements this.
    """

    @property
    def name(self) -> RuleName: ...

    @property
    def title(self) -> str: ...

    @property
    def findings_sql(self) -> str: ...

    @property
    def resolutions_sql(self) -> str: ...

    def parameters(self, settings: RuleSettings, as_of: datetime, today: date) -> dict[str, object]:
        """The rule's own named parameters (its numbers) for a run as of ``as_of``."""
        ...
