"""Domain errors. The gRPC layer maps each class to one status code."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


class PantauError(Exception):
    """Base of every error a use case raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class FieldViolation:
    """One bad field, named by its path in the request (``person.documents[0].number``)."""

    field: str
    description: str


class InvalidInput(PantauError):
    """The request itself is wrong; nothing was written."""

    def __init__(self, violations: list[FieldViolation]) -> None:
        super().__init__("; ".join(f"{v.field}: {v.description}" for v in violations))
        self.violations = violations


class NotFound(PantauError):
    """A referenced record does not exist."""

    def __init__(self, resource_type: str, resource_name: str, field: str = "") -> None:
        super().__init__(f"{resource_type} {resource_name!r} not found")
        self.resource_type = resource_type
        self.resource_name = resource_name
        self.field = field


@dataclass(frozen=True)
class PreconditionViolation:
    """A state the system is in that forbids the request (``STAY_OPEN``)."""

    type: str
    subject: str
    description: str


class FailedPrecondition(PantauError):
    """The request is well formed but the records' state forbids it."""

    def __init__(self, violations: list[PreconditionViolation]) -> None:
        super().__init__("; ".join(v.description for v in violations))
        self.violations = violations


class AlreadyExists(PantauError):
    """The request conflicts with an existing record, named in ``resource_name``."""

    def __init__(
        self,
        message: str,
        *,
        reason: str,
        resource_type: str,
        resource_name: str,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.resource_type = resource_type
        self.resource_name = resource_name
        self.metadata = dict(metadata or {})


class StayAlreadyOpen(FailedPrecondition):
    """The person has an open stay already: a person has at most one at a time."""

    def __init__(self, subject: str, description: str) -> None:
        super().__init__([PreconditionViolation("STAY_OPEN", subject, description)])


class SightingReferenceTaken(AlreadyExists):
    """A source's sighting reference already names another person's sighting.

    The error does not say whose sighting it is: that is not the caller's business.
    """

    def __init__(self, source: str, reference: str) -> None:
        super().__init__(
            f"{source} reference {reference!r} already names another person's sighting",
            reason="SIGHTING_REFERENCE_TAKEN",
            resource_type="pantau.v1.Sighting",
            resource_name=f"sightings/{source}/{reference}",
        )
        self.source = source
        self.reference = reference


@dataclass
class Violations:
    """Collects field violations so one error names every bad field at once."""

    items: list[FieldViolation] = field(default_factory=list)

    def add(self, field_path: str, description: str) -> None:
        self.items.append(FieldViolation(field_path, description))

    def check(self, ok: bool, field_path: str, description: str) -> bool:
        if not ok:
            self.add(field_path, description)
        return ok

    def raise_if_any(self) -> None:
        if self.items:
            raise InvalidInput(list(self.items))


class DeadlineExceeded(PantauError):
    """The caller's deadline passed before the work finished; nothing was written."""


class Unavailable(PantauError):
    """A dependency (the database) cannot be reached now; the caller may retry."""


class Unauthenticated(PantauError):
    """The caller could not be identified as a known, unrevoked agency."""


class PermissionDenied(PantauError):
    """The caller is known but may not do this; ``reason`` says why (``PURPOSE_REQUIRED``)."""

    def __init__(
        self, message: str, *, reason: str, metadata: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.metadata = dict(metadata or {})


class ResourceExhausted(PantauError):
    """The caller went over its rate limit; it may retry after ``retry_after_seconds``."""

    def __init__(self, message: str, *, retry_after_seconds: float) -> None:
        super().__init__(message)
        self.retry_after_seconds = retry_after_seconds


class MessageTooLarge(PantauError):
    """A request message over the cap of one message (no retry will make it fit)."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(
            f"a request message of {size} bytes is over the cap of {limit} bytes"
            " (setting max_message_bytes)"
        )
        self.size = size
        self.limit = limit
