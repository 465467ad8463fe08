"""What starting the server does to its process."""

from __future__ import annotations

import sys

import pytest

from exchange_service import app


@pytest.mark.e2e
def test_the_serving_process_uses_the_configured_gil_switch_interval(
    running_server: app.RunningServer,
) -> None:
    wanted = running_server.application.settings.gil_switch_interval_ms / 1000
    assert wanted != 0.005  # Python's default: the test would prove nothing
    assert sys.getswitchinterval() == pytest.approx(wanted)
