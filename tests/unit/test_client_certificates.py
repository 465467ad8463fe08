"""The client certificate verifier: the paths from the agency CA it accepts, and its refusals."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

from exchange_service.api.access import CertificateChecker
from exchange_service.security import client_certificates as cc
from exchange_service.security.client_certificates import (
    ClientCertificateConfigError,
    ClientCertificateVerifier,
)
from exchange_service.tools import pki
from tests import certificates as certs
from tests.clock import TestClock

AGENCY = "kanim-tarempa"


class Clock:
    """The suite's instant, moved by hand."""

    def __init__(self, start: datetime) -> None:
        self.start = start
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return self.start + self.offset


@pytest.fixture
def now(clock: TestClock) -> Clock:
    return Clock(clock.now())


@pytest.fixture
def ca(now: Clock) -> certs.Issued:
    """The development CA: pathLen 0."""
    return certs.Issued(*pki.create_ca(now=now(), valid_days=30))


@pytest.fixture
def verifier(ca: certs.Issued, now: Clock) -> ClientCertificateVerifier:
    return ClientCertificateVerifier(ca.cert, clock=now)


def _pems(*issued: certs.Issued) -> tuple[bytes, ...]:
    return tuple(item.cert_pem for item in issued)


def test_the_verifier_is_the_access_interceptors_certificate_checker(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    checker: CertificateChecker = verifier  # mypy checks the protocol
    assert checker.refusal(certs.leaf(ca, AGENCY, now=now()).cert, ()) is None


def test_a_leaf_the_development_pki_issues_is_accepted(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    cert, _ = pki.issue_client_certificate(
        ca.cert,
        ca.key,
        AGENCY,
        not_before=now() - timedelta(hours=1),
        not_after=now() + timedelta(days=1),
    )
    assert verifier.refusal(cert) is None


def test_a_leaf_of_another_ca_is_refused(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    foreign = certs.ca("Not Pantau", now=now(), path_length=0)
    assert verifier.refusal(certs.leaf(foreign, AGENCY, now=now()).cert) == cc.NOT_ISSUED_BY_CA
    # Under the CA's very name, but with another key.
    impostor = certs.ca("Pantau development CA", now=now(), path_length=0)
    assert impostor.cert.subject == ca.cert.subject
    leaf = certs.leaf(impostor, AGENCY, now=now())
    assert verifier.refusal(leaf.cert) == cc.BAD_SIGNATURE


def test_a_leaf_signed_with_the_ca_key_under_another_issuer_name_is_refused(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    leaf = certs.leaf(ca, AGENCY, now=now(), issuer_name=certs.other_name("Pantau issuing CA"))
    assert verifier.refusal(leaf.cert) == cc.NOT_ISSUED_BY_CA
    assert verifier.refusal(leaf.cert, _pems(ca)) == cc.NOT_ISSUED_BY_CA


def test_a_leaf_from_an_intermediate_the_ca_signed_is_refused(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    rogue = certs.intermediate(ca, "Kanim Tarempa issuing CA", now=now())
    leaf = certs.leaf(rogue, AGENCY, now=now())
    assert verifier.refusal(leaf.cert) == cc.NOT_ISSUED_BY_CA
    # The chain the client sent explains it, and changes nothing else.
    assert verifier.refusal(leaf.cert, _pems(rogue)) == cc.INTERMEDIATE_NOT_ALLOWED
    assert verifier.refusal(leaf.cert, (b"not a certificate",)) == cc.NOT_ISSUED_BY_CA


def test_a_leaf_that_is_a_ca_is_refused(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    assert verifier.refusal(certs.leaf(ca, AGENCY, now=now(), is_ca=True).cert) == cc.LEAF_IS_CA


def test_a_leaf_whose_key_usage_lacks_digital_signature_is_refused(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    leaf = certs.leaf(ca, AGENCY, now=now(), digital_signature=False)
    assert verifier.refusal(leaf.cert) == cc.NO_DIGITAL_SIGNATURE


@pytest.mark.parametrize(
    ("usages", "refusal"),
    [
        ([ExtendedKeyUsageOID.SERVER_AUTH], cc.NOT_FOR_CLIENT_AUTH),
        ([ExtendedKeyUsageOID.CODE_SIGNING], cc.NOT_FOR_CLIENT_AUTH),
        ([ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE], cc.NOT_FOR_CLIENT_AUTH),
        ([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], None),
        (None, None),
    ],
    ids=["serverAuth", "codeSigning", "any", "serverAuth+clientAuth", "no-extension"],
)
def test_extended_key_usage_if_present_includes_client_auth(
    usages: list[x509.ObjectIdentifier] | None,
    refusal: str | None,
    verifier: ClientCertificateVerifier,
    ca: certs.Issued,
    now: Clock,
) -> None:
    leaf = certs.leaf(ca, AGENCY, now=now(), usages=usages)
    assert verifier.refusal(leaf.cert) == refusal


def test_a_leaf_without_key_identifier_or_subject_alt_name_passes_the_path_check(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    # Its issuer is found by name and signature; the agency lookup refuses a leaf naming none.
    leaf = certs.leaf(ca, AGENCY, now=now(), authority_key_id=False)
    assert verifier.refusal(leaf.cert) is None
    assert verifier.refusal(certs.leaf(ca, AGENCY, now=now(), agency_uri=False).cert) is None


def test_path_validation_refuses_what_the_named_checks_do_not_cover(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    leaf = certs.leaf(ca, AGENCY, now=now(), extra=[certs.UNKNOWN_CRITICAL])
    assert verifier.refusal(leaf.cert) == cc.NOT_ON_VALID_PATH


def test_validity_is_checked_at_each_call(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    leaf = certs.leaf(ca, AGENCY, now=now(), valid=(timedelta(hours=1), timedelta(hours=2)))
    assert verifier.refusal(leaf.cert) == "the client certificate is not valid yet"
    # Both ends are valid instants (X.509 times are whole seconds).
    for instant in (leaf.cert.not_valid_before_utc, leaf.cert.not_valid_after_utc):
        now.offset = instant - now.start
        assert verifier.refusal(leaf.cert) is None
    now.offset += timedelta(microseconds=1)
    assert verifier.refusal(leaf.cert) == "the client certificate has expired"


def test_the_issuers_validity_counts_too(now: Clock) -> None:
    ca = certs.ca("Agency CA", now=now(), path_length=1)
    issuing = certs.intermediate(
        ca, "Issuing CA", now=now(), valid=(-timedelta(days=1), timedelta(hours=1))
    )
    verifier = ClientCertificateVerifier(ca.cert, [issuing.cert], clock=now)
    leaf = certs.leaf(issuing, AGENCY, now=now())
    assert verifier.refusal(leaf.cert) is None
    now.offset = timedelta(hours=2)
    assert verifier.refusal(leaf.cert) == (
        "the client certificate's issuing intermediate CA has expired"
    )
    now.offset = certs.AFTER + timedelta(seconds=1)
    direct = certs.leaf(ca, AGENCY, now=now(), valid=(-timedelta(days=3), timedelta(days=1)))
    assert verifier.refusal(direct.cert) == "the agency CA has expired"


def test_a_leaf_valid_only_when_its_issuer_is_not_is_refused(now: Clock) -> None:
    ca = certs.ca("Agency CA", now=now(), path_length=0)
    verifier = ClientCertificateVerifier(ca.cert, clock=now)
    leaf = certs.leaf(ca, AGENCY, now=now(), valid=(certs.AFTER, certs.AFTER * 2))
    assert verifier.refusal(leaf.cert) == cc.NEVER_VALID


def test_an_allowed_intermediate_issues_when_the_ca_path_length_permits(now: Clock) -> None:
    ca = certs.ca("Agency CA", now=now(), path_length=1)
    allowed = certs.intermediate(ca, "Allowed issuing CA", now=now(), path_length=0)
    other = certs.intermediate(ca, "Other issuing CA", now=now(), path_length=0)
    verifier = ClientCertificateVerifier(ca.cert, [allowed.cert, allowed.cert], clock=now)
    assert verifier.allowed_intermediates == (allowed.cert,)
    assert verifier.refusal(certs.leaf(allowed, AGENCY, now=now()).cert, _pems(allowed)) is None
    assert verifier.refusal(certs.leaf(allowed, AGENCY, now=now()).cert) is None
    assert verifier.refusal(certs.leaf(ca, AGENCY, now=now()).cert) is None
    below_other = certs.leaf(other, AGENCY, now=now()).cert
    assert verifier.refusal(below_other) == cc.NOT_ISSUED_BY_CA
    assert verifier.refusal(below_other, _pems(other)) == cc.INTERMEDIATE_NOT_ALLOWED
    # One level down only: a CA below the allowed one issues nothing.
    deeper = certs.intermediate(allowed, "Deeper issuing CA", now=now())
    below_deeper = certs.leaf(deeper, AGENCY, now=now()).cert
    assert verifier.refusal(below_deeper, _pems(deeper, allowed)) == cc.INTERMEDIATE_NOT_ALLOWED


def test_an_unlimited_ca_permits_allowed_intermediates(now: Clock) -> None:
    ca = certs.ca("Agency CA", now=now(), path_length=None)
    allowed = certs.intermediate(ca, "Allowed issuing CA", now=now())
    verifier = ClientCertificateVerifier(ca.cert, [allowed.cert], clock=now)
    assert verifier.refusal(certs.leaf(allowed, AGENCY, now=now()).cert) is None


def _alias_of(ca: certs.Issued, now: datetime) -> x509.Certificate:
    """A CA certificate for the CA's own key under another name, signed by the CA."""
    return (
        x509.CertificateBuilder()
        .subject_name(certs.other_name("Alias of the CA"))
        .issuer_name(ca.cert.subject)
        .public_key(ca.key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca.key, hashes.SHA256())
    )


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("pathLen 0", "the client CA's pathLen 0 permits no intermediate CA"),
        ("not a CA", "is not a CA"),
        ("no keyCertSign", "may not sign certificates"),
        ("other issuer", "not by the client CA"),
        ("other key", "does not verify with the client CA's key"),
        ("the CA itself", "is the client CA itself"),
    ],
)
def test_an_intermediate_the_ca_cannot_vouch_for_is_refused_at_start(
    case: str, message: str, now: Clock
) -> None:
    ca = certs.ca("Agency CA", now=now(), path_length=0 if case == "pathLen 0" else 1)
    intermediate = {
        "pathLen 0": lambda: certs.intermediate(ca, "Issuing CA", now=now()).cert,
        "not a CA": lambda: certs.intermediate(ca, "Issuing CA", now=now(), is_ca=False).cert,
        "no keyCertSign": lambda: (
            certs.intermediate(ca, "Issuing CA", now=now(), key_cert_sign=False).cert
        ),
        "other issuer": lambda: (
            certs.intermediate(
                certs.ca("Other CA", now=now(), path_length=1), "Issuing CA", now=now()
            ).cert
        ),
        "other key": lambda: (
            certs.intermediate(
                certs.ca("Agency CA", now=now(), path_length=1), "Issuing CA", now=now()
            ).cert
        ),
        "the CA itself": lambda: ca.cert,
    }[case]()
    with pytest.raises(ClientCertificateConfigError, match=message):
        ClientCertificateVerifier(ca.cert, [intermediate], clock=now)


def test_a_client_ca_that_is_not_a_ca_is_refused(ca: certs.Issued, now: Clock) -> None:
    leaf = certs.leaf(ca, AGENCY, now=now())
    with pytest.raises(ClientCertificateConfigError, match="is not a CA"):
        ClientCertificateVerifier(leaf.cert, clock=now)


def test_an_alias_of_the_ca_key_issues_nothing(
    verifier: ClientCertificateVerifier, ca: certs.Issued, now: Clock
) -> None:
    alias = _alias_of(ca, now())
    leaf = certs.leaf(ca, AGENCY, now=now(), issuer_name=alias.subject)
    assert verifier.refusal(leaf.cert) == cc.NOT_ISSUED_BY_CA
    presented = (alias.public_bytes(serialization.Encoding.PEM),)
    assert verifier.refusal(leaf.cert, presented) == cc.INTERMEDIATE_NOT_ALLOWED


def test_from_files_reads_the_ca_and_every_allowed_intermediate(now: Clock, tmp_path: Path) -> None:
    ca = certs.ca("Agency CA", now=now(), path_length=1)
    first, second, third = (certs.intermediate(ca, f"Issuing CA {n}", now=now()) for n in (1, 2, 3))
    ca_file, both, one = tmp_path / "ca.crt", tmp_path / "both.crt", tmp_path / "one.crt"
    ca_file.write_bytes(ca.cert_pem + first.cert_pem)  # only the first is the CA
    both.write_bytes(first.cert_pem + second.cert_pem)
    one.write_bytes(third.cert_pem)
    verifier = ClientCertificateVerifier.from_files(ca_file, [both, one], clock=now)
    assert verifier.allowed_intermediates == (first.cert, second.cert, third.cert)
    for issuer in (first, second, third, ca):
        assert verifier.refusal(certs.leaf(issuer, AGENCY, now=now()).cert) is None
    alone = ClientCertificateVerifier.from_files(ca_file, clock=now)
    assert alone.allowed_intermediates == ()
    assert alone.refusal(certs.leaf(first, AGENCY, now=now()).cert) == cc.NOT_ISSUED_BY_CA


def test_from_files_names_the_file_it_refuses(ca: certs.Issued, now: Clock, tmp_path: Path) -> None:
    ca_file, intermediates_file = tmp_path / "ca.crt", tmp_path / "allowed.crt"
    ca_file.write_bytes(ca.cert_pem)
    intermediates_file.write_bytes(b"")
    with pytest.raises(ClientCertificateConfigError, match=r"allowed\.crt: no PEM certificates"):
        ClientCertificateVerifier.from_files(ca_file, [intermediates_file])
    intermediates_file.write_bytes(certs.intermediate(ca, "Issuing CA", now=now()).cert_pem)
    with pytest.raises(ClientCertificateConfigError, match=r"allowed\.crt: .*pathLen 0"):
        ClientCertificateVerifier.from_files(ca_file, [intermediates_file])
    ca_file.write_bytes(certs.leaf(ca, AGENCY, now=now()).cert_pem)
    with pytest.raises(ClientCertificateConfigError, match=r"ca\.crt: .*is not a CA"):
        ClientCertificateVerifier.from_files(ca_file)
    with pytest.raises(OSError, match="missing"):
        ClientCertificateVerifier.from_files(tmp_path / "missing.crt")
