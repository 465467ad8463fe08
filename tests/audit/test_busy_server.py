"""A server with fewer workers than calls in flight queues them; it refuses none."""

from __future__ import annotations

import uuid

import grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from sqlalchemy import Engine, text

from exchange_service import app
from exchange_service.api.access import DEV_AGENCY_KEY, OFFICER_KEY, PURPOSE_KEY
from exchange_service.settings import Settings, load_settings

CALLS = 40  # forty times the workers, on one connection


def test_calls_beyond_the_workers_wait_and_each_is_audited(
    audit_settings: Settings, audit_engine: Engine
) -> None:
    settings = load_settings(**{**audit_settings.model_dump(), "grpc_workers": 1})
    running = app.start_server(settings, insecure_dev=True)
    metadata = (
        (DEV_AGENCY_KEY, "polres-anambas"),
        (OFFICER_KEY, "Bripka Andi"),
        (PURPOSE_KEY, "LP/123/XI/2026"),
    )
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            stub = q_grpc.QueryServiceStub(channel)
            calls = [
                stub.GetPerson.future(
                    q.GetPersonRequest(person_id=str(uuid.uuid4())), metadata=metadata, timeout=30
                )
                for _ in range(CALLS)
            ]
            codes = [call.exception().code() for call in calls]
    finally:
        running.stop()
    assert codes == [grpc.StatusCode.NOT_FOUND] * CALLS
    with audit_engine.connect() as connection:
        recorded = connection.execute(
            text(
                "SELECT status, count(*) FROM audit_records"
                " WHERE method LIKE '%/GetPerson' GROUP BY status"
            )
        ).all()
    assert [tuple(row) for row in recorded] == [("NOT_FOUND", CALLS)]
