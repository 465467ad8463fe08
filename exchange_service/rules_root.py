"""The rule engine's composition root: its options from the settings, the engine on storage,
and the feed writer that seals its events.

Apart from ``exchange_service.app`` (which re-exports these names) because it
must not bring gRPC along: the scheduler process builds the engine from here.
Every process that writes alert events (the server's reviews, the scheduler's
and `pantau rules run`'s rule runs) seals them with the writer built here, so
no event an agency subscribes to is written without its entries.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from exchange_service.domain.agencies import Agency
from exchange_service.domain.alerts import RuleDefinition, RuleName, RuleSettings
from exchange_service.domain.audit import Actor
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.permits import PermitLimits, PermitTypeLimit
from exchange_service.domain.report import ReportOptions
from exchange_service.security.agencies import load_agencies
from exchange_service.services import ports
from exchange_service.services.alerts import RuleEngine, RuleEngineOptions
from exchange_service.services.feed import FeedWriter
from exchange_service.services.reports import EarlyWarningReports, ReportsOptions
from exchange_service.services.watchlist import Screener, ScreeningOptions
from exchange_service.settings import PermitLimitSetting, Settings
from exchange_service.signing.keyset import KeySet, KeySetError, open_keys
from exchange_service.storage.database import UnitOfWork
from exchange_service.wire.feed import entry_payload


def feed_keys(settings: Settings, *, clock: Clock = system_clock) -> KeySet:
    """The feeds' signing keys (``feed_keys_dir``), the first one made if there is none.

    The passphrase comes from the environment (``PANTAU_FEED_KEY_PASSPHRASE``);
    exits saying what is missing or wrong.
    """
    passphrase = settings.feed_key_passphrase
    try:
        return open_keys(
            settings.feed_keys_dir,
            None if passphrase is None else passphrase.get_secret_value(),
            overlap=timedelta(seconds=settings.feed_key_overlap_seconds),
            create_at=clock(),
        )
    except KeySetError as error:
        raise SystemExit(str(error)) from error


def build_feed_writer(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    keys: KeySet | None = None,
    agencies: Mapping[str, Agency] | None = None,
) -> FeedWriter:
    """The writer of the agencies' feeds (``agencies``, default the agencies file read now),
    signing with ``keys`` or the settings' feed keys; no keys are opened when no agency has
    a feed."""
    if agencies is None:
        agencies = load_agencies(settings.agencies_file)
    if keys is None and any(agency.feed is not None for agency in agencies.values()):
        keys = feed_keys(settings, clock=clock)
    return FeedWriter(agencies, entry_payload, keys, clock)


def permit_limits(settings: Settings) -> PermitLimits:
    """What each type of permit allows in one stay: for ExtendPermit and the rule alike."""

    def limit(setting: PermitLimitSetting) -> PermitTypeLimit:
        return PermitTypeLimit(setting.total_days, setting.extensions)

    return PermitLimits(
        voa=limit(settings.permit_voa),
        visit=limit(settings.permit_visit),
        limited_stay=limit(settings.permit_limited_stay),
        permanent_stay=limit(settings.permit_permanent_stay),
        diplomatic=limit(settings.permit_diplomatic),
    )


# The rules' numbers that are not settings ``rule_<field>``: the permit limits are the
# registry's settings ``permit_<type>`` (ExtendPermit goes by the same value).
_NOT_RULE_SETTINGS = frozenset({"permit_limits"})


def rule_settings(settings: Settings) -> RuleSettings:
    """Every rule's numbers: each ``RuleSettings`` field from the setting ``rule_<field>``,
    and ``permit_limits`` from the settings ``permit_<type>`` (``permit_limits``)."""
    return RuleSettings(
        **{
            f.name: getattr(settings, f"rule_{f.name}")
            for f in dataclasses.fields(RuleSettings)
            if f.name not in _NOT_RULE_SETTINGS
        },
        permit_limits=permit_limits(settings),
    )


def rule_engine_options(settings: Settings) -> RuleEngineOptions:
    """The settings the rule engine goes by."""
    return RuleEngineOptions(timezone=ZoneInfo(settings.timezone), rules=rule_settings(settings))


def build_rule_engine(
    settings: Settings,
    engine: Engine | UnitOfWork,
    rules: Mapping[RuleName, RuleDefinition],
    *,
    clock: Clock = system_clock,
    actor: Actor | None = None,
    feed: FeedWriter | None = None,
) -> RuleEngine:
    """The engine running ``rules`` (``scheduler.rules.RULES``) on ``engine``'s connections,
    or on the unit of work given.

    Each run records its audit event as ``actor`` (default the system process
    ``rules``) in the audit inbox, in the run's own transaction, for the
    trail's writer to chain; the caller owns and disposes ``engine``. Its
    events are sealed into the agencies' feeds by ``feed`` (default: the
    settings' agencies and keys).
    """
    uow = (
        engine
        if isinstance(engine, UnitOfWork)
        else UnitOfWork(engine, boundary_tolerance_meters=settings.boundary_tolerance_meters)
    )
    return RuleEngine(
        uow,
        rules,
        rule_engine_options(settings),
        clock=clock,
        actor=actor,
        feed=feed if feed is not None else build_feed_writer(settings, clock=clock),
    )


def screening_options(settings: Settings) -> ScreeningOptions:
    """The screener's options (and a screening's) from the settings."""
    return ScreeningOptions(
        timezone=ZoneInfo(settings.timezone),
        threshold=settings.watchlist_threshold,
        entry_fanout=settings.watchlist_entry_fanout,
        bulk_entries=settings.watchlist_bulk_entries,
    )


def build_screener(
    settings: Settings,
    uow: ports.UnitOfWork,
    engine: RuleEngine | None,
    *,
    clock: Clock = system_clock,
    actor: Actor | None = None,
) -> Screener:
    """The screener on ``uow``; a round that changes a match runs WATCHLIST_MATCH on
    ``engine`` (none: the rule runs on its schedule only)."""

    return Screener(
        uow,
        screening_options(settings),
        clock,
        actor=actor,
        on_changed=None
        if engine is None
        else functools.partial(engine.run, RuleName.WATCHLIST_MATCH),
    )


def report_options(
    settings: Settings, agencies: Mapping[str, Agency] | None = None
) -> ReportsOptions:
    """The reports' options from the settings; the agencies with a feed from ``agencies``
    (default the agencies file read now)."""
    if agencies is None:
        agencies = load_agencies(settings.agencies_file)
    return ReportsOptions(
        timezone=ZoneInfo(settings.timezone),
        report=ReportOptions(
            morning_time=settings.report_time,
            expiring_within_days=settings.rule_permit_expiring_within_days,
            deadline_days=dict(settings.report_deadline_days),
            review_window_days=settings.report_review_window_days,
            response_window_days=settings.report_response_window_days,
            overstay_fee_per_day_idr=settings.rule_overstay_fee_per_day_idr,
        ),
        agency_names={a.id: a.name for a in agencies.values() if a.feed is not None},
    )


def build_reports(
    settings: Settings,
    uow: ports.UnitOfWork,
    *,
    clock: Clock = system_clock,
    agencies: Mapping[str, Agency] | None = None,
) -> EarlyWarningReports:
    """The early-warning reports on ``uow`` (``agencies`` as ``report_options`` takes them)."""
    return EarlyWarningReports(uow, report_options(settings, agencies), clock)
