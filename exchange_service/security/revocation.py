"""Revocation of agencies' client certificates, from a CRL file the CA signed.

gRPC (OpenSSL) checks the peer's chain and validity dates during the TLS
handshake but is given no CRL; access control (``api.access``) asks a
:class:`RevocationList` about the peer certificate of every call.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

log = logging.getLogger(__name__)

# How often a stale CRL (nextUpdate passed) is complained about, at most.
STALE_WARNING_INTERVAL = timedelta(hours=1)
# Client certificates whose issuer check is remembered (one per agency is typical).
_REMEMBERED_CERTIFICATES = 1024


@dataclass(frozen=True)
class _Snapshot:
    """One verified CRL, reduced to what lookups need; replaced whole on reload."""

    signature: tuple[int, int, int]  # (mtime_ns, size, inode) of the file it came from
    serials: frozenset[int]
    number: int
    next_update: datetime | None


class RevocationList:
    """The revoked serial numbers of one CA, kept in step with its CRL file.

    Guarantees:

    * Only a CRL whose issuer is the CA's subject and whose signature verifies
      with the CA's public key is ever used. The constructor raises ValueError
      (saying which check failed) for such a CRL, or one that does not parse,
      and OSError if a file cannot be read, so the server refuses to start.
    * The file is looked at again at most once per ``check_interval`` seconds
      (from any thread; lookups never wait for a reload in progress), and
      re-read when its mtime, size or inode changed, so an operator revokes
      by replacing the file, without a restart. A replacement that is missing,
      unreadable, foreign, badly signed or has a lower CRL number than the one
      in use is refused with an error in the log: the list in use stays (it
      is still a valid statement by the CA) and the file is tried again at
      the next check.
    * A CRL whose nextUpdate has passed is still used, with a warning in the
      log (at load and then at most hourly). This is deliberate: failing
      closed would refuse every agency's every call, including police queries
      that may be urgent, because an operator forgot to re-sign a file;
      a stale list still blocks every certificate it names. Monitoring should
      alert on the warning.
    * The CA is the first certificate in ``ca_cert_path``, read once: the
      server's TLS credentials are fixed at start too.
    * :meth:`is_revoked` treats a certificate from another issuer as revoked:
      this list cannot vouch for it (gRPC should never have let it in).
    """

    def __init__(
        self,
        crl_path: Path,
        ca_cert_path: Path,
        *,
        check_interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = crl_path
        self._ca = x509.load_pem_x509_certificate(ca_cert_path.read_bytes())
        self._ca_key_id = _subject_key_identifier(self._ca)
        # Every call presents a certificate; its issuer is checked once.
        self._vouches_for = functools.lru_cache(maxsize=_REMEMBERED_CERTIFICATES)(
            self._issued_by_ca
        )
        self._check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._failed_signature: tuple[int, int, int] | None = None
        self._last_stale_warning: float | None = None
        self._snapshot = self._load(_file_signature(crl_path))
        self._warn_if_stale(clock(), force=True)
        self._next_check = clock() + check_interval

    @property
    def path(self) -> Path:
        """The CRL file this list follows."""
        return self._path

    @property
    def revoked_serials(self) -> frozenset[int]:
        """Serial numbers revoked by the CRL in use (after a due reload)."""
        self._refresh()
        return self._snapshot.serials

    @property
    def crl_number(self) -> int:
        """CRL number of the CRL in use (0 if it has none)."""
        return self._snapshot.number

    def is_revoked(self, cert: x509.Certificate) -> bool:
        """True if ``cert`` is on the CA's CRL, or was not issued by the CA.

        Reloads the CRL first if the file changed and a check is due.
        """
        self._refresh()
        if not self._vouches_for(cert):
            return True
        return cert.serial_number in self._snapshot.serials

    def _issued_by_ca(self, cert: x509.Certificate) -> bool:
        """Whether this CA issued ``cert`` (fixed for a certificate: remembered)."""
        if cert.issuer != self._ca.subject:
            return False
        key_id = _authority_key_identifier(cert)
        return key_id is None or self._ca_key_id is None or key_id == self._ca_key_id

    def is_revoked_pem(self, pem: bytes) -> bool:
        """:meth:`is_revoked` for a PEM certificate, e.g. the peer's as gRPC gives
        it in ``context.auth_context()["x509_pem_cert"][0]``.

        ValueError if ``pem`` holds no PEM certificate (only the first is read).
        """
        return self.is_revoked(x509.load_pem_x509_certificate(pem))

    # --- reloading -------------------------------------------------------------------

    def _refresh(self) -> None:
        if self._clock() < self._next_check:
            return
        # Whoever takes the lock checks; the others go on with the list in use.
        if not self._lock.acquire(blocking=False):
            return
        try:
            now = self._clock()
            if now < self._next_check:
                return
            self._next_check = now + self._check_interval
            reloaded = self._reload_if_changed()
            self._warn_if_stale(now, force=reloaded)
        finally:
            self._lock.release()

    def _reload_if_changed(self) -> bool:
        """Load the file if it changed and is acceptable; True if a new list is in use."""
        try:
            signature = _file_signature(self._path)
        except OSError as exc:
            self._refuse(None, f"cannot read it: {exc}")
            return False
        if signature == self._snapshot.signature:
            return False
        try:
            snapshot = self._load(signature)
        except (OSError, ValueError) as exc:
            self._refuse(signature, str(exc))
            return False
        if snapshot.number < self._snapshot.number:
            self._refuse(
                signature,
                f"its CRL number {snapshot.number} is lower than "
                f"{self._snapshot.number} in use (an old copy?)",
            )
            return False
        self._snapshot = snapshot
        self._failed_signature = None
        log.info(
            "reloaded CRL %s: number %d, %d revoked",
            self._path,
            snapshot.number,
            len(snapshot.serials),
        )
        return True

    def _refuse(self, signature: tuple[int, int, int] | None, reason: str) -> None:
        # Once per version of the file, not every second.
        if signature is None or signature != self._failed_signature:
            log.error("ignoring the changed CRL %s, keeping the one in use: %s", self._path, reason)
        self._failed_signature = signature

    def _load(self, signature: tuple[int, int, int]) -> _Snapshot:
        try:
            crl = x509.load_pem_x509_crl(self._path.read_bytes())
        except ValueError as exc:
            raise ValueError(f"CRL {self._path} is not a PEM CRL: {exc}") from exc
        try:
            check_crl_issued_by(crl, self._ca)
        except ValueError as exc:
            raise ValueError(f"refusing CRL {self._path}: {exc}") from exc
        return _Snapshot(
            signature=signature,
            serials=frozenset(entry.serial_number for entry in crl),
            number=crl_number(crl),
            next_update=crl.next_update_utc,
        )

    def _warn_if_stale(self, now: float, *, force: bool = False) -> None:
        if not _is_stale(self._snapshot):
            return
        interval = STALE_WARNING_INTERVAL.total_seconds()
        last = self._last_stale_warning
        if not force and last is not None and now - last < interval:
            return
        self._last_stale_warning = now
        log.warning(
            "CRL %s is out of date (nextUpdate %s); still using it, re-sign it soon",
            self._path,
            self._snapshot.next_update,
        )


def check_crl_issued_by(crl: x509.CertificateRevocationList, ca_cert: x509.Certificate) -> None:
    """Return if ``crl`` names the CA as issuer and its signature verifies with
    the CA's public key; otherwise raise ValueError saying which check failed."""
    if crl.issuer != ca_cert.subject:
        raise ValueError(
            f"CRL issuer {crl.issuer.rfc4514_string()!r} is not the CA "
            f"{ca_cert.subject.rfc4514_string()!r}"
        )
    public_key = ca_cert.public_key()
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not crl.is_signature_valid(
        public_key
    ):
        raise ValueError("CRL signature does not verify with the CA's public key")


def crl_number(crl: x509.CertificateRevocationList) -> int:
    """The CRL's CRLNumber extension, or 0 if it has none."""
    try:
        return crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    except x509.ExtensionNotFound:
        return 0


def _is_stale(snapshot: _Snapshot) -> bool:
    return snapshot.next_update is None or snapshot.next_update < datetime.now(UTC)


def _file_signature(path: Path) -> tuple[int, int, int]:
    stat = os.stat(path)
    return (stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _subject_key_identifier(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _authority_key_identifier(cert: x509.Certificate) -> bytes | None:
    try:
        ext = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    except x509.ExtensionNotFound:
        return None
    return ext.value.key_identifier
