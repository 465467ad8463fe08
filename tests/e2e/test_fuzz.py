"""Every RPC, fed random and mutated bytes, answers as a client can act on and writes nothing.

For each RPC of every ``pantau.v1`` service (found in the generated
descriptors, so a new RPC is fuzzed without a change here) the test sends
random byte strings, from empty to a few KiB, and mutations of a valid
request (``tests/wire_fuzz.py``: bits flipped, bytes deleted, inserted or
duplicated, varints and lengths changed, unknown fields, wrong wire types,
invalid UTF-8), over raw mutual-TLS channels of an agency allowed to call it.
One module-scoped run, seeded (``PANTAU_FUZZ_SEED``, printed with every
failure); the tests then check what it saw:

* every answer's code is one a client can act on, never UNKNOWN, INTERNAL,
  UNAVAILABLE or DATA_LOSS, and RESOURCE_EXHAUSTED only with RetryInfo;
* no answer carries Python exception text, in its details, trailing metadata,
  status details or response;
* afterwards the server still serves, on the fuzzed channels and on a new one;
* the records are unchanged except for rows that calls answered OK name;
* the audit trail holds exactly one record per fuzzed call.

The base requests of the writes cannot succeed (they name an unknown person,
stay or alert, or a document registered to someone else), so that OK writes
are rare and each is accounted for by its response.
"""

from __future__ import annotations

import importlib
import json
import os
import pkgutil
import queue
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pantau.v1
import pytest
from google.protobuf import json_format, message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from google.protobuf.message import Message
from google.rpc import status_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pantau.v1 import alert_feed_service_pb2 as af
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from pantau.v1 import report_service_pb2 as rep
from sqlalchemy import Engine, text

from exchange_service import app
from exchange_service.api.access import AGENCY_SERVICES, RPC_ACTIONS
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.permissions import is_allowed
from exchange_service.settings import Settings
from exchange_service.storage.tables import Base
from tests import factories as f
from tests import wire_fuzz
from tests.conftest import AGENCIES, OFFICER_AND_PURPOSE

SEED = int(os.environ.get("PANTAU_FUZZ_SEED", "20261201"))
# Per RPC: random byte strings, and mutations of its valid base request.
RANDOM_CASES_PER_RPC = 60
MUTATED_CASES_PER_RPC = 140
# Messages in one client stream.
STREAM_LENGTHS = (0, 1, 1, 2, 3)
CALL_TIMEOUT_SECONDS = 10.0

ACTIONABLE = frozenset(
    {
        grpc.StatusCode.OK,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.OUT_OF_RANGE,
        grpc.StatusCode.RESOURCE_EXHAUSTED,  # with RetryInfo only
    }
)
RETRY_INFO = "google.rpc.RetryInfo"
STATUS_DETAILS_KEY = "grpc-status-details-bin"
# What Python puts in the text of an exception or its traceback.
EXCEPTION_TEXT = re.compile(
    r"Traceback|Exception|Error:|\b[A-Z][A-Za-z]*Error\b|could not convert|"
    r"object has no attribute|<class |<module>|\bline \d+|File \"|NoneType|"
    r"Error parsing message|Wire format was corrupt|psycopg|sqlalchemy|site-packages|\.py\b"
)
# Services whose RPCs only read: an OK answer of theirs accounts for no row.
READ_ONLY_SERVICES = frozenset({"pantau.v1.QueryService"})
# The audit trail grows by one record per call by design; checked apart.
TRAIL_TABLES = frozenset({"audit_records", "audit_checkpoints", "audit_inbox"})


def _seed_note() -> str:
    return f"(fuzz seed {SEED}; replay with PANTAU_FUZZ_SEED={SEED})"


# --- the RPCs and their base requests ---------------------------------------------------


def pantau_methods() -> list[MethodDescriptor]:
    """Every RPC of every service Pantau serves in the generated ``pantau.v1`` modules (not
    those agencies implement for Pantau to call)."""
    methods: list[MethodDescriptor] = []
    for module_info in sorted(pkgutil.iter_modules(pantau.v1.__path__), key=lambda m: m.name):
        if not module_info.name.endswith("_pb2"):
            continue
        module = importlib.import_module(f"pantau.v1.{module_info.name}")
        for service in module.DESCRIPTOR.services_by_name.values():
            if service.full_name not in AGENCY_SERVICES:
                methods.extend(service.methods)
    return methods


def path_of(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def _message_class(descriptor: Descriptor) -> type[Message]:
    return message_factory.GetMessageClass(descriptor)


def _filled(descriptor: Descriptor, depth: int = 0) -> Message:
    """A request with every field set to something plausible: the base of an RPC not in BASES."""
    message = _message_class(descriptor)()
    for fd in descriptor.fields:
        oneof = fd.containing_oneof
        if oneof is not None and oneof.fields[0].name != fd.name:
            continue
        sub = fd.message_type
        if sub is not None:
            if depth >= 3 or sub.GetOptions().map_entry:
                continue
            value: Any = _filled(sub, depth + 1)
            if fd.is_repeated:
                getattr(message, fd.name).add().CopyFrom(value)
            else:
                getattr(message, fd.name).CopyFrom(value)
            continue
        if fd.type == FieldDescriptor.TYPE_STRING:
            value = "fuzz"
        elif fd.type == FieldDescriptor.TYPE_BYTES:
            value = b"fuzz"
        elif fd.type == FieldDescriptor.TYPE_BOOL:
            value = True
        elif fd.enum_type is not None:
            value = fd.enum_type.values[-1].number
        elif fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
            value = 1.5
        else:
            value = 1
        if fd.is_repeated:
            getattr(message, fd.name).append(value)
        else:
            setattr(message, fd.name, value)
    return message


@dataclass(frozen=True)
class Known:
    """What exists before the fuzz: a registered person, and ids derived from the seed."""

    person: pb.Person
    rng: random.Random

    def unknown_id(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def document(self) -> pb.TravelDocument:
        return pb.TravelDocument(issuing_state="VNM", number=f"F{self.rng.getrandbits(32):08X}")


def _register_conflict(k: Known) -> Message:
    """The registered person's document under another identity: ALREADY_EXISTS."""
    document = k.person.documents[0]
    return r.RegisterPersonRequest(
        person=f.person("Tran", "Thi Binh", document.issuing_state, number=document.number)
    )


# RPC -> its valid base request; the writes' cannot succeed. An RPC not listed
# here is fuzzed from a request with every field filled (``_filled``).
BASES: dict[str, Callable[[Known], Message]] = {
    "/pantau.v1.RegistryService/RegisterPerson": _register_conflict,
    "/pantau.v1.RegistryService/AddTravelDocument": lambda k: r.AddTravelDocumentRequest(
        person_id=k.unknown_id(), document=k.document()
    ),
    "/pantau.v1.RegistryService/RecordEntry": lambda k: f.entry(k.unknown_id()),
    "/pantau.v1.RegistryService/ExtendPermit": lambda k: r.ExtendPermitRequest(
        stay_id=k.unknown_id(), permit=f.permit(days=90)
    ),
    "/pantau.v1.RegistryService/RecordExit": lambda k: r.RecordExitRequest(
        person_id=k.unknown_id(), port_code="IDTRE", exited_at=f.hours_ago(1)
    ),
    "/pantau.v1.RegistryService/ReportAddress": lambda k: f.address(
        k.unknown_id(), 3.2166, 106.2211
    ),
    "/pantau.v1.RegistryService/RecordSighting": lambda k: r.RecordSightingRequest(
        person_id=k.unknown_id(),
        location=f.TAREMPA_CENTRE,
        observed_at=f.hours_ago(3),
        source=pb.SIGHTING_SOURCE_POLICE_CHECK,
        reference=f"LP/{k.rng.getrandbits(20)}/FUZZ",
        place_name="Pelabuhan Tarempa",
    ),
    "/pantau.v1.RegistryService/ImportLodgingReports": lambda k: r.LodgingReport(
        lodging_id="APOA-2105-0077",
        lodging_name="Penginapan Letung",
        location=pb.GeoPoint(latitude=2.9941, longitude=105.7065),
        event=r.LODGING_EVENT_CHECK_IN,
        document=k.document(),
        occurred_at=f.hours_ago(2),
        reference=f"R-{k.rng.getrandbits(24)}",
    ),
    "/pantau.v1.QueryService/GetPerson": lambda k: q.GetPersonRequest(person_id=k.person.id),
    "/pantau.v1.QueryService/SearchPersons": lambda k: q.SearchPersonsRequest(
        name=k.person.family_name, nationality=k.person.nationality, page_size=5
    ),
    "/pantau.v1.QueryService/ListPersonsNear": lambda k: q.ListPersonsNearRequest(
        center=f.TAREMPA_CENTRE, radius_meters=1500, page_size=5
    ),
    "/pantau.v1.QueryService/ListAlerts": lambda k: q.ListAlertsRequest(
        rules=[apb.ALERT_RULE_OVERSTAY],
        statuses=[apb.ALERT_STATUS_OPEN],
        min_severity=apb.ALERT_SEVERITY_INFO,
        since=f.hours_ago(24 * 30),
        page_size=5,
    ),
    "/pantau.v1.QueryService/GetAlert": lambda k: q.GetAlertRequest(alert_id=k.unknown_id()),
    "/pantau.v1.AlertReviewService/ReviewAlert": lambda k: ar.ReviewAlertRequest(
        alert_id=k.unknown_id(), decision=apb.REVIEW_DECISION_ACKNOWLEDGE, note="Diperiksa"
    ),
}


def base_request(method: MethodDescriptor, known: Known) -> Message:
    build = BASES.get(path_of(method))
    request = build(known) if build is not None else _filled(method.input_type)
    assert request.DESCRIPTOR.full_name == method.input_type.full_name, path_of(method)
    return request


# --- cases and answers -------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One call: an RPC, how its bytes were made, and the messages (one unless streamed)."""

    method: MethodDescriptor
    kind: str
    messages: tuple[bytes, ...]

    def describe(self) -> str:
        shown = [m[:24].hex() + ("..." if len(m) > 24 else "") for m in self.messages]
        return f"{path_of(self.method)} {self.kind} {shown}"


def cases_for(method: MethodDescriptor, known: Known) -> list[Case]:
    """The RPC's random and mutated cases, from a generator of its own (seed and RPC)."""
    rng = random.Random(f"{SEED}:{path_of(method)}")
    valid = base_request(method, known).SerializeToString()

    def one(kind: str) -> bytes:
        return wire_fuzz.random_bytes(rng) if kind == "random" else wire_fuzz.mutate(rng, valid)

    cases: list[Case] = []
    for kind, count in (("random", RANDOM_CASES_PER_RPC), ("mutated", MUTATED_CASES_PER_RPC)):
        for _ in range(count):
            if method.client_streaming:
                # A stream mixes the case's kind with valid messages.
                length = rng.choice(STREAM_LENGTHS)
                messages = tuple(one(kind) if rng.random() < 0.7 else valid for _ in range(length))
            else:
                messages = (one(kind),)
            cases.append(Case(method, kind, messages))
    return cases


@dataclass(frozen=True)
class Answer:
    """What the client got: the code, every text it was told, and any response's bytes."""

    code: grpc.StatusCode
    texts: tuple[str, ...]
    has_retry_info: bool
    responses: tuple[bytes, ...]


def _status_texts(value: bytes) -> tuple[list[str], bool]:
    """The strings of a google.rpc.Status (message and details); whether it carries RetryInfo."""
    status = status_pb2.Status.FromString(value)
    texts = [status.message]
    retry = False
    for detail in status.details:
        retry = retry or detail.type_url.endswith("/" + RETRY_INFO)
        try:
            unpacked = json.loads(json_format.MessageToJson(detail))
        except (json_format.Error, TypeError):  # a type this client does not know
            texts.append(detail.value.decode("utf-8", "replace"))
            continue
        texts.extend(_strings(unpacked, skip="@type"))
    return texts, retry


def _strings(value: object, skip: str) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            if key != skip:
                yield key
                yield from _strings(item, skip)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, skip)


def _answer(code: grpc.StatusCode, details: str, call: Any, responses: tuple[bytes, ...]) -> Answer:
    texts = [details, *(m.decode("utf-8", "replace") for m in responses)]
    retry = False
    for key, value in (call.trailing_metadata() or ()) if call is not None else ():
        if key == STATUS_DETAILS_KEY and isinstance(value, bytes):
            status_texts, retry = _status_texts(value)
            texts.extend(status_texts)
        else:
            texts.append(value.decode("utf-8", "replace") if isinstance(value, bytes) else value)
    return Answer(code, tuple(texts), retry, responses)


def send(channel: grpc.Channel, case: Case) -> Answer:
    """Sends the case's bytes as they are (no serializer) and takes the answer as bytes."""
    method, path = case.method, path_of(case.method)
    options: dict[str, Any] = {"metadata": OFFICER_AND_PURPOSE, "timeout": CALL_TIMEOUT_SECONDS}
    try:
        if method.client_streaming and method.server_streaming:
            stream = channel.stream_stream(path)(iter(case.messages), **options)
            responses, call = tuple(stream), stream
        elif method.client_streaming:
            response, call = channel.stream_unary(path).with_call(iter(case.messages), **options)
            responses = (response,)
        elif method.server_streaming:
            # A subscription streams until the client ends it: the first response is the
            # answer (the server sends one at once), then the client cancels.
            stream = channel.unary_stream(path)(case.messages[0], **options)
            first = next(stream, None)
            stream.cancel()
            if first is None:
                return _answer(stream.code(), stream.details() or "", stream, ())
            return _answer(grpc.StatusCode.OK, "", None, (first,))
        else:
            response, call = channel.unary_unary(path).with_call(case.messages[0], **options)
            responses = (response,)
    except grpc.RpcError as error:
        return _answer(error.code(), error.details() or "", error, ())
    return _answer(grpc.StatusCode.OK, "", call, responses)


# --- channels ----------------------------------------------------------------------------


def own_connection_channel(target: str, pki: Path, agency_id: str) -> grpc.Channel:
    """A mutual-TLS channel of the agency on a connection of its own (no shared subchannel)."""
    credentials = grpc.ssl_channel_credentials(
        root_certificates=(pki / "ca.crt").read_bytes(),
        private_key=(pki / f"{agency_id}.key").read_bytes(),
        certificate_chain=(pki / f"{agency_id}.crt").read_bytes(),
    )
    port = target.rpartition(":")[2]
    return grpc.secure_channel(
        f"localhost:{port}", credentials, options=[("grpc.use_local_subchannel_pool", 1)]
    )


def agency_for(method: MethodDescriptor) -> str:
    """The first test agency allowed to call the RPC (immigration may call them all)."""
    action = RPC_ACTIONS.get(path_of(method))
    assert action is not None, f"{path_of(method)} is not in RPC_ACTIONS: no one may call it"
    for kind, agency_id in AGENCIES.items():
        if is_allowed(AgencyKind(kind), action):
            return agency_id
    raise AssertionError(f"no agency of the tests may call {path_of(method)}")


def connectivity(channel: grpc.Channel) -> grpc.ChannelConnectivity:
    """The channel's state now, without asking it to connect."""
    states: queue.Queue[grpc.ChannelConnectivity] = queue.Queue()
    channel.subscribe(states.put, try_to_connect=False)
    try:
        return states.get(timeout=5)
    finally:
        channel.unsubscribe(states.put)


# --- the records -------------------------------------------------------------------------

Rows = dict[str, dict[tuple[str, ...], str]]


def record_rows(engine: Engine) -> Rows:
    """Every row of every table of the storage models but the trail's: its key and its digest."""
    rows: Rows = {}
    with engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in TRAIL_TABLES:
                continue
            keys = ", ".join(f"t.{c.name}::text" for c in table.primary_key.columns)
            rows[table.name] = {
                tuple(found[:-1]): found[-1]
                for found in connection.execute(
                    text(f"SELECT {keys}, md5(t::text) FROM {table.name} t")
                )
            }
    return rows


@dataclass
class Written:
    """What the OK answers of writes say they wrote."""

    person_ids: set[str] = field(default_factory=set)
    documents: set[tuple[str, str, str]] = field(default_factory=set)
    stay_ids: set[str] = field(default_factory=set)
    address_ids: set[str] = field(default_factory=set)
    address_person_ids: set[str] = field(default_factory=set)
    sighting_ids: set[str] = field(default_factory=set)
    alert_ids: set[str] = field(default_factory=set)
    lodging_sightings: int = 0
    # The highest sequence an OK Acknowledge says its feed is acknowledged through.
    acknowledged_through: int = 0
    report_ids: set[str] = field(default_factory=set)

    def collect(self, message: Message) -> None:
        """Notes every record the response names, however deeply nested."""
        if isinstance(message, pb.Person):
            self.person_ids.add(message.id)
            self.documents.update(
                (message.id, d.issuing_state, d.number) for d in message.documents
            )
        elif isinstance(message, pb.Stay):
            self.stay_ids.add(message.id)
        elif isinstance(message, pb.AddressRecord):
            self.address_ids.add(message.id)
            self.address_person_ids.add(message.person_id)
        elif isinstance(message, pb.Sighting):
            self.sighting_ids.add(message.id)
        elif isinstance(message, apb.Alert):
            self.alert_ids.add(message.id)
        elif isinstance(message, apb.AlertEvent):
            self.alert_ids.add(message.alert_id)
        elif isinstance(message, r.ImportSummary):
            self.lodging_sightings += message.accepted
        elif isinstance(message, rep.EarlyWarningReport):
            self.report_ids.add(message.report_id)
        elif isinstance(message, af.AcknowledgeResponse):
            self.acknowledged_through = max(self.acknowledged_through, message.acknowledged_through)
        for fd, value in message.ListFields():
            if fd.message_type is None or fd.message_type.GetOptions().map_entry:
                continue
            for item in value if fd.is_repeated else [value]:
                self.collect(item)

    def named_rows(self, engine: Engine) -> dict[str, set[tuple[str, ...]]]:
        """The keys of the rows, as they are now, that these answers name."""
        clauses = {
            "persons": ("t.id::text = ANY(:ids)", sorted(self.person_ids)),
            "stays": ("t.id::text = ANY(:ids)", sorted(self.stay_ids)),
            "stay_permits": ("t.stay_id::text = ANY(:ids)", sorted(self.stay_ids)),
            "addresses": ("t.id::text = ANY(:ids)", sorted(self.address_ids)),
            "current_addresses": ("t.person_id::text = ANY(:ids)", sorted(self.address_person_ids)),
            "sightings": ("t.id::text = ANY(:ids)", sorted(self.sighting_ids)),
            "alerts": ("t.id::text = ANY(:ids)", sorted(self.alert_ids)),
            "alert_events": ("t.alert_id::text = ANY(:ids)", sorted(self.alert_ids)),
            "reports": ("t.id::text = ANY(:ids)", sorted(self.report_ids)),
            "report_files": ("t.report_id::text = ANY(:ids)", sorted(self.report_ids)),
            "travel_documents": (
                "t.person_id::text || '/' || t.issuing_state || '/' || t.number = ANY(:ids)",
                sorted("/".join(d) for d in self.documents),
            ),
        }
        # An acknowledgement marks the entries up to its sequence; a review's event is
        # sealed into the feeds (a new entry, its agency's head moved).
        clauses["feed_entries"] = (
            "t.sequence <= :through OR t.event_seq IN"
            " (SELECT seq FROM alert_events WHERE alert_id::text = ANY(:ids))",
            sorted(self.alert_ids),
        )
        clauses["feed_heads"] = ("cardinality(CAST(:ids AS text[])) > 0", sorted(self.alert_ids))
        named: dict[str, set[tuple[str, ...]]] = {}
        with engine.connect() as connection:
            for table in Base.metadata.sorted_tables:
                if table.name not in clauses:
                    continue
                where, ids = clauses[table.name]
                keys = ", ".join(f"t.{c.name}::text" for c in table.primary_key.columns)
                named[table.name] = {
                    tuple(found)
                    for found in connection.execute(
                        text(f"SELECT {keys} FROM {table.name} t WHERE {where}"),
                        {"ids": ids, "through": self.acknowledged_through},
                    )
                }
        return named


# --- the run -----------------------------------------------------------------------------


@dataclass
class FuzzRun:
    """The answers to every case, and the state before and after."""

    known: Known
    channels: dict[str, grpc.Channel]
    answers: list[tuple[Case, Answer]]
    before: Rows
    after: Rows
    written: Written
    calls_per_method: Counter[str]
    first_audit_seq: int
    last_audit_seq: int
    seconds: float


def _audit_head(running_server: app.RunningServer, engine: Engine) -> int:
    assert running_server.audit_log.flush(timeout=10), "the audit trail was not written"
    with engine.connect() as connection:
        return int(
            connection.execute(text("SELECT coalesce(max(seq), 0) FROM audit_records")).scalar_one()
        )


@pytest.fixture(scope="module")
def fuzz_run(
    grpc_target: str,
    pki_dir: Path,
    settings: Settings,
    engine: Engine,
    running_server: app.RunningServer,
) -> Iterator[FuzzRun]:
    methods = pantau_methods()
    channels = {
        agency_id: own_connection_channel(grpc_target, pki_dir, agency_id)
        for agency_id in sorted({agency_for(m) for m in methods})
    }
    for channel in channels.values():
        grpc.channel_ready_future(channel).result(timeout=10)
    setup = random.Random(f"{SEED}:setup")
    registered = r_grpc.RegistryServiceStub(channels[AGENCIES["IMMIGRATION"]]).RegisterPerson(
        r.RegisterPersonRequest(person=f.person(number=f"K{setup.getrandbits(32):08X}")),
        metadata=OFFICER_AND_PURPOSE,
    )
    known = Known(registered, setup)
    cases = [case for method in methods for case in cases_for(method, known)]
    # The session's bucket is far larger than the run, so no call is rate limited.
    assert settings.rate_limit_burst >= 2 * len(cases), "raise the test settings' rate limit"

    first_seq = _audit_head(running_server, engine)
    before = record_rows(engine)
    started = time.monotonic()
    answers = [(case, send(channels[agency_for(case.method)], case)) for case in cases]
    seconds = time.monotonic() - started
    last_seq = _audit_head(running_server, engine)
    after = record_rows(engine)

    written = Written()
    for case, answer in answers:
        if answer.code != grpc.StatusCode.OK:
            continue
        if case.method.containing_service.full_name in READ_ONLY_SERVICES:
            continue
        output = _message_class(case.method.output_type)
        for response in answer.responses:
            written.collect(output.FromString(response))
    yield FuzzRun(
        known=known,
        channels=channels,
        answers=answers,
        before=before,
        after=after,
        written=written,
        calls_per_method=Counter(path_of(case.method) for case in cases),
        first_audit_seq=first_seq,
        last_audit_seq=last_seq,
        seconds=seconds,
    )
    for channel in channels.values():
        channel.close()


# --- the tests ---------------------------------------------------------------------------


def test_the_fuzz_reaches_every_rpc_an_agency_may_call() -> None:
    """The descriptors' RPCs are those of RPC_ACTIONS, so each is fuzzed past access control."""
    assert sorted(path_of(m) for m in pantau_methods()) == sorted(RPC_ACTIONS)


def test_the_fuzz_is_bounded(fuzz_run: FuzzRun) -> None:
    assert 2_000 <= len(fuzz_run.answers) <= 5_000
    assert fuzz_run.seconds < 60, f"{len(fuzz_run.answers)} calls took {fuzz_run.seconds:.0f} s"


def test_every_answer_is_one_a_client_can_act_on(fuzz_run: FuzzRun) -> None:
    wrong: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for case, answer in fuzz_run.answers:
        code = answer.code
        if code in ACTIONABLE and (
            code != grpc.StatusCode.RESOURCE_EXHAUSTED or answer.has_retry_info
        ):
            continue
        name = code.name + (" without RetryInfo" if code in ACTIONABLE else "")
        key = (path_of(case.method), name)
        wrong[key] += 1
        examples.setdefault(key, f"{case.describe()}: {answer.texts[0]!r}")
    assert not wrong, (
        f"{sum(wrong.values())} of {len(fuzz_run.answers)} answers a client cannot act on"
        f" {_seed_note()}:\n"
        + "\n".join(
            f"  {method} {code}: {count}, e.g. {examples[(method, code)]}"
            for (method, code), count in sorted(wrong.items())
        )
    )


def test_no_answer_carries_python_exception_text(fuzz_run: FuzzRun) -> None:
    leaks: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for case, answer in fuzz_run.answers:
        for said in answer.texts:
            found = EXCEPTION_TEXT.search(said)
            if found:
                key = (path_of(case.method), answer.code.name)
                leaks[key] += 1
                examples.setdefault(key, f"{found.group(0)!r} in {said[:300]!r}")
                break
    assert not leaks, (
        f"{sum(leaks.values())} answers carry Python exception text {_seed_note()}:\n"
        + "\n".join(
            f"  {method} {code}: {count}, e.g. {examples[(method, code)]}"
            for (method, code), count in sorted(leaks.items())
        )
    )


def _get_person(channel: grpc.Channel, person_id: str) -> q.PersonDossier:
    dossier: q.PersonDossier = q_grpc.QueryServiceStub(channel).GetPerson(
        q.GetPersonRequest(person_id=person_id),
        metadata=OFFICER_AND_PURPOSE,
        timeout=CALL_TIMEOUT_SECONDS,
    )
    return dossier


def _serves(channel: grpc.Channel, person_id: str, services: list[str]) -> list[str]:
    """What fails of a health check of every service and a real GetPerson on the channel."""
    failures: list[str] = []
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", *services):
        try:
            status = health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status
        except grpc.RpcError as error:
            failures.append(f"health of {service!r}: {error.code().name} {error.details()!r}")
            continue
        if status != health_pb2.HealthCheckResponse.SERVING:
            failures.append(f"health of {service!r}: {health_pb2.HealthCheckResponse.Name(status)}")
    try:
        found = _get_person(channel, person_id).person.id
    except grpc.RpcError as error:
        failures.append(f"GetPerson: {error.code().name} {error.details()!r}")
    else:
        if found != person_id:
            failures.append(f"GetPerson answered {found!r}, not {person_id!r}")
    return failures


def test_the_server_still_serves_on_the_fuzzed_channels_and_a_new_one(
    fuzz_run: FuzzRun, grpc_target: str, pki_dir: Path
) -> None:
    person_id = fuzz_run.known.person.id
    services = sorted({m.containing_service.full_name for m in pantau_methods()})
    failures: list[str] = []
    for agency_id, channel in fuzz_run.channels.items():
        state = connectivity(channel)
        if state != grpc.ChannelConnectivity.READY:
            failures.append(f"{agency_id}'s fuzzed channel is {state.name}")
        failures.extend(
            f"{agency_id}'s fuzzed channel: {failure}"
            for failure in _serves(channel, person_id, services)
        )
    with own_connection_channel(grpc_target, pki_dir, AGENCIES["IMMIGRATION"]) as fresh:
        failures.extend(
            f"a new channel: {failure}" for failure in _serves(fresh, person_id, services)
        )
    assert not failures, f"after the fuzz {_seed_note()}:\n" + "\n".join(failures)


def test_the_records_change_only_as_the_ok_answers_say(fuzz_run: FuzzRun, engine: Engine) -> None:
    """No row is deleted; each new or changed row is one an OK write's answer names.

    Lodging imports answer with counts, not ids: the sightings no answer names
    are as many as the imports accepted.
    """
    named = fuzz_run.written.named_rows(engine)
    problems: list[str] = []
    for table, before in fuzz_run.before.items():
        after = fuzz_run.after[table]
        removed = before.keys() - after.keys()
        added = after.keys() - before.keys()
        changed = {key for key in before.keys() & after.keys() if before[key] != after[key]}
        unnamed_added = added - named.get(table, set())
        unnamed_changed = changed - named.get(table, set())
        expected_unnamed = fuzz_run.written.lodging_sightings if table == "sightings" else 0
        if removed:
            problems.append(f"{table}: {len(removed)} rows deleted")
        if len(unnamed_added) != expected_unnamed:
            problems.append(
                f"{table}: {len(unnamed_added)} new rows no OK answer names"
                f" (expected {expected_unnamed}), e.g. {sorted(unnamed_added)[:3]}"
            )
        if unnamed_changed:
            problems.append(
                f"{table}: {len(unnamed_changed)} rows changed that no OK answer names,"
                f" e.g. {sorted(unnamed_changed)[:3]}"
            )
    written = fuzz_run.written
    for table, ids in (
        ("persons", written.person_ids),
        ("stays", written.stay_ids),
        ("addresses", written.address_ids),
        ("current_addresses", written.address_person_ids),
        ("sightings", written.sighting_ids),
        ("alerts", written.alert_ids),
    ):
        missing = ids - {key[0] for key in named.get(table, set())}
        if missing:
            problems.append(f"{table}: OK answers name rows that are not there: {sorted(missing)}")
    ok_writes = Counter(
        path_of(case.method)
        for case, answer in fuzz_run.answers
        if answer.code == grpc.StatusCode.OK
        and case.method.containing_service.full_name not in READ_ONLY_SERVICES
    )
    assert not problems, f"OK writes {dict(ok_writes)} {_seed_note()}:\n" + "\n".join(problems)


def test_each_fuzzed_call_has_one_audit_record(fuzz_run: FuzzRun, engine: Engine) -> None:
    with engine.connect() as connection:
        recorded = Counter(
            {
                str(method): int(count)
                for method, count in connection.execute(
                    text(
                        "SELECT method, count(*) FROM audit_records"
                        " WHERE seq > :first AND seq <= :last GROUP BY method"
                    ),
                    {"first": fuzz_run.first_audit_seq, "last": fuzz_run.last_audit_seq},
                )
            }
        )
    # Each feed entry a subscription sent is an event of its own (the delivery, naming the
    # recipient), beside the call's record: at least one per subscription answered with one.
    delivered = recorded.pop("feed/deliver", 0)
    subscribed = sum(
        1
        for case, answer in fuzz_run.answers
        if path_of(case.method) == "/pantau.v1.AlertFeedService/Subscribe"
        and answer.code == grpc.StatusCode.OK
        and af.SubscribeResponse.FromString(answer.responses[0]).HasField("alert")
    )
    assert delivered >= subscribed
    # A report asked for and not stored yet is made: an event of its own (the report's
    # digest), beside the call's record: at most one per report answered.
    made = recorded.pop("report/make", 0)
    reported = sum(
        1
        for case, answer in fuzz_run.answers
        if path_of(case.method) == "/pantau.v1.ReportService/GetEarlyWarningReport"
        and answer.code == grpc.StatusCode.OK
    )
    assert made <= reported
    calls = fuzz_run.calls_per_method
    differences = {
        method: (calls[method], recorded[method])
        for method in set(calls) | set(recorded)
        if calls[method] != recorded[method]
    }
    assert not differences, (
        f"(calls, audit records) per RPC where they differ {_seed_note()}:\n"
        + "\n".join(f"  {m}: {c}" for m, c in sorted(differences.items()))
    )
