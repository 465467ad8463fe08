"""Who is calling, may they, and why: identity, authorisation, purpose and rate limits.

The agency comes from the client certificate's SAN URI
``spiffe://pantau/agency/<id>`` (mutual TLS; a certificate not issued on a path
from the agency CA, or revoked, is refused)
and is the call's ``current_agency``, whose view the servicers disclose to; the
officer and purpose come from call metadata. Each RPC names the action it
performs (``RPC_ACTIONS``), and the domain's permission table says which agency
kinds may perform it: an RPC not in ``RPC_ACTIONS`` is refused to everyone.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Protocol

from cryptography import x509
from pantau.v1 import (
    alert_feed_service_pb2,
    alert_review_service_pb2,
    query_service_pb2,
    registry_service_pb2,
    report_service_pb2,
    watchlist_service_pb2,
)

from exchange_service.domain.agencies import Agency, AgencyKind
from exchange_service.domain.errors import PermissionDenied, ResourceExhausted, Unauthenticated
from exchange_service.domain.permissions import Action, is_allowed
from exchange_service.domain.rate_limit import TokenBucket
from exchange_service.security.agency_identity import agency_id_from_certificate

log = logging.getLogger(__name__)

OFFICER_KEY = "x-pantau-officer"
PURPOSE_KEY = "x-pantau-purpose"
# Development only (`pantau serve --insecure-dev`): the agency, with no certificate.
DEV_AGENCY_KEY = "x-pantau-agency"
OFFICER_MAX = 100
PURPOSE_MAX = 200


def _rpc(service: Any, name: str) -> str:
    return f"/{service.full_name}/{name}"


_REGISTRY = registry_service_pb2.DESCRIPTOR.services_by_name["RegistryService"]
_QUERY = query_service_pb2.DESCRIPTOR.services_by_name["QueryService"]
_ALERT_REVIEW = alert_review_service_pb2.DESCRIPTOR.services_by_name["AlertReviewService"]
_ALERT_FEED = alert_feed_service_pb2.DESCRIPTOR.services_by_name["AlertFeedService"]
_WATCHLIST = watchlist_service_pb2.DESCRIPTOR.services_by_name["WatchlistService"]
_REPORT = report_service_pb2.DESCRIPTOR.services_by_name["ReportService"]

# Services of the contract that agencies implement and Pantau calls (push delivery):
# Pantau does not serve them, so no agency may call them here.
AGENCY_SERVICES = frozenset({"pantau.v1.AlertReceiverService"})

# RPC -> the action it performs: every RPC of the pantau services, once.
RPC_ACTIONS: Mapping[str, Action] = MappingProxyType(
    {
        _rpc(_REGISTRY, "RegisterPerson"): Action.REGISTER_PERSON,
        _rpc(_REGISTRY, "AddTravelDocument"): Action.ADD_TRAVEL_DOCUMENT,
        _rpc(_REGISTRY, "RecordEntry"): Action.RECORD_ENTRY,
        _rpc(_REGISTRY, "ExtendPermit"): Action.EXTEND_PERMIT,
        _rpc(_REGISTRY, "RecordExit"): Action.RECORD_EXIT,
        _rpc(_REGISTRY, "ReportAddress"): Action.REPORT_ADDRESS,
        _rpc(_REGISTRY, "RecordSighting"): Action.RECORD_SIGHTING,
        _rpc(_REGISTRY, "ImportLodgingReports"): Action.IMPORT_LODGING_REPORTS,
        _rpc(_QUERY, "GetPerson"): Action.READ_DOSSIER,
        _rpc(_QUERY, "SearchPersons"): Action.SEARCH_PERSONS,
        _rpc(_QUERY, "ListPersonsNear"): Action.LIST_PERSONS_NEAR,
        _rpc(_QUERY, "ListAlerts"): Action.LIST_ALERTS,
        _rpc(_QUERY, "GetAlert"): Action.READ_ALERT,
        _rpc(_ALERT_REVIEW, "ReviewAlert"): Action.REVIEW_ALERT,
        _rpc(_ALERT_FEED, "GetSigningKeys"): Action.READ_SIGNING_KEYS,
        _rpc(_ALERT_FEED, "Subscribe"): Action.SUBSCRIBE_FEED,
        _rpc(_ALERT_FEED, "Acknowledge"): Action.ACKNOWLEDGE_FEED,
        _rpc(_WATCHLIST, "UpsertEntry"): Action.WRITE_WATCHLIST,
        _rpc(_WATCHLIST, "RemoveEntry"): Action.WRITE_WATCHLIST,
        _rpc(_WATCHLIST, "ListEntries"): Action.READ_WATCHLIST,
        _rpc(_WATCHLIST, "GetEntry"): Action.READ_WATCHLIST,
        _rpc(_WATCHLIST, "Screen"): Action.SCREEN_WATCHLIST,
        _rpc(_REPORT, "GetEarlyWarningReport"): Action.READ_REPORT,
        _rpc(_REPORT, "GetReportFile"): Action.READ_REPORT,
    }
)
# RPC -> the agency kinds that may call it: the domain's table seen RPC by RPC,
# as README.md's matrix shows it.
PERMISSIONS: Mapping[str, frozenset[AgencyKind]] = MappingProxyType(
    {
        method: frozenset(kind for kind in AgencyKind if is_allowed(kind, action))
        for method, action in RPC_ACTIONS.items()
    }
)


class RevocationChecker(Protocol):
    def is_revoked(self, cert: x509.Certificate) -> bool: ...


class CertificateChecker(Protocol):
    """Why a client certificate (with the chain its client sent) may not call, or None."""

    def refusal(self, cert: x509.Certificate, presented_chain: Sequence[bytes]) -> str | None: ...


@functools.lru_cache(maxsize=1024)
def _presented(pem: bytes) -> tuple[x509.Certificate, str]:
    """The client certificate and the agency it names ("" if none): parsed once per certificate."""
    cert = x509.load_pem_x509_certificate(pem)
    return cert, agency_id_from_certificate(cert) or ""


_CONTROL_CHARACTER = re.compile("[\x00-\x1f]")


def _clean_header(raw: str, limit: int) -> str:
    text = " ".join(raw.split())
    if len(text) > limit or _CONTROL_CHARACTER.search(text):
        return ""
    return text


def officer_and_purpose(headers: Mapping[str, str]) -> tuple[str, str]:
    """The officer and purpose a call names in its metadata ("" where missing or malformed)."""
    return (
        _clean_header(headers.get(OFFICER_KEY, ""), OFFICER_MAX),
        _clean_header(headers.get(PURPOSE_KEY, ""), PURPOSE_MAX),
    )


class Access:
    """Identifies the agency of a call, takes its rate, checks the permission table and purpose.

    The server edge calls it on the event loop, in this order: ``identify``,
    ``take_rate`` (every call of an identified agency counts, refused ones
    too, so that refusals cannot flood the trail or the log), ``authorize``.
    """

    def __init__(
        self,
        agencies: Mapping[str, Agency],
        *,
        default_rate: float,
        default_burst: int,
        revocation: RevocationChecker | None = None,
        certificates: CertificateChecker | None = None,
        insecure_dev: bool = False,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._agencies = agencies
        self._revocation = revocation
        self._certificates = certificates
        self._insecure_dev = insecure_dev
        self._buckets = {
            agency.id: TokenBucket(
                agency.rate_limit_per_second or default_rate,
                agency.rate_limit_burst or default_burst,
                *(() if clock is None else (clock,)),
            )
            for agency in agencies.values()
        }

    def identify(self, auth: Mapping[str, Any], headers: Mapping[str, str]) -> Agency:
        """The calling agency, from the call's TLS peer (``auth_context()``), or Unauthenticated.

        In development mode (no TLS) the agency is the one ``headers`` name.
        """
        if self._insecure_dev:
            agency_id = headers.get(DEV_AGENCY_KEY, "")
        else:
            pems = auth.get("x509_pem_cert") or []
            if not pems:
                raise Unauthenticated("a client certificate is required")
            cert, agency_id = _presented(bytes(pems[0]))
            if self._certificates is not None:
                refusal = self._certificates.refusal(cert, auth.get("x509_pem_cert_chain") or ())
                if refusal is not None:
                    raise Unauthenticated(refusal)
            if self._revocation is not None and self._revocation.is_revoked(cert):
                raise Unauthenticated("the client certificate is revoked")
        agency = self._agencies.get(agency_id)
        if agency is None:
            raise Unauthenticated(f"unknown agency {agency_id!r}")
        return agency

    def take_rate(self, agency: Agency) -> None:
        """ResourceExhausted, with the wait, when the agency is over its rate limit."""
        wait = self._buckets[agency.id].take()
        if wait > 0:
            raise ResourceExhausted(
                f"agency {agency.id} is over its rate limit", retry_after_seconds=wait
            )

    def authorize(self, method: str, agency: Agency, headers: Mapping[str, str]) -> None:
        """PermissionDenied unless the kind may call ``method``, naming officer and purpose.

        The edge has recorded the officer and purpose in the call's record already.
        """
        officer, purpose = officer_and_purpose(headers)
        action = RPC_ACTIONS.get(method)
        if action is None or not is_allowed(agency.kind, action):
            raise PermissionDenied(
                f"{agency.kind} agencies may not call {method}",
                reason="METHOD_NOT_ALLOWED",
                metadata={"agency_id": agency.id, "method": method},
            )
        if not officer or not purpose:
            raise PermissionDenied(
                f"personal data needs metadata {OFFICER_KEY} (the officer, up to {OFFICER_MAX}"
                f" characters) and {PURPOSE_KEY} (a case or letter reference, up to"
                f" {PURPOSE_MAX})",
                reason="PURPOSE_REQUIRED",
                metadata={"officer_key": OFFICER_KEY, "purpose_key": PURPOSE_KEY},
            )
