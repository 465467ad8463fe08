"""Certificates the development PKI does not make, for the tests of client certificate paths.

CAs with a longer path (pathLen above 0), intermediates, and agency leaves that
each break one rule: issued by an intermediate, by the CA's key under another
issuer name, a CA themselves, without clientAuth, with an unknown critical
extension. They follow the development PKI's profile (ECDSA P-256, SHA-256,
key identifiers) unless told otherwise. Times are given, never read from the
machine: the tests pass the suite's clock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange_service.tools import pki

_HASH = hashes.SHA256()
# Wide enough that the machine's time (which the TLS handshake goes by) falls
# inside even when the suite's clock is frozen at the other end of today (WIB).
BEFORE = timedelta(days=2)
AFTER = timedelta(days=30)


@dataclass(frozen=True)
class Issued:
    """A certificate and its private key."""

    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey

    @property
    def cert_pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    @property
    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, pki.ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _key_usage(*, digital_signature: bool, key_cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=key_cert_sign,
        crl_sign=key_cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def ca(common_name: str, *, now: datetime, path_length: int | None) -> Issued:
    """A self-signed CA that allows ``path_length`` intermediates below it (None: any)."""
    key = pki.generate_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BEFORE)
        .not_valid_after(now + AFTER)
        .add_extension(x509.BasicConstraints(ca=True, path_length=path_length), critical=True)
        .add_extension(_key_usage(digital_signature=True, key_cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, _HASH)
    )
    return Issued(cert, key)


def _authority(issuer: Issued) -> x509.AuthorityKeyIdentifier:
    return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.key.public_key())


def intermediate(
    issuer: Issued,
    common_name: str,
    *,
    now: datetime,
    path_length: int | None = None,
    is_ca: bool = True,
    key_cert_sign: bool = True,
    valid: tuple[timedelta, timedelta] = (-BEFORE, AFTER),
) -> Issued:
    """An intermediate CA signed by ``issuer``, valid from ``now + valid[0]`` to ``now + valid[1]``;
    ``is_ca`` and ``key_cert_sign`` False make one that may not issue."""
    key = pki.generate_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid[0])
        .not_valid_after(now + valid[1])
        .add_extension(
            x509.BasicConstraints(ca=is_ca, path_length=path_length if is_ca else None),
            critical=True,
        )
        .add_extension(
            _key_usage(digital_signature=True, key_cert_sign=key_cert_sign), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(_authority(issuer), critical=False)
        .sign(issuer.key, _HASH)
    )
    return Issued(cert, key)


# An extension no verifier knows, marked critical: RFC 5280 says refuse the certificate.
UNKNOWN_CRITICAL = x509.UnrecognizedExtension(
    x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"
)


def leaf(
    issuer: Issued,
    agency_id: str,
    *,
    now: datetime,
    valid: tuple[timedelta, timedelta] = (-BEFORE, AFTER),
    issuer_name: x509.Name | None = None,
    is_ca: bool = False,
    digital_signature: bool = True,
    usages: Sequence[x509.ObjectIdentifier] | None = (ExtendedKeyUsageOID.CLIENT_AUTH,),
    authority_key_id: bool = True,
    agency_uri: bool = True,
    extra: Sequence[x509.ExtensionType] = (),
) -> Issued:
    """An agency's client certificate signed by ``issuer``'s key, like the development
    PKI's (SAN URI ``spiffe://pantau/agency/<id>``), but for the knobs: another
    issuer name, CA:TRUE, no digitalSignature, other extended key usages (None:
    no such extension), no authority key identifier, no subjectAltName at all,
    ``extra`` critical extensions.
    """
    key = pki.generate_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(agency_id))
        .issuer_name(issuer_name or issuer.cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now + valid[0])
        .not_valid_after(now + valid[1])
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(
            _key_usage(digital_signature=digital_signature, key_cert_sign=is_ca), critical=True
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if agency_uri:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.UniformResourceIdentifier(pki.AGENCY_URI_PREFIX + agency_id)]
            ),
            critical=False,
        )
    if usages is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(usages)), critical=False)
    if authority_key_id:
        builder = builder.add_extension(_authority(issuer), critical=False)
    for extension in extra:
        builder = builder.add_extension(extension, critical=True)
    return Issued(builder.sign(issuer.key, _HASH), key)


def other_name(common_name: str) -> x509.Name:
    """A subject or issuer name in the development PKI's form."""
    return _name(common_name)
