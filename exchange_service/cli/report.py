"""`pantau report`: the early-warning report of a day, made, stored, audited and written out;
`pantau report --verify DIR`: whether a report's files are as Pantau made them.

A new report is made every time (``ReportService.GetEarlyWarningReport`` hands
out the one made last). The full edition is the default; ``--edition
aggregate`` makes the regional government's. The command acts as the
``report-command`` process, with the operating-system user as its officer.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import DBAPIError

from exchange_service.domain.agencies import DataView
from exchange_service.domain.audit import SYSTEM_ACTOR_KIND, Actor
from exchange_service.domain.errors import InvalidInput
from exchange_service.domain.report import Edition, ReportRequest, valid_report_request
from exchange_service.settings import Settings

if TYPE_CHECKING:
    from exchange_service.services.reports import EarlyWarningReports

REPORT_COMMAND = "report-command"
_VIEW_OF_EDITION = {Edition.FULL: DataView.FULL, Edition.AGGREGATE: DataView.DISTRICT}


def add_report_parser(commands: Any) -> None:
    report = commands.add_parser(
        "report", help="make the early-warning report of a day (HTML, CSV, JSON) and store it"
    )
    report.add_argument(
        "--date", default="", help="the office day, YYYY-MM-DD (default: today, WIB)"
    )
    report.add_argument(
        "--district", default="", help="a district code, 21.05.NN (default: the whole regency)"
    )
    report.add_argument(
        "--edition",
        choices=[e.value.lower() for e in Edition],
        default="full",
        help="full (supervisors, immigration) or aggregate (regional government)",
    )
    report.add_argument(
        "--out",
        type=Path,
        default=None,
        help="the directory to write the files to"
        " (default: <report_dir>/<date>[-<district>]/<edition>-<HHMM>)",
    )
    report.add_argument(
        "--verify",
        type=Path,
        default=None,
        metavar="DIR",
        help="check that the files in DIR are a report as Pantau made it (and recorded)",
    )


def run_report_command(args: argparse.Namespace, settings: Settings) -> int:
    from exchange_service.cli.watchlist import _work
    from exchange_service.rules_root import build_reports
    from exchange_service.services.reports import district_codes, report_directory, write_report

    try:
        with _work(settings, pool_size=2) as uow:
            reports = build_reports(settings, uow)
            if args.verify is not None:
                return _verify(reports, args.verify, ZoneInfo(settings.timezone))
            try:
                valid = valid_report_request(
                    ReportRequest(date=args.date, district_code=args.district),
                    reports.today(),
                    district_codes(),
                )
            except InvalidInput as error:
                for violation in error.violations:
                    print(f"--{_option(violation.field)}: {violation.description}", file=sys.stderr)  # noqa: T201
                print("nothing was made", file=sys.stderr)  # noqa: T201
                return 2
            edition = Edition(args.edition.upper())
            actor = Actor(REPORT_COMMAND, SYSTEM_ACTOR_KIND, getpass.getuser())
            stored = reports.make(valid.date, valid.district_code, _VIEW_OF_EDITION[edition], actor)
    except DBAPIError as error:
        print(f"cannot use the database: {error.orig}", file=sys.stderr)  # noqa: T201
        return 2
    out = args.out or report_directory(
        settings.report_dir or Path("var/reports"), stored, ZoneInfo(settings.timezone)
    )
    html = write_report(stored, out)
    as_of = stored.as_of.astimezone(ZoneInfo(settings.timezone)).isoformat()
    lines = (
        f"report {stored.id} ({edition.value.lower()} edition, as of {as_of})",
        f"digest {stored.digest} (in the audit trail; sha256sum -c SHA256SUMS in {out})",
        f"open in a browser: {html.resolve().as_uri()}",
    )
    print("\n".join(lines))  # noqa: T201
    return 0


def _option(field: str) -> str:
    return {"district_code": "district"}.get(field, field)


def _verify(reports: EarlyWarningReports, directory: Path, zone: ZoneInfo) -> int:
    from exchange_service.services.reports import read_report_files

    if not directory.is_dir():
        print(f"{directory} is not a directory", file=sys.stderr)  # noqa: T201
        return 2
    checked = reports.verify(read_report_files(directory))
    if not checked.reports:
        print(  # noqa: T201
            f"NOT VERIFIED: no report Pantau made has digest {checked.digest}: a file was"
            " changed, added or removed, or the report was not made here"
        )
        return 1
    for report in checked.reports:
        print(  # noqa: T201
            f"VERIFIED: report {report.id} of {report.date.isoformat()}"
            f" ({report.district_code or 'the regency'}, {report.edition.value.lower()} edition),"
            f" made {report.made_at.astimezone(zone).isoformat()} by {report.made_by},"
            f" digest {checked.digest}"
        )
    for seq, at in checked.audit_records:
        where = f"audit record {seq}" if seq is not None else "audit event (not yet chained)"
        print(f"  recorded: {where} at {at.astimezone(zone).isoformat()}")  # noqa: T201
    return 0
