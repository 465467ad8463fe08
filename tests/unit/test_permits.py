"""Permit limits: DOMAIN.md's figures as settings, one frozen value, and how a stay's days count."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from exchange_service.app import permit_limits
from exchange_service.domain.model import PermitType, StayPermit
from exchange_service.domain.permits import (
    PermitLimitExcess,
    PermitLimitKind,
    PermitLimits,
    PermitTypeLimit,
    days_covered,
    limits_exceeded,
)
from exchange_service.settings import Settings, load_settings

DAY = date(2026, 3, 1)

DOMAIN_LIMITS = PermitLimits(
    voa=PermitTypeLimit(total_days=60, extensions=1),
    visit=PermitTypeLimit(total_days=180),
    limited_stay=PermitTypeLimit(),
    permanent_stay=PermitTypeLimit(),
    diplomatic=PermitTypeLimit(),
)


def _period(
    first: int, last: int, kind: PermitType = PermitType.VOA, day: date = DAY
) -> StayPermit:
    """A period from ``first`` to ``last`` days after ``day``, both included."""
    return StayPermit(
        "P", kind, day + timedelta(days=first), day + timedelta(days=last), "", "", None
    )


def test_the_defaults_are_domain_md_s(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PANTAU_SETTINGS", raising=False)
    monkeypatch.chdir(Path(__file__).parent)  # no pantau.toml here
    assert permit_limits(Settings()) == DOMAIN_LIMITS
    shipped = Path(__file__).resolve().parents[2] / "deploy" / "pantau.dev.toml"
    monkeypatch.setenv("PANTAU_SETTINGS", str(shipped))
    assert permit_limits(load_settings()) == DOMAIN_LIMITS


def test_a_limit_is_set_in_the_file_or_as_json_in_the_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "pantau.toml"
    path.write_text("permit_visit = { total_days = 120, extensions = 1 }\npermit_voa = {}\n")
    monkeypatch.setenv("PANTAU_SETTINGS", str(path))
    monkeypatch.setenv("PANTAU_PERMIT_DIPLOMATIC", '{"total_days": 1460}')
    limits = permit_limits(load_settings())
    assert limits.visit == PermitTypeLimit(total_days=120, extensions=1)
    assert limits.voa == PermitTypeLimit()  # a figure left out is no limit
    assert limits.diplomatic == PermitTypeLimit(total_days=1460)


@pytest.mark.parametrize(
    "table",
    [
        "{ total_day = 60 }",  # a misspelt figure would silently mean no limit
        "{ total_days = 0 }",
        "{ extensions = -1 }",
    ],
)
def test_a_misspelt_or_impossible_limit_is_refused(
    table: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "pantau.toml"
    path.write_text(f"permit_voa = {table}\n")
    monkeypatch.setenv("PANTAU_SETTINGS", str(path))
    with pytest.raises(ValidationError, match="permit_voa"):
        load_settings()


def test_the_domain_value_refuses_impossible_limits_too() -> None:
    with pytest.raises(ValueError, match="total_days"):
        PermitTypeLimit(total_days=0)
    with pytest.raises(ValueError, match="extensions"):
        PermitTypeLimit(extensions=-1)


@pytest.mark.parametrize(
    ("spans", "days"),
    [
        ([(0, 29)], 30),  # both ends included
        ([(0, 0)], 1),
        ([(0, 29), (30, 59)], 60),  # contiguous
        ([(0, 29), (10, 59)], 60),  # overlapping: a day counts once
        ([(10, 59), (0, 29)], 60),  # in any order
        ([(0, 59), (10, 20)], 60),  # one inside another
        ([(0, 9), (20, 29)], 20),  # a gap is not covered
        ([], 0),
    ],
)
def test_days_covered_counts_each_calendar_day_once(
    spans: list[tuple[int, int]], days: int
) -> None:
    assert days_covered([_period(first, last) for first, last in spans]) == days


def test_a_leap_day_is_a_day() -> None:
    leap_year = date(2028, 2, 1)
    assert days_covered([_period(0, 28, day=leap_year)]) == 29  # 1 to 29 February 2028


def test_limits_are_met_exactly_and_exceeded_by_one_day() -> None:
    assert limits_exceeded([_period(0, 29), _period(30, 59)], DOMAIN_LIMITS, PermitType.VOA) == ()
    (excess,) = limits_exceeded([_period(0, 29), _period(30, 60)], DOMAIN_LIMITS, PermitType.VOA)
    assert excess == PermitLimitExcess(
        PermitType.VOA, PermitLimitKind.TOTAL_DAYS, 60, 61, DAY, DAY + timedelta(days=60)
    )
    assert excess.setting == "permit_voa.total_days"


def test_extensions_are_the_periods_after_the_first() -> None:
    periods = [_period(0, 9), _period(10, 19), _period(20, 29)]
    (excess,) = limits_exceeded(periods, DOMAIN_LIMITS, PermitType.VOA)
    assert (excess.kind, excess.allowed, excess.actual) == (PermitLimitKind.EXTENSIONS, 1, 2)
    assert excess.setting == "permit_voa.extensions"
    many = [_period(10 * i, 10 * i + 9, PermitType.VISIT) for i in range(18)]  # 180 days
    assert limits_exceeded(many, DOMAIN_LIMITS, PermitType.VISIT) == ()


def test_each_type_is_counted_on_its_own() -> None:
    periods = [
        _period(0, 59, PermitType.VOA),  # already over 30 days, within 60
        _period(60, 239, PermitType.VISIT),  # 180
        _period(240, 250, PermitType.VOA),  # the VOA's second period: 71 days, 1 extension
    ]
    assert limits_exceeded(periods, DOMAIN_LIMITS, PermitType.VISIT) == ()
    (excess,) = limits_exceeded(periods, DOMAIN_LIMITS, PermitType.VOA)
    assert (excess.kind, excess.actual) == (PermitLimitKind.TOTAL_DAYS, 71)
    assert (excess.first_day, excess.last_day) == (DAY, DAY + timedelta(days=250))
    assert limits_exceeded(periods, DOMAIN_LIMITS, PermitType.DIPLOMATIC) == ()


def test_the_limits_go_to_sql_as_one_json_parameter_with_a_row_per_type() -> None:
    parameters = DOMAIN_LIMITS.sql_parameters()
    assert list(parameters) == ["permit_limits"]
    rows = json.loads(str(parameters["permit_limits"]))
    assert rows == [
        {"type": "VOA", "total_days": 60, "extensions": 1},
        {"type": "VISIT", "total_days": 180, "extensions": None},
        {"type": "LIMITED_STAY", "total_days": None, "extensions": None},
        {"type": "PERMANENT_STAY", "total_days": None, "extensions": None},
        {"type": "DIPLOMATIC", "total_days": None, "extensions": None},
    ]
    assert {row["type"] for row in rows} == {t.value for t in PermitType}
