"""The registry's writes: persons, documents, stays, permits, addresses and sightings.

Each use case validates a command as the API received it, then works in one
transaction of the unit of work; it returns domain values or raises a
``PantauError``, and a rejected command writes nothing.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import date, timedelta, tzinfo
from typing import TypeVar

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain import validation as valid
from exchange_service.domain.call import calling_officer, note_person_touched
from exchange_service.domain.clock import Clock, local_today, system_clock
from exchange_service.domain.errors import (
    AlreadyExists,
    DeadlineExceeded,
    FailedPrecondition,
    FieldViolation,
    InvalidInput,
    NotFound,
    PantauError,
    PreconditionViolation,
    SightingReferenceTaken,
    StayAlreadyOpen,
    Unavailable,
)
from exchange_service.domain.mrz import fill_registration, read_mrz
from exchange_service.domain.permits import (
    PermitLimitExcess,
    PermitLimitKind,
    PermitLimits,
    limits_exceeded,
)
from exchange_service.services.common import (
    PERSON,
    STAY,
    document_not_found,
    person_not_found,
)
from exchange_service.services.ports import UnitOfWork
from watchlist.mrz import MrzDocument
from watchlist.names import search_key

T = TypeVar("T")


@dataclass(frozen=True)
class RegistryOptions:
    """What the registry's rules take from the settings."""

    # Citizens of this country (ISO 3166-1 alpha-3) are not foreigners.
    home_country: str
    # The office's timezone: "today" and the day of entry are its days.
    timezone: tzinfo
    # A lodging batch ends once this many reports are read: none after them is read.
    max_reports_per_import: int
    # A batch's summary lists this many rejections at most (all are counted).
    max_rejections_listed: int
    # What each type of permit allows in one stay; extensions may not go over it.
    permit_limits: PermitLimits


def _present(value: T | None) -> T:
    """A record read inside the transaction that locked it must be there."""
    if value is None:
        raise RuntimeError("a record vanished inside its own transaction")
    return value


def _same_identity(a: model.Identity, b: model.Identity) -> bool:
    return (
        search_key(a.family_name) == search_key(b.family_name)
        and search_key(a.given_names) == search_key(b.given_names)
        and a.nationality == b.nationality
        and a.birth_date == b.birth_date
        and a.sex == b.sex
    )


class Registry:
    """Writes of immigration officers, and the lodging reports' batch import.

    A person is one identity holding documents no one else holds; a person
    has at most one open stay, entered after their last exit; a permit is
    extended only later, without a gap and within its type's limits;
    addresses and sightings are added, never changed, each with the time it
    was reported (given by an import, else the time of receipt) and the time
    Pantau received it.
    """

    def __init__(
        self, uow: UnitOfWork, options: RegistryOptions, clock: Clock = system_clock
    ) -> None:
        self._uow = uow
        self._options = options
        self._clock = clock

    def register_person(self, request: cmd.RegisterPerson) -> model.Person:
        """The person holding the documents: registered now, or found (and given the new ones).

        Refused if the documents belong to different persons, or a known one
        to a person of another identity.
        """
        return self.register_person_read(request)[0]

    def register_person_read(
        self, request: cmd.RegisterPerson
    ) -> tuple[model.Person, MrzDocument | None]:
        """As ``register_person``, and the MRZ as read when the request carries one: it fills
        what the request leaves empty (``domain/mrz.py``)."""
        today = local_today(self._clock, self._options.timezone)
        reading = None
        if request.mrz:
            reading = read_mrz(request.mrz, today)
            request = fill_registration(request, reading)
        return self._register(request, today), reading

    def _register(self, request: cmd.RegisterPerson, today: date) -> model.Person:
        identity, documents = valid.valid_registration(request, today, self._options.home_country)
        with self._uow.begin() as tx:
            store = tx.registry
            store.lock_documents(documents)
            owners = store.owners_of(documents)
            existing_ids = set(owners.values())
            if len(existing_ids) > 1:
                raise AlreadyExists(
                    "the documents belong to different registered persons",
                    reason="DOCUMENTS_OF_DIFFERENT_PERSONS",
                    resource_type=PERSON,
                    resource_name=", ".join(f"persons/{i}" for i in sorted(map(str, existing_ids))),
                    metadata={"person_ids": ",".join(sorted(map(str, existing_ids)))},
                )
            if not existing_ids:
                return store.add_person(identity, documents, calling_officer())
            (person_id,) = existing_ids
            existing = _present(store.person(person_id))
            if not _same_identity(existing.identity, identity):
                state, number = next(iter(owners))
                raise AlreadyExists(
                    f"document {state} {number} is registered to another identity",
                    reason="DOCUMENT_REGISTERED_TO_OTHER_IDENTITY",
                    resource_type=PERSON,
                    resource_name=f"persons/{person_id}",
                    metadata={"person_id": str(person_id)},
                )
            new = tuple(d for d in documents if (d.issuing_state, d.number) not in owners)
            store.add_documents(person_id, new)
        return replace(existing, documents=existing.documents + new)

    def add_travel_document(self, request: cmd.AddTravelDocument) -> model.Person:
        """The person with the document added; refused if another person holds it."""
        person_id, document = valid.valid_document_addition(request)
        with self._uow.begin() as tx:
            store = tx.registry
            if not store.lock_person(person_id):
                raise person_not_found(person_id)
            store.lock_documents([document])
            owner = store.owners_of([document]).get((document.issuing_state, document.number))
            if owner is not None and owner != person_id:
                raise AlreadyExists(
                    f"document {document.issuing_state} {document.number} "
                    "belongs to another person",
                    reason="DOCUMENT_REGISTERED_TO_OTHER_IDENTITY",
                    resource_type=PERSON,
                    resource_name=f"persons/{owner}",
                    metadata={"person_id": str(owner)},
                )
            if owner is None:
                store.add_documents(person_id, [document])
            return _present(store.person(person_id))

    def record_entry(self, request: cmd.RecordEntry) -> model.Stay:
        """A new open stay; refused while one is open or if it entered before the last exit."""
        person_id, port, entered_at, permit = valid.valid_entry(
            request, self._clock(), self._options.timezone
        )
        with self._uow.begin() as tx:
            store = tx.registry
            if not store.lock_person(person_id):
                raise person_not_found(person_id)
            open_stay = store.open_stay_id(person_id)
            if open_stay is not None:
                raise StayAlreadyOpen(
                    f"stays/{open_stay}", "the person has an open stay; record the exit first"
                )
            last_exit = store.latest_stay_exit(person_id)
            if last_exit is not None and entered_at < last_exit:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "ENTRY_BEFORE_LAST_EXIT",
                            f"persons/{person_id}",
                            "entered_at is before the last recorded exit "
                            f"({last_exit.isoformat()})",
                        )
                    ]
                )
            return store.add_stay(person_id, port, entered_at, permit)

    def extend_permit(self, request: cmd.ExtendPermit) -> model.Stay:
        """The open stay with a next permit period that starts within and ends after the current.

        Refused (PERMIT_LIMIT_EXCEEDED) if the stay's periods of the new
        period's type would then go over that type's limits.
        """
        stay_id, permit = valid.valid_extension(request)
        with self._uow.begin() as tx:
            store = tx.registry
            stay = store.lock_stay(stay_id)
            if stay is None:
                raise NotFound(STAY, f"stays/{stay_id}", "stay_id")
            if not stay.is_open:
                raise FailedPrecondition(
                    [PreconditionViolation("STAY_CLOSED", f"stays/{stay_id}", "the stay has ended")]
                )
            current = stay.permit
            if permit.valid_until <= current.valid_until:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "EXTENSION_NOT_LATER",
                            f"stays/{stay_id}",
                            f"permit.valid_until must be after the current period's end "
                            f"({current.valid_until.isoformat()})",
                        )
                    ]
                )
            if (
                not current.valid_from
                < permit.valid_from
                <= current.valid_until + timedelta(days=1)
            ):
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "EXTENSION_NOT_CONTIGUOUS",
                            f"stays/{stay_id}",
                            "permit.valid_from must fall after the current period's start "
                            f"({current.valid_from.isoformat()}) and no later than the day "
                            f"after its end ({current.valid_until.isoformat()})",
                        )
                    ]
                )
            excesses = limits_exceeded(
                (*stay.permits, permit), self._options.permit_limits, permit.type
            )
            if excesses:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "PERMIT_LIMIT_EXCEEDED", f"stays/{stay_id}", _extension_refusal(excess)
                        )
                        for excess in excesses
                    ]
                )
            added = store.add_permit(stay_id, permit, sequence=len(stay.permits) + 1)
        return replace(stay, permits=(*stay.permits, added))

    def record_exit(self, request: cmd.RecordExit) -> model.Stay:
        """The person's open stay, closed; refused if none is open or the exit precedes it."""
        person_id, port, exited_at = valid.valid_exit(request, self._clock())
        with self._uow.begin() as tx:
            store = tx.registry
            if not store.lock_person(person_id):
                raise person_not_found(person_id)
            stay = store.open_stay(person_id)
            if stay is None:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "NO_OPEN_STAY", f"persons/{person_id}", "the person has no open stay"
                        )
                    ]
                )
            if exited_at < stay.entered_at:
                raise FailedPrecondition(
                    [
                        PreconditionViolation(
                            "EXIT_BEFORE_ENTRY",
                            f"stays/{stay.id}",
                            f"exited_at is before the entry ({stay.entered_at.isoformat()})",
                        )
                    ]
                )
            return store.close_stay(stay, port, exited_at)

    def report_address(self, request: cmd.ReportAddress) -> model.AddressRecord:
        """The address as recorded and placed; current unless a later move is known already."""
        received_at = self._clock()
        report = valid.valid_address_report(request, received_at, self._options.timezone)
        with self._uow.begin() as tx:
            store = tx.registry
            if not store.lock_person(report.person_id):
                raise person_not_found(report.person_id)
            address_id = store.add_address(
                report.person_id,
                report.address,
                report.effective_from,
                reported_at=report.reported_at,
                recorded_at=received_at,
            )
            return store.address_record(address_id)

    def record_sighting(self, request: cmd.RecordSighting) -> tuple[model.Sighting, bool]:
        """The sighting, and whether it is new (False: the same report came before)."""
        received_at = self._clock()
        sighting = valid.valid_sighting(request, received_at)
        with self._uow.begin() as tx:
            store = tx.registry
            if sighting.person_id is not None:
                person_id = sighting.person_id
                if not store.lock_person(person_id):
                    raise person_not_found(person_id)
            else:
                document = _present(sighting.document)
                found = store.person_id_by_document(document)
                if found is None:
                    raise document_not_found(document)
                person_id = found
            sighting_id, is_new = store.add_sighting(
                person_id,
                location=sighting.location,
                observed_at=sighting.observed_at,
                source=sighting.source,
                reference=sighting.reference,
                place_name=sighting.place_name,
                reported_at=sighting.reported_at,
                recorded_at=received_at,
            )
            note_person_touched(str(person_id))
            return store.sighting(sighting_id), is_new

    def lodging_import(self) -> LodgingImport:
        """A new lodging batch, fed report by report as the stream brings them."""
        return LodgingImport(self, self._options)

    def import_lodging_reports(self, reports: Iterable[cmd.LodgingReport]) -> model.ImportSummary:
        """Records each report as a sighting of its own; a bad report never stops the batch.

        Each report is its own transaction. Reading stops at the batch's cap:
        no report after it is taken from ``reports``, and the summary says so.
        """
        batch = self.lodging_import()
        batch.add_all(reports)
        return batch.summary()


class LodgingImport:
    """One lodging batch as its reports arrive, and what became of them.

    Each report added is recorded as a sighting in its own transaction,
    counted as a repeat, or rejected with its reason before ``add`` returns,
    so nothing is buffered and the summary counts every sighting committed.
    Once ``full`` (the batch's cap of reports read) the caller reads no more
    and answers with ``summary()``, whose size is bounded whatever arrived
    (``model.import_summary_max_bytes``). The calls may come from one thread
    after another (a chunk of the stream per worker thread); a lock keeps them
    one at a time.
    """

    def __init__(self, registry: Registry, options: RegistryOptions) -> None:
        self._registry = registry
        self._cap = options.max_reports_per_import
        self._listed_cap = options.max_rejections_listed
        self._lock = threading.Lock()
        self._read = 0
        self._accepted = 0
        self._duplicates = 0
        self._listed: list[model.RejectedLodgingReport] = []
        self._counts: dict[tuple[str, model.RejectionReason], int] = {}

    @property
    def full(self) -> bool:
        """The batch's cap of reports is read: the caller stops reading and answers."""
        with self._lock:
            return self._read >= self._cap

    def add(self, report: cmd.LodgingReport) -> None:
        """Records or rejects one report; RuntimeError once ``full`` (the caller was to stop)."""
        with self._lock:
            if self._read >= self._cap:
                raise RuntimeError(f"a lodging batch holds at most {self._cap} reports")
            index = self._read
            self._read += 1
            try:
                if report.unreadable:
                    raise InvalidInput(list(report.unreadable))
                if not report.lodging_id.strip():
                    raise InvalidInput([FieldViolation("lodging_id", "is required")])
                _sighting, is_new = self._registry.record_sighting(cmd.lodging_sighting(report))
            except PantauError as error:
                self._reject(index, report, error)
                return
            if is_new:
                self._accepted += 1
            else:
                self._duplicates += 1

    def add_all(self, reports: Iterable[cmd.LodgingReport]) -> None:
        """Adds reports until they end or the batch is full; none is taken from them after that."""
        if self.full:
            return
        for report in reports:
            self.add(report)
            if self.full:
                return

    def summary(self) -> model.ImportSummary:
        """What became of every report read so far; rejections listed up to the office's cap."""
        with self._lock:
            return model.ImportSummary(
                accepted=self._accepted,
                duplicates=self._duplicates,
                rejections=tuple(self._listed),
                rejection_counts=tuple(
                    model.RejectionCount(field, reason, count)
                    for (field, reason), count in self._counts.items()
                ),
                reached_cap=self._read >= self._cap,
            )

    def _reject(self, index: int, report: cmd.LodgingReport, error: PantauError) -> None:
        field, reason, code = _rejection(error, report)
        self._counts[field, code] = self._counts.get((field, code), 0) + 1
        if len(self._listed) < self._listed_cap:
            self._listed.append(
                model.RejectedLodgingReport(
                    index,
                    _cut(report.lodging_id, model.REJECTION_ECHO_MAX_BYTES),
                    _cut(report.reference, model.REJECTION_ECHO_MAX_BYTES),
                    field,
                    _cut(reason, model.REJECTION_REASON_MAX_BYTES),
                    code,
                )
            )


def _extension_refusal(excess: PermitLimitExcess) -> str:
    """Why an extension is refused: the type, its limit, and what the extension would make."""
    kind = excess.permit_type.value
    if excess.kind is PermitLimitKind.TOTAL_DAYS:
        return (
            f"with this extension the stay's {kind} periods would cover {excess.actual} days"
            f" ({excess.first_day.isoformat()} to {excess.last_day.isoformat()}), over the"
            f" {kind} limit of {excess.allowed} days in all (setting {excess.setting})"
        )
    return (
        f"this would be extension {excess.actual} of the stay's {kind} permit, over the {kind}"
        f" limit of {excess.allowed} extension{'' if excess.allowed == 1 else 's'}"
        f" (setting {excess.setting})"
    )


# Sighting fields named as the LodgingReport fields they come from.
_LODGING_FIELDS = {
    "subject": "document",
    "source": "event",
    "observed_at": "occurred_at",
    "place_name": "lodging_name",
}


def _lodging_field(sighting_field: str) -> str:
    """The LodgingReport field at fault: one of ``model.LODGING_REPORT_FIELDS``, or ""."""
    head, dot, rest = sighting_field.partition(".")
    head = _LODGING_FIELDS.get(head, head)
    path = head + dot + rest
    if path in model.LODGING_REPORT_FIELDS:
        return path
    return head if head in model.LODGING_REPORT_FIELDS else ""


def _rejection(
    error: PantauError, report: cmd.LodgingReport
) -> tuple[str, str, model.RejectionReason]:
    """The LodgingReport field at fault, why, and the reason's code, from a sighting's error."""
    reason = model.RejectionReason
    if isinstance(error, InvalidInput):
        fields = [(_lodging_field(v.field), v.field, v.description) for v in error.violations]
        text = "; ".join(
            f"{field or path}: {why}" if field or path else why for field, path, why in fields
        )
        return fields[0][0], text, reason.INVALID_FIELD
    if isinstance(error, NotFound):
        document = report.document or cmd.RawDocument("", "")
        return (
            "document",
            f"no registered person holds document {document.issuing_state} {document.number}",
            reason.UNKNOWN_DOCUMENT,
        )
    if isinstance(error, SightingReferenceTaken):
        return "reference", error.message, reason.REFERENCE_TAKEN
    if isinstance(error, (Unavailable, DeadlineExceeded)):
        return "", error.message, reason.UNAVAILABLE
    return "", error.message, reason.REFUSED


_ELLIPSIS = "…"


def _cut(text: str, max_bytes: int) -> str:
    """``text`` in at most ``max_bytes`` of UTF-8: whole if it fits, else cut and ending in "…".

    The cut falls between characters, never inside one.
    """
    encoded = text.encode("utf-8", "replace")
    if len(encoded) <= max_bytes:
        return encoded.decode("utf-8")
    room = max_bytes - len(_ELLIPSIS.encode("utf-8"))
    return encoded[:room].decode("utf-8", "ignore") + _ELLIPSIS
