"""The running server audits every call, allowed or denied, and the trail verifies."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import grpc
import pytest
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from sqlalchemy import Engine, text

from exchange_service import app
from exchange_service.settings import Settings
from tests import factories as f
from tests.conftest import AGENCIES, OFFICER_AND_PURPOSE, agency_channel


def _flushed(running_server: app.RunningServer) -> None:
    """Waits until the server's audit trail has written every record so far.

    A call's record is appended before its response is sent, so once the
    client has its answer a flush puts the record in the database.
    """
    assert running_server.audit_log.flush(timeout=10), "the audit trail was not written"


def _records_for(
    running_server: app.RunningServer, engine: Engine, person_id: str
) -> list[dict[str, object]]:
    _flushed(running_server)
    with engine.connect() as connection:
        return [
            dict(row._mapping)
            for row in connection.execute(
                text(
                    "SELECT agency_id, officer, purpose, method, status, person_ids"
                    " FROM audit_records WHERE :id = ANY(person_ids) ORDER BY seq"
                ),
                {"id": person_id},
            )
        ]


def test_each_call_leaves_one_record_naming_agency_officer_purpose_and_status(
    grpc_channel: grpc.Channel,
    grpc_target: str,
    pki_dir: Path,
    engine: Engine,
    running_server: app.RunningServer,
) -> None:
    person = r_grpc.RegistryServiceStub(grpc_channel).RegisterPerson(
        r.RegisterPersonRequest(person=f.person())
    )
    with agency_channel(grpc_target, pki_dir, AGENCIES["POLICE"]) as police:
        q_grpc.QueryServiceStub(police).GetPerson(q.GetPersonRequest(person_id=person.id))
        with pytest.raises(grpc.RpcError):
            r_grpc.RegistryServiceStub(police).RecordEntry(f.entry(person.id))
    rows = _records_for(running_server, engine, person.id)
    officer, purpose = (value for _, value in OFFICER_AND_PURPOSE)
    assert [(row["agency_id"], row["method"], row["status"]) for row in rows] == [
        ("kanim-tarempa", "/pantau.v1.RegistryService/RegisterPerson", "OK"),
        ("polres-anambas", "/pantau.v1.QueryService/GetPerson", "OK"),
        ("polres-anambas", "/pantau.v1.RegistryService/RecordEntry", "PERMISSION_DENIED"),
    ]
    assert all((row["officer"], row["purpose"]) == (officer, purpose) for row in rows)


def test_pantau_audit_verify_accepts_the_live_trail(
    grpc_channel: grpc.Channel, settings: Settings, running_server: app.RunningServer
) -> None:
    r_grpc.RegistryServiceStub(grpc_channel).RegisterPerson(
        r.RegisterPersonRequest(person=f.person())
    )
    _flushed(running_server)
    env = {
        "PANTAU_DATABASE_URL": settings.database_url,
        "PANTAU_AUDIT_SIGNING_KEY_FILE": str(settings.audit_signing_key_file),
        "PANTAU_AUDIT_CHECKPOINT_FILE": str(settings.audit_checkpoint_file),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-m", "exchange_service.cli", "audit", "verify"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_a_lodging_import_records_the_guests_it_touched(
    grpc_channel: grpc.Channel, engine: Engine, running_server: app.RunningServer
) -> None:
    registry = r_grpc.RegistryServiceStub(grpc_channel)
    guest = registry.RegisterPerson(r.RegisterPersonRequest(person=f.person()))
    report = r.LodgingReport(
        lodging_id="APOA-2105-0077",
        lodging_name="Penginapan Letung",
        location=pb.GeoPoint(latitude=2.9941, longitude=105.7065),
        event=r.LODGING_EVENT_CHECK_IN,
        document=guest.documents[0],
        occurred_at=f.hours_ago(2),
        reference=f.document_number(),
    )
    summary = registry.ImportLodgingReports(iter([report]))
    assert summary.accepted == 1
    rows = _records_for(running_server, engine, guest.id)
    assert [row["method"] for row in rows] == [
        "/pantau.v1.RegistryService/RegisterPerson",
        "/pantau.v1.RegistryService/ImportLodgingReports",
    ]
