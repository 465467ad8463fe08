"""Rotating the key that signs the audit trail's checkpoints and exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import create_engine

from exchange_service.audit import store
from exchange_service.audit.log import AuditUnavailable, open_audit_log
from exchange_service.settings import Settings
from exchange_service.signing.files import retire_private_key


class RotationRefused(RuntimeError):
    """The key cannot be rotated now (a server writes the trail); nothing changed."""


@dataclass(frozen=True)
class Rotation:
    old_key_id: str
    new_key_id: str
    # The last record the old key vouches for.
    last_seq: int


def rotate_signing_key(settings: Settings, *, at: datetime) -> Rotation:
    """Retires the signing key after a final checkpoint and makes a new one.

    Takes the trail's writer lock first, so it refuses (``RotationRefused``)
    while a server writes the trail; then signs whatever the old key has not
    signed yet, so every record up to the rotation is vouched for by the old
    key. ``OSError``/``ValueError`` when the key cannot be read.
    """
    try:
        audit_log = open_audit_log(settings)
    except AuditUnavailable as error:
        raise RotationRefused(f"{error}; stop the server first") from error
    audit_log.close()  # signs what the key in use has not signed yet
    signed = audit_log.head.seq
    # Retire under the writer lock, so no server signs with the old key meanwhile.
    engine = create_engine(settings.database_url)
    try:
        with engine.connect() as connection:
            locked = store.try_writer_lock(connection)
            last = store.last_record(connection) if locked else None
            if not locked or (last.seq if last else 0) != signed:
                raise RotationRefused("a server started writing the trail")
            old, new = retire_private_key(settings.audit_signing_key_file, last_seq=signed, at=at)
    finally:
        engine.dispose()  # closing the session releases the lock
    return Rotation(old, new, signed)
