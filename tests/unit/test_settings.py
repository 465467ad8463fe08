"""Settings come from one TOML file and PANTAU_* variables, the variables winning."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from exchange_service.settings import load_settings

ROOT = Path(__file__).resolve().parents[2]


def test_the_example_file_is_complete_and_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PANTAU_SETTINGS", str(ROOT / "deploy" / "pantau.dev.toml"))
    settings = load_settings()
    assert settings.listen_address == "127.0.0.1:50051"
    assert set(settings.model_fields_set) == set(type(settings).model_fields)


def test_environment_wins_over_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "pantau.toml"
    path.write_text('listen_address = "0.0.0.0:1"\ngrpc_workers = 3\n')
    monkeypatch.setenv("PANTAU_SETTINGS", str(path))
    monkeypatch.setenv("PANTAU_GRPC_WORKERS", "5")
    settings = load_settings()
    assert (settings.listen_address, settings.grpc_workers) == ("0.0.0.0:1", 5)


def test_unknown_keys_are_refused(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "pantau.toml"
    path.write_text("listen_adress = 'typo'\n")
    monkeypatch.setenv("PANTAU_SETTINGS", str(path))
    with pytest.raises(ValidationError, match="listen_adress"):
        load_settings()
