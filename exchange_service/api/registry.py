"""RegistryService: immigration officers record persons, stays, addresses and sightings."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc

from exchange_service.api import convert
from exchange_service.domain.call import caller_view
from exchange_service.domain.disclosure import disclose
from exchange_service.domain.errors import FieldViolation, InvalidInput, NotFound, PantauError
from exchange_service.services import Registry

# A lodging batch larger than this is cut off with an error, not buffered.
MAX_REPORTS_PER_IMPORT = 100_000


class RegistryServicer(r_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def RegisterPerson(
        self, request: r.RegisterPersonRequest, context: grpc.ServicerContext
    ) -> pb.Person:
        person = self._registry.register_person(convert.register_person(request))
        return convert.person_pb(disclose(person, caller_view()))

    def AddTravelDocument(
        self, request: r.AddTravelDocumentRequest, context: grpc.ServicerContext
    ) -> pb.Person:
        person = self._registry.add_travel_document(convert.add_travel_document(request))
        return convert.person_pb(disclose(person, caller_view()))

    def RecordEntry(self, request: r.RecordEntryRequest, context: grpc.ServicerContext) -> pb.Stay:
        stay = self._registry.record_entry(convert.record_entry(request))
        return convert.stay_pb(disclose(stay, caller_view()))

    def ExtendPermit(
        self, request: r.ExtendPermitRequest, context: grpc.ServicerContext
    ) -> pb.Stay:
        stay = self._registry.extend_permit(convert.extend_permit(request))
        return convert.stay_pb(disclose(stay, caller_view()))

    def RecordExit(self, request: r.RecordExitRequest, context: grpc.ServicerContext) -> pb.Stay:
        stay = self._registry.record_exit(convert.record_exit(request))
        return convert.stay_pb(disclose(stay, caller_view()))

    def ReportAddress(
        self, request: r.ReportAddressRequest, context: grpc.ServicerContext
    ) -> pb.AddressRecord:
        record = self._registry.report_address(convert.report_address(request))
        return convert.address_record_pb(disclose(record, caller_view()))

    def RecordSighting(
        self, request: r.RecordSightingRequest, context: grpc.ServicerContext
    ) -> pb.Sighting:
        sighting, _is_new = self._registry.record_sighting(convert.record_sighting(request))
        return convert.sighting_pb(disclose(sighting, caller_view()))

    def ImportLodgingReports(
        self, request_iterator: Iterator[r.LodgingReport], context: grpc.ServicerContext
    ) -> r.ImportSummary:
        summary = r.ImportSummary()
        for index, report in enumerate(request_iterator):
            if index >= MAX_REPORTS_PER_IMPORT:
                summary.rejected += 1
                summary.rejections.add(
                    index=index,
                    lodging_id=report.lodging_id,
                    reference=report.reference,
                    reason=f"a batch holds at most {MAX_REPORTS_PER_IMPORT} reports",
                )
                continue
            try:
                if not report.lodging_id.strip():
                    raise InvalidInput([FieldViolation("lodging_id", "is required")])
                _sighting, is_new = self._registry.record_sighting(convert.lodging_sighting(report))
            except PantauError as error:
                field, reason = _rejection(error, report)
                summary.rejected += 1
                summary.rejections.add(
                    index=index,
                    lodging_id=report.lodging_id,
                    reference=report.reference,
                    field=field,
                    reason=reason,
                )
                continue
            if is_new:
                summary.accepted += 1
            else:
                summary.duplicates += 1
        return summary


# Sighting fields named as the LodgingReport fields they come from.
_LODGING_FIELDS = {"subject": "document", "source": "event", "observed_at": "occurred_at"}


def _lodging_field(sighting_field: str) -> str:
    head, dot, rest = sighting_field.partition(".")
    return _LODGING_FIELDS.get(head, head) + dot + rest


def _rejection(error: PantauError, report: r.LodgingReport) -> tuple[str, str]:
    """The LodgingReport field at fault and why, from a sighting's error."""
    if isinstance(error, InvalidInput):
        fields = [(_lodging_field(v.field), v.description) for v in error.violations]
        return fields[0][0], "; ".join(f"{field}: {why}" for field, why in fields)
    if isinstance(error, NotFound):
        doc = report.document
        return "document", f"no registered person holds document {doc.issuing_state} {doc.number}"
    return "", error.message
