"""The restricted areas: the shipped example as migrated, a file of one's own, and bad files.

A load replaces the areas in the caller's transaction; each test here rolls
its own back, so the session's database keeps the shipped example.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, Engine, text

from exchange_service import app
from exchange_service.data.loader import RestrictedAreasFileError, restricted_areas
from exchange_service.settings import load_settings
from exchange_service.storage.restricted_areas import load_restricted_areas

# The shipped points each area is drawn around, and a point of Tarempa town, in none.
ANCHORS = {
    "MATAK_MIGAS": (106.258003, 3.34812),  # Tarempa (Matak) Airport, MWK
    "PELABUHAN_LETUNG": (105.701813, 2.99211),  # PP. Jemaja
    "PELABUHAN_TAREMPA": (106.241112, 3.21874),  # PP. Antang Tarempa
}
TAREMPA_TOWN = (106.2211, 3.2166)
SQUARE = {
    "type": "Polygon",
    "coordinates": [[[106.0, 3.0], [106.01, 3.0], [106.01, 3.01], [106.0, 3.01], [106.0, 3.0]]],
}


@pytest.fixture
def connection(engine: Engine) -> Iterator[Connection]:
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield connection
        finally:
            transaction.rollback()


def _areas(connection: Connection) -> list[tuple[str, str, list[str]]]:
    rows = connection.execute(
        text("SELECT code, name, allowed_purposes FROM restricted_areas ORDER BY code")
    )
    return [(row.code, row.name, list(row.allowed_purposes)) for row in rows]


def _covering(connection: Connection, lon: float, lat: float) -> list[str]:
    return list(
        connection.execute(
            text(
                "SELECT code FROM restricted_areas WHERE ST_Covers(boundary,"
                " CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography)) ORDER BY code"
            ),
            {"lon": lon, "lat": lat},
        ).scalars()
    )


def _file(tmp_path: Path, *features: dict[str, Any]) -> Path:
    path = tmp_path / "areas.geojson"
    path.write_text(json.dumps({"type": "FeatureCollection", "features": list(features)}))
    return path


def _feature(**properties: Any) -> dict[str, Any]:
    base = {"code": "TEST_ZONE", "name": "Zona uji", "allowed_purposes": ["research"]}
    return {"type": "Feature", "properties": {**base, **properties}, "geometry": SQUARE}


def test_migrate_loaded_the_shipped_example_around_its_places(connection: Connection) -> None:
    assert [code for code, _name, _purposes in _areas(connection)] == sorted(ANCHORS)
    for code, (lon, lat) in ANCHORS.items():
        assert _covering(connection, lon, lat) == [code]
    assert _covering(connection, *TAREMPA_TOWN) == []
    valid = connection.execute(
        text("SELECT bool_and(ST_IsValid(CAST(boundary AS geometry))) FROM restricted_areas")
    ).scalar_one()
    assert valid is True
    matak = next(area for area in restricted_areas() if area.code == "MATAK_MIGAS")
    assert "oil and gas" in matak.allowed_purposes
    assert "illustrative" in matak.note


def test_a_file_of_ones_own_replaces_the_areas(connection: Connection, tmp_path: Path) -> None:
    path = _file(tmp_path, _feature(allowed_purposes=["penelitian", "research"]))
    assert load_restricted_areas(connection, path) == 1
    assert _areas(connection) == [("TEST_ZONE", "Zona uji", ["penelitian", "research"])]
    assert _covering(connection, 106.005, 3.005) == ["TEST_ZONE"]
    # Loading the shipped example again brings its areas back.
    assert load_restricted_areas(connection, None) == 3


@pytest.mark.parametrize(
    ("feature", "message"),
    [
        (_feature(allowed_purposes="research"), "feature 0: properties.allowed_purposes"),
        (_feature(allowed_purposes=["research", " "]), "feature 0: properties.allowed_purposes"),
        (_feature(code=""), "feature 0: properties.code"),
        (_feature(name=None), "feature 0: properties.name"),
        (_feature(note=3), "feature 0: properties.note"),
        (
            {**_feature(), "geometry": {"type": "Point", "coordinates": [106.0, 3.0]}},
            "feature 0: geometry must be a Polygon or MultiPolygon",
        ),
        ({"type": "Feature", "geometry": SQUARE}, "feature 0 has no properties"),
    ],
)
def test_a_bad_feature_is_named_and_nothing_changes(
    connection: Connection, tmp_path: Path, feature: dict[str, Any], message: str
) -> None:
    before = _areas(connection)
    with pytest.raises(RestrictedAreasFileError, match=message):
        load_restricted_areas(connection, _file(tmp_path, feature))
    assert _areas(connection) == before


def test_a_code_given_twice_or_a_file_that_is_no_geojson_is_refused(
    connection: Connection, tmp_path: Path
) -> None:
    twice = _file(tmp_path, _feature(), _feature(name="Zona uji kedua"))
    with pytest.raises(RestrictedAreasFileError, match=r"feature 1: properties\.code 'TEST_ZONE'"):
        load_restricted_areas(connection, twice)
    garbled = tmp_path / "garbled.geojson"
    garbled.write_text("{not json")
    with pytest.raises(RestrictedAreasFileError, match="cannot be read as JSON"):
        load_restricted_areas(connection, garbled)
    with pytest.raises(RestrictedAreasFileError, match="cannot be read as JSON"):
        load_restricted_areas(connection, tmp_path / "missing.geojson")
    listed = tmp_path / "list.geojson"
    listed.write_text("[]")
    with pytest.raises(RestrictedAreasFileError, match="is not a GeoJSON FeatureCollection"):
        load_restricted_areas(connection, listed)


def test_pantau_migrate_stops_on_a_bad_file_and_keeps_the_areas(
    database_url: str, engine: Engine, tmp_path: Path
) -> None:
    settings = load_settings(
        database_url=database_url,
        rule_restricted_areas_file=_file(tmp_path, _feature(allowed_purposes=None)),
    )
    with pytest.raises(SystemExit, match=r"rule_restricted_areas_file: .*allowed_purposes"):
        app.migrate(settings)
    with engine.connect() as connection:
        assert [code for code, _name, _purposes in _areas(connection)] == sorted(ANCHORS)
