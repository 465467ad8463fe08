"""QueryService: dossiers, name search and nearest persons, through real gRPC."""

from __future__ import annotations

import math
import secrets

import grpc
import pytest
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc

from tests import factories as f


@pytest.fixture
def registry(grpc_channel: grpc.Channel) -> r_grpc.RegistryServiceStub:
    return r_grpc.RegistryServiceStub(grpc_channel)


@pytest.fixture
def queries(grpc_channel: grpc.Channel) -> q_grpc.QueryServiceStub:
    return q_grpc.QueryServiceStub(grpc_channel)


def test_get_person_by_id_and_by_document_give_the_same_dossier(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person(nationality="AUS")))
    registry.RecordEntry(f.entry(person.id))
    registry.ReportAddress(f.address(person.id, 3.2166, 106.2211))
    by_id = queries.GetPerson(q.GetPersonRequest(person_id=person.id))
    document = pb.TravelDocument(issuing_state="aus", number=person.documents[0].number.lower())
    by_document = queries.GetPerson(q.GetPersonRequest(document=document))
    assert by_id == by_document
    assert by_id.person == person
    assert by_id.current_address.address.village_code == "21.05.01.1001"


def _unique_surname() -> str:
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    token = secrets.token_bytes(4)
    return "".join(
        (consonants[b % len(consonants)] + vowels[b % len(vowels)]) for b in token
    ).capitalize()


def test_search_forgives_case_accents_word_order_and_small_typos(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    surname = _unique_surname()
    person = registry.RegisterPerson(
        r.RegisterPersonRequest(
            person=f.person(family=f"{surname}ë", given="Zoë Anaïs", nationality="FRA")
        )
    )
    for query in (
        f"{surname}e zoe anais",
        f"ZOE ANAIS {surname.upper()}E",
        f"anais {surname}e zoe",
        f"{surname[:-1]}x zoe anais",  # one letter wrong
    ):
        found = queries.SearchPersons(q.SearchPersonsRequest(name=query))
        assert person.id in [m.person.id for m in found.results], query
        best = next(m for m in found.results if m.person.id == person.id)
        assert 0.5 <= best.score <= 1.0
    exact = queries.SearchPersons(q.SearchPersonsRequest(name=f"{surname}e Zoe Anais"))
    assert exact.results[0].person.id == person.id
    assert exact.results[0].score == 1.0
    filtered = queries.SearchPersons(
        q.SearchPersonsRequest(name=f"{surname}e zoe anais", nationality="DEU")
    )
    assert person.id not in [m.person.id for m in filtered.results]
    by_year = queries.SearchPersons(
        q.SearchPersonsRequest(name=f"{surname}e zoe anais", birth_year=1988)
    )
    assert person.id in [m.person.id for m in by_year.results]


def test_search_pages_through_all_matches_once(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    surname = _unique_surname()
    ids = {
        registry.RegisterPerson(
            r.RegisterPersonRequest(person=f.person(family=surname, given=given))
        ).id
        for given in ("Ali", "Budi", "Citra", "Dewi", "Eko")
    }
    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = queries.SearchPersons(
            q.SearchPersonsRequest(name=surname, page_size=2, page_token=token)
        )
        seen.extend(m.person.id for m in page.results if m.person.id in ids)
        scores = [m.score for m in page.results]
        assert scores == sorted(scores, reverse=True)
        token = page.next_page_token
        if not token:
            break
    assert sorted(seen) == sorted(ids)


def _distance_m(a: pb.GeoPoint, b: pb.GeoPoint) -> float:
    earth = 6_371_008.8
    la1, la2 = math.radians(a.latitude), math.radians(b.latitude)
    dla, dlo = la2 - la1, math.radians(b.longitude - a.longitude)
    h = math.sin(dla / 2) ** 2 + math.cos(la1) * math.cos(la2) * math.sin(dlo / 2) ** 2
    return 2 * earth * math.asin(math.sqrt(h))


def test_persons_near_are_nearest_first_within_the_radius_and_page_cleanly(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    # A remote spot in the regency's waters, so other tests' persons are far.
    centre = pb.GeoPoint(latitude=2.7446, longitude=106.2078)  # Kiabu
    offsets = [0.001, 0.003, 0.006, 0.010, 0.014, 0.030]  # degrees north
    placed = {}
    for offset in offsets:
        person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
        registry.ReportAddress(
            f.address(person.id, centre.latitude + offset, centre.longitude, days=-5)
        )
        placed[person.id] = offset
    # The first of them moves away: only the current address counts.
    moved = next(iter(placed))
    registry.ReportAddress(f.address(moved, 3.2166, 106.2211, days=0))
    del placed[moved]

    radius = 2000.0
    results: list[q.PersonNearby] = []
    token = ""
    for _ in range(10):
        page = queries.ListPersonsNear(
            q.ListPersonsNearRequest(
                center=centre, radius_meters=radius, page_size=2, page_token=token
            )
        )
        assert len(page.results) <= 2
        results.extend(page.results)
        token = page.next_page_token
        if not token:
            break
    ids = [n.person.id for n in results]
    within = [
        pid for pid, off in sorted(placed.items(), key=lambda kv: kv[1]) if off * 111_000 < radius
    ]
    assert ids == within
    distances = [n.distance_meters for n in results]
    assert distances == sorted(distances)
    for nearby in results:
        expected = _distance_m(centre, nearby.address.location)
        assert abs(nearby.distance_meters - expected) < 1.0
        assert nearby.address.district_code.startswith("21.05.")


def test_persons_at_one_house_page_through_completely_and_once(
    registry: r_grpc.RegistryServiceStub, queries: q_grpc.QueryServiceStub
) -> None:
    """Ties in distance (a family at one house) split across pages: the page key is exact."""
    centre = pb.GeoPoint(latitude=2.9581, longitude=105.7362)  # off Jemaja, far from others
    house = (centre.latitude + 0.0021, centre.longitude + 0.0017)
    family = set()
    for _ in range(5):
        person = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
        registry.ReportAddress(f.address(person.id, *house, days=-3))
        family.add(person.id)
    neighbour = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    registry.ReportAddress(
        f.address(neighbour.id, centre.latitude + 0.004, centre.longitude, days=-3)
    )

    seen: list[str] = []
    token = ""
    for _ in range(10):
        page = queries.ListPersonsNear(
            q.ListPersonsNearRequest(
                center=centre, radius_meters=1000.0, page_size=2, page_token=token
            )
        )
        seen.extend(n.person.id for n in page.results)
        token = page.next_page_token
        if not token:
            break
    assert len(seen) == len(set(seen)) == 6
    assert set(seen[:5]) == family
    assert seen[5] == neighbour.id
