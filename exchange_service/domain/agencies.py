"""Agencies that call Pantau, what kind each is, and which data view it gets."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from exchange_service.domain.feed import FeedSubscription, PushChannel


class AgencyKind(enum.StrEnum):
    IMMIGRATION = "IMMIGRATION"
    POLICE = "POLICE"
    LOCAL_GOVERNMENT = "LOCAL_GOVERNMENT"
    SUPERVISOR = "SUPERVISOR"


class DataView(enum.StrEnum):
    """How much personal data a recipient receives.

    What each view gets, field by field, is the one disclosure policy:
    ``exchange_service.domain.disclosure``.
    """

    FULL = "FULL"
    DISTRICT = "DISTRICT"


@dataclass(frozen=True)
class Agency:
    id: str
    name: str
    kind: AgencyKind
    view: DataView
    # Overrides of the settings' token bucket for this agency, if set.
    rate_limit_per_second: float | None = None
    rate_limit_burst: int | None = None
    # The alert events its feed carries; None: the agency has no feed.
    feed: FeedSubscription | None = None
    # How its feed is pushed to it, besides AlertFeedService.Subscribe.
    push: tuple[PushChannel, ...] = ()
