"""End-to-end fixtures for alerts: overstayers made over gRPC, the rules run in-process.

The rule engine runs on the test session's database with the server's own
audit trail and the suite's clock, as the scheduler would beside a serving
Pantau. ``row_counts`` here also covers the alert tables (and every alert's
row, whole), so each "nothing written" check of the end-to-end tier proves
that no alert, alert event or rule run was written or changed either.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import grpc
import pytest
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from sqlalchemy import Engine, text

from exchange_service import app
from exchange_service.domain.alerts import RuleName
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings
from scheduler.rules import RULES
from tests import factories as f
from tests.clock import CLOCK, TestClock
from tests.conftest import RowCounts

ALERT_TABLES = ("alert_events", "rule_runs")


@pytest.fixture(scope="session")
def rule_engine(
    settings: Settings, engine: Engine, running_server: app.RunningServer, clock: TestClock
) -> RuleEngine:
    """The rules of ``scheduler.rules``; the running server's trail chains their events."""
    return app.build_rule_engine(settings, engine, RULES, clock=clock.now)


@dataclass(frozen=True)
class Overstayer:
    """A person registered over gRPC whose permit's last valid day is ``days_over`` days ago."""

    person: pb.Person
    stay: pb.Stay
    days_over: int

    @property
    def fee_idr(self) -> int:
        """What the overstay costs at the default fee of Rp 1,000,000 a day (Pasal 78)."""
        return self.days_over * 1_000_000


def register_overstayer(channel: grpc.Channel, days_over: int = 11) -> Overstayer:
    """Registers a visitor, in Tarempa, whose visit permit ended ``days_over`` WIB days ago."""
    registry = r_grpc.RegistryServiceStub(channel)
    person = registry.RegisterPerson(
        r.RegisterPersonRequest(person=f.person("Rahman", "Ahmad Zaki", "MYS"))
    )
    entered = CLOCK.now() - timedelta(days=days_over + 30)
    stay = registry.RecordEntry(
        r.RecordEntryRequest(
            person_id=person.id,
            port_code="IDTRE",
            entered_at=f.timestamp(entered),
            permit=pb.StayPermit(
                permit_number=f"VISIT-{secrets.token_hex(3).upper()}",
                type=pb.PERMIT_TYPE_VISIT,
                valid_from=f.date(entered),
                valid_until=f.date(days=-days_over),
                sponsor="PT Anambas Bahari",
                purpose="tourism",
            ),
        )
    )
    registry.ReportAddress(f.address(person.id, 3.2166, 106.2211))
    return Overstayer(person, stay, days_over)


def run_overstay(rule_engine: RuleEngine) -> None:
    """Runs OVERSTAY as of now; it must not fail."""
    run = rule_engine.run(RuleName.OVERSTAY)
    assert run.error is None, run.error


class RecordAndAlertCounts(RowCounts):
    """The record tables' counts, the alert tables' counts, and a digest of every alert row."""

    def snapshot(self) -> dict[str, int]:
        counts = super().snapshot()
        with self._engine.connect() as connection:
            for table in ALERT_TABLES:
                counts[table] = int(
                    connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                )
            alerts, digest = connection.execute(
                text(
                    "SELECT count(*), coalesce(md5(string_agg(a::text, '|' ORDER BY a.id)), '')"
                    " FROM alerts a"
                )
            ).one()
        counts["alerts"] = int(alerts)
        # The digest as a number, so the snapshot stays a mapping of counts.
        counts["alerts digest"] = int(digest or "0", 16)
        return counts


@pytest.fixture
def row_counts(engine: Engine) -> RowCounts:
    return RecordAndAlertCounts(engine)
