"""A report's files: the HTML page, a CSV per table, the JSON summary and the manifest.

``render_files`` guarantees, for an ``EarlyWarningReport`` already disclosed
to its edition (``domain.disclosure.disclose_report``):

* ``report.html``: one self-contained page. Everything it shows is in the
  file: styles inline, the map and charts inline SVG, no script, no font, no
  image, no link that loads anything; its Content-Security-Policy
  (``default-src 'none'``) lets the browser load nothing else even if a value
  tried. Indonesian first, English by the switch at the top (CSS only); a
  print stylesheet for A4. Every value is escaped (Jinja2 autoescape).
  Lists of cases show at most ``HTML_CASE_ROWS`` rows; the CSV has them all.
  Every figure carries its raw value (``data-value``), as in the CSV, so what
  is shown can be checked against the database and the CSV.
* ``<table>.csv`` for every table of the edition: UTF-8, a header of the
  column keys, one line per row, values raw (integers, ISO dates, instants in
  WIB with their offset, shares in [0, 1], rupiah whole); no value is empty.
* ``summary.json``: the report's identity, instant, options, headlines,
  districts, map points, trend and the tables' names, titles and row counts.

The same report (and id) gives the same bytes. ``with_manifest`` adds
``SHA256SUMS`` (each file's SHA-256, in name order, as ``sha256sum`` writes
it); ``digest`` is the SHA-256 of that manifest: what the audit trail
records, so ``sha256sum -c SHA256SUMS`` and ``pantau report --verify`` prove
a copy unchanged.
"""

from __future__ import annotations

import csv
import dataclasses
import functools
import hashlib
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

import jinja2

from exchange_service.domain.report import (
    SECTION_TITLES,
    Column,
    ColumnKind,
    EarlyWarningReport,
    Edition,
    Grain,
    ReportFile,
    Section,
    Table,
)
from exchange_service.reports import charts
from exchange_service.reports.map import RATE_CLASSES, frame, rate_class

__all__ = [
    "DISTRICTS_NAME",
    "HTML_CASE_ROWS",
    "HTML_NAME",
    "MANIFEST_NAME",
    "SUMMARY_NAME",
    "digest",
    "manifest",
    "render_files",
    "with_manifest",
]

HTML_NAME = "report.html"
SUMMARY_NAME = "summary.json"
# The map's figures per district (the summary's ``districts`` as a table).
DISTRICTS_NAME = "districts.csv"
CSV_TYPE = "text/csv; charset=utf-8"
MANIFEST_NAME = "SHA256SUMS"
# A list of cases longer than this shows its first rows; its CSV holds every row.
HTML_CASE_ROWS = 100

_NUMERIC = frozenset(
    {
        ColumnKind.COUNT,
        ColumnKind.NUMBER,
        ColumnKind.IDR,
        ColumnKind.PERCENT,
        ColumnKind.HOURS,
    }
)


def render_files(report: EarlyWarningReport, report_id: str) -> tuple[ReportFile, ...]:
    """The report's HTML, CSV and JSON files (see the module docstring), in name order."""
    zone = ZoneInfo(report.timezone)
    files = [
        ReportFile(f"{t.key}.csv", CSV_TYPE, _csv(t.columns, t.rows, zone)) for t in report.tables
    ]
    files.append(ReportFile(DISTRICTS_NAME, CSV_TYPE, _districts_csv(report, zone)))
    files.append(
        ReportFile(SUMMARY_NAME, "application/json", _summary(report, report_id, zone, files))
    )
    files.append(ReportFile(HTML_NAME, "text/html; charset=utf-8", _html(report, report_id, zone)))
    return tuple(sorted(files, key=lambda f: f.name))


def manifest(files: Sequence[ReportFile]) -> bytes:
    """``SHA256SUMS`` of the files but itself: a line per file, in name order."""
    lines = [
        f"{hashlib.sha256(f.content).hexdigest()}  {f.name}\n"
        for f in sorted(files, key=lambda f: f.name)
        if f.name != MANIFEST_NAME
    ]
    return "".join(lines).encode()


def with_manifest(files: Sequence[ReportFile]) -> tuple[ReportFile, ...]:
    """The files with their ``SHA256SUMS``."""
    kept = tuple(f for f in files if f.name != MANIFEST_NAME)
    return (*kept, ReportFile(MANIFEST_NAME, "text/plain; charset=utf-8", manifest(kept)))


def digest(files: Sequence[ReportFile]) -> str:
    """The report's digest: the SHA-256 of its manifest (recomputed from the files)."""
    return hashlib.sha256(manifest(files)).hexdigest()


# --- raw values (CSV, JSON, data-value) ------------------------------------------------


def raw(value: Any, zone: ZoneInfo) -> str:
    """A cell as the CSV writes it: '' for none, instants in the office's time zone."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.astimezone(zone).isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        return f"{round(value, 6):g}" if abs(value) < 1e15 else str(value)
    return str(value)


def _csv(columns: Sequence[Column], rows: Sequence[Sequence[Any]], zone: ZoneInfo) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([c.key for c in columns])
    for row in rows:
        writer.writerow([raw(cell, zone) for cell in row])
    return out.getvalue().encode()


_DISTRICT_COLUMNS = (
    Column("code", "Kode", "Code", ColumnKind.CODE),
    Column("name", "Kecamatan", "District", ColumnKind.TEXT),
    Column("foreigners_present", "Orang asing", "Foreigners present", ColumnKind.COUNT),
    Column("open_alerts", "Peringatan terbuka", "Open alerts", ColumnKind.COUNT),
    Column("critical_open", "KRITIS terbuka", "CRITICAL open", ColumnKind.COUNT),
    Column("open_per_100", "Per 100 orang asing", "Per 100 foreigners", ColumnKind.NUMBER),
    Column("in_scope", "Dalam laporan", "In the report", ColumnKind.TEXT),
)


def _districts_csv(report: EarlyWarningReport, zone: ZoneInfo) -> bytes:
    """The map's figures: every district's foreigners present and open alerts."""
    return _csv(
        _DISTRICT_COLUMNS,
        [
            (
                d.code,
                d.name,
                d.foreigners_present,
                d.open_alerts,
                d.critical_open,
                d.open_per_100,
                d.in_scope,
            )
            for d in report.districts
        ],
        zone,
    )


def _summary(
    report: EarlyWarningReport, report_id: str, zone: ZoneInfo, files: Sequence[ReportFile]
) -> bytes:
    value = {
        "report_id": report_id,
        "date": report.date.isoformat(),
        "district_code": report.district_code,
        "area": report.area_name,
        "edition": report.edition.value,
        "as_of": raw(report.as_of, zone),
        "window_start": raw(report.window_start, zone),
        "made_at": raw(report.made_at, zone),
        "timezone": report.timezone,
        # The values as they are (json sorts their keys); days as ISO dates.
        "options": dataclasses.asdict(report.options),
        "headlines": [dataclasses.asdict(h) for h in report.headlines],
        "districts": [dataclasses.asdict(d) for d in report.districts],
        "critical_points": [dataclasses.asdict(p) for p in report.critical_points],
        "trend": [dataclasses.asdict(t) | {"day": t.day.isoformat()} for t in report.trend],
        "tables": [
            {
                "key": t.key,
                "file": f"{t.key}.csv",
                "section": t.section,
                "title_id": t.title_id,
                "title_en": t.title_en,
                "grain": t.grain.value,
                "rows": len(t.rows),
                "columns": [
                    {"key": c.key, "label_id": c.label_id, "label_en": c.label_en}
                    for c in t.columns
                ],
            }
            for t in report.tables
        ],
        "files": sorted([*(f.name for f in files), HTML_NAME, MANIFEST_NAME, SUMMARY_NAME]),
    }
    return (json.dumps(value, ensure_ascii=False, indent=1, sort_keys=True) + "\n").encode()


# --- shown values (HTML) ---------------------------------------------------------------


def _grouped(number: int, separator: str) -> str:
    return f"{number:,}".replace(",", separator)


def _decimal(value: float, places: int, language: str) -> str:
    whole, _, fraction = f"{value:,.{places}f}".partition(".")
    if language == "id":
        whole = whole.replace(",", ".")
        return f"{whole},{fraction}" if fraction else whole
    return f"{whole}.{fraction}" if fraction else whole


def shown(value: Any, kind: ColumnKind, language: str, zone: ZoneInfo) -> str:
    """A value as a reader of ``language`` ('id' or 'en') reads it; '-' for none."""
    text: str
    if value is None or value == "":
        text = "\u2013"  # an en dash: no value
    elif kind is ColumnKind.PERCENT:
        text = _decimal(100 * float(value), 1, language) + " %"
    elif kind is ColumnKind.IDR:
        text = ("Rp " if language == "id" else "IDR ") + _grouped(
            int(value), "." if language == "id" else ","
        )
    elif kind is ColumnKind.HOURS:
        text = _decimal(float(value), 1, language)
    elif kind is ColumnKind.NUMBER:
        text = _decimal(float(value), 2, language)
    elif kind is ColumnKind.COUNT and isinstance(value, int):
        text = _grouped(value, "." if language == "id" else ",")
    elif kind is ColumnKind.RECORD_ID:
        text = str(value)[:8] + "\u2026"  # the full id is the cell's title and in the CSV
    elif isinstance(value, datetime):
        text = value.astimezone(zone).strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, date):
        text = value.isoformat()
    else:
        text = str(value)
    return text


@dataclass(frozen=True)
class Cell:
    value: str  # raw, as in the CSV
    id: str
    en: str
    numeric: bool
    title: str = ""  # the whole value, where the cell shows it shortened


@dataclass(frozen=True)
class ShownTable:
    key: str
    title_id: str
    title_en: str
    note_id: str
    note_en: str
    cases: bool
    columns: tuple[tuple[str, str, str, bool], ...]  # key, label id, label en, numeric
    rows: tuple[tuple[Cell, ...], ...]
    total: int  # rows in the CSV


def _cells(values: Sequence[Any], kinds: Sequence[ColumnKind], zone: ZoneInfo) -> tuple[Cell, ...]:
    return tuple(
        Cell(
            raw(value, zone),
            shown(value, kind, "id", zone),
            shown(value, kind, "en", zone),
            kind in _NUMERIC,
            raw(value, zone) if kind is ColumnKind.RECORD_ID else "",
        )
        for value, kind in zip(values, kinds, strict=True)
    )


def _shown_table(table: Table, zone: ZoneInfo) -> ShownTable:
    kinds = [c.kind for c in table.columns]
    cases = table.grain is Grain.CASES
    rows = table.rows[:HTML_CASE_ROWS] if cases else table.rows
    return ShownTable(
        key=table.key,
        title_id=table.title_id,
        title_en=table.title_en,
        note_id=table.note_id,
        note_en=table.note_en,
        cases=cases,
        columns=tuple((c.key, c.label_id, c.label_en, c.kind in _NUMERIC) for c in table.columns),
        rows=tuple(_cells(row, kinds, zone) for row in rows),
        total=len(table.rows),
    )


# The open-by-age table's columns the chart draws, each bar under its column's labels.
_AGE_BARS = ("age_1_5", "age_6_10", "age_11_30", "age_over_30", "past_deadline")


def _age_chart(report: EarlyWarningReport) -> charts.BarChart | None:
    try:
        table = report.table("open_by_age")
    except KeyError:
        return None
    bars = []
    for key in _AGE_BARS:
        index = table.column(key)
        column = table.columns[index]
        total = sum(int(row[index] or 0) for row in table.rows)
        bars.append((key, column.label_id, column.label_en, total))
    return charts.bar_chart(bars)


@functools.cache
def _template() -> jinja2.Template:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("exchange_service.reports", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return environment.get_template("report.html.j2")


def _html(report: EarlyWarningReport, report_id: str, zone: ZoneInfo) -> bytes:
    sections = []
    for section in Section:
        tables = [_shown_table(t, zone) for t in report.tables if t.section == section.value]
        if tables or section is Section.SUMMARY:
            title_id, title_en = SECTION_TITLES[section]
            sections.append((section.value.lower(), title_id, title_en, tables))
    projected = frame()
    figures = {d.code: d for d in report.districts}

    def both(kind: ColumnKind) -> Callable[[Any], tuple[str, str]]:
        return lambda value: (
            shown(value, kind, "id", zone),
            shown(value, kind, "en", zone),
        )

    page = _template().render(
        report=report,
        report_id=report_id,
        aggregate=report.edition is Edition.AGGREGATE,
        as_of=report.as_of.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        window_start=report.window_start.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        made_at=report.made_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        headlines=[(h, raw(h.value, zone), *both(h.kind)(h.value)) for h in report.headlines],
        map=projected,
        figures=figures,
        rate_class=rate_class,
        rate_classes=RATE_CLASSES,
        points=[(p, *projected.point(p.longitude, p.latitude)) for p in report.critical_points],
        trend=charts.trend_chart(report.trend),
        ages=_age_chart(report),
        sections=sections,
        count=both(ColumnKind.COUNT),
        rate=both(ColumnKind.NUMBER),
        case_rows=HTML_CASE_ROWS,
    )
    return page.encode()
