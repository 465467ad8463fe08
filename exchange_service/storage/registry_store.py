"""Writes of the stay registry, and the reads they need, inside a caller's transaction.

Writes go through the ORM tables, and a write returns the record it made
from what it wrote (server defaults come back with the INSERT), so nothing is
read back. Records read are one JSON value each (``rows``). The queries the
police and supervisors call are in ``registry_reader``, on read-only
connections. A database rule a write breaks becomes a domain error here.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import replace
from datetime import date, datetime

import psycopg
from sqlalchemy import delete, func, select, text, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange_service.domain import model
from exchange_service.domain.errors import (
    FieldViolation,
    InvalidInput,
    SightingReferenceTaken,
    StayAlreadyOpen,
)
from exchange_service.storage import tables as t
from exchange_service.storage.boundaries import Placement, place_point
from exchange_service.storage.rows import (
    ADDRESS_JSON,
    PERSON_JSON,
    STAY_JSON,
    address_record_from_json,
    person_from_json,
    sighting_from_json,
    stay_from_json,
)
from watchlist.names import search_key


def _point_wkt(point: model.GeoPoint) -> str:
    return f"SRID=4326;POINT({point.longitude!r} {point.latitude!r})"


def _violated_constraint(error: IntegrityError) -> str | None:
    return error.orig.diag.constraint_name if isinstance(error.orig, psycopg.Error) else None


_PERSONS_BY_ID = text(f"SELECT {PERSON_JSON} AS person FROM persons p WHERE p.id = ANY(:ids)")
_STAY_BY_ID = text(f"SELECT {STAY_JSON} AS stay FROM stays s WHERE s.id = :id")
_OPEN_STAY_OF_PERSON = text(
    f"SELECT {STAY_JSON} AS stay FROM stays s WHERE s.person_id = :person_id"
    " AND s.exited_at IS NULL"
)
# The index that holds a person to one open stay.
_ONE_OPEN_STAY = "uq_stays_one_open_per_person"


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
        registered_by: tuple[str, str] = ("", ""),
    ) -> model.Person:
        """Registers a new person holding the documents, in their order; ``registered_by``
        is the agency and officer who registered them."""
        row = t.Person(
            id=uuid.uuid4(),
            family_name=identity.family_name,
            given_names=identity.given_names,
            name_key=search_key(identity.family_name, identity.given_names),
            nationality=identity.nationality,
            birth_year=identity.birth_date.year,
            birth_month=identity.birth_date.month,
            birth_day=identity.birth_date.day,
            sex=identity.sex.value,
            registered_by=registered_by[0],
            registered_officer=registered_by[1],
        )
        self.session.add(row)
        self.session.flush()
        self.add_documents(row.id, documents)
        return model.Person(row.id, identity, tuple(documents), row.registered_at)

    def registration_of(self, person_id: uuid.UUID) -> tuple[str, str] | None:
        """The agency and officer who registered the person ('' where not recorded)."""
        row = self.session.execute(
            select(t.Person.registered_by, t.Person.registered_officer).where(
                t.Person.id == person_id
            )
        ).first()
        return None if row is None else (row[0], row[1])

    def add_documents(
        self, person_id: uuid.UUID, documents: Sequence[model.TravelDocument]
    ) -> None:
        """Adds documents after the person's others (a person's documents keep this order)."""
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
        persons = (person_from_json(row.person) for row in rows)
        return {person.id: person for person in persons}

    def person(self, person_id: uuid.UUID) -> model.Person | None:
        return self.persons([person_id]).get(person_id)

    # --- stays -----------------------------------------------------------------

    def open_stay(self, person_id: uuid.UUID) -> model.Stay | None:
        row = self.session.execute(_OPEN_STAY_OF_PERSON, {"person_id": person_id}).one_or_none()
        return stay_from_json(row.stay) if row else None

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
    ) -> model.Stay:
        """Opens a stay with its first permit period.

        Raises ``StayAlreadyOpen`` if the person has an open stay after all
        (a concurrent entry committed first).
        """
        stay_id = uuid.uuid4()
        self.session.add(
            t.Stay(
                id=stay_id, person_id=person_id, entry_port_code=port_code, entered_at=entered_at
            )
        )
        try:
            self.session.flush()
        except IntegrityError as error:
            if _violated_constraint(error) == _ONE_OPEN_STAY:
                raise StayAlreadyOpen(f"persons/{person_id}", "stay already open") from error
            raise
        first = self.add_permit(stay_id, permit, sequence=1)
        return model.Stay(stay_id, person_id, port_code, entered_at, (first,))

    def add_permit(
        self, stay_id: uuid.UUID, permit: model.StayPermit, *, sequence: int
    ) -> model.StayPermit:
        """Adds the stay's next permit period; returns it as recorded.

        It is recorded now (the database's time) unless ``permit.recorded_at``
        says when: a record migrated from a previous system keeps the time that
        system recorded the period, as an imported report keeps its own time.
        The use cases' permits carry none (a request cannot set it).
        """
        row = t.StayPermit(
            stay_id=stay_id,
            sequence=sequence,
            permit_number=permit.permit_number,
            type=permit.type.value,
            valid_from=permit.valid_from,
            valid_until=permit.valid_until,
            sponsor=permit.sponsor,
            purpose=permit.purpose,
        )
        if permit.recorded_at is not None:
            row.recorded_at = permit.recorded_at
        self.session.add(row)
        self.session.flush()
        return replace(permit, recorded_at=row.recorded_at)

    def lock_stay(self, stay_id: uuid.UUID) -> model.Stay | None:
        """The stay, its row locked for the rest of the transaction; None if unknown."""
        found = self.session.execute(
            select(t.Stay.id).where(t.Stay.id == stay_id).with_for_update()
        ).scalar_one_or_none()
        if found is None:
            return None
        # Read after the lock is held, in a statement of its own: one that
        # locked and read at once would read on the snapshot it started with,
        # missing the permit of an extension it waited for.
        row = self.session.execute(_STAY_BY_ID, {"id": stay_id}).one()
        return stay_from_json(row.stay)

    def close_stay(self, stay: model.Stay, port_code: str, exited_at: datetime) -> model.Stay:
        """Closes the stay; the person no longer lives at their last address.

        The address history is kept; only the current-address projection ends,
        so a person who left is not listed among those living near a place.
        """
        self.session.execute(
            update(t.Stay)
            .where(t.Stay.id == stay.id)
            .values(exit_port_code=port_code, exited_at=exited_at)
        )
        self.session.execute(
            delete(t.CurrentAddress).where(t.CurrentAddress.person_id == stay.person_id)
        )
        return replace(stay, exit_port_code=port_code, exited_at=exited_at)

    # --- places ----------------------------------------------------------------

    def place(self, point: model.GeoPoint) -> Placement:
        return place_point(self.session.connection(), point, self._tolerance)

    # --- addresses -------------------------------------------------------------

    def add_address(
        self,
        person_id: uuid.UUID,
        address: model.Address,
        effective_from: date,
        *,
        reported_at: datetime,
        recorded_at: datetime,
    ) -> uuid.UUID:
        """Adds the report, and makes it current unless a later-effective one exists."""
        location = address.location
        if location is None:  # only a disclosed copy lacks its place, and copies are not stored
            raise InvalidInput([FieldViolation("address.location", "is required")])
        placement = self.place(location)
        address_id = uuid.uuid4()
        self.session.add(
            t.AddressReport(
                id=address_id,
                person_id=person_id,
                line=address.line,
                location=_point_wkt(location),
                district_code=placement.district_code,
                village_code=placement.village_code,
                effective_from=effective_from,
                reported_at=reported_at,
                recorded_at=recorded_at,
            )
        )
        self.session.flush()
        # The current address is the one effective latest; on a tie, the
        # latest reported (a correction of the same move), then the latest
        # received (of reports imported with the same time).
        self.session.execute(
            text(
                """
                INSERT INTO current_addresses (person_id, address_id, location)
                SELECT a.person_id, a.id, a.location FROM addresses a
                WHERE a.person_id = :person_id
                ORDER BY a.effective_from DESC, a.reported_at DESC, a.recorded_at DESC,
                         (a.id = :new_id) DESC
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
            text(f"SELECT {ADDRESS_JSON} AS address FROM addresses a WHERE a.id = :id"),
            {"id": address_id},
        ).one()
        return address_record_from_json(row.address)

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
        reported_at: datetime,
        recorded_at: datetime,
    ) -> tuple[uuid.UUID, bool]:
        """Adds a sighting; returns (id, True), or the earlier one's (id, False) on a repeat.

        Raises ``SightingReferenceTaken`` if the source's reference names
        another person's sighting.
        """
        placement = self.place(location)
        sighting_id = uuid.uuid4()
        inserted = self.session.execute(
            text(
                """
                INSERT INTO sightings (id, person_id, location, district_code, village_code,
                                       observed_at, source, reference, place_name,
                                       reported_at, recorded_at)
                VALUES (:id, :person_id, ST_GeogFromText(:location), :district, :village,
                        :observed_at, :source, :reference, :place_name,
                        :reported_at, :recorded_at)
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
                "reported_at": reported_at,
                "recorded_at": recorded_at,
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
            raise SightingReferenceTaken(source.value, reference)
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
                  'recorded_at', g.recorded_at, 'reported_at', g.reported_at) AS sighting
                FROM sightings g WHERE g.id = :id
                """
            ),
            {"id": sighting_id},
        ).one()
        return sighting_from_json(row.sighting)
