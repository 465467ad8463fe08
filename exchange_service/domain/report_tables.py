"""The early-warning report's tables: each one's key, section, titles, grain and columns.

The reader fills a table's rows in the order of its columns
(``TableSpec.table``); the disclosure policy (``domain.disclosure.REPORT_TABLES``)
says by key which data views receive it. A CSV file is named after the key.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from exchange_service.domain.report import Column, ColumnKind, Grain, Section, Table

K = ColumnKind


@dataclass(frozen=True)
class TableSpec:
    key: str
    section: Section
    title_id: str
    title_en: str
    grain: Grain
    columns: tuple[Column, ...]
    note_id: str = ""
    note_en: str = ""

    def table(self, rows: Iterable[Iterable[Any]]) -> Table:
        """The table of these rows, each checked to have one cell per column."""
        cells = tuple(tuple(row) for row in rows)
        for row in cells:
            if len(row) != len(self.columns):
                raise ValueError(f"table {self.key}: a row of {len(row)} cells")
        return Table(
            key=self.key,
            section=str(self.section),
            title_id=self.title_id,
            title_en=self.title_en,
            grain=self.grain,
            columns=self.columns,
            rows=cells,
            note_id=self.note_id,
            note_en=self.note_en,
        )


def _c(key: str, label_id: str, label_en: str, kind: ColumnKind) -> Column:
    return Column(key, label_id, label_en, kind)


_RULE = _c("rule", "Aturan", "Rule", K.CODE)
_SEVERITY = _c("severity", "Tingkat", "Severity", K.CODE)
_DISTRICT = _c("district", "Kecamatan", "District", K.TEXT)
_VILLAGE = _c("village", "Desa/kelurahan", "Village", K.TEXT)
_NAME = _c("name", "Nama", "Name", K.NAME)
_NATIONALITY = _c("nationality", "Kewarganegaraan", "Nationality", K.CODE)
_DOCUMENT = _c("document", "Paspor", "Passport", K.DOCUMENT)
_ALERT_ID = _c("alert_id", "ID peringatan", "Alert id", K.RECORD_ID)
_STATUS = _c("status", "Status", "Status", K.CODE)
_AGE = _c("age_days", "Umur (hari)", "Age (days)", K.COUNT)
_PERMIT_TYPE = _c("permit_type", "Jenis izin", "Permit type", K.CODE)
_COUNT = _c("count", "Jumlah", "Count", K.COUNT)

ALERTS_BY_RULE = TableSpec(
    "alerts_by_rule",
    Section.ALERTS,
    "Peringatan per aturan dan tingkat",
    "Alerts by rule and severity",
    Grain.AGGREGATE,
    (
        _RULE,
        _SEVERITY,
        _c("new", "Baru (24 jam)", "New (24 h)", K.COUNT),
        _c("open", "Terbuka", "Open", K.COUNT),
        _c("resolved", "Selesai (24 jam)", "Resolved (24 h)", K.COUNT),
        _c("dismissed", "Ditolak (24 jam)", "Dismissed (24 h)", K.COUNT),
    ),
    "Tingkat sebagaimana pada saat laporan; baru, selesai dan ditolak: 24 jam sebelumnya.",
    "Severity as at the report's time; new, resolved and dismissed: the 24 hours before.",
)

OPEN_BY_AGE = TableSpec(
    "open_by_age",
    Section.ALERTS,
    "Peringatan terbuka menurut umur",
    "Open alerts by age",
    Grain.AGGREGATE,
    (
        _RULE,
        _SEVERITY,
        _c("age_1_5", "1-5 hari", "1-5 days", K.COUNT),
        _c("age_6_10", "6-10 hari", "6-10 days", K.COUNT),
        _c("age_11_30", "11-30 hari", "11-30 days", K.COUNT),
        _c("age_over_30", "> 30 hari", "> 30 days", K.COUNT),
        _c("past_deadline", "Lewat tenggat", "Past deadline", K.COUNT),
        _c("deadline_days", "Tenggat (hari)", "Deadline (days)", K.COUNT),
    ),
    "Umur: hari sejak pertama terdeteksi (hari pertama = 1). Tenggat menurut tingkat.",
    "Age: days since first detected (the first day is 1). Deadline by severity.",
)

PAST_DEADLINE = TableSpec(
    "past_deadline",
    Section.ALERTS,
    "Peringatan terbuka yang lewat tenggat",
    "Open alerts past their deadline",
    Grain.CASES,
    (
        _ALERT_ID,
        _RULE,
        _SEVERITY,
        _STATUS,
        _c("subject", "Subjek", "Subject", K.NAME),
        _DISTRICT,
        _VILLAGE,
        _c("first_detected_at", "Terdeteksi", "Detected", K.DATETIME),
        _AGE,
        _c("deadline_days", "Tenggat (hari)", "Deadline (days)", K.COUNT),
    ),
)

OVERSTAYS = TableSpec(
    "overstays",
    Section.CASES,
    "Melampaui izin tinggal (overstay)",
    "Overstays",
    Grain.CASES,
    (
        _NAME,
        _NATIONALITY,
        _DOCUMENT,
        _PERMIT_TYPE,
        _c("permit_number", "Nomor izin", "Permit number", K.DOCUMENT),
        _c("last_valid_day", "Berlaku sampai", "Valid until", K.DATE),
        _c("days_over", "Hari lewat", "Days over", K.COUNT),
        _c("fee_idr", "Biaya beban", "Fee accrued", K.IDR),
        _DISTRICT,
        _VILLAGE,
        _c("alert_status", "Status peringatan", "Alert status", K.CODE),
    ),
    "Biaya beban per hari menurut Pasal 78 UU 6/2011; lebih dari 60 hari: deportasi dan"
    " penangkalan.",
    "The fee per day of Article 78 of Law 6/2011; over 60 days: deportation and an entry ban.",
)

OVERSTAYS_BY_DISTRICT = TableSpec(
    "overstays_by_district",
    Section.CASES,
    "Overstay per kecamatan",
    "Overstays by district",
    Grain.AGGREGATE,
    (
        _DISTRICT,
        _c("persons", "Orang", "Persons", K.COUNT),
        _c("days_over", "Jumlah hari lewat", "Days over in all", K.COUNT),
        _c("fee_idr", "Biaya beban", "Fees accrued", K.IDR),
        _c("over_60_days", "Lebih dari 60 hari", "Over 60 days", K.COUNT),
    ),
)

UNREPORTED_MOVES = TableSpec(
    "unreported_moves",
    Section.CASES,
    "Pindah alamat tanpa lapor",
    "Unreported moves",
    Grain.CASES,
    (
        _ALERT_ID,
        _NAME,
        _NATIONALITY,
        _c("registered_district", "Kecamatan terdaftar", "Registered district", K.TEXT),
        _c("registered_village", "Desa terdaftar", "Registered village", K.TEXT),
        _c("far_sightings", "Terlihat jauh (kali)", "Seen far (times)", K.COUNT),
        _c("first_seen_far", "Pertama terlihat jauh", "First seen far", K.DATE),
        _STATUS,
        _AGE,
    ),
)

UNREPORTED_MOVES_BY_DISTRICT = TableSpec(
    "unreported_moves_by_district",
    Section.CASES,
    "Pindah alamat tanpa lapor per kecamatan",
    "Unreported moves by district",
    Grain.AGGREGATE,
    (_DISTRICT, _COUNT),
)

WATCHLIST_PENDING = TableSpec(
    "watchlist_pending",
    Section.CASES,
    "Kecocokan daftar pengawasan menunggu konfirmasi",
    "Watchlist matches awaiting confirmation",
    Grain.CASES,
    (
        _ALERT_ID,
        _NAME,
        _NATIONALITY,
        _c("lists", "Daftar", "Lists", K.CODE),
        _c("best_score", "Skor tertinggi", "Best score", K.NUMBER),
        _SEVERITY,
        _STATUS,
        _DISTRICT,
        _AGE,
    ),
)

WATCHLIST_PENDING_BY_DISTRICT = TableSpec(
    "watchlist_pending_by_district",
    Section.CASES,
    "Kecocokan daftar pengawasan menunggu konfirmasi per kecamatan",
    "Watchlist matches awaiting confirmation by district",
    Grain.AGGREGATE,
    (_DISTRICT, _COUNT),
)

PERMITS_EXPIRING = TableSpec(
    "permits_expiring",
    Section.CASES,
    "Izin tinggal berakhir dalam 14 hari",
    "Permits expiring within 14 days",
    Grain.CASES,
    (
        _NAME,
        _NATIONALITY,
        _DOCUMENT,
        _PERMIT_TYPE,
        _c("permit_number", "Nomor izin", "Permit number", K.DOCUMENT),
        _c("last_valid_day", "Berlaku sampai", "Valid until", K.DATE),
        _c("days_left", "Sisa hari", "Days left", K.COUNT),
        _c("sponsor", "Penjamin", "Sponsor", K.NAME),
        _DISTRICT,
        _VILLAGE,
    ),
)

PERMITS_EXPIRING_BY_DISTRICT = TableSpec(
    "permits_expiring_by_district",
    Section.CASES,
    "Izin tinggal berakhir dalam 14 hari per kecamatan dan jenis",
    "Permits expiring within 14 days by district and type",
    Grain.AGGREGATE,
    (_DISTRICT, _PERMIT_TYPE, _COUNT),
)

PRESENT_BY_DISTRICT = TableSpec(
    "present_by_district",
    Section.PRESENCE,
    "Orang asing per kecamatan, kewarganegaraan dan jenis izin",
    "Foreigners present by district, nationality and permit type",
    Grain.AGGREGATE,
    (_DISTRICT, _NATIONALITY, _PERMIT_TYPE, _COUNT),
    "Kecamatan menurut alamat terakhir yang dilaporkan; tanpa alamat: '-'.",
    "District of the last reported address; none reported: '-'.",
)

TREND = TableSpec(
    "trend",
    Section.TRENDS,
    "Peringatan per hari, 90 hari",
    "Alerts per day, 90 days",
    Grain.AGGREGATE,
    (
        _c("day", "Tanggal", "Day", K.DATE),
        _c("opened", "Dibuka", "Opened", K.COUNT),
        _c("closed", "Ditutup", "Closed", K.COUNT),
        _c("open_at_end", "Terbuka di akhir hari", "Open at the day's end", K.COUNT),
    ),
    "Ditutup: selesai atau ditolak. Hari ini sampai saat laporan.",
    "Closed: resolved or dismissed. Today up to the report's time.",
)

TREND_SUMMARY = TableSpec(
    "trend_summary",
    Section.TRENDS,
    "Tren 30 dan 90 hari",
    "30- and 90-day trends",
    Grain.AGGREGATE,
    (
        _c("days", "Hari", "Days", K.COUNT),
        _c("opened", "Dibuka", "Opened", K.COUNT),
        _c("closed", "Ditutup", "Closed", K.COUNT),
        _c("open_at_start", "Terbuka di awal", "Open at the start", K.COUNT),
        _c("open_at_end", "Terbuka di akhir", "Open at the end", K.COUNT),
        _c("change", "Perubahan", "Change", K.COUNT),
    ),
)

AGENCIES = TableSpec(
    "agencies",
    Section.AGENCIES,
    "Pengiriman ke instansi dan tanggapannya",
    "Delivery to agencies and their response",
    Grain.AGGREGATE,
    (
        _c("agency", "Instansi", "Agency", K.TEXT),
        _c("channels", "Saluran", "Channels", K.CODE),
        _c("entries_24h", "Peristiwa (24 jam)", "Events (24 h)", K.COUNT),
        _c("delivered_24h", "Terkirim (24 jam)", "Delivered (24 h)", K.COUNT),
        _c("awaiting", "Belum terkirim", "Not yet delivered", K.COUNT),
        _c("delivery_p50_h", "Ke terkirim, median (jam)", "To delivery, median (h)", K.HOURS),
        _c("delivery_p90_h", "Ke terkirim, p90 (jam)", "To delivery, p90 (h)", K.HOURS),
        _c("ack_p50_h", "Ke diterima, median (jam)", "To acknowledgement, median (h)", K.HOURS),
        _c("ack_p90_h", "Ke diterima, p90 (jam)", "To acknowledgement, p90 (h)", K.HOURS),
        _c("acknowledged", "Diterima", "Acknowledged", K.PERCENT),
        _c("resolution_p50_h", "Ke selesai, median (jam)", "To resolution, median (h)", K.HOURS),
        _c("resolution_p90_h", "Ke selesai, p90 (jam)", "To resolution, p90 (h)", K.HOURS),
        _c("dead_letters", "Gagal kirim (menunggu)", "Dead letters (pending)", K.COUNT),
    ),
    "Waktu dari deteksi (peristiwa peringatan), atas peristiwa 30 hari terakhir.",
    "Times from detection (the alert event), over the events of the last 30 days.",
)

FALSE_POSITIVES = TableSpec(
    "false_positives",
    Section.AGENCIES,
    "Tingkat positif palsu per aturan (hasil tinjauan 90 hari)",
    "False-positive rate by rule (reviews of 90 days)",
    Grain.AGGREGATE,
    (
        _RULE,
        _c("confirmed", "Dikonfirmasi", "Confirmed", K.COUNT),
        _c("dismissed", "Ditolak", "Dismissed", K.COUNT),
        _c("false_positive_rate", "Positif palsu", "False positives", K.PERCENT),
    ),
    "Keputusan terakhir petugas per peringatan: ditolak / (dikonfirmasi + ditolak).",
    "Each alert's last decision by an officer: dismissed / (confirmed + dismissed).",
)

DATA_QUALITY = TableSpec(
    "data_quality",
    Section.QUALITY,
    "Mutu data",
    "Data quality",
    Grain.AGGREGATE,
    (
        _c("check", "Pemeriksaan", "Check", K.CODE),
        _c("label_id", "Keterangan", "Description (id)", K.TEXT),
        _c("label_en", "Keterangan (en)", "Description", K.TEXT),
        _COUNT,
    ),
    "Seluruh kabupaten, juga pada laporan satu kecamatan.",
    "The whole regency, also in a district's report.",
)

CRITICAL_CASES = TableSpec(
    "critical_cases",
    Section.CASES,
    "Kasus KRITIS terbuka",
    "Open CRITICAL cases",
    Grain.CASES,
    (
        _ALERT_ID,
        _RULE,
        _STATUS,
        _c("subject", "Subjek", "Subject", K.NAME),
        _NATIONALITY,
        _DISTRICT,
        _VILLAGE,
        _AGE,
    ),
)

# Every table, in the order shown within its section.
TABLES: Mapping[str, TableSpec] = MappingProxyType(
    {
        spec.key: spec
        for spec in (
            ALERTS_BY_RULE,
            OPEN_BY_AGE,
            PAST_DEADLINE,
            CRITICAL_CASES,
            OVERSTAYS,
            OVERSTAYS_BY_DISTRICT,
            UNREPORTED_MOVES,
            UNREPORTED_MOVES_BY_DISTRICT,
            WATCHLIST_PENDING,
            WATCHLIST_PENDING_BY_DISTRICT,
            PERMITS_EXPIRING,
            PERMITS_EXPIRING_BY_DISTRICT,
            PRESENT_BY_DISTRICT,
            TREND_SUMMARY,
            TREND,
            AGENCIES,
            FALSE_POSITIVES,
            DATA_QUALITY,
        )
    }
)
