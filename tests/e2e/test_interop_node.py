"""The contract across languages: a Node.js client built from the .proto files alone.

tests/interop/client.mjs registers a person, records an entry and an address
and finds the person again, over mutual TLS as the immigration office; then
Python, on its own channel, must see the very records the Node client wrote.
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

from tests.clock import CLOCK

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "tests" / "interop" / "client.mjs"
AGENCY = "kanim-tarempa"
SIANTAN = "21.05.01"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.fail("`node` is not on PATH: install Node.js 20 (make node) to run the interop test")
    for package in ("@grpc/grpc-js", "@grpc/proto-loader"):
        if not (ROOT / "node_modules" / package / "package.json").is_file():
            pytest.fail(f"node_modules/{package} is missing: run `make node` (npm ci)")
    return node


def _run_client(target: str, pki_dir: Path) -> dict[str, Any]:
    command = [_node(), str(CLIENT), target, "--pki", str(pki_dir), "--agency", AGENCY]
    # The server goes by the suite's clock; so does the client (tests/clock.py).
    command += ["--now", CLOCK.now().isoformat()]
    try:
        finished = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired as error:
        pytest.fail(f"the Node.js client did not finish in 60 s; stderr: {error.stderr!r}")
    assert finished.returncode == 0, (
        f"the Node.js client exited with {finished.returncode}\n"
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
