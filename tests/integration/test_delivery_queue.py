"""The delivery queue on the real database: claims, leases, fencing, retries, order, wakeups.

The tests work on a database of this module's own (the lanes of every agency
in it are due to any claim). Each test names its own agencies and makes them
the only configured ones (``sync_lanes`` disables every other lane), seeds
their feeds with the bulk seeder, and moves a clock of its own to pass
leases and backoffs without waiting for them.
"""

from __future__ import annotations

import io
import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service.cli.deliver import requeue, show_status
from exchange_service.domain.agencies import Agency, AgencyKind, DataView
from exchange_service.domain.audit import Actor, AuditEvent
from exchange_service.domain.delivery import (
    DELIVER_ACTION,
    DeliveryPolicy,
    LaneClaim,
    LaneKey,
)
from exchange_service.domain.errors import NotFound
from exchange_service.domain.feed import (
    AlertSender,
    ChannelKind,
    DeliveryFailed,
    FeedEntry,
    FeedSubscription,
    PushChannel,
)
from exchange_service.services.delivery import (
    DeliveryOptions,
    DeliveryQueue,
    DeliveryWorker,
    Wakeups,
)
from exchange_service.settings import load_settings
from exchange_service.storage.delivery_store import DeliveryStore, FeedListener
from exchange_service.tools.bench.feed_seed import seed_feed
from tests.clock import CLOCK
from tests.conftest import fresh_database

LEASE = 30.0


class MovingClock:
    """The suite's clock plus an offset the test moves forward (leases, backoffs)."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return CLOCK.now() + self.offset

    def move(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)


@dataclass
class RecordingSender:
    """An ``AlertSender`` that keeps what it was sent, per lane, in order; it can be told
    to fail, and it notices two pushes of one lane at once."""

    kind: ChannelKind
    delay: float = 0.0
    failures: list[DeliveryFailed] = field(default_factory=list)
    received: dict[str, list[int]] = field(default_factory=dict)
    overlaps: list[str] = field(default_factory=list)
    _in_flight: set[str] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
        lane = f"{agency_id}/{channel.kind}"
        with self._lock:
            if lane in self._in_flight:
                self.overlaps.append(lane)
            self._in_flight.add(lane)
            failure = self.failures.pop(0) if self.failures else None
        try:
            if self.delay:
                time.sleep(self.delay)
            if failure is not None:
                raise failure
            with self._lock:
                self.received.setdefault(lane, []).extend(e.sequence for e in entries)
            return entries[-1].sequence
        finally:
            with self._lock:
                self._in_flight.discard(lane)

    def close(self) -> None:
        pass


def _agency(agency_id: str, *kinds: ChannelKind) -> Agency:
    targets = {
        ChannelKind.GRPC: "127.0.0.1:7601",
        ChannelKind.WEBHOOK: "https://localhost:7602/pantau/alerts",
        ChannelKind.CAP: "var/feeds/test/cap",
    }
    return Agency(
        id=agency_id,
        name=f"Test agency {agency_id}",
        kind=AgencyKind.POLICE,
        view=DataView.FULL,
        feed=FeedSubscription(),
        push=tuple(PushChannel(kind, targets[kind]) for kind in kinds),
    )


def _new_id() -> str:
    return f"test-{uuid.uuid4().hex[:10]}"


@pytest.fixture(scope="module")
def queue_engine() -> Iterator[Engine]:
    with fresh_database("pantau_delivery") as url:
        engine = create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture
def clock() -> MovingClock:
    return MovingClock()


def _store(
    engine: Engine, clock: MovingClock, policy: DeliveryPolicy | None = None
) -> DeliveryStore:
    return DeliveryStore(engine, policy or DeliveryPolicy(), clock=clock, rng=random.Random(7))


def _one_lane(store: DeliveryStore, kind: ChannelKind) -> tuple[LaneKey, list[Agency]]:
    """A new agency with one push channel of ``kind``, its lane synced (and every other
    disabled): the lane and the agencies, as a worker is given them."""
    agency = _agency(_new_id(), kind)
    store.sync_lanes({agency.id: agency})
    return LaneKey(agency.id, kind), [agency]


def _channels(agencies: Sequence[Agency]) -> dict[LaneKey, PushChannel]:
    return {LaneKey(a.id, c.kind): c for a in agencies for c in a.push}


def _worker(
    store: DeliveryStore,
    sender: RecordingSender,
    agencies: Sequence[Agency],
    clock: MovingClock,
    *,
    worker_id: str = "worker-1",
    batch: int = 50,
    wakeups: Wakeups | None = None,
    poll_seconds: float = 1.0,
) -> DeliveryWorker:
    return DeliveryWorker(
        store,
        {sender.kind: sender},
        _channels(agencies),
        DeliveryOptions(worker_id, batch=batch, lease_seconds=LEASE, poll_seconds=poll_seconds),
        clock=clock,
        wakeups=wakeups,
    )


def _cursor(engine: Engine, lane: LaneKey) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                text(
                    "SELECT delivered_through FROM delivery_lanes"
                    " WHERE agency_id = :a AND channel = :c"
                ),
                {"a": lane.agency_id, "c": str(lane.channel)},
            ).scalar_one()
        )


def _audited(engine: Engine, lane: LaneKey) -> list[tuple[str, str, list[str], str]]:
    """The delivery audit events of the lane in the inbox: action, outcome, persons, purpose."""
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT action, outcome, person_ids, purpose FROM audit_inbox"
                " WHERE recipient = :r ORDER BY id"
            ),
            {"r": lane.recipient},
        ).all()
    return [(r.action, r.outcome, list(r.person_ids), r.purpose) for r in rows]


def test_the_store_and_listener_satisfy_the_ports(queue_engine: Engine, clock: MovingClock) -> None:
    store: DeliveryQueue = _store(queue_engine, clock)
    listener: Wakeups = FeedListener(queue_engine.url.render_as_string(hide_password=False))
    sender: AlertSender = RecordingSender(ChannelKind.GRPC)
    try:
        assert isinstance(store, DeliveryStore)
        assert callable(listener.wait)
        assert sender.kind is ChannelKind.GRPC
    finally:
        assert isinstance(listener, FeedListener)
        listener.close()


def test_sync_creates_a_lane_per_push_channel_and_disables_the_others(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    police, regency = _new_id(), _new_id()
    store.sync_lanes({police: _agency(police, ChannelKind.GRPC)})
    lanes = store.sync_lanes({regency: _agency(regency, ChannelKind.WEBHOOK, ChannelKind.CAP)})
    assert lanes == [LaneKey(regency, ChannelKind.CAP), LaneKey(regency, ChannelKind.WEBHOOK)]
    enabled = {s.lane: s.enabled for s in store.lanes()}
    assert enabled[LaneKey(police, ChannelKind.GRPC)] is False
    assert enabled[LaneKey(regency, ChannelKind.WEBHOOK)] is True
    assert enabled[LaneKey(regency, ChannelKind.CAP)] is True


def test_claim_skips_a_lane_another_session_holds_locked(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    first, second = _new_id(), _new_id()
    store.sync_lanes(
        {first: _agency(first, ChannelKind.GRPC), second: _agency(second, ChannelKind.GRPC)}
    )
    seed_feed(queue_engine, first, 3)
    seed_feed(queue_engine, second, 3)
    with queue_engine.connect() as other:
        other.execute(
            text(
                "SELECT 1 FROM delivery_lanes WHERE agency_id = :a AND channel = 'GRPC' FOR UPDATE"
            ),
            {"a": first},
        )
        started = time.monotonic()
        claims = store.claim("worker-1", 10, LEASE)
        waited = time.monotonic() - started
        # Not blocked by the other session's lock: the locked lane is skipped.
        assert [c.lane.agency_id for c in claims] == [second]
        assert waited < 2.0
        other.rollback()
    again = store.claim("worker-2", 10, LEASE)
    assert [c.lane.agency_id for c in again] == [first]
    assert again[0].token == 1


def test_a_lane_is_due_only_with_entries_beyond_its_cursor(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    lane, _agencies = _one_lane(store, ChannelKind.GRPC)
    agency = lane.agency_id
    assert store.claim("worker-1", 10, LEASE) == []  # no feed yet
    seed_feed(queue_engine, agency, 2)
    [claim] = store.claim("worker-1", 10, LEASE)
    assert store.advance(claim, 2, [], lease_seconds=LEASE)
    assert store.release(claim)
    assert store.claim("worker-1", 10, LEASE) == []  # caught up


def test_an_expired_lease_is_taken_over_and_the_stale_token_cannot_move_the_cursor(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    lane, _agencies = _one_lane(store, ChannelKind.GRPC)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 10)
    [first] = store.claim("worker-1", 10, LEASE)
    assert store.claim("worker-2", 10, LEASE) == []  # leased
    clock.move(LEASE + 1)
    [second] = store.claim("worker-2", 10, LEASE)
    assert second.lane == lane
    assert second.token == first.token + 1
    event = AuditEvent(
        actor=Actor.system("delivery-worker"),
        action=DELIVER_ACTION,
        outcome="OK",
        recipient=lane.recipient,
    )
    # The deposed worker wakes and tries to move the cursor: nothing is written.
    assert store.advance(first, 5, [event], lease_seconds=LEASE) is False
    assert store.fail(first, "late", retryable=True, attempted_through=5) is None
    assert store.release(first) is False
    assert _cursor(queue_engine, lane) == 0
    assert _audited(queue_engine, lane) == []
    # The holder of the current token moves it.
    assert store.advance(second, 5, [event], lease_seconds=LEASE) is True
    assert _cursor(queue_engine, lane) == 5
    assert len(_audited(queue_engine, lane)) == 1


def test_a_failed_push_is_retried_after_a_jittered_backoff_within_bounds(
    queue_engine: Engine, clock: MovingClock
) -> None:
    policy = DeliveryPolicy(timedelta(seconds=1), timedelta(seconds=60), max_attempts=10)
    store = _store(queue_engine, clock, policy)
    lane, _agencies = _one_lane(store, ChannelKind.GRPC)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 1)
    for attempt in range(1, 9):
        [claim] = store.claim("worker-1", 1, LEASE)
        assert claim.attempts == attempt - 1
        failed_at = clock()
        status = store.fail(claim, f"refused {attempt}", retryable=True, attempted_through=1)
        assert status is not None
        assert status.attempts == attempt
        assert status.last_error == f"refused {attempt}"
        assert status.lease_owner is None
        ceiling = min(60.0, 2.0 ** (attempt - 1))
        delay = (status.next_attempt_at - failed_at).total_seconds()
        assert -0.01 <= delay <= ceiling + 0.01
        # Not due before its time (unless the draw was next to nothing).
        if delay > 0.05:
            assert store.claim("worker-1", 1, LEASE) == []
        clock.move(ceiling + 0.1)
    assert _cursor(queue_engine, lane) == 0


def test_a_lane_is_dead_lettered_after_the_attempts_and_requeued_by_an_operator(
    queue_engine: Engine, clock: MovingClock, caplog: pytest.LogCaptureFixture
) -> None:
    policy = DeliveryPolicy(timedelta(seconds=1), timedelta(seconds=4), max_attempts=3)
    store = _store(queue_engine, clock, policy)
    lane, agencies = _one_lane(store, ChannelKind.WEBHOOK)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 12)
    sender = RecordingSender(
        ChannelKind.WEBHOOK, failures=[DeliveryFailed("503 from receiver") for _ in range(3)]
    )
    worker = _worker(store, sender, agencies, clock, batch=5)
    for _ in range(3):
        assert worker.run_once() == 0
        clock.move(5)
    status = store.lane(lane)
    assert status is not None
    assert status.dead_lettered_at is not None
    assert status.attempts == 3
    [letter] = [d for d in store.dead_letters(pending_only=True) if d.lane == lane]
    assert (letter.from_sequence, letter.through_sequence) == (1, 5)
    assert letter.attempts == 3
    assert letter.error == "503 from receiver"
    assert any(
        r.levelname == "ERROR" and "DEAD-LETTERED" in r.getMessage() and agency in r.getMessage()
        for r in caplog.records
    )
    clock.move(3600)
    assert worker.run_once() == 0  # stopped: not claimed however long it waits
    assert store.claim("worker-9", 10, LEASE) == []
    assert store.requeue(lane) is True
    assert [d for d in store.dead_letters(pending_only=True) if d.lane == lane] == []
    assert worker.run_once() == 12
    assert sender.received[lane.recipient] == list(range(1, 13))
    assert store.requeue(lane) is False  # nothing was dead-lettered any more


def test_a_refused_entry_is_dead_lettered_at_once(queue_engine: Engine, clock: MovingClock) -> None:
    store = _store(queue_engine, clock)
    lane, agencies = _one_lane(store, ChannelKind.GRPC)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 4)
    sender = RecordingSender(
        ChannelKind.GRPC,
        failures=[DeliveryFailed("bad signature", retryable=False, accepted_through=2)],
    )
    worker = _worker(store, sender, agencies, clock)
    # The receiver took 1 and 2, then refused 3: the cursor keeps what it took.
    assert worker.run_once() == 2
    status = store.lane(lane)
    assert status is not None
    assert status.dead_lettered_at is not None
    assert status.delivered_through == 2
    [letter] = [d for d in store.dead_letters() if d.lane == lane]
    assert (letter.from_sequence, letter.through_sequence, letter.attempts) == (3, 4, 1)


def test_requeue_of_an_unknown_lane_is_refused_and_writes_nothing(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    before = store.lanes()
    with pytest.raises(NotFound, match="delivery lane 'nobody/GRPC' not found"):
        store.requeue(LaneKey("nobody", ChannelKind.GRPC))
    assert store.lanes() == before


def test_a_lane_is_delivered_in_order_with_one_audit_event_per_entry(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    lane, agencies = _one_lane(store, ChannelKind.GRPC)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 50)
    sender = RecordingSender(ChannelKind.GRPC)
    worker = _worker(store, sender, agencies, clock, batch=7)
    assert worker.run_once() == 50
    assert sender.received[lane.recipient] == list(range(1, 51))
    assert _cursor(queue_engine, lane) == 50
    audited = _audited(queue_engine, lane)
    assert len(audited) == 50
    assert {a[0] for a in audited} == {DELIVER_ACTION}
    assert {a[1] for a in audited} == {"OK"}
    assert [a[2] for a in audited] == [[f"person-{n}"] for n in range(1, 51)]
    assert audited[0][3].startswith(f"feed {agency} sequence 1 ")
    seed_feed(queue_engine, agency, 5)
    assert worker.run_once() == 5
    assert sender.received[lane.recipient] == list(range(1, 56))


def test_a_receiver_that_already_held_more_moves_the_cursor_past_them_with_their_audit(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    lane, agencies = _one_lane(store, ChannelKind.GRPC)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 20)

    class AlreadyHeld(RecordingSender):
        def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
            super().send(agency_id, channel, entries)
            return 15  # a worker that died had pushed up to 15

    sender = AlreadyHeld(ChannelKind.GRPC)
    worker = _worker(store, sender, agencies, clock, batch=5)
    worker.run_once()
    assert _cursor(queue_engine, lane) >= 15
    assert [a[2] for a in _audited(queue_engine, lane)][:15] == [
        [f"person-{n}"] for n in range(1, 16)
    ]


def test_two_workers_never_push_the_same_lane_at_once(
    queue_engine: Engine, clock: MovingClock
) -> None:
    ids = [_new_id() for _ in range(3)]
    agencies = [_agency(i, ChannelKind.GRPC) for i in ids]
    _store(queue_engine, clock).sync_lanes({a.id: a for a in agencies})
    for agency_id in ids:
        seed_feed(queue_engine, agency_id, 120)
    sender = RecordingSender(ChannelKind.GRPC, delay=0.002)
    workers = [
        _worker(_store(queue_engine, clock), sender, agencies, clock, worker_id=f"w{n}", batch=10)
        for n in range(3)
    ]
    totals: list[int] = []
    threads = [threading.Thread(target=lambda w=w: totals.append(w.run_once())) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sender.overlaps == []
    assert sum(totals) == 360
    for agency_id in ids:
        assert sender.received[f"{agency_id}/GRPC"] == list(range(1, 121))


def test_a_commit_notice_wakes_an_idle_worker(queue_engine: Engine, clock: MovingClock) -> None:
    store = _store(queue_engine, clock)
    lane, agencies = _one_lane(store, ChannelKind.CAP)
    agency = lane.agency_id
    listener = FeedListener(queue_engine.url.render_as_string(hide_password=False))
    sender = RecordingSender(ChannelKind.CAP)
    # It would poll only after a minute: the notice must be what wakes it.
    worker = _worker(store, sender, agencies, clock, wakeups=listener, poll_seconds=60.0)
    thread = threading.Thread(target=worker.run)
    try:
        assert listener.listening(10.0)
        thread.start()
        time.sleep(0.5)  # idle now: nothing was due
        assert lane.recipient not in sender.received
        seeded_at = time.monotonic()
        seed_feed(queue_engine, agency, 3)
        while lane.recipient not in sender.received and time.monotonic() - seeded_at < 10:
            time.sleep(0.02)
        assert sender.received.get(lane.recipient) == [1, 2, 3]
        assert time.monotonic() - seeded_at < 5.0
    finally:
        worker.stop()
        thread.join(timeout=10)
        listener.close()
    assert not thread.is_alive()


def test_stop_finishes_the_batch_in_flight_and_releases_the_lane(
    queue_engine: Engine, clock: MovingClock
) -> None:
    store = _store(queue_engine, clock)
    lane, agencies = _one_lane(store, ChannelKind.GRPC)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 100)
    worker: DeliveryWorker

    class StopsMidway(RecordingSender):
        def send(self, agency_id: str, channel: PushChannel, entries: Sequence[FeedEntry]) -> int:
            worker.stop()  # SIGTERM arrives while this batch is in flight
            return super().send(agency_id, channel, entries)

    sender = StopsMidway(ChannelKind.GRPC)
    worker = _worker(store, sender, agencies, clock, batch=10)
    assert worker.run() == 10
    assert _cursor(queue_engine, lane) == 10
    status = store.lane(lane)
    assert status is not None
    assert status.lease_owner is None  # released: another worker may go on at once
    [claim] = store.claim("worker-2", 1, LEASE)
    assert isinstance(claim, LaneClaim)
    assert claim.delivered_through == 10


def test_status_shows_a_dead_lettered_lane_and_requeue_starts_it_again(
    queue_engine: Engine, clock: MovingClock
) -> None:
    settings = load_settings(database_url=queue_engine.url.render_as_string(hide_password=False))
    store = _store(queue_engine, clock)
    lane, _agencies = _one_lane(store, ChannelKind.WEBHOOK)
    agency = lane.agency_id
    seed_feed(queue_engine, agency, 3)
    [claim] = store.claim("worker-1", 1, LEASE)
    store.fail(claim, "400 bad signature", retryable=False, attempted_through=3)
    out = io.StringIO()
    assert show_status(settings, out) == 1
    shown = out.getvalue()
    assert f"{lane.recipient}: DEAD-LETTERED, delivered through 0 of 3 (backlog 3)" in shown
    assert f"{lane.recipient} entries 1..3 after 1 attempts" in shown
    assert f"pantau deliver requeue --agency {agency} --channel WEBHOOK" in shown
    out = io.StringIO()
    assert requeue(settings, agency, ChannelKind.WEBHOOK, out) == 0
    assert "requeued" in out.getvalue()
    out = io.StringIO()
    assert show_status(settings, out) == 0
    assert f"{lane.recipient}: enabled, delivered through 0 of 3" in out.getvalue()


def test_requeue_of_an_unknown_lane_names_the_arguments_and_changes_nothing(
    queue_engine: Engine, clock: MovingClock
) -> None:
    settings = load_settings(database_url=queue_engine.url.render_as_string(hide_password=False))
    before = _store(queue_engine, clock).lanes()
    out = io.StringIO()
    assert requeue(settings, "nobody", ChannelKind.CAP, out) == 2
    assert out.getvalue().startswith("--agency/--channel: no delivery lane nobody/CAP")
    assert _store(queue_engine, clock).lanes() == before
