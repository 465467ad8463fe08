"""Valid requests with unique documents, and readers of google.rpc error details."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

import grpc
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from google.type.date_pb2 import Date
from grpc_status import rpc_status
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r

from tests.clock import CLOCK, WIB

TAREMPA_CENTRE = pb.GeoPoint(latitude=3.2166, longitude=106.2211)


def document_number() -> str:
    return "T" + secrets.token_hex(4).upper()


def person(
    family: str = "Nguyen",
    given: str = "Van An",
    nationality: str = "VNM",
    number: str | None = None,
) -> pb.Person:
    return pb.Person(
        family_name=family,
        given_names=given,
        nationality=nationality,
        birth_date=Date(year=1988, month=3, day=14),
        sex=pb.SEX_MALE,
        documents=[
            pb.TravelDocument(issuing_state=nationality, number=number or document_number())
        ],
    )


def timestamp(value: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(value)
    return stamp


def hours_ago(hours: float) -> Timestamp:
    return timestamp(CLOCK.now() - timedelta(hours=hours))


def date(value: datetime | None = None, *, days: int = 0) -> Date:
    """A calendar day in the office's local time (WIB), ``days`` from ``value`` or now."""
    day = (value or CLOCK.now()).astimezone(WIB).date() + timedelta(days=days)
    return Date(year=day.year, month=day.month, day=day.day)


def permit(
    days: int = 30, number: str = "VOA-1", kind: int = pb.PERMIT_TYPE_VOA, starts: int = -1
) -> pb.StayPermit:
    """A permit from ``starts`` days from today to ``days`` days from today."""
    return pb.StayPermit(
        permit_number=number,
        type=kind,  # type: ignore[arg-type]
        valid_from=date(days=starts),
        valid_until=date(days=days),
        sponsor="PT Anambas Bahari",
        purpose="tourism",
    )


def entry(person_id: str, hours: float = 2.0) -> r.RecordEntryRequest:
    return r.RecordEntryRequest(
        person_id=person_id, port_code="IDTRE", entered_at=hours_ago(hours), permit=permit()
    )


def address(
    person_id: str,
    lat: float,
    lon: float,
    days: int = 0,
    *,
    reported_at: Timestamp | None = None,
) -> r.ReportAddressRequest:
    """A move ``days`` from today (WIB); reported when the request says, if it says."""
    return r.ReportAddressRequest(
        person_id=person_id,
        address=pb.Address(
            line="Jl. Hang Tuah 7, Tarempa", location=pb.GeoPoint(latitude=lat, longitude=lon)
        ),
        effective_from=date(days=days),
        reported_at=reported_at,
    )


def field_violations(error: grpc.RpcError) -> dict[str, str]:
    status = rpc_status.from_call(error)
    assert status is not None, "the error carries no google.rpc.Status"
    violations: dict[str, str] = {}
    for detail in status.details:
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            bad = error_details_pb2.BadRequest()
            detail.Unpack(bad)
            violations.update({v.field: v.description for v in bad.field_violations})
    return violations


def error_info(error: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(error)
    assert status is not None
    for detail in status.details:
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            return info
    raise AssertionError("no ErrorInfo in the error details")


def precondition_violations(error: grpc.RpcError) -> list[tuple[str, str, str]]:
    """(type, subject, description) of each violation in the error's PreconditionFailure."""
    status = rpc_status.from_call(error)
    assert status is not None
    violations: list[tuple[str, str, str]] = []
    for detail in status.details:
        if detail.Is(error_details_pb2.PreconditionFailure.DESCRIPTOR):
            failure = error_details_pb2.PreconditionFailure()
            detail.Unpack(failure)
            violations.extend((v.type, v.subject, v.description) for v in failure.violations)
    return violations


def precondition_types(error: grpc.RpcError) -> list[str]:
    return [kind for kind, _subject, _description in precondition_violations(error)]
