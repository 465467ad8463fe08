"""A lodging batch: each report is recorded, counted as a repeat, or rejected naming its field."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

from exchange_service.app import registry_options
from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain.errors import FieldViolation
from exchange_service.services import Queries, Registry
from exchange_service.settings import Settings
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import RowCountsInTransaction, SettableClock


def test_a_batch_counts_each_report_and_a_bad_one_never_stops_it(
    registry: Registry, queries: Queries, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    guest = registry.register_person(c.registration())
    number = guest.documents[0].number
    at = clock.ago(hours=5)
    unreadable = (FieldViolation("occurred_at", "is not a valid timestamp"),)
    reports = [
        c.lodging_report(number, "R-1", at),
        c.lodging_report("UNKNOWN999", "R-2", at),
        c.lodging_report(number, "R-3", at, location=cmd.RawPoint(95.0, 106.0)),
        c.lodging_report(number, "R-4", at, event=model.SightingSource.LODGING_CHECK_OUT),
        c.lodging_report(number, "R-1", at),  # sent twice
        c.lodging_report(number, "R-5", at, lodging_id=" "),
        c.lodging_report(number, "R-6", at, document=None),
        c.lodging_report(number, "R-7", at, event=None),
        c.lodging_report(number, "R-8", None, unreadable=unreadable),
        c.lodging_report(number, "R-9", clock.ago(hours=-1)),
    ]
    before = row_counts.snapshot()
    summary = registry.import_lodging_reports(iter(reports))

    assert (summary.accepted, summary.duplicates, summary.rejected) == (2, 1, 7)
    lodging = "APOA-2105-0042"
    assert summary.rejections == (
        model.RejectedLodgingReport(
            1, lodging, "R-2", "document", "no registered person holds document VNM UNKNOWN999"
        ),
        model.RejectedLodgingReport(
            2,
            lodging,
            "R-3",
            "location.latitude",
            "location.latitude: 95.0 is outside -90 to 90 degrees",
        ),
        model.RejectedLodgingReport(5, " ", "R-5", "lodging_id", "lodging_id: is required"),
        model.RejectedLodgingReport(
            6, lodging, "R-6", "document", "document: person_id or document is required"
        ),
        model.RejectedLodgingReport(7, lodging, "R-7", "event", "event: is required"),
        model.RejectedLodgingReport(
            8, lodging, "R-8", "occurred_at", "occurred_at: is not a valid timestamp"
        ),
        model.RejectedLodgingReport(
            9, lodging, "R-9", "occurred_at", "occurred_at: lies in the future"
        ),
    )
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 2

    dossier = queries.get_person(cmd.PersonKey(str(guest.id)))
    assert sorted(s.source for s in dossier.recent_sightings) == [
        model.SightingSource.LODGING_CHECK_IN,
        model.SightingSource.LODGING_CHECK_OUT,
    ]
    assert {s.reference for s in dossier.recent_sightings} == {f"{lodging}/R-1", f"{lodging}/R-4"}

    again = registry.import_lodging_reports(reports[:1])
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, 0)


def test_reports_past_the_batch_cap_are_rejected_unrecorded(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    number = registry.register_person(c.registration()).documents[0].number
    capped = Registry(
        uow, replace(registry_options(service_settings), max_reports_per_import=2), clock
    )

    def batch() -> Iterator[cmd.LodgingReport]:
        for receipt in ("R-1", "R-2", "R-3", "R-4"):
            yield c.lodging_report(number, receipt, clock.ago(hours=1))

    before = row_counts.snapshot()
    summary = capped.import_lodging_reports(batch())
    assert (summary.accepted, summary.duplicates) == (2, 0)
    assert summary.rejections == tuple(
        model.RejectedLodgingReport(
            i, "APOA-2105-0042", f"R-{i + 1}", "", "a batch holds at most 2 reports"
        )
        for i in (2, 3)
    )
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 2
