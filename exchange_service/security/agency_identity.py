"""Which agency a client certificate names: the one SAN URI ``spiffe://pantau/agency/<id>``.

Access control (``api.access``) asks :func:`agency_id_from_certificate` about the
peer of every call; the development PKI (``pantau pki``) issues certificates
that follow the convention, and so must an agency's real CA.
"""

from __future__ import annotations

import re

from cryptography import x509

AGENCY_URI_PREFIX = "spiffe://pantau/agency/"
AGENCY_ID_PATTERN = re.compile(r"[a-z0-9][a-z0-9-]{1,62}")


def is_valid_agency_id(agency_id: str) -> bool:
    """True if ``agency_id`` is 2-63 characters of ``[a-z0-9-]``, not starting with '-'."""
    return AGENCY_ID_PATTERN.fullmatch(agency_id) is not None


def agency_id_from_certificate(cert: x509.Certificate) -> str | None:
    """The agency a client certificate names, or None.

    Guarantees a non-None result only if the certificate has a well-formed
    subjectAltName extension holding exactly one URI that starts with
    ``spiffe://pantau/agency/`` and the rest of that URI is a valid agency id
    (see :func:`is_valid_agency_id`). Anything else (no SAN, two agency URIs,
    a path, upper case, a malformed extension) gives None, never an exception.
    The subject CN is deliberately ignored. Whether the certificate is trusted,
    current and unrevoked is not checked here.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        uris = san.get_values_for_type(x509.UniformResourceIdentifier)
    except (x509.ExtensionNotFound, x509.DuplicateExtension, ValueError):
        return None
    candidates = [uri for uri in uris if uri.startswith(AGENCY_URI_PREFIX)]
    if len(candidates) != 1:
        return None
    agency_id = candidates[0].removeprefix(AGENCY_URI_PREFIX)
    return agency_id if is_valid_agency_id(agency_id) else None
