"""Loading the Anambas sample through the use cases as `make run` does, in its own database."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import astuple

import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from sqlalchemy import create_engine, text

from exchange_service.app import build_application
from exchange_service.domain import commands as cmd
from exchange_service.domain.model import SightingSource
from exchange_service.settings import Settings, load_settings
from exchange_service.tools.sample import (
    SampleSummary,
    VillageOf,
    generate_sample,
    load_sample_into,
    registry_placement,
)
from exchange_service.wire import convert
from tests.conftest import fresh_database
from tests.feeds import feed_key_settings

PERSONS = 40
WRITTEN = (
    "persons_written",
    "documents_written",
    "stays_written",
    "extensions_written",
    "exits_written",
    "addresses_written",
    "sightings_written",
)


@pytest.fixture(scope="module")
def sample_settings(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    with fresh_database("pantau_test_sample") as url:
        yield load_settings(
            database_url=url, **feed_key_settings(tmp_path_factory.mktemp("feed-keys"))
        )


@pytest.fixture(scope="module")
def village_of(sample_settings: Settings) -> Iterator[VillageOf]:
    with registry_placement(sample_settings) as placement:
        yield placement


@pytest.fixture(scope="module")
def first_load(sample_settings: Settings) -> SampleSummary:
    return load_sample_into(sample_settings, persons=PERSONS)


def _counts(settings: Settings) -> tuple[int, ...]:
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            return tuple(
                connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("persons", "travel_documents", "stays", "addresses", "sightings")
            )
    finally:
        engine.dispose()


def test_the_first_load_writes_the_whole_sample(
    sample_settings: Settings, first_load: SampleSummary, village_of: VillageOf
) -> None:
    sample = generate_sample(PERSONS, today=first_load.day, village_of=village_of)
    # The persons drawn, and the rule cases beside them.
    assert len(sample) > PERSONS
    assert first_load.persons == first_load.persons_written == len(sample)
    assert first_load.stays_written == sum(len(p.stays) for p in sample)
    assert first_load.extensions_written == sum(len(s.extensions) for p in sample for s in p.stays)
    assert first_load.sightings_written == sum(len(p.sightings) for p in sample)
    persons, documents, stays, addresses, sightings = _counts(sample_settings)
    assert persons == len(sample)
    registered = sum(len(p.registration.documents) for p in sample)
    assert documents == registered + first_load.documents_written
    assert stays == first_load.stays_written
    assert addresses == first_load.addresses_written
    assert sightings == first_load.sightings_written


def test_loading_again_writes_nothing(sample_settings: Settings, first_load: SampleSummary) -> None:
    before = _counts(sample_settings)
    again = load_sample_into(sample_settings, persons=PERSONS)
    assert again.day == first_load.day
    assert [getattr(again, name) for name in WRITTEN] == [0] * len(WRITTEN)
    assert again.sightings_known == first_load.sightings_written
    assert _counts(sample_settings) == before


def test_importing_a_sample_lodging_receipt_is_a_duplicate(
    sample_settings: Settings, first_load: SampleSummary, village_of: VillageOf
) -> None:
    sample = generate_sample(PERSONS, today=first_load.day, village_of=village_of)
    check_in = next(
        s for p in sample for s in p.sightings if s.source is SightingSource.LODGING_CHECK_IN
    )
    assert check_in.document is not None
    assert check_in.location is not None
    assert check_in.observed_at is not None
    lodging_id, _, receipt = check_in.reference.partition("/")
    occurred_at = Timestamp()
    occurred_at.FromDatetime(check_in.observed_at)
    report = r.LodgingReport(
        lodging_id=lodging_id,
        lodging_name=check_in.place_name,
        location=pb.GeoPoint(
            latitude=check_in.location.latitude, longitude=check_in.location.longitude
        ),
        event=r.LODGING_EVENT_CHECK_IN,
        document=pb.TravelDocument(
            issuing_state=check_in.document.issuing_state, number=check_in.document.number
        ),
        occurred_at=occurred_at,
        reference=receipt,
    )
    before = _counts(sample_settings)
    application = build_application(sample_settings)
    try:
        sighting, is_new = application.registry.record_sighting(
            cmd.lodging_sighting(convert.lodging_report(report))
        )
    finally:
        application.close()
    assert not is_new
    assert sighting.reference == check_in.reference
    assert sighting.location is not None
    assert astuple(sighting.location) == astuple(check_in.location)
    assert _counts(sample_settings) == before
