"""Lodging imports over the real server: the summary always arrives, counting every report."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from sqlalchemy import create_engine, text

from exchange_service import app
from exchange_service.settings import Settings
from tests import factories as f
from tests.clock import TestClock
from tests.conftest import AGENCIES, RowCounts, agency_channel, fresh_database

LODGING = "APOA-2105-0042"


def _report(
    number: str,
    receipt: str,
    occurred_at: Timestamp,
    *,
    lodging_id: str = LODGING,
    latitude: float = 3.2171,
    event: r.LodgingEvent.ValueType = r.LODGING_EVENT_CHECK_IN,
) -> r.LodgingReport:
    return r.LodgingReport(
        lodging_id=lodging_id,
        lodging_name="Wisma Tarempa Indah",
        location=pb.GeoPoint(latitude=latitude, longitude=106.2213),
        event=event,
        document=pb.TravelDocument(issuing_state="VNM", number=number),
        occurred_at=occurred_at,
        reference=receipt,
    )


def test_ten_valid_reports_among_thirty_thousand_rejected_get_their_summary(
    grpc_channel: grpc.Channel, settings: Settings, row_counts: RowCounts
) -> None:
    registry = r_grpc.RegistryServiceStub(grpc_channel)
    guest = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    number = guest.documents[0].number
    tag = f.document_number()
    # Far over the reference's 100 characters, in two-byte characters: a
    # summary echoing each in full would be some 10 MB.
    long = "Ü" * 150
    rejected = 30_000
    at = f.hours_ago(5)

    def batch() -> Iterator[r.LodgingReport]:
        for i in range(rejected):
            if i % 3_000 == 0:
                yield _report(number, f"{tag}-OK-{i // 3_000}", at)
            receipt = f"{tag}-{i}-{long}"
            if i % 100 == 99:
                # Valid, but no one holds the document: looked up in the database.
                yield _report(f"NOBODY{i}", f"{tag}-{i}", at)
            elif i % 3 == 0:
                yield _report(number, receipt, at)
            elif i % 3 == 1:
                yield _report(number, receipt, at, latitude=95)
            else:
                yield _report(number, receipt, at, event=r.LODGING_EVENT_UNSPECIFIED)

    before = row_counts.snapshot()
    summary = registry.ImportLodgingReports(batch(), timeout=100)

    assert (summary.accepted, summary.duplicates, summary.rejected) == (10, 0, rejected)
    assert (summary.reports_read, summary.reached_cap) == (rejected + 10, False)
    assert len(summary.rejections) == settings.max_rejections_listed
    assert summary.rejections_unlisted == rejected - settings.max_rejections_listed
    counts = {
        (c.field, r.RejectionReason.Name(c.reason_code)): c.count for c in summary.rejection_counts
    }
    assert sum(counts.values()) == rejected
    assert counts == {
        ("reference", "REJECTION_REASON_INVALID_FIELD"): 9_900,
        ("location.latitude", "REJECTION_REASON_INVALID_FIELD"): 9_900,
        ("event", "REJECTION_REASON_INVALID_FIELD"): 9_900,
        ("document", "REJECTION_REASON_UNKNOWN_DOCUMENT"): 300,
    }
    for rejection in summary.rejections:
        assert len(rejection.reference.encode()) <= 64
        assert len(rejection.reason.encode()) <= 256
    assert summary.ByteSize() <= settings.max_message_bytes

    assert row_counts.snapshot()["sightings"] == before["sightings"] + 10
    dossier = q_grpc.QueryServiceStub(grpc_channel).GetPerson(
        q.GetPersonRequest(person_id=guest.id)
    )
    assert {s.reference for s in dossier.recent_sightings} == {
        f"{LODGING}/{tag}-OK-{k}" for k in range(10)
    }


def test_a_batch_over_the_cap_ends_with_a_summary_counting_every_sighting_recorded(
    settings: Settings, pki_dir: Path, tmp_path: Path, clock: TestClock
) -> None:
    with fresh_database("pantau_capped") as url:
        capped = settings.model_copy(
            update={
                "database_url": url,
                "max_reports_per_import": 7,
                "audit_signing_key_file": tmp_path / "audit-signing.key",
                "audit_checkpoint_file": tmp_path / "checkpoints.jsonl",
            }
        )
        running = app.start_server(capped, clock=clock.now)
        try:
            target = f"127.0.0.1:{running.port}"
            with agency_channel(target, pki_dir, AGENCIES["IMMIGRATION"]) as channel:
                registry = r_grpc.RegistryServiceStub(channel)
                guest = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
                number = guest.documents[0].number

                at = f.hours_ago(5)

                def endless_batch() -> Iterator[r.LodgingReport]:
                    for i in itertools.count():
                        lodging_id = " " if i == 2 else LODGING
                        yield _report(number, f"R-{i}", at, lodging_id=lodging_id)

                summary = registry.ImportLodgingReports(endless_batch(), timeout=30)
        finally:
            running.stop(grace=1.0)
        engine = create_engine(url)
        try:
            with engine.connect() as connection:
                references = connection.execute(
                    text("SELECT reference FROM sightings ORDER BY reference")
                ).scalars()
                recorded = list(references)
        finally:
            engine.dispose()

    assert (summary.reports_read, summary.reached_cap) == (7, True)
    assert (summary.accepted, summary.duplicates, summary.rejected) == (6, 0, 1)
    assert [(x.index, x.field) for x in summary.rejections] == [(2, "lodging_id")]
    assert recorded == [f"{LODGING}/R-{i}" for i in (0, 1, 3, 4, 5, 6)]
