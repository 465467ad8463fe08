"""Numbered leases: who leads a kind of work, and the fence its transactions check.

A lease is a row of ``leases``; each time a process wins it, its ``term`` goes
up by one (``take_term``). A transaction fenced with ``Fence(lease, term)``
locks the row ``FOR SHARE`` and checks the term before its work
(``check_fence``); the lock lasts until the transaction ends, so a newer
leader's ``take_term`` waits for it, and a transaction whose term has passed
fails before it writes anything.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from exchange_service.domain.fencing import Fence, LeadershipLost

_TAKE = text(
    "INSERT INTO leases AS l (name, term, holder, taken_at) VALUES (:name, 1, :holder, :at)"
    " ON CONFLICT (name) DO UPDATE SET term = l.term + 1, holder = :holder, taken_at = :at"
    " RETURNING term"
)
_CHECK = text("SELECT term FROM leases WHERE name = :name FOR SHARE")


def take_term(connection: Connection | Session, lease: str, holder: str, at: datetime) -> Fence:
    """Starts a new term of the lease for ``holder``; commit to make it count.

    Waits while a transaction fenced with the previous term is still open.
    """
    term = connection.execute(_TAKE, {"name": lease, "holder": holder, "at": at}).scalar_one()
    return Fence(lease, int(term))


def check_fence(connection: Connection | Session, fence: Fence) -> None:
    """Raises ``LeadershipLost`` unless the lease is still in the fence's term.

    Locks the lease's row until the transaction ends, so the term cannot
    change before the commit.
    """
    current = connection.execute(_CHECK, {"name": fence.lease}).scalar_one_or_none()
    if current != fence.term:
        raise LeadershipLost(fence, None if current is None else int(current))
