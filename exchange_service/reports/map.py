"""The report's map: the regency's 10 districts from the Kemendagri boundaries, as SVG.

The islands lie between 2° and 4° north, so a plain equirectangular
projection, longitude scaled by the cosine of the middle latitude, keeps
their shapes; the map is ``WIDTH`` units wide, north up. Paths and label
positions depend only on the shipped boundaries: they are computed once.
Shading is by open alerts per 100 foreigners present, in fixed classes
(``RATE_CLASSES``) so that two mornings' maps compare at a glance.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from exchange_service.data.loader import BoundaryLayer, PlaceKind, boundaries, places

__all__ = ["RATE_CLASSES", "WIDTH", "DistrictShape", "MapFrame", "frame", "rate_class"]

WIDTH = 1000.0
_MARGIN = 12.0

# The upper bounds of the shading classes, open alerts per 100 foreigners present: a
# district with none open is class 0; one above the last bound is the last class.
RATE_CLASSES: tuple[float, ...] = (0.0, 5.0, 10.0, 25.0, 50.0)


@dataclass(frozen=True)
class DistrictShape:
    code: str
    name: str
    path: str  # SVG path data in the frame's units
    label_x: float
    label_y: float


@dataclass(frozen=True)
class MapFrame:
    """The projected districts and the projection, fitted to ``WIDTH`` by ``height``."""

    height: float
    districts: tuple[DistrictShape, ...]
    west: float
    north: float
    scale: float  # frame units per degree of latitude
    x_scale: float  # frame units per degree of longitude

    def point(self, longitude: float, latitude: float) -> tuple[float, float]:
        """Where a place lies on the map."""
        return (
            round(_MARGIN + (longitude - self.west) * self.x_scale, 1),
            round(_MARGIN + (self.north - latitude) * self.scale, 1),
        )


def rate_class(open_per_100: float | None) -> int | None:
    """The shading class of a district's rate (None: no foreigner present, not shaded)."""
    if open_per_100 is None:
        return None
    for index, bound in enumerate(RATE_CLASSES):
        if open_per_100 <= bound:
            return index
    return len(RATE_CLASSES)


def _rings(geometry: dict[str, Any]) -> Iterable[Sequence[Sequence[float]]]:
    """The rings of a GeoJSON Polygon or MultiPolygon (longitude, latitude pairs)."""
    coordinates = geometry["coordinates"]
    polygons = coordinates if geometry["type"] == "MultiPolygon" else [coordinates]
    for polygon in polygons:
        yield from polygon


@functools.cache
def frame() -> MapFrame:
    """The districts projected (computed once: the boundaries do not change while running)."""
    shapes = boundaries(BoundaryLayer.DISTRICTS)
    points = [point for shape in shapes for ring in _rings(shape.geometry) for point in ring]
    west = min(p[0] for p in points)
    east = max(p[0] for p in points)
    south = min(p[1] for p in points)
    north = max(p[1] for p in points)
    x_stretch = math.cos(math.radians((north + south) / 2))
    scale = (WIDTH - 2 * _MARGIN) / ((east - west) * x_stretch)
    x_scale = scale * x_stretch
    height = round((north - south) * scale + 2 * _MARGIN, 1)
    projection = MapFrame(height, (), west, north, scale, x_scale)
    centres = {
        place.code: (place.longitude, place.latitude)
        for place in places()
        if place.kind is PlaceKind.DISTRICT_CENTROID
    }
    districts = []
    for shape in sorted(shapes, key=lambda s: s.code):
        rings = []
        for ring in _rings(shape.geometry):
            xy = [projection.point(lon, lat) for lon, lat, *_ in ring]
            rings.append("M" + "L".join(f"{x:g},{y:g}" for x, y in xy) + "Z")
        ring_points = [p for ring in _rings(shape.geometry) for p in ring]
        longitude, latitude = centres.get(
            shape.code,
            (
                sum(p[0] for p in ring_points) / len(ring_points),
                sum(p[1] for p in ring_points) / len(ring_points),
            ),
        )
        x, y = projection.point(longitude, latitude)
        districts.append(DistrictShape(shape.code, shape.name, "".join(rings), x, y))
    return MapFrame(height, tuple(districts), west, north, scale, x_scale)
