"""Anambas boundaries in PostGIS, and the district and village of a point.

The layers come from Kemendagri's codes via cahyadsn/wilayah_boundaries (see
exchange_service/data/LICENSES.md). They are simplified and the village layer
does not nest exactly inside the district layer, so a point gets the district
whose polygon contains it or else the nearest one, then the village of that
district that contains it or else the nearest one. A point farther than the
tolerance from the regency's outline gets neither.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy import Connection, text

from exchange_service.data.loader import (
    BoundaryLayer,
    boundaries,
    bps_district_codes,
    district_code_of,
)
from exchange_service.domain.model import GeoPoint

_MULTI = "ST_Multi(ST_MakeValid(ST_SetSRID(ST_GeomFromGeoJSON(:geometry), 4326)))"


def load_boundaries(connection: Connection) -> None:
    """Loads the regency, districts and villages, if not loaded yet."""
    if connection.execute(text("SELECT count(*) FROM districts")).scalar_one():
        return
    for regency in boundaries(BoundaryLayer.REGENCY):
        connection.execute(
            text(
                "INSERT INTO regency (code, name, boundary) "
                f"VALUES (:code, :name, ST_CollectionExtract({_MULTI}, 3))"
            ),
            {"code": regency.code, "name": regency.name, "geometry": json.dumps(regency.geometry)},
        )
    bps = bps_district_codes()
    for district in boundaries(BoundaryLayer.DISTRICTS):
        connection.execute(
            text(
                "INSERT INTO districts (code, name, bps_code, boundary) "
                f"VALUES (:code, :name, :bps, ST_CollectionExtract({_MULTI}, 3))"
            ),
            {
                "code": district.code,
                "name": district.name,
                "bps": bps.get(district.code),
                "geometry": json.dumps(district.geometry),
            },
        )
    for village in boundaries(BoundaryLayer.VILLAGES):
        connection.execute(
            text(
                "INSERT INTO villages (code, district_code, name, boundary) "
                f"VALUES (:code, :district, :name, ST_CollectionExtract({_MULTI}, 3))"
            ),
            {
                "code": village.code,
                "district": district_code_of(village.code),
                "name": village.name,
                "geometry": json.dumps(village.geometry),
            },
        )


@dataclass(frozen=True)
class Placement:
    """Where a point is filed: codes are None (names empty) outside the regency's tolerance."""

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
    """The district and village the registry files ``point`` under (see the module docstring).

    The one placement of Pantau: the registry places every address and sighting
    with it, and the sample draws homes where it agrees with their address.
    """
    row = connection.execute(
        text(PLACE_POINT_SQL),
        {"lat": point.latitude, "lon": point.longitude, "tolerance": tolerance_meters},
    ).one()
    return Placement(
        row.district_code, row.district_name or "", row.village_code, row.village_name or ""
    )
