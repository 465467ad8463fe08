"""The fuzz test's inputs, with no I/O: the wire walker is exact and each seed replays its bytes."""

from __future__ import annotations

import random

import pytest
from google.protobuf.message import DecodeError
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r

from tests import wire_fuzz

REQUEST = r.RecordSightingRequest(
    person_id="6f1c1d5e-8a4b-4c1e-9d57-2b0f6c9e3a11",
    location=pb.GeoPoint(latitude=3.2166, longitude=106.2211),
    source=pb.SIGHTING_SOURCE_POLICE_CHECK,
    reference="LP/123/XI/2026",
).SerializeToString()


def test_fields_split_and_join_back_to_the_same_bytes() -> None:
    fields = wire_fuzz.split_fields(REQUEST)
    assert fields is not None
    assert [(f.number, f.wire_type) for f in fields] == [
        (1, wire_fuzz.LENGTH_DELIMITED),
        (3, wire_fuzz.LENGTH_DELIMITED),
        (5, wire_fuzz.VARINT),
        (6, wire_fuzz.LENGTH_DELIMITED),
    ]
    assert wire_fuzz.join_fields(fields) == REQUEST
    assert wire_fuzz.split_fields(REQUEST[:-1]) is None


@pytest.mark.parametrize("value", [0, 1, 127, 128, 300, (1 << 63) - 1, wire_fuzz.MAX_VARINT])
def test_varints_round_trip(value: int) -> None:
    encoded = wire_fuzz.encode_varint(value)
    assert wire_fuzz.decode_varint(encoded, 0) == (value, len(encoded))


@pytest.mark.parametrize("mutation", wire_fuzz.MUTATIONS, ids=lambda m: m.__name__)
def test_each_mutation_replays_from_its_seed_and_changes_the_bytes(
    mutation: wire_fuzz.Mutation,
) -> None:
    outputs = [mutation(random.Random(seed), REQUEST) for seed in range(50)]
    assert outputs == [mutation(random.Random(seed), REQUEST) for seed in range(50)]
    assert sum(output != REQUEST for output in outputs) >= 40, mutation.__name__


def test_an_invalid_tag_never_parses() -> None:
    for seed in range(200):
        mangled = wire_fuzz.invalid_tag(random.Random(seed), REQUEST)
        with pytest.raises(DecodeError):
            r.RecordSightingRequest.FromString(mangled)


def test_an_unknown_field_keeps_the_message_parseable() -> None:
    for seed in range(200):
        extended = wire_fuzz.add_unknown_field(random.Random(seed), REQUEST)
        assert r.RecordSightingRequest.FromString(extended).person_id.startswith("6f1c1d5e")


def test_random_bytes_come_in_the_listed_lengths() -> None:
    rng = random.Random(7)
    lengths = {len(wire_fuzz.random_bytes(rng)) for _ in range(500)}
    assert lengths == set(wire_fuzz.RANDOM_LENGTHS)
