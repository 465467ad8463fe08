"""Leadership that a piece of work must still hold when it commits.

Several processes (schedulers) may run at once; one leader does the work. A
leader wins a numbered term of a lease (``storage.leases``). Each of its
transactions carries a ``Fence``: before anything is written, storage locks
the lease's row and checks that the term is still the fence's, and holds that
lock until the commit, so no newer leader can take the lease in between. A
leader that was paused, lost the lease and wakes up can therefore not commit:
its transaction fails with ``LeadershipLost`` and writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from exchange_service.domain.errors import Unavailable


@dataclass(frozen=True)
class Fence:
    """The lease and the term the work was started under."""

    lease: str
    term: int


class LeadershipLost(Unavailable):
    """The lease has passed to another holder (a newer term): the work was not committed."""

    def __init__(self, fence: Fence, current_term: int | None) -> None:
        super().__init__(
            f"lease {fence.lease!r} is no longer held in term {fence.term}"
            f" (now {'untaken' if current_term is None else f'term {current_term}'})"
        )
        self.fence = fence
        self.current_term = current_term
