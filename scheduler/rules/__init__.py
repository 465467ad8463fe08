"""The early-warning rules, one module each, and their catalogue ``RULES`` by name.

Each rule is a ``base.Rule``: two set-based SQL statements (what holds now,
and which open alerts resolve and why) with its numbers from the settings.
``exchange_service.services.alerts.RuleEngine`` runs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from exchange_service.domain.alerts import RuleName
from scheduler.rules.base import Rule
from scheduler.rules.no_recent_contact import NO_RECENT_CONTACT
from scheduler.rules.overstay import OVERSTAY
from scheduler.rules.permit_expiring import PERMIT_EXPIRING
from scheduler.rules.permit_limit_exceeded import PERMIT_LIMIT_EXCEEDED
from scheduler.rules.restricted_area_presence import RESTRICTED_AREA_PRESENCE
from scheduler.rules.sponsor_overstay_cluster import SPONSOR_OVERSTAY_CLUSTER
from scheduler.rules.unreported_address_change import UNREPORTED_ADDRESS_CHANGE
from scheduler.rules.watchlist_match import WATCHLIST_MATCH

RULES: Mapping[RuleName, Rule] = MappingProxyType(
    {
        rule.name: rule
        for rule in (
            OVERSTAY,
            PERMIT_EXPIRING,
            UNREPORTED_ADDRESS_CHANGE,
            NO_RECENT_CONTACT,
            RESTRICTED_AREA_PRESENCE,
            SPONSOR_OVERSTAY_CLUSTER,
            PERMIT_LIMIT_EXCEEDED,
            WATCHLIST_MATCH,
        )
    }
)

__all__ = ["RULES", "Rule"]
