"""What a receiver checks before it takes in a directory of Pantau's CAP documents.

``import_cap_dir`` reads every ``*.xml`` of a directory published by the CAP
channel (or ``pantau feed export --format cap``) and accepts a document only
if all of these hold:

- it is a CAP 1.2 alert the official OASIS schema accepts (``wire.cap``:
  no DOCTYPE, no entity, no network);
- its detached JWS (``<file>.jws``) verifies over the file's exact bytes,
  checked with joserfc (alg ``EdDSA``, or ``Ed25519`` as RFC 9864 names it)
  by the key its ``kid`` names in the JWKS given;
- that key was valid when the document says it was sent (the JWKS's
  ``pantau_valid_from`` / ``pantau_valid_until``);
- it continues the feed: sequence 1, 2, 3, ... with none missing, each
  document's ``pantau:previousHash`` the ``pantau:entryHash`` of the one
  before (zeros for the first), all of one agency.

Everything after a break in the chain is held back, as a receiver that
takes a feed in order would: the report names each file refused and why.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from joserfc import jwk, jws
from joserfc.errors import JoseError, SecurityWarning

from exchange_service.domain.feed import ZERO_HASH
from exchange_service.signing.keyset import KeyValidity, b64url, jwks_keys
from exchange_service.wire.cap import (
    PARAMETER_AGENCY,
    PARAMETER_ENTRY_HASH,
    PARAMETER_PREVIOUS_HASH,
    PARAMETER_SEQUENCE,
    CapInvalid,
    cap_field,
    cap_parameters,
    validate_cap,
)

# The names of an Ed25519 signature: RFC 8037's EdDSA and RFC 9864's fully specified one.
ACCEPTED_ALGORITHMS = ("EdDSA", "Ed25519")


@dataclass(frozen=True)
class AcceptedCap:
    """A document that passed every check, with its place in the feed."""

    file: str
    agency_id: str
    sequence: int
    identifier: str
    msg_type: str
    sent: datetime
    key_id: str
    entry_hash: str


@dataclass(frozen=True)
class RejectedCap:
    """A file that was not taken in, and why."""

    file: str
    reason: str


@dataclass(frozen=True)
class CapImport:
    """The outcome of one directory: what was accepted, in feed order, and what was not."""

    accepted: tuple[AcceptedCap, ...]
    rejected: tuple[RejectedCap, ...]

    @property
    def ok(self) -> bool:
        return not self.rejected

    @property
    def last_sequence(self) -> int:
        """The highest sequence taken in with none missing before it (0 for none)."""
        return self.accepted[-1].sequence if self.accepted else 0


class _Refused(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _verify_signature(token: str, payload: bytes, keys: Mapping[str, KeyValidity]) -> KeyValidity:
    """The key whose signature the detached JWS is over ``payload``; _Refused otherwise."""
    try:
        header = jws.extract_compact(token.encode("ascii"), payload).headers()
    except (JoseError, ValueError, UnicodeError) as error:
        raise _Refused(f"the JWS cannot be read: {error}") from error
    if header.get("alg") not in ACCEPTED_ALGORITHMS:
        raise _Refused(f"the JWS's alg {header.get('alg')!r} is not Ed25519")
    kid = header.get("kid")
    key = keys.get(str(kid)) if kid is not None else None
    if key is None:
        raise _Refused(f"the JWS's kid {kid!r} is not a key of the JWKS")
    public = jwk.import_key({"kty": "OKP", "crv": "Ed25519", "x": b64url(key.public_key)})
    try:
        with warnings.catch_warnings():
            # RFC 9864 deprecates the name "EdDSA" in favour of "Ed25519"; with an Ed25519
            # key (the only kind taken here) both name the same signature.
            warnings.filterwarnings("ignore", category=SecurityWarning)
            jws.deserialize_compact(
                token, public, algorithms=list(ACCEPTED_ALGORITHMS), payload=payload
            )
    except JoseError as error:
        raise _Refused(f"the JWS does not verify over the document ({error.error})") from error
    return key


def _check_file(path: Path, keys: Mapping[str, KeyValidity]) -> tuple[AcceptedCap, str]:
    """The document if it passes the checks of its own, with its previous hash; _Refused."""
    xml = path.read_bytes()
    try:
        root = validate_cap(xml)
    except CapInvalid as error:
        raise _Refused(str(error)) from error
    signature = path.with_name(path.name + ".jws")
    if not signature.is_file():
        raise _Refused(f"no detached JWS beside it ({signature.name})")
    key = _verify_signature(signature.read_text("ascii").strip(), xml, keys)
    sent_text = cap_field(root, "sent")
    sent = datetime.fromisoformat(sent_text)
    if not key.covers(sent):
        raise _Refused(f"key {key.key_id} was not valid when the document was sent ({sent_text})")
    parameters = cap_parameters(root)
    try:
        sequence = int(parameters[PARAMETER_SEQUENCE])
        previous = parameters[PARAMETER_PREVIOUS_HASH]
        entry_hash = parameters[PARAMETER_ENTRY_HASH]
        agency_id = parameters[PARAMETER_AGENCY]
    except (KeyError, ValueError) as error:
        raise _Refused(f"the document has no feed position ({error})") from error
    if sequence < 1:
        raise _Refused(f"{PARAMETER_SEQUENCE} is {sequence}, not 1 or more")
    return AcceptedCap(
        file=path.name,
        agency_id=agency_id,
        sequence=sequence,
        identifier=cap_field(root, "identifier"),
        msg_type=cap_field(root, "msgType"),
        sent=sent,
        key_id=key.key_id,
        entry_hash=entry_hash,
    ), previous


def import_cap_dir(directory: Path, jwks: Mapping[str, Any]) -> CapImport:
    """Checks every CAP document of ``directory`` against the schema, its detached JWS, the
    keys' validity and the feed's chain (module docstring); nothing is changed on disk.

    ``jwks`` is the JWKS document (Pantau's ``jwks.json``); KeySetError when it is
    malformed.
    """
    keys = {key.key_id: key for key in jwks_keys(jwks)}
    rejected: list[RejectedCap] = []
    checked: list[tuple[AcceptedCap, str]] = []
    for path in sorted(directory.glob("*.xml")):
        try:
            checked.append(_check_file(path, keys))
        except _Refused as refusal:
            rejected.append(RejectedCap(path.name, refusal.reason))
    accepted: list[AcceptedCap] = []
    expected, previous_hash, agency = 1, ZERO_HASH.hex(), None
    broken: str | None = None
    for document, previous in sorted(checked, key=lambda c: (c[0].sequence, c[0].file)):
        reason = None
        if broken is not None:
            reason = f"held back: it follows the break in the chain at {broken}"
        elif document.sequence < expected:
            reason = f"sequence {document.sequence} is already taken by another document"
        elif document.sequence > expected:
            reason = f"sequence {expected} is missing before it (sequence {document.sequence})"
        elif previous != previous_hash:
            reason = (
                f"{PARAMETER_PREVIOUS_HASH} {previous} is not the entry hash of sequence"
                f" {expected - 1} ({previous_hash})"
            )
        elif agency is not None and document.agency_id != agency:
            reason = f"it is of agency {document.agency_id}, the feed of {agency}"
        if reason is not None:
            rejected.append(RejectedCap(document.file, reason))
            if broken is None and document.sequence >= expected:
                broken = f"sequence {expected} ({document.file})"
            continue
        accepted.append(document)
        agency = document.agency_id
        expected, previous_hash = document.sequence + 1, document.entry_hash
    rejected.sort(key=lambda r: r.file)
    return CapImport(tuple(accepted), tuple(rejected))
