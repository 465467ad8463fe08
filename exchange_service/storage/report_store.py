"""The reports as made, as a transaction writes and reads them (``tx.reports``).

A report's row and its files are inserted together and never changed (migration
0015's triggers refuse it); the latest report of a day, district and edition is
the one a caller gets unless it asks for a new one.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from exchange_service.domain.report import Edition, ReportFile, ReportFilePart, StoredReport
from exchange_service.storage.tables import ReportFileRow, ReportRow


class ReportStore:
    """The stored reports on one transaction's session."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, report: StoredReport) -> None:
        """Inserts the report and its files."""
        report_id = uuid.UUID(report.id)
        self._session.execute(
            insert(ReportRow).values(
                id=report_id,
                date=report.date,
                district_code=report.district_code,
                edition=str(report.edition),
                as_of=report.as_of,
                made_at=report.made_at,
                made_by=report.made_by,
                digest=report.digest,
            )
        )
        self._session.execute(
            insert(ReportFileRow),
            [
                {
                    "report_id": report_id,
                    "name": f.name,
                    "media_type": f.media_type,
                    "sha256": hashlib.sha256(f.content).hexdigest(),
                    "content": f.content,
                }
                for f in report.files
            ],
        )

    def latest(self, day: date, district_code: str, edition: Edition) -> StoredReport | None:
        """The report of that day, district and edition made last, if any."""
        row = self._session.scalars(
            select(ReportRow)
            .where(
                ReportRow.date == day,
                ReportRow.district_code == district_code,
                ReportRow.edition == str(edition),
            )
            .order_by(ReportRow.made_at.desc(), ReportRow.id)
            .limit(1)
        ).one_or_none()
        return None if row is None else self._stored(row)

    def file_part(
        self, report_id: str, name: str, edition: Edition, offset: int, length: int
    ) -> ReportFilePart | None:
        """Up to ``length`` bytes of a file of a report of ``edition`` from ``offset`` (the
        database cuts them: a large file is never read whole), with its size and hash."""
        row = self._session.execute(
            text(
                "SELECT f.media_type, octet_length(f.content) AS size, f.sha256,"
                " substring(f.content FROM :start FOR :length) AS part"
                " FROM report_files f JOIN reports r ON r.id = f.report_id"
                " WHERE f.report_id = :id AND f.name = :name AND r.edition = :edition"
            ),
            {
                "id": uuid.UUID(report_id),
                "name": name,
                "edition": str(edition),
                "start": offset + 1,
                "length": length,
            },
        ).one_or_none()
        if row is None:
            return None
        return ReportFilePart(
            report_id=report_id,
            name=name,
            media_type=row.media_type,
            offset=offset,
            content=bytes(row.part),
            size=int(row.size),
            sha256=row.sha256.strip(),
        )

    def with_digest(self, digest: str) -> list[StoredReport]:
        """The reports whose files have this digest (a copy being checked), oldest first."""
        rows = self._session.scalars(
            select(ReportRow).where(ReportRow.digest == digest).order_by(ReportRow.made_at)
        ).all()
        return [self._stored(row) for row in rows]

    def audit_records_of(self, digest: str, action: str) -> list[tuple[int | None, datetime]]:
        """The audit trail's records of ``action`` with this digest: (seq, at), oldest first;
        seq None for an event still in the inbox, waiting for the trail's writer."""
        rows = self._session.execute(
            text(
                "SELECT seq, at FROM audit_records WHERE request_digest = :digest"
                " AND method = :action"
                " UNION ALL SELECT NULL, at FROM audit_inbox WHERE request_digest = :digest"
                " AND action = :action ORDER BY 2"
            ),
            {"digest": digest, "action": action},
        ).all()
        return [(None if seq is None else int(seq), at) for seq, at in rows]

    def _stored(self, row: ReportRow) -> StoredReport:
        files = self._session.execute(
            select(ReportFileRow.name, ReportFileRow.media_type, ReportFileRow.content)
            .where(ReportFileRow.report_id == row.id)
            .order_by(ReportFileRow.name)
        ).all()
        return StoredReport(
            id=str(row.id),
            date=row.date,
            district_code=row.district_code,
            edition=Edition(row.edition),
            as_of=row.as_of,
            made_at=row.made_at,
            made_by=row.made_by,
            digest=row.digest,
            files=tuple(
                ReportFile(name, media_type, bytes(content)) for name, media_type, content in files
            ),
        )
