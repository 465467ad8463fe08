"""Leadership that a piece of work must still hold when it commits.

Several processes (schedulers) may run at once; one leader does the work. A
leader wins a numbered term of a lease (``storage.leases``). Each of its
transactions carries a ``Fence``: before anything is written, storage locks
the lease's row and checks that the term is still the fence's, and holds that
lock until the commit, so no newer leader can take the lease in between. A
leader that was paused, lost the lease and wakes up can therefore not commit:
its transaction fails with ``LeadershipLost`` and writes nothing.

A fence may also name the ``Firing`` it was issued for: one scheduled run of
a job. The fenced transaction then claims the firing's slot in the same
transaction as the run's work, so a slot's run commits at most once across
all processes and terms (``SlotAlreadyFired`` otherwise, before any work).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from datetime import datetime

from exchange_service.domain.errors import AlreadyExists, Unavailable


@dataclass(frozen=True)
class Firing:
    """One scheduled run of a job, claimed by the transaction that does its work.

    ``slot`` is the scheduled time the run stands for (the instant it runs
    as of). A run that stands in for slots missed while no leader fired
    covers every slot from ``covers_from`` to ``slot``; otherwise both are
    the same. ``fired_by`` is the process that fired it, ``fired_at`` when.
    """

    id: uuid.UUID
    job: str
    slot: datetime
    covers_from: datetime
    fired_by: str
    fired_at: datetime

    def __post_init__(self) -> None:
        if self.slot.tzinfo is None or self.covers_from.tzinfo is None:
            raise ValueError("a firing's slots are timezone-aware instants")
        if self.covers_from > self.slot:
            raise ValueError("a firing covers slots up to its own, not after it")


@dataclass(frozen=True)
class Fence:
    """The lease and the term the work was started under, and the firing it is for, if any."""

    lease: str
    term: int
    firing: Firing | None = None

    def for_firing(self, firing: Firing) -> Fence:
        """The same term, fencing the run of ``firing``: its transaction claims the slot."""
        return replace(self, firing=firing)


class LeadershipLost(Unavailable):
    """The lease has passed to another holder (a newer term): the work was not committed."""

    def __init__(self, fence: Fence, current_term: int | None) -> None:
        super().__init__(
            f"lease {fence.lease!r} is no longer held in term {fence.term}"
            f" (now {'untaken' if current_term is None else f'term {current_term}'})"
        )
        self.fence = fence
        self.current_term = current_term


class SlotAlreadyFired(AlreadyExists):
    """Another run has already committed this slot (or one it covers): this one did nothing."""

    def __init__(self, firing: Firing) -> None:
        name = f"{firing.job}@{firing.slot.isoformat()}"
        super().__init__(
            f"the run of {firing.job} for slot {firing.slot.isoformat()} has already fired",
            reason="SLOT_ALREADY_FIRED",
            resource_type="scheduler firing",
            resource_name=name,
        )
        self.firing = firing
