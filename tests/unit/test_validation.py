"""Validation and normalisation rules, without I/O."""

from __future__ import annotations

from datetime import date

import pytest

from exchange_service.domain import commands as cmd
from exchange_service.domain import validation as valid
from exchange_service.domain.codes import is_known_state_code, normalize_state_code
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.model import BirthDate, Sex
from watchlist.documents import normalize_document_number
from watchlist.names import name_similarity, search_key

TODAY = date(2026, 11, 28)


def _registration(**changes: object) -> cmd.RegisterPerson:
    fields: dict[str, object] = {
        "family_name": "Smith",
        "given_names": "Jane",
        "nationality": "AUS",
        "birth_date": cmd.DateParts(1990, 1, 2),
        "sex": Sex.FEMALE,
        "documents": (cmd.RawDocument("AUS", "PA1234567"),),
    }
    fields.update(changes)
    return cmd.RegisterPerson(**fields)  # type: ignore[arg-type]


def test_icao_codes_are_accepted_and_germany_is_stored_as_deu() -> None:
    assert normalize_state_code(" d ") == "DEU"
    assert all(is_known_state_code(c) for c in ("AUS", "XXA", "UNO", "GBD", "RKS"))
    assert not is_known_state_code("XYZ")


def test_partial_birth_dates_follow_icao() -> None:
    identity, _ = valid.valid_registration(
        _registration(birth_date=cmd.DateParts(1975, 0, 0)), TODAY, "IDN"
    )
    assert identity.birth_date == BirthDate(1975)
    with pytest.raises(InvalidInput) as caught:
        valid.valid_registration(_registration(birth_date=cmd.DateParts(1975, 0, 4)), TODAY, "IDN")
    assert [v.field for v in caught.value.violations] == ["person.birth_date.day"]


def test_names_are_cleaned_and_documents_normalised() -> None:
    identity, documents = valid.valid_registration(
        _registration(
            family_name="  van   der Berg ",
            documents=(cmd.RawDocument("nld", "nx-12 34<<"),),
        ),
        TODAY,
        "IDN",
    )
    assert identity.family_name == "van der Berg"
    assert documents[0].issuing_state == "NLD"
    assert documents[0].number == "NX1234"
    assert normalize_document_number("a 1.2/3") == "A123"


def test_the_same_document_twice_is_named() -> None:
    twice = (cmd.RawDocument("AUS", "P1"), cmd.RawDocument("aus", "p-1"))
    with pytest.raises(InvalidInput) as caught:
        valid.valid_registration(_registration(documents=twice), TODAY, "IDN")
    assert [v.field for v in caught.value.violations] == ["person.documents[1]"]


def test_control_characters_are_refused() -> None:
    with pytest.raises(InvalidInput) as caught:
        valid.valid_registration(_registration(family_name="Smi\x00th"), TODAY, "IDN")
    assert caught.value.violations[0].field == "person.family_name"


def test_name_similarity_forgives_order_case_accents_and_typos() -> None:
    assert name_similarity("hans peter mueller", "Müller, Hans-Peter") == 1.0
    assert name_similarity("PETER HANS MULLER", "Müller Hans Peter") == 1.0
    assert name_similarity("jon smith", "John Smith") > 0.8
    assert name_similarity("nguyen van an", "tran thi bich") < 0.5
    assert search_key("Zoë  ANAÏS") == "anais zoe"
