"""README.md's settings table names every setting, and no setting that does not exist."""

from __future__ import annotations

import re
from pathlib import Path

from exchange_service.settings import Settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _documented_keys() -> set[str]:
    text = README.read_text()
    section = text.split("\n## Settings\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {key for row in rows for key in re.findall(r"`([a-z_]+)`", row.split("|")[1])}


def test_the_readme_table_lists_every_setting() -> None:
    assert _documented_keys() == set(Settings.model_fields)
