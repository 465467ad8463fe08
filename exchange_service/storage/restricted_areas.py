"""The restricted areas in PostGIS: the file the settings name, loaded by ``pantau migrate``.

The areas are settings, not history: each load replaces the table's rows
with the file's features, in the migration's transaction, so the rule
RESTRICTED_AREA_PRESENCE sees either the old areas or the new ones. An alert
keeps the code and name of the area it found in its evidence.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from sqlalchemy import Connection, text

from exchange_service.data.loader import restricted_areas

log = logging.getLogger(__name__)

# A polygon as drawn may cross itself: made valid, its polygons kept, as one multipolygon.
_BOUNDARY = (
    "CAST(ST_Multi(ST_CollectionExtract(ST_MakeValid("
    "ST_SetSRID(ST_GeomFromGeoJSON(:geometry), 4326)), 3)) AS geography)"
)
_INSERT = text(
    "INSERT INTO restricted_areas (code, name, allowed_purposes, note, boundary)"
    f" VALUES (:code, :name, :allowed_purposes, :note, {_BOUNDARY})"
)


def load_restricted_areas(connection: Connection, path: Path | None) -> int:
    """Replaces the restricted areas with those of ``path`` (None: the shipped example).

    Returns how many were loaded. Raises ``RestrictedAreasFileError`` naming
    what is wrong in the file, before anything is changed.
    """
    areas = restricted_areas(path)
    connection.execute(text("DELETE FROM restricted_areas"))
    for area in areas:
        connection.execute(
            _INSERT,
            {
                "code": area.code,
                "name": area.name,
                "allowed_purposes": list(area.allowed_purposes),
                "note": area.note,
                "geometry": json.dumps(area.geometry),
            },
        )
    log.info(
        "restricted areas loaded from %s: %s",
        path or "the shipped example",
        ", ".join(area.code for area in areas) or "none",
    )
    return len(areas)
