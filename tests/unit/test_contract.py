"""The generated API package is what the .proto files produce."""

from __future__ import annotations

import filecmp
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_generated_code_matches_the_proto_files(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "deploy" / "dev" / "gen_proto.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    committed = ROOT / "proto" / "gen" / "python"
    fresh = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    kept = sorted(
        p.relative_to(committed)
        for p in committed.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh == kept, "run `make proto`: generated files differ from proto/"
    differing = [
        str(p) for p in fresh if not filecmp.cmp(tmp_path / p, committed / p, shallow=False)
    ]
    assert differing == [], f"run `make proto`: {differing} differ from what proto/ produces"
