"""A lodging batch: each report is recorded, counted as a repeat, or rejected naming its field."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import replace

import pytest

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
    assert (summary.reports_read, summary.reached_cap) == (10, False)
    lodging = "APOA-2105-0042"
    invalid, unknown = model.RejectionReason.INVALID_FIELD, model.RejectionReason.UNKNOWN_DOCUMENT
    assert summary.rejections == (
        model.RejectedLodgingReport(
            1,
            lodging,
            "R-2",
            "document",
            "no registered person holds document VNM UNKNOWN999",
            unknown,
        ),
        model.RejectedLodgingReport(
            2,
            lodging,
            "R-3",
            "location.latitude",
            "location.latitude: 95.0 is outside -90 to 90 degrees",
            invalid,
        ),
        model.RejectedLodgingReport(
            5, " ", "R-5", "lodging_id", "lodging_id: is required", invalid
        ),
        model.RejectedLodgingReport(
            6, lodging, "R-6", "document", "document: person_id or document is required", invalid
        ),
        model.RejectedLodgingReport(7, lodging, "R-7", "event", "event: is required", invalid),
        model.RejectedLodgingReport(
            8, lodging, "R-8", "occurred_at", "occurred_at: is not a valid timestamp", invalid
        ),
        model.RejectedLodgingReport(
            9, lodging, "R-9", "occurred_at", "occurred_at: lies in the future", invalid
        ),
    )
    assert _counts(summary) == {
        ("document", unknown): 1,
        ("location.latitude", invalid): 1,
        ("lodging_id", invalid): 1,
        ("document", invalid): 1,
        ("event", invalid): 1,
        ("occurred_at", invalid): 2,
    }
    assert summary.rejections_unlisted == 0
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 2

    dossier = queries.get_person(cmd.PersonKey(str(guest.id)))
    assert sorted(s.source for s in dossier.recent_sightings) == [
        model.SightingSource.LODGING_CHECK_IN,
        model.SightingSource.LODGING_CHECK_OUT,
    ]
    assert {s.reference for s in dossier.recent_sightings} == {f"{lodging}/R-1", f"{lodging}/R-4"}

    again = registry.import_lodging_reports(reports[:1])
    assert (again.accepted, again.duplicates, again.rejected) == (0, 1, 0)


def _counts(summary: model.ImportSummary) -> dict[tuple[str, model.RejectionReason], int]:
    counts = {(c.field, c.reason_code): c.count for c in summary.rejection_counts}
    assert len(counts) == len(summary.rejection_counts), "a (field, reason) counted twice"
    return counts


def _capped(
    uow: SavepointUnitOfWork,
    settings: Settings,
    clock: SettableClock,
    *,
    max_reports_per_import: int | None = None,
    max_rejections_listed: int | None = None,
) -> Registry:
    """The registry with the batch's caps of ``settings``, save the ones given."""
    options = registry_options(settings)
    options = replace(
        options,
        max_reports_per_import=max_reports_per_import or options.max_reports_per_import,
        max_rejections_listed=max_rejections_listed or options.max_rejections_listed,
    )
    return Registry(uow, options, clock)


def test_the_batch_ends_at_its_cap_and_no_report_after_it_is_read(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    number = registry.register_person(c.registration()).documents[0].number
    capped = _capped(uow, service_settings, clock, max_reports_per_import=3)
    taken: list[str] = []

    def endless_batch() -> Iterator[cmd.LodgingReport]:
        for receipt in (f"R-{i}" for i in itertools.count()):
            taken.append(receipt)
            yield c.lodging_report(number, receipt, clock.ago(hours=1))

    before = row_counts.snapshot()
    summary = capped.import_lodging_reports(endless_batch())
    assert taken == ["R-0", "R-1", "R-2"]
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 0, 0)
    assert (summary.reports_read, summary.reached_cap) == (3, True)
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 3


def test_a_batch_fed_in_chunks_counts_every_committed_sighting_and_stops_at_its_cap(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    number = registry.register_person(c.registration()).documents[0].number
    capped = _capped(uow, service_settings, clock, max_reports_per_import=5)
    at = clock.ago(hours=1)
    batch = capped.lodging_import()
    before = row_counts.snapshot()

    batch.add_all([c.lodging_report(number, "R-1", at), c.lodging_report("UNKNOWN999", "R-2", at)])
    assert not batch.full
    middle = batch.summary()
    assert (middle.accepted, middle.rejected, middle.reports_read) == (1, 1, 2)
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 1

    batch.add(c.lodging_report(number, "R-1", at))  # sent again
    later = [c.lodging_report(number, f"R-{i}", at) for i in range(3, 9)]
    remaining = iter(later)
    batch.add_all(remaining)
    assert batch.full
    # The cap was reached with R-4: R-5 onwards were left in the chunk, unread.
    assert [report.reference for report in remaining] == ["R-5", "R-6", "R-7", "R-8"]
    with pytest.raises(RuntimeError, match="at most 5 reports"):
        batch.add(later[2])

    summary = batch.summary()
    assert (summary.accepted, summary.duplicates, summary.rejected) == (3, 1, 1)
    assert (summary.reports_read, summary.reached_cap) == (5, True)
    assert row_counts.snapshot()["sightings"] == before["sightings"] + summary.accepted


def test_a_summary_lists_the_first_rejections_and_counts_all_of_them_by_field_and_reason(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
    registry: Registry,
    row_counts: RowCountsInTransaction,
) -> None:
    number = registry.register_person(c.registration()).documents[0].number
    capped = _capped(uow, service_settings, clock, max_rejections_listed=3)
    at = clock.ago(hours=1)
    reports = [
        *(
            c.lodging_report(number, f"LAT-{i}", at, location=cmd.RawPoint(95.0, 106.0))
            for i in range(4)
        ),
        c.lodging_report(number, "OK-1", at),
        *(c.lodging_report(number, f"EVT-{i}", at, event=None) for i in range(5)),
        *(c.lodging_report(f"NOBODY{i}", f"DOC-{i}", at) for i in range(2)),
    ]
    before = row_counts.snapshot()
    summary = capped.import_lodging_reports(reports)

    assert (summary.accepted, summary.rejected, summary.reports_read) == (1, 11, 12)
    assert [r.reference for r in summary.rejections] == ["LAT-0", "LAT-1", "LAT-2"]
    assert summary.rejections_unlisted == 8
    invalid, unknown = model.RejectionReason.INVALID_FIELD, model.RejectionReason.UNKNOWN_DOCUMENT
    assert _counts(summary) == {
        ("location.latitude", invalid): 4,
        ("event", invalid): 5,
        ("document", unknown): 2,
    }
    assert row_counts.snapshot()["sightings"] == before["sightings"] + 1


def test_a_rejection_echoes_long_texts_cut_to_their_bounds_at_a_character(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    # Four bytes of UTF-8 each: a cut inside one would leave invalid text.
    long_reference = "\N{WATER WAVE}" * 500
    long_lodging = "APOA-" + "ü" * 300
    report = c.lodging_report(
        "UNKNOWN999", long_reference, clock.ago(hours=1), lodging_id=long_lodging
    )
    before = row_counts.snapshot()
    summary = registry.import_lodging_reports([report])
    (rejection,) = summary.rejections
    assert rejection.field == "reference"
    assert (rejection.reason_code, summary.rejected) == (model.RejectionReason.INVALID_FIELD, 1)
    for echoed, sent in (
        (rejection.reference, long_reference),
        (rejection.lodging_id, long_lodging),
    ):
        assert echoed.endswith("…")
        assert sent.startswith(echoed.removesuffix("…"))
        assert (
            model.REJECTION_ECHO_MAX_BYTES - 4
            < len(echoed.encode())
            <= model.REJECTION_ECHO_MAX_BYTES
        )
    assert len(rejection.reason.encode()) <= model.REJECTION_REASON_MAX_BYTES
    assert row_counts.snapshot() == before


def test_a_sighting_field_is_named_as_the_lodging_report_field_it_comes_from(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    number = registry.register_person(c.registration()).documents[0].number
    at = clock.ago(hours=1)
    reports = [
        c.lodging_report(number, "R-1", at, lodging_name="Wisma " * 50),
        c.lodging_report(number, "R-2", at, location=None),
    ]
    before = row_counts.snapshot()
    summary = registry.import_lodging_reports(reports)
    assert [(r.field, r.reason.split(":")[0]) for r in summary.rejections] == [
        ("lodging_name", "lodging_name"),
        ("location", "location"),
    ]
    assert all(r.field in model.LODGING_REPORT_FIELDS for r in summary.rejections)
    assert row_counts.snapshot() == before
