"""The queries of the police and supervisors, on a read-only database connection.

These are the hottest paths of the service, so they skip the ORM: each query
is one SQL statement, prepared once per connection (PostgreSQL plans it once,
psycopg sends only the parameters) and answered in one round trip with JSON
values that ``rows`` parses into domain records.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any, LiteralString

import psycopg

from exchange_service.domain import model
from exchange_service.storage.alert_reader import AlertReader
from exchange_service.storage.report_reader import ReportReader
from exchange_service.storage.rows import (
    ADDRESS_JSON,
    PERSON_JSON,
    STAY_JSON,
    address_from_json,
    address_record_from_json,
    person_from_json,
    sighting_from_json,
    stay_from_json,
)
from exchange_service.storage.watchlist_store import WatchlistReader

_DOSSIER_SQL: LiteralString = (
    "SELECT "
    + PERSON_JSON
    + """ AS person,
  (SELECT """
    + STAY_JSON
    + """ FROM stays s
    WHERE s.person_id = p.id AND s.exited_at IS NULL) AS stay,
  (SELECT """
    + ADDRESS_JSON
    + """ FROM current_addresses ca JOIN addresses a ON a.id = ca.address_id
    WHERE ca.person_id = p.id) AS address,
  (SELECT json_agg(x ORDER BY x.observed_at DESC, x.id) FROM (
     SELECT g.id, g.person_id, ST_Y(g.location::geometry) AS lat,
            ST_X(g.location::geometry) AS lon, g.observed_at, g.source, g.reference,
            g.place_name, g.district_code, g.village_code, g.recorded_at, g.reported_at
     FROM sightings g WHERE g.person_id = p.id
     ORDER BY g.observed_at DESC, g.id LIMIT %(sightings)s) x) AS sightings
FROM persons p
"""
)

_DOSSIER_BY_ID: LiteralString = _DOSSIER_SQL + " WHERE p.id = %(person_id)s"
_DOSSIER_BY_DOCUMENT: LiteralString = (
    _DOSSIER_SQL
    + " WHERE p.id = (SELECT person_id FROM travel_documents"
    + " WHERE issuing_state = %(state)s AND number = %(number)s)"
)

_PERSONS_BY_ID: LiteralString = (
    "SELECT " + PERSON_JSON + " AS person FROM persons p WHERE p.id = ANY(%(ids)s)"
)

# Two steps, so the GiST index serves nearest-first (KNN needs a single
# distance key): the KNN scan finds the page's farthest distance, then a small
# radius search fetches every row up to it, ties included, in (distance,
# person_id) order. `<->` on geography is the sphere distance, used for the
# distance, the page key and the order alike. The centre must stay a FROM
# sub-select: as a CTE it is joined and the index ordering is lost. The page
# comes back as one JSON array (one value to decode, not two per person); a
# float8 prints as its shortest exact form, so a distance survives JSON as
# the same double and page keys stay exact.
_NEAR_SQL: LiteralString = (
    """
WITH
knn AS (
  SELECT ca.location <-> c.g AS distance
  FROM current_addresses ca,
       (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS g) c
  WHERE (ca.location <-> c.g, ca.person_id) > (%(after_distance)s, %(after_id)s)
    AND %(after_distance)s <= %(radius)s
  ORDER BY ca.location <-> c.g
  LIMIT %(limit)s
),
near AS (
  SELECT ca.person_id, ca.address_id, ca.location <-> c.g AS distance
  FROM current_addresses ca,
       (SELECT ST_SetSRID(ST_MakePoint(%(lon)s, %(lat)s), 4326)::geography AS g) c,
       (SELECT max(distance) AS d FROM knn) bound
  WHERE bound.d IS NOT NULL
    AND ST_DWithin(ca.location, c.g, LEAST(bound.d + 0.001, %(radius)s), false)
    AND ST_DWithin(ca.location, c.g, %(radius)s, false)
    AND (ca.location <-> c.g, ca.person_id) > (%(after_distance)s, %(after_id)s)
  ORDER BY distance, person_id
  LIMIT %(limit)s
)
SELECT coalesce(json_agg(json_build_object('person', """
    + PERSON_JSON
    + ", 'address', "
    + ADDRESS_JSON
    + """, 'distance', near.distance) ORDER BY near.distance, p.id), '[]')
FROM near
JOIN addresses a ON a.id = near.address_id
JOIN persons p ON p.id = near.person_id
"""
)

# `%` compares with the session's pg_trgm.similarity_threshold, which the
# engine's connections start with (the setting search_similarity_threshold,
# storage.database.make_engine).
_SEARCH_SQL: LiteralString = """
SELECT p.id FROM persons p
WHERE p.name_key %% %(key)s
  AND (%(nationality)s = '' OR p.nationality = %(nationality)s)
  AND (%(birth_year)s = 0 OR p.birth_year = %(birth_year)s)
ORDER BY similarity(p.name_key, %(key)s) DESC, p.id
LIMIT %(limit)s
"""


def dossier_query(
    person_id: uuid.UUID | None, document: model.TravelDocument | None, sightings: int
) -> tuple[LiteralString, dict[str, Any]] | None:
    """The dossier's statement and parameters, by id or by document (None: neither)."""
    if person_id is not None:
        return _DOSSIER_BY_ID, {"person_id": person_id, "sightings": sightings}
    if document is not None:
        return _DOSSIER_BY_DOCUMENT, {
            "state": document.issuing_state,
            "number": document.number,
            "sightings": sightings,
        }
    return None


def dossier_of(rows: Sequence[tuple[Any, ...]]) -> model.PersonDossier | None:
    """The dossier in the rows the dossier's statement returned (None: no such person)."""
    if not rows:
        return None
    person, stay, address, recent = rows[0]
    return model.PersonDossier(
        person=person_from_json(person),
        current_stay=stay_from_json(stay) if stay else None,
        current_address=address_record_from_json(address) if address else None,
        recent_sightings=tuple(sighting_from_json(s) for s in recent or ()),
    )


class RegistryReader:
    """Read-only queries on one autocommit connection: each statement sees its own snapshot."""

    def __init__(self, connection: psycopg.Connection[Any]) -> None:
        self._connection = connection

    @property
    def alerts(self) -> AlertReader:
        """The alert queries, on the same connection."""
        return AlertReader(self._connection)

    @property
    def watchlist(self) -> WatchlistReader:
        """The watchlist's queries, on the same connection."""
        return WatchlistReader(self._connection)

    @property
    def report(self) -> ReportReader:
        """The early-warning report's figures, on the same connection, in one snapshot."""
        return ReportReader(self._connection)

    def _rows(self, query: LiteralString, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return self._connection.execute(query, params, prepare=True).fetchall()

    def dossier(
        self,
        *,
        person_id: uuid.UUID | None = None,
        document: model.TravelDocument | None = None,
        sightings: int,
    ) -> model.PersonDossier | None:
        """The person with their open stay, current address and latest sightings."""
        query = dossier_query(person_id, document, sightings)
        if query is None:
            return None
        rows = self._rows(*query)
        return dossier_of(rows)

    def persons(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, model.Person]:
        rows = self._rows(_PERSONS_BY_ID, {"ids": list(ids)})
        persons = (person_from_json(row[0]) for row in rows)
        return {person.id: person for person in persons}

    def search_candidates(
        self, key: str, nationality: str, birth_year: int, limit: int
    ) -> list[uuid.UUID]:
        """Persons whose name shares enough trigrams with the key, most similar first."""
        rows = self._rows(
            _SEARCH_SQL,
            {"key": key, "nationality": nationality, "birth_year": birth_year, "limit": limit},
        )
        return [row[0] for row in rows]

    def persons_near(
        self,
        center: model.GeoPoint,
        radius_meters: float,
        after: tuple[float, uuid.UUID] | None,
        limit: int,
    ) -> list[model.PersonNearby]:
        """Persons whose current address is within the radius, nearest first, after a key."""
        after_distance, after_id = after if after else (-1.0, uuid.UUID(int=0))
        rows = self._rows(
            _NEAR_SQL,
            {
                "lat": center.latitude,
                "lon": center.longitude,
                "radius": radius_meters,
                "after_distance": after_distance,
                "after_id": after_id,
                "limit": limit,
            },
        )
        return [
            model.PersonNearby(
                person=person_from_json(item["person"]),
                address=address_from_json(item["address"]),
                distance_meters=float(item["distance"]),
            )
            for item in rows[0][0]
        ]
