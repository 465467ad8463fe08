"""The MRZ reader on ICAO's specimens and on what other parsers get wrong: single-part
names, empty optional fields, long TD1 numbers, OCR noise, bad layouts."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest

from tests.mrz_samples import digit, pad, td3
from watchlist.mrz import MrzError, parse_mrz

TODAY = date(2026, 12, 2)
# ICAO Doc 9303 part 4 (TD3), part 5 (TD1) and part 6 (TD2) specimens.
TD3 = (
    "P<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<<<<<<<<<",
    "L898902C36UTO7408122F1204159ZE184226B<<<<<10",
)
TD1 = (
    "I<UTOD231458907<<<<<<<<<<<<<<<",
    "7408122F1204159UTO<<<<<<<<<<<6",
    "ERIKSSON<<ANNA<MARIA<<<<<<<<<<",
)
TD2 = ("I<UTOERIKSSON<<ANNA<MARIA<<<<<<<<<<<", "D231458907UTO7408122F1204159<<<<<<<6")


def checks(document: object) -> dict[str, bool]:
    return {c.field: c.valid for c in document.checks}  # type: ignore[attr-defined]


def test_the_td3_specimen_reads_with_every_check_digit() -> None:
    doc = parse_mrz(TD3, reference=TODAY)
    assert (doc.layout, doc.document_type, doc.issuing_state) == ("TD3", "P", "UTO")
    assert (doc.surname, doc.given_names) == ("ERIKSSON", "ANNA MARIA")
    assert (doc.document_number, doc.nationality, doc.sex) == ("L898902C3", "UTO", "F")
    assert (doc.birth_date, doc.expiry_date) == (date(1974, 8, 12), date(2012, 4, 15))
    assert doc.personal_number == "ZE184226B"
    assert [(c.field, c.expected, c.found) for c in doc.checks] == [
        ("document_number", "6", "6"),
        ("birth_date", "2", "2"),
        ("expiry_date", "9", "9"),
        ("personal_number", "1", "1"),
        ("composite", "0", "0"),
    ]
    assert doc.valid
    assert doc.corrections == ()


def test_the_td1_and_td2_specimens_read() -> None:
    for lines, layout in ((TD1, "TD1"), (TD2, "TD2")):
        doc = parse_mrz(lines, reference=TODAY)
        assert doc.layout == layout
        assert (doc.document_number, doc.surname, doc.given_names) == (
            "D23145890",
            "ERIKSSON",
            "ANNA MARIA",
        )
        assert checks(doc) == {
            "document_number": True,
            "birth_date": True,
            "expiry_date": True,
            "composite": True,
        }


def test_a_wrong_check_digit_is_reported_not_raised() -> None:
    broken = (TD3[0], TD3[1][:9] + "7" + TD3[1][10:])
    doc = parse_mrz(broken, reference=TODAY)
    assert not doc.valid
    assert checks(doc)["document_number"] is False
    assert checks(doc)["composite"] is False
    (failed,) = [c for c in doc.checks if c.field == "document_number"]
    assert (failed.expected, failed.found) == ("6", "7")


def test_a_single_part_name_and_an_empty_personal_number() -> None:
    doc = parse_mrz(td3("SUKARNO", "C1234567"), reference=TODAY)
    assert (doc.surname, doc.given_names) == ("SUKARNO", "")
    assert doc.personal_number == ""
    assert doc.valid
    assert checks(doc)["personal_number"] is True


def test_digits_in_names_and_states_are_the_letters_they_resemble() -> None:
    one, two = td3("SUKARN0<<BAMBANG", "C1234567")
    doc = parse_mrz((one.replace("IDN", "1DN", 1), two.replace("IDN", "1D N")), reference=TODAY)
    assert (doc.issuing_state, doc.nationality, doc.surname) == ("IDN", "IDN", "SUKARNO")
    assert {c.field for c in doc.corrections} >= {"issuing_state", "names"}
    assert doc.valid


def test_fillers_misread_as_k_or_x_are_fillers_but_real_names_keep_them() -> None:
    one, two = td3("FELIX<<KAREN<<<<KKKXX", "C1234567")
    doc = parse_mrz((one, two), reference=TODAY)
    assert (doc.surname, doc.given_names) == ("FELIX", "KAREN")


def test_a_confused_character_is_corrected_only_where_one_reading_fits() -> None:
    one, two = td3("WIDODO<<JOKO", "C1234567")
    doc = parse_mrz((one, two.replace("C1234567", "C1234S67")), reference=TODAY)
    assert doc.document_number == "C1234567"
    assert doc.valid
    assert [(c.field, c.original, c.corrected) for c in doc.corrections] == [
        ("document_number", "C1234S67<", "C1234567<")
    ]
    # I for 1 in the second place: more than one reading satisfies the digit, none is chosen.
    ambiguous = parse_mrz((one, two.replace("C1234567", "CI234567")), reference=TODAY)
    assert ambiguous.document_number == "CI234567"
    assert not ambiguous.valid


def test_letters_in_dates_are_read_as_digits() -> None:
    one, two = td3("WIDODO<<JOKO", "C1234567")
    doc = parse_mrz((one, two[:13] + "85O1O1" + two[19:]), reference=TODAY)
    assert doc.birth_date == date(1985, 1, 1)
    assert doc.valid


def test_a_long_td1_number_continues_in_the_optional_data() -> None:
    number = "D23145890123"
    upper = pad(f"I<UTO{number[:9]}<{number[9:]}{digit(number)}", 30)
    lower = "7408122F1204159UTO" + "<" * 11
    lower += digit(upper[5:30] + lower[0:7] + lower[8:15] + lower[18:29])
    doc = parse_mrz((upper, lower, TD1[2]), reference=TODAY)
    assert doc.document_number == number
    assert doc.valid
    assert doc.personal_number == ""


def test_the_century_of_a_birth_year_goes_by_the_reference_day() -> None:
    one, two = td3("SUKARNO", "C1234567")
    born_25 = two[:13] + "250101" + digit("250101") + two[20:]
    born_25 = born_25[:43] + digit(born_25[0:10] + born_25[13:20] + born_25[21:43])
    assert parse_mrz((one, born_25), reference=TODAY).birth_date == date(2025, 1, 1)
    assert parse_mrz((one, born_25), reference=date(2024, 1, 1)).birth_date == date(1925, 1, 1)


def test_a_date_that_is_no_calendar_date_is_reported() -> None:
    one, two = td3("SUKARNO", "C1234567")
    bad = two[:13] + "851301" + digit("851301") + two[20:]
    bad = bad[:43] + digit(bad[0:10] + bad[13:20] + bad[21:43])
    doc = parse_mrz((one, bad), reference=TODAY)
    assert doc.birth_date is None
    assert not doc.valid


@pytest.mark.parametrize(
    ("lines", "line"),
    [
        ((TD3[0],), 1),
        ((TD3[0], TD3[1][:40]), 2),
        ((TD3[0][:20], TD3[1][:20]), 1),
        ((TD3[0], TD3[1][:43] + "#"), 2),
    ],
    ids=["one-line", "short-line", "unknown-width", "bad-character"],
)
def test_what_is_no_mrz_is_an_error_naming_the_line(lines: tuple[str, ...], line: int) -> None:
    with pytest.raises(MrzError) as raised:
        parse_mrz(lines, reference=TODAY)
    assert raised.value.line == line


def test_lower_case_and_stray_spaces_are_read() -> None:
    doc = parse_mrz(f"  {TD3[0].lower()} \n{TD3[1][:20]} {TD3[1][20:]}\n", reference=TODAY)
    assert doc.valid
    assert doc.surname == "ERIKSSON"


def test_the_command_prints_one_object_per_block() -> None:
    text = "\n".join(TD3) + "\n\n" + "\n".join(TD1) + "\n\nNOT AN MRZ\n"
    ran = subprocess.run(
        [sys.executable, "-m", "exchange_service.cli", "mrz", "parse", "--today", "2026-12-02"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert ran.returncode == 1
    first, second, third = (json.loads(line) for line in ran.stdout.splitlines())
    assert first["birth_date"] == "1974-08-12"
    assert first["expiry_date"] == "2012-04-15"
    assert first["checks"]["composite"] == {"valid": True, "expected": "0", "found": "0"}
    assert set(first) >= {
        "document_type",
        "issuing_state",
        "surname",
        "given_names",
        "document_number",
        "nationality",
        "birth_date",
        "sex",
        "expiry_date",
        "personal_number",
        "valid",
    }
    assert second["document_number"] == "D23145890"
    assert third["line"] == 8  # the block's line in the input
