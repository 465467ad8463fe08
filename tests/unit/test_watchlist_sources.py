"""Watchlist files read into entries: the office's CSV and OpenSanctions' FollowTheMoney lines.

The sample files in ``tests/data/watchlist`` are written as the sources write
them (a spreadsheet saved as UTF-8 CSV with its byte order mark; entities as
OpenSanctions publishes them, passports before and after their holders).
Every entry read is also put through the service's validation, so what the
parsers pass on is what the service accepts, or refuses by field.
"""

from __future__ import annotations

import io
import json
from datetime import date
from pathlib import Path

import pytest

from exchange_service.domain import commands as cmd
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.watchlist import WATCHLIST_LIMITS, WatchlistKind, valid_entry
from exchange_service.wire.watchlist_sources import (
    Entry,
    Note,
    Rejected,
    Skipped,
    SourceDefaults,
    SourceError,
    SourceRecord,
    alpha3,
    partial_date,
    read_csv,
    read_ftm,
    scan_ftm_documents,
)

DATA = Path(__file__).parents[1] / "data" / "watchlist"
TODAY = date(2026, 6, 1)
OFFICE = SourceDefaults(list="ENTRY_BAN", issuing_agency="Kantor Imigrasi Tarempa")


def _csv(text: str | bytes, defaults: SourceDefaults = OFFICE) -> list[SourceRecord]:
    data = text.encode() if isinstance(text, str) else text
    return list(read_csv(io.BytesIO(data), defaults))


def _ftm(path: Path, defaults: SourceDefaults) -> list[SourceRecord]:
    with path.open("rb") as source:
        documents = scan_ftm_documents(source)
        source.seek(0)
        return list(read_ftm(source, defaults, documents))


def _ftm_lines(lines: list[dict[str, object]], defaults: SourceDefaults) -> list[SourceRecord]:
    data = b"".join(json.dumps(line).encode() + b"\n" for line in lines)
    documents = scan_ftm_documents(io.BytesIO(data))
    return list(read_ftm(io.BytesIO(data), defaults, documents))


def _entries(records: list[SourceRecord]) -> dict[int, Entry]:
    return {r.line: r for r in records if isinstance(r, Entry)}


def _refusal(entry: Entry) -> str | None:
    try:
        valid_entry(entry.command, TODAY)
    except InvalidInput as error:
        return str(error)
    return None


# --- CSV ---------------------------------------------------------------------------------


def test_the_office_csv_reads_with_its_bom_aliases_and_defaults() -> None:
    records = _csv((DATA / "watchlist-office.csv").read_bytes())
    entries = _entries(records)
    assert records[0] == Note(1, "columns ignored (unknown): remarks")

    budi = entries[2].command
    # The BOM is not part of the first column's name: ``ID`` is read as the id.
    assert budi.external_id == "DPO-2026-0012"
    assert budi.list == "POLICE_WANTED"
    assert budi.names == ("Budi Santoso", "Budi S.", "Budi Santosa")
    assert budi.birth_date == cmd.DateParts(1985, 4, 17)
    assert budi.valid_from == cmd.DateParts(2026, 1, 10)
    assert budi.valid_until is None

    li = entries[3].command
    assert li.names == ("Li Wei", "李伟", "Lee Wai")
    assert li.birth_date == cmd.DateParts(1979, 0, 0)
    assert li.nationality == "CHN"  # alpha-2 CN
    assert li.documents == ("E12345678", "G98765432")
    # No issuing agency in the row: the command's.
    assert li.issuing_agency == "Kantor Imigrasi Tarempa"
    assert li.external_id.startswith("csv-sha256:")
    assert len(li.external_id) == len("csv-sha256:") + 64

    ivanov = entries[7].command
    assert ivanov.names == ("Сергей Иванов", "Sergei Ivanov", "Sergey Ivanov")
    assert ivanov.reason == "Tax case, Pengadilan Negeri Tarempa"
    assert ivanov.birth_date == cmd.DateParts(1969, 11, 0)
    assert ivanov.nationality == "RUS"

    for line in (2, 3, 7):
        assert _refusal(entries[line]) is None, line


def test_bad_csv_rows_are_rejected_with_their_lines_and_reasons() -> None:
    records = _csv((DATA / "watchlist-office.csv").read_bytes())
    rejected = [r for r in records if isinstance(r, Rejected)]
    assert rejected == [
        Rejected(4, "birth_date is not written YYYY-MM-DD, YYYY-MM or YYYY", "'17/04/1985'"),
        Rejected(6, "the row's values do not match the header's columns", "3 values, 12 columns"),
    ]
    entries = _entries(records)
    # Written as a date but not one: the service names the field.
    assert entries[5].command.birth_date == cmd.DateParts(1970, 13, 45)
    assert _refusal(entries[5]) == "entry.birth_date.month: 13 is not a month"
    # A row without a name reaches the service, which says so.
    refusal = _refusal(entries[9])
    assert refusal is not None
    assert "entry.names[0]: is required" in refusal
    # The blank line 8 is no record at all.
    assert sorted(r.line for r in records if not isinstance(r, Note)) == [2, 3, 4, 5, 6, 7, 9]


def test_a_quoted_value_across_lines_keeps_the_rows_first_line() -> None:
    text = 'name,reason\n"Park Ji-hoon","Overstay;\nsecond offence"\nKim Min-jun,Visa fraud\n'
    records = _csv(text)
    assert [(r.line, r.command.names) for r in records if isinstance(r, Entry)] == [
        (2, ("Park Ji-hoon",)),
        (4, ("Kim Min-jun",)),
    ]


def test_a_row_that_is_not_utf8_is_rejected_and_the_next_is_read() -> None:
    data = b"name,reason\n" + b"Jos\xe9 Garc\xeda,Overstay\n" + b"Maria Lopez,Overstay\n"
    records = _csv(data)
    assert records[0] == Rejected(2, "the row is not UTF-8")
    assert isinstance(records[1], Entry)
    assert records[1].command.names == ("Maria Lopez",)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("full_name,reason\nBudi,x\n", "the header has no 'name' column"),
        ("name,Name\nBudi,Budi\n", "names the column 'name' twice"),
    ],
)
def test_a_csv_without_a_usable_header_is_refused_whole(text: str, message: str) -> None:
    with pytest.raises(SourceError, match=message):
        _csv(text)


def test_a_row_without_an_id_has_an_id_of_its_values() -> None:
    text = "name,reason\nBudi Santoso,Overstay\nBudi Santoso,Overstay\nBudi Santoso,Fraud\n"
    ids = [r.command.external_id for r in _csv(text) if isinstance(r, Entry)]
    # Importing the same row again names the same entry; a changed row another.
    assert ids[0] == ids[1]
    assert ids[0] != ids[2]


def test_the_list_column_wins_over_the_default_and_an_empty_one_takes_it() -> None:
    text = "name,list,reason\nA B,exit_ban,x\nC D,,x\n"
    lists = [r.command.list for r in _csv(text) if isinstance(r, Entry)]
    assert lists == ["EXIT_BAN", "ENTRY_BAN"]


def test_valid_dates_must_be_whole_days() -> None:
    [record] = _csv("name,reason,valid_until\nA B,x,2027-01\n")
    assert record == Rejected(2, "valid_until is not written YYYY-MM-DD", "'2027-01'")


# --- Values ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ru", "RUS"),
        ("ID", "IDN"),
        ("idn", "IDN"),
        ("xk", "RKS"),  # Kosovo: ICAO's code, not ISO's
        ("XXA", "XXA"),  # stateless (ICAO 9303)
        ("suhh", None),  # the Soviet Union
        ("zz", None),
        ("eu", None),
        ("QQQ", None),
    ],
)
def test_country_codes_map_to_alpha3(raw: str, expected: str | None) -> None:
    assert alpha3(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("1962-08-13", cmd.DateParts(1962, 8, 13)),
        ("1962-08", cmd.DateParts(1962, 8, 0)),
        ("1962", cmd.DateParts(1962, 0, 0)),
        ("1970-13-45", cmd.DateParts(1970, 13, 45)),
        ("13.08.1962", None),
        ("62", None),
        ("1962-8-13", None),
    ],
)
def test_partial_dates_are_read_by_their_writing(raw: str, expected: cmd.DateParts | None) -> None:
    assert partial_date(raw) == expected


# --- FollowTheMoney ----------------------------------------------------------------------


def test_opensanctions_persons_become_entries_with_their_passports_before_and_after() -> None:
    # No --issuing-agency: the datasets name the agency.
    records = _ftm(DATA / "opensanctions-sample.ftm.json", SourceDefaults(list="ENTRY_BAN"))
    entries = _entries(records)
    assert sorted(entries) == [2, 3, 4, 6, 12]

    sidorov = entries[2].command
    assert sidorov.external_id == "NK-sidorov-ivan"
    assert sidorov.list == "ENTRY_BAN"
    # weakAlias (Vanya) is left out.
    assert sidorov.names == (
        "Иван Петрович Сидоров",
        "Ivan Petrovich Sidorov",
        "Ivan Sidorov",
        "Иван Сидоров",
    )
    assert sidorov.birth_date == cmd.DateParts(1962, 8, 13)
    assert sidorov.nationality == "RUS"
    # passportNumber and the Passport entity before it name the same number once.
    assert sidorov.documents == ("751234567",)
    assert sidorov.reason == "listed in us_ofac_sdn; programme: UKRAINE-EO13660; topics: sanction"
    assert sidorov.issuing_agency == "OpenSanctions: us_ofac_sdn"

    hassan = entries[3].command
    assert hassan.names[0] == "عبد الله محمد الحسن"
    assert "Abu Abdullah" not in hassan.names
    assert hassan.birth_date == cmd.DateParts(1975, 0, 0)
    # The Identification and the Passport come after the person.
    assert hassan.documents == ("N448812", "RL0045123")
    assert hassan.issuing_agency == "OpenSanctions: un_sc_sanctions, us_ofac_sdn"
    assert "notes: Financier for a designated group." in hassan.reason

    for entry in entries.values():
        assert _refusal(entry) is None, entry


def test_what_the_source_writes_badly_is_dropped_with_a_note_not_rejected() -> None:
    entries = _entries(_ftm(DATA / "opensanctions-sample.ftm.json", OFFICE))
    olga = entries[4]
    # Two days of one month: the month is what they agree on.
    assert olga.command.birth_date == cmd.DateParts(1958, 3, 0)
    # suhh (the USSR) has no code; the citizenship's does.
    assert olga.command.nationality == "UKR"
    assert olga.command.documents == ()
    assert olga.notes == (
        "country 'suhh' has no ISO 3166-1 alpha-3 code: left out",
        "a document number that is not 1 to 20 letters and digits left out",
    )
    zhang = entries[12]
    assert zhang.command.names == ("Wei Zhang", "张伟", "Cheung Wai")
    assert zhang.command.birth_date is None
    assert zhang.command.nationality == "CHN"
    assert zhang.command.documents == ("110101198001011234",)
    assert "birthDates of different years: birth date left empty" in zhang.notes


def test_other_schemata_are_skipped_and_broken_lines_rejected() -> None:
    records = _ftm(DATA / "opensanctions-sample.ftm.json", OFFICE)
    assert [r for r in records if isinstance(r, Skipped)] == [
        Skipped(1, "Passport (its number goes to its holder)"),
        Skipped(5, "Company (not a person)"),
        Skipped(7, "Sanction (not a person)"),
        Skipped(10, "Identification (its number goes to its holder)"),
        Skipped(11, "Passport (its number goes to its holder)"),
        Skipped(13, "Passport (its number goes to its holder)"),
    ]
    rejected = [r for r in records if isinstance(r, Rejected)]
    assert [(r.line, r.reason) for r in rejected] == [
        (8, "the person has no name"),
        (9, "the line is not a JSON object"),
    ]
    assert rejected[1].detail.startswith("Invalid control character")
    assert records[-1] == Note(
        0, "documents of 1 holders not persons of the file: NK-not-in-this-file"
    )


def test_topics_choose_the_international_notice_list_when_asked() -> None:
    path = DATA / "opensanctions-sample.ftm.json"
    by_topics = _entries(_ftm(path, SourceDefaults("ENTRY_BAN", "", list_from_topics=True)))
    assert {line: e.command.list for line, e in by_topics.items()} == {
        2: "ENTRY_BAN",  # sanction
        3: "INTERNATIONAL_NOTICE",  # crime.terror
        4: "ENTRY_BAN",  # role.pep
        6: "INTERNATIONAL_NOTICE",  # wanted, crime
        12: "ENTRY_BAN",  # none
    }
    assert WatchlistKind.POLICE_WANTED not in {e.command.list for e in by_topics.values()}
    given = _entries(_ftm(path, SourceDefaults("OTHER", "OpenSanctions: interpol")))
    assert {e.command.list for e in given.values()} == {"OTHER"}
    assert {e.command.issuing_agency for e in given.values()} == {"OpenSanctions: interpol"}


def test_a_person_with_more_names_and_documents_than_an_entry_holds_keeps_the_first() -> None:
    limits = WATCHLIST_LIMITS
    person: dict[str, object] = {
        "id": "Q-many",
        "schema": "Person",
        "properties": {
            "name": ["Mohammad Reza Tehrani"],
            "alias": [f"Alias Number {i}" for i in range(30)] + ["x" * 201],
            "passportNumber": [f"P{i:07d}" for i in range(12)],
            "notes": ["n" * 2000],
        },
        "datasets": ["ir_sanctions"],
    }
    [record] = _ftm_lines([person], OFFICE)
    assert isinstance(record, Entry)
    assert len(record.command.names) == limits.names_per_entry
    assert record.command.names[:2] == ("Mohammad Reza Tehrani", "Alias Number 0")
    assert record.command.documents == tuple(f"P{i:07d}" for i in range(10))
    assert len(record.command.reason) == limits.reason_length
    assert record.command.reason.endswith("…")
    assert set(record.notes) == {
        f"names longer than {limits.name_length} characters left out",
        f"names beyond the first {limits.names_per_entry} left out",
        f"documents beyond the first {limits.documents_per_entry} left out",
    }
    assert _refusal(record) is None


def test_a_json_value_that_is_not_an_entity_is_rejected() -> None:
    data = b'["Person"]\n{"schema": "Person", "properties": {"name": ["A B"]}}\n\n'
    records = list(read_ftm(io.BytesIO(data), OFFICE, {}))
    assert records == [
        Rejected(1, "the line is not a JSON object", "a JSON list, not an object"),
        Rejected(2, "the entity has no id or no schema"),
    ]
