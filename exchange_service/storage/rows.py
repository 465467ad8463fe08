"""Rows of the registry as JSON, and their parsing into domain values.

The read paths fetch a whole record (a person with documents, a stay with its
permits, an address with its place names) as one JSON value built by
PostgreSQL, so a query costs one round trip. The SQL fragments here build
those values; the parsers turn them into ``domain.model`` records. Shared by
the transactional store (``registry_store``) and the read-only reader
(``registry_reader``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from exchange_service.domain import model


def _ts_or_none(raw: str | None) -> datetime | None:
    return datetime.fromisoformat(raw) if raw else None


def _ts(raw: str) -> datetime:
    return datetime.fromisoformat(raw)


def _date_or_none(raw: str | None) -> date | None:
    return date.fromisoformat(raw) if raw else None


def _date(raw: str) -> date:
    return date.fromisoformat(raw)


def person_from_json(row: dict[str, Any]) -> model.Person:
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


def stay_from_json(row: dict[str, Any]) -> model.Stay:
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


def address_from_json(row: dict[str, Any]) -> model.Address:
    return model.Address(
        line=row["line"],
        location=model.GeoPoint(row["lat"], row["lon"]),
        district_code=row["district_code"] or "",
        village_code=row["village_code"] or "",
        district_name=row["district_name"] or "",
        village_name=row["village_name"] or "",
    )


def address_record_from_json(row: dict[str, Any]) -> model.AddressRecord:
    return model.AddressRecord(
        id=uuid.UUID(row["id"]),
        person_id=uuid.UUID(row["person_id"]),
        address=address_from_json(row),
        effective_from=_date(row["effective_from"]),
        reported_at=_ts(row["reported_at"]),
        recorded_at=_ts(row["recorded_at"]),
    )


def sighting_from_json(row: dict[str, Any]) -> model.Sighting:
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
        reported_at=_ts_or_none(row["reported_at"]),
    )


# JSON of a person with documents; `p` is the persons row.
PERSON_JSON = """
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

STAY_JSON = """
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

ADDRESS_JSON = """
json_build_object(
  'id', a.id, 'person_id', a.person_id, 'line', a.line,
  'lat', ST_Y(a.location::geometry), 'lon', ST_X(a.location::geometry),
  'district_code', a.district_code, 'village_code', a.village_code,
  'district_name', (SELECT name FROM districts WHERE code = a.district_code),
  'village_name', (SELECT name FROM villages WHERE code = a.village_code),
  'effective_from', a.effective_from, 'reported_at', a.reported_at,
  'recorded_at', a.recorded_at)
"""
