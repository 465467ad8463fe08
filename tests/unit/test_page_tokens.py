"""Page tokens: signed, bound to their query, verified under rotating secrets; no I/O."""

from __future__ import annotations

import random
import string
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from exchange_service import app
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.paging import (
    PageTokens,
    key_instant,
    key_number,
    key_uuid,
    page_token_key_id,
    query_fingerprint,
)
from exchange_service.settings import load_settings

OLD = b"o" * 16 + bytes(range(16))
NEW = bytes(range(100, 140))
OTHER = b"x" * 32
FINGERPRINT = query_fingerprint("search", "nguyen van an", "VNM", None)
KEY: list[str | int | float] = [0.8125, "3f2b9c4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e"]
# Every character a token may hold, and some it may not.
CHARACTERS = string.ascii_letters + string.digits + "-_.=+/ é\n\x00"


def refused(tokens: PageTokens, token: str, fingerprint: str = FINGERPRINT) -> str:
    """The description of the refusal naming ``page_token``; fails on anything else."""
    with pytest.raises(InvalidInput) as caught:
        tokens.decode(token, fingerprint, len(KEY))
    (violation,) = caught.value.violations
    assert violation.field == "page_token"
    return violation.description


def test_a_token_gives_back_its_key_for_its_query_only() -> None:
    tokens = PageTokens([NEW])
    token = tokens.encode(FINGERPRINT, KEY)
    assert tokens.decode(token, FINGERPRINT, 2) == KEY
    assert tokens.decode("", FINGERPRINT, 2) is None
    refused(tokens, token, query_fingerprint("search", "nguyen van an", "VNM", 1988))
    with pytest.raises(InvalidInput):
        tokens.decode(token, FINGERPRINT, 3)


def test_every_other_string_near_a_token_is_refused_the_same_way() -> None:
    tokens = PageTokens([NEW, OLD])
    token = tokens.encode(FINGERPRINT, KEY)
    edits = {token[:length] for length in range(1, len(token))}
    for position in range(len(token)):
        for character in CHARACTERS:
            edits.add(token[:position] + character + token[position + 1 :])
            edits.add(token[:position] + character + token[position:])
        edits.add(token[:position] + token[position + 1 :])
    edits |= {token + tail for tail in ("A", "=", "==", ".", token)}
    edits.discard(token)
    assert len(edits) > len(CHARACTERS) * len(token)
    descriptions = {refused(tokens, edit) for edit in edits}
    assert descriptions == {"is malformed or belongs to another query"}


def test_the_mac_is_compared_as_written_so_no_second_spelling_is_taken() -> None:
    # The last base64 character of the MAC carries bits a lenient decoder
    # ignores: each other letter there is refused, even one decoding the same.
    tokens = PageTokens([NEW])
    token = tokens.encode(FINGERPRINT, KEY)
    alphabet = string.ascii_uppercase + string.ascii_lowercase + string.digits + "-_"
    for character in alphabet.replace(token[-1], ""):
        refused(tokens, token[:-1] + character)


def test_the_first_secret_signs_and_every_listed_one_verifies() -> None:
    before = PageTokens([OLD])
    during = PageTokens([NEW, OLD])
    after = PageTokens([NEW])
    in_flight = before.encode(FINGERPRINT, KEY)
    fresh = during.encode(FINGERPRINT, KEY)
    assert fresh.split(".")[0] == page_token_key_id(NEW) != in_flight.split(".")[0]
    assert fresh == after.encode(FINGERPRINT, KEY)
    # While the old secret is listed, its tokens still serve.
    assert during.decode(in_flight, FINGERPRINT, 2) == KEY
    assert during.decode(fresh, FINGERPRINT, 2) == KEY
    assert after.decode(fresh, FINGERPRINT, 2) == KEY
    # Removed, they are refused; a server still on the old secret alone refuses the new.
    refused(after, in_flight)
    refused(before, fresh)
    refused(PageTokens([OTHER]), fresh)


def test_a_token_whose_key_id_names_another_listed_secret_is_refused() -> None:
    tokens = PageTokens([NEW, OLD])
    _, body, mac = tokens.encode(FINGERPRINT, KEY).split(".")
    refused(tokens, f"{page_token_key_id(OLD)}.{body}.{mac}")


def test_key_ids_are_derived_from_the_secret_and_reveal_nothing_of_it() -> None:
    ids = {page_token_key_id(secret) for secret in (OLD, NEW, OTHER)}
    assert len(ids) == 3
    assert all(len(i) == 8 and set(i) <= set(string.hexdigits.lower()) for i in ids)
    tokens = PageTokens([NEW, OLD])
    assert NEW.hex() not in repr(tokens)
    assert str(NEW) not in repr(tokens)
    assert page_token_key_id(NEW) in repr(tokens)


@pytest.mark.parametrize(
    "secrets",
    [[], [b"short"], [b"y" * 31], [NEW, OLD, NEW]],
    ids=["none", "short", "31 bytes", "listed twice"],
)
def test_too_few_short_or_repeated_secrets_are_refused(secrets: list[bytes]) -> None:
    with pytest.raises(ValueError, match="secret"):
        PageTokens(secrets)


def test_bodies_signed_but_not_of_a_token_s_shape_are_refused() -> None:
    tokens = PageTokens([NEW])
    good_key = '["2026-03-10T09:00:00+07:00","3f2b9c4e-5d6a-4b7c-8d9e-0f1a2b3c4d5e"]'
    bodies = [
        b"",
        b"[]",
        b"null",
        b"\xff\xfe",
        b"[" * 800 + b"]" * 800,
        b'{"v":2}',
        b'{"v":2,"q":"%s"}' % FINGERPRINT.encode(),
        b'{"v":1,"q":"%s","k":%s}' % (FINGERPRINT.encode(), good_key.encode()),
        b'{"v":2.0,"q":"%s","k":%s}' % (FINGERPRINT.encode(), good_key.encode()),
        b'{"v":2,"q":"%s","k":%s,"x":1}' % (FINGERPRINT.encode(), good_key.encode()),
        b'{"v":2,"q":"%s","k":"ab"}' % FINGERPRINT.encode(),
        b'{"v":2,"q":"%s","k":[NaN,"a"]}' % FINGERPRINT.encode(),
        b'{"v":2,"q":"%s","k":[-Infinity,"a"]}' % FINGERPRINT.encode(),
        b'{"v":2,"q":"%s","k":[true,"a"]}' % FINGERPRINT.encode(),
        b'{"v":2,"q":"%s","k":[null,"a"]}' % FINGERPRINT.encode(),
        b'{"v":2,"q":"%s","k":[[1],{"a":1}]}' % FINGERPRINT.encode(),
        b'{"v":2,"q":"%s","k":[1,"a","b"]}' % FINGERPRINT.encode(),
    ]
    for body in bodies:
        refused(tokens, tokens.sign_body(body))
    # Arbitrary bytes under a valid MAC: refused, never any other exception.
    draw = random.Random(20260310)
    for _ in range(500):
        body = bytes(draw.randrange(256) for _ in range(draw.randrange(1, 120)))
        refused(tokens, tokens.sign_body(body))


def test_key_values_are_checked_by_their_type() -> None:
    assert key_number(0.5) == 0.5
    assert key_number(3) == 3.0
    some_id = uuid.uuid4()
    assert key_uuid(str(some_id)) == some_id
    wib = timezone(timedelta(hours=7))
    assert key_instant("2026-03-10T09:00:00+07:00") == datetime(2026, 3, 10, 9, tzinfo=wib)
    assert key_instant("2026-03-10T02:00:00+00:00") == datetime(2026, 3, 10, 2, tzinfo=UTC)
    for bad_number in ("0.5", True, float("nan"), float("inf"), 10**400):
        with pytest.raises(InvalidInput):
            key_number(bad_number)
    for bad_id in (7, "alert-1", str(some_id).upper(), some_id.hex, f"{{{some_id}}}", ""):
        with pytest.raises(InvalidInput):
            key_uuid(bad_id)
    for bad_instant in (1741572000, "yesterday", "2026-03-10T09:00:00", "2026-13-10T09:00Z", ""):
        with pytest.raises(InvalidInput):
            key_instant(bad_instant)


def test_the_settings_secrets_sign_the_first_verifies_all() -> None:
    old, new = "o" * 40, "n" * 40
    settings = load_settings(page_token_secrets=[new, old])
    assert old not in repr(settings)
    assert new not in str(settings.model_dump())
    in_flight = app.page_tokens(load_settings(page_token_secrets=[old])).encode(FINGERPRINT, KEY)
    served = app.page_tokens(settings)
    assert served.decode(in_flight, FINGERPRINT, 2) == KEY
    assert served.encode(FINGERPRINT, KEY).split(".")[0] == page_token_key_id(new.encode())
    refused(app.page_tokens(load_settings(page_token_secrets=[new])), in_flight)


def test_without_secrets_the_process_signs_with_a_random_one_of_its_own() -> None:
    unset = load_settings(page_token_secrets=[])
    token = app.page_tokens(unset).encode(FINGERPRINT, KEY)
    # One secret for the whole process: the queries' and the alerts' alike.
    assert app.alerts_options(unset).page_tokens.decode(token, FINGERPRINT, 2) == KEY
    assert app.query_options(unset).page_tokens.decode(token, FINGERPRINT, 2) == KEY
    configured = load_settings(page_token_secrets=["c" * 32])
    refused(app.page_tokens(configured), token)


@pytest.mark.parametrize(
    ("secrets", "complaint"),
    [
        (["s" * 31], r"secrets at \[0\] are shorter than 32 bytes"),
        (["s" * 32, "t" * 40, "s" * 32], r"secrets at \[2\] are listed before"),
    ],
)
def test_the_server_refuses_short_or_repeated_secrets_naming_them_by_position_only(
    secrets: list[str], complaint: str
) -> None:
    settings = load_settings(page_token_secrets=secrets)
    with pytest.raises(SystemExit, match=complaint) as caught:
        app.page_tokens(settings)
    assert str(caught.value).startswith("page_token_secrets: ")
    assert "s" * 31 not in str(caught.value)
    assert "s" * 31 not in repr(settings)
