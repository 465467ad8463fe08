"""``make bench-names`` on the labelled pairs: its JSON line, pantau clearly ahead of logic-v2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from exchange_service.tools.bench.names import DEFAULT_PAIRS, run_names_bench

PAIRS = Path(__file__).parents[1] / "data" / "name_pairs" / "pairs.csv"
MARGIN = 0.03


def test_the_bench_prints_one_json_line_and_pantau_leads(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert PAIRS.resolve().parts[-4:] == DEFAULT_PAIRS.parts
    result = run_names_bench(PAIRS, rounds=1)
    line = capsys.readouterr().out.strip()
    assert json.loads(line) == result
    assert result["pairs"] >= 500
    for side in ("pantau", "nomenklatura_logic_v2"):
        assert set(result[side]) >= {"precision", "recall", "f1", "pairs_per_second", "test"}
        assert 0.0 <= result[side]["f1"] <= 1.0
    assert {"f1_difference", "speed_ratio"} <= set(result)
    # The issue asks for an F1 clearly above logic-v2's: by 0.03 at least, on all pairs and
    # on the test split that tuning never looked at.
    assert result["pantau"]["f1"] >= result["nomenklatura_logic_v2"]["f1"] + MARGIN
    assert result["pantau"]["test"]["f1"] >= result["nomenklatura_logic_v2"]["test"]["f1"] + MARGIN
