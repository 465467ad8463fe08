"""README.md's permission matrix says what the permission table does."""

from __future__ import annotations

import re
from pathlib import Path

from exchange_service.api.access import PERMISSIONS
from exchange_service.domain.agencies import AgencyKind

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_matrix_matches_the_permission_table() -> None:
    rows = re.findall(
        r"^\| `(pantau\.v1\.[A-Za-z]+/[A-Za-z]+)` \|(.*)\|$", README.read_text(), re.M
    )
    documented = {
        f"/{rpc}": frozenset(
            kind
            for kind, cell in zip(AgencyKind, cells.split("|"), strict=True)
            if cell.strip() == "yes"
        )
        for rpc, cells in rows
    }
    assert documented == dict(PERMISSIONS)
