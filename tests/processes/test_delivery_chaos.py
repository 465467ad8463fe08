"""Nothing is lost or applied twice when the receivers are killed and PostgreSQL restarts.

The scenario of ``tools/bench/delivery_chaos.py`` at a reduced count: two
`pantau deliver` processes push each agency's feed to its reference receiver
process (the police over gRPC, the regional government over Standard
Webhooks), each receiver is SIGKILLed at random every second or few and
started again on its store, and the test's own PostgreSQL cluster is
restarted once as a crash would. `make bench-delivery` runs it at 10,000.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from exchange_service.tools.bench.delivery_chaos import run_delivery_chaos

EVENTS = 1_500


@pytest.mark.timeout(300)
def test_every_event_reaches_both_receivers_once_despite_kills_and_a_database_restart(
    tmp_path: Path,
) -> None:
    result = run_delivery_chaos(
        tmp_path,
        events=EVENTS,
        chaos_seconds=20.0,
        kill_min=1.0,
        kill_max=3.0,
        deadline_seconds=240.0,
    )
    context = (
        result.describe()
        + "\n"
        + "\n".join(f"--- {name}\n{text}" for name, text in result.logs.items())
    )
    assert not result.timed_out, context
    assert result.receiver_kills >= 4, context
    assert result.database_restarts == 1, context
    for held in result.held:
        assert sorted(set(held.sequences)) == list(range(1, EVENTS + 1)), context
    assert (result.lost, result.applied_twice) == (0, 0), context
    assert result.delivered_after_last_restart <= 60.0, context
