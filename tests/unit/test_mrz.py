"""ICAO 9303 MRZs: the specimens of Doc 9303, Indonesian documents, and what OCR does to them.

The check digits of the zones built here come from ``_digit``, written apart
from the parser's (character codes, not a table), and the specimens' digits
are those printed in Doc 9303.
"""

from __future__ import annotations

import json
import random
from datetime import date

import pytest

from watchlist.mrz import CheckDigit, Correction, MrzDocument, MrzError, check_digit, parse_mrz

TODAY = date(2026, 6, 1)


def _digit(chars: str) -> str:
    total = 0
    for index, char in enumerate(chars):
        if char == "<":
            value = 0
        elif char.isdigit():
            value = ord(char) - ord("0")
        else:
            value = ord(char) - ord("A") + 10
        total += value * [7, 3, 1][index % 3]
    return str(total % 10)


def _td3(
    name: str,
    number: str,
    *,
    birth: str = "900217",
    sex: str = "M",
    expiry: str = "310105",
    personal: str = "",
    personal_digit: str | None = None,
    code: str = "P<",
    state: str = "IDN",
    nationality: str = "IDN",
) -> list[str]:
    number = number.ljust(9, "<")
    personal = personal.ljust(14, "<")
    digit = _digit(personal) if personal_digit is None else personal_digit
    line2 = (
        f"{number}{_digit(number)}{nationality}{birth}{_digit(birth)}{sex}"
        f"{expiry}{_digit(expiry)}{personal}{digit}"
    )
    composite = _digit(line2[0:10] + line2[13:20] + line2[21:43])
    return [f"{code}{state}{name}".ljust(44, "<"), line2 + composite]


def _td1(
    name: str,
    number: str,
    *,
    optional_1: str = "",
    optional_2: str = "",
    birth: str = "880530",
    sex: str = "F",
    expiry: str = "290601",
    state: str = "IDN",
    nationality: str = "IDN",
) -> list[str]:
    if len(number) > 9:
        head = f"{number[:9]}<{number[9:]}{_digit(number)}<{optional_1}"
    else:
        head = f"{number.ljust(9, '<')}{_digit(number.ljust(9, '<'))}{optional_1}"
    line1 = f"I<{state}{head}".ljust(30, "<")
    middle = f"{birth}{_digit(birth)}{sex}{expiry}{_digit(expiry)}{nationality}"
    middle += optional_2.ljust(11, "<")
    composite = _digit(line1[5:30] + middle[0:7] + middle[8:15] + middle[18:29])
    return [line1, middle + composite, name.ljust(30, "<")]


def _checks(document: MrzDocument) -> dict[str, tuple[str, str, bool]]:
    return {c.field: (c.expected, c.found, c.valid) for c in document.checks}


def test_the_independent_check_digit_agrees_with_the_parsers() -> None:
    for chars in (
        "L898902C3",
        "740812",
        "120415",
        "ZE184226B<<<<<",
        "<<<<",
        "AZ09<",
        "D23145890734",
    ):
        assert check_digit(chars) == _digit(chars)


def test_the_td3_specimen_of_part_4_reads_field_by_field() -> None:
    document = parse_mrz(
        [
            "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
        ],
        reference=TODAY,
    )
    assert document.layout == "TD3"
    assert document.document_type == "P"
    assert document.issuing_state == "UTO"
    assert (document.surname, document.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert document.document_number == "L898902C3"
    assert document.nationality == "UTO"
    assert document.birth_date == date(1974, 8, 12)
    assert document.sex == "F"
    assert document.expiry_date == date(2012, 4, 15)
    assert document.personal_number == "ZE184226B"
    assert document.checks == (
        CheckDigit("document_number", "6", "6", True),
        CheckDigit("birth_date", "2", "2", True),
        CheckDigit("expiry_date", "9", "9", True),
        CheckDigit("personal_number", "1", "1", True),
        CheckDigit("composite", "0", "0", True),
    )
    assert document.corrections == ()
    assert document.valid


def test_the_td1_specimen_of_part_5_reads_field_by_field() -> None:
    document = parse_mrz(
        "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6\nERIKSSON<<ANNA<MARIA<<<<<<<<<<",
        reference=TODAY,
    )
    assert document.layout == "TD1"
    assert (document.document_type, document.issuing_state, document.nationality) == (
        "I",
        "UTO",
        "UTO",
    )
    assert (document.surname, document.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert document.document_number == "D23145890"
    assert (document.birth_date, document.sex, document.expiry_date) == (
        date(1974, 8, 12),
        "F",
        date(2012, 4, 15),
    )
    assert document.personal_number == ""
    assert _checks(document) == {
        "document_number": ("7", "7", True),
        "birth_date": ("2", "2", True),
        "expiry_date": ("9", "9", True),
        "composite": ("6", "6", True),
    }
    assert document.valid


def test_the_td2_specimen_of_part_6_reads_field_by_field() -> None:
    document = parse_mrz(
        ["I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6"],
        reference=TODAY,
    )
    assert document.layout == "TD2"
    assert (document.surname, document.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (document.document_number, document.nationality) == ("D23145890", "UTO")
    assert (document.birth_date, document.expiry_date) == (date(1974, 8, 12), date(2012, 4, 15))
    assert _checks(document) == {
        "document_number": ("7", "7", True),
        "birth_date": ("2", "2", True),
        "expiry_date": ("9", "9", True),
        "composite": ("6", "6", True),
    }
    assert document.valid


def test_the_visa_specimens_of_part_7_have_no_composite() -> None:
    mrv_a = parse_mrz(
        [
            "V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
            "L8988901C4XXX4009078F96121096ZE184226B<<<<<<",
        ],
        reference=TODAY,
    )
    assert (mrv_a.layout, mrv_a.document_type, mrv_a.nationality) == ("MRVA", "V", "XXX")
    assert mrv_a.document_number == "L8988901C"
    # 1996, not 2096: that would be seventy years after the reference.
    assert (mrv_a.birth_date, mrv_a.expiry_date) == (date(1940, 9, 7), date(1996, 12, 10))
    assert mrv_a.personal_number == "6ZE184226B"
    assert set(_checks(mrv_a)) == {"document_number", "birth_date", "expiry_date"}
    assert mrv_a.valid
    mrv_b = parse_mrz(
        ["V<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "L8988901C4XXX4009078F9612109<<<<<<<<"],
        reference=TODAY,
    )
    assert (mrv_b.layout, mrv_b.personal_number, mrv_b.valid) == ("MRVB", "", True)
    assert set(_checks(mrv_b)) == {"document_number", "birth_date", "expiry_date"}


def test_an_indonesian_passport_with_a_single_name_has_empty_given_names() -> None:
    document = parse_mrz(_td3("SUKARNO", "C1234567"), reference=TODAY)
    assert (document.surname, document.given_names) == ("SUKARNO", "")
    assert (document.issuing_state, document.document_number) == ("IDN", "C1234567")
    assert document.valid
    assert document.corrections == ()
    # A name that fills the whole field, with no filler at all.
    long_name = "PRAWIRANEGARAWIRYOKUSUMOHADININGRATSURY"
    assert len(long_name) == 39
    document = parse_mrz(_td3(long_name, "C1234567"), reference=TODAY)
    assert (document.surname, document.given_names, document.valid) == (long_name, "", True)


def test_a_single_name_on_an_identity_card() -> None:
    td2 = ["I<IDNSUSILO<<<<<<<<<<<<<<<<<<<<<<<<<"]
    middle = "B7734491<" + _digit("B7734491<") + "IDN" + "700101" + _digit("700101") + "M"
    middle += "300101" + _digit("300101") + "<<<<<<<"
    td2.append(middle + _digit(middle[0:10] + middle[13:20] + middle[21:35]))
    document = parse_mrz(td2, reference=TODAY)
    assert (document.layout, document.surname, document.given_names) == ("TD2", "SUSILO", "")
    assert document.valid
    td1 = parse_mrz(_td1("SUSILO", "D4477931"), reference=TODAY)
    assert (td1.surname, td1.given_names, td1.valid) == ("SUSILO", "", True)


@pytest.mark.parametrize(("digit", "valid"), [("<", True), ("0", True), ("5", False)])
def test_an_empty_personal_number_may_have_a_filler_or_zero_check_digit(
    digit: str, valid: bool
) -> None:
    lines = _td3("SANTOSO<<BUDI", "C1234567", personal="", personal_digit=digit)
    document = parse_mrz(lines, reference=TODAY)
    assert document.personal_number == ""
    assert _checks(document)["personal_number"] == ("0", digit, valid)
    assert _checks(document)["composite"][2]
    assert document.valid is valid


def test_a_td1_document_number_longer_than_nine_is_read_whole() -> None:
    # Doc 9303 part 5's own example of note j: D23145890734, check digit 9.
    assert _digit("D23145890734") == "9"
    lines = _td1("ERIKSSON<<ANNA<MARIA", "D23145890734")
    assert lines[0] == "I<UTOD23145890<7349<<<<<<<<<<<".replace("UTO", "IDN")
    document = parse_mrz(lines, reference=TODAY)
    assert document.document_number == "D23145890734"
    assert _checks(document)["document_number"] == ("9", "9", True)
    assert _checks(document)["composite"][2]
    assert document.personal_number == ""
    assert document.valid

    with_optional = parse_mrz(
        _td1("WIJAYA<<SITI", "KITAS20250117", optional_1="AB12", optional_2="77"),
        reference=TODAY,
    )
    assert with_optional.document_number == "KITAS20250117"
    assert with_optional.personal_number == "AB12 77"
    assert with_optional.valid


def test_a_td2_document_number_longer_than_nine_is_read_whole() -> None:
    number = "E12345678901"
    middle = f"{number[:9]}<IDN8001014F3001019{number[9:]}{_digit(number)}<<<"
    middle += _digit(middle[0:10] + middle[13:20] + middle[21:35])
    document = parse_mrz(["I<IDNHALIM<<LIANA".ljust(36, "<"), middle], reference=TODAY)
    assert document.document_number == number
    assert document.valid


def test_a_failing_check_digit_is_reported_not_raised() -> None:
    lines = _td3("SANTOSO<<BUDI", "C1234567", birth="900217")
    wrong = "0" if lines[1][19] != "0" else "1"
    lines[1] = lines[1][:19] + wrong + lines[1][20:]
    document = parse_mrz(lines, reference=TODAY)
    assert _checks(document)["birth_date"] == (_digit("900217"), wrong, False)
    assert not _checks(document)["composite"][2]
    assert document.birth_date == date(1990, 2, 17)
    assert not document.valid


@pytest.mark.parametrize(
    ("name", "surname", "given_names"),
    [
        ("ERIKSSON<<ANNA<MARIA<<<K<<<<<<K<", "ERIKSSON", "ANNA MARIA"),
        ("SANTOSO<<BUDI<<<<<<<<<<<<<<<<KKKK", "SANTOSO", "BUDI"),
        ("SANTOSO<<BUDI<XXX", "SANTOSO", "BUDI"),
        ("SANTOSO<<BUDIKKKK", "SANTOSO", "BUDI"),
        ("HALIM<<LIANA<<K<<<<<", "HALIM", "LIANA"),
    ],
)
def test_fillers_misread_as_k_or_x_are_restored(name: str, surname: str, given_names: str) -> None:
    document = parse_mrz(_td3(name, "C1234567"), reference=TODAY)
    assert (document.surname, document.given_names) == (surname, given_names)
    assert any(
        c.field == "given_names" and c.corrected == given_names for c in document.corrections
    )
    assert document.valid


@pytest.mark.parametrize(
    ("name", "surname", "given_names"),
    [
        ("ERIK<<ALEX<<<<<<<<", "ERIK", "ALEX"),
        ("NOVAK<<FELIX<K", "NOVAK", "FELIX K"),
        ("SUKARNO<<K<<<<<<", "SUKARNO", "K"),
        ("KARTIKA<<XENA", "KARTIKA", "XENA"),
        ("SIREGAR<<DEWI<KX<<<<", "SIREGAR", "DEWI KX"),
    ],
)
def test_names_keep_their_own_k_and_x(name: str, surname: str, given_names: str) -> None:
    document = parse_mrz(_td3(name, "C1234567"), reference=TODAY)
    assert (document.surname, document.given_names) == (surname, given_names)
    assert document.corrections == ()


def test_a_document_number_is_corrected_when_one_reading_fits() -> None:
    lines = _td3("SANTOSO<<BUDI", "X47390734")
    lines[1] = lines[1].replace("X47390734", "X4739O734", 1)
    assert _digit("X4739O734") != _digit("X47390734")
    document = parse_mrz(lines, reference=TODAY)
    assert document.document_number == "X47390734"
    assert Correction("document_number", "X4739O734", "X47390734") in document.corrections
    assert _checks(document)["document_number"][2]
    assert document.valid


def test_a_document_number_two_readings_fit_is_left_as_read_and_invalid() -> None:
    # Either O of X4709O73O could be the 0 that check digit 9 was computed with.
    assert _digit("X4709O730") == _digit("X4709073O") == "9" != _digit("X4709O73O")
    lines = _td3("SANTOSO<<BUDI", "X4709O730")
    lines[1] = "X4709O73O" + lines[1][9:]
    document = parse_mrz(lines, reference=TODAY)
    assert document.document_number == "X4709O73O"
    assert _checks(document)["document_number"] == (_digit("X4709O73O"), "9", False)
    assert not [c for c in document.corrections if c.field == "document_number"]
    assert not document.valid


def test_a_misread_check_digit_and_dates_read_letters_as_digits() -> None:
    assert _digit("C7734407<") == "0"
    lines = _td3("SANTOSO<<BUDI", "C7734407", birth="801108", expiry="300521")
    lines[1] = lines[1][:9] + "O" + lines[1][10:]  # the check digit 0 read as O
    lines[1] = lines[1][:13] + "8OII08" + lines[1][19:]  # 801108 read with O and I
    document = parse_mrz(lines, reference=TODAY)
    assert document.birth_date == date(1980, 11, 8)
    assert Correction("document_number.check_digit", "O", "0") in document.corrections
    assert Correction("birth_date", "8OII08", "801108") in document.corrections
    assert document.valid


def test_digits_in_names_and_state_codes_are_read_as_letters() -> None:
    lines = _td3("SET1AWAN<<AGU5", "C1234567", state="1DN", nationality="MY5")
    document = parse_mrz(lines, reference=TODAY)
    assert (document.surname, document.given_names) == ("SETIAWAN", "AGUS")
    assert (document.issuing_state, document.nationality) == ("IDN", "MYS")
    assert Correction("issuing_state", "1DN", "IDN") in document.corrections
    assert Correction("nationality", "MY5", "MYS") in document.corrections
    assert Correction("surname", "SET1AWAN", "SETIAWAN") in document.corrections
    # The composite does not cover the state codes.
    assert document.valid


def test_an_x_misread_in_the_personal_numbers_fillers_is_settled_by_its_check_digit() -> None:
    lines = _td3("SANTOSO<<BUDI", "C1234567", personal="34779")
    lines[1] = lines[1][:28] + "34779<<<X<<<<<" + lines[1][42:]
    document = parse_mrz(lines, reference=TODAY)
    assert document.personal_number == "34779"
    assert _checks(document)["personal_number"][2]
    assert document.valid
    lines[1] = lines[1][:28] + "34779<<<K<<<<<" + lines[1][42:]
    assert parse_mrz(lines, reference=TODAY).personal_number == "34779"


def test_lowercase_stray_spaces_and_blank_lines_are_trimmed() -> None:
    lines = _td3("SANTOSO<<BUDI", "C1234567")
    text = f"\n  {lines[0].lower()}   \n{lines[1][:20]} {lines[1][20:]}\t\n\n"
    document = parse_mrz(text, reference=TODAY)
    assert (document.surname, document.document_number, document.valid) == (
        "SANTOSO",
        "C1234567",
        True,
    )


def test_a_line_of_the_wrong_length_is_named() -> None:
    lines = _td3("SANTOSO<<BUDI", "C1234567")
    with pytest.raises(MrzError, match="line 2 has 43 characters; a TD3/MRVA line has 44") as err:
        parse_mrz([lines[0], lines[1][:-1]], reference=TODAY)
    assert err.value.line == 2
    td1 = _td1("SANTOSO<<BUDI", "D4477931")
    with pytest.raises(MrzError, match="line 3 has 29 characters; a TD1 line has 30") as err:
        parse_mrz([td1[0], td1[1], td1[2][:-1]], reference=TODAY)
    assert err.value.line == 3


@pytest.mark.parametrize(
    "text",
    [
        "hello world",
        "P<IDNSANTOSO",
        "I<UTOD231458907<<<<<<<<<<<<<<<\n7408122F1204159UTO<<<<<<<<<<<6",
        "\n\n",
        "a\nb\nc\nd",
    ],
)
def test_garbage_is_a_clear_error(text: str) -> None:
    with pytest.raises(MrzError, match=r"not an MRZ of a known layout|no MRZ"):
        parse_mrz(text, reference=TODAY)


def test_characters_outside_the_mrz_alphabet_are_named() -> None:
    lines = _td3("SANTOSO<<BUDI", "C1234567")
    with pytest.raises(MrzError, match=r"line 1 has characters an MRZ does not: '\$%'") as err:
        parse_mrz([lines[0][:10] + "$%" + lines[0][12:], lines[1]], reference=TODAY)
    assert err.value.line == 1


def test_an_impossible_date_is_an_invalid_field() -> None:
    document = parse_mrz(_td3("SANTOSO<<BUDI", "C1234567", birth="901317"), reference=TODAY)
    assert document.birth_date is None
    assert document.invalid_fields == ("birth_date",)
    assert _checks(document)["birth_date"][2]
    assert not document.valid


@pytest.mark.parametrize(
    ("birth", "born"),
    [
        ("991231", date(1999, 12, 31)),
        ("260531", date(2026, 5, 31)),
        ("260602", date(1926, 6, 2)),  # not yet born in 2026
        ("270101", date(1927, 1, 1)),
        ("050101", date(2005, 1, 1)),
    ],
)
def test_the_birth_century_goes_by_the_reference(birth: str, born: date) -> None:
    assert parse_mrz(_td3("SANTOSO", "C1", birth=birth), reference=TODAY).birth_date == born


@pytest.mark.parametrize(
    ("expiry", "expires"),
    [("760601", date(2076, 6, 1)), ("770101", date(1977, 1, 1)), ("120415", date(2012, 4, 15))],
)
def test_the_expiry_century_is_this_one_unless_too_far(expiry: str, expires: date) -> None:
    assert parse_mrz(_td3("SANTOSO", "C1", expiry=expiry), reference=TODAY).expiry_date == expires


@pytest.mark.parametrize(
    ("printed", "sex", "valid"), [("<", "X", True), ("X", "X", True), ("Q", "Q", False)]
)
def test_sex_unspecified_is_x(printed: str, sex: str, valid: bool) -> None:
    document = parse_mrz(_td3("SANTOSO", "C1", sex=printed), reference=TODAY)
    assert (document.sex, document.valid) == (sex, valid)


def test_as_json_is_the_commands_object() -> None:
    document = parse_mrz(_td3("SANTOSO<<BUDI<HARTONO", "C1234567"), reference=TODAY)
    assert document.as_json() == {
        "layout": "TD3",
        "document_type": "P",
        "issuing_state": "IDN",
        "surname": "SANTOSO",
        "given_names": "BUDI HARTONO",
        "document_number": "C1234567",
        "nationality": "IDN",
        "birth_date": "1990-02-17",
        "sex": "M",
        "expiry_date": "2031-01-05",
        "personal_number": "",
        "valid": True,
        "checks": {
            "document_number": {
                "valid": True,
                "expected": _digit("C1234567<"),
                "found": _digit("C1234567<"),
            },
            "birth_date": {"valid": True, "expected": _digit("900217"), "found": _digit("900217")},
            "expiry_date": {"valid": True, "expected": _digit("310105"), "found": _digit("310105")},
            "personal_number": {"valid": True, "expected": "0", "found": "0"},
            "composite": {
                "valid": True,
                "expected": _td3("SANTOSO<<BUDI<HARTONO", "C1234567")[1][-1],
                "found": _td3("SANTOSO<<BUDI<HARTONO", "C1234567")[1][-1],
            },
        },
        "corrections": [],
        "invalid_fields": [],
    }


def test_random_zones_parse_or_raise_mrz_error_and_nothing_else() -> None:
    rng = random.Random(9303)
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" + "<" * 12 + "KX"
    shapes = [(30, 30, 30), (36, 36), (44, 44), (44, 43), (30, 30), (44,)]
    parsed = errors = 0
    for _ in range(3000):
        lines = ["".join(rng.choice(alphabet) for _ in range(n)) for n in rng.choice(shapes)]
        try:
            document = parse_mrz(lines, reference=TODAY)
        except MrzError:
            errors += 1
            continue
        json.dumps(document.as_json())
        checks_hold = all(check.valid for check in document.checks)
        assert document.valid == (checks_hold and not document.invalid_fields)
        parsed += 1
    assert parsed > 1000
    assert errors > 500
