"""The rule engine, and the alerts as agencies list, read and review them.

The engine: a rule run as of an instant brings that rule's alerts in line with the facts.

One run is one transaction: the rule's findings and resolutions, diffed
against its open alerts in SQL (``ports.AlertStore.apply_rule``), one alert
event per change, and the run's record, committed together or not at all.
Runs of one rule are serialised, so two at once cannot both open an alert
(the database's unique index of open alerts would refuse it anyway). A run
that fails changes no alert; its record (with the error) is written in a
transaction of its own. Every run is one event in the audit trail, with the
system as the actor and the persons whose alerts changed, recorded through
the audit inbox (``tx.audit``) in the transaction that records the run: the
run and its event commit together or not at all, whichever process runs it,
and the trail's writer chains the event.

``Alerts``: listings and single alerts on the read path, and reviews, each
one REVIEWED alert event written with the alert's new status in one
transaction (``domain.alerts.REVIEWABLE_STATUSES`` says which decision an
alert's status allows).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import partial
from zoneinfo import ZoneInfo

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain import validation as valid
from exchange_service.domain.alerts import (
    ENGINE_PARAMETERS,
    Alert,
    AlertChanges,
    AlertEvent,
    ReviewDecision,
    RuleDefinition,
    RuleName,
    RuleRun,
    RuleSettings,
    SubjectKind,
    alert_superseded,
    review_refusal,
)
from exchange_service.domain.audit import Actor, AuditEvent
from exchange_service.domain.call import note_person_touched
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.errors import (
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    NotFound,
    PantauError,
    PreconditionViolation,
)
from exchange_service.domain.fencing import Fence, LeadershipLost, SlotAlreadyFired
from exchange_service.domain.paging import PageTokens, key_instant, key_uuid, query_fingerprint
from exchange_service.services.feed import FeedWriter
from exchange_service.services.ports import Transaction, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleEngineOptions:
    """What the engine takes from the settings."""

    # The office's timezone: a run's "today" is its day there (WIB), never UTC's.
    # An IANA zone (ZoneInfo): the rules' SQL takes its name, to tell the
    # office's day of a recorded instant (a sighting's WIB day).
    timezone: tzinfo
    # Every rule's numbers.
    rules: RuleSettings


def audit_action(rule: RuleName) -> str:
    """The audit trail's name for a run of the rule: ``rules/OVERSTAY``."""
    return f"rules/{rule}"


class RuleEngine:
    """Runs the rules of a catalogue, each run as of one instant and in one transaction.

    Guarantees: a run opens an alert only where none of its key is open (and
    no dismissed one has the same facts), resolves one only for the reason
    its rule states, and appends exactly one alert event per change; a rerun
    with nothing changed writes no alert or event; a failed run changes no
    alert and is recorded with its error; a run fenced with a term that has
    passed writes nothing at all and raises ``LeadershipLost``.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        rules: Mapping[RuleName, RuleDefinition],
        options: RuleEngineOptions,
        *,
        clock: Clock = system_clock,
        actor: Actor | None = None,
        feed: FeedWriter | None = None,
    ) -> None:
        for name, rule in rules.items():
            if rule.name != name:
                raise ValueError(f"the catalogue holds rule {rule.name} under {name}")
        if not isinstance(options.timezone, ZoneInfo):
            raise ValueError(f"the office's timezone {options.timezone} is not an IANA zone")
        self._uow = uow
        self._rules = dict(rules)
        self._options = options
        self._zone_name = options.timezone.key
        self._clock = clock
        self._actor = actor or Actor.system("rules")
        # The composition roots always give it; without it (some tests) no feed is written.
        self._feed = feed

    @property
    def rules(self) -> Mapping[RuleName, RuleDefinition]:
        """The catalogue, in the order of ``RuleName``."""
        return {name: self._rules[name] for name in RuleName if name in self._rules}

    def numbers(self, rule: RuleName) -> dict[str, object]:
        """The rule's own numbers as its statements get them (the settings' values)."""
        now = self._clock()
        return self._rules[rule].parameters(
            self._options.rules, now, now.astimezone(self._options.timezone).date()
        )

    def run(
        self, rule: RuleName | str, as_of: datetime | None = None, fence: Fence | None = None
    ) -> RuleRun:
        """Runs the rule as of ``as_of`` (default: now), fenced if ``fence`` is given.

        Returns the run's record; a failed run's has ``error`` set and
        changed nothing. Raises ``InvalidInput`` naming ``rule`` or ``as_of``
        (nothing written), ``LeadershipLost`` when the fence's term has
        passed (nothing written), or the database's error when even the
        failure could not be recorded.
        """
        definition, instant = self._valid_run(rule, as_of)
        name = definition.name
        today = instant.astimezone(self._options.timezone).date()
        numbers = definition.parameters(self._options.rules, instant, today)
        clash = ENGINE_PARAMETERS & numbers.keys()
        if clash:
            raise ValueError(f"rule {name} names parameters {sorted(clash)} the engine gives")
        parameters = {
            **numbers,
            "as_of": instant,
            "today": today,
            "rule": str(name),
            "timezone": self._zone_name,
        }
        run_id = uuid.uuid4()
        record = partial(
            self._run_record,
            run_id=run_id,
            rule=name,
            as_of=instant,
            started=self._clock(),
            fence=fence,
        )
        try:
            with self._uow.begin(fence=fence) as tx:
                tx.alerts.lock_rule(name)
                changes = tx.alerts.apply_rule(
                    definition, parameters, run_id=run_id, actor=self._actor
                )
                if self._feed is not None and (
                    changes.opened or changes.updated or changes.escalated or changes.resolved
                ):
                    self._feed.append(tx, tx.alerts.events_of_run(run_id))
                done = record(changes=changes)
                tx.alerts.record_run(done)
                self._record_audit(tx, done, changes.person_ids)
        except (LeadershipLost, SlotAlreadyFired):
            # Another leader runs the rules now, or another run took the slot:
            # this one did nothing, and says nothing.
            raise
        except PantauError as error:
            failed = record(
                changes=AlertChanges(), error=f"{type(error).__name__}: {error.message}"
            )
            log.error("rule %s as of %s failed: %s", name, instant.isoformat(), failed.error)
            self._record_failure(failed, fence)
            return failed
        return done

    def _valid_run(
        self, rule: RuleName | str, as_of: datetime | None
    ) -> tuple[RuleDefinition, datetime]:
        violations = []
        definition = self._rules.get(RuleName(rule)) if rule in set(RuleName) else None
        if definition is None:
            known = ", ".join(self.rules)
            violations.append(FieldViolation("rule", f"{str(rule)!r} is not a rule here ({known})"))
        if as_of is not None and as_of.utcoffset() is None:
            violations.append(FieldViolation("as_of", "needs a time zone (a UTC offset)"))
        if violations or definition is None:
            raise InvalidInput(violations)
        return definition, self._clock() if as_of is None else as_of

    def _run_record(
        self,
        *,
        run_id: uuid.UUID,
        rule: RuleName,
        as_of: datetime,
        started: datetime,
        fence: Fence | None,
        changes: AlertChanges,
        error: str | None = None,
    ) -> RuleRun:
        return RuleRun(
            id=run_id,
            rule=rule,
            as_of=as_of,
            started_at=started,
            finished_at=max(started, self._clock()),
            actor=self._actor.id,
            rows_scanned=changes.rows_scanned,
            opened=changes.opened,
            updated=changes.updated,
            escalated=changes.escalated,
            resolved=changes.resolved,
            error=error,
            fence_lease=None if fence is None else fence.lease,
            fence_term=None if fence is None else fence.term,
        )

    def _record_failure(self, failed: RuleRun, fence: Fence | None) -> None:
        """Records the failed run and its audit event together, in a transaction of their own."""
        with self._uow.begin(fence=fence) as tx:
            tx.alerts.record_run(failed)
            self._record_audit(tx, failed, ())

    def _record_audit(self, tx: Transaction, run: RuleRun, person_ids: tuple[str, ...]) -> None:
        outcome = "OK" if run.error is None else "FAILED " + run.error.split(":", 1)[0]
        tx.audit.record(
            AuditEvent(
                actor=self._actor,
                action=audit_action(run.rule),
                outcome=outcome,
                purpose=f"rule run {run.id} as of {run.as_of.isoformat()}",
                person_ids=person_ids,
            ),
            at=run.finished_at,
        )


ALERT = "pantau.v1.Alert"


def four_eyes_refusal(alert: Alert) -> FailedPrecondition:
    return FailedPrecondition(
        [
            PreconditionViolation(
                "FOUR_EYES",
                f"alerts/{alert.id}",
                f"alert {alert.id}: the officer who registered the person may not confirm"
                " their watchlist match; another officer must (four eyes)",
            )
        ]
    )


def alert_not_found(alert_id: uuid.UUID | str) -> NotFound:
    return NotFound(ALERT, f"alerts/{alert_id}", "alert_id")


@dataclass(frozen=True)
class AlertsOptions:
    """What the alerts' listings and reviews take from the settings."""

    # Signs the listing's page tokens and checks them (``domain/paging.py``).
    page_tokens: PageTokens


class Alerts:
    """The alerts as agencies see and review them.

    Listings and single alerts are read on the read path and change
    nothing. A review either writes the alert's new status and its REVIEWED
    event together, or, refused (bad input, no such alert, a status that
    does not allow the decision), writes nothing.
    """

    def __init__(
        self,
        uow: UnitOfWork,
        options: AlertsOptions,
        clock: Clock = system_clock,
        feed: FeedWriter | None = None,
    ) -> None:
        self._uow = uow
        self._options = options
        self._clock = clock
        self._feed = feed

    def list_alerts(self, request: cmd.ListAlerts) -> model.Page[Alert]:
        """Alerts matching every filter given, newest first (first detected, then id)."""
        where, size = valid.valid_alert_query(request)
        fingerprint = query_fingerprint(
            "alerts",
            sorted(where.rules),
            sorted(where.statuses),
            where.min_severity,
            where.district_code,
            where.subject_kind,
            where.subject_id,
            None if where.since is None else where.since.isoformat(),
        )
        after_key = self._options.page_tokens.decode(request.page_token, fingerprint, 2)
        after = None if after_key is None else (key_instant(after_key[0]), key_uuid(after_key[1]))
        with self._uow.read() as reader:
            alerts = reader.alerts.list_alerts(where, after, size + 1)
        page = alerts[:size]
        token = ""
        if len(alerts) > size:
            last = page[-1]
            token = self._options.page_tokens.encode(
                fingerprint, [last.first_detected_at.isoformat(), str(last.id)]
            )
        return model.Page(tuple(page), token)

    def get_alert(self, alert_id: str) -> tuple[Alert, tuple[AlertEvent, ...]]:
        """The alert with its events, oldest first; ``NotFound`` naming ``alert_id``."""
        with self._uow.read() as reader:
            found = reader.alerts.alert_with_events(valid.valid_alert_id(alert_id))
        if found is None:
            raise alert_not_found(alert_id)
        return found

    @staticmethod
    def _four_eyes(tx: Transaction, alert: Alert, reviewer: Actor) -> None:
        """A watchlist match is confirmed by an officer other than the one who registered
        the person (``FOUR_EYES`` otherwise); an officer is named by agency and name."""
        registration = tx.registry.registration_of(uuid.UUID(alert.subject_id))
        if registration is None:
            return
        agency_id, officer = registration
        if officer and (agency_id, officer.casefold()) == (
            reviewer.id,
            reviewer.officer.casefold(),
        ):
            raise four_eyes_refusal(alert)
        if not reviewer.officer:
            raise four_eyes_refusal(alert)

    def review_alert(self, request: cmd.ReviewAlert, reviewer: Actor) -> tuple[Alert, AlertEvent]:
        """Records the reviewer's decision: the alert's new status and its REVIEWED event.

        Raises ``InvalidInput`` naming ``alert_id``, ``decision`` or ``note``
        (a dismissal needs one), ``NotFound`` naming ``alert_id``, or
        ``FailedPrecondition`` when the alert's status does not allow the
        decision; nothing is written then. Returns the alert as reviewed and
        the event.
        """
        alert_id, decision, note = valid.valid_review(request)
        with self._uow.begin() as tx:
            alert = tx.alerts.lock_alert(alert_id)
            if alert is None:
                raise alert_not_found(alert_id)
            if alert.subject_kind is SubjectKind.PERSON:
                note_person_touched(alert.subject_id)
            refusal = review_refusal(alert, decision)
            if refusal is not None:
                raise FailedPrecondition([refusal])
            if alert.rule is RuleName.WATCHLIST_MATCH and decision is ReviewDecision.CONFIRM:
                self._four_eyes(tx, alert, reviewer)
            if decision.status.is_open and not alert.status.is_open:
                # Overturning a dismissal opens the alert again: not while
                # the rules have opened another of its key since.
                other = tx.alerts.open_alert_of_same_key(alert.id)
                if other is not None:
                    raise alert_superseded(alert.id, other)
            reviewed = tx.alerts.review(
                alert, decision, note=note, reviewer=reviewer, at=self._clock()
            )
            if reviewed is None:  # cannot be while the alert is locked; never write blind
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "ALERT_CHANGED",
                            f"alerts/{alert.id}",
                            f"alert {alert.id} changed while it was reviewed; review it again",
                        )
                    ]
                )
            if self._feed is not None:
                self._feed.append(tx, [reviewed[1]])
        return reviewed
