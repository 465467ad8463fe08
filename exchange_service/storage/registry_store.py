"""Reads and writes of the stay registry, inside a caller's transaction.

Writes go through the ORM tables; the read paths the police call most
(dossier, nearest persons) are single SQL statements that return JSON, so a
query costs one round trip.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, func, select, text
from sqlalchemy.orm import Session

from exchange_service.domain import model
from exchange_service.storage import tables as t
from exchange_service.storage.boundaries import Placement, place_point
from watchlist.names import search_key


def _point_wkt(point: model.GeoPoint) -> str:
    return f"SRID=4326;POINT({point.longitude!r} {point.latitude!r})"


def _ts_or_none(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _ts(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def _date_or_none(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None


def _date(raw: str) -> date:
    return date.fromisoformat(raw)


def _person_from_json(row: dict[str, Any]) -> model.Person:
    return model.Person(
        id=uuid.UUID(row["id"]),
        identity=model.Identity(
            family_name=row["family_name"],
            given_names=row["given_names"],
            nationality=row["nationality"],
            birth_date=model.BirthDate(row["birth_year"], row["birth_month"], row["birth_day"]),
            sex=model.Sex(row["sex"]),
        ),
        documents=tuple(
            model.TravelDocument(d["issuing_state"], d["number"], _date_or_none(d["expiry_date"]))
            for d in row["documents"] or ()
        ),
        registered_at=_ts(row["registered_at"]),
    )


def _stay_from_json(row: dict[str, Any]) -> model.Stay:
    return model.Stay(
        id=uuid.UUID(row["id"]),
        person_id=uuid.UUID(row["person_id"]),
        entry_port_code=row["entry_port_code"],
        entered_at=_ts(row["entered_at"]),
        exit_port_code=row["exit_port_code"] or "",
        exited_at=_ts_or_none(row["exited_at"]),
        permits=tuple(
            model.StayPermit(
                permit_number=p["permit_number"],
                type=model.PermitType(p["type"]),
                valid_from=_date(p["valid_from"]),
                valid_until=_date(p["valid_until"]),
                sponsor=p["sponsor"],
                purpose=p["purpose"],
                recorded_at=_ts_or_none(p["recorded_at"]),
            )
            for p in row["permits"]
        ),
    )


def _address_from_json(row: dict[str, Any]) -> model.Address:
    return model.Address(
        line=row["line"],
        location=model.GeoPoint(row["lat"], row["lon"]),
        district_code=row["district_code"] or "",
        village_code=row["village_code"] or "",
        district_name=row["district_name"] or "",
        village_name=row["village_name"] or "",
    )


def _address_record_from_json(row: dict[str, Any]) -> model.AddressRecord:
    return model.AddressRecord(
        id=uuid.UUID(row["id"]),
        person_id=uuid.UUID(row["person_id"]),
        address=_address_from_json(row),
        effective_from=_date(row["effective_from"]),
        reported_at=_ts(row["reported_at"]),
    )


def _sighting_from_json(row: dict[str, Any]) -> model.Sighting:
    return model.Sighting(
        id=uuid.UUID(row["id"]),
        person_id=uuid.UUID(row["person_id"]),
        location=model.GeoPoint(row["lat"], row["lon"]),
        observed_at=_ts(row["observed_at"]),
        source=model.SightingSource(row["source"]),
        reference=row["reference"],
        place_name=row["place_name"],
        district_code=row["district_code"] or "",
        village_code=row["village_code"] or "",
        recorded_at=_ts_or_none(row["recorded_at"]),
    )


# JSON of a person with documents; `p` is the persons row.
_PERSON_JSON = """
json_build_object(
  'id', p.id, 'family_name', p.family_name, 'given_names', p.given_names,
  'nationality', p.nationality, 'birth_year', p.birth_year,
  'birth_month', p.birth_month, 'birth_day', p.birth_day, 'sex', p.sex,
  'registered_at', p.registered_at,
  'documents', (
    SELECT json_agg(json_build_object(
      'issuing_state', d.issuing_state, 'number', d.number, 'expiry_date', d.expiry_date)
      ORDER BY d.id)
    FROM travel_documents d WHERE d.person_id = p.id))
"""

_STAY_JSON = """
json_build_object(
  'id', s.id, 'person_id', s.person_id, 'entry_port_code', s.entry_port_code,
  'entered_at', s.entered_at, 'exit_port_code', s.exit_port_code, 'exited_at', s.exited_at,
  'permits', (
    SELECT json_agg(json_build_object(
      'permit_number', sp.permit_number, 'type', sp.type, 'valid_from', sp.valid_from,
      'valid_until', sp.valid_until, 'sponsor', sp.sponsor, 'purpose', sp.purpose,
      'recorded_at', sp.recorded_at) ORDER BY sp.sequence)
    FROM stay_permits sp WHERE sp.stay_id = s.id))
"""

_ADDRESS_JSON = """
json_build_object(
  'id', a.id, 'person_id', a.person_id, 'line', a.line,
  'lat', ST_Y(a.location::geometry), 'lon', ST_X(a.location::geometry),
  'district_code', a.district_code, 'village_code', a.village_code,
  'district_name', (SELECT name FROM districts WHERE code = a.district_code),
  'village_name', (SELECT name FROM villages WHERE code = a.village_code),
  'effective_from', a.effective_from, 'reported_at', a.reported_at)
"""

_DOSSIER_SQL = f"""
SELECT {_PERSON_JSON} AS person,
  (SELECT {_STAY_JSON} FROM stays s
    WHERE s.person_id = p.id AND s.exited_at IS NULL) AS stay,
  (SELECT {_ADDRESS_JSON} FROM current_addresses ca JOIN addresses a ON a.id = ca.address_id
    WHERE ca.person_id = p.id) AS address,
  (SELECT json_agg(x ORDER BY x.observed_at DESC, x.id) FROM (
     SELECT g.id, g.person_id, ST_Y(g.location::geometry) AS lat,
            ST_X(g.location::geometry) AS lon, g.observed_at, g.source, g.reference,
            g.place_name, g.district_code, g.village_code, g.recorded_at
     FROM sightings g WHERE g.person_id = p.id
     ORDER BY g.observed_at DESC, g.id LIMIT :sightings) x) AS sightings
FROM persons p
"""

_DOSSIER_BY_ID = text(_DOSSIER_SQL + " WHERE p.id = :person_id")
_DOSSIER_BY_DOCUMENT = text(
    _DOSSIER_SQL
    + " WHERE p.id = (SELECT person_id FROM travel_documents"
    + " WHERE issuing_state = :state AND number = :number)"
)

_PERSONS_BY_ID = text(f"SELECT {_PERSON_JSON} AS person FROM persons p WHERE p.id = ANY(:ids)")

# Two steps, so the GiST index serves nearest-first (KNN needs a single
# distance key): the KNN scan finds the page's farthest distance, then a small
# radius search fetches every row up to it, ties included, in (distance,
# person_id) order. `<->` on geography is the sphere distance, used for the
# distance, the page key and the order alike. The centre must stay a FROM
# sub-select: as a CTE it is joined and the index ordering is lost.
_NEAR_SQL = text(
    f"""
WITH
knn AS (
  SELECT ca.location <-> c.g AS distance
  FROM current_addresses ca,
       (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g) c
  WHERE (ca.location <-> c.g, ca.person_id) > (:after_distance, :after_id)
    AND :after_distance <= :radius
  ORDER BY ca.location <-> c.g
  LIMIT :limit
),
near AS (
  SELECT ca.person_id, ca.address_id, ca.location <-> c.g AS distance
  FROM current_addresses ca,
       (SELECT ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography AS g) c,
       (SELECT max(distance) AS d FROM knn) bound
  WHERE bound.d IS NOT NULL
    AND ST_DWithin(ca.location, c.g, LEAST(bound.d + 0.001, :radius), false)
    AND ST_DWithin(ca.location, c.g, :radius, false)
    AND (ca.location <-> c.g, ca.person_id) > (:after_distance, :after_id)
  ORDER BY distance, person_id
  LIMIT :limit
)
SELECT {_PERSON_JSON} AS person, {_ADDRESS_JSON} AS address, near.distance
FROM near
JOIN addresses a ON a.id = near.address_id
JOIN persons p ON p.id = near.person_id
ORDER BY near.distance, p.id
"""
)

_SEARCH_SQL = text(
    """
SELECT p.id FROM persons p
WHERE p.name_key % :key
  AND (:nationality = '' OR p.nationality = :nationality)
  AND (:birth_year = 0 OR p.birth_year = :birth_year)
ORDER BY similarity(p.name_key, :key) DESC, p.id
LIMIT :limit
"""
)


class ReferenceTaken(Exception):
    """A sighting reference of this source already names another person."""

    def __init__(self, source: model.SightingSource, reference: str) -> None:
        super().__init__(f"{source.value} reference {reference!r} is taken")
        self.source = source
        self.reference = reference


class RegistryStore:
    """The registry's tables as seen from one transaction."""

    def __init__(self, session: Session, *, boundary_tolerance_meters: float) -> None:
        self.session = session
        self._tolerance = boundary_tolerance_meters

    # --- persons and documents -------------------------------------------------

    def lock_documents(self, documents: Iterable[model.TravelDocument]) -> None:
        """Serialises registrations that name the same document."""
        for document in sorted({(d.issuing_state, d.number) for d in documents}):
            self.session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"),
                {"key": f"document:{document[0]}:{document[1]}"},
            )

    def owners_of(
        self, documents: Iterable[model.TravelDocument]
    ) -> dict[tuple[str, str], uuid.UUID]:
        keys = [(d.issuing_state, d.number) for d in documents]
        if not keys:
            return {}
        rows = self.session.execute(
            select(
                t.TravelDocument.issuing_state, t.TravelDocument.number, t.TravelDocument.person_id
            ).where(func.row(t.TravelDocument.issuing_state, t.TravelDocument.number).in_(keys))
        )
        return {(r.issuing_state, r.number): r.person_id for r in rows}

    def add_person(
        self,
        identity: model.Identity,
        documents: Sequence[model.TravelDocument],
    ) -> uuid.UUID:
        person_id = uuid.uuid4()
        self.session.add(
            t.Person(
                id=person_id,
                family_name=identity.family_name,
                given_names=identity.given_names,
                name_key=search_key(identity.family_name, identity.given_names),
                nationality=identity.nationality,
                birth_year=identity.birth_date.year,
                birth_month=identity.birth_date.month,
                birth_day=identity.birth_date.day,
                sex=identity.sex.value,
            )
        )
        self.session.flush()
        self.add_documents(person_id, documents)
        return person_id

    def add_documents(
        self, person_id: uuid.UUID, documents: Sequence[model.TravelDocument]
    ) -> None:
        self.session.add_all(
            t.TravelDocument(
                person_id=person_id,
                issuing_state=d.issuing_state,
                number=d.number,
                expiry_date=d.expiry_date,
            )
            for d in documents
        )
        self.session.flush()

    def lock_person(self, person_id: uuid.UUID) -> bool:
        """Locks the person's row for the rest of the transaction; False if unknown."""
        found = self.session.execute(
            select(t.Person.id).where(t.Person.id == person_id).with_for_update()
        ).scalar_one_or_none()
        return found is not None

    def person_id_by_document(self, document: model.TravelDocument) -> uuid.UUID | None:
        return self.session.execute(
            select(t.TravelDocument.person_id).where(
                t.TravelDocument.issuing_state == document.issuing_state,
                t.TravelDocument.number == document.number,
            )
        ).scalar_one_or_none()

    def persons(self, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, model.Person]:
        rows = self.session.execute(_PERSONS_BY_ID, {"ids": list(ids)})
        persons = (_person_from_json(row.person) for row in rows)
        return {person.id: person for person in persons}

    def person(self, person_id: uuid.UUID) -> model.Person | None:
        return self.persons([person_id]).get(person_id)

    # --- stays -----------------------------------------------------------------

    def open_stay_id(self, person_id: uuid.UUID) -> uuid.UUID | None:
        return self.session.execute(
            select(t.Stay.id).where(t.Stay.person_id == person_id, t.Stay.exited_at.is_(None))
        ).scalar_one_or_none()

    def latest_stay_exit(self, person_id: uuid.UUID) -> datetime | None:
        return self.session.execute(
            select(func.max(t.Stay.exited_at)).where(t.Stay.person_id == person_id)
        ).scalar_one_or_none()

    def add_stay(
        self,
        person_id: uuid.UUID,
        port_code: str,
        entered_at: datetime,
        permit: model.StayPermit,
    ) -> uuid.UUID:
        stay_id = uuid.uuid4()
        self.session.add(
            t.Stay(
                id=stay_id, person_id=person_id, entry_port_code=port_code, entered_at=entered_at
            )
        )
        self.session.flush()
        self.add_permit(stay_id, permit, sequence=1)
        return stay_id

    def add_permit(self, stay_id: uuid.UUID, permit: model.StayPermit, *, sequence: int) -> None:
        self.session.add(
            t.StayPermit(
                stay_id=stay_id,
                sequence=sequence,
                permit_number=permit.permit_number,
                type=permit.type.value,
                valid_from=permit.valid_from,
                valid_until=permit.valid_until,
                sponsor=permit.sponsor,
                purpose=permit.purpose,
            )
        )
        self.session.flush()

    def lock_stay(self, stay_id: uuid.UUID) -> model.Stay | None:
        found = self.session.execute(
            select(t.Stay.id).where(t.Stay.id == stay_id).with_for_update()
        ).scalar_one_or_none()
        return self.stay(stay_id) if found else None

    def stay(self, stay_id: uuid.UUID) -> model.Stay | None:
        row = self.session.execute(
            text(f"SELECT {_STAY_JSON} AS stay FROM stays s WHERE s.id = :id"), {"id": stay_id}
        ).one_or_none()
        return _stay_from_json(row.stay) if row else None

    def close_stay(self, stay_id: uuid.UUID, port_code: str, exited_at: datetime) -> None:
        """Closes the stay; the person no longer lives at their last address.

        The address history is kept; only the current-address projection ends,
        so a person who left is not listed among those living near a place.
        """
        stay = self.session.get_one(t.Stay, stay_id)
        stay.exit_port_code = port_code
        stay.exited_at = exited_at
        self.session.flush()
        self.session.execute(
            delete(t.CurrentAddress).where(t.CurrentAddress.person_id == stay.person_id)
        )

    # --- places ----------------------------------------------------------------

    def place(self, point: model.GeoPoint) -> Placement:
        return place_point(self.session.connection(), point, self._tolerance)

    # --- addresses -------------------------------------------------------------

    def add_address(
        self, person_id: uuid.UUID, address: model.Address, effective_from: date
    ) -> uuid.UUID:
        """Adds the report, and makes it current unless a later-effective one exists."""
        placement = self.place(address.location)
        address_id = uuid.uuid4()
        self.session.add(
            t.AddressReport(
                id=address_id,
                person_id=person_id,
                line=address.line,
                location=_point_wkt(address.location),
                district_code=placement.district_code,
                village_code=placement.village_code,
                effective_from=effective_from,
            )
        )
        self.session.flush()
        # The current address is the one effective latest; on a tie, the
        # latest reported (a correction of the same move).
        self.session.execute(
            text(
                """
                INSERT INTO current_addresses (person_id, address_id, location)
                SELECT a.person_id, a.id, a.location FROM addresses a
                WHERE a.person_id = :person_id
                ORDER BY a.effective_from DESC, a.reported_at DESC, (a.id = :new_id) DESC
                LIMIT 1
                ON CONFLICT (person_id) DO UPDATE
                  SET address_id = EXCLUDED.address_id, location = EXCLUDED.location
                """
            ),
            {"person_id": person_id, "new_id": address_id},
        )
        return address_id

    def address_record(self, address_id: uuid.UUID) -> model.AddressRecord:
        row = self.session.execute(
            text(f"SELECT {_ADDRESS_JSON} AS address FROM addresses a WHERE a.id = :id"),
            {"id": address_id},
        ).one()
        return _address_record_from_json(row.address)

    # --- sightings -------------------------------------------------------------

    def add_sighting(
        self,
        person_id: uuid.UUID,
        *,
        location: model.GeoPoint,
        observed_at: datetime,
        source: model.SightingSource,
        reference: str,
        place_name: str,
    ) -> tuple[uuid.UUID, bool]:
        """Adds a sighting; returns (id, True), or the earlier one's (id, False) on a repeat."""
        placement = self.place(location)
        sighting_id = uuid.uuid4()
        inserted = self.session.execute(
            text(
                """
                INSERT INTO sightings (id, person_id, location, district_code, village_code,
                                       observed_at, source, reference, place_name)
                VALUES (:id, :person_id, ST_GeogFromText(:location), :district, :village,
                        :observed_at, :source, :reference, :place_name)
                ON CONFLICT (source, reference) WHERE reference <> '' DO NOTHING
                RETURNING id
                """
            ),
            {
                "id": sighting_id,
                "person_id": person_id,
                "location": _point_wkt(location),
                "district": placement.district_code,
                "village": placement.village_code,
                "observed_at": observed_at,
                "source": source.value,
                "reference": reference,
                "place_name": place_name,
            },
        ).scalar_one_or_none()
        if inserted is not None:
            return sighting_id, True
        existing = self.session.execute(
            select(t.Sighting.id, t.Sighting.person_id).where(
                t.Sighting.source == source.value, t.Sighting.reference == reference
            )
        ).one()
        if existing.person_id != person_id:
            raise ReferenceTaken(source, reference)
        return existing.id, False

    def sighting(self, sighting_id: uuid.UUID) -> model.Sighting:
        row = self.session.execute(
            text(
                """
                SELECT json_build_object(
                  'id', g.id, 'person_id', g.person_id, 'lat', ST_Y(g.location::geometry),
                  'lon', ST_X(g.location::geometry), 'observed_at', g.observed_at,
                  'source', g.source, 'reference', g.reference, 'place_name', g.place_name,
                  'district_code', g.district_code, 'village_code', g.village_code,
                  'recorded_at', g.recorded_at) AS sighting
                FROM sightings g WHERE g.id = :id
                """
            ),
            {"id": sighting_id},
        ).one()
        return _sighting_from_json(row.sighting)

    # --- queries ---------------------------------------------------------------

    def dossier(
        self,
        *,
        person_id: uuid.UUID | None = None,
        document: model.TravelDocument | None = None,
        sightings: int,
    ) -> model.PersonDossier | None:
        if person_id is not None:
            row = self.session.execute(
                _DOSSIER_BY_ID, {"person_id": person_id, "sightings": sightings}
            ).one_or_none()
        elif document is not None:
            row = self.session.execute(
                _DOSSIER_BY_DOCUMENT,
                {
                    "state": document.issuing_state,
                    "number": document.number,
                    "sightings": sightings,
                },
            ).one_or_none()
        else:
            return None
        if row is None:
            return None
        return model.PersonDossier(
            person=_person_from_json(row.person),
            current_stay=_stay_from_json(row.stay) if row.stay else None,
            current_address=_address_record_from_json(row.address) if row.address else None,
            recent_sightings=tuple(_sighting_from_json(s) for s in row.sightings or ()),
        )

    def search_candidates(
        self, key: str, nationality: str, birth_year: int, limit: int
    ) -> list[uuid.UUID]:
        """Persons whose name shares enough trigrams with the key, most similar first."""
        self.session.execute(text("SET LOCAL pg_trgm.similarity_threshold = 0.2"))
        rows = self.session.execute(
            _SEARCH_SQL,
            {"key": key, "nationality": nationality, "birth_year": birth_year, "limit": limit},
        )
        return [row.id for row in rows]

    def persons_near(
        self,
        center: model.GeoPoint,
        radius_meters: float,
        after: tuple[float, uuid.UUID] | None,
        limit: int,
    ) -> list[model.PersonNearby]:
        after_distance, after_id = after if after else (-1.0, uuid.UUID(int=0))
        rows = self.session.execute(
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
                person=_person_from_json(row.person),
                address=_address_from_json(row.address),
                distance_meters=float(row.distance),
            )
            for row in rows
        ]
