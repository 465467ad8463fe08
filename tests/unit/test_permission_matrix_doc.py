"""README.md's permission matrix says what the permission table does."""

from __future__ import annotations

import re
from pathlib import Path

from exchange_service.api.access import RPC_ACTIONS
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.permissions import ALLOWED_KINDS, Action

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_matrix_matches_the_permission_table() -> None:
    rows = re.findall(
        r"^\| `(pantau\.v1\.[A-Za-z]+/[A-Za-z]+)` \| `([A-Z_]+)` \|(.*)\|$",
        README.read_text(),
        re.M,
    )
    documented = {
        f"/{rpc}": (
            Action(action),
            frozenset(
                kind
                for kind, cell in zip(AgencyKind, cells.split("|"), strict=True)
                if cell.strip() == "yes"
            ),
        )
        for rpc, action, cells in rows
    }
    assert documented == {
        rpc: (action, ALLOWED_KINDS[action]) for rpc, action in RPC_ACTIONS.items()
    }


def test_the_readme_matrix_has_a_column_per_agency_kind() -> None:
    header = "| RPC | action | " + " | ".join(AgencyKind) + " |"
    assert header in README.read_text().splitlines()
