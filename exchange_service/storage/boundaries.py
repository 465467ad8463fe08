"""Anambas boundaries in PostGIS, and the district and village of a point.

The layers come from Kemendagri's codes via cahyadsn/wilayah_boundaries (see
exchange_service/data/LICENSES.md). They are simplified and the village layer
does not nest exactly inside the district layer, so a point gets the district
whose polygon contains it or else the nearest one, then the village of that
district that contains it or else the nearest one. A point farther than the
tolerance from the regency's outline gets neither.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from sqlalchemy import Connection, text

from exchange_service.domain.model import GeoPoint

_DATA = resources.files("exchange_service.data")


def _features(name: str) -> list[dict[str, Any]]:
    with _DATA.joinpath(name).open(encoding="utf-8") as handle:
        features: list[dict[str, Any]] = json.load(handle)["features"]
    return features


def _bps_codes() -> dict[str, str]:
    with _DATA.joinpath("anambas_kecamatan_code_crosswalk.csv").open(encoding="utf-8") as handle:
        return {
            row["kode_kemendagri_2025"]: row["kode_bps_mfd_2018"]
            for row in csv.DictReader(handle)
            if row["kode_bps_mfd_2018"]
        }


_MULTI = "ST_Multi(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(:geometry), 4326)))"


def load_boundaries(connection: Connection) -> None:
    """Loads the regency, districts and villages, if not loaded yet."""
    if connection.execute(text("SELECT count(*) FROM districts")).scalar_one():
        return
    for feature in _features("anambas_kabupaten.geojson"):
        connection.execute(
            text(
                "INSERT INTO regency (code, name, boundary) "
                f"VALUES (:code, :name, ST_CollectionExtract({_MULTI}, 3))"
            ),
            {
                "code": feature["properties"]["kode_kemendagri"],
                "name": feature["properties"]["nama"],
                "geometry": json.dumps(feature["geometry"]),
            },
        )
    bps = _bps_codes()
    for feature in _features("anambas_kecamatan.geojson"):
        code = feature["properties"]["kode_kemendagri"]
        connection.execute(
            text(
                "INSERT INTO districts (code, name, bps_code, boundary) "
                f"VALUES (:code, :name, :bps, ST_CollectionExtract({_MULTI}, 3))"
            ),
            {
                "code": code,
                "name": feature["properties"]["nama"],
                "bps": bps.get(code),
                "geometry": json.dumps(feature["geometry"]),
            },
        )
    for feature in _features("anambas_desa_kelurahan.geojson"):
        code = feature["properties"]["kode_kemendagri"]
        connection.execute(
            text(
                "INSERT INTO villages (code, district_code, name, boundary) "
                f"VALUES (:code, :district, :name, ST_CollectionExtract({_MULTI}, 3))"
            ),
            {
                "code": code,
                "district": code[:8],
                "name": feature["properties"]["nama"],
                "geometry": json.dumps(feature["geometry"]),
            },
        )


@dataclass(frozen=True)
class Placement:
    district_code: str | None
    district_name: str
    village_code: str | None
    village_name: str


# One statement: inside or near the regency? then containing-or-nearest district,
# then containing-or-nearest village of that district.
PLACE_POINT_SQL = """
WITH pt AS (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS g),
inside AS (
  SELECT EXISTS (
    SELECT 1 FROM regency r, pt
    WHERE ST_DWithin(r.boundary::geography, pt.g::geography, :tolerance)
  ) AS ok
),
d AS (
  SELECT d.code, d.name FROM districts d, pt, inside
  WHERE inside.ok
  ORDER BY ST_Covers(d.boundary, pt.g) DESC, d.boundary <-> pt.g, d.code
  LIMIT 1
),
v AS (
  SELECT v.code, v.name FROM villages v, pt, d
  WHERE v.district_code = d.code
  ORDER BY ST_Covers(v.boundary, pt.g) DESC, v.boundary <-> pt.g, v.code
  LIMIT 1
)
SELECT d.code AS district_code, d.name AS district_name,
       v.code AS village_code, v.name AS village_name
FROM (SELECT 1) one LEFT JOIN d ON true LEFT JOIN v ON true
"""


def place_point(connection: Connection, point: GeoPoint, tolerance_meters: float) -> Placement:
    row = connection.execute(
        text(PLACE_POINT_SQL),
        {"lat": point.latitude, "lon": point.longitude, "tolerance": tolerance_meters},
    ).one()
    return Placement(
        row.district_code, row.district_name or "", row.village_code, row.village_name or ""
    )
