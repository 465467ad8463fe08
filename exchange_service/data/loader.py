"""The data files Pantau ships in this package, read in one place and typed.

Everything that needs a shipped file (the boundaries loaded by migration,
the country codes of validation, the sample and the benchmark) reads it
here, so each file's columns are spelled out once. Sources and licences are
in ``MANIFEST.json`` and ``LICENSES.md`` next to the files. Reading a file is
pure: the same package gives the same values.
"""

from __future__ import annotations

import csv
import enum
import functools
import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

_FILES = resources.files("exchange_service.data")
# The restricted areas shipped as an example (illustrative, not official: LICENSES.md).
RESTRICTED_AREAS_FILE = "restricted_areas.geojson"
# The OASIS CAP 1.2 schema, unmodified (its notice in LICENSES.md).
CAP_SCHEMA_FILE = "CAP-v1.2.xsd"


class BoundaryLayer(enum.StrEnum):
    """The Kemendagri boundary layers of the regency, each a GeoJSON file."""

    REGENCY = "anambas_kabupaten.geojson"
    DISTRICTS = "anambas_kecamatan.geojson"
    VILLAGES = "anambas_desa_kelurahan.geojson"


@dataclass(frozen=True)
class Boundary:
    """One feature of a boundary layer: a Kemendagri code, a name and a GeoJSON geometry."""

    code: str
    name: str
    geometry: dict[str, Any]  # GeoJSON, longitude first


class PlaceKind(enum.StrEnum):
    REGENCY_CENTROID = "kabupaten_centroid"
    DISTRICT_CENTROID = "kecamatan_centroid"
    DESA_CENTROID = "desa_centroid"
    KELURAHAN_CENTROID = "kelurahan_centroid"
    FISHING_PORT = "fishing_port"
    SPECIAL_TERMINAL = "special_terminal"


@dataclass(frozen=True)
class Place:
    """A row of ``anambas_places.csv``: a centroid or a port, with its Kemendagri code."""

    name: str
    latitude: float
    longitude: float
    kind: PlaceKind
    code: str  # the unit the centroid is of, or the village a port lies in; may be empty


@dataclass(frozen=True)
class Airport:
    """A row of ``anambas_airports_openflights.csv``."""

    name: str
    latitude: float
    longitude: float
    iata: str
    icao: str


def district_code_of(village_code: str) -> str:
    """The district (kecamatan) a village's Kemendagri code belongs to: ``21.05.01.2003`` is
    in ``21.05.01``."""
    return village_code[:8]


def _rows(name: str) -> list[dict[str, str]]:
    with _FILES.joinpath(name).open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def boundaries(layer: BoundaryLayer) -> tuple[Boundary, ...]:
    """The features of one layer, in file order (read anew: geometries are large and used once)."""
    with _FILES.joinpath(layer.value).open(encoding="utf-8") as handle:
        features: list[dict[str, Any]] = json.load(handle)["features"]
    return tuple(
        Boundary(
            code=feature["properties"]["kode_kemendagri"],
            name=feature["properties"]["nama"],
            geometry=feature["geometry"],
        )
        for feature in features
    )


def cap_schema() -> bytes:
    """The bytes of the official OASIS CAP 1.2 XML schema, as shipped (no network)."""
    return _FILES.joinpath(CAP_SCHEMA_FILE).read_bytes()


def bps_district_codes() -> dict[str, str]:
    """BPS (statistics office) codes of the districts, by Kemendagri code, where known."""
    return {
        row["kode_kemendagri_2025"]: row["kode_bps_mfd_2018"]
        for row in _rows("anambas_kecamatan_code_crosswalk.csv")
        if row["kode_bps_mfd_2018"]
    }


@functools.cache
def places() -> tuple[Place, ...]:
    """Centroids of the regency, its districts and villages, and its ports, in file order."""
    return tuple(
        Place(
            name=row["name"],
            latitude=float(row["lat"]),
            longitude=float(row["lon"]),
            kind=PlaceKind(row["kind"]),
            code=row["code"],
        )
        for row in _rows("anambas_places.csv")
    )


@functools.cache
def airports() -> tuple[Airport, ...]:
    """The regency's airports; the file's code column reads ``IATA MWK / ICAO WIOM``."""
    found = []
    for row in _rows("anambas_airports_openflights.csv"):
        iata, icao = (part.split()[1] for part in row["code"].split(" / "))
        found.append(Airport(row["name"], float(row["lat"]), float(row["lon"]), iata, icao))
    return tuple(found)


@functools.cache
def icao_additional_state_codes() -> frozenset[str]:
    """ICAO 9303 three-letter codes beyond ISO 3166-1 (``XXA``, ``UNO``, ``GBD`` ...)."""
    return frozenset(
        row["code"] for row in _rows("icao9303_additional_state_codes.csv") if len(row["code"]) == 3
    )


@dataclass(frozen=True)
class RestrictedArea:
    """An area where only some permit purposes may be (RESTRICTED_AREA_PRESENCE).

    A permit's purpose is allowed there when it contains one of
    ``allowed_purposes`` as whole words, ignoring case and punctuation (the
    rule compares them so).
    """

    code: str
    name: str
    allowed_purposes: tuple[str, ...]
    note: str
    geometry: dict[str, Any]  # GeoJSON Polygon or MultiPolygon, longitude first


class RestrictedAreasFileError(ValueError):
    """The restricted-areas file is not what the rule needs; the message names where."""


def _area(source: str, index: int, feature: object) -> RestrictedArea:
    where = f"{source}: feature {index}"
    if not isinstance(feature, dict):
        raise RestrictedAreasFileError(f"{where} is not a GeoJSON feature")
    properties = feature.get("properties")
    geometry = feature.get("geometry")
    if not isinstance(properties, dict):
        raise RestrictedAreasFileError(f"{where} has no properties")
    for name in ("code", "name"):
        value = properties.get(name)
        if not isinstance(value, str) or not value.strip():
            raise RestrictedAreasFileError(f"{where}: properties.{name} must be a non-empty text")
    purposes = properties.get("allowed_purposes")
    if not isinstance(purposes, list) or not all(
        isinstance(p, str) and p.strip() for p in purposes
    ):
        raise RestrictedAreasFileError(
            f"{where}: properties.allowed_purposes must be a list of non-empty texts"
            " (an empty list: no purpose is allowed there)"
        )
    note = properties.get("note", "")
    if not isinstance(note, str):
        raise RestrictedAreasFileError(f"{where}: properties.note must be a text")
    if not isinstance(geometry, dict) or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        raise RestrictedAreasFileError(f"{where}: geometry must be a Polygon or MultiPolygon")
    return RestrictedArea(
        code=properties["code"].strip(),
        name=properties["name"].strip(),
        allowed_purposes=tuple(p.strip() for p in purposes),
        note=note,
        geometry=geometry,
    )


def restricted_areas(path: Path | None = None) -> tuple[RestrictedArea, ...]:
    """The restricted areas of a GeoJSON file (``None``: the example shipped here), in file order.

    Raises ``RestrictedAreasFileError`` naming the file, the feature and the
    property that is missing or wrong, or a code given twice.
    """
    source = str(path) if path is not None else f"exchange_service/data/{RESTRICTED_AREAS_FILE}"
    try:
        if path is None:
            text = _FILES.joinpath(RESTRICTED_AREAS_FILE).read_text(encoding="utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        document = json.loads(text)
    except (OSError, ValueError) as error:
        raise RestrictedAreasFileError(f"{source}: cannot be read as JSON: {error}") from error
    features = document.get("features") if isinstance(document, dict) else None
    if not isinstance(features, list):
        raise RestrictedAreasFileError(f"{source} is not a GeoJSON FeatureCollection")
    areas = tuple(_area(source, index, feature) for index, feature in enumerate(features))
    seen: set[str] = set()
    for index, area in enumerate(areas):
        if area.code in seen:
            raise RestrictedAreasFileError(
                f"{source}: feature {index}: properties.code {area.code!r} is given twice"
            )
        seen.add(area.code)
    return areas
