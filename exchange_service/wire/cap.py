"""A feed entry as an OASIS CAP 1.2 alert document, and the documents checked against the schema.

``cap_document`` turns one entry of an agency's feed (the event as the entry
carries it, already in the agency's data view) into a CAP 1.2 ``alert``:
identified by the office, the agency and the entry's sequence, so the same
entry always has the same identifier; ``Alert`` for the first document of an
alert in the feed, ``Update`` referencing the earlier ones after it,
``Cancel`` when the alert is resolved; scope ``Restricted`` to the agency;
one ``info`` in Indonesian and one in English, each with the feed position
as parameters (``pantau:sequence``, ``pantau:previousHash``,
``pantau:entryHash``, ...) so a receiver can check the chain; and the area
of the district by its Kemendagri code and its polygon (islands simplified),
never a point of a person. The texts are written here from the event's
fields and the evidence keys every view receives; a summary is added only
when the view carries one (FULL).

``validate_cap`` checks a document against the official schema shipped in
``exchange_service.data``, parsing with entities unresolved and no network.
"""

from __future__ import annotations

import functools
import itertools
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from google.protobuf import json_format
from lxml import etree
from pantau.v1 import alerts_pb2 as apb

from exchange_service.data import loader
from exchange_service.domain.alerts import (
    AdministrativeAction,
    AlertEventKind,
    AlertStatus,
    ResolutionReason,
    RuleName,
    Severity,
    SubjectKind,
)
from exchange_service.domain.feed import FeedEntry
from exchange_service.wire import convert

CAP_NAMESPACE = "urn:oasis:names:tc:emergency:cap:1.2"
# RFC 7303 / the CAP 1.2 registration: what the Atom feed's links name.
CAP_MEDIA_TYPE = "application/cap+xml"
# The Kemendagri code of the regency, and the valueName of the codes in geocodes.
REGENCY_CODE = "21.05"
KEMENDAGRI_GEOCODE = "KEMENDAGRI"
BPS_GEOCODE = "BPS"
# The parameters that carry the entry's place in the feed (every info holds them).
PARAMETER_AGENCY = "pantau:agency"
PARAMETER_SEQUENCE = "pantau:sequence"
PARAMETER_PREVIOUS_HASH = "pantau:previousHash"
PARAMETER_ENTRY_HASH = "pantau:entryHash"
PARAMETER_EVENT_ID = "pantau:eventId"
PARAMETER_ALERT_ID = "pantau:alertId"
PARAMETER_SIGNED_AT = "pantau:signedAt"

_NS = f"{{{CAP_NAMESPACE}}}"
WIB = ZoneInfo("Asia/Jakarta")


class CapInvalid(ValueError):
    """A document is not a CAP 1.2 alert the schema accepts; the message says where and why."""


@dataclass(frozen=True)
class CapOptions:
    """What every CAP document of the office says the same way.

    ``sender`` and ``status`` come from the settings ``cap_sender`` and
    ``cap_status``; ``identifier_prefix`` names the office in identifiers
    (unique per sender, as CAP asks); ``expires_after`` is how long a
    document stands without a newer one (the rules run at least daily).
    """

    sender: str
    status: Literal["Actual", "Exercise"] = "Actual"
    identifier_prefix: str = "id.go.imigrasi.kanim-tarempa.pantau"
    timezone: ZoneInfo = WIB
    expires_after: timedelta = timedelta(days=7)
    # The most island polygons one area lists (largest first); the geocode names the whole.
    max_polygons: int = 24
    # Douglas-Peucker tolerance of the polygons, degrees (~0.0005 is 55 m).
    polygon_tolerance_degrees: float = 0.0005


@dataclass(frozen=True)
class CapReference:
    """An earlier document, as CAP's ``references`` names it: ``sender,identifier,sent``.

    ``sent`` is the text of the earlier document's ``sent``, kept as written.
    """

    sender: str
    identifier: str
    sent: str

    def text(self) -> str:
        return f"{self.sender},{self.identifier},{self.sent}"


def cap_time(value: datetime, zone: ZoneInfo) -> str:
    """CAP's date-time: whole seconds with an explicit offset (never Z), in ``zone``."""
    if value.tzinfo is None:
        raise ValueError(f"a CAP time needs a timezone: {value.isoformat()} has none")
    return value.astimezone(zone).replace(microsecond=0).isoformat()


def cap_identifier(options: CapOptions, agency_id: str, sequence: int) -> str:
    """The document of an agency's entry: the same entry always has the same identifier."""
    return f"{options.identifier_prefix}.{agency_id}.{sequence}"


def atom_entry_id(sender: str, identifier: str) -> str:
    """A stable ``urn:uuid:`` for a document, for the Atom feed's entries."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"cap:{sender}:{identifier}").urn


# --- texts -----------------------------------------------------------------------

# (Indonesian, English) of each rule's event name.
_EVENT_NAMES: Mapping[RuleName, tuple[str, str]] = {
    RuleName.OVERSTAY: (
        "WNA melampaui izin tinggal",
        "Foreign national overstaying the stay permit",
    ),
    RuleName.PERMIT_EXPIRING: (
        "Izin tinggal WNA segera berakhir",
        "Foreign national's stay permit about to end",
    ),
    RuleName.UNREPORTED_ADDRESS_CHANGE: (
        "Perubahan alamat WNA tidak dilaporkan",
        "Foreign national's change of address not reported",
    ),
    RuleName.NO_RECENT_CONTACT: (
        "WNA tanpa kontak tercatat dalam waktu lama",
        "No recorded contact with a foreign resident for a long time",
    ),
    RuleName.RESTRICTED_AREA_PRESENCE: (
        "WNA terlihat di kawasan terbatas",
        "Foreign national seen in a restricted area",
    ),
    RuleName.SPONSOR_OVERSTAY_CLUSTER: (
        "Penjamin dengan beberapa WNA melampaui izin tinggal",
        "Sponsor with several sponsored foreign nationals overstaying",
    ),
    RuleName.PERMIT_LIMIT_EXCEEDED: (
        "Izin tinggal WNA melampaui batas jenis izinnya",
        "Foreign national's stay permits exceed what the permit type allows",
    ),
    RuleName.WATCHLIST_MATCH: (
        "WNA cocok dengan daftar pengawasan (menunggu verifikasi)",
        "Foreign national matches a watchlist entry (awaiting verification)",
    ),
}

# Each rule's facts as a sentence, from the evidence keys every view receives; a key
# missing (a view without it, an older event) falls back to the generic sentence.
_FACTS: Mapping[RuleName, tuple[str, str]] = {
    RuleName.OVERSTAY: (
        "{subject} melampaui izin tinggal {permit_type} selama {days_over} hari; hari"
        " terakhir izinnya {last_valid_day}. Biaya beban terhitung Rp {fee_accrued_idr}"
        " (Rp {fee_per_day_idr} per hari, Pasal 78 UU 6/2011).",
        "{subject} has overstayed the {permit_type} permit by {days_over} days; its last"
        " valid day was {last_valid_day}. Overstay fee accrued: Rp {fee_accrued_idr}"
        " (Rp {fee_per_day_idr} a day, Article 78 of Law 6/2011).",
    ),
    RuleName.PERMIT_EXPIRING: (
        "Izin tinggal {permit_type} {subject} berakhir pada {last_valid_day}, {days_left} hari"
        " lagi, dan belum tercatat perpanjangan.",
        "The {permit_type} permit of {subject} ends on {last_valid_day}, in {days_left} days,"
        " and no later period is recorded.",
    ),
    RuleName.UNREPORTED_ADDRESS_CHANGE: (
        "{subject} terlihat {far_sighting_count} kali dalam {window_days} hari lebih dari"
        " {far_beyond_meters} m dari alamat terdaftarnya, tanpa melaporkan alamat baru"
        " (Pasal 71 UU 6/2011).",
        "{subject} was seen {far_sighting_count} times in {window_days} days more than"
        " {far_beyond_meters} m from the registered address, and has reported no new one"
        " (Article 71 of Law 6/2011).",
    ),
    RuleName.NO_RECENT_CONTACT: (
        "Tidak ada kontak tercatat (penampakan, laporan alamat atau tindakan izin tinggal)"
        " dengan {subject} sejak {last_contact_on}, {no_contact_days} hari atau lebih.",
        "No contact (a sighting, an address report or a permit action) with {subject} has"
        " been recorded since {last_contact_on}, {no_contact_days} days or more.",
    ),
    RuleName.RESTRICTED_AREA_PRESENCE: (
        "{subject} terlihat {area_sighting_count} kali di kawasan terbatas yang tidak sesuai"
        " dengan tujuan izin tinggalnya ({purpose}); terakhir {last_area_sighting_at}.",
        "{subject} was seen {area_sighting_count} times in a restricted area that the permit's"
        " purpose ({purpose}) does not allow; last at {last_area_sighting_at}.",
    ),
    RuleName.SPONSOR_OVERSTAY_CLUSTER: (
        "Seorang penjamin memiliki {sponsees_overstaying} WNA yang dijaminnya melampaui izin"
        " tinggal (ambang {min_sponsees}).",
        "A sponsor has {sponsees_overstaying} sponsored foreign nationals overstaying"
        " (threshold {min_sponsees}).",
    ),
    RuleName.PERMIT_LIMIT_EXCEEDED: (
        "Periode izin tinggal {permit_type} {subject} melampaui batas yang diizinkan jenis"
        " izin tersebut.",
        "The {permit_type} permit periods of {subject} go beyond what the permit type allows.",
    ),
    RuleName.WATCHLIST_MATCH: (
        "{subject} cocok dengan {watchlist_match_count} entri daftar pengawasan (skor tertinggi"
        " {best_score}); menunggu verifikasi dan konfirmasi pengawas.",
        "{subject} matches {watchlist_match_count} watchlist entries (best score {best_score});"
        " awaiting a supervisor's verification and confirmation.",
    ),
}

_GENERIC_FACTS = (
    "Aturan peringatan dini {rule} berlaku untuk {subject}.",
    "The early-warning rule {rule} holds for {subject}.",
)

_KIND_WORDS: Mapping[AlertEventKind, tuple[str, str]] = {
    AlertEventKind.OPENED: ("Peringatan baru", "New alert"),
    AlertEventKind.UPDATED: ("Pembaruan", "Update"),
    AlertEventKind.ESCALATED: ("Tingkat dinaikkan", "Escalated"),
    AlertEventKind.RESOLVED: ("Selesai", "Resolved"),
    AlertEventKind.REVIEWED: ("Ditinjau petugas", "Reviewed by an officer"),
}

_SEVERITY_WORDS: Mapping[Severity, tuple[str, str]] = {
    Severity.INFO: ("informasi", "information"),
    Severity.WARNING: ("peringatan", "warning"),
    Severity.HIGH: ("tinggi", "high"),
    Severity.CRITICAL: ("kritis", "critical"),
}

_STATUS_WORDS: Mapping[AlertStatus, tuple[str, str]] = {
    AlertStatus.OPEN: ("terbuka", "open"),
    AlertStatus.ACKNOWLEDGED: ("sudah dilihat petugas", "acknowledged by an officer"),
    AlertStatus.CONFIRMED: ("dikonfirmasi petugas", "confirmed by an officer"),
    AlertStatus.DISMISSED: ("ditolak sebagai positif palsu", "dismissed as a false positive"),
    AlertStatus.RESOLVED: ("selesai", "resolved"),
}

_REASON_WORDS: Mapping[ResolutionReason, tuple[str, str]] = {
    ResolutionReason.DEPARTED: ("keberangkatan telah tercatat", "the departure was recorded"),
    ResolutionReason.PERMIT_EXTENDED: (
        "izin tinggal telah diperpanjang",
        "the permit was extended",
    ),
    ResolutionReason.ADDRESS_REPORTED: (
        "alamat baru telah dilaporkan",
        "a new address was reported",
    ),
    ResolutionReason.CONTACT_RECORDED: ("kontak telah tercatat", "a contact was recorded"),
    ResolutionReason.PERMIT_CORRECTED: (
        "periode izin tinggal telah dikoreksi",
        "the permit periods were corrected",
    ),
    ResolutionReason.SPONSEES_RESOLVED: (
        "WNA yang dijamin dan melampaui izin tinggal kini di bawah ambang",
        "fewer sponsees are overstaying than the threshold",
    ),
    ResolutionReason.REVIEWED: ("diselesaikan oleh petugas", "an officer resolved it"),
    ResolutionReason.WATCHLIST_CLEARED: (
        "entri daftar pengawasan dicabut, berakhir, atau tidak lagi cocok",
        "the watchlist entry was removed or expired, or no longer matches",
    ),
}

_ACTION_WORDS: Mapping[AdministrativeAction, tuple[str, str]] = {
    AdministrativeAction.OVERSTAY_FEE: (
        "Biaya beban per hari melampaui izin tinggal (Pasal 78 ayat (1) UU 6/2011).",
        "An overstay fee per day (Article 78(1) of Law 6/2011).",
    ),
    AdministrativeAction.DEPORTATION_AND_ENTRY_BAN: (
        "Deportasi dan penangkalan (Pasal 78 ayat (3) UU 6/2011).",
        "Deportation and an entry ban (Article 78(3) of Law 6/2011).",
    ),
    AdministrativeAction.SUMMONS: (
        "Panggil yang bersangkutan ke kantor imigrasi untuk memberi keterangan.",
        "Summon the person to the immigration office to explain.",
    ),
    AdministrativeAction.PERMIT_REVIEW: (
        "Tinjau, batasi atau batalkan izin tinggal (Pasal 75 ayat (2) huruf b UU 6/2011).",
        "Review, restrict or cancel the stay permit (Article 75(2)(b) of Law 6/2011).",
    ),
    AdministrativeAction.ADDRESS_REPORT_DEMAND: (
        "Minta laporan alamat baru (Pasal 71 UU 6/2011).",
        "Demand the report of the new address (Article 71 of Law 6/2011).",
    ),
    AdministrativeAction.SPONSOR_REVIEW: (
        "Tinjau kewajiban penjamin.",
        "Review the sponsor's (guarantor's) obligations.",
    ),
    AdministrativeAction.PLACE_BAN: (
        "Larangan berada di tempat tertentu (Pasal 75 ayat (2) huruf c UU 6/2011).",
        "A ban from being at certain places (Article 75(2)(c) of Law 6/2011).",
    ),
    AdministrativeAction.NONE: (
        "Belum ada tindakan administratif; pantau dan periksa bila perlu.",
        "No administrative action yet; monitor, and check where needed.",
    ),
    AdministrativeAction.IDENTITY_VERIFICATION: (
        "Verifikasi identitas dan dokumen terhadap entri daftar pengawasan; tidak ada tindakan"
        " sebelum pengawas mengonfirmasi.",
        "Verify the identity and documents against the watchlist entry; nothing is done"
        " before a supervisor confirms.",
    ),
}

_SENDER_NAMES = (
    "Kantor Imigrasi Kelas II TPI Tarempa",
    "Tarempa Class II Immigration Office (TPI)",
)
_RESTRICTION = (
    "Hanya untuk {agency} (tim pengawasan orang asing); jangan diteruskan."
    " For {agency} only (foreigner supervision team); do not forward."
)

# Pantau severity -> CAP severity.
_CAP_SEVERITY: Mapping[Severity, str] = {
    Severity.CRITICAL: "Extreme",
    Severity.HIGH: "Severe",
    Severity.WARNING: "Moderate",
    Severity.INFO: "Minor",
}
# What the rule's finding rests on: registry facts are observed, inferences less certain.
_CERTAINTY: Mapping[RuleName, str] = {
    RuleName.OVERSTAY: "Observed",
    RuleName.PERMIT_EXPIRING: "Likely",
    RuleName.UNREPORTED_ADDRESS_CHANGE: "Likely",
    RuleName.NO_RECENT_CONTACT: "Possible",
    RuleName.RESTRICTED_AREA_PRESENCE: "Observed",
    RuleName.SPONSOR_OVERSTAY_CLUSTER: "Observed",
    RuleName.PERMIT_LIMIT_EXCEEDED: "Observed",
    # A name match is a possibility until a supervisor confirms it.
    RuleName.WATCHLIST_MATCH: "Possible",
}


def _urgency(rule: RuleName, severity: Severity, closed: bool) -> str:
    if closed:
        return "Past"
    if rule is RuleName.PERMIT_EXPIRING:
        # Nothing is wrong yet: the permit ends in a few days.
        return "Future"
    if severity >= Severity.HIGH:
        return "Immediate"
    return "Expected" if severity is Severity.WARNING else "Future"


def _number(value: object) -> str:
    # Struct numbers are doubles; counts and rupiah read as whole numbers.
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}".replace(",", ".")
    return str(value)


class _Facts(dict[str, str]):
    """Evidence as the templates read it: numbers written out, lists and objects absent."""

    @classmethod
    def of(cls, evidence: Mapping[str, Any], extra: Mapping[str, str]) -> _Facts:
        facts = cls(extra)
        for key, value in evidence.items():
            if isinstance(value, bool | int | float | str) and value != "":
                facts[key] = _number(value)
        return facts


def _subject(event: apb.AlertEvent, facts: Mapping[str, str], language: int) -> str:
    if convert.SUBJECT_KINDS.text(event.subject_kind) == SubjectKind.SPONSOR:
        return ("seorang penjamin", "a sponsor")[language]
    name = facts.get("person_name")
    if name:
        nationality = facts.get("nationality")
        return f"{name} ({nationality})" if nationality else name
    return ("seorang WNA", "a foreign national")[language]


def _sentence_start(text: str) -> str:
    return text[:1].upper() + text[1:]


@dataclass(frozen=True)
class _Event:
    """The fields of the received event the document is written from, as domain values."""

    rule: RuleName
    kind: AlertEventKind
    severity: Severity
    status: AlertStatus
    action: AdministrativeAction | None
    reason: ResolutionReason | None

    @classmethod
    def of(cls, event: apb.AlertEvent) -> _Event:
        try:
            action = convert.ACTIONS.text(event.action)
            reason = convert.REASONS.text(event.resolution_reason)
            return cls(
                rule=RuleName(convert.RULES.text(event.rule)),
                kind=AlertEventKind(convert.EVENT_KINDS.text(event.kind)),
                severity=Severity(convert.SEVERITIES.text(event.severity)),
                status=AlertStatus(convert.STATUSES.text(event.status)),
                action=AdministrativeAction(action) if action else None,
                reason=ResolutionReason(reason) if reason else None,
            )
        except ValueError as error:
            raise ValueError(f"the event {event.seq} cannot be written as CAP: {error}") from error

    @property
    def closed(self) -> bool:
        return self.kind is AlertEventKind.RESOLVED or self.status is AlertStatus.RESOLVED


def _texts(
    event: apb.AlertEvent, fields: _Event, district: CapArea, language: int
) -> tuple[str, str, str]:
    """(headline, description, instruction) in Indonesian (0) or English (1)."""
    evidence = json_format.MessageToDict(event.evidence)
    facts = _Facts.of(evidence, {"rule": str(fields.rule)})
    facts["subject"] = _subject(event, facts, language)
    template = _FACTS[fields.rule][language]
    try:
        said = template.format_map(facts)
    except KeyError:
        said = _GENERIC_FACTS[language].format_map(facts)
    sentences = [_sentence_start(said)]
    place = district.description(language)
    sentences.append(
        (f"Wilayah: {place}.", f"Area: {place}.")[language],
    )
    severity = _SEVERITY_WORDS[fields.severity][language]
    status = _STATUS_WORDS[fields.status][language]
    if fields.closed:
        reason = (
            _REASON_WORDS[fields.reason][language]
            if fields.reason is not None
            else ("alasan tidak disebut", "no reason given")[language]
        )
        sentences.append(
            (f"Peringatan ini selesai: {reason}.", f"This alert is resolved: {reason}.")[language]
        )
    elif fields.kind is AlertEventKind.ESCALATED:
        sentences.append(
            (
                f"Tingkat keparahan naik menjadi {severity}.",
                f"Its severity rose to {severity}.",
            )[language]
        )
    elif fields.kind is AlertEventKind.REVIEWED:
        sentences.append(
            (f"Ditinjau petugas: kini {status}.", f"Reviewed by an officer: now {status}.")[
                language
            ]
        )
    else:
        sentences.append(
            (
                f"Tingkat keparahan {severity}; status {status}.",
                f"Severity {severity}; status {status}.",
            )[language]
        )
    description = " ".join(sentences)
    summary = (event.summary_id, event.summary_en)[language]
    if summary:
        # Only a view that receives the summary (FULL) has one: it names the permit.
        description += "\n\n" + summary
    kind_word = _KIND_WORDS[fields.kind][language]
    headline = f"{kind_word}: {_EVENT_NAMES[fields.rule][language]} ({district.short(language)})"
    if fields.closed:
        instruction = (
            "Tidak perlu tindakan lebih lanjut atas peringatan ini.",
            "No further action on this alert.",
        )[language]
    elif fields.action is None:
        instruction = _ACTION_WORDS[AdministrativeAction.NONE][language]
    else:
        instruction = _ACTION_WORDS[fields.action][language]
    return headline, description, instruction


# --- the area --------------------------------------------------------------------


@dataclass(frozen=True)
class CapArea:
    """Where an alert is, as CAP's area says it: a district (or the whole regency) by its
    Kemendagri code and name, with its polygons ("lat,lon ..." closed) or a circle."""

    code: str
    name: str
    polygons: tuple[str, ...]
    circle: str | None
    is_regency: bool = False

    def short(self, language: int) -> str:
        if self.is_regency:
            return "Kabupaten Kepulauan Anambas"
        return (f"Kec. {self.name}", f"{self.name} district")[language]

    def description(self, language: int) -> str:
        if self.is_regency:
            return (
                "Kabupaten Kepulauan Anambas (kecamatan tidak diketahui)",
                "Kepulauan Anambas regency (district not known)",
            )[language]
        return (
            f"Kecamatan {self.name} ({self.code}), Kabupaten Kepulauan Anambas",
            f"{self.name} district ({self.code}), Kepulauan Anambas regency",
        )[language]

    @property
    def area_desc(self) -> str:
        if self.is_regency:
            return "Kabupaten Kepulauan Anambas"
        return f"Kecamatan {self.name}, Kabupaten Kepulauan Anambas"


def _distance_to_segment(
    point: tuple[float, float], start: tuple[float, float], end: tuple[float, float]
) -> float:
    (x, y), (x1, y1), (x2, y2) = point, start, end
    dx, dy = x2 - x1, y2 - y1
    if dx == 0 and dy == 0:
        return math.hypot(x - x1, y - y1)
    t = max(0.0, min(1.0, ((x - x1) * dx + (y - y1) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - (x1 + t * dx), y - (y1 + t * dy))


def _simplified(
    points: Sequence[tuple[float, float]], tolerance: float
) -> list[tuple[float, float]]:
    """Douglas-Peucker on a polyline (iterative: rings can be long)."""
    keep = [False] * len(points)
    keep[0] = keep[-1] = True
    stack = [(0, len(points) - 1)]
    while stack:
        first, last = stack.pop()
        farthest, index = 0.0, -1
        for i in range(first + 1, last):
            distance = _distance_to_segment(points[i], points[first], points[last])
            if distance > farthest:
                farthest, index = distance, i
        if index >= 0 and farthest > tolerance:
            keep[index] = True
            stack.extend(((first, index), (index, last)))
    return [p for p, kept in zip(points, keep, strict=True) if kept]


def _ring_area(ring: Sequence[Sequence[float]]) -> float:
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in itertools.pairwise(ring))) / 2.0


def _cap_polygons(geometry: Mapping[str, Any], options: CapOptions) -> tuple[str, ...]:
    """CAP polygons ("lat,lon lat,lon ...", closed) of a GeoJSON (Multi)Polygon's outer rings:
    the largest ``max_polygons`` islands, each simplified."""
    parts = (
        geometry["coordinates"] if geometry["type"] == "MultiPolygon" else [geometry["coordinates"]]
    )
    rings = sorted((part[0] for part in parts), key=_ring_area, reverse=True)
    polygons = []
    for ring in rings[: options.max_polygons]:
        points = [(float(p[0]), float(p[1])) for p in ring]
        if points[0] != points[-1]:
            points.append(points[0])
        simple = _simplified(points, options.polygon_tolerance_degrees)
        if len(simple) < 4:
            # Too small to simplify: a CAP polygon needs four points, the first repeated last.
            simple = points
        if len(simple) < 4:
            continue
        polygons.append(" ".join(f"{lat:.5f},{lon:.5f}" for lon, lat in simple))
    return tuple(polygons)


# The radius of the circle drawn around a district's centroid when its polygon is unknown.
CENTROID_RADIUS_KM = 10


def district_areas(
    boundaries: Iterable[loader.Boundary], places: Iterable[loader.Place], options: CapOptions
) -> dict[str, CapArea]:
    """Each district's CAP area by Kemendagri code: its polygons where the boundary layer has
    it, else a circle around its centroid (only a point is known)."""
    districts = {
        boundary.code: CapArea(
            boundary.code, boundary.name, _cap_polygons(boundary.geometry, options), None
        )
        for boundary in boundaries
    }
    for place in places:
        if place.kind is loader.PlaceKind.DISTRICT_CENTROID and place.code not in districts:
            name = place.name.removeprefix("Kecamatan ").strip()
            circle = f"{place.latitude:.5f},{place.longitude:.5f} {CENTROID_RADIUS_KM}"
            districts[place.code] = CapArea(place.code, name, (), circle)
    return districts


@functools.cache
def _boundaries(options: CapOptions) -> tuple[dict[str, CapArea], CapArea]:
    districts = district_areas(
        loader.boundaries(loader.BoundaryLayer.DISTRICTS), loader.places(), options
    )
    (regency,) = loader.boundaries(loader.BoundaryLayer.REGENCY)
    whole = CapArea(
        REGENCY_CODE, regency.name, _cap_polygons(regency.geometry, options), None, True
    )
    return districts, whole


def _district(code: str, options: CapOptions) -> CapArea:
    districts, regency = _boundaries(options)
    return districts.get(code, regency)


def _add_area(info: etree._Element, district: CapArea) -> None:
    area = etree.SubElement(info, _NS + "area")
    etree.SubElement(area, _NS + "areaDesc").text = district.area_desc
    for polygon in district.polygons:
        etree.SubElement(area, _NS + "polygon").text = polygon
    if district.circle is not None:
        etree.SubElement(area, _NS + "circle").text = district.circle
    codes = [(KEMENDAGRI_GEOCODE, district.code)]
    bps = loader.bps_district_codes().get(district.code)
    if bps:
        codes.append((BPS_GEOCODE, bps))
    for name, value in codes:
        geocode = etree.SubElement(area, _NS + "geocode")
        etree.SubElement(geocode, _NS + "valueName").text = name
        etree.SubElement(geocode, _NS + "value").text = value


# --- the document ----------------------------------------------------------------


def _pair(parent: etree._Element, tag: str, name: str, value: str) -> None:
    element = etree.SubElement(parent, _NS + tag)
    etree.SubElement(element, _NS + "valueName").text = name
    etree.SubElement(element, _NS + "value").text = value


def cap_document(
    entry: FeedEntry,
    event: apb.AlertEvent,
    options: CapOptions,
    references: Sequence[CapReference],
    sent: datetime,
) -> bytes:
    """The CAP 1.2 alert of one feed entry (UTF-8, with an XML declaration).

    ``event`` is the entry's payload parsed (its feed position must be the
    entry's); ``references`` are the earlier documents of the same alert in
    this feed, oldest first (none: this is the alert's first, ``Alert``);
    ``sent`` is when the document is made. Raises ``ValueError`` when the
    event does not belong to the entry or names values this version does
    not know.
    """
    if event.feed.agency_id != entry.agency_id or event.feed.sequence != entry.sequence:
        raise ValueError(
            f"the event's feed position ({event.feed.agency_id} #{event.feed.sequence}) is not"
            f" the entry's ({entry.agency_id} #{entry.sequence})"
        )
    fields = _Event.of(event)
    zone = options.timezone
    sent_text = cap_time(sent, zone)
    msg_type = "Cancel" if fields.closed else "Update" if references else "Alert"
    alert = etree.Element(_NS + "alert", nsmap={None: CAP_NAMESPACE})
    for tag, text in (
        ("identifier", cap_identifier(options, entry.agency_id, entry.sequence)),
        ("sender", options.sender),
        ("sent", sent_text),
        ("status", options.status),
        ("msgType", msg_type),
        ("source", "Pantau"),
        ("scope", "Restricted"),
        ("restriction", _RESTRICTION.format(agency=entry.agency_id)),
    ):
        etree.SubElement(alert, _NS + tag).text = text
    if references:
        etree.SubElement(alert, _NS + "references").text = " ".join(r.text() for r in references)
    # The alert's id groups its documents, as CAP's incidents does.
    etree.SubElement(alert, _NS + "incidents").text = event.alert_id
    district = _district(event.district_code, options)
    parameters = (
        (PARAMETER_AGENCY, entry.agency_id),
        (PARAMETER_SEQUENCE, str(entry.sequence)),
        (PARAMETER_PREVIOUS_HASH, entry.previous_hash.hex()),
        (PARAMETER_ENTRY_HASH, entry.hash.hex()),
        (PARAMETER_EVENT_ID, str(entry.event_seq)),
        (PARAMETER_ALERT_ID, event.alert_id),
        (PARAMETER_SIGNED_AT, cap_time(entry.signed_at, zone)),
        ("pantau:rule", str(fields.rule)),
        ("pantau:eventKind", str(fields.kind)),
        ("pantau:alertStatus", str(fields.status)),
        ("pantau:severity", str(fields.severity)),
    )
    occurred = convert.instant(event.occurred_at, event.HasField("occurred_at"), "occurred_at")
    for language, tag in enumerate(("id-ID", "en-US")):
        headline, description, instruction = _texts(event, fields, district, language)
        info = etree.SubElement(alert, _NS + "info")
        for name, text in (
            ("language", tag),
            ("category", "Security"),
            ("event", _EVENT_NAMES[fields.rule][language]),
            ("responseType", "AllClear" if fields.closed else "Assess"),
            ("urgency", _urgency(fields.rule, fields.severity, fields.closed)),
            ("severity", _CAP_SEVERITY[fields.severity]),
            ("certainty", _CERTAINTY[fields.rule]),
        ):
            etree.SubElement(info, _NS + name).text = text
        _pair(info, "eventCode", "pantau:rule", str(fields.rule))
        if occurred is not None:
            etree.SubElement(info, _NS + "effective").text = cap_time(occurred, zone)
        etree.SubElement(info, _NS + "expires").text = cap_time(sent + options.expires_after, zone)
        for name, text in (
            ("senderName", _SENDER_NAMES[language]),
            ("headline", headline),
            ("description", description),
            ("instruction", instruction),
        ):
            etree.SubElement(info, _NS + name).text = text
        for name, value in parameters:
            _pair(info, "parameter", name, value)
        _add_area(info, district)
    return bytes(etree.tostring(alert, xml_declaration=True, encoding="UTF-8", pretty_print=True))


# --- reading and validating --------------------------------------------------------


def safe_parser() -> etree.XMLParser:
    """An lxml parser that resolves no entity, loads no DTD and reaches no network."""
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


@functools.cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.fromstring(loader.cap_schema(), safe_parser()))


def validate_cap(xml_bytes: bytes) -> etree._Element:
    """The document's root if it is a CAP 1.2 alert the official schema accepts, else
    ``CapInvalid`` naming the line and what is wrong."""
    try:
        root = etree.fromstring(xml_bytes, safe_parser())
    except etree.XMLSyntaxError as error:
        raise CapInvalid(f"not well-formed XML: {error}") from error
    if root.getroottree().docinfo.doctype:
        # CAP has no DTD: a DOCTYPE can only bring entities, which are not taken in.
        raise CapInvalid("a CAP document has no DOCTYPE: entity declarations are refused")
    schema = _schema()
    try:
        valid = schema.validate(root)
    except etree.XMLSchemaValidateError as error:
        raise CapInvalid(f"not a valid CAP 1.2 alert: {error}") from error
    if not valid:
        problems = "; ".join(f"line {e.line}: {e.message}" for e in list(schema.error_log)[:5])
        raise CapInvalid(f"not a valid CAP 1.2 alert: {problems}")
    return root


def cap_parameters(root: etree._Element) -> dict[str, str]:
    """The ``parameter`` pairs of a validated document's first ``info``."""
    info = root.find(_NS + "info")
    if info is None:
        return {}
    found: dict[str, str] = {}
    for parameter in info.iterfind(_NS + "parameter"):
        name = parameter.findtext(_NS + "valueName") or ""
        found[name] = parameter.findtext(_NS + "value") or ""
    return found


def cap_field(root: etree._Element, tag: str) -> str:
    """The text of a top-level element of an alert ('' when absent)."""
    return root.findtext(_NS + tag) or ""


def cap_headline(root: etree._Element, language: str = "en-US") -> str:
    """The headline of the ``info`` in ``language`` (else the first one's)."""
    infos = root.findall(_NS + "info")
    for info in infos:
        if info.findtext(_NS + "language") == language:
            return info.findtext(_NS + "headline") or ""
    return (infos[0].findtext(_NS + "headline") or "") if infos else ""
