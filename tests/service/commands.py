"""Valid commands as the API would hand them to the use cases; dates relative to a given day."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from exchange_service.domain import commands as cmd
from exchange_service.domain.model import PermitType, Sex, SightingSource
from tests.factories import document_number

TAREMPA = cmd.RawPoint(3.2166, 106.2211)  # Terempa, district Siantan
MATAK = cmd.RawPoint(3.3184, 106.2425)  # Kute Siantan, on Matak island
BATAM = cmd.RawPoint(1.0456, 104.0305)  # outside the regency


def parts(day: date) -> cmd.DateParts:
    return cmd.DateParts(day.year, day.month, day.day)


def document(number: str | None = None, state: str = "VNM") -> cmd.RawDocument:
    return cmd.RawDocument(state, number or document_number())


def registration(
    family: str = "Nguyen",
    given: str = "Van An",
    nationality: str = "VNM",
    *,
    born: date = date(1988, 3, 14),
    documents: tuple[cmd.RawDocument, ...] | None = None,
) -> cmd.RegisterPerson:
    return cmd.RegisterPerson(
        family_name=family,
        given_names=given,
        nationality=nationality,
        birth_date=parts(born),
        sex=Sex.MALE,
        documents=documents or (document(state=nationality),),
    )


def permit(
    today: date,
    *,
    starts: int = -1,
    ends: int = 30,
    number: str = "VOA-1",
    kind: PermitType = PermitType.VOA,
) -> cmd.RawPermit:
    """A permit from ``starts`` days to ``ends`` days from ``today``, both included."""
    return cmd.RawPermit(
        permit_number=number,
        type=kind,
        valid_from=parts(today + timedelta(days=starts)),
        valid_until=parts(today + timedelta(days=ends)),
        sponsor="PT Anambas Bahari",
        purpose="tourism",
    )


def entry(person_id: object, at: datetime, permit: cmd.RawPermit) -> cmd.RecordEntry:
    return cmd.RecordEntry(str(person_id), "IDTRE", at, permit)


def exit_at(person_id: object, at: datetime) -> cmd.RecordExit:
    return cmd.RecordExit(str(person_id), "MWK", at)


def address(
    person_id: object,
    effective: date,
    at: cmd.RawPoint = TAREMPA,
    line: str = "Jl. Hang Tuah 7",
    *,
    reported_at: datetime | None = None,
) -> cmd.ReportAddress:
    return cmd.ReportAddress(str(person_id), line, at, parts(effective), reported_at)


def police_check(
    observed_at: datetime,
    *,
    person_id: object | None = None,
    held: cmd.RawDocument | None = None,
    reference: str = "",
    reported_at: datetime | None = None,
) -> cmd.RecordSighting:
    """A police check of a person named by id or by the document they held."""
    return cmd.RecordSighting(
        person_id=None if person_id is None else str(person_id),
        document=held,
        location=cmd.RawPoint(2.9941, 105.7065),
        observed_at=observed_at,
        source=SightingSource.POLICE_CHECK,
        reference=reference,
        place_name="Pelabuhan Letung",
        reported_at=reported_at,
    )


def lodging_report(
    number: str, receipt: str, occurred_at: datetime | None, **changes: Any
) -> cmd.LodgingReport:
    """A guest's check-in at a Tarempa lodging, with ``changes`` to its fields."""
    report = cmd.LodgingReport(
        lodging_id="APOA-2105-0042",
        lodging_name="Wisma Tarempa Indah",
        location=cmd.RawPoint(3.2171, 106.2213),
        event=SightingSource.LODGING_CHECK_IN,
        document=cmd.RawDocument("VNM", number),
        occurred_at=occurred_at,
        reference=receipt,
    )
    return replace(report, **changes)
