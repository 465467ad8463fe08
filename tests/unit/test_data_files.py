"""The shipped data files: as MANIFEST.json describes them, and read whole by the loader."""

from __future__ import annotations

import hashlib
import json
from importlib import resources

from exchange_service.data import loader

FILES = resources.files("exchange_service.data")
MANIFEST = json.loads(FILES.joinpath("MANIFEST.json").read_text(encoding="utf-8"))["files"]


def test_every_file_is_the_one_the_manifest_describes() -> None:
    for name, entry in MANIFEST.items():
        data = FILES.joinpath(name).read_bytes()
        assert len(data) == entry["bytes"], name
        assert hashlib.sha256(data).hexdigest() == entry["sha256"], name


def test_the_loader_reads_every_feature_and_row() -> None:
    for layer in loader.BoundaryLayer:
        features = loader.boundaries(layer)
        assert len(features) == MANIFEST[layer.value]["features"]
        assert all(f.code.startswith("21.05") and f.name and f.geometry for f in features)
    assert len(loader.places()) == MANIFEST["anambas_places.csv"]["rows"]
    airports = loader.airports()
    assert len(airports) == MANIFEST["anambas_airports_openflights.csv"]["rows"]
    assert {(a.iata, a.icao) for a in airports} == {("MWK", "WIOM"), ("LMU", "WIDL")}
    assert "UNO" in loader.icao_additional_state_codes()
    assert loader.bps_district_codes()["21.05.01"] == "2105040"


def test_a_village_code_names_its_district() -> None:
    assert loader.district_code_of("21.05.01.2003") == "21.05.01"


def test_the_cap_schema_is_the_oasis_one_with_its_notice() -> None:
    schema = loader.cap_schema()
    assert b"Copyright OASIS Open 2010 All Rights Reserved" in schema
    assert b'targetNamespace = "urn:oasis:names:tc:emergency:cap:1.2"' in schema
    assert len(schema) == MANIFEST[loader.CAP_SCHEMA_FILE]["bytes"]
