"""Use cases of the stay registry: validate, then read or write in one transaction.

Each public method takes a command as the API received it and returns domain
values, or raises a ``PantauError``. Nothing here knows gRPC.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain import validation as valid
from exchange_service.domain.call import note_person_touched
from exchange_service.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    NotFound,
    PreconditionViolation,
)
from exchange_service.domain.paging import (
    decode_page_token,
    encode_page_token,
    malformed_page_token,
    query_fingerprint,
)
from exchange_service.settings import Settings
from exchange_service.storage.database import UnitOfWork
from exchange_service.storage.registry_store import ReferenceTaken, RegistryStore
from watchlist.names import name_similarity, search_key

Clock = Callable[[], datetime]
T = TypeVar("T")

PERSON = "pantau.v1.Person"
STAY = "pantau.v1.Stay"

# Candidates fetched from the trigram index before scoring in Python.
SEARCH_CANDIDATES = 500
# Results below this score are not shown.
SEARCH_MIN_SCORE = 0.5


def _present(value: T | None) -> T:
    """A record read back inside its own transaction must be there."""
    if value is None:
        raise RuntimeError("a record vanished inside its own transaction")
    return value


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _person_not_found(person_id: uuid.UUID | str, field: str = "person_id") -> NotFound:
    return NotFound(PERSON, f"persons/{person_id}", field)


def _same_identity(a: model.Identity, b: model.Identity) -> bool:
    return (
        search_key(a.family_name) == search_key(b.family_name)
        and search_key(a.given_names) == search_key(b.given_names)
        and a.nationality == b.nationality
        and a.birth_date == b.birth_date
        and a.sex == b.sex
    )


@dataclass(frozen=True)
class RegistryContext:
    """What every use case needs: storage, settings and the time."""

    uow: UnitOfWork
    settings: Settings
    clock: Clock = _utc_now

    def today(self) -> date:
        return self.clock().astimezone(ZoneInfo(self.settings.timezone)).date()

    def store(self, session: Session) -> RegistryStore:
        return RegistryStore(
            session, boundary_tolerance_meters=self.settings.boundary_tolerance_meters
        )


class Registry:
    """Writes: persons, documents, stays, permits, addresses and sightings."""

    def __init__(self, context: RegistryContext) -> None:
        self._ctx = context

    def register_person(self, request: cmd.RegisterPerson) -> model.Person:
        identity, documents = valid.valid_registration(
            request, self._ctx.today(), self._ctx.settings.home_country
        )
        with self._ctx.uow.begin() as session:
            store = self._ctx.store(session)
            store.lock_documents(documents)
            owners = store.owners_of(documents)
            existing_ids = set(owners.values())
            if len(existing_ids) > 1:
                raise AlreadyExists(
                    "the documents belong to different registered persons",
                    reason="DOCUMENTS_OF_DIFFERENT_PERSONS",
                    resource_type=PERSON,
                    resource_name=", ".join(f"persons/{i}" for i in sorted(map(str, existing_ids))),
                    metadata={"person_ids": ",".join(sorted(map(str, existing_ids)))},
                )
            if existing_ids:
                (person_id,) = existing_ids
                existing = _present(store.person(person_id))
                if not _same_identity(existing.identity, identity):
                    state, number = next(iter(owners))
                    raise AlreadyExists(
                        f"document {state} {number} is registered to another identity",
                        reason="DOCUMENT_REGISTERED_TO_OTHER_IDENTITY",
                        resource_type=PERSON,
                        resource_name=f"persons/{person_id}",
                        metadata={"person_id": str(person_id)},
                    )
                new = [d for d in documents if (d.issuing_state, d.number) not in owners]
                store.add_documents(person_id, new)
            else:
                person_id = store.add_person(identity, documents)
            person = _present(store.person(person_id))
        return person

    def add_travel_document(self, request: cmd.AddTravelDocument) -> model.Person:
        person_id, document = valid.valid_document_addition(request)
        with self._ctx.uow.begin() as session:
            store = self._ctx.store(session)
            if not store.lock_person(person_id):
                raise _person_not_found(person_id)
            store.lock_documents([document])
            owner = store.owners_of([document]).get((document.issuing_state, document.number))
            if owner is not None and owner != person_id:
                raise AlreadyExists(
                    f"document {document.issuing_state} {document.number} "
                    "belongs to another person",
                    reason="DOCUMENT_REGISTERED_TO_OTHER_IDENTITY",
                    resource_type=PERSON,
                    resource_name=f"persons/{owner}",
                    metadata={"person_id": str(owner)},
                )
            if owner is None:
                store.add_documents(person_id, [document])
            person = _present(store.person(person_id))
        return person

    def record_entry(self, request: cmd.RecordEntry) -> model.Stay:
        person_id, port, entered_at, permit = valid.valid_entry(
            request, self._ctx.clock(), ZoneInfo(self._ctx.settings.timezone)
        )
        with self._ctx.uow.begin() as session:
            store = self._ctx.store(session)
            if not store.lock_person(person_id):
                raise _person_not_found(person_id)
            open_stay = store.open_stay_id(person_id)
            if open_stay is not None:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "STAY_OPEN",
                            f"stays/{open_stay}",
                            "the person has an open stay; record the exit first",
                        )
                    ]
                )
            last_exit = store.latest_stay_exit(person_id)
            if last_exit is not None and entered_at < last_exit:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "ENTRY_BEFORE_LAST_EXIT",
                            f"persons/{person_id}",
                            "entered_at is before the last recorded exit "
                            f"({last_exit.isoformat()})",
                        )
                    ]
                )
            try:
                stay_id = store.add_stay(person_id, port, entered_at, permit)
            except IntegrityError as error:  # a concurrent entry won the race
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "STAY_OPEN", f"persons/{person_id}", "stay already open"
                        )
                    ]
                ) from error
            stay = _present(store.stay(stay_id))
        return stay

    def extend_permit(self, request: cmd.ExtendPermit) -> model.Stay:
        stay_id, permit = valid.valid_extension(request)
        with self._ctx.uow.begin() as session:
            store = self._ctx.store(session)
            stay = store.lock_stay(stay_id)
            if stay is None:
                raise NotFound(STAY, f"stays/{stay_id}", "stay_id")
            if not stay.is_open:
                raise FailedPrecondition(
                    [PreconditionViolation("STAY_CLOSED", f"stays/{stay_id}", "the stay has ended")]
                )
            if permit.valid_until <= stay.permit.valid_until:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "EXTENSION_NOT_LATER",
                            f"stays/{stay_id}",
                            f"permit.valid_until must be after the current period's end "
                            f"({stay.permit.valid_until.isoformat()})",
                        )
                    ]
                )
            current = stay.permit
            if (
                not current.valid_from
                < permit.valid_from
                <= current.valid_until + timedelta(days=1)
            ):
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "EXTENSION_NOT_CONTIGUOUS",
                            f"stays/{stay_id}",
                            "permit.valid_from must fall after the current period's start "
                            f"({current.valid_from.isoformat()}) and no later than the day "
                            f"after its end ({current.valid_until.isoformat()})",
                        )
                    ]
                )
            store.add_permit(stay_id, permit, sequence=len(stay.permits) + 1)
            extended = _present(store.stay(stay_id))
        return extended

    def record_exit(self, request: cmd.RecordExit) -> model.Stay:
        person_id, port, exited_at = valid.valid_exit(request, self._ctx.clock())
        with self._ctx.uow.begin() as session:
            store = self._ctx.store(session)
            if not store.lock_person(person_id):
                raise _person_not_found(person_id)
            stay_id = store.open_stay_id(person_id)
            if stay_id is None:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "NO_OPEN_STAY", f"persons/{person_id}", "the person has no open stay"
                        )
                    ]
                )
            stay = _present(store.stay(stay_id))
            if exited_at < stay.entered_at:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "EXIT_BEFORE_ENTRY",
                            f"stays/{stay_id}",
                            f"exited_at is before the entry ({stay.entered_at.isoformat()})",
                        )
                    ]
                )
            store.close_stay(stay_id, port, exited_at)
            closed = _present(store.stay(stay_id))
        return closed

    def report_address(self, request: cmd.ReportAddress) -> model.AddressRecord:
        person_id, address, effective_from = valid.valid_address_report(request, self._ctx.today())
        with self._ctx.uow.begin() as session:
            store = self._ctx.store(session)
            if not store.lock_person(person_id):
                raise _person_not_found(person_id)
            address_id = store.add_address(person_id, address, effective_from)
            return store.address_record(address_id)

    def record_sighting(
        self, request: cmd.RecordSighting, *, field_prefix: str = ""
    ) -> tuple[model.Sighting, bool]:
        """The sighting, and whether it is new (False: the same report came before)."""
        sighting = valid.valid_sighting(request, self._ctx.clock(), field_prefix)
        with self._ctx.uow.begin() as session:
            store = self._ctx.store(session)
            if sighting.person_id is not None:
                person_id = sighting.person_id
                if not store.lock_person(person_id):
                    raise _person_not_found(person_id, f"{field_prefix}person_id")
            else:
                doc = _present(sighting.document)
                found = store.person_id_by_document(doc)
                if found is None:
                    raise NotFound(
                        "pantau.v1.TravelDocument",
                        f"documents/{doc.issuing_state}/{doc.number}",
                        f"{field_prefix}document",
                    )
                person_id = found
            try:
                sighting_id, is_new = store.add_sighting(
                    person_id,
                    location=sighting.location,
                    observed_at=sighting.observed_at,
                    source=sighting.source,
                    reference=sighting.reference,
                    place_name=sighting.place_name,
                )
            except ReferenceTaken as taken:
                # Say only that the reference is taken: whose sighting it is
                # is not the caller's business.
                raise AlreadyExists(
                    f"{taken.source.value} reference {taken.reference!r} already names another"
                    " person's sighting",
                    reason="SIGHTING_REFERENCE_TAKEN",
                    resource_type="pantau.v1.Sighting",
                    resource_name=f"sightings/{taken.source.value}/{taken.reference}",
                ) from taken
            note_person_touched(str(person_id))
            return store.sighting(sighting_id), is_new


class Queries:
    """Reads for the police, supervisors and the office."""

    def __init__(self, context: RegistryContext) -> None:
        self._ctx = context

    def get_person(self, key: cmd.PersonKey) -> model.PersonDossier:
        person_id, document = valid.valid_person_key(key)
        with self._ctx.uow.read() as reader:
            dossier = reader.dossier(
                person_id=person_id,
                document=document,
                sightings=self._ctx.settings.dossier_sightings,
            )
        if dossier is None:
            if document is not None:
                raise NotFound(
                    PERSON, f"documents/{document.issuing_state}/{document.number}", "document"
                )
            raise _person_not_found(person_id or "")
        return dossier

    def search_persons(self, request: cmd.SearchPersons) -> model.Page[model.PersonMatch]:
        query = valid.valid_search(request, self._ctx.today())
        fingerprint = query_fingerprint(
            "search", search_key(query.name), query.nationality, query.birth_year
        )
        after = decode_page_token(request.page_token, fingerprint, 2)
        with self._ctx.uow.read() as reader:
            ids = reader.search_candidates(
                search_key(query.name), query.nationality, query.birth_year, SEARCH_CANDIDATES
            )
            persons = reader.persons(ids)
        matches = sorted(
            (
                model.PersonMatch(
                    person,
                    name_similarity(
                        query.name, f"{person.identity.family_name} {person.identity.given_names}"
                    ),
                )
                for person in persons.values()
            ),
            key=lambda m: (-m.score, str(m.person.id)),
        )
        matches = [m for m in matches if m.score >= SEARCH_MIN_SCORE]
        if after is not None:
            last_score, last_id = float(after[0]), str(after[1])
            matches = [m for m in matches if (-m.score, str(m.person.id)) > (-last_score, last_id)]
        page = matches[: query.page_size]
        token = ""
        if len(matches) > query.page_size:
            token = encode_page_token(fingerprint, [page[-1].score, str(page[-1].person.id)])
        return model.Page(tuple(page), token)

    def list_persons_near(self, request: cmd.ListPersonsNear) -> model.Page[model.PersonNearby]:
        query = valid.valid_near(request)
        fingerprint = query_fingerprint(
            "near", query.center.latitude, query.center.longitude, query.radius_meters
        )
        after_key = decode_page_token(request.page_token, fingerprint, 2)
        after: tuple[float, uuid.UUID] | None = None
        if after_key is not None:
            parsed = cmd.parse_uuid(str(after_key[1]))
            if parsed is None or isinstance(after_key[0], str):
                raise malformed_page_token()
            after = (float(after_key[0]), parsed)
        with self._ctx.uow.read() as reader:
            rows = reader.persons_near(
                query.center, query.radius_meters, after, query.page_size + 1
            )
        page = rows[: query.page_size]
        token = ""
        if len(rows) > query.page_size:
            last = page[-1]
            # Rows read from the store always carry their distance (only a disclosed copy lacks it).
            token = encode_page_token(
                fingerprint, [last.distance_meters or 0.0, str(last.person.id)]
            )
        return model.Page(tuple(page), token)
