"""The early-warning report's values: what a report says, before any file is made of it.

A report is made for one office day (``date``, in WIB) and the whole regency
or one district. Its figures are as of one instant (``as_of``: the end of the
day, or the moment it was made if that is earlier, or the scheduled morning
hour); "new" and "resolved" count the 24 hours before it (``window_start`` to
``as_of``). Everything else is the state at ``as_of``.

A report is tables, each a grid of typed values with its title in Indonesian
and English, plus the figures the map and the charts draw: every district's
foreigners present and open alerts, the CRITICAL cases as points and the
daily trend. Tables are of two grains: lists of cases (a row per person or
alert: names, documents, places) and aggregates (counts by district, rule,
nationality...). Which tables each data view receives is the disclosure
policy's (``domain.disclosure.REPORT_TABLES``); the regional government's
edition is aggregates only, its points no finer than a village's centre.

Pure values: no I/O, no rendering (``exchange_service.reports`` makes the
HTML, CSV and JSON files of a report).
"""

from __future__ import annotations

import enum
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from exchange_service.domain.agencies import DataView
from exchange_service.domain.errors import FieldViolation, InvalidInput


class Edition(enum.StrEnum):
    """Which edition of a report: every table (FULL), or aggregates only (AGGREGATE)."""

    FULL = "FULL"
    AGGREGATE = "AGGREGATE"


# The edition each data view receives (the disclosure policy decides what is in it).
EDITION_OF_VIEW: dict[DataView, Edition] = {
    DataView.FULL: Edition.FULL,
    DataView.DISTRICT: Edition.AGGREGATE,
}


class ColumnKind(enum.StrEnum):
    """What a column holds: how it is shown, and whether it identifies anyone.

    NAME, DOCUMENT and RECORD_ID identify a person or a case; an aggregate
    table never has them (a test of the disclosure policy checks it).
    """

    TEXT = "TEXT"
    CODE = "CODE"  # a code shown as is: rule, severity, permit type, nationality, district
    NAME = "NAME"  # a person's name
    DOCUMENT = "DOCUMENT"  # a passport or permit number
    RECORD_ID = "RECORD_ID"  # an alert's or person's id
    COUNT = "COUNT"  # a whole number
    NUMBER = "NUMBER"  # a decimal
    IDR = "IDR"  # rupiah
    PERCENT = "PERCENT"  # a share in [0, 1], shown as a percentage
    DATE = "DATE"  # an ISO date
    DATETIME = "DATETIME"  # an ISO instant, shown in WIB
    HOURS = "HOURS"  # a duration in hours


IDENTIFYING_KINDS = frozenset({ColumnKind.NAME, ColumnKind.DOCUMENT, ColumnKind.RECORD_ID})


class Grain(enum.StrEnum):
    """Whether a table's rows are cases (persons, alerts) or counts."""

    CASES = "CASES"
    AGGREGATE = "AGGREGATE"


@dataclass(frozen=True)
class Column:
    key: str
    label_id: str
    label_en: str
    kind: ColumnKind


@dataclass(frozen=True)
class Table:
    """One table of the report, and of its CSV file (``<key>.csv``).

    Cells are None (no value: shown as a dash, empty in CSV), str, int,
    float, date or datetime, as the column's kind says.
    """

    key: str
    section: str  # the ``Section`` it is shown in
    title_id: str
    title_en: str
    grain: Grain
    columns: tuple[Column, ...]
    rows: tuple[tuple[Any, ...], ...]
    note_id: str = ""
    note_en: str = ""

    def column(self, key: str) -> int:
        """The index of the column ``key``."""
        for index, column in enumerate(self.columns):
            if column.key == key:
                return index
        raise KeyError(key)


class Section(enum.StrEnum):
    """The report's sections, in the order shown."""

    SUMMARY = "SUMMARY"
    ALERTS = "ALERTS"
    CASES = "CASES"
    PRESENCE = "PRESENCE"
    TRENDS = "TRENDS"
    AGENCIES = "AGENCIES"
    QUALITY = "QUALITY"


SECTION_TITLES: dict[Section, tuple[str, str]] = {
    Section.SUMMARY: ("Ringkasan", "Summary"),
    Section.ALERTS: ("Peringatan", "Alerts"),
    Section.CASES: ("Kasus yang perlu ditindak", "Cases to act on"),
    Section.PRESENCE: ("Orang asing yang berada di wilayah", "Foreigners present"),
    Section.TRENDS: ("Tren 30 dan 90 hari", "30- and 90-day trends"),
    Section.AGENCIES: ("Kinerja instansi", "Agencies' response"),
    Section.QUALITY: ("Mutu data", "Data quality"),
}


@dataclass(frozen=True)
class Headline:
    """One figure of the summary at the top of the report."""

    key: str
    label_id: str
    label_en: str
    value: int | float | None
    kind: ColumnKind = ColumnKind.COUNT


@dataclass(frozen=True)
class DistrictFigure:
    """One district on the map: foreigners present and open alerts at ``as_of``.

    ``open_per_100`` is open alerts per 100 foreigners present (None when
    none is present); ``in_scope`` is False for the districts a district
    report is not about (drawn, not shaded).
    """

    code: str
    name: str
    foreigners_present: int
    open_alerts: int
    critical_open: int
    open_per_100: float | None
    in_scope: bool = True


@dataclass(frozen=True)
class MapPoint:
    """CRITICAL open alerts at one place: a person's address (FULL) or a village's centre."""

    longitude: float
    latitude: float
    count: int
    label: str  # what the point's tooltip says: the rule(s), and the village
    village_code: str = ""


@dataclass(frozen=True)
class TrendDay:
    """One office day of the trend: alerts opened and closed that day, open at its end."""

    day: date
    opened: int
    closed: int
    open_at_end: int


# Open alerts by age in days: the buckets the issue names, and past the deadline.
AGE_BUCKETS: tuple[tuple[str, int, int | None], ...] = (
    ("1-5", 1, 5),
    ("6-10", 6, 10),
    ("11-30", 11, 30),
    (">30", 31, None),
)


@dataclass(frozen=True)
class ReportOptions:
    """The numbers a report is made with (from the settings)."""

    # The time of day the scheduled report is as of, WIB, "HH:MM".
    morning_time: str = "06:00"
    # PERMITS: a permit whose last day is within this many days is listed.
    expiring_within_days: int = 14
    # Days an open alert may stay open before it is past its deadline, by severity.
    deadline_days: dict[str, int] = field(
        default_factory=lambda: {"CRITICAL": 1, "HIGH": 3, "WARNING": 7, "INFO": 14}
    )
    # Reviews counted for the false-positive rate, days before ``as_of``.
    review_window_days: int = 90
    # Agencies' response times are measured over the events of this many days.
    response_window_days: int = 30
    # The overstay fee per day, rupiah (the OVERSTAY rule's).
    overstay_fee_per_day_idr: int = 1_000_000


@dataclass(frozen=True)
class EarlyWarningReport:
    """A report as made, before it is disclosed to a view and rendered."""

    date: date
    district_code: str  # '' for the whole regency
    area_name: str  # the regency's or the district's name
    edition: Edition
    as_of: datetime
    window_start: datetime
    made_at: datetime
    options: ReportOptions
    headlines: tuple[Headline, ...]
    districts: tuple[DistrictFigure, ...]
    critical_points: tuple[MapPoint, ...]
    trend: tuple[TrendDay, ...]  # the 90 days up to ``date``, oldest first
    tables: tuple[Table, ...]
    timezone: str  # the office's (IANA name): instants are shown in it

    def table(self, key: str) -> Table:
        for table in self.tables:
            if table.key == key:
                return table
        raise KeyError(key)

    def headline(self, key: str) -> Headline:
        for headline in self.headlines:
            if headline.key == key:
                return headline
        raise KeyError(key)


@dataclass(frozen=True)
class ReportQuery:
    """What a report is made of: its day, area and instant, and the numbers it uses."""

    date: date
    district_code: str
    as_of: datetime
    made_at: datetime
    timezone: str
    options: ReportOptions
    # Agency id -> name, for the agencies' table (those with a feed).
    agency_names: Mapping[str, str]


# --- requests --------------------------------------------------------------------------

_DISTRICT_CODE = re.compile(r"^21\.05\.\d{2}$")
# No report is made of a day before this: Pantau holds no stay of the regency's before
# it (the office's records begin in 2003, when the regency was formed), and a date of the
# first centuries is a typing slip whose 90-day trend would reach before year 1.
EARLIEST_REPORT_DATE = date(2000, 1, 1)


@dataclass(frozen=True)
class ReportRequest:
    """A report asked for, as received: a WIB date ('' for today), a district ('' for all)."""

    date: str = ""
    district_code: str = ""
    # Make a new report even if one is stored for this date, district and edition.
    regenerate: bool = False


@dataclass(frozen=True)
class ValidReportRequest:
    date: date
    district_code: str
    regenerate: bool


def valid_report_request(
    request: ReportRequest, today: date, districts: frozenset[str]
) -> ValidReportRequest:
    """The request checked, every bad field named: a date not after ``today``, a known district."""
    violations: list[FieldViolation] = []
    day = today
    if request.date:
        try:
            day = date.fromisoformat(request.date)
        except ValueError:
            violations.append(FieldViolation("date", "must be a date, YYYY-MM-DD"))
        else:
            if day > today:
                violations.append(
                    FieldViolation("date", f"must not be after today ({today.isoformat()}, WIB)")
                )
            elif day < EARLIEST_REPORT_DATE:
                violations.append(
                    FieldViolation("date", f"must not be before {EARLIEST_REPORT_DATE.isoformat()}")
                )
    if request.district_code:
        if not _DISTRICT_CODE.match(request.district_code):
            violations.append(
                FieldViolation("district_code", "must be a Kemendagri district code, 21.05.NN")
            )
        elif request.district_code not in districts:
            violations.append(
                FieldViolation("district_code", "is not a district of Kepulauan Anambas")
            )
    if violations:
        raise InvalidInput(violations)
    return ValidReportRequest(day, request.district_code, request.regenerate)


@dataclass(frozen=True)
class ReportFileRequest:
    """A part of a stored report's file asked for, as received."""

    report_id: str
    name: str
    offset: int = 0


_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
# No stored file is larger (PostgreSQL's bytea holds at most 1 GB).
MAX_REPORT_FILE_BYTES = 1 << 30


def valid_report_file_request(request: ReportFileRequest) -> ReportFileRequest:
    """The request checked, every bad field named: a report id (a UUID), a file's name, an
    offset not below 0 (whether it is past the file's end, the file says)."""
    violations: list[FieldViolation] = []
    try:
        report_id = str(uuid.UUID(request.report_id))
    except ValueError:
        report_id = ""
        violations.append(FieldViolation("report_id", "must be a report's id (a UUID)"))
    if not _FILE_NAME.match(request.name):
        violations.append(
            FieldViolation("name", "must be a file's name in the report, e.g. report.html")
        )
    if request.offset < 0:
        violations.append(FieldViolation("offset", "must not be below 0"))
    elif request.offset > MAX_REPORT_FILE_BYTES:
        violations.append(
            FieldViolation(
                "offset", f"must not be past {MAX_REPORT_FILE_BYTES} (no file is larger)"
            )
        )
    if violations:
        raise InvalidInput(violations)
    return ReportFileRequest(report_id, request.name, request.offset)


@dataclass(frozen=True)
class ReportFilePart:
    """Bytes of one stored report's file from ``offset``, with the whole file's size and hash."""

    report_id: str
    name: str
    media_type: str
    offset: int
    content: bytes
    size: int
    sha256: str


@dataclass(frozen=True)
class ReportFile:
    """One file of a rendered report: its name in the report's directory, type and bytes."""

    name: str
    media_type: str
    content: bytes


@dataclass(frozen=True)
class StoredReport:
    """A report as stored: never changed; ``digest`` is what the audit trail records.

    ``digest`` is the SHA-256 of the manifest (``exchange_service.reports.digest``):
    each file's name and SHA-256, in name order.
    """

    id: str
    date: date
    district_code: str
    edition: Edition
    as_of: datetime
    made_at: datetime
    made_by: str
    digest: str
    files: tuple[ReportFile, ...]
