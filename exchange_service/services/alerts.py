"""The rule engine: a rule run as of an instant brings that rule's alerts in line with the facts.

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
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, tzinfo
from functools import partial

from exchange_service.domain.alerts import (
    ENGINE_PARAMETERS,
    AlertChanges,
    RuleDefinition,
    RuleName,
    RuleRun,
    RuleSettings,
)
from exchange_service.domain.audit import Actor, AuditEvent
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.errors import FieldViolation, InvalidInput, PantauError
from exchange_service.domain.fencing import Fence, LeadershipLost, SlotAlreadyFired
from exchange_service.services.ports import Transaction, UnitOfWork

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RuleEngineOptions:
    """What the engine takes from the settings."""

    # The office's timezone: a run's "today" is its day there (WIB), never UTC's.
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
    ) -> None:
        for name, rule in rules.items():
            if rule.name != name:
                raise ValueError(f"the catalogue holds rule {rule.name} under {name}")
        self._uow = uow
        self._rules = dict(rules)
        self._options = options
        self._clock = clock
        self._actor = actor or Actor.system("rules")

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
        parameters = {**numbers, "as_of": instant, "today": today, "rule": str(name)}
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
