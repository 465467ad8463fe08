"""Foreigners with addresses, sightings and permits at set times, for the rules that read them.

Persons, stays, exits and sightings go through the registry at the times the
test gives (the settable clock is moved there and back). Address reports are
written straight into ``addresses`` with the time they were reported: the
registry on this branch stamps ``reported_at`` with the database's clock
(the transaction's start, the real time), and the address rules go by the
time a report was made. The registry places the point the same way
(``storage.boundaries.place_point``) and keeps the current-address
projection as the store does.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, text

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain.model import PermitType, SightingSource
from exchange_service.services import Registry
from exchange_service.storage.boundaries import place_point
from tests.service import commands as c
from tests.service.conftest import SettableClock

# How far outside the regency a point still gets a district (the default setting).
TOLERANCE_METERS = 1500.0


@dataclass(frozen=True)
class Resident:
    """A registered person on a stay."""

    person: model.Person
    stay: model.Stay

    @property
    def subject_id(self) -> str:
        return str(self.person.id)


def permit(
    kind: PermitType,
    first_day: date,
    last_day: date,
    *,
    number: str = "KITAS-2105-0001",
    sponsor: str = "PT Matak Offshore Services",
    purpose: str = "tenaga kerja asing migas lepas pantai",
) -> cmd.RawPermit:
    return cmd.RawPermit(
        permit_number=number,
        type=kind,
        valid_from=c.parts(first_day),
        valid_until=c.parts(last_day),
        sponsor=sponsor,
        purpose=purpose,
    )


def arrive(
    registry: Registry,
    clock: SettableClock,
    *,
    at: datetime,
    permit: cmd.RawPermit,
    family: str = "Nguyen",
    given: str = "Van An",
    nationality: str = "VNM",
) -> Resident:
    """Registers a person who enters at ``at`` on ``permit``; the clock is set back as it was."""
    was = clock()
    clock.set(at)
    person = registry.register_person(c.registration(family, given, nationality))
    stay = registry.record_entry(c.entry(person.id, at, permit))
    clock.set(was)
    return Resident(person, stay)


def leave(registry: Registry, clock: SettableClock, resident: Resident, at: datetime) -> None:
    was = clock()
    clock.set(at)
    registry.record_exit(c.exit_at(resident.person.id, at))
    clock.set(was)


def sight(
    registry: Registry,
    clock: SettableClock,
    resident: Resident,
    *,
    at: cmd.RawPoint,
    observed_at: datetime,
    source: SightingSource = SightingSource.POLICE_CHECK,
    place_name: str = "Pemeriksaan rutin Polres Kepulauan Anambas",
) -> model.Sighting:
    """Records a sighting observed (and reported) at ``observed_at``."""
    was = clock()
    clock.set(observed_at)
    sighting, _new = registry.record_sighting(
        cmd.RecordSighting(
            person_id=resident.subject_id,
            document=None,
            location=at,
            observed_at=observed_at,
            source=source,
            place_name=place_name,
        )
    )
    clock.set(was)
    return sighting


def report_address(
    connection: Connection,
    resident: Resident,
    *,
    at: cmd.RawPoint,
    effective_from: date,
    reported_at: datetime,
    line: str = "Jl. Hang Tuah 7, Tarempa",
) -> uuid.UUID:
    """Records an address report made at ``reported_at``, effective from ``effective_from``."""
    placement = place_point(connection, model.GeoPoint(at.latitude, at.longitude), TOLERANCE_METERS)
    address_id = uuid.uuid4()
    connection.execute(
        text(
            "INSERT INTO addresses (id, person_id, line, location, district_code, village_code,"
            " effective_from, reported_at)"
            " VALUES (:id, :person_id, :line, ST_GeogFromText(:location), :district, :village,"
            " :effective_from, :reported_at)"
        ),
        {
            "id": address_id,
            "person_id": resident.person.id,
            "line": line,
            "location": f"SRID=4326;POINT({at.longitude!r} {at.latitude!r})",
            "district": placement.district_code,
            "village": placement.village_code,
            "effective_from": effective_from,
            "reported_at": reported_at,
        },
    )
    connection.execute(
        text(
            "INSERT INTO current_addresses (person_id, address_id, location)"
            " SELECT a.person_id, a.id, a.location FROM addresses a WHERE a.person_id = :person_id"
            " ORDER BY a.effective_from DESC, a.reported_at DESC LIMIT 1"
            " ON CONFLICT (person_id) DO UPDATE"
            " SET address_id = EXCLUDED.address_id, location = EXCLUDED.location"
        ),
        {"person_id": resident.person.id},
    )
    return address_id


def point_from(
    connection: Connection, origin: cmd.RawPoint, meters: float, azimuth_degrees: float = 90.0
) -> cmd.RawPoint:
    """The point ``meters`` from ``origin`` on the spheroid, towards ``azimuth_degrees``."""
    row = connection.execute(
        text(
            "SELECT ST_Y(CAST(p AS geometry)) AS lat, ST_X(CAST(p AS geometry)) AS lon FROM"
            " (SELECT ST_Project(CAST(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326) AS geography),"
            " :meters, radians(:azimuth)) AS p) projected"
        ),
        {
            "lat": origin.latitude,
            "lon": origin.longitude,
            "meters": meters,
            "azimuth": azimuth_degrees,
        },
    ).one()
    return cmd.RawPoint(row.lat, row.lon)


def distance_meters(connection: Connection, a: cmd.RawPoint, b: cmd.RawPoint) -> float:
    """The geodesic distance PostGIS gives between two points (``ST_Distance`` on geography)."""
    return float(
        connection.execute(
            text(
                "SELECT ST_Distance("
                " CAST(ST_SetSRID(ST_MakePoint(:alon, :alat), 4326) AS geography),"
                " CAST(ST_SetSRID(ST_MakePoint(:blon, :blat), 4326) AS geography))"
            ),
            {"alat": a.latitude, "alon": a.longitude, "blat": b.latitude, "blon": b.longitude},
        ).scalar_one()
    )


def listed(evidence: Mapping[str, object], key: str) -> list[dict[str, Any]]:
    """The evidence's list of records under ``key`` (sightings, sponsees)."""
    value = evidence[key]
    assert isinstance(value, list)
    assert all(isinstance(item, dict) for item in value)
    return value


def record(evidence: Mapping[str, object], key: str) -> dict[str, Any]:
    """The evidence's record under ``key`` (the registered address)."""
    value = evidence[key]
    assert isinstance(value, dict)
    return value
