"""The early-warning report made on the real PostGIS from a registry the test sets up.

A database of this module's own (the other tiers commit into the session's), each
test in a transaction rolled back at its end. The figures are checked against what
the test recorded: who is present, who overstays by how many days, which alerts
were opened when and reviewed how.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from exchange_service.app import alerts_options
from exchange_service.domain import commands as cmd
from exchange_service.domain import report as rp
from exchange_service.domain.agencies import DataView
from exchange_service.domain.alerts import ReviewDecision, RuleName
from exchange_service.domain.audit import Actor
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.report import IDENTIFYING_KINDS, Grain
from exchange_service.rules_root import build_reports
from exchange_service.services import Registry
from exchange_service.services.alerts import Alerts, RuleEngine
from exchange_service.services.reports import REPORT_ACTION, EarlyWarningReports
from exchange_service.settings import Settings, load_settings
from exchange_service.storage.database import SavepointUnitOfWork, make_engine
from tests.conftest import fresh_database
from tests.service import commands as c
from tests.service.conftest import SettableClock
from tests.service.stays import visitor_until, wib

SUPERVISOR = Actor.agency("supervisor-tarempa", "SUPERVISOR", "Drs. Bambang")
# The day of the report: 10 March 2026, 09:00 WIB (the suite's default instant).
TODAY = date(2026, 3, 10)
OVERSTAYER_LAST_DAY = date(2026, 1, 31)  # 38 days over on TODAY
EXPIRING_LAST_DAY = date(2026, 3, 15)  # 5 days left on TODAY


@pytest.fixture(scope="module")
def report_database() -> Iterator[str]:
    with fresh_database("pantau_test_reports") as url:
        yield url


@pytest.fixture(scope="module")
def service_settings(report_database: str) -> Settings:
    return load_settings(database_url=report_database)


@pytest.fixture(scope="module")
def service_engine(report_database: str) -> Iterator[Engine]:
    engine = make_engine(report_database, pool_size=1, application_name="pantau-report-test")
    yield engine
    engine.dispose()


@pytest.fixture
def reports(
    uow: SavepointUnitOfWork, service_settings: Settings, clock: SettableClock
) -> EarlyWarningReports:
    return build_reports(service_settings, uow, clock=clock)


class Office:
    """The registry the reports are about: an overstayer, a permit ending soon, a
    resident with no address; the rules run and one alert dismissed."""

    def __init__(
        self, registry: Registry, engine: RuleEngine, alerts: Alerts, clock: SettableClock
    ) -> None:
        clock.set(wib(TODAY, 9))
        self.overstayer = visitor_until(registry, clock, OVERSTAYER_LAST_DAY, family="Nguyen")
        self.expiring = visitor_until(
            registry, clock, EXPIRING_LAST_DAY, family="Sato", given="Kenji", number="VISIT-2"
        )
        clock.set(wib(TODAY - timedelta(days=3), 10))
        person = registry.register_person(c.registration("Smith", "Anna", nationality="AUS"))
        registry.record_entry(c.entry(person.id, clock(), c.permit(clock.today(), ends=60)))
        self.unaddressed = person
        # OVERSTAY opened the day before the report, PERMIT_EXPIRING on its morning.
        clock.set(wib(TODAY - timedelta(days=1), 9))
        assert engine.run(RuleName.OVERSTAY).error is None
        clock.set(wib(TODAY, 7))
        assert engine.run(RuleName.PERMIT_EXPIRING).error is None
        (expiring_alert,) = [
            a
            for a in alerts.list_alerts(cmd.ListAlerts(rules=("PERMIT_EXPIRING",))).items
            if a.subject_id == str(self.expiring.person.id)
        ]
        clock.set(wib(TODAY, 8))
        alerts.review_alert(
            cmd.ReviewAlert(str(expiring_alert.id), str(ReviewDecision.DISMISS), "sudah lapor"),
            SUPERVISOR,
        )
        clock.set(wib(TODAY, 9))


@pytest.fixture
def office(
    registry: Registry,
    rule_engine: RuleEngine,
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
) -> Office:
    return Office(
        registry, rule_engine, Alerts(uow, alerts_options(service_settings), clock), clock
    )


def _rows(report: rp.StoredReport, name: str) -> list[dict[str, str]]:
    (file,) = [f for f in report.files if f.name == name]
    return list(csv.DictReader(io.StringIO(file.content.decode())))


def _summary(report: rp.StoredReport) -> dict[str, object]:
    (file,) = [f for f in report.files if f.name == "summary.json"]
    value = json.loads(file.content)
    assert isinstance(value, dict)
    return value


def _full(reports: EarlyWarningReports, connection: Connection, day: date) -> rp.EarlyWarningReport:
    """The full edition's values as the reader gives them (before rendering)."""
    from exchange_service.storage.report_reader import ReportReader

    options = reports.options
    query = rp.ReportQuery(
        date=day,
        district_code="",
        as_of=reports.default_as_of(day, datetime.now(UTC)),
        made_at=datetime.now(UTC),
        timezone=options.timezone.key,
        options=options.report,
        agency_names=options.agency_names,
    )
    raw = connection.connection.driver_connection
    return ReportReader(raw).report(query)  # type: ignore[arg-type]


def test_the_days_figures_are_the_registrys(
    office: Office, reports: EarlyWarningReports, connection: Connection
) -> None:
    report = _full(reports, connection, TODAY)
    figures = {h.key: h.value for h in report.headlines}
    assert figures["present"] == 3
    assert figures["overstays"] == 1
    assert figures["fees_idr"] == 38 * 1_000_000
    assert figures["expiring"] == 1
    # The overstay, and the expiring permit dismissed: open are the overstay alone.
    assert figures["open_alerts"] == 1
    assert figures["new_alerts"] == 1  # PERMIT_EXPIRING, opened this morning (dismissed since)
    (overstay,) = report.table("overstays").rows
    columns = [col.key for col in report.table("overstays").columns]
    row = dict(zip(columns, overstay, strict=True))
    assert row["name"] == "NGUYEN Van An"
    assert row["days_over"] == 38
    assert row["fee_idr"] == 38_000_000
    assert row["last_valid_day"] == OVERSTAYER_LAST_DAY
    assert row["alert_status"] == "OPEN"
    (expiring,) = report.table("permits_expiring").rows
    assert expiring[report.table("permits_expiring").column("days_left")] == 5
    by_rule = {(r[0], r[1]): r[2:] for r in report.table("alerts_by_rule").rows}
    assert by_rule[("OVERSTAY", "HIGH")] == (0, 1, 0, 0)  # opened yesterday, open
    assert by_rule[("PERMIT_EXPIRING", "WARNING")][3] == 1  # dismissed today
    (age_row,) = [r for r in report.table("open_by_age").rows if r[0] == "OVERSTAY"]
    assert age_row[2:7] == (1, 0, 0, 0, 0)  # 2 days old, within HIGH's 3 days
    false_positives = {r[0]: r[1:] for r in report.table("false_positives").rows}
    assert false_positives == {"PERMIT_EXPIRING": (0, 1, 1.0)}
    quality = {r[0]: r[3] for r in report.table("data_quality").rows}
    assert quality["NO_ADDRESS"] == 1
    assert quality["NO_PERMIT"] == 0
    siantan = next(d for d in report.districts if d.code == "21.05.01")
    assert (siantan.foreigners_present, siantan.open_alerts) == (2, 1)
    assert siantan.open_per_100 == 50.0
    assert len(report.districts) == 10
    # The trend's last day is the report's; the overstay opened the day before.
    assert report.trend[-1].day == TODAY
    assert (report.trend[-2].opened, report.trend[-2].open_at_end) == (1, 1)
    assert (report.trend[-1].opened, report.trend[-1].closed) == (1, 1)


def test_a_past_days_report_is_as_of_the_end_of_that_day(
    office: Office, reports: EarlyWarningReports, connection: Connection
) -> None:
    before = _full(reports, connection, TODAY - timedelta(days=2))
    figures = {h.key: h.value for h in before.headlines}
    # Everyone had arrived by then (the last three days before TODAY); OVERSTAY opened
    # its alert the day after, so none was open at that day's end.
    assert figures["present"] == 3
    assert figures["open_alerts"] == 0
    assert figures["overstays"] == 1
    (overstay,) = before.table("overstays").rows
    assert overstay[before.table("overstays").column("days_over")] == 36
    assert overstay[before.table("overstays").column("alert_status")] is None


def test_the_regional_governments_edition_holds_aggregates_only(
    office: Office, reports: EarlyWarningReports
) -> None:
    stored = reports.make(TODAY, "", DataView.DISTRICT, SUPERVISOR)
    assert stored.edition is rp.Edition.AGGREGATE
    names = {f.name for f in stored.files}
    assert "overstays.csv" not in names
    assert "permits_expiring.csv" not in names
    assert "overstays_by_district.csv" in names
    everything = b"".join(f.content for f in stored.files)
    for personal in ("NGUYEN", "Nguyen", "SATO Kenji", "Anna", "VISIT-2105-0001"):
        assert personal.encode() not in everything
    summary = _summary(stored)
    assert summary["edition"] == "AGGREGATE"
    overstays = _rows(stored, "overstays_by_district.csv")
    assert [(r["persons"], r["fee_idr"]) for r in overstays] == [("1", "38000000")]


def test_the_disclosure_policy_keeps_every_identifying_column_from_the_aggregate_edition(
    office: Office, reports: EarlyWarningReports, connection: Connection
) -> None:
    from exchange_service.domain.disclosure import REPORT_TABLES, disclose_report

    full = _full(reports, connection, TODAY)
    assert {t.key for t in full.tables} == set(REPORT_TABLES)
    aggregate = disclose_report(full, DataView.DISTRICT)
    assert aggregate.tables
    for table in aggregate.tables:
        assert table.grain is Grain.AGGREGATE
        assert not {col.kind for col in table.columns} & IDENTIFYING_KINDS, table.key
    for table in full.tables:
        if table.grain is Grain.CASES:
            assert table.key not in {t.key for t in aggregate.tables}


def test_a_report_asked_for_again_is_the_same_report_unless_a_new_one_is_asked_for(
    office: Office, reports: EarlyWarningReports, connection: Connection
) -> None:
    first = reports.get(rp.ReportRequest(), SUPERVISOR, DataView.FULL)
    again = reports.get(rp.ReportRequest(date=TODAY.isoformat()), SUPERVISOR, DataView.FULL)
    assert again.id == first.id
    assert again.files == first.files
    new = reports.get(rp.ReportRequest(regenerate=True), SUPERVISOR, DataView.FULL)
    assert new.id != first.id
    # The aggregate edition is a report of its own.
    other = reports.get(rp.ReportRequest(), SUPERVISOR, DataView.DISTRICT)
    assert other.id not in (first.id, new.id)
    recorded = connection.execute(
        text("SELECT request_digest, purpose, actor_id FROM audit_inbox WHERE action = :a"),
        {"a": REPORT_ACTION},
    ).all()
    assert sorted(r[0] for r in recorded) == sorted([first.digest, new.digest, other.digest])
    assert all(r[2] == SUPERVISOR.id for r in recorded)
    assert any(first.id in r[1] for r in recorded)


def test_a_stored_report_cannot_be_changed(
    office: Office, reports: EarlyWarningReports, connection: Connection
) -> None:
    stored = reports.make(TODAY, "", DataView.FULL, SUPERVISOR)
    for statement in (
        "UPDATE reports SET made_by = 'someone else' WHERE id = :id",
        "UPDATE report_files SET content = 'x' WHERE report_id = :id",
        "DELETE FROM report_files WHERE report_id = :id",
    ):
        savepoint = connection.begin_nested()
        with pytest.raises(DBAPIError, match=r"append-only|history"):
            connection.execute(text(statement), {"id": stored.id})
        savepoint.rollback()
    checked = reports.verify(stored.files)
    assert [r.id for r in checked.reports] == [stored.id]
    assert len(checked.audit_records) == 1
    changed = [
        rp.ReportFile(f.name, f.media_type, f.content + b" ") if f.name == "summary.json" else f
        for f in stored.files
    ]
    assert reports.verify(changed).reports == ()


def test_bad_requests_name_each_field_and_write_nothing(
    office: Office, reports: EarlyWarningReports, connection: Connection
) -> None:
    def count() -> tuple[int, int]:
        return (
            int(connection.execute(text("SELECT count(*) FROM reports")).scalar_one()),
            int(connection.execute(text("SELECT count(*) FROM audit_inbox")).scalar_one()),
        )

    before = count()
    cases = [
        (("date",), rp.ReportRequest(date="2026-03-11")),  # tomorrow in WIB
        (("date",), rp.ReportRequest(date="0001-01-01")),  # a slip: its trend would overflow
        (("date", "district_code"), rp.ReportRequest(date="10-03-2026", district_code="21.05.11")),
        (("district_code",), rp.ReportRequest(district_code="2105")),
    ]
    for fields, request in cases:
        with pytest.raises(InvalidInput) as refused:
            reports.get(request, SUPERVISOR, DataView.FULL)
        assert tuple(v.field for v in refused.value.violations) == fields
    assert count() == before


def test_the_day_turns_at_midnight_in_wib_not_utc(
    office: Office, reports: EarlyWarningReports, clock: SettableClock, connection: Connection
) -> None:
    # 23:59 WIB on the report's day is 16:59 UTC: still that day, tomorrow refused.
    clock.set(datetime(2026, 3, 10, 16, 59, tzinfo=UTC))
    with pytest.raises(InvalidInput):
        reports.get(rp.ReportRequest(date="2026-03-11"), SUPERVISOR, DataView.FULL)
    late = reports.make(TODAY, "", DataView.FULL, SUPERVISOR)
    assert _rows(late, "overstays.csv")[0]["days_over"] == "38"
    # 00:01 WIB the next day (17:01 UTC): the 11th is today and one more day is over.
    clock.set(datetime(2026, 3, 10, 17, 1, tzinfo=UTC))
    assert reports.today() == date(2026, 3, 11)
    early = reports.get(rp.ReportRequest(date="2026-03-11"), SUPERVISOR, DataView.FULL)
    assert early.date == date(2026, 3, 11)
    assert _rows(early, "overstays.csv")[0]["days_over"] == "39"


def test_the_morning_report_is_as_of_its_hour_in_both_editions(
    office: Office, reports: EarlyWarningReports
) -> None:
    slot = reports.morning(TODAY)
    assert slot == wib(TODAY, 6)
    made = reports.make_morning(slot, Actor.system("scheduler"))
    assert [r.edition for r in made] == [rp.Edition.FULL, rp.Edition.AGGREGATE]
    assert {r.as_of for r in made} == {slot}
    # At 06:00 the PERMIT_EXPIRING alert (07:00) was not yet opened.
    summary = _summary(made[0])
    assert str(summary["as_of"]).startswith("2026-03-10T06:00")
