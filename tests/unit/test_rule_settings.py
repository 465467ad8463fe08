"""Every number of every rule is a setting with the domain's default, listed where settings are."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from exchange_service.app import permit_limits, rule_settings
from exchange_service.domain.alerts import RuleSettings
from exchange_service.domain.permits import DOMAIN_PERMIT_LIMITS, PermitTypeLimit
from exchange_service.settings import Settings, load_settings, settings_file

ROOT = Path(__file__).resolve().parents[2]


def test_each_rule_number_is_a_rule_setting_with_the_domains_default() -> None:
    fields = {f.name for f in dataclasses.fields(RuleSettings)}
    settings = {name[len("rule_") :] for name in Settings.model_fields if name.startswith("rule_")}
    # The areas file is not a number: the areas are loaded into the database by `pantau migrate`.
    # The permit limits are the registry's settings permit_<type> (tests/unit/test_permits.py).
    assert fields - {"permit_limits"} == settings - {"restricted_areas_file"}
    assert rule_settings(load_settings()) == RuleSettings()
    assert RuleSettings().permit_limits == permit_limits(load_settings()) == DOMAIN_PERMIT_LIMITS
    assert RuleSettings().overstay_fee_per_day_idr == 1_000_000  # DOMAIN.md, Pasal 78
    assert RuleSettings().overstay_deportation_after_days == 60
    assert RuleSettings().permit_expiring_within_days == 14  # issue 10


def test_rule_settings_reach_the_rules() -> None:
    settings = load_settings(rule_permit_expiring_within_days=3, rule_no_contact_days=90)
    numbers = rule_settings(settings)
    assert (numbers.permit_expiring_within_days, numbers.no_contact_days) == (3, 90)


def test_the_permit_limits_reach_the_rules_from_the_registry_s_settings() -> None:
    settings = load_settings(permit_voa={"total_days": 90}, permit_diplomatic={"extensions": 3})
    limits = rule_settings(settings).permit_limits
    assert limits == permit_limits(settings)
    assert (limits.voa, limits.diplomatic) == (
        PermitTypeLimit(total_days=90),
        PermitTypeLimit(extensions=3),
    )


def test_a_negative_number_of_days_is_refused() -> None:
    with pytest.raises(ValueError, match="rule_permit_expiring_within_days"):
        load_settings(rule_permit_expiring_within_days=-1)


def test_only_commands_that_ask_fall_back_to_the_make_run_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PANTAU_SETTINGS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "deploy").mkdir()
    (tmp_path / "deploy" / "pantau.dev.toml").write_text("rule_no_contact_days = 99\n")
    assert settings_file() is None
    assert load_settings().rule_no_contact_days == 180
    assert settings_file(development_fallback=True) == Path("deploy/pantau.dev.toml")
    assert load_settings(development_fallback=True).rule_no_contact_days == 99
    # ./pantau.toml comes first, PANTAU_SETTINGS before both.
    (tmp_path / "pantau.toml").write_text("rule_no_contact_days = 98\n")
    assert load_settings(development_fallback=True).rule_no_contact_days == 98
    monkeypatch.setenv("PANTAU_SETTINGS", str(tmp_path / "missing.toml"))
    assert load_settings(development_fallback=True).rule_no_contact_days == 180
