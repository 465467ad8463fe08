"""Client certificates are checked on their whole path, not only by the TLS handshake.

The handshake lets in a leaf issued by an intermediate that the agency CA signed
although the CA's pathLen is 0, and a leaf that is itself a CA; Pantau refuses
both with UNAUTHENTICATED on every call, whether a CRL is configured (the
session's server) or not. An intermediate the operator allows
(``tls_client_intermediate_files``) issues client certificates when the CA's
pathLen permits it; the server refuses to start when it does not.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from sqlalchemy import Engine, create_engine

from exchange_service import app
from exchange_service.security import client_certificates as cc
from exchange_service.settings import Settings
from exchange_service.tools import pki
from tests import certificates as certs
from tests import factories as f
from tests.clock import TestClock
from tests.conftest import (
    AGENCIES,
    OFFICER_AND_PURPOSE,
    RowCounts,
    _WithMetadata,
    fresh_database,
)

IMMIGRATION = AGENCIES["IMMIGRATION"]  # FULL view, every RPC


@dataclass(frozen=True)
class Server:
    """A running Pantau: where it listens, the CA its server certificate is from, its database."""

    target: str
    ca_pem: bytes
    engine: Engine

    def channel(self, client: certs.Issued, chain: tuple[certs.Issued, ...] = ()) -> grpc.Channel:
        """A mutual-TLS channel presenting ``client`` (then ``chain``), with officer and purpose."""
        credentials = grpc.ssl_channel_credentials(
            root_certificates=self.ca_pem,
            private_key=client.key_pem,
            certificate_chain=client.cert_pem + b"".join(link.cert_pem for link in chain),
        )
        channel = grpc.secure_channel(self.target, credentials)
        return grpc.intercept_channel(channel, _WithMetadata(OFFICER_AND_PURPOSE))


def _ca(pki_dir: Path) -> certs.Issued:
    return certs.Issued(
        pki.load_certificate(pki_dir / "ca.crt"), pki.load_private_key(pki_dir / "ca.key")
    )


@contextmanager
def _own_server(
    settings: Settings,
    clock: TestClock,
    directory: Path,
    ca_pem: bytes,
    **tls: Path | tuple[Path, ...] | None,
) -> Iterator[Server]:
    """A server of its own (its own database, so its own audit trail) with these TLS settings."""
    with fresh_database() as url:
        own = settings.model_copy(
            update={
                "database_url": url,
                "audit_signing_key_file": directory / "audit-signing.key",
                "audit_checkpoint_file": directory / "checkpoints.jsonl",
                **tls,
            }
        )
        running = app.start_server(own, clock=clock.now)
        engine = create_engine(url)
        try:
            yield Server(f"localhost:{running.port}", ca_pem, engine)
        finally:
            running.stop(grace=1.0)
            engine.dispose()


@pytest.fixture(scope="module")
def session_server(running_server: app.RunningServer, pki_dir: Path, engine: Engine) -> Server:
    """The session's server: the development CA (pathLen 0), a CRL configured."""
    return Server(f"localhost:{running_server.port}", (pki_dir / "ca.crt").read_bytes(), engine)


@pytest.fixture(scope="module")
def server_without_crl(
    settings: Settings,
    clock: TestClock,
    pki_dir: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """The development CA (pathLen 0) and no CRL."""
    with _own_server(
        settings,
        clock,
        tmp_path_factory.mktemp("no-crl"),
        (pki_dir / "ca.crt").read_bytes(),
        tls_crl_file=None,
    ) as server:
        yield server


@dataclass(frozen=True)
class DeepPki:
    """An agency CA with pathLen 1, the intermediate the operator allows, and one not allowed."""

    ca: certs.Issued
    allowed: certs.Issued
    not_allowed: certs.Issued


@pytest.fixture(scope="module")
def deep_pki(clock: TestClock) -> DeepPki:
    now = clock.now()
    ca = certs.ca("Agency CA with intermediates", now=now, path_length=1)
    return DeepPki(
        ca,
        certs.intermediate(ca, "Allowed issuing CA", now=now, path_length=0),
        certs.intermediate(ca, "Issuing CA nobody allowed", now=now, path_length=0),
    )


@pytest.fixture(scope="module")
def deep_server(
    settings: Settings,
    clock: TestClock,
    deep_pki: DeepPki,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Server]:
    """That CA's server, allowing one intermediate, no CRL."""
    directory = tmp_path_factory.mktemp("deep-pki")
    now = clock.now()
    server_cert, server_key = pki.issue_server_certificate(
        deep_pki.ca.cert,
        deep_pki.ca.key,
        not_before=now - certs.BEFORE,
        not_after=now + certs.AFTER,
    )
    for name, cert in (
        ("ca.crt", deep_pki.ca.cert),
        ("allowed.crt", deep_pki.allowed.cert),
        ("server.crt", server_cert),
    ):
        pki.write_pem(directory / name, cert)
    pki.write_pem(directory / "server.key", server_key)
    with _own_server(
        settings,
        clock,
        directory,
        deep_pki.ca.cert_pem,
        tls_cert_file=directory / "server.crt",
        tls_key_file=directory / "server.key",
        tls_client_ca_file=directory / "ca.crt",
        tls_crl_file=None,
        tls_client_intermediate_files=(directory / "allowed.crt",),
    ) as server:
        yield server


def _register(channel: grpc.Channel) -> pb.Person:
    person: pb.Person = r_grpc.RegistryServiceStub(channel).RegisterPerson(
        r.RegisterPersonRequest(person=f.person(nationality="MYS"))
    )
    return person


def _works(server: Server, client: certs.Issued, chain: tuple[certs.Issued, ...] = ()) -> None:
    """The client registers a person and reads the dossier back, in the FULL view."""
    with server.channel(client, chain) as channel:
        person = _register(channel)
        dossier = q_grpc.QueryServiceStub(channel).GetPerson(
            q.GetPersonRequest(person_id=person.id)
        )
    assert dossier.person.id == person.id
    assert dossier.person.documents[0].number == person.documents[0].number


def _refused(
    server: Server,
    client: certs.Issued,
    chain: tuple[certs.Issued, ...],
    reason: str,
    known: pb.Person,
) -> None:
    """Every call is UNAUTHENTICATED with ``reason``, discloses nothing and writes nothing."""
    counts = RowCounts(server.engine)
    before = counts.snapshot()
    with server.channel(client, chain) as channel:
        calls = (
            lambda: q_grpc.QueryServiceStub(channel).GetPerson(
                q.GetPersonRequest(person_id=known.id)
            ),
            lambda: _register(channel),
            lambda: health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=5
            ),
        )
        for call in calls:
            with pytest.raises(grpc.RpcError) as caught:
                call()
            assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED, caught.value.details()
            assert caught.value.details() == reason
    assert counts.snapshot() == before


def _known_person(server: Server, client: certs.Issued) -> pb.Person:
    with server.channel(client) as channel:
        return _register(channel)


def _immigration(issuer: certs.Issued, clock: TestClock) -> certs.Issued:
    return certs.leaf(issuer, IMMIGRATION, now=clock.now())


@pytest.mark.parametrize("which", ["with a CRL", "without a CRL"])
def test_leaf_from_an_intermediate_the_ca_signed_despite_its_path_length_gets_no_call(
    which: str,
    request: pytest.FixtureRequest,
    pki_dir: Path,
    clock: TestClock,
) -> None:
    server: Server = request.getfixturevalue(
        "session_server" if which == "with a CRL" else "server_without_crl"
    )
    ca = _ca(pki_dir)
    known = _known_person(server, _immigration(ca, clock))
    # The CA (pathLen 0) should never have signed it; the handshake lets it through.
    rogue = certs.intermediate(ca, "Kanim Tarempa issuing CA", now=clock.now())
    _refused(server, _immigration(rogue, clock), (rogue,), cc.INTERMEDIATE_NOT_ALLOWED, known)


def test_leaf_signed_with_the_ca_key_under_another_issuer_name_gets_no_call(
    session_server: Server, pki_dir: Path, clock: TestClock
) -> None:
    ca = _ca(pki_dir)
    known = _known_person(session_server, _immigration(ca, clock))
    other_name = certs.other_name("Pantau issuing CA")
    leaf = certs.leaf(ca, IMMIGRATION, now=clock.now(), issuer_name=other_name)
    # Alone, it fails the handshake: no certificate of the CA file has that name.
    with session_server.channel(leaf) as channel, pytest.raises(grpc.RpcError) as caught:
        _register(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    # With a certificate of that name for the CA's own key, signed by the CA, it passes.
    now = clock.now()
    alias = certs.Issued(
        x509.CertificateBuilder()
        .subject_name(other_name)
        .issuer_name(ca.cert.subject)
        .public_key(ca.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - certs.BEFORE)
        .not_valid_after(now + certs.AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca.key, hashes.SHA256()),
        ca.key,
    )
    _refused(session_server, leaf, (alias,), cc.INTERMEDIATE_NOT_ALLOWED, known)


def test_leaf_that_is_a_ca_gets_no_call(
    session_server: Server, pki_dir: Path, clock: TestClock
) -> None:
    ca = _ca(pki_dir)
    known = _known_person(session_server, _immigration(ca, clock))
    leaf = certs.leaf(ca, IMMIGRATION, now=clock.now(), is_ca=True)
    _refused(session_server, leaf, (), cc.LEAF_IS_CA, known)


@pytest.mark.parametrize(
    "usage",
    [
        ExtendedKeyUsageOID.SERVER_AUTH,
        ExtendedKeyUsageOID.CODE_SIGNING,
        ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,
    ],
    ids=["serverAuth", "codeSigning", "anyExtendedKeyUsage"],
)
def test_leaf_without_client_auth_gets_no_call(
    usage: x509.ObjectIdentifier, session_server: Server, pki_dir: Path, clock: TestClock
) -> None:
    # The handshake refuses these itself; the verifier would too (tests/unit).
    leaf = certs.leaf(_ca(pki_dir), IMMIGRATION, now=clock.now(), usages=[usage])
    with session_server.channel(leaf) as channel, pytest.raises(grpc.RpcError) as caught:
        _register(channel)
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE


def test_the_development_agency_certificates_still_work(
    session_server: Server, server_without_crl: Server, pki_dir: Path
) -> None:
    for server in (session_server, server_without_crl):
        for agency_id in (IMMIGRATION, AGENCIES["POLICE"]):
            client = certs.Issued(
                pki.load_certificate(pki_dir / f"{agency_id}.crt"),
                pki.load_private_key(pki_dir / f"{agency_id}.key"),
            )
            with server.channel(client) as channel:
                health = health_pb2_grpc.HealthStub(channel).Check(
                    health_pb2.HealthCheckRequest(), timeout=5
                )
            assert health.status == health_pb2.HealthCheckResponse.SERVING
        _works(
            server,
            certs.Issued(
                pki.load_certificate(pki_dir / f"{IMMIGRATION}.crt"),
                pki.load_private_key(pki_dir / f"{IMMIGRATION}.key"),
            ),
        )


def test_an_allowed_intermediate_issues_client_certificates_when_the_ca_permits(
    deep_server: Server, deep_pki: DeepPki, clock: TestClock
) -> None:
    _works(deep_server, _immigration(deep_pki.allowed, clock), (deep_pki.allowed,))
    # The CA's own leaves too.
    _works(deep_server, _immigration(deep_pki.ca, clock))


def test_an_intermediate_the_operator_did_not_allow_gets_no_call(
    deep_server: Server, deep_pki: DeepPki, clock: TestClock
) -> None:
    known = _known_person(deep_server, _immigration(deep_pki.ca, clock))
    client = _immigration(deep_pki.not_allowed, clock)
    _refused(deep_server, client, (deep_pki.not_allowed,), cc.INTERMEDIATE_NOT_ALLOWED, known)


def test_serve_refuses_an_allowed_intermediate_the_ca_path_length_forbids(
    settings: Settings, pki_dir: Path, clock: TestClock, tmp_path: Path
) -> None:
    intermediate = certs.intermediate(_ca(pki_dir), "Kanim Tarempa issuing CA", now=clock.now())
    allowed = tmp_path / "allowed.crt"
    pki.write_pem(allowed, intermediate.cert)
    with pytest.raises(SystemExit, match=r"allowed\.crt.*pathLen 0 permits no intermediate CA"):
        app.start_server(settings.model_copy(update={"tls_client_intermediate_files": (allowed,)}))
