"""Client certificates checked in full: issued by the agency CA (or an intermediate
the operator allowed), for client authentication, current, on a path the CA permits.

gRPC's TLS handshake checks the peer against the client CA file, but not fully:
it lets in a leaf issued by an intermediate that the CA signed although the CA's
pathLen is 0, and it cannot be configured further from Python. So the access
control asks a :class:`ClientCertificateVerifier` about the peer certificate
of every call, with or without a CRL.

The path is the leaf and its issuer (the CA, or one allowed intermediate and
the CA); a chain the client sends is never trusted, only used to say why a leaf
from an intermediate that is not allowed is refused. The path is checked once
per certificate, explicitly (each refusal has its own reason) and then by
``cryptography``'s RFC 5280 / web PKI path validation (``x509.verification``),
which also covers what the explicit checks do not name: signature algorithms,
critical extensions, name constraints. Its profile is relaxed in two ways
only: a leaf may lack the authority key identifier (its issuer is found by
name and signature) and the subjectAltName (the agency lookup refuses such a
leaf with its own reason).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from exchange_service.domain.clock import Clock, system_clock

log = logging.getLogger(__name__)

# What a refused client is told: fixed sentences, never exception text.
NOT_ISSUED_BY_CA = "the client certificate is not issued by the agency CA"
INTERMEDIATE_NOT_ALLOWED = (
    "the client certificate is issued by an intermediate CA that is not allowed"
)
BAD_SIGNATURE = "the client certificate's signature does not verify with its issuer's key"
UNREADABLE = "the client certificate's extensions cannot be read"
LEAF_IS_CA = "the client certificate is a CA certificate"
NO_DIGITAL_SIGNATURE = "the client certificate's key usage does not allow digital signatures"
NOT_FOR_CLIENT_AUTH = "the client certificate's extended key usage does not include clientAuth"
NOT_ON_VALID_PATH = "the client certificate does not verify on a valid path from the agency CA"
NEVER_VALID = "the client certificate is not valid at any time its issuers are"

# Certificates whose path check is remembered (one or two per agency is typical).
_REMEMBERED_CERTIFICATES = 1024
_LEAF = "the client certificate"
_INTERMEDIATE = "the client certificate's issuing intermediate CA"
_CA = "the agency CA"


class ClientCertificateConfigError(ValueError):
    """The client CA or the allowed intermediates are unusable; the message says why."""


@dataclass(frozen=True)
class _Validity:
    """When one certificate of a path is valid (inclusive), and how a refusal names it."""

    whose: str
    not_before: datetime
    not_after: datetime


@dataclass(frozen=True)
class _Verdict:
    """What a certificate's path says, at any time: a refusal, or when each part is valid."""

    refusal: str | None
    validity: tuple[_Validity, ...] = ()


class ClientCertificateVerifier:
    """Whether a client certificate may call: see :meth:`refusal`.

    Guarantees:

    * A certificate is accepted only if its issuer name is the CA's subject and
      its signature verifies with the CA's public key, or the same holds for
      one of the allowed intermediates; the leaf is not a CA (basicConstraints
      absent or CA:FALSE); its key usage, if present, allows digitalSignature;
      its extended key usage, if present, includes clientAuth; the path passes
      RFC 5280 validation (path length constraints included) from the CA as
      the only trust anchor; and at the time of the call (``clock``) the leaf,
      the intermediate if any, and the CA are all within their validity.
    * The constructor refuses (ClientCertificateConfigError, naming the
      certificate and the check) a CA that is not a CA, and an allowed
      intermediate that the CA did not sign (issuer name and signature), that
      is not a CA with basic constraints, whose key usage does not allow
      certificate signing, or that the CA's pathLen does not permit.
    * The time-independent checks run once per certificate (up to 1024 are
      remembered); each call then only compares the clock with the path's
      validity, so a certificate not yet valid becomes acceptable on time.
    """

    def __init__(
        self,
        ca: x509.Certificate,
        allowed_intermediates: Sequence[x509.Certificate] = (),
        *,
        clock: Clock = system_clock,
    ) -> None:
        _check_is_ca(ca, "the client CA")
        self._ca = ca
        self._intermediates = tuple(
            dict.fromkeys(_check_allowed_intermediate(ca, cert) for cert in allowed_intermediates)
        )
        self._clock = clock
        self._store = Store([ca])
        self._ee_policy = (
            ExtensionPolicy.webpki_defaults_ee()
            .may_be_present(x509.AuthorityKeyIdentifier, Criticality.NON_CRITICAL, None)
            .may_be_present(x509.SubjectAlternativeName, Criticality.AGNOSTIC, None)
        )
        # Every call presents a certificate; its path is checked once.
        self._verdict = functools.lru_cache(maxsize=_REMEMBERED_CERTIFICATES)(self._examine)

    @classmethod
    def from_files(
        cls,
        ca_file: Path,
        intermediate_files: Sequence[Path] = (),
        *,
        clock: Clock = system_clock,
    ) -> ClientCertificateVerifier:
        """The verifier for the first certificate in ``ca_file`` (the one a CRL
        must be signed by) and every certificate in ``intermediate_files``.

        OSError if a file cannot be read; ClientCertificateConfigError naming the
        file if it holds no PEM certificate or a certificate fails the checks.
        """
        try:
            ca = x509.load_pem_x509_certificate(ca_file.read_bytes())
        except ValueError as exc:
            raise ClientCertificateConfigError(f"{ca_file}: no PEM certificate") from exc
        try:
            _check_is_ca(ca, "the client CA")
        except ClientCertificateConfigError as exc:
            raise ClientCertificateConfigError(f"{ca_file}: {exc}") from exc
        intermediates: list[x509.Certificate] = []
        for path in intermediate_files:
            try:
                certificates = x509.load_pem_x509_certificates(path.read_bytes())
            except ValueError as exc:
                raise ClientCertificateConfigError(f"{path}: no PEM certificates") from exc
            for cert in certificates:
                try:
                    _check_allowed_intermediate(ca, cert)
                except ClientCertificateConfigError as exc:
                    raise ClientCertificateConfigError(f"{path}: {exc}") from exc
            intermediates += certificates
        return cls(ca, intermediates, clock=clock)

    @property
    def allowed_intermediates(self) -> tuple[x509.Certificate, ...]:
        """The intermediates that may issue client certificates besides the CA."""
        return self._intermediates

    def refusal(self, cert: x509.Certificate, presented_chain: Sequence[bytes] = ()) -> str | None:
        """None if ``cert`` may call now, else why not, in words fit for the client.

        ``presented_chain`` is what the client sent after its certificate, as
        gRPC gives it (``auth_context()["x509_pem_cert_chain"]``, PEM); it is
        read only to explain the refusal of a leaf whose issuer is not trusted.
        """
        verdict = self._verdict(cert)
        if verdict.refusal is not None:
            if verdict.refusal == NOT_ISSUED_BY_CA and _issued_by_any(
                cert, _certificates(presented_chain)
            ):
                return INTERMEDIATE_NOT_ALLOWED
            return verdict.refusal
        now = self._clock()
        for validity in verdict.validity:
            if now < validity.not_before:
                return f"{validity.whose} is not valid yet"
            if now > validity.not_after:
                return f"{validity.whose} has expired"
        return None

    # --- the time-independent checks, once per certificate ----------------------------

    def _examine(self, cert: x509.Certificate) -> _Verdict:
        issuer = self._issuer_of(cert)
        if isinstance(issuer, str):
            return _Verdict(issuer)
        try:
            problem = _leaf_problem(cert)
        except (ValueError, x509.DuplicateExtension):
            return _Verdict(UNREADABLE)
        if problem is not None:
            return _Verdict(problem)
        path = [_Validity(_LEAF, cert.not_valid_before_utc, cert.not_valid_after_utc)]
        if issuer is not self._ca:
            path.append(
                _Validity(_INTERMEDIATE, issuer.not_valid_before_utc, issuer.not_valid_after_utc)
            )
        path.append(_Validity(_CA, self._ca.not_valid_before_utc, self._ca.not_valid_after_utc))
        start = max(validity.not_before for validity in path)
        end = min(validity.not_after for validity in path)
        if start >= end:
            return _Verdict(NEVER_VALID)
        # The library's validation takes one instant; any inside the common
        # window gives the verdict for all of it (validity is its only clock).
        refusal = self._path_validation_refusal(cert, issuer, start + (end - start) / 2)
        return _Verdict(refusal, tuple(path))

    def _issuer_of(self, cert: x509.Certificate) -> x509.Certificate | str:
        """The CA or allowed intermediate that issued ``cert``, or the refusal."""
        named = [
            candidate
            for candidate in (self._ca, *self._intermediates)
            if candidate.subject == cert.issuer
        ]
        if not named:
            return NOT_ISSUED_BY_CA
        for candidate in named:
            if _issued_by(cert, candidate):
                return candidate
        return BAD_SIGNATURE

    def _path_validation_refusal(
        self, cert: x509.Certificate, issuer: x509.Certificate, at: datetime
    ) -> str | None:
        verifier = (
            PolicyBuilder()
            .store(self._store)
            .time(at)
            .extension_policies(
                ca_policy=ExtensionPolicy.webpki_defaults_ca(), ee_policy=self._ee_policy
            )
            .build_client_verifier()
        )
        intermediates = [] if issuer is self._ca else [issuer]
        try:
            verifier.verify(cert, intermediates)
        except VerificationError as exc:
            log.warning(
                "refusing client certificate %s (serial %x): %s",
                cert.subject.rfc4514_string(),
                cert.serial_number,
                exc,
            )
            return NOT_ON_VALID_PATH
        return None


def _leaf_problem(cert: x509.Certificate) -> str | None:
    """Why the leaf itself may not authenticate a client, or None."""
    extensions = cert.extensions
    try:
        if extensions.get_extension_for_class(x509.BasicConstraints).value.ca:
            return LEAF_IS_CA
    except x509.ExtensionNotFound:
        pass
    try:
        if not extensions.get_extension_for_class(x509.KeyUsage).value.digital_signature:
            return NO_DIGITAL_SIGNATURE
    except x509.ExtensionNotFound:
        pass
    try:
        usages = extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        return None
    return None if ExtendedKeyUsageOID.CLIENT_AUTH in usages else NOT_FOR_CLIENT_AUTH


def _check_is_ca(cert: x509.Certificate, what: str) -> x509.BasicConstraints:
    """The certificate's basic constraints, if it is a CA that may sign certificates."""
    name = f"{what} {cert.subject.rfc4514_string()!r}"
    try:
        constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints).value
    except x509.ExtensionNotFound as exc:
        raise ClientCertificateConfigError(f"{name} has no basicConstraints") from exc
    except (ValueError, x509.DuplicateExtension) as exc:
        raise ClientCertificateConfigError(f"{name} has unreadable extensions") from exc
    if not constraints.ca:
        raise ClientCertificateConfigError(f"{name} is not a CA (basicConstraints CA:FALSE)")
    try:
        usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        return constraints
    if not usage.key_cert_sign:
        raise ClientCertificateConfigError(f"{name} may not sign certificates (keyUsage)")
    return constraints


def _check_allowed_intermediate(ca: x509.Certificate, cert: x509.Certificate) -> x509.Certificate:
    name = f"allowed intermediate {cert.subject.rfc4514_string()!r}"
    if cert.subject == ca.subject and cert.public_key() == ca.public_key():
        raise ClientCertificateConfigError(f"{name} is the client CA itself")
    if cert.issuer != ca.subject:
        raise ClientCertificateConfigError(
            f"{name} is issued by {cert.issuer.rfc4514_string()!r}, not by the client CA "
            f"{ca.subject.rfc4514_string()!r}"
        )
    if not _issued_by(cert, ca):
        raise ClientCertificateConfigError(
            f"{name}: its signature does not verify with the client CA's key"
        )
    _check_is_ca(cert, "allowed intermediate")
    path_length = _check_is_ca(ca, "the client CA").path_length
    if path_length is not None and path_length < 1:
        raise ClientCertificateConfigError(
            f"{name}: the client CA's pathLen {path_length} permits no intermediate CA"
        )
    return cert


def _issued_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool:
    """Whether ``cert`` names ``issuer`` as issuer and its signature verifies with its key."""
    try:
        cert.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


def _issued_by_any(cert: x509.Certificate, candidates: Sequence[x509.Certificate]) -> bool:
    return any(_issued_by(cert, candidate) for candidate in candidates)


def _certificates(pems: Sequence[bytes]) -> list[x509.Certificate]:
    """The certificates in ``pems`` (each may hold several), or none if they do not parse."""
    try:
        return x509.load_pem_x509_certificates(b"".join(bytes(pem) for pem in pems))
    except ValueError:
        return []
