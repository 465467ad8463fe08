"""The report's files from its values alone: escaped, self-contained, the same bytes for the
same report, every table a CSV, the manifest and digest what `sha256sum` would say."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, date, datetime, timedelta

import lxml.html

from exchange_service.domain import report_tables as rt
from exchange_service.domain.agencies import DataView
from exchange_service.domain.disclosure import disclose_report
from exchange_service.domain.report import (
    ColumnKind,
    DistrictFigure,
    EarlyWarningReport,
    Edition,
    Headline,
    MapPoint,
    ReportOptions,
    TrendDay,
)
from exchange_service.reports.map import RATE_CLASSES, frame, rate_class
from exchange_service.reports.render import (
    HTML_CASE_ROWS,
    MANIFEST_NAME,
    digest,
    render_files,
    shown,
    with_manifest,
)
from tests.clock import WIB

AS_OF = datetime(2026, 3, 10, 6, 0, tzinfo=WIB)
HOSTILE = '<script>alert("x")</script><img src="http://evil.example/x.png">'
REPORT_ID = "3f0c9a52-2f8e-4d59-9a55-0c1f7b2b8f11"


def _report(overstays: int = 2, subject: str = "NGUYEN Van An") -> EarlyWarningReport:
    codes = [shape.code for shape in frame().districts]
    tables = []
    for spec in rt.TABLES.values():
        rows: list[tuple[object, ...]] = []
        if spec.key == "overstays":
            rows = [
                (
                    f"{subject} {n}" if n else HOSTILE,
                    "VNM",
                    f"C{n:07d}",
                    "VISIT",
                    f"VISIT-2105-{n:04d}",
                    date(2026, 2, 1),
                    37,
                    37_000_000,
                    "Siantan",
                    "Tarempa",
                    "OPEN",
                )
                for n in range(overstays)
            ]
        elif spec.key == "alerts_by_rule":
            rows = [("OVERSTAY", "HIGH", 1, overstays, 0, 0)]
        tables.append(spec.table(rows))
    return EarlyWarningReport(
        date=AS_OF.date(),
        district_code="",
        area_name="Kabupaten Kepulauan Anambas",
        edition=Edition.FULL,
        as_of=AS_OF,
        window_start=AS_OF - timedelta(hours=24),
        made_at=AS_OF,
        options=ReportOptions(),
        headlines=(
            Headline("present", "Orang asing berada", "Foreigners present", 1234),
            Headline("fees_idr", "Biaya", "Fees", 74_000_000, ColumnKind.IDR),
        ),
        districts=tuple(
            DistrictFigure(code, f"D{code}", 10 * i, i, i % 2, 10.0 * i / max(1, 10 * i))
            for i, code in enumerate(codes)
        ),
        critical_points=(MapPoint(106.25, 3.2, 2, "OVERSTAY · Tarempa", "21.05.01.2003"),),
        trend=tuple(
            TrendDay(AS_OF.date() - timedelta(days=89 - n), n % 3, n % 2, n) for n in range(90)
        ),
        tables=tuple(tables),
        timezone="Asia/Jakarta",
    )


def _files(report: EarlyWarningReport) -> dict[str, bytes]:
    return {f.name: f.content for f in with_manifest(render_files(report, REPORT_ID))}


def test_every_value_is_escaped_and_nothing_is_loaded_from_outside() -> None:
    html = _files(_report())["report.html"].decode()
    assert "<script" not in html
    assert "&lt;script&gt;" in html
    page = lxml.html.fromstring(html)
    assert page.xpath("//script | //img | //link | //iframe | //object | //embed") == []
    # No attribute that would fetch anything: no src, no external href, no url() in a style.
    assert page.xpath("//*[@src]") == []
    hrefs = page.xpath("//@href")
    assert hrefs
    assert all(re.fullmatch(r"[a-z_]+\.csv", h) for h in hrefs), hrefs
    styles = " ".join(page.xpath("//style/text() | //@style"))
    assert "url(" not in styles
    assert "@import" not in styles
    assert "default-src 'none'" in html


def test_the_same_report_is_the_same_bytes_and_its_id_makes_it_its_own() -> None:
    first = _files(_report())
    assert _files(_report()) == first
    other = {f.name: f.content for f in render_files(_report(), "another-id")}
    assert other["report.html"] != first["report.html"]


def test_each_table_is_a_csv_of_its_columns_and_rows() -> None:
    report = _report(overstays=3)
    files = _files(report)
    for table in report.tables:
        rows = list(csv.reader(io.StringIO(files[f"{table.key}.csv"].decode())))
        assert rows[0] == [c.key for c in table.columns]
        assert len(rows) == 1 + len(table.rows)
    overstays = list(csv.DictReader(io.StringIO(files["overstays.csv"].decode())))
    assert overstays[1]["last_valid_day"] == "2026-02-01"
    assert overstays[1]["fee_idr"] == "37000000"
    assert overstays[0]["name"] == HOSTILE  # raw in the CSV: a spreadsheet shows it as text
    districts = list(csv.DictReader(io.StringIO(files["districts.csv"].decode())))
    assert len(districts) == 10


def test_a_long_list_of_cases_shows_its_first_rows_and_the_csv_has_them_all() -> None:
    files = _files(_report(overstays=HTML_CASE_ROWS + 5))
    html = files["report.html"].decode()
    section = html[html.index('data-table="overstays"') :]
    section = section[: section.index("</table>")]
    assert section.count("<tr>") == 1 + HTML_CASE_ROWS  # the header and the rows shown
    assert f'data-rows="{HTML_CASE_ROWS + 5}"' in html
    assert f'data-shown="{HTML_CASE_ROWS}" data-total="{HTML_CASE_ROWS + 5}"' in html
    assert files["overstays.csv"].decode().count("\n") == 1 + HTML_CASE_ROWS + 5


def test_the_manifest_is_sha256sum_of_the_files_and_the_digest_its_own() -> None:
    files = _files(_report())
    lines = files[MANIFEST_NAME].decode().splitlines()
    expected = [
        f"{hashlib.sha256(content).hexdigest()}  {name}"
        for name, content in sorted(files.items())
        if name != MANIFEST_NAME
    ]
    assert lines == expected
    rendered = with_manifest(render_files(_report(), REPORT_ID))
    assert digest(rendered) == hashlib.sha256(files[MANIFEST_NAME]).hexdigest()


def test_the_summary_names_the_report_and_every_file() -> None:
    files = _files(_report())
    summary = json.loads(files["summary.json"])
    assert summary["report_id"] == REPORT_ID
    assert summary["as_of"] == "2026-03-10T06:00:00+07:00"
    assert set(summary["files"]) == set(files)
    assert {h["key"]: h["value"] for h in summary["headlines"]} == {
        "present": 1234,
        "fees_idr": 74_000_000,
    }


def test_the_aggregate_edition_has_no_list_of_cases() -> None:
    files = _files(disclose_report(_report(), DataView.DISTRICT))
    assert "overstays.csv" not in files
    html = files["report.html"].decode()
    assert "NGUYEN" not in html
    assert "C0000001" not in html
    assert 'data-edition="AGGREGATE"' in html


def test_figures_read_as_each_language_writes_them() -> None:
    zone = WIB
    assert shown(1234567, ColumnKind.COUNT, "id", zone) == "1.234.567"
    assert shown(1234567, ColumnKind.COUNT, "en", zone) == "1,234,567"
    assert shown(38_000_000, ColumnKind.IDR, "id", zone) == "Rp 38.000.000"
    assert shown(0.256, ColumnKind.PERCENT, "id", zone) == "25,6 %"
    assert shown(0.256, ColumnKind.PERCENT, "en", zone) == "25.6 %"
    assert shown(None, ColumnKind.COUNT, "en", zone) == "\u2013"
    # An instant is shown in WIB, whatever zone it was read in.
    assert shown(
        datetime(2026, 3, 9, 17, 30, tzinfo=WIB).astimezone(UTC), ColumnKind.DATETIME, "id", zone
    ) == ("2026-03-09 17:30")


def test_the_map_has_the_ten_districts_and_shades_by_fixed_classes() -> None:
    projected = frame()
    assert len(projected.districts) == 10
    assert all(shape.path.startswith("M") for shape in projected.districts)
    html = _files(_report())["report.html"].decode()
    assert html.count("data-district=") >= 20  # the map's shapes and the table's rows
    assert rate_class(None) is None
    assert rate_class(0.0) == 0
    assert rate_class(RATE_CLASSES[-1] + 1) == len(RATE_CLASSES)
    # Tarempa is on Siantan, east of Jemaja: further right on the map.
    tarempa = projected.point(106.22, 3.21)
    letung = projected.point(105.72, 2.96)
    assert tarempa[0] > letung[0]
    assert tarempa[1] < letung[1]  # north is up
