"""The early-warning report: made for a day and an area, disclosed, rendered, stored, audited.

A report is made in three steps: its figures are read in one snapshot (the
full edition), disclosed to the view of whoever receives it (the regional
government's edition holds aggregates only: ``domain.disclosure.disclose_report``)
and rendered to its files (``exchange_service.reports``). The files are then
stored, never to change, and the digest of their manifest is recorded in the
audit trail in the same transaction, so a copy handed to a meeting can be
checked against both later (``verify``).

``get`` answers with the report of that day, area and edition made last, so
that everyone who asks for the morning report reads the same bytes, unless a
new one is asked for; ``make`` always makes a new one (the scheduler's
morning run, ``pantau report``).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from exchange_service.data.loader import BoundaryLayer, boundaries
from exchange_service.domain import report as rp
from exchange_service.domain.agencies import DataView
from exchange_service.domain.audit import Actor, AuditEvent
from exchange_service.domain.clock import Clock, local_today, system_clock
from exchange_service.domain.disclosure import disclose_report
from exchange_service.domain.errors import FieldViolation, InvalidInput, NotFound
from exchange_service.domain.fencing import Fence
from exchange_service.reports.render import HTML_NAME, digest, render_files, with_manifest
from exchange_service.services.ports import UnitOfWork

# The audit trail's action for a report made (its digest is the event's request digest).
REPORT_ACTION = "report/make"


@dataclass(frozen=True)
class ReportsOptions:
    timezone: ZoneInfo
    report: rp.ReportOptions
    # Agency id -> name: the agencies whose feeds the report follows.
    agency_names: Mapping[str, str]


def district_codes() -> frozenset[str]:
    """The regency's districts, from the shipped boundaries."""
    return frozenset(d.code for d in boundaries(BoundaryLayer.DISTRICTS))


class EarlyWarningReports:
    def __init__(
        self, uow: UnitOfWork, options: ReportsOptions, clock: Clock = system_clock
    ) -> None:
        self._uow = uow
        self._options = options
        self._clock = clock
        self._districts = district_codes()

    @property
    def options(self) -> ReportsOptions:
        return self._options

    def today(self) -> date:
        return local_today(self._clock, self._options.timezone)

    def get(self, request: rp.ReportRequest, actor: Actor, view: DataView) -> rp.StoredReport:
        """The report the request names in ``view``'s edition: the one made last, or a new one
        if none is stored or the request asks for a new one. Bad input: ``InvalidInput``
        naming the fields, nothing written."""
        valid = rp.valid_report_request(request, self.today(), self._districts)
        if not valid.regenerate:
            with self._uow.begin() as tx:
                stored = tx.reports.latest(
                    valid.date, valid.district_code, rp.EDITION_OF_VIEW[view]
                )
            if stored is not None:
                return stored
        return self.make(valid.date, valid.district_code, view, actor, recipient=actor.id)

    def file_part(
        self, request: rp.ReportFileRequest, view: DataView, length: int
    ) -> rp.ReportFilePart:
        """Up to ``length`` bytes of a stored report's file from the request's offset. Only a
        report of ``view``'s edition is found (NotFound otherwise, as for no such report or
        file: an agency learns nothing of another edition's reports). Bad input, or an offset
        past the file's end: ``InvalidInput`` naming the fields."""
        valid = rp.valid_report_file_request(request)
        with self._uow.begin() as tx:
            part = tx.reports.file_part(
                valid.report_id, valid.name, rp.EDITION_OF_VIEW[view], valid.offset, length
            )
        if part is None:
            raise NotFound("report file", f"{valid.report_id}/{valid.name}", "name")
        if valid.offset > part.size:
            raise InvalidInput(
                [FieldViolation("offset", f"must not be past the file's end ({part.size} bytes)")]
            )
        return part

    def make(
        self,
        day: date,
        district_code: str,
        view: DataView,
        actor: Actor,
        *,
        as_of: datetime | None = None,
        recipient: str = "",
    ) -> rp.StoredReport:
        """Makes, stores and audits the report of ``day`` for the district ('' all) in
        ``view``'s edition, as of ``as_of`` (default: the end of the day, or now if earlier)."""
        (stored,) = self.make_editions(
            day, district_code, (view,), actor, as_of=as_of, recipient=recipient
        )
        return stored

    def make_editions(
        self,
        day: date,
        district_code: str,
        views: Sequence[DataView],
        actor: Actor,
        *,
        as_of: datetime | None = None,
        recipient: str = "",
        fence: Fence | None = None,
    ) -> list[rp.StoredReport]:
        """The report in each view's edition, from one reading of the figures, stored and
        audited in one transaction; with a ``fence`` (the scheduler's) it commits only within
        the fence's term, claiming its slot."""
        if district_code and district_code not in self._districts:
            raise ValueError(f"{district_code} is not a district of the regency")
        made_at = self._clock()
        when = self.default_as_of(day, made_at) if as_of is None else as_of
        query = rp.ReportQuery(
            date=day,
            district_code=district_code,
            as_of=when,
            made_at=made_at,
            timezone=self._options.timezone.key,
            options=self._options.report,
            agency_names=self._options.agency_names,
        )
        with self._uow.read() as reader:
            full = reader.report.report(query)
        made = []
        for view in views:
            report_id = str(uuid.uuid4())
            rendered = with_manifest(render_files(disclose_report(full, view), report_id))
            files = tuple(sorted(rendered, key=lambda f: f.name))
            made.append(
                rp.StoredReport(
                    id=report_id,
                    date=day,
                    district_code=district_code,
                    edition=rp.EDITION_OF_VIEW[view],
                    as_of=when,
                    made_at=made_at,
                    made_by=actor.id if not actor.officer else f"{actor.id}/{actor.officer}",
                    digest=digest(files),
                    files=files,
                )
            )
        area = district_code or "the regency"
        with self._uow.begin(fence=fence) as tx:
            for stored in made:
                tx.reports.add(stored)
                tx.audit.record(
                    AuditEvent(
                        actor=actor,
                        action=REPORT_ACTION,
                        outcome="OK",
                        purpose=f"early-warning report {stored.id}: {day.isoformat()}, {area},"
                        f" {stored.edition.value.lower()} edition, as of {when.isoformat()}",
                        recipient=recipient,
                        request_digest=stored.digest,
                    ),
                    made_at,
                )
        return made

    def make_morning(
        self, slot: datetime, actor: Actor, fence: Fence | None = None
    ) -> list[rp.StoredReport]:
        """The scheduled report of the day of ``slot`` (its morning time), as of the slot:
        the full edition and the aggregate one, for the whole regency."""
        day = slot.astimezone(self._options.timezone).date()
        return self.make_editions(
            day, "", (DataView.FULL, DataView.DISTRICT), actor, as_of=slot, fence=fence
        )

    def default_as_of(self, day: date, now: datetime) -> datetime:
        """The end of the office's ``day``, or ``now`` if that is earlier."""
        end = datetime.combine(day + timedelta(days=1), time(0), self._options.timezone)
        return min(end, now)

    def morning(self, day: date) -> datetime:
        """The instant of ``day``'s scheduled report (``morning_time``, WIB)."""
        hour, minute = (int(part) for part in self._options.report.morning_time.split(":"))
        return datetime.combine(day, time(hour, minute), self._options.timezone)

    def verify(self, files: Sequence[rp.ReportFile]) -> Verification:
        """The digest of the files, the stored reports that have it and the audit trail's
        records of it (none: changed, or not made by Pantau)."""
        value = digest(tuple(files))
        with self._uow.begin() as tx:
            return Verification(
                value,
                tuple(tx.reports.with_digest(value)),
                tuple(tx.reports.audit_records_of(value, REPORT_ACTION)),
            )


@dataclass(frozen=True)
class Verification:
    """A report's files checked: their digest, and who holds it."""

    digest: str
    reports: tuple[rp.StoredReport, ...]
    # (seq, at) of each audit record of the digest; seq None while in the inbox.
    audit_records: tuple[tuple[int | None, datetime], ...]


def report_directory(base: Path, report: rp.StoredReport, zone: ZoneInfo) -> Path:
    """Where a report's files go under ``base``: ``<date>[-<district>]/<edition>-<HHMM>``,
    the time being its as-of time in WIB (the morning report: ``full-0600``)."""
    area = report.date.isoformat() + (f"-{report.district_code}" if report.district_code else "")
    at = report.as_of.astimezone(zone).strftime("%H%M")
    return base / area / f"{report.edition.value.lower()}-{at}"


def write_report(report: rp.StoredReport, directory: Path) -> Path:
    """Writes the report's files into ``directory`` (made if missing; files of the same
    names replaced, each written whole before it takes the name); the HTML's path."""
    directory.mkdir(parents=True, exist_ok=True)
    for file in report.files:
        target = directory / file.name
        partial = target.with_name(f".{file.name}.partial")
        partial.write_bytes(file.content)
        os.replace(partial, target)
    return directory / HTML_NAME


def read_report_files(directory: Path) -> tuple[rp.ReportFile, ...]:
    """A report directory's files as handed over (``verify`` recomputes their digest)."""
    return tuple(
        rp.ReportFile(path.name, "", path.read_bytes())
        for path in sorted(directory.iterdir())
        if path.is_file() and not path.name.startswith(".")
    )
