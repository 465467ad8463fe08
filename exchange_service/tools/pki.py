"""A development PKI for mutual TLS: one CA, a server certificate, one client
certificate per agency, and a CRL.

Everything is ECDSA P-256 with SHA-256 signatures, written as PEM; private keys
are unencrypted PKCS#8 (mode 0600), the output directory is mode 0700.

An agency is named in its client certificate by exactly one SAN URI
``spiffe://pantau/agency/<agency_id>``, which the service reads back with
:func:`exchange_service.security.agency_identity.agency_id_from_certificate`.
The peer's chain is checked by gRPC's handshake and again, in full, by
:class:`exchange_service.security.client_certificates.ClientCertificateVerifier`;
revocation is checked with
:class:`exchange_service.security.revocation.RevocationList`, whose CRL
checks this module reuses.

This is a tool for development and tests. Production certificates come from
the agencies' real CA; only the file names and the SAN URI convention carry
over.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import TypeAlias

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from exchange_service.security.agency_identity import (
    AGENCY_ID_PATTERN,
    AGENCY_URI_PREFIX,
    agency_id_from_certificate,
    is_valid_agency_id,
)
from exchange_service.security.revocation import check_crl_issued_by, crl_number

# The identity and CRL checks are the service's own; they are named here too,
# as the PKI's users check what it issued with them.
__all__ = [
    "AGENCY_ID_PATTERN",
    "AGENCY_URI_PREFIX",
    "CA_CERT_FILE",
    "CA_KEY_FILE",
    "CLOCK_SKEW",
    "CRL_FILE",
    "DEV_CA_COMMON_NAME",
    "ORGANIZATION",
    "RESERVED_AGENCY_IDS",
    "SERVER_CERT_FILE",
    "SERVER_KEY_FILE",
    "DevPki",
    "PemObject",
    "agency_id_from_certificate",
    "check_crl_issued_by",
    "create_ca",
    "create_crl",
    "create_dev_pki",
    "crl_number",
    "generate_key",
    "is_valid_agency_id",
    "issue_client_certificate",
    "issue_server_certificate",
    "load_certificate",
    "load_private_key",
    "revoke",
    "write_pem",
]

log = logging.getLogger(__name__)

ORGANIZATION = "Pantau"
DEV_CA_COMMON_NAME = "Pantau development CA"

CA_CERT_FILE = "ca.crt"
CA_KEY_FILE = "ca.key"
CRL_FILE = "ca.crl"
SERVER_CERT_FILE = "server.crt"
SERVER_KEY_FILE = "server.key"
# Agency files are "<agency_id>.crt" / ".key": these ids would overwrite the CA's or server's.
RESERVED_AGENCY_IDS = frozenset({"ca", "server"})

# Certificates start this long before "now", so that a peer whose clock is a
# little behind does not see them as not yet valid.
CLOCK_SKEW = timedelta(minutes=5)

_HASH = hashes.SHA256()
_Issuer: TypeAlias = Callable[[], tuple[x509.Certificate, ec.EllipticCurvePrivateKey]]
_Check: TypeAlias = Callable[[x509.Certificate], bool]
_CURVE = ec.SECP256R1()

PemObject: TypeAlias = (
    x509.Certificate | x509.CertificateRevocationList | ec.EllipticCurvePrivateKey
)


@dataclass(frozen=True)
class DevPki:
    """Paths of the files :func:`create_dev_pki` made or kept in ``out_dir``."""

    out_dir: Path
    ca_cert: Path
    ca_key: Path
    crl: Path
    server_cert: Path
    server_key: Path
    agency_ids: tuple[str, ...]
    # Files written by this run (empty when everything was already there).
    created: tuple[Path, ...]

    def agency_cert(self, agency_id: str) -> Path:
        """The client certificate of ``agency_id``; KeyError if it is not one of ours."""
        return self._agency_file(agency_id, ".crt")

    def agency_key(self, agency_id: str) -> Path:
        """The private key of ``agency_id``; KeyError if it is not one of ours."""
        return self._agency_file(agency_id, ".key")

    def _agency_file(self, agency_id: str, suffix: str) -> Path:
        if agency_id not in self.agency_ids:
            raise KeyError(agency_id)
        return self.out_dir / f"{agency_id}{suffix}"


# --- issuing --------------------------------------------------------------------


def generate_key() -> ec.EllipticCurvePrivateKey:
    """A fresh ECDSA P-256 private key."""
    return ec.generate_private_key(_CURVE)


def create_ca(
    common_name: str = DEV_CA_COMMON_NAME,
    *,
    now: datetime | None = None,
    valid_days: int = 365,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A new self-signed CA certificate and its key.

    The CA is valid from ``now`` minus :data:`CLOCK_SKEW` for ``valid_days``
    days, may sign certificates and CRLs, and may not sign other CAs
    (pathLenConstraint 0). ``now`` must be timezone-aware; default: the current time.
    """
    start = _aware(now)
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    key = generate_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - CLOCK_SKEW)
        .not_valid_after(start + timedelta(days=valid_days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, _HASH)
    )
    return cert, key


def issue_client_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    agency_id: str,
    *,
    not_before: datetime,
    not_after: datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client certificate for ``agency_id`` signed by the CA, and its new key.

    Subject CN=<agency_id>, O=Pantau; SAN exactly one URI
    ``spiffe://pantau/agency/<agency_id>``; EKU clientAuth only; not a CA.
    The dates are used as given (past dates make an expired certificate),
    so :func:`agency_id_from_certificate` of the result is ``agency_id``.
    ValueError if the agency id is invalid or the dates are naive or reversed.
    """
    if not is_valid_agency_id(agency_id):
        raise ValueError(f"invalid agency id {agency_id!r}: want {AGENCY_ID_PATTERN.pattern}")
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, agency_id),
        ]
    )
    san = x509.SubjectAlternativeName(
        [x509.UniformResourceIdentifier(AGENCY_URI_PREFIX + agency_id)]
    )
    return _issue_leaf(
        ca_cert,
        ca_key,
        subject,
        san,
        ExtendedKeyUsageOID.CLIENT_AUTH,
        not_before=not_before,
        not_after=not_after,
    )


def issue_server_certificate(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    dns_names: Sequence[str] = ("localhost",),
    ip_addresses: Sequence[str] = ("127.0.0.1",),
    not_before: datetime,
    not_after: datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A server certificate signed by the CA, and its new key.

    SAN holds exactly ``dns_names`` (DNS) and ``ip_addresses`` (IP), in that
    order; EKU serverAuth only; subject CN is the first name, O=Pantau.
    ValueError if there is no name at all, an IP address does not parse, or
    the dates are naive or reversed.
    """
    ips = [ipaddress.ip_address(ip) for ip in ip_addresses]
    if not dns_names and not ips:
        raise ValueError("a server certificate needs at least one DNS name or IP address")
    names: list[x509.GeneralName] = [x509.DNSName(name) for name in dns_names]
    names += [x509.IPAddress(ip) for ip in ips]
    common_name = dns_names[0] if dns_names else str(ips[0])
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, ORGANIZATION),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    return _issue_leaf(
        ca_cert,
        ca_key,
        subject,
        x509.SubjectAlternativeName(names),
        ExtendedKeyUsageOID.SERVER_AUTH,
        not_before=not_before,
        not_after=not_after,
    )


def _issue_leaf(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    san: x509.SubjectAlternativeName,
    usage: x509.ObjectIdentifier,
    *,
    not_before: datetime,
    not_after: datetime,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    start, end = _aware(not_before), _aware(not_after)
    if end <= start:
        raise ValueError("not_after must be later than not_before")
    if not _same_public_key(ca_cert, ca_key):
        raise ValueError("the CA key does not belong to the CA certificate")
    key = generate_key()
    public_key = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(san, critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
        .sign(ca_key, _HASH)
    )
    return cert, key


# --- revocation -----------------------------------------------------------------


def create_crl(
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    revoked: Iterable[tuple[int, datetime]] = (),
    *,
    now: datetime | None = None,
    valid_days: int = 365,
    number: int = 1,
) -> x509.CertificateRevocationList:
    """A CRL signed by the CA listing ``(serial, revocation date)`` pairs.

    lastUpdate is ``now``, nextUpdate ``now + valid_days``; it carries the
    CRL number ``number`` and the CA's key identifier.
    """
    start = _aware(now)
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    if not _same_public_key(ca_cert, ca_key):
        raise ValueError("the CA key does not belong to the CA certificate")
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca_cert.subject)
        .last_update(start)
        .next_update(start + timedelta(days=valid_days))
        .add_extension(x509.CRLNumber(number), critical=False)
        .add_extension(_authority_key_identifier(ca_cert), critical=False)
    )
    for serial, when in sorted(revoked):
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(_aware(when))
            .build()
        )
    return builder.sign(ca_key, _HASH)


def revoke(
    target: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    serials: Iterable[int],
    *,
    now: datetime | None = None,
    valid_days: int = 365,
) -> None:
    """Add ``serials`` to the CA's CRL and write it atomically.

    ``target`` is the CRL file or a directory holding ``ca.crl``. Serials the
    existing CRL already lists stay, with their original revocation dates; new
    ones are revoked at ``now``. The new CRL gets the next CRL number and
    nextUpdate ``now + valid_days``. A missing CRL counts as empty; an existing
    one that is not this CA's (issuer or signature) is a ValueError and the
    file is left alone, so earlier revocations are never silently dropped.
    With no serials this just re-signs the list with fresh dates.
    """
    path = target / CRL_FILE if target.is_dir() else target
    when = _aware(now)
    revoked: dict[int, datetime] = {}
    number = 1
    if path.exists():
        old = x509.load_pem_x509_crl(path.read_bytes())
        check_crl_issued_by(old, ca_cert)
        revoked = {entry.serial_number: entry.revocation_date_utc for entry in old}
        number = crl_number(old) + 1
    for serial in serials:
        revoked.setdefault(serial, when)
    crl = create_crl(
        ca_cert, ca_key, revoked.items(), now=when, valid_days=valid_days, number=number
    )
    write_pem(path, crl)


# --- the development PKI in one directory ------------------------------------------


def create_dev_pki(
    out_dir: Path,
    agency_ids: Sequence[str],
    *,
    now: datetime | None = None,
    valid_days: int = 365,
    server_names: Sequence[str] = ("localhost",),
    server_ips: Sequence[str] = ("127.0.0.1",),
) -> DevPki:
    """Make (or complete) a development PKI in ``out_dir`` and return its paths.

    Files: ``ca.crt``/``ca.key``, ``server.crt``/``server.key`` (SAN
    ``server_names`` + ``server_ips``, EKU serverAuth), ``<id>.crt``/``<id>.key``
    per agency (EKU clientAuth, SAN URI ``spiffe://pantau/agency/<id>``) and
    ``ca.crl`` (signed by the CA, nextUpdate in ``valid_days``).

    Idempotent, so that certificates clients already hold keep working:

    * an existing CA is reused, never replaced; a CA key or certificate
      without the other, or a key that does not match, is a ValueError;
    * an existing certificate/key pair is kept if the key matches, the CA
      issued it and it has not expired (the server's also if its SANs are
      the ones asked for); otherwise the pair is issued anew;
    * an existing CRL of this CA is kept with its revocations (re-signed only
      if its nextUpdate has passed); a missing or foreign one is replaced by
      an empty CRL.

    Leaf certificates run from ``now - CLOCK_SKEW`` for ``valid_days`` days
    but never beyond the CA's own expiry. The directory is created with mode
    0700 (an existing directory's mode is left alone, with a warning if others
    may read it); keys are written with mode 0600, everything atomically.
    ValueError for an invalid or reserved ("ca", "server") agency id.
    """
    when = _aware(now)
    if valid_days < 1:
        raise ValueError("valid_days must be at least 1")
    ids = tuple(dict.fromkeys(agency_ids))
    for agency_id in ids:
        if not is_valid_agency_id(agency_id):
            raise ValueError(f"invalid agency id {agency_id!r}: want {AGENCY_ID_PATTERN.pattern}")
        if agency_id in RESERVED_AGENCY_IDS:
            raise ValueError(f"agency id {agency_id!r} is reserved (its files would clash)")

    _make_private_dir(out_dir)
    created: list[Path] = []
    ca_cert, ca_key = _ensure_ca(out_dir, when, valid_days, created)
    not_before = when - CLOCK_SKEW
    not_after = min(when + timedelta(days=valid_days), ca_cert.not_valid_after_utc)

    wanted_server = (list(server_names), [str(ipaddress.ip_address(ip)) for ip in server_ips])
    _ensure_leaf(
        out_dir / SERVER_CERT_FILE,
        out_dir / SERVER_KEY_FILE,
        ca_cert,
        now=when,
        issue=partial(
            issue_server_certificate,
            ca_cert,
            ca_key,
            dns_names=server_names,
            ip_addresses=server_ips,
            not_before=not_before,
            not_after=not_after,
        ),
        wanted=lambda cert: _server_names(cert) == wanted_server,
        created=created,
    )
    for agency_id in ids:
        _ensure_leaf(
            out_dir / f"{agency_id}.crt",
            out_dir / f"{agency_id}.key",
            ca_cert,
            now=when,
            issue=partial(
                issue_client_certificate,
                ca_cert,
                ca_key,
                agency_id,
                not_before=not_before,
                not_after=not_after,
            ),
            wanted=partial(_names_agency, agency_id),
            created=created,
        )
    _ensure_crl(
        out_dir / CRL_FILE, ca_cert, ca_key, now=when, valid_days=valid_days, created=created
    )

    return DevPki(
        out_dir=out_dir,
        ca_cert=out_dir / CA_CERT_FILE,
        ca_key=out_dir / CA_KEY_FILE,
        crl=out_dir / CRL_FILE,
        server_cert=out_dir / SERVER_CERT_FILE,
        server_key=out_dir / SERVER_KEY_FILE,
        agency_ids=ids,
        created=tuple(created),
    )


def _ensure_ca(
    out_dir: Path, now: datetime, valid_days: int, created: list[Path]
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    cert_path, key_path = out_dir / CA_CERT_FILE, out_dir / CA_KEY_FILE
    if cert_path.exists() or key_path.exists():
        if not (cert_path.exists() and key_path.exists()):
            raise ValueError(
                f"{out_dir} holds only one of {CA_CERT_FILE} and {CA_KEY_FILE}; "
                "refusing to replace a CA that certificates may depend on"
            )
        cert, key = load_certificate(cert_path), load_private_key(key_path)
        if not _same_public_key(cert, key):
            raise ValueError(f"{key_path} is not the key of {cert_path}")
        if cert.not_valid_after_utc <= now:
            log.warning("development CA %s expired on %s", cert_path, cert.not_valid_after_utc)
        log.info("reusing the CA in %s", cert_path)
        return cert, key
    cert, key = create_ca(now=now, valid_days=valid_days)
    write_pem(key_path, key)
    write_pem(cert_path, cert)
    created += [cert_path, key_path]
    log.info("created a development CA in %s", cert_path)
    return cert, key


def _ensure_leaf(
    cert_path: Path,
    key_path: Path,
    ca_cert: x509.Certificate,
    *,
    now: datetime,
    issue: _Issuer,
    wanted: _Check,
    created: list[Path],
) -> None:
    if cert_path.exists() and key_path.exists():
        reason: str | None
        try:
            cert, key = load_certificate(cert_path), load_private_key(key_path)
        except ValueError as exc:
            reason = f"unreadable ({exc})"
        else:
            reason = _leaf_problem(cert, key, ca_cert, now, wanted)
        if reason is None:
            return
        log.warning("re-issuing %s: %s", cert_path, reason)
    cert, key = issue()
    write_pem(key_path, key)
    write_pem(cert_path, cert)
    created += [cert_path, key_path]


def _leaf_problem(
    cert: x509.Certificate,
    key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    now: datetime,
    wanted: _Check,
) -> str | None:
    if not _same_public_key(cert, key):
        return "the key does not match the certificate"
    if not _issued_by(cert, ca_cert):
        return "not issued by the current CA"
    if cert.not_valid_after_utc <= now:
        return "expired"
    if not wanted(cert):
        return "names differ from those asked for"
    return None


def _ensure_crl(
    path: Path,
    ca_cert: x509.Certificate,
    ca_key: ec.EllipticCurvePrivateKey,
    *,
    now: datetime,
    valid_days: int,
    created: list[Path],
) -> None:
    if path.exists():
        try:
            crl = x509.load_pem_x509_crl(path.read_bytes())
            check_crl_issued_by(crl, ca_cert)
        except ValueError as exc:
            log.warning("replacing %s with an empty CRL: %s", path, exc)
        else:
            next_update = crl.next_update_utc
            if next_update is None or next_update <= now:
                revoke(path, ca_cert, ca_key, (), now=now, valid_days=valid_days)
                created.append(path)
            return
    write_pem(path, create_crl(ca_cert, ca_key, now=now, valid_days=valid_days))
    created.append(path)


# --- files ----------------------------------------------------------------------


def write_pem(path: Path, obj: PemObject) -> None:
    """Write a certificate, CRL or private key to ``path`` as PEM, atomically.

    Private keys are unencrypted PKCS#8 with mode 0600; certificates and CRLs
    get mode 0644. The file is replaced by rename, so a reader sees the old
    or the new content, never a partial one.
    """
    if isinstance(obj, ec.EllipticCurvePrivateKey):
        data = obj.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        mode = 0o600
    else:
        data = obj.public_bytes(serialization.Encoding.PEM)
        mode = 0o644
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def load_certificate(path: Path) -> x509.Certificate:
    """The first PEM certificate in ``path``; ValueError if there is none."""
    return x509.load_pem_x509_certificate(path.read_bytes())


def load_private_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """The unencrypted PEM private key in ``path``; ValueError unless it is an EC key."""
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path} is not an EC private key")
    return key


def _make_private_dir(path: Path) -> None:
    if path.is_dir():
        if path.stat().st_mode & 0o077:
            log.warning("%s may be read by other users; it holds private keys", path)
        return
    path.mkdir(parents=True, mode=0o700)
    os.chmod(path, 0o700)  # mkdir's mode is subject to the umask


# --- small helpers ----------------------------------------------------------------


def _aware(when: datetime | None) -> datetime:
    if when is None:
        return datetime.now(UTC)
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("datetimes must be timezone-aware")
    return when.astimezone(UTC)


def _same_public_key(cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> bool:
    return cert.public_key() == key.public_key()


def _issued_by(cert: x509.Certificate, ca_cert: x509.Certificate) -> bool:
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _authority_key_identifier(ca_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    ski = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _server_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    ips = [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
    return san.get_values_for_type(x509.DNSName), ips


def _names_agency(agency_id: str, cert: x509.Certificate) -> bool:
    return agency_id_from_certificate(cert) == agency_id
