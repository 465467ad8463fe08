"""The delivery worker's composition root: the queue on storage, the senders, the wakeups.

Apart from ``exchange_service.app`` because it must not bring the gRPC
server along: `pantau deliver` builds its worker from here. The senders come
from ``agency_adapters.senders.build_senders`` by the ``delivery_adapter``
setting (real, console, memory); tests and benchmarks pass their own.
"""

from __future__ import annotations

import importlib
import os
import socket
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from exchange_service.domain.agencies import Agency
from exchange_service.domain.clock import Clock, system_clock
from exchange_service.domain.delivery import DeliveryPolicy, LaneKey
from exchange_service.domain.feed import AlertSender, ChannelKind, PushChannel
from exchange_service.rules_root import feed_keys
from exchange_service.security.agencies import load_agencies
from exchange_service.services.delivery import DeliveryOptions, DeliveryWorker
from exchange_service.settings import Settings
from exchange_service.storage.database import make_engine
from exchange_service.storage.delivery_store import DeliveryStore, FeedListener
from exchange_service.wire.cap import CapOptions


class SendersUnavailable(RuntimeError):
    """The senders of the ``delivery_adapter`` setting cannot be built; nothing was delivered."""


def default_worker_id() -> str:
    """A worker's name unless given: ``host:pid``, as the scheduler names its holders."""
    return f"{socket.gethostname()}:{os.getpid()}"


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    """The retry and dead-letter policy of the settings (``delivery_backoff_*``,
    ``delivery_max_attempts``)."""
    return DeliveryPolicy(
        backoff_initial=timedelta(seconds=settings.delivery_backoff_initial_seconds),
        backoff_max=timedelta(seconds=settings.delivery_backoff_max_seconds),
        max_attempts=settings.delivery_max_attempts,
    )


def delivery_options(settings: Settings, worker_id: str) -> DeliveryOptions:
    """How the worker named ``worker_id`` delivers (``delivery_batch``, lease, poll)."""
    return DeliveryOptions(
        worker_id=worker_id,
        batch=settings.delivery_batch,
        lease_seconds=settings.delivery_lease_seconds,
        poll_seconds=settings.delivery_poll_seconds,
    )


def push_channels(agencies: Mapping[str, Agency]) -> dict[LaneKey, PushChannel]:
    """Each configured lane's push channel (target, CA, server name)."""
    return {
        LaneKey(agency.id, channel.kind): channel
        for agency in agencies.values()
        for channel in agency.push
    }


def build_senders(
    settings: Settings, *, clock: Clock = system_clock
) -> dict[ChannelKind, AlertSender]:
    """The senders of the ``delivery_adapter`` setting, from ``agency_adapters.senders``.

    The real senders sign (webhooks) with the feed keys, opened here; the
    console and memory ones need none. Imported by name, so the worker can be
    built (with senders given) before the adapters are installed.
    """
    try:
        senders = importlib.import_module("agency_adapters.senders")
    except ModuleNotFoundError as error:
        raise SendersUnavailable(
            f"delivery_adapter: {settings.delivery_adapter!r} needs agency_adapters.senders,"
            f" which cannot be imported ({error})"
        ) from error
    keys = feed_keys(settings, clock=clock) if settings.delivery_adapter == "real" else None
    context = senders.SenderContext(
        keys=keys,
        clock=clock,
        client_cert_file=settings.delivery_client_cert_file,
        client_key_file=settings.delivery_client_key_file,
        # A push must end well within the lease, or another worker takes the lane over.
        timeout_seconds=settings.delivery_lease_seconds / 3,
        # What every CAP document says alike (the CAP channel of the real adapter).
        cap_options=CapOptions(
            sender=settings.cap_sender,
            status=settings.cap_status,
            timezone=ZoneInfo(settings.timezone),
        ),
    )
    built: dict[ChannelKind, AlertSender] = senders.build_senders(
        settings.delivery_adapter, context
    )
    return built


@dataclass
class DeliveryProcess:
    """A worker with what it runs on; ``close`` releases it all (the caller stops the worker)."""

    worker: DeliveryWorker
    store: DeliveryStore
    agencies: Mapping[str, Agency]
    engine: Engine
    listener: FeedListener | None

    def close(self) -> None:
        self.worker.close()
        if self.listener is not None:
            self.listener.close()
        self.engine.dispose()


@contextmanager
def delivery_store(settings: Settings, *, clock: Clock = system_clock) -> Iterator[DeliveryStore]:
    """The lanes on an engine of their own, disposed on exit (``pantau deliver status``)."""
    engine = make_engine(settings.database_url, pool_size=2, application_name="pantau-deliver")
    try:
        yield DeliveryStore(engine, delivery_policy(settings), clock=clock)
    finally:
        engine.dispose()


def build_delivery_worker(
    settings: Settings,
    *,
    worker_id: str | None = None,
    senders: Mapping[ChannelKind, AlertSender] | None = None,
    clock: Clock = system_clock,
    listen: bool = True,
) -> DeliveryProcess:
    """A delivery worker for the settings' agencies and lanes (created if missing).

    ``senders`` default to the ``delivery_adapter`` setting's; ``listen``
    wakes the idle worker on the feeds' commit notices (else it only polls).
    """
    agencies = load_agencies(settings.agencies_file)
    engine = make_engine(settings.database_url, pool_size=2, application_name="pantau-deliver")
    listener: FeedListener | None = None
    try:
        store = DeliveryStore(engine, delivery_policy(settings), clock=clock)
        store.sync_lanes(agencies)
        chosen = dict(senders) if senders is not None else build_senders(settings, clock=clock)
        if listen:
            listener = FeedListener(settings.database_url)
        worker = DeliveryWorker(
            store,
            chosen,
            push_channels(agencies),
            delivery_options(settings, worker_id or default_worker_id()),
            clock=clock,
            wakeups=listener,
        )
    except BaseException:
        if listener is not None:
            listener.close()
        engine.dispose()
        raise
    return DeliveryProcess(worker, store, agencies, engine, listener)
