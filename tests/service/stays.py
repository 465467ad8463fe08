"""Foreigners whose permits end on a given day, recorded through the registry, for rule tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Protocol
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, text

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain.alerts import Alert, AlertEvent, RuleName
from exchange_service.domain.model import PermitType
from exchange_service.services import Registry
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import SettableClock

WIB = ZoneInfo("Asia/Jakarta")
ALERT_TABLES = ("alerts", "alert_events", "rule_runs")


def wib(day: date, hour: int = 9, minute: int = 0, second: int = 0) -> datetime:
    """An instant by the office's clock (WIB)."""
    return datetime.combine(day, time(hour, minute, second), WIB)


@dataclass(frozen=True)
class Visitor:
    """A registered person on a stay, with the address they reported on entry."""

    person: model.Person
    stay: model.Stay
    address: model.AddressRecord

    @property
    def subject_id(self) -> str:
        return str(self.person.id)


def visit_permit(first_day: date, last_day: date, number: str) -> cmd.RawPermit:
    return cmd.RawPermit(
        permit_number=number,
        type=PermitType.VISIT,
        valid_from=c.parts(first_day),
        valid_until=c.parts(last_day),
        sponsor="PT Anambas Bahari",
        purpose="tourism",
    )


def visitor_until(
    registry: Registry,
    clock: SettableClock,
    last_valid_day: date,
    *,
    days: int = 30,
    number: str = "VISIT-2105-0001",
    family: str = "Nguyen",
    given: str = "Van An",
) -> Visitor:
    """A person who entered on the first day of a visit permit of ``days`` days ending
    ``last_valid_day``, with an address in Tarempa; the clock is set back as it was."""
    first_day = last_valid_day - timedelta(days=days - 1)
    was = clock()
    clock.set(wib(first_day, 10))
    person = registry.register_person(c.registration(family, given))
    address = registry.report_address(c.address(person.id, first_day))
    stay = registry.record_entry(
        c.entry(person.id, clock(), visit_permit(first_day, last_valid_day, number))
    )
    clock.set(was)
    return Visitor(person, stay, address)


def extend(
    registry: Registry,
    clock: SettableClock,
    visitor: Visitor,
    *,
    on: datetime,
    first_day: date,
    last_day: date,
    number: str = "EXT-2105-0001",
) -> model.Stay:
    """Records a further permit period of the visitor's stay at ``on``."""
    was = clock()
    clock.set(on)
    stay = registry.extend_permit(
        cmd.ExtendPermit(str(visitor.stay.id), visit_permit(first_day, last_day, number))
    )
    clock.set(was)
    return stay


def leave(registry: Registry, clock: SettableClock, visitor: Visitor, at: datetime) -> None:
    was = clock()
    clock.set(at)
    registry.record_exit(c.exit_at(visitor.person.id, at))
    clock.set(was)


class Subject(Protocol):
    """Whom alerts are about: a person (a visitor, a resident) or a sponsor."""

    @property
    def subject_id(self) -> str: ...


def alerts_of(uow: SavepointUnitOfWork, visitor: Subject, rule: RuleName) -> tuple[Alert, ...]:
    with uow.begin() as tx:
        return tx.alerts.alerts_of(visitor.subject_id, rule)


def the_alert(uow: SavepointUnitOfWork, visitor: Subject, rule: RuleName) -> Alert:
    (alert,) = alerts_of(uow, visitor, rule)
    return alert


def events_of(uow: SavepointUnitOfWork, alert: Alert) -> tuple[AlertEvent, ...]:
    with uow.begin() as tx:
        return tx.alerts.events_of(alert.id)


def alert_rows(connection: Connection) -> dict[str, int]:
    """Rows in the alert tables, as the test's transaction sees them."""
    return {
        table: int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())
        for table in ALERT_TABLES
    }


def dismiss(connection: Connection, alert: Alert) -> None:
    """Marks the alert a false positive (the review use case will do this through its events)."""
    connection.execute(
        text("UPDATE alerts SET status = 'DISMISSED' WHERE id = :id"), {"id": alert.id}
    )
