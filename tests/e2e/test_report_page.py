"""The sample's early-warning report as a supervisor opens it: headless Chromium.

The sample is made as `make run` makes it, in a database of this module's
own and at the suite clock's instant: loaded, the rules backfilled over the
30 days before and run now, the office's reviews made, then the morning
report's two editions made, stored and written out as `pantau report`
writes them. Each page is opened in Debian's Chromium through the harness
that makes the README's screenshot (``exchange_service.tools.browser``),
with no script, no network and every request but the page's own refused.

What the page shows is checked against the database, by statements written
here from the issue's definitions (not the report reader's): who is present
where, what is open, what is CRITICAL, who overstays and who has a permit
ending within 14 days.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text

from exchange_service.app import build_application
from exchange_service.cli.rules import backfill, run_rules
from exchange_service.domain.agencies import DataView
from exchange_service.domain.alerts import OPEN_STATUSES
from exchange_service.domain.audit import Actor
from exchange_service.services.reports import write_report
from exchange_service.settings import load_settings
from exchange_service.tools.browser import Chromium, Opened, chromium
from exchange_service.tools.sample import load_sample_into
from exchange_service.tools.sample_reviews import review_sample
from scheduler.rules import RULES
from tests.clock import WIB, TestClock
from tests.conftest import fresh_database
from tests.feeds import feed_key_settings

DISTRICTS = 10
SUPERVISOR = Actor("supervisor-tarempa", "SUPERVISOR", "Drs. Bambang")


@dataclass(frozen=True)
class Made:
    as_of: datetime
    today: date
    engine: Engine
    full: Path  # the full edition's directory
    aggregate: Path
    district: Path  # the aggregate edition of the district with most foreigners
    district_code: str


@pytest.fixture(scope="module")
def made(clock: TestClock, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Made]:
    as_of = clock.now()
    today = as_of.astimezone(WIB).date()

    def fixed() -> datetime:
        return as_of

    with fresh_database("pantau_test_report_page") as url:
        settings = load_settings(
            database_url=url, **feed_key_settings(tmp_path_factory.mktemp("feed-keys"))
        )
        out = io.StringIO()
        load_sample_into(settings, clock=fixed)
        assert (
            backfill(settings, list(RULES), today - timedelta(days=30), out=out, clock=fixed) == 0
        )
        assert run_rules(settings, list(RULES), as_of, out=out) == 0, out.getvalue()
        review_sample(settings, clock=fixed)
        engine = create_engine(url)
        with engine.connect() as connection:
            district_code = connection.execute(
                text(
                    "SELECT ad.district_code FROM current_addresses ca"
                    " JOIN addresses ad ON ad.id = ca.address_id"
                    " GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT 1"
                )
            ).scalar_one()
        application = build_application(settings, clock=fixed)
        try:
            assert application.reports is not None
            full, aggregate = application.reports.make_editions(
                today, "", (DataView.FULL, DataView.DISTRICT), SUPERVISOR
            )
            district = application.reports.make(today, district_code, DataView.DISTRICT, SUPERVISOR)
        finally:
            application.close()
        base = tmp_path_factory.mktemp("reports")
        try:
            yield Made(
                as_of,
                today,
                engine,
                write_report(full, base / "full").parent,
                write_report(aggregate, base / "aggregate").parent,
                write_report(district, base / "district").parent,
                district_code,
            )
        finally:
            engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[Chromium]:
    with chromium() as running:
        yield running


@pytest.fixture(scope="module")
def full_page(made: Made, browser: Chromium) -> Iterator[Opened]:
    with browser.open(made.full / "report.html") as opened:
        yield opened


def _rows(made: Made, sql: str, **values: Any) -> list[Any]:
    with made.engine.connect() as connection:
        return list(connection.execute(text(sql), {"as_of": made.as_of, **values}))


_PRESENT = """
    SELECT s.person_id, s.permit_valid_until, ad.district_code
    FROM stays s
    LEFT JOIN current_addresses ca ON ca.person_id = s.person_id
    LEFT JOIN addresses ad ON ad.id = ca.address_id
    WHERE s.entered_at <= :as_of AND (s.exited_at IS NULL OR s.exited_at > :as_of)
"""


def _present(made: Made) -> list[Any]:
    return _rows(made, _PRESENT)


def _open_alerts(made: Made) -> list[Any]:
    # Nothing has happened since the report: the alerts' state now is theirs at as_of.
    return _rows(
        made,
        "SELECT id, rule, severity, district_code, first_detected_at FROM alerts"
        " WHERE status = ANY(:open)",
        open=sorted(OPEN_STATUSES),
    )


def _attributes(page: Opened, selector: str, *names: str) -> list[dict[str, str]]:
    found: list[dict[str, str]] = page.page.eval_on_selector_all(
        selector,
        "(nodes, names) => nodes.map("
        "n => Object.fromEntries(names.map(a => [a, n.getAttribute(a)])))",
        list(names),
    )
    return found


def _headlines(page: Opened) -> dict[str, str]:
    return {
        found["data-headline"]: found["data-value"]
        for found in _attributes(page, "[data-headline]", "data-headline", "data-value")
    }


def test_the_page_loads_nothing_and_says_nothing_wrong(full_page: Opened) -> None:
    assert full_page.outside_requests == []
    assert full_page.console == []
    assert full_page.requests == [full_page.url]


def test_the_map_shows_every_district_with_its_figures(made: Made, full_page: Opened) -> None:
    districts = dict(_rows(made, "SELECT code, name FROM districts"))
    shown = _attributes(
        full_page,
        "svg path[data-district]",
        "data-district",
        "data-name",
        "data-present",
        "data-open",
        "data-critical",
    )
    assert len(shown) == DISTRICTS == len(districts)
    assert {d["data-district"]: d["data-name"] for d in shown} == districts
    # Every district is drawn: a shape of its own with a visible area.
    boxes = full_page.page.eval_on_selector_all(
        "svg path[data-district]",
        "nodes => nodes.map(n => { const b = n.getBBox(); return b.width * b.height; })",
    )
    assert all(area > 0 for area in boxes)
    labels = full_page.page.eval_on_selector_all(
        "svg text.district-label", "nodes => nodes.map(n => n.textContent)"
    )
    assert sorted(labels) == sorted(districts.values())

    present: dict[str, set[str]] = {code: set() for code in districts}
    for person_id, _until, district in _present(made):
        if district is not None:
            present[district].add(str(person_id))
    open_alerts = _open_alerts(made)
    opened = dict.fromkeys(districts, 0)
    critical = dict.fromkeys(districts, 0)
    for _id, _rule, severity, district, _first in open_alerts:
        if district is not None:
            opened[district] += 1
            critical[district] += severity == "CRITICAL"
    assert {d["data-district"]: int(d["data-present"]) for d in shown} == {
        code: len(ids) for code, ids in present.items()
    }
    assert {d["data-district"]: int(d["data-open"]) for d in shown} == opened
    assert {d["data-district"]: int(d["data-critical"]) for d in shown} == critical
    # The sample is spread over the regency: the map has something to show.
    assert sum(1 for ids in present.values() if ids) >= 5
    assert sum(opened.values()) > 0
    # The points: every open CRITICAL alert with a place in the regency, at its place.
    points = _attributes(full_page, "svg circle.critical", "data-critical")
    assert sum(int(p["data-critical"]) for p in points) == sum(critical.values()) > 0


def test_the_headlines_are_the_databases(made: Made, full_page: Opened) -> None:
    shown = _headlines(full_page)
    present = _present(made)
    open_alerts = _open_alerts(made)
    overstaying = [until for _p, until, _d in present if until < made.today]
    assert int(shown["present"]) == len({person for person, _u, _d in present}) > 0
    assert int(shown["open_alerts"]) == len(open_alerts) > 0
    assert int(shown["critical_open"]) == sum(1 for a in open_alerts if a[2] == "CRITICAL")
    assert int(shown["overstays"]) == len(overstaying) > 0
    # Article 78: a million rupiah for each day over.
    assert int(shown["fees_idr"]) == sum((made.today - u).days for u in overstaying) * 1_000_000
    assert int(shown["expiring"]) == sum(
        1 for _p, until, _d in present if made.today <= until <= made.today + timedelta(days=14)
    )
    window = made.as_of - timedelta(hours=24)
    assert int(shown["new_alerts"]) == len(
        _rows(
            made,
            "SELECT id FROM alerts WHERE first_detected_at > :window"
            " AND first_detected_at <= :as_of",
            window=window,
        )
    )
    assert int(shown["watchlist_pending"]) == sum(
        1 for a in open_alerts if a[1] == "WATCHLIST_MATCH"
    )
    # What the reader sees is the value: the Indonesian figure of the same number.
    present_text = full_page.page.locator('[data-headline="present"] .value').inner_text()
    assert present_text.replace(".", "") == shown["present"]


def test_each_table_shows_its_csv(made: Made, full_page: Opened) -> None:
    summary = json.loads((made.full / "summary.json").read_text())
    tables = {t["key"]: t for t in summary["tables"]}
    assert tables
    for key, table in tables.items():
        with (made.full / table["file"]).open(newline="") as handle:
            rows = list(csv.reader(handle))
        assert rows[0] == [c["key"] for c in table["columns"]]
        body = rows[1:]
        assert len(body) == table["rows"]
        if not body:
            assert full_page.page.locator(f'p.empty[data-table="{key}"]').count() == 1
            continue
        element = full_page.page.locator(f'table[data-table="{key}"]')
        assert element.get_attribute("data-rows") == str(len(body))
        cells = element.locator("tbody tr").evaluate_all(
            "rows => rows.map(r => Array.from(r.cells, c => c.dataset.value))"
        )
        assert cells == body[: len(cells)], key
    # The overstays: one row per person overstaying, as the database has them.
    overstays = tables["overstays"]["rows"]
    assert overstays == sum(1 for _p, until, _d in _present(made) if until < made.today)


def test_the_reader_switches_to_english(made: Made, browser: Chromium) -> None:
    with browser.open(made.full / "report.html") as opened:
        page = opened.page
        title = page.locator("h1")
        assert title.inner_text() == "Peta Pengawasan Orang Asing"
        page.locator('label[for="lang-en"]').click()
        assert title.inner_text() == "Foreigner-supervision map"
        assert page.get_by_text("Open alerts by age").first.is_visible()
        assert not page.get_by_text("Peringatan terbuka menurut umur").first.is_visible()
        assert opened.console == []


def test_it_prints_on_a4(made: Made, full_page: Opened, tmp_path: Path) -> None:
    printed = full_page.pdf(tmp_path / "report.pdf").read_bytes()
    assert printed.startswith(b"%PDF")
    # A4 is 210 x 297 mm, 595.3 x 841.9 points: every page is.
    boxes = re.findall(rb"/MediaBox\s*\[\s*0 0 ([\d.]+) ([\d.]+)\s*\]", printed)
    assert boxes
    for width, height in boxes:
        assert abs(float(width) - 595.3) < 1.5
        assert abs(float(height) - 841.9) < 1.5


def test_the_regional_governments_edition_holds_no_person(made: Made, browser: Chromium) -> None:
    names = [
        str(name)
        for (name,) in _rows(
            made,
            "SELECT upper(family_name) FROM persons p JOIN stays s ON s.person_id = p.id"
            " WHERE s.entered_at <= :as_of AND (s.exited_at IS NULL OR s.exited_at > :as_of)",
        )
        if name and len(name) > 3
    ]
    documents = [str(n) for (n,) in _rows(made, "SELECT number FROM travel_documents")]
    assert names
    assert documents
    with browser.open(made.aggregate / "report.html") as opened:
        assert opened.outside_requests == []
        assert opened.console == []
        assert opened.page.locator("svg path[data-district]").count() == DISTRICTS
        shown = opened.page.locator("body").inner_text()
        html = (made.aggregate / "report.html").read_text()
        for value in [*names, *documents]:
            assert value not in shown
            assert value not in html
        # Its points are villages' centres, each named by its village.
        villages = {code for (code,) in _rows(made, "SELECT code FROM villages")}
        for point in _attributes(opened, "svg circle.critical", "data-village"):
            assert point["data-village"] in villages


def test_a_districts_report_shades_its_district_alone(made: Made, browser: Chromium) -> None:
    with browser.open(made.district / "report.html") as opened:
        assert opened.outside_requests == []
        assert opened.console == []
        shapes = _attributes(
            opened, "svg path[data-district]", "data-district", "data-open", "class"
        )
        assert len(shapes) == DISTRICTS
        (inside,) = [s for s in shapes if s["data-district"] == made.district_code]
        others = [s for s in shapes if s["data-district"] != made.district_code]
        assert all("out" in s["class"].split() and s["data-open"] == "" for s in others)
        opened_here = sum(1 for a in _open_alerts(made) if a[3] == made.district_code)
        assert int(inside["data-open"]) == opened_here
        assert int(_headlines(opened)["open_alerts"]) == opened_here
