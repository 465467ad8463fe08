"""Audit events from any part of Pantau, the record's one definition, and older trails."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic import command
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, create_engine, text

from exchange_service.audit import store
from exchange_service.audit.chain import Checkpoint, sign_checkpoint, verify_chain
from exchange_service.audit.log import open_audit_log
from exchange_service.domain.audit import (
    GENESIS,
    RECORD_FIELDS,
    SYSTEM_ACTOR_KIND,
    Actor,
    AuditEvent,
    AuditRecord,
    AuditRecorder,
    build_record,
)
from exchange_service.settings import Settings
from exchange_service.storage.migrate import alembic_config
from exchange_service.storage.tables import audit_records
from tests.audit.conftest import ADMIN_URL
from tests.clock import TestClock

T0 = datetime(2026, 11, 30, 1, 2, 3, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))


def test_the_table_has_exactly_the_fields_of_the_record() -> None:
    assert [c.name for c in audit_records.columns] == [f.name for f in RECORD_FIELDS]
    assert [f.name for f in RECORD_FIELDS if f.optional] == ["recipient"]


def test_a_recipient_is_sealed_by_the_hash_and_round_trips_through_json() -> None:
    fields = {
        "agency_id": "delivery-worker",
        "agency_kind": SYSTEM_ACTOR_KIND,
        "officer": "",
        "purpose": "alert feed",
        "method": "delivery/police-feed",
        "status": "OK",
        "request_digest": "ab" * 32,
    }
    to_police = build_record(GENESIS, at=T0, person_ids=["p"], recipient="polres-anambas", **fields)
    nobody = build_record(GENESIS, at=T0, person_ids=["p"], **fields)
    assert to_police.hash != nobody.hash
    assert to_police.content()["recipient"] == "polres-anambas"
    assert "recipient" not in nobody.content()  # as records were hashed before it existed
    assert AuditRecord.from_json(to_police.to_json()) == to_police
    assert AuditRecord.from_json(nobody.to_json()) == nobody


def test_a_record_needs_every_text_field() -> None:
    with pytest.raises(TypeError, match="text fields"):
        build_record(GENESIS, at=T0, person_ids=[], agency_id="x")


def test_a_system_process_records_its_work_and_a_delivery_its_recipient(
    audit_settings: Settings, audit_engine: Engine, clock: TestClock
) -> None:
    audit_log = open_audit_log(audit_settings, clock=clock.now)
    recorder: AuditRecorder = audit_log  # what the use cases will be given
    try:
        run = recorder.record(
            AuditEvent(Actor.system("scheduler"), "rules/OVERSTAY", "OK", person_ids=["a", "b"])
        )
        delivered = recorder.record(
            AuditEvent(
                Actor.system("delivery-worker"),
                "delivery/alert-feed",
                "OK",
                purpose="early warning",
                person_ids=["a"],
                recipient="polres-anambas",
            )
        )
        assert audit_log.flush()
    finally:
        audit_log.close()
    with audit_engine.connect() as connection:
        stored = list(store.iter_records(connection))
    assert stored[:2] == [run, delivered]
    assert (run.agency_id, run.agency_kind, run.method) == ("scheduler", "SYSTEM", "rules/OVERSTAY")
    assert delivered.recipient == "polres-anambas"


def test_a_trail_written_before_recipients_existed_still_verifies(tmp_path: Path) -> None:
    """Records and checkpoints made at migration 0002 verify unchanged after 0003."""
    name = f"pantau_audit_old_{uuid.uuid4().hex[:10]}"
    admin = create_engine(ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}" TEMPLATE pantau_template'))
    url = ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    engine = create_engine(url)
    try:
        command.upgrade(alembic_config(url), "0002")
        head, checkpoints = GENESIS, list[Checkpoint]()
        with engine.begin() as connection:
            for n in range(1, 6):
                record = build_record(
                    head,
                    at=T0 + timedelta(seconds=n),
                    agency_id="polres-anambas",
                    agency_kind="POLICE",
                    officer="Bripka Andi",
                    purpose="LP/123/XI/2026",
                    method="/pantau.v1.QueryService/GetPerson",
                    person_ids=[f"person-{n}"],
                    status="OK",
                    request_digest="cd" * 32,
                )
                # The columns of 0002, as the service wrote them then.
                connection.execute(
                    text(
                        "INSERT INTO audit_records (seq, at, agency_id, agency_kind, officer,"
                        " purpose, method, person_ids, status, request_digest, prev_hash, hash)"
                        " VALUES (:seq, :at, :agency_id, :agency_kind, :officer, :purpose,"
                        " :method, :person_ids, :status, :request_digest, :prev_hash, :hash)"
                    ),
                    {**record.values(), "person_ids": list(record.person_ids)},
                )
                head = record.head
            checkpoints.append(sign_checkpoint(KEY, head, T0 + timedelta(seconds=9)))
            store.insert_checkpoints(connection, checkpoints)
        command.upgrade(alembic_config(url), "head")
        with engine.connect() as connection:
            records = list(store.iter_records(connection))
        assert len(records) == 5
        assert {r.recipient for r in records} == {""}
        report = verify_chain(records, store_checkpoints(engine), KEY.public_key())
        assert report.ok, report.problems
        assert report.signed_through == 5
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def store_checkpoints(engine: Engine) -> list[Checkpoint]:
    with engine.connect() as connection:
        return store.load_checkpoints(connection)
