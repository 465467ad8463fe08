"""Placeholder until the renderer lands: the report's files in their simplest form."""

from __future__ import annotations

import hashlib
import json

from exchange_service.domain.report import EarlyWarningReport, ReportFile

MANIFEST_NAME = "SHA256SUMS"


def render_files(report: EarlyWarningReport) -> tuple[ReportFile, ...]:
    summary = {
        "date": report.date.isoformat(),
        "edition": report.edition.value,
        "headlines": {h.key: h.value for h in report.headlines},
        "tables": {t.key: len(t.rows) for t in report.tables},
    }
    return (
        ReportFile("report.html", "text/html", b"<!doctype html><title>report</title>"),
        ReportFile(
            "summary.json", "application/json", json.dumps(summary, sort_keys=True).encode()
        ),
    )


def manifest(files: tuple[ReportFile, ...]) -> bytes:
    lines = [
        f"{hashlib.sha256(f.content).hexdigest()}  {f.name}\n"
        for f in sorted(files, key=lambda f: f.name)
        if f.name != MANIFEST_NAME
    ]
    return "".join(lines).encode()


def with_manifest(files: tuple[ReportFile, ...]) -> tuple[ReportFile, ...]:
    kept = tuple(f for f in files if f.name != MANIFEST_NAME)
    return (*kept, ReportFile(MANIFEST_NAME, "text/plain", manifest(kept)))


def digest(files: tuple[ReportFile, ...]) -> str:
    return hashlib.sha256(manifest(files)).hexdigest()
