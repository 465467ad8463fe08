"""What every area's use cases share: the names of missing records and how to say so."""

from __future__ import annotations

import uuid

from exchange_service.domain import model
from exchange_service.domain.errors import NotFound

PERSON = "pantau.v1.Person"
STAY = "pantau.v1.Stay"
TRAVEL_DOCUMENT = "pantau.v1.TravelDocument"


def person_not_found(person_id: uuid.UUID | str, field: str = "person_id") -> NotFound:
    return NotFound(PERSON, f"persons/{person_id}", field)


def document_not_found(
    document: model.TravelDocument, *, resource_type: str = TRAVEL_DOCUMENT
) -> NotFound:
    """No registered person holds the document (named in the request's field ``document``)."""
    return NotFound(
        resource_type, f"documents/{document.issuing_state}/{document.number}", "document"
    )
