"""RegistryService: immigration officers record persons, stays, addresses and sightings."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc

from exchange_service.api.edge import Unreadable
from exchange_service.domain.call import caller_view
from exchange_service.domain.disclosure import disclose
from exchange_service.services import Registry
from exchange_service.wire import convert


class RegistryServicer(r_grpc.RegistryServiceServicer):
    def __init__(self, registry: Registry) -> None:
        self._registry = registry

    def RegisterPerson(
        self, request: r.RegisterPersonRequest, context: grpc.ServicerContext
    ) -> pb.Person:
        person, reading = self._registry.register_person_read(convert.register_person(request))
        answer = convert.person_pb(disclose(person, caller_view()))
        if reading is not None:
            answer.mrz_reading.CopyFrom(convert.mrz_reading_pb(reading))
        return answer

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
        """The method as the generated code names it; the edge serves ``open_lodging_import``."""
        stream = self.open_lodging_import()
        for request in request_iterator:
            if not stream.take([request]):
                break
        return stream.finish()

    def open_lodging_import(self) -> LodgingImportStream:
        """ImportLodgingReports as the server edge feeds it: chunks of reports as they arrive."""
        return LodgingImportStream(self._registry)


class LodgingImportStream:
    """One lodging batch as the edge feeds it, chunk by chunk on a worker.

    A message the edge could not read (unparseable, or over the cap of one
    message) is a rejected report; once the batch's cap is read, the edge
    stops reading and answers with the summary.
    """

    def __init__(self, registry: Registry) -> None:
        self._batch = registry.lodging_import()

    def take(self, messages: Sequence[r.LodgingReport | Unreadable]) -> bool:
        self._batch.add_all(
            convert.unreadable_lodging_report(m.reason)
            if isinstance(m, Unreadable)
            else convert.lodging_report(m)
            for m in messages
        )
        return not self._batch.full

    def finish(self) -> r.ImportSummary:
        return convert.import_summary_pb(disclose(self._batch.summary(), caller_view()))
