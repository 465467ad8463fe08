"""A firing covers its own slot and missed ones before it, never after; a fence may name one."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from exchange_service.domain.fencing import Fence, Firing

SLOT = datetime(2026, 12, 1, 17, 5, tzinfo=UTC)


def _firing(covers_from: datetime, slot: datetime = SLOT) -> Firing:
    return Firing(uuid.uuid4(), "OVERSTAY", slot, covers_from, "vm:1", SLOT)


def test_a_fence_for_a_firing_keeps_its_lease_and_term() -> None:
    firing = _firing(SLOT - timedelta(hours=7))
    fence = Fence("scheduler", 3)
    assert fence.for_firing(firing) == Fence("scheduler", 3, firing)
    assert fence.firing is None


def test_a_firing_cannot_cover_slots_after_its_own() -> None:
    with pytest.raises(ValueError, match="up to its own"):
        _firing(SLOT + timedelta(seconds=1))


def test_a_firings_slots_are_aware_instants() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        _firing(SLOT, slot=datetime(2026, 12, 2, 0, 5))  # noqa: DTZ001 - the point of the test
