"""The queries through the use cases: lookups by key, the name search's knobs, paging."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

import pytest

from exchange_service.app import query_options
from exchange_service.domain import commands as cmd
from exchange_service.domain.errors import InvalidInput, NotFound
from exchange_service.services import Queries, Registry
from exchange_service.settings import Settings
from exchange_service.storage.database import SavepointUnitOfWork
from tests.service import commands as c
from tests.service.conftest import SettableClock


def test_a_person_is_found_by_id_and_by_document_alike(
    registry: Registry, queries: Queries
) -> None:
    person = registry.register_person(c.registration())
    held = c.document(person.documents[0].number.lower())
    by_id = queries.get_person(cmd.PersonKey(person_id=str(person.id)))
    assert queries.get_person(cmd.PersonKey(document=held)) == by_id
    assert by_id.person == person


def test_an_unknown_key_is_not_found_naming_what_was_asked(queries: Queries) -> None:
    missing = uuid.uuid4()
    with pytest.raises(NotFound) as by_id:
        queries.get_person(cmd.PersonKey(person_id=str(missing)))
    assert (by_id.value.resource_name, by_id.value.field) == (f"persons/{missing}", "person_id")
    with pytest.raises(NotFound) as by_document:
        queries.get_person(cmd.PersonKey(document=cmd.RawDocument("AUS", "NOPE1")))
    assert (by_document.value.resource_name, by_document.value.field) == (
        "documents/AUS/NOPE1",
        "document",
    )


def _queries(
    uow: SavepointUnitOfWork, settings: Settings, clock: SettableClock, **changes: Any
) -> Queries:
    return Queries(uow, replace(query_options(settings), **changes), clock)


def test_the_name_search_keeps_to_its_minimum_score_and_candidates(
    registry: Registry,
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
) -> None:
    exact = registry.register_person(c.registration("Przybyszewska", "Katarzyna", "POL"))
    typo = registry.register_person(c.registration("Przybyszewsky", "Katarzyna", "POL"))
    search = cmd.SearchPersons("Przybyszewska Katarzyna", nationality="POL")

    found = _queries(uow, service_settings, clock).search_persons(search)
    assert [m.person.id for m in found.items][:2] == [exact.id, typo.id]
    assert found.items[0].score == 1.0 > found.items[1].score >= 0.5

    strict = _queries(uow, service_settings, clock, search_min_score=1.0)
    assert [m.person.id for m in strict.search_persons(search).items] == [exact.id]
    one_candidate = _queries(uow, service_settings, clock, search_candidates=1)
    assert [m.person.id for m in one_candidate.search_persons(search).items] == [exact.id]


def test_the_name_search_pages_through_every_match_once(
    registry: Registry, queries: Queries
) -> None:
    ids = {
        registry.register_person(c.registration("Kowalczyk", f"Marta {i}", "POL")).id
        for i in range(5)
    }
    seen: list[uuid.UUID] = []
    tokens: list[str] = []
    while True:
        page = queries.search_persons(
            cmd.SearchPersons(
                "Kowalczyk Marta", nationality="POL", page_size=2, page_token="".join(tokens[-1:])
            )
        )
        seen.extend(m.person.id for m in page.items)
        if not page.next_page_token:
            break
        tokens.append(page.next_page_token)
    assert ids <= set(seen)
    assert len(seen) == len(set(seen))
    # A page token continues its own query only.
    with pytest.raises(InvalidInput):
        queries.search_persons(cmd.SearchPersons("Kowalczyk Maria", page_token=tokens[0]))
