"""`pantau bench-servers` for a tiny window: every model measured over mutual TLS, held calls."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange_service.settings import load_settings
from exchange_service.tools.bench.server_models import Model, run_server_models

WORKERS = 4
HELD = 2 * WORKERS  # more held calls than the threaded server has threads
IN_FLIGHT = 2  # below the limited threaded server's limit, the worker count


@pytest.mark.e2e
def test_every_model_is_measured_and_only_the_threaded_ones_are_stopped_by_held_calls(
    pki_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings = load_settings(
        grpc_workers=WORKERS,
        tls_cert_file=pki_dir / "server.crt",
        tls_key_file=pki_dir / "server.key",
        tls_client_ca_file=pki_dir / "ca.crt",
    )
    # A generous probe deadline on a busy machine: a held threaded server never answers.
    result = run_server_models(
        settings,
        seconds=0.3,
        rounds=1,
        held_calls=HELD,
        probe_seconds=1.5,
        calls_in_flight=IN_FLIGHT,
    )
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1
    assert json.loads(lines[0]) == result
    assert result["mtls"] is True
    assert result["workers"] == WORKERS
    assert result["held_calls"] == HELD
    assert result["calls_in_flight"] == IN_FLIGHT
    models = result["models"]
    assert list(models) == [str(model) for model in Model]
    threaded = models[Model.THREADED]
    for name, figures in models.items():
        assert figures["qps"] > 0, name
        assert figures["qps_min"] == figures["qps"] == figures["qps_max"], name
        assert 0 < figures["p50_ms"] <= figures["p99_ms"], name
        # Each server process is observed: a call costs it some CPU.
        assert figures["server_cpu_us_per_call"] > 0, name
        assert figures["qps_ratios"] == [figures["qps_ratio_to_threaded"]], name
        assert figures["qps_ratio_to_threaded"] == pytest.approx(
            figures["qps"] / threaded["qps"], abs=1e-3
        ), name
    assert threaded["qps_ratio_to_threaded"] == 1.0
    # Calls that never send their message hold every thread of the threaded server:
    # the probe waits its deadline out, or, with the limit, is refused at once ...
    assert threaded["held_calls_answered"] is False
    assert threaded["held_probe_ms"] is None
    assert threaded["held_probe_status"] == "DEADLINE_EXCEEDED"
    limited = models[Model.THREADED_LIMITED]
    assert limited["held_calls_answered"] is False
    assert limited["held_probe_status"] == "RESOURCE_EXHAUSTED"
    # ... and none of the aio servers', which read the request before any thread is used.
    for model in (Model.AIO_MIGRATION, Model.AIO_ASYNC, Model.AIO_EDGE):
        assert models[model]["held_calls_answered"] is True, model
        assert models[model]["held_probe_status"] == "OK", model
        assert 0 < models[model]["held_probe_ms"] < 1_500.0, model
