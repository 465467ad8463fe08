"""Responses built from field dictionaries carry the same values as protobuf's own helpers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from exchange_service.api import convert

INSTANTS = [
    datetime(2026, 11, 28, 9, 30, 15, 123456, tzinfo=UTC),
    datetime(2026, 11, 28, 16, 30, 15, 999999, tzinfo=timezone(timedelta(hours=7))),  # WIB
    datetime(1969, 12, 31, 23, 59, 59, 1, tzinfo=UTC),  # before the epoch
    datetime(1901, 1, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
    datetime(2026, 2, 28, 23, 59, 59, 500000),  # noqa: DTZ001 (naive: taken as UTC)
    datetime(1970, 1, 1, tzinfo=UTC),
]


@pytest.mark.parametrize("instant", INSTANTS, ids=str)
def test_timestamps_match_protobufs_own_conversion(instant: datetime) -> None:
    expected = Timestamp()
    expected.FromDatetime(instant)
    assert convert.timestamp_pb(instant) == expected
    assert convert.timestamp_pb(instant).ToDatetime(tzinfo=UTC) == (
        instant if instant.tzinfo else instant.replace(tzinfo=UTC)
    )
