"""The contract across languages: Node.js clients built from the .proto files alone.

tests/interop/client.mjs registers a person, records an entry and an address
and finds the person again, over mutual TLS as the immigration office; then
Python, on its own channel, must see the very records the Node client wrote.
tests/interop/alerts_client.mjs, with the supervisor's certificate, lists the
alerts after a rule run and finds an overstayer's alert with the days over
and the fee; after a second run, which changes nothing, it finds the same.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import grpc
import pytest
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb

from exchange_service.services.alerts import RuleEngine
from tests.clock import CLOCK
from tests.conftest import RowCounts
from tests.e2e.conftest import register_overstayer, run_overstay

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tests" / "interop" / "client.mjs"
ALERTS_CLIENT = ROOT / "tests" / "interop" / "alerts_client.mjs"
AGENCY = "kanim-tarempa"
SUPERVISOR = "supervisor-tarempa"
SIANTAN = "21.05.01"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` is not on PATH: install Node.js 20 (make node) to run the interop test")
    for package in ("@grpc/grpc-js", "@grpc/proto-loader"):
        if not (ROOT / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"node_modules/{package} is missing: run `make node` (npm ci)")
    return node


def _run_client(
    target: str,
    pki_dir: Path,
    client: Path = CLIENT,
    agency: str = AGENCY,
    *options: str,
) -> dict[str, Any]:
    command = [_node(), str(client), target, "--pki", str(pki_dir), "--agency", agency, *options]
    # The server goes by the suite's clock; so does the client (tests/clock.py).
    command += ["--now", CLOCK.now().isoformat()]
    try:
        finished = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the Node.js client did not finish in 60 s; stderr: {error.stderr!r}")
    assert finished.returncode == 0, (
        f"the Node.js client {client.name} exited with {finished.returncode}\n"
        f"stdout: {finished.stdout}\nstderr: {finished.stderr}"
    )
    lines = finished.stdout.strip().splitlines()
    assert len(lines) == 1, f"expected one JSON line, got: {finished.stdout!r}"
    result: dict[str, Any] = json.loads(lines[0])
    return result


def test_node_client_round_trip_is_seen_from_python(
    grpc_target: str, pki_dir: Path, grpc_channel: grpc.Channel
) -> None:
    found = _run_client(grpc_target, pki_dir)

    assert found["ok"] is True
    assert found["tls"] is True
    assert found["agency"] == AGENCY
    assert found["permit_type"] == "PERMIT_TYPE_VOA"
    assert found["address"]["district_code"] == SIANTAN
    assert found["get_person"] == {
        "found": True,
        "current_stay_id": found["stay_id"],
        "district_code": SIANTAN,
    }
    assert found["near"]["found"] is True
    assert found["near"]["district_code"] == SIANTAN
    assert 0 <= found["near"]["distance_meters"] <= 2000
    document = found["document"]
    assert document["issuing_state"] == "AUS"
    assert document["number"].startswith("NJ")

    queries = q_grpc.QueryServiceStub(grpc_channel)
    by_id = queries.GetPerson(q.GetPersonRequest(person_id=found["person_id"]), timeout=10)
    by_document = queries.GetPerson(
        q.GetPersonRequest(
            document=pb.TravelDocument(
                issuing_state=document["issuing_state"], number=document["number"]
            )
        ),
        timeout=10,
    )
    assert by_document == by_id
    person = by_id.person
    assert person.id == found["person_id"]
    assert (person.family_name, person.given_names, person.nationality) == (
        "Interop",
        "Node Client",
        "AUS",
    )
    assert person.sex == pb.SEX_FEMALE
    assert (person.birth_date.year, person.birth_date.month, person.birth_date.day) == (1985, 6, 1)
    assert [(d.issuing_state, d.number) for d in person.documents] == [
        (document["issuing_state"], document["number"])
    ]
    stay = by_id.current_stay
    assert stay.id == found["stay_id"]
    assert stay.entry_port_code == "IDTRE"
    assert stay.permit.type == pb.PERMIT_TYPE_VOA
    assert not stay.HasField("exited_at")
    address = by_id.current_address.address
    assert address.district_code == SIANTAN
    assert address.location.latitude == pytest.approx(3.2166)
    assert address.location.longitude == pytest.approx(106.2211)


def test_a_supervisors_node_client_finds_an_overstayers_alert_unchanged_by_a_second_run(
    grpc_target: str,
    pki_dir: Path,
    grpc_channel: grpc.Channel,
    rule_engine: RuleEngine,
    row_counts: RowCounts,
) -> None:
    overstayer = register_overstayer(grpc_channel, days_over=37)
    run_overstay(rule_engine)
    person = ("--person", overstayer.person.id)
    first = _run_client(grpc_target, pki_dir, ALERTS_CLIENT, SUPERVISOR, *person)

    assert (first["ok"], first["tls"], first["agency"]) == (True, True, SUPERVISOR)
    alert = first["alert"]
    assert (alert["rule"], alert["subject_kind"], alert["person_id"], alert["stay_id"]) == (
        "ALERT_RULE_OVERSTAY",
        "ALERT_SUBJECT_KIND_PERSON",
        overstayer.person.id,
        overstayer.stay.id,
    )
    assert (alert["severity"], alert["status"], alert["action"]) == (
        "ALERT_SEVERITY_HIGH",
        "ALERT_STATUS_OPEN",
        "ADMINISTRATIVE_ACTION_OVERSTAY_FEE",
    )
    assert alert["district_code"] == SIANTAN
    assert "has overstayed by 37 days" in alert["summary_en"]
    evidence = first["evidence"]
    assert (evidence["days_over"], evidence["fee_accrued_idr"], evidence["fee_per_day_idr"]) == (
        37,
        37_000_000,
        1_000_000,
    )
    assert evidence["permit_number"] == overstayer.stay.permit.permit_number
    assert [(e["kind"], e["days_over"]) for e in first["events"]] == [
        ("ALERT_EVENT_KIND_OPENED", 37)
    ]

    before = row_counts.snapshot()
    run_overstay(rule_engine)
    after = row_counts.snapshot()
    assert after.pop("rule_runs") == before.pop("rule_runs") + 1
    assert after == before, "the second run changed an alert or wrote an alert event"
    second = _run_client(grpc_target, pki_dir, ALERTS_CLIENT, SUPERVISOR, *person)
    assert second == first
