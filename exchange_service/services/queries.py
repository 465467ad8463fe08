"""The queries of the police, supervisors and the office: persons by key, name and place.

Each validates its request, then asks the read side of the unit of work one
question; a page token is signed with the server's secrets and names the query
it continues, so an edited token, or one of another query, is refused
(``domain/paging.py``).
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from dataclasses import dataclass
from datetime import tzinfo

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain import validation as valid
from exchange_service.domain.clock import Clock, local_today, system_clock
from exchange_service.domain.paging import PageTokens, key_number, key_uuid, query_fingerprint
from exchange_service.services.common import (
    PERSON,
    document_not_found,
    person_not_found,
)
from exchange_service.services.ports import AsyncReads, UnitOfWork
from watchlist.names import name_similarity, search_key


@dataclass(frozen=True)
class QueryOptions:
    """What the queries take from the settings."""

    # The office's timezone: a birth year is checked against its year.
    timezone: tzinfo
    # Sightings in a person's dossier, newest first.
    dossier_sightings: int
    # Persons fetched from the trigram index before scoring them.
    search_candidates: int
    # Matches scoring below this are not shown.
    search_min_score: float
    # Signs the page tokens of the search and the nearby listing, and checks them.
    page_tokens: PageTokens


def _found(
    dossier: model.PersonDossier | None,
    person_id: uuid.UUID | None,
    document: model.TravelDocument | None,
) -> model.PersonDossier:
    if dossier is None:
        if document is not None:
            raise document_not_found(document, resource_type=PERSON)
        raise person_not_found(str(person_id or ""))
    return dossier


class Queries:
    """Reads for the police, supervisors and the office; they never write."""

    def __init__(
        self,
        uow: UnitOfWork,
        options: QueryOptions,
        clock: Clock = system_clock,
        *,
        async_reads: AsyncReads | None = None,
    ) -> None:
        self._uow = uow
        self._options = options
        self._clock = clock
        self._async_reads = async_reads

    def get_person(self, key: cmd.PersonKey) -> model.PersonDossier:
        """The person named by id or document, with open stay, address and latest sightings."""
        person_id, document = valid.valid_person_key(key)
        with self._uow.read() as reader:
            dossier = reader.dossier(
                person_id=person_id, document=document, sightings=self._options.dossier_sightings
            )
        return _found(dossier, person_id, document)

    async def get_person_async(self, key: cmd.PersonKey) -> model.PersonDossier:
        """``get_person`` awaited on the event loop, on the asynchronous reads when there are.

        Without them it runs ``get_person`` on a thread of asyncio's own.
        """
        if self._async_reads is None:
            return await asyncio.to_thread(contextvars.copy_context().run, self.get_person, key)
        person_id, document = valid.valid_person_key(key)
        async with self._async_reads.read() as reader:
            dossier = await reader.dossier(
                person_id=person_id, document=document, sightings=self._options.dossier_sightings
            )
        return _found(dossier, person_id, document)

    def search_persons(self, request: cmd.SearchPersons) -> model.Page[model.PersonMatch]:
        """Persons whose name is like the query, best first, each with its score."""
        query = valid.valid_search(request, local_today(self._clock, self._options.timezone))
        fingerprint = query_fingerprint(
            "search", search_key(query.name), query.nationality, query.birth_year
        )
        after_key = self._options.page_tokens.decode(request.page_token, fingerprint, 2)
        after = None
        if after_key is not None:
            after = (key_number(after_key[0]), str(key_uuid(after_key[1])))
        with self._uow.read() as reader:
            ids = reader.search_candidates(
                search_key(query.name),
                query.nationality,
                query.birth_year,
                self._options.search_candidates,
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
        matches = [m for m in matches if m.score >= self._options.search_min_score]
        if after is not None:
            last_score, last_id = after
            matches = [m for m in matches if (-m.score, str(m.person.id)) > (-last_score, last_id)]
        page = matches[: query.page_size]
        token = ""
        if len(matches) > query.page_size:
            token = self._options.page_tokens.encode(
                fingerprint, [page[-1].score, str(page[-1].person.id)]
            )
        return model.Page(tuple(page), token)

    def list_persons_near(self, request: cmd.ListPersonsNear) -> model.Page[model.PersonNearby]:
        """Persons whose current address is within the radius, nearest first."""
        query = valid.valid_near(request)
        fingerprint = query_fingerprint(
            "near", query.center.latitude, query.center.longitude, query.radius_meters
        )
        after_key = self._options.page_tokens.decode(request.page_token, fingerprint, 2)
        after: tuple[float, uuid.UUID] | None = None
        if after_key is not None:
            after = (key_number(after_key[0]), key_uuid(after_key[1]))
        with self._uow.read() as reader:
            rows = reader.persons_near(
                query.center, query.radius_meters, after, query.page_size + 1
            )
        page = rows[: query.page_size]
        token = ""
        if len(rows) > query.page_size:
            last = page[-1]
            token = self._options.page_tokens.encode(
                fingerprint, [last.distance_meters or 0.0, str(last.person.id)]
            )
        return model.Page(tuple(page), token)
