"""What every area's use cases share: the clock, the office's day, the names of missing records."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, tzinfo

from exchange_service.domain import model
from exchange_service.domain.errors import NotFound

# The time now, timezone-aware. Use cases take it by injection, so tests can
# set it (to either side of midnight in the office, say).
Clock = Callable[[], datetime]

PERSON = "pantau.v1.Person"
STAY = "pantau.v1.Stay"
TRAVEL_DOCUMENT = "pantau.v1.TravelDocument"


def utc_now() -> datetime:
    """The system's clock: the clock of a running service."""
    return datetime.now(UTC)


def local_today(clock: Clock, zone: tzinfo) -> date:
    """Today in the office's timezone: the day every rule about "today" counts in."""
    return clock().astimezone(zone).date()


def person_not_found(person_id: uuid.UUID | str, field: str = "person_id") -> NotFound:
    return NotFound(PERSON, f"persons/{person_id}", field)


def document_not_found(
    document: model.TravelDocument, *, resource_type: str = TRAVEL_DOCUMENT
) -> NotFound:
    """No registered person holds the document (named in the request's field ``document``)."""
    return NotFound(
        resource_type, f"documents/{document.issuing_state}/{document.number}", "document"
    )
