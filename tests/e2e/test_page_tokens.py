"""Page tokens over real gRPC: only the token the server gave continues a listing.

For each paged RPC (SearchPersons, ListPersonsNear, ListAlerts) a real
``next_page_token`` is edited every way a client could: each character
replaced by another at every position, cut short at every length, extended,
re-signed with a secret the server no longer holds, or signed with the
server's own secret around keys of the wrong type. Each answers
INVALID_ARGUMENT naming ``page_token``, with one and the same description,
and writes nothing; the untouched token still serves the second page.
"""

from __future__ import annotations

import base64
import json
import secrets
import string
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import grpc
import pytest
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc

from exchange_service.services.alerts import RuleEngine
from tests import factories as f
from tests.conftest import RowCounts
from tests.e2e.conftest import register_overstayer, run_overstay

# base64url's alphabet in its own order: the next character differs from the
# one it replaces in its lowest bit, the bit a lenient decoder ignores in a
# string's last character.
ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"


def substitute(token: str, position: int) -> str:
    """The token with the character at ``position`` replaced by the next one of ALPHABET."""
    old = token[position]
    new = ALPHABET[(ALPHABET.index(old) + 1) % len(ALPHABET)] if old in ALPHABET else "A"
    return token[:position] + new + token[position + 1 :]


def every_edit(token: str) -> Iterator[tuple[str, str]]:
    """(what was done, the edited token): each substitution, truncation and some extensions."""
    for position in range(len(token)):
        yield f"character {position} replaced", substitute(token, position)
    for length in range(1, len(token)):
        yield f"cut to {length} characters", token[:length]
    for tail in ("A", "=", "==", ".", token[-1], token):
        yield f"extended by {tail!r}", token + tail
    yield "doubled with a dot", f"{token}.{token}"


def _unique_surname() -> str:
    consonants, vowels = "bdfgklmnprstvz", "aeiou"
    return "".join(
        consonants[b % len(consonants)] + vowels[b % len(vowels)] for b in secrets.token_bytes(4)
    ).capitalize()


@dataclass
class Listings:
    """A surname, a place and two overstayers of this test, and the paged queries on them."""

    queries: q_grpc.QueryServiceStub
    surname: str
    centre: pb.GeoPoint

    def search(self, token: str, *, size: int = 1, name: str = "") -> tuple[list[str], str]:
        page = self.queries.SearchPersons(
            q.SearchPersonsRequest(name=name or self.surname, page_size=size, page_token=token)
        )
        return [m.person.id for m in page.results], page.next_page_token

    def near(self, token: str, *, size: int = 1, radius: float = 800.0) -> tuple[list[str], str]:
        page = self.queries.ListPersonsNear(
            q.ListPersonsNearRequest(
                center=self.centre, radius_meters=radius, page_size=size, page_token=token
            )
        )
        return [n.person.id for n in page.results], page.next_page_token

    def alerts(
        self, token: str, *, size: int = 1, rule: int = apb.ALERT_RULE_OVERSTAY
    ) -> tuple[list[str], str]:
        page = self.queries.ListAlerts(
            q.ListAlertsRequest(rules=[rule], page_size=size, page_token=token)  # type: ignore[list-item]
        )
        return [a.id for a in page.alerts], page.next_page_token

    def calls(self) -> dict[str, Callable[..., tuple[list[str], str]]]:
        return {
            "SearchPersons": self.search,
            "ListPersonsNear": self.near,
            "ListAlerts": self.alerts,
        }


@pytest.fixture
def listings(grpc_channel: grpc.Channel, rule_engine: RuleEngine) -> Listings:
    """Three persons of one new surname at one remote spot, two of them overstaying."""
    registry = r_grpc.RegistryServiceStub(grpc_channel)
    surname = _unique_surname()
    centre = pb.GeoPoint(latitude=2.8853, longitude=105.7742)  # off Jemaja's west coast
    for given in ("Ali", "Budi", "Citra"):
        person = registry.RegisterPerson(
            r.RegisterPersonRequest(person=f.person(family=surname, given=given))
        )
        registry.ReportAddress(f.address(person.id, centre.latitude, centre.longitude, days=-2))
    for _ in range(2):
        register_overstayer(grpc_channel)
    run_overstay(rule_engine)
    return Listings(q_grpc.QueryServiceStub(grpc_channel), surname, centre)


RPCS = ("SearchPersons", "ListPersonsNear", "ListAlerts")


def refusal(call: Callable[[str], object], token: str) -> str:
    """The description of ``page_token``'s violation; fails unless the call was refused so."""
    with pytest.raises(grpc.RpcError) as caught:
        call(token)
    error = caught.value
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, (token, error.details())
    violations = f.field_violations(error)
    assert list(violations) == ["page_token"], (token, error.details())
    assert error.details() == f"page_token: {violations['page_token']}", error.details()
    return violations["page_token"]


@pytest.mark.parametrize("rpc", RPCS)
def test_every_edit_of_a_real_token_is_refused_and_the_real_one_serves_page_two(
    rpc: str, listings: Listings, row_counts: RowCounts
) -> None:
    call = listings.calls()[rpc]
    first, token = call("")
    two = call("", size=2)[0]
    assert len(first) == 1, rpc
    assert token, rpc
    assert len(two) == 2, rpc
    before = row_counts.snapshot()
    descriptions = {}
    for edit, edited in every_edit(token):
        assert edited != token
        descriptions[edit] = refusal(call, edited)
    # Every refusal is the same: it tells nothing of how the token was wrong.
    assert len(set(descriptions.values())) == 1, descriptions
    assert len(descriptions) >= 2 * len(token)
    assert row_counts.snapshot() == before
    second, _ = call(token)
    assert second == two[1:], rpc


@pytest.mark.parametrize("rpc", RPCS)
def test_a_token_continues_only_the_query_it_came_from(rpc: str, listings: Listings) -> None:
    calls = listings.calls()
    _, token = calls[rpc]("")
    others = {
        "SearchPersons": lambda t: listings.search(t, name=f"{listings.surname} Ali"),
        "ListPersonsNear": lambda t: listings.near(t, radius=900.0),
        "ListAlerts": lambda t: listings.alerts(t, rule=apb.ALERT_RULE_PERMIT_EXPIRING),
    }
    refusal(others[rpc], token)
    for other in set(RPCS) - {rpc}:
        refusal(calls[other], token)


def _parts(token: str) -> tuple[str, dict[str, object]]:
    """The key id and the body a token carries (its format: ``kid.body.mac``, base64url)."""
    kid, body, _mac = token.split(".")
    return kid, json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))


@pytest.mark.parametrize("rpc", RPCS)
def test_tokens_of_a_retired_secret_serve_while_it_is_listed_and_others_never(
    rpc: str, listings: Listings, page_token_secrets: list[str]
) -> None:
    from exchange_service.domain.paging import PageTokens

    call = listings.calls()[rpc]
    _, token = call("")
    two = call("", size=2)[0]
    _, body = _parts(token)
    fingerprint, key = str(body["q"]), list(body["k"])  # type: ignore[call-overload]
    # The server signs with its first secret and still takes the second's tokens.
    current, retired = (PageTokens([s.encode()]) for s in page_token_secrets)
    assert current.encode(fingerprint, key) == token
    by_retired = retired.encode(fingerprint, key)
    assert _parts(by_retired)[0] != _parts(token)[0]
    assert call(by_retired)[0] == two[1:]
    # A secret the server does not hold, or no longer: refused.
    removed = PageTokens([secrets.token_urlsafe(32).encode()])
    refusal(call, removed.encode(fingerprint, key))


# Keys of the right length but the wrong types, each signed with the server's secret.
WRONG_KEYS: list[list[object]] = [
    ["high", "not-an-id"],
    [None, None],
    [True, "00000000-0000-4000-8000-000000000000"],
    [[1.0], {"id": 1}],
    [10**400, "00000000-0000-4000-8000-000000000000"],
    ["2026-03-10T09:00:00+07:00", "00000000000000004000800000000000"],
    ["2026-03-10T09:00:00", "00000000-0000-4000-8000-000000000000"],
    ["not a time", 7],
    [0.5],
    [0.5, "00000000-0000-4000-8000-000000000000", "extra"],
]


@pytest.mark.parametrize("rpc", RPCS)
def test_keys_of_the_wrong_type_are_refused_even_under_a_valid_mac(
    rpc: str, listings: Listings, page_token_secrets: list[str], row_counts: RowCounts
) -> None:
    from exchange_service.domain.paging import PageTokens

    call = listings.calls()[rpc]
    _, token = call("")
    _, body = _parts(token)
    server = PageTokens([page_token_secrets[0].encode()])
    before = row_counts.snapshot()
    for key in WRONG_KEYS:
        refusal(call, server.encode(str(body["q"]), key))  # type: ignore[arg-type]
    # Bodies not of a token's shape, or not JSON at all, under a valid MAC.
    q = json.dumps(body["q"])
    for raw in (
        "[]",
        "null",
        '{"v": 2}',
        '{"v": 2, "q": 1, "k": []}',
        f'{{"v": 1, "q": {q}, "k": {json.dumps(body["k"])}}}',
        f'{{"v": 2, "q": {q}, "k": [NaN, "00000000-0000-4000-8000-000000000000"]}}',
        f'{{"v": 2, "q": {q}, "k": [Infinity, "00000000-0000-4000-8000-000000000000"]}}',
        f'{{"v": 2, "q": {q}, "k": {json.dumps(body["k"])}, "x": 1}}',
        "[" * 600 + "]" * 600,
        "not json",
    ):
        refusal(call, server.sign_body(raw.encode()))
    refusal(call, server.sign_body(b"\xff\xfe"))
    assert row_counts.snapshot() == before
