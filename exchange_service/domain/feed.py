"""The agencies' alert feeds: what an agency subscribes to, how it is reached, and its entries.

Each alert event an agency subscribes to becomes one entry of that agency's
feed: the agency's own sequence number (1, 2, 3, ... without gaps, in commit
order), the event in the agency's data view as the bytes of a
``pantau.v1.AlertEvent`` (the payload), Pantau's signature over DSSE's
pre-authentication encoding of (``PAYLOAD_TYPE``, payload), and the hash of
the payload, which the next entry's payload carries as its previous hash.
"""

from __future__ import annotations

import enum
import hashlib
from collections.abc import Sequence, Set
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from exchange_service.domain.alerts import AlertEvent, RuleName, Severity

# The DSSE payload type of a feed entry: the message and its version.
PAYLOAD_TYPE = "application/vnd.pantau.alert-event.v1+protobuf"
# The previous hash of an agency's first entry.
ZERO_HASH = bytes(32)


def entry_hash(payload: bytes) -> bytes:
    """An entry's hash: SHA-256 of its payload bytes (which hold the previous entry's hash)."""
    return hashlib.sha256(payload).digest()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding, the bytes that are signed.

    ``"DSSEv1" SP LEN(type) SP type SP LEN(body) SP body``, lengths in ASCII
    decimal, the type as UTF-8.
    """
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True)
class FeedSubscription:
    """Which alert events an agency's feed carries: all three conditions hold.

    ``rules`` and ``districts`` (Kemendagri codes such as ``21.05.01``) are
    None for every rule or district; an event with no known district is
    carried only when ``districts`` is None.
    """

    rules: Set[RuleName] | None = None
    min_severity: Severity = Severity.INFO
    districts: Set[str] | None = None

    def carries(self, event: AlertEvent) -> bool:
        if self.rules is not None and event.rule not in self.rules:
            return False
        if event.severity < self.min_severity:
            return False
        return self.districts is None or event.district_code in self.districts


class ChannelKind(enum.StrEnum):
    """How Pantau pushes a feed to an agency (the pull is AlertFeedService.Subscribe)."""

    # AlertReceiverService.Deliver on the agency's system, over mutual TLS.
    GRPC = "GRPC"
    # Standard Webhooks 1.0 POSTs of JWS-signed JSON, one per entry.
    WEBHOOK = "WEBHOOK"
    # OASIS CAP 1.2 documents with detached JWS and an Atom feed, published to a directory.
    CAP = "CAP"


@dataclass(frozen=True)
class PushChannel:
    """One way an agency's feed is pushed: ``target`` is ``host:port`` (GRPC), an
    ``https://`` URL (WEBHOOK) or a directory (CAP).

    ``ca_file`` is the CA that issued the receiver's server certificate (GRPC,
    WEBHOOK); ``server_name`` the name to check on it when it differs from the
    target's host.
    """

    kind: ChannelKind
    target: str
    ca_file: str | None = None
    server_name: str | None = None

    @property
    def name(self) -> str:
        """The channel's name in the delivery tables and the audit trail: ``GRPC``, ..."""
        return str(self.kind)


@dataclass(frozen=True)
class FeedEntry:
    """One sealed entry of an agency's feed, as stored and delivered."""

    agency_id: str
    sequence: int
    # The alert event's seq: receivers deduplicate by it.
    event_seq: int
    payload: bytes
    payload_type: str
    key_id: str
    signature: bytes
    previous_hash: bytes
    signed_at: datetime

    @property
    def hash(self) -> bytes:
        return entry_hash(self.payload)


class DeliveryFailed(Exception):
    """A push did not reach the receiver, or the receiver refused it.

    ``retryable`` False means the receiver refused the entries themselves
    (a signature or chain it does not accept): the delivery is dead-lettered
    at once rather than retried. ``accepted_through``, when the receiver said,
    is the highest sequence it holds with none missing before it.
    """

    def __init__(self, reason: str, *, retryable: bool = True, accepted_through: int | None = None):
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
        self.accepted_through = accepted_through


class AlertSender(Protocol):
    """The port of one push channel: delivers consecutive entries of one agency's feed.

    ``send`` returns the highest sequence the receiver now holds with none
    missing before it (at least the last entry's when all went well; a
    receiver that already held some says so and the sender resumes from
    there). It raises ``DeliveryFailed``. Implementations: real (the
    network), console (prints) and memory (keeps them, for tests), chosen by
    the ``delivery_adapter`` setting (``agency_adapters.senders``).
    """

    @property
    def kind(self) -> ChannelKind: ...

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int: ...

    def close(self) -> None: ...
