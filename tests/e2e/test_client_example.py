"""The client example `make run` prints: police find persons, local government is refused."""

from __future__ import annotations

import uuid
from pathlib import Path

import grpc
import pytest
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc

from exchange_service import client_example
from tests import factories as f
from tests.conftest import AGENCIES


@pytest.mark.e2e
def test_police_find_a_person_and_local_government_is_refused(
    grpc_target: str,
    grpc_channel: grpc.Channel,
    pki_dir: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    family = f"Exampleton{uuid.uuid4().hex[:6]}"
    person = r_grpc.RegistryServiceStub(grpc_channel).RegisterPerson(
        r.RegisterPersonRequest(person=f.person(family=family))
    )
    capsys.readouterr()

    assert client_example.main([grpc_target, str(pki_dir), AGENCIES["POLICE"], family]) == 0
    out = capsys.readouterr().out
    assert person.id in out
    assert family in out

    assert (
        client_example.main([grpc_target, str(pki_dir), AGENCIES["LOCAL_GOVERNMENT"], family]) == 1
    )
    refused = capsys.readouterr()
    assert refused.out == ""
    assert "PERMISSION_DENIED" in refused.err
