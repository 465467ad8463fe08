"""An offline handover taken in: the JWS files of `pantau feed export --format jws`.

Each ``<agency>-<sequence>.jws`` is checked as a live delivery is: the JWS
verified with joserfc against the published keys, the key valid at the
entry's own time (the ``timestamp`` inside the signed JSON), the agency, then
sequence continuity and the hash chain by the receiver (``FeedReceiver``),
which stores each new entry once and holds back everything after a break.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from agency_adapters.receivers.receiver import FeedReceiver
from agency_adapters.receivers.verify import FeedVerifier, InvalidEntry, Rejected


@dataclass(frozen=True)
class JwsImport:
    """What one directory gave: entries stored now, entries held already, and the first
    file refused (with why), after which nothing was taken."""

    stored: int
    held: int
    refused: tuple[str, str] | None

    @property
    def ok(self) -> bool:
        return self.refused is None


def _claimed_time(token: str) -> datetime:
    """The JSON's ``timestamp``, read before verification only to choose the key's instant;
    the verification then proves it is the signed one."""
    try:
        body = token.strip().split(".")[1]
        payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        return datetime.fromisoformat(str(payload["timestamp"]).replace("Z", "+00:00"))
    except (IndexError, KeyError, TypeError, ValueError, binascii.Error) as error:
        raise InvalidEntry(f"not an entry's JSON form: {error}") from error


def import_jws_dir(
    directory: Path, verifier: FeedVerifier, receiver: FeedReceiver, agency_id: str
) -> JwsImport:
    """Takes the agency's ``*.jws`` files of ``directory`` in sequence order."""
    stored = held = 0
    files = sorted(directory.glob(f"{agency_id}-*.jws"))
    for path in files:
        try:
            token = path.read_text("ascii")
            entry = verifier.verify_json_entry(token, signed_at=_claimed_time(token))
            taken = receiver.take(agency_id, [entry], delivery_id=f"export:{path.name}")
        except (Rejected, UnicodeDecodeError, OSError) as error:
            reason = error.reason if isinstance(error, Rejected) else str(error)
            return JwsImport(stored, held, (path.name, reason))
        stored += taken.stored
        held += 1 - taken.stored
    return JwsImport(stored, held, None)
