"""A registration filled from the travel document's machine readable zone.

``watchlist.mrz`` reads the MRZ (ICAO 9303 TD1, TD2, TD3) and checks every check
digit; here a reading becomes the registration's person and document, or
``InvalidInput`` naming ``mrz`` (a layout it cannot read), ``mrz.checks.<check>``
(a check digit that fails, with the digit computed and the one found),
``mrz.<date>`` (a date that is no calendar date), or the request's field that
disagrees with what the MRZ says. Nothing is guessed: a field the request gives
must agree with the MRZ, and one it leaves empty is taken from it.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

from exchange_service.domain import commands as cmd
from exchange_service.domain.errors import FieldViolation, InvalidInput, Violations
from exchange_service.domain.model import Sex
from watchlist.documents import normalize_document_number
from watchlist.mrz import MrzDocument, MrzError, parse_mrz

# An MRZ is at most three lines of 44 characters; room for line breaks and spaces.
MRZ_MAX_LENGTH = 200

_SEXES = {"F": Sex.FEMALE, "M": Sex.MALE, "X": Sex.UNKNOWN}


def read_mrz(raw: str, today: date) -> MrzDocument:
    """The MRZ as read, every check digit and date holding; ``InvalidInput`` otherwise."""
    if len(raw) > MRZ_MAX_LENGTH:
        raise InvalidInput(
            [FieldViolation("mrz", f"is {len(raw)} characters; an MRZ has at most 132")]
        )
    try:
        reading = parse_mrz(raw, reference=today)
    except MrzError as error:
        where = f" (line {error.line})" if getattr(error, "line", None) else ""
        raise InvalidInput(
            [FieldViolation("mrz", f"is not an ICAO 9303 MRZ{where}: {error}")]
        ) from error
    v = Violations()
    for check in reading.checks:
        if not check.valid:
            v.add(
                f"mrz.checks.{check.field}",
                f"check digit {check.found!r} where {check.expected!r} is computed",
            )
    for name in reading.invalid_fields:
        v.add(f"mrz.{name}", "does not read (no calendar date, or no sex M, F or X)")
    if reading.birth_date is None and "birth_date" not in reading.invalid_fields:
        v.add("mrz.birth_date", "is unknown (fillers): a registration needs the birth year")
    if not reading.surname:
        v.add("mrz.surname", "is empty")
    if not reading.document_number:
        v.add("mrz.document_number", "is empty")
    v.raise_if_any()
    return reading


def _same_name(a: str, b: str) -> bool:
    return " ".join(a.upper().replace("-", " ").split()) == " ".join(
        b.upper().replace("-", " ").split()
    )


def _birth_parts(day: date | None) -> cmd.DateParts | None:
    return None if day is None else cmd.DateParts(day.year, day.month, day.day)


def fill_registration(request: cmd.RegisterPerson, reading: MrzDocument) -> cmd.RegisterPerson:
    """The registration with what the request left empty taken from the MRZ; a field the
    request gives must agree with it (``InvalidInput`` naming the field otherwise)."""
    v = Violations()

    def agree(path: str, given: str, read: str, same: bool) -> str:
        if given and not same:
            v.add(path, f"{given!r} differs from the MRZ's {read!r}")
        return given or read

    family = agree(
        "person.family_name",
        request.family_name,
        reading.surname,
        _same_name(request.family_name, reading.surname),
    )
    given = agree(
        "person.given_names",
        request.given_names,
        reading.given_names,
        _same_name(request.given_names, reading.given_names),
    )
    nationality = agree(
        "person.nationality",
        request.nationality,
        reading.nationality,
        request.nationality.upper() == reading.nationality,
    )
    birth = request.birth_date
    read_birth = _birth_parts(reading.birth_date)
    if birth is None or birth.is_empty:
        birth = read_birth
    elif read_birth is not None and birth != read_birth:
        v.add("person.birth_date", f"differs from the MRZ's {reading.birth_date}")
    sex = request.sex
    read_sex = _SEXES.get(reading.sex, Sex.UNKNOWN)
    if sex is None:
        sex = read_sex
    elif sex is not read_sex:
        v.add("person.sex", f"{sex.name} differs from the MRZ's {reading.sex or 'X'}")
    number = normalize_document_number(reading.document_number)
    document = cmd.RawDocument(reading.issuing_state, number, _birth_parts(reading.expiry_date))
    documents = request.documents
    if not any(
        d.issuing_state.upper() == reading.issuing_state
        and normalize_document_number(d.number) == number
        for d in documents
    ):
        documents = (document, *documents)
    v.raise_if_any()
    return replace(
        request,
        family_name=family,
        given_names=given,
        nationality=nationality,
        birth_date=birth,
        sex=sex,
        documents=documents,
        mrz="",
    )
