"""Machine readable zones of travel documents (ICAO Doc 9303, parts 3 to 7), read from OCR.

``parse_mrz`` reads the MRZ of a TD1 card (3 lines of 30), a TD2 card (2 of 36),
a TD3 passport (2 of 44) and the MRV-A and MRV-B visas (the TD3 and TD2 sizes
with document code V). Every check digit is verified and reported, never
raised. Scanned zones are noisy, so the parser corrects what it can without
guessing:

- dates and check digits are numeric: a letter there is read as the digit it
  resembles (O as 0, I as 1, B as 8, ...);
- names, state codes and the document code hold letters: a digit there is read
  as the letter it resembles (0 as O, 1 as I, 2 as Z, 5 as S, 8 as B, ...);
- a filler ``<`` misread as K or X is restored where it stands in the run of
  fillers that ends a name or an optional field (after three fillers, or a run
  of three K/X), so that a name which ends in K or X keeps it;
- a field guarded by its own check digit (the document number, the TD3
  personal number) is corrected only when exactly one of its OCR-confusable
  readings (O/0, D/0, Q/0, I/1, L/1, Z/2, S/5, G/6, B/8, per position)
  satisfies that check digit; when none or several do, it stays as read and
  its check digit is reported invalid.

Each correction is reported (field, as read, as corrected). Everything here is
pure: the reference date for two-digit years is passed in.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal

Layout = Literal["TD1", "TD2", "TD3", "MRVA", "MRVB"]

FILLER = "<"
_VALUES = {
    **{str(digit): digit for digit in range(10)},
    **{chr(ord("A") + index): 10 + index for index in range(26)},
    FILLER: 0,
}
_WEIGHTS = (7, 3, 1)
_NOT_ALLOWED = re.compile(r"[^A-Z0-9<]")

# Letters OCR reads for a digit, and the digit each stands for, in OCR-B.
_DIGIT_FOR_LETTER = {
    "O": "0",
    "D": "0",
    "Q": "0",
    "I": "1",
    "L": "1",
    "Z": "2",
    "S": "5",
    "G": "6",
    "B": "8",
}
_LETTERS_FOR_DIGIT: dict[str, tuple[str, ...]] = {}
for _letter, _digit in _DIGIT_FOR_LETTER.items():
    _LETTERS_FOR_DIGIT[_digit] = (*_LETTERS_FOR_DIGIT.get(_digit, ()), _letter)
# In a field of letters any digit is a misreading: the letter it most resembles.
_LETTER_FOR_DIGIT = {
    "0": "O",
    "1": "I",
    "2": "Z",
    "4": "A",
    "5": "S",
    "6": "G",
    "7": "T",
    "8": "B",
}
# Readings of one guarded field tried at most; beyond, it is left as read (with
# thousands of readings, some ten per cent fit any check digit: never exactly one).
_MAX_READINGS = 4096
# What OCR reads for a filler `<`.
_FILLER_LOOKALIKES = frozenset("KX")

_LINE_LENGTHS: dict[int, tuple[str, ...]] = {30: ("TD1",), 36: ("TD2", "MRVB"), 44: ("TD3", "MRVA")}
_KNOWN_LAYOUTS = (
    "3 lines of 30 characters (TD1), or 2 lines of 36 (TD2, MRV-B) or of 44 (TD3, MRV-A)"
)


@dataclass(frozen=True)
class CheckDigit:
    """One check digit of the zone: the digit computed over its field and the one printed."""

    field: str
    expected: str
    found: str
    valid: bool


@dataclass(frozen=True)
class Correction:
    """A field (or a check digit, ``<field>.check_digit``) as read and as corrected."""

    field: str
    original: str
    corrected: str


@dataclass(frozen=True)
class MrzDocument:
    """A parsed MRZ. ``valid``: every check digit holds and every field reads (dates, sex).

    ``invalid_fields`` names the fields that do not read (a date with month 13,
    a sex other than M, F or X); their values are None or as printed.
    """

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
    corrections: tuple[Correction, ...]
    invalid_fields: tuple[str, ...]
    valid: bool

    def as_json(self) -> dict[str, Any]:
        """The document as ``pantau mrz parse`` prints it (dates ISO or null)."""
        return {
            "layout": self.layout,
            "document_type": self.document_type,
            "issuing_state": self.issuing_state,
            "surname": self.surname,
            "given_names": self.given_names,
            "document_number": self.document_number,
            "nationality": self.nationality,
            "birth_date": self.birth_date.isoformat() if self.birth_date else None,
            "sex": self.sex,
            "expiry_date": self.expiry_date.isoformat() if self.expiry_date else None,
            "personal_number": self.personal_number,
            "valid": self.valid,
            "checks": {
                check.field: {
                    "valid": check.valid,
                    "expected": check.expected,
                    "found": check.found,
                }
                for check in self.checks
            },
            "corrections": [
                {"field": c.field, "original": c.original, "corrected": c.corrected}
                for c in self.corrections
            ],
            "invalid_fields": list(self.invalid_fields),
        }


class MrzError(ValueError):
    """The text is not an MRZ that can be read; ``line`` is the MRZ line at fault (1-based)."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def check_digit(chars: str) -> str:
    """ICAO 9303's check digit over ``chars`` (A-Z, 0-9, ``<``): weights 7, 3, 1, modulo 10."""
    return str(sum(_VALUES[c] * _WEIGHTS[i % 3] for i, c in enumerate(chars)) % 10)


# A stretch of one MRZ line: line and first and last position, 1-based as in Doc 9303.
_Span = tuple[int, int, int]


class _Zone:
    """The lines being read, corrected in place, with what was found on the way."""

    def __init__(self, lines: list[str]) -> None:
        self.lines = [list(line) for line in lines]
        self.checks: list[CheckDigit] = []
        self.corrections: list[Correction] = []
        self.invalid_fields: list[str] = []

    def text(self, *spans: _Span) -> str:
        return "".join("".join(self.lines[n - 1][a - 1 : b]) for n, a, b in spans)

    def write(self, text: str, *spans: _Span) -> None:
        for n, a, b in spans:
            self.lines[n - 1][a - 1 : b] = list(text[: b - a + 1])
            text = text[b - a + 1 :]

    def correct(self, field: str, corrected: str, *spans: _Span) -> None:
        original = self.text(*spans)
        if corrected != original:
            self.corrections.append(Correction(field, original, corrected))
            self.write(corrected, *spans)

    def letters(self, field: str, *spans: _Span) -> str:
        """A field of letters (state codes, document code), digits read as letters."""
        read = self.text(*spans)
        self.correct(field, "".join(_LETTER_FOR_DIGIT.get(c, c) for c in read), *spans)
        return self.text(*spans)

    def digits(self, field: str, *spans: _Span) -> str:
        """A numeric field (dates, check digits), letters read as digits."""
        read = self.text(*spans)
        self.correct(field, "".join(_DIGIT_FOR_LETTER.get(c, c) for c in read), *spans)
        return self.text(*spans)

    def verify(
        self,
        field: str,
        spans: Sequence[_Span],
        digit_at: _Span,
        *,
        may_be_empty: bool = False,
        correctable: bool = False,
        fillers: frozenset[int] = frozenset(),
    ) -> bool:
        """Records the check digit of ``spans``; corrects them if exactly one reading fits.

        ``fillers``: positions in the field where an X may be a misread filler.
        """
        found = self.digits(f"{field}.check_digit", digit_at)
        value = self.text(*spans)
        expected = check_digit(value)
        valid = found == expected or (
            may_be_empty and set(value) <= {FILLER} and found in (FILLER, "0")
        )
        if not valid and correctable:
            fitting = [r for r in _readings(value, fillers) if check_digit(r) == found]
            if len(fitting) == 1:
                self.correct(field, fitting[0], *spans)
                expected, valid = found, True
        self.checks.append(CheckDigit(field, expected, found, valid))
        return valid

    def birth_or_expiry(self, field: str, span: _Span, reference: date) -> date | None:
        text = self.digits(field, span)
        if set(text) == {FILLER}:
            return None  # unknown, as Doc 9303 writes it
        if not text.isdigit():
            self.invalid_fields.append(field)
            return None
        two_digit_year, month, day = int(text[:2]), int(text[2:4]), int(text[4:])
        try:
            if field == "birth_date":
                return _birth_date(two_digit_year, month, day, reference)
            return _expiry_date(two_digit_year, month, day, reference)
        except ValueError:
            self.invalid_fields.append(field)
            return None

    def sex(self, span: _Span) -> str:
        sex = self.text(span)
        if sex == FILLER:
            return "X"
        if sex not in ("M", "F", "X"):
            self.invalid_fields.append("sex")
        return sex


def _birth_date(two_digit_year: int, month: int, day: int, reference: date) -> date:
    """19xx above the reference's two-digit year, else 20xx; never after the reference."""
    century = 1900 if two_digit_year > reference.year % 100 else 2000
    born = date(century + two_digit_year, month, day)
    if born > reference and century == 2000:
        born = date(1900 + two_digit_year, month, day)
    return born


def _expiry_date(two_digit_year: int, month: int, day: int, reference: date) -> date:
    """20xx, unless that is more than 50 years after the reference."""
    year = 2000 + two_digit_year
    if year - reference.year > 50:
        year -= 100
    return date(year, month, day)


def _readings(value: str, fillers: frozenset[int]) -> list[str]:
    """Every reading of ``value`` with OCR-confusable characters swapped, as read first."""
    options: list[tuple[str, ...]] = []
    for index, char in enumerate(value):
        swaps = _LETTERS_FOR_DIGIT.get(char, ())
        if char in _DIGIT_FOR_LETTER:
            swaps = (_DIGIT_FOR_LETTER[char],)
        if index in fillers and char == "X":
            swaps = (*swaps, FILLER)
        options.append((char, *swaps))
    if math.prod(len(option) for option in options) > _MAX_READINGS:
        return []
    return ["".join(reading) for reading in itertools.product(*options)][1:]


def misread_fillers(text: str, *, name: bool) -> frozenset[int]:
    """Positions of K and X in ``text`` that stand in its closing run of fillers.

    The run is the longest end of the field made of ``<``, K and X. In it a K
    or X is a filler when three fillers or more come before it, when it is one
    of three K/X or more in a row, or when one before it was a filler; a K or X
    joined to the last word (ERIK, ALEX) or after one or two fillers stays. In
    a name a second ``<<`` ends the name too (the first separates surname from
    given names).
    """
    end = len(text)
    start = end
    while start > 0 and text[start - 1] in "<KX":
        start -= 1
    seen_separator = name and "<<" in text[:start]
    fillers: set[int] = set()
    index = start
    gap = 0
    in_filler_run = False
    while index < end:
        if text[index] == FILLER:
            gap += 1
            index += 1
            continue
        token_end = index
        while token_end < end and text[token_end] in _FILLER_LOOKALIKES:
            token_end += 1
        joined = gap == 0 and index > 0
        is_filler = (
            in_filler_run
            or token_end - index >= 3
            or (not joined and gap >= 3)
            or (not joined and gap == 2 and seen_separator)
        )
        if is_filler:
            fillers.update(range(index, token_end))
            in_filler_run = True
        if gap >= 2:
            seen_separator = seen_separator or name
        gap = 0
        index = token_end
    return frozenset(fillers)


def _without_fillers(text: str, positions: frozenset[int]) -> str:
    return "".join(FILLER if i in positions else c for i, c in enumerate(text))


def _name_parts(field: str) -> tuple[str, str]:
    primary, _, secondary = field.partition("<<")
    return _words(primary), _words(secondary)


def _words(part: str) -> str:
    return " ".join(word for word in part.split(FILLER) if word)


def _code(text: str) -> str:
    return text.rstrip(FILLER)


def _optional(text: str) -> str:
    return text.strip(FILLER)


def _clean(text_or_lines: str | Sequence[str]) -> list[str]:
    raw = text_or_lines.splitlines() if isinstance(text_or_lines, str) else list(text_or_lines)
    return [cleaned for cleaned in ("".join(line.split()).upper() for line in raw) if cleaned]


def _layout(lines: list[str]) -> Layout:
    if not lines:
        raise MrzError("no MRZ lines")
    lengths = [len(line) for line in lines]
    described = f"{len(lines)} line{'s' if len(lines) != 1 else ''} of " + ", ".join(
        str(length) for length in lengths
    )
    if len(lines) == 3:
        length = 30
    elif len(lines) == 2:
        known = [n for n in lengths if n in (36, 44)]
        if known:
            length = known[0]
        elif abs(lengths[0] - 36) <= 3 or abs(lengths[0] - 44) <= 3:
            length = 36 if abs(lengths[0] - 36) <= 3 else 44
        else:
            raise MrzError(f"not an MRZ of a known layout ({described}): expected {_KNOWN_LAYOUTS}")
    else:
        raise MrzError(f"not an MRZ of a known layout ({described}): expected {_KNOWN_LAYOUTS}")
    if len(lines) == 3 and all(abs(n - 30) > 3 for n in lengths):
        raise MrzError(f"not an MRZ of a known layout ({described}): expected {_KNOWN_LAYOUTS}")
    names = "/".join(_LINE_LENGTHS[length])
    for number, line in enumerate(lines, start=1):
        if len(line) != length:
            raise MrzError(
                f"line {number} has {len(line)} characters; a {names} line has {length}",
                line=number,
            )
        bad = _NOT_ALLOWED.findall(line)
        if bad:
            raise MrzError(
                f"line {number} has characters an MRZ does not: {''.join(dict.fromkeys(bad))!r}"
                " (only A-Z, 0-9 and <)",
                line=number,
            )
    visa = lines[0][0] == "V"
    if length == 30:
        return "TD1"
    if length == 36:
        return "MRVB" if visa else "TD2"
    return "MRVA" if visa else "TD3"


def parse_mrz(text_or_lines: str | Sequence[str], *, reference: date) -> MrzDocument:
    """The document an MRZ describes; MrzError when it has no known layout.

    ``text_or_lines``: the zone's lines (or one text of them); whitespace is
    dropped and letters upper-cased. ``reference`` decides the century of
    two-digit years (usually today). A failing check digit makes the document
    invalid; it is not an error.
    """
    lines = _clean(text_or_lines)
    layout = _layout(lines)
    zone = _Zone(lines)
    if layout == "TD1":
        return _td1(zone, reference)
    return _two_line(zone, layout, reference)


def _name(zone: _Zone, span: _Span) -> tuple[str, str]:
    read = zone.text(span)
    as_letters = "".join(_LETTER_FOR_DIGIT.get(c, c) for c in read)
    cleaned = _without_fillers(as_letters, misread_fillers(as_letters, name=True))
    zone.write(cleaned, span)
    surname, given_names = _name_parts(cleaned)
    read_surname, read_given_names = _name_parts(read)
    if surname != read_surname:
        zone.corrections.append(Correction("surname", read_surname, surname))
    if given_names != read_given_names:
        zone.corrections.append(Correction("given_names", read_given_names, given_names))
    return surname, given_names


def _optional_fillers(zone: _Zone, field: str, span: _Span) -> frozenset[int]:
    """Restores misread K fillers of an optional field; the X ones are left to a check digit.

    K weighs 20 and ``<`` 0, the same modulo 10: no check digit tells them
    apart, so only their place decides. X weighs 33: a check digit can.
    """
    read = zone.text(span)
    fillers = misread_fillers(read, name=False)
    zone.correct(
        field,
        "".join(FILLER if i in fillers and c == "K" else c for i, c in enumerate(read)),
        span,
    )
    return frozenset(i for i in fillers if read[i] == "X")


def _document_number(
    zone: _Zone, number: _Span, digit_at: _Span, optional: _Span
) -> tuple[str, _Span]:
    """The document number, continued in the optional data when longer than nine.

    Doc 9303 part 5, 4.2.4 note j: the check digit's place holds ``<``, and the
    optional data starts with the rest of the number and its check digit.
    Returns the number and what is left of the optional data.
    """
    line, start, end = optional
    rest = zone.text(optional)
    if zone.text(digit_at) == FILLER and zone.text(number)[-1] != FILLER and rest[0] != FILLER:
        length = rest.index(FILLER) if FILLER in rest else len(rest)
        continued = (line, start, start + length - 2)
        spans = [number] if length == 1 else [number, continued]
        zone.verify(
            "document_number",
            spans,
            (line, start + length - 1, start + length - 1),
            correctable=True,
        )
        return zone.text(*spans).rstrip(FILLER), (line, start + length, end)
    zone.verify("document_number", [number], digit_at, correctable=True)
    return zone.text(number).rstrip(FILLER), optional


def _td1(zone: _Zone, reference: date) -> MrzDocument:
    document_type = _code(zone.letters("document_type", (1, 1, 2)))
    issuing_state = _code(zone.letters("issuing_state", (1, 3, 5)))
    _optional_fillers(zone, "optional_data", (1, 16, 30))
    _optional_fillers(zone, "optional_data", (2, 19, 29))
    document_number, optional_1 = _document_number(zone, (1, 6, 14), (1, 15, 15), (1, 16, 30))
    birth_date = zone.birth_or_expiry("birth_date", (2, 1, 6), reference)
    zone.verify("birth_date", [(2, 1, 6)], (2, 7, 7))
    sex = zone.sex((2, 8, 8))
    expiry_date = zone.birth_or_expiry("expiry_date", (2, 9, 14), reference)
    zone.verify("expiry_date", [(2, 9, 14)], (2, 15, 15))
    nationality = _code(zone.letters("nationality", (2, 16, 18)))
    zone.verify("composite", [(1, 6, 30), (2, 1, 7), (2, 9, 15), (2, 19, 29)], (2, 30, 30))
    surname, given_names = _name(zone, (3, 1, 30))
    optional = " ".join(
        part
        for part in (_optional(zone.text(optional_1)), _optional(zone.text((2, 19, 29))))
        if part
    )
    return _document(
        zone,
        "TD1",
        document_type=document_type,
        issuing_state=issuing_state,
        surname=surname,
        given_names=given_names,
        document_number=document_number,
        nationality=nationality,
        birth_date=birth_date,
        sex=sex,
        expiry_date=expiry_date,
        personal_number=optional,
    )


def _two_line(zone: _Zone, layout: Layout, reference: date) -> MrzDocument:
    width = len(zone.lines[0])
    document_type = _code(zone.letters("document_type", (1, 1, 2)))
    issuing_state = _code(zone.letters("issuing_state", (1, 3, 5)))
    surname, given_names = _name(zone, (1, 6, width))
    has_composite = layout in ("TD2", "TD3")
    optional_end = width - 2 if layout == "TD3" else width - 1 if has_composite else width
    optional_span = (2, 29, optional_end)
    x_fillers = _optional_fillers(
        zone, "personal_number" if layout == "TD3" else "optional_data", optional_span
    )
    if layout == "TD2":
        document_number, optional_span = _document_number(zone, (2, 1, 9), (2, 10, 10), (2, 29, 35))
    else:
        zone.verify("document_number", [(2, 1, 9)], (2, 10, 10), correctable=True)
        document_number = zone.text((2, 1, 9)).rstrip(FILLER)
    nationality = _code(zone.letters("nationality", (2, 11, 13)))
    birth_date = zone.birth_or_expiry("birth_date", (2, 14, 19), reference)
    zone.verify("birth_date", [(2, 14, 19)], (2, 20, 20))
    sex = zone.sex((2, 21, 21))
    expiry_date = zone.birth_or_expiry("expiry_date", (2, 22, 27), reference)
    zone.verify("expiry_date", [(2, 22, 27)], (2, 28, 28))
    if layout == "TD3":
        zone.verify(
            "personal_number",
            [optional_span],
            (2, 43, 43),
            may_be_empty=True,
            correctable=True,
            fillers=x_fillers,
        )
    if has_composite:
        zone.verify("composite", [(2, 1, 10), (2, 14, 20), (2, 22, width - 1)], (2, width, width))
    return _document(
        zone,
        layout,
        document_type=document_type,
        issuing_state=issuing_state,
        surname=surname,
        given_names=given_names,
        document_number=document_number,
        nationality=nationality,
        birth_date=birth_date,
        sex=sex,
        expiry_date=expiry_date,
        personal_number=_optional(zone.text(optional_span)),
    )


def _document(zone: _Zone, layout: Layout, **fields: Any) -> MrzDocument:
    return MrzDocument(
        layout=layout,
        checks=tuple(zone.checks),
        corrections=tuple(zone.corrections),
        invalid_fields=tuple(zone.invalid_fields),
        valid=all(check.valid for check in zone.checks) and not zone.invalid_fields,
        **fields,
    )


__all__ = [
    "FILLER",
    "CheckDigit",
    "Correction",
    "Layout",
    "MrzDocument",
    "MrzError",
    "check_digit",
    "misread_fillers",
    "parse_mrz",
]
