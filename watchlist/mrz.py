"""The machine readable zone of travel documents (ICAO Doc 9303, parts 3 to 7), read and checked.

TD3 (passports: two lines of 44), TD2 (two of 36), TD1 (identity cards: three of 30) and
the visas MRV-A (as TD3) and MRV-B (as TD2), whose second line has no composite check.
Every check digit is computed (weights 7, 3, 1; ``<`` counts 0, letters 10 to 35) and
reported with the digit found. What the popular parsers get wrong is handled:

- a single-part name (``P<IDNSUKARNO<<<<...``, no ``<<``) is a primary identifier and
  no secondary one, never an error;
- an optional field left empty (all ``<``) may have ``<`` as its check digit;
- a TD1 (and TD2) document number longer than nine characters continues in the
  optional data: ``<`` in the check digit's place, the rest of the number, then its
  check digit (9303 part 5, 4.2.2 note j);
- OCR confusions: in a field a check digit guards, a letter read for a digit (or a
  digit for a letter) is corrected only when exactly one reading of the field satisfies
  its check digit among the closest (the fewest characters read otherwise, up to
  three); dates and check digits are digits, so letters there are read as the
  digits they resemble; in names and state codes digits are read as the letters they
  resemble, and in a name's trailing fillers a ``<`` misread as ``K`` or ``X`` (three
  fillers or more before it: no name part follows three fillers) is a filler again.
  Each correction is reported.

Pure: the reference date that decides the century of a two-digit year is given.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Literal

Layout = Literal["TD1", "TD2", "TD3", "MRVA", "MRVB"]

_LENGTHS: dict[Layout, tuple[int, int]] = {
    "TD1": (3, 30),
    "TD2": (2, 36),
    "TD3": (2, 44),
    "MRVA": (2, 44),
    "MRVB": (2, 36),
}
_VALID_CHARS = re.compile(r"^[A-Z0-9<]+$")
_WEIGHTS = (7, 3, 1)
# A digit read where a letter belongs (names, state codes).
_DIGIT_AS_LETTER = {"0": "O", "1": "I", "2": "Z", "4": "A", "5": "S", "6": "G", "8": "B"}
# A letter read where a digit belongs (dates, check digits).
_LETTER_AS_DIGIT = {
    "O": "0",
    "Q": "0",
    "D": "0",
    "U": "0",
    "I": "1",
    "L": "1",
    "Z": "2",
    "S": "5",
    "G": "6",
    "B": "8",
}
# The other readings of a character in a field of letters and digits.
_CONFUSABLE: dict[str, tuple[str, ...]] = {
    "0": ("O", "D", "Q"),
    "O": ("0", "D", "Q"),
    "D": ("0", "O"),
    "Q": ("0", "O"),
    "1": ("I", "L"),
    "I": ("1", "L"),
    "L": ("1", "I"),
    "2": ("Z",),
    "Z": ("2",),
    "5": ("S",),
    "S": ("5",),
    "6": ("G",),
    "G": ("6",),
    "8": ("B",),
    "B": ("8",),
}


class MrzError(ValueError):
    """Text that is no MRZ of a known layout; ``line`` is the line at fault (1-based)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.line = line


@dataclass(frozen=True)
class CheckDigit:
    """A check digit: the field it guards, the digit computed, the one found, whether
    they agree (an empty field's ``<`` agrees)."""

    field: str
    expected: str
    found: str
    valid: bool


@dataclass(frozen=True)
class Correction:
    field: str
    original: str
    corrected: str


@dataclass(frozen=True)
class MrzDocument:
    layout: Layout
    document_type: str
    issuing_state: str
    surname: str
    given_names: str
    document_number: str
    nationality: str
    birth_date: date | None
    sex: str
    expiry_date: date | None
    personal_number: str
    checks: tuple[CheckDigit, ...]
    corrections: tuple[Correction, ...] = ()
    # The six digits as read, when they are no calendar date.
    invalid_dates: tuple[str, ...] = field(default=())

    @property
    def valid(self) -> bool:
        """Every check digit holds and both dates are calendar dates."""
        return all(c.valid for c in self.checks) and not self.invalid_dates

    def as_json(self) -> dict[str, object]:
        """What ``pantau mrz parse`` prints for the document."""
        return {
            "layout": self.layout,
            "document_type": self.document_type,
            "issuing_state": self.issuing_state,
            "surname": self.surname,
            "given_names": self.given_names,
            "document_number": self.document_number,
            "nationality": self.nationality,
            "birth_date": None if self.birth_date is None else self.birth_date.isoformat(),
            "sex": self.sex,
            "expiry_date": None if self.expiry_date is None else self.expiry_date.isoformat(),
            "personal_number": self.personal_number,
            "valid": self.valid,
            "checks": {
                c.field: {"valid": c.valid, "expected": c.expected, "found": c.found}
                for c in self.checks
            },
            "corrections": [
                {"field": c.field, "original": c.original, "corrected": c.corrected}
                for c in self.corrections
            ],
        }


def _value(char: str) -> int:
    if char.isdigit():
        return int(char)
    if char == "<":
        return 0
    return ord(char) - ord("A") + 10


def check_digit(text: str) -> str:
    """The ICAO 9303 check digit of ``text`` (``<`` counts 0)."""
    total = sum(_value(ch) * _WEIGHTS[i % 3] for i, ch in enumerate(text))
    return str(total % 10)


class _Reader:
    """One document being read: its corrections and checks as they are found."""

    def __init__(self) -> None:
        self.corrections: list[Correction] = []
        self.checks: list[CheckDigit] = []
        self.invalid_dates: list[str] = []

    def _corrected(self, name: str, original: str, corrected: str) -> str:
        if corrected != original:
            self.corrections.append(Correction(name, original, corrected))
        return corrected

    def digit(self, name: str, char: str) -> str:
        """A check digit as read: a letter is the digit it resembles; ``<`` stays."""
        read = _LETTER_AS_DIGIT.get(char, char)
        return self._corrected(f"{name}_check_digit", char, read)

    def digits(self, name: str, text: str) -> str:
        """A field of digits (a date): letters read as the digits they resemble."""
        read = "".join(_LETTER_AS_DIGIT.get(ch, ch) for ch in text)
        return self._corrected(name, text, read)

    def letters(self, name: str, text: str) -> str:
        """A state code or a name: digits read as the letters they resemble."""
        read = "".join(_DIGIT_AS_LETTER.get(ch, ch) for ch in text)
        return self._corrected(name, text, read)

    def name_field(self, text: str) -> str:
        read = self.letters("names", text)
        fixed: list[str] = []
        fillers = 0
        for char in read:
            read_as = "<" if char in "KX" and fillers >= 3 else char
            fillers = fillers + 1 if read_as == "<" else 0
            fixed.append(read_as)
        # A K or X misread for the last filler(s), after a name and two fillers or more.
        text_fixed = "".join(fixed)
        match = re.search(r"<<([KX]+)<*$", text_fixed)
        if match and len(match.group(1)) >= 2:
            start, end = match.span(1)
            text_fixed = text_fixed[:start] + "<" * (end - start) + text_fixed[end:]
        if text_fixed != read:
            self.corrections.append(Correction("names", read, text_fixed))
        return text_fixed

    def checked(
        self, name: str, text: str, digit: str, *, optional: bool = False, digits: bool = False
    ) -> str:
        """The field as read, corrected if exactly one reading satisfies its check digit;
        the check recorded. ``optional``: all ``<`` with ``<`` (or 0) as its digit holds.
        ``digits``: a field of digits (a date), which has no other reading."""
        if optional and set(text) <= {"<"} and digit in ("<", "0"):
            self.checks.append(CheckDigit(name, "0", digit, True))
            return text
        expected = check_digit(text)
        if digit == expected:
            self.checks.append(CheckDigit(name, expected, digit, True))
            return text
        readings = [] if digits else _readings(text, digit)
        if len(readings) == 1:
            (read,) = readings
            self._corrected(name, text, read)
            self.checks.append(CheckDigit(name, digit, digit, True))
            return read
        self.checks.append(CheckDigit(name, expected, digit, False))
        return text

    def composite(self, text: str, digit: str) -> None:
        expected = check_digit(text)
        self.checks.append(CheckDigit("composite", expected, digit, digit == expected))

    def day(self, name: str, text: str, reference: date, *, expiry: bool) -> date | None:
        try:
            year, month, day_of = int(text[0:2]), int(text[2:4]), int(text[4:6])
        except ValueError:
            self.invalid_dates.append(name)
            return None
        if expiry:
            century = 2000 if 2000 + year <= reference.year + 50 else 1900
        else:
            century = 1900 if year > reference.year % 100 else 2000
        try:
            return date(century + year, month, day_of)
        except ValueError:
            self.invalid_dates.append(name)
            return None


def _readings(text: str, digit: str) -> list[str]:
    """The closest readings of ``text`` that satisfy ``digit``: those with the fewest
    characters read otherwise (one, then two, then three); more than one of them is no
    reading at all (ambiguous), so is none within three."""
    if not digit.isdigit():
        return []
    confusable = [i for i, ch in enumerate(text) if ch in _CONFUSABLE]
    for changes in range(1, min(3, len(confusable)) + 1):
        found: list[str] = []
        for positions in itertools.combinations(confusable, changes):
            for chars in itertools.product(*(_CONFUSABLE[text[i]] for i in positions)):
                reading = list(text)
                for i, ch in zip(positions, chars, strict=True):
                    reading[i] = ch
                candidate = "".join(reading)
                if check_digit(candidate) == digit:
                    found.append(candidate)
                    if len(found) > 1:
                        return found
        if found:
            return found
    return []


def _put_number(
    line: str, start: int, rest_start: int, *, number: str, digit: str, rest: int
) -> str:
    """``line`` with the document number as read (and its check digit) in its places: nine
    characters from ``start``, then, for a long number, ``<`` and the rest with the check
    digit from ``rest_start``."""
    if not rest:
        return line[:start] + number + digit + line[start + 10 :]
    tail = number[9:] + digit
    return (
        line[:start]
        + number[:9]
        + "<"
        + line[start + 10 : rest_start]
        + tail
        + line[rest_start + len(tail) :]
    )


def _names(text: str) -> tuple[str, str]:
    """(primary, secondary identifier): split at the first ``<<``; one part is a mononym."""
    primary, _, secondary = text.strip("<").partition("<<")
    return (
        " ".join(primary.replace("<", " ").split()),
        " ".join(secondary.replace("<", " ").split()),
    )


def _sex(char: str) -> str:
    return char if char in ("F", "M") else "X"


def _clean(lines: Sequence[str]) -> list[str]:
    cleaned = []
    for line in lines:
        text = "".join(line.split()).upper()
        if text:
            cleaned.append(text)
    return cleaned


def _layout(lines: list[str]) -> Layout:
    for number, line in enumerate(lines[1:], 2):
        if len(line) != len(lines[0]):
            raise MrzError(
                f"line {number} has {len(line)} characters, line 1 has {len(lines[0])}", number
            )
    shape = (len(lines), len(lines[0]) if lines else 0)
    code = lines[0][:1] if lines else ""
    if shape == (3, 30):
        return "TD1"
    if shape == (2, 44):
        return "MRVA" if code == "V" else "TD3"
    if shape == (2, 36):
        return "MRVB" if code == "V" else "TD2"
    if len(lines) not in (2, 3):
        count = f"{len(lines)} line" + ("" if len(lines) == 1 else "s")
        raise MrzError(f"{count}: an MRZ has 2 (TD2, TD3) or 3 (TD1)", 1)
    wanted = "30" if len(lines) == 3 else "44 or 36"
    raise MrzError(
        f"lines of {len(lines[0])} characters: {len(lines)} lines of {wanted} expected", 1
    )


def parse_mrz(text_or_lines: str | Sequence[str], *, reference: date) -> MrzDocument:
    """The document the MRZ describes, its checks and corrections; ``MrzError`` when the
    text is no MRZ of a known layout. A failing check digit is reported, not raised."""
    raw = text_or_lines.splitlines() if isinstance(text_or_lines, str) else list(text_or_lines)
    lines = _clean(raw)
    if not lines:
        raise MrzError("no MRZ lines")
    layout = _layout(lines)
    for number, line in enumerate(lines, 1):
        if not _VALID_CHARS.match(line):
            bad = sorted(set(re.sub(r"[A-Z0-9<]", "", line)))
            raise MrzError(f"line {number} holds characters no MRZ has: {''.join(bad)}", number)
    if layout == "TD1":
        return _td1(lines, reference)
    return _two_lines(lines, layout, reference)


def _td1(lines: list[str], reference: date) -> MrzDocument:
    reader = _Reader()
    one, two, three = lines
    code = one[0:2]
    state = reader.letters("issuing_state", one[2:5])
    number_field, number_digit = one[5:14], reader.digit("document_number", one[14])
    optional1 = one[15:30]
    rest = ""
    if number_digit == "<" and optional1.strip("<"):
        # A long number: its rest and its check digit open the optional data.
        rest = optional1.split("<", 1)[0]
        number_field = number_field + rest[:-1]
        number_digit = reader.digit("document_number", rest[-1])
        optional1 = optional1[len(rest) :]
    number = reader.checked("document_number", number_field, number_digit)
    upper = _put_number(one, 5, 15, number=number, digit=number_digit, rest=len(rest))
    birth_digit = reader.digit("birth_date", two[6])
    birth_text = reader.checked(
        "birth_date", reader.digits("birth_date", two[0:6]), birth_digit, digits=True
    )
    expiry_digit = reader.digit("expiry_date", two[14])
    expiry_text = reader.checked(
        "expiry_date", reader.digits("expiry_date", two[8:14]), expiry_digit, digits=True
    )
    nationality = reader.letters("nationality", two[15:18])
    optional2 = two[18:29]
    lower = birth_text + birth_digit + two[7] + expiry_text + expiry_digit + two[15:]
    reader.composite(
        upper[5:30] + lower[0:7] + lower[8:15] + lower[18:29], reader.digit("composite", two[29])
    )
    surname, given = _names(reader.name_field(three))
    return MrzDocument(
        layout="TD1",
        document_type=code.strip("<"),
        issuing_state=state.strip("<"),
        surname=surname,
        given_names=given,
        document_number=number.strip("<"),
        nationality=nationality.strip("<"),
        birth_date=reader.day("birth_date", birth_text, reference, expiry=False),
        sex=_sex(two[7]),
        expiry_date=reader.day("expiry_date", expiry_text, reference, expiry=True),
        personal_number=" ".join((optional1 + "<" + optional2).replace("<", " ").split()),
        checks=tuple(reader.checks),
        corrections=tuple(reader.corrections),
        invalid_dates=tuple(reader.invalid_dates),
    )


def _two_lines(lines: list[str], layout: Layout, reference: date) -> MrzDocument:
    reader = _Reader()
    one, two = lines
    code = one[0:2]
    state = reader.letters("issuing_state", one[2:5])
    surname, given = _names(reader.name_field(one[5:]))
    # The optional data: TD3 14 characters and their check digit, TD2 7, the visas to the end.
    optional = {"TD3": two[28:42], "TD2": two[28:35]}.get(layout, two[28:])
    number_field, number_digit = two[0:9], reader.digit("document_number", two[9])
    rest = ""
    if number_digit == "<" and layout == "TD2" and optional.strip("<"):
        rest = optional.split("<", 1)[0]
        number_field = number_field + rest[:-1]
        number_digit = reader.digit("document_number", rest[-1])
    number = reader.checked("document_number", number_field, number_digit)
    nationality = reader.letters("nationality", two[10:13])
    birth_digit = reader.digit("birth_date", two[19])
    birth_text = reader.checked(
        "birth_date", reader.digits("birth_date", two[13:19]), birth_digit, digits=True
    )
    expiry_digit = reader.digit("expiry_date", two[27])
    expiry_text = reader.checked(
        "expiry_date", reader.digits("expiry_date", two[21:27]), expiry_digit, digits=True
    )
    fixed = _put_number(two, 0, 28, number=number, digit=number_digit, rest=len(rest))
    fixed = fixed[:13] + birth_text + birth_digit + fixed[20] + expiry_text + expiry_digit
    fixed += two[28:]
    personal = optional[len(rest) :] if rest else optional
    if layout == "TD3":
        personal_digit = reader.digit("personal_number", two[42])
        personal = reader.checked("personal_number", optional, personal_digit, optional=True)
        fixed = fixed[:28] + personal + personal_digit + two[43:]
        reader.composite(
            fixed[0:10] + fixed[13:20] + fixed[21:43], reader.digit("composite", two[43])
        )
    elif layout == "TD2":
        reader.composite(
            fixed[0:10] + fixed[13:20] + fixed[21:35], reader.digit("composite", two[35])
        )
    return MrzDocument(
        layout=layout,
        document_type=code.strip("<"),
        issuing_state=state.strip("<"),
        surname=surname,
        given_names=given,
        document_number=number.strip("<"),
        nationality=nationality.strip("<"),
        birth_date=reader.day("birth_date", birth_text, reference, expiry=False),
        sex=_sex(two[20]),
        expiry_date=reader.day("expiry_date", expiry_text, reference, expiry=True),
        personal_number=" ".join(personal.replace("<", " ").split()),
        checks=tuple(reader.checks),
        corrections=tuple(reader.corrections),
        invalid_dates=tuple(reader.invalid_dates),
    )
