"""Alert events and the signed feed entries they become, for the CAP tests.

The entries are made as ``services.feed.FeedWriter`` makes them: the event
disclosed to the agency's view, encoded with its feed position by
``wire.feed.entry_payload``, signed over DSSE's PAE by a real Ed25519 key.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from exchange_service.domain import alerts
from exchange_service.domain.agencies import DataView
from exchange_service.domain.disclosure import disclose
from exchange_service.domain.feed import PAYLOAD_TYPE, ZERO_HASH, FeedEntry, entry_hash, pae
from exchange_service.signing.keyset import Signer
from exchange_service.wire.feed import entry_payload

PEMKAB = "pemkab-anambas"
POLRES = "polres-anambas"
ALERT_ID = uuid.UUID("0c6f1d2e-3a4b-4c5d-8e9f-a0b1c2d3e4f5")
PERSON_ID = uuid.UUID("5a1b2c3d-4e5f-4a6b-9c8d-7e6f5a4b3c2d")
STAY_ID = uuid.UUID("6b2c3d4e-5f6a-4b7c-8d9e-0f1a2b3c4d5e")
# A registered home and two far sightings: their coordinates must never reach the DISTRICT view.
HOME = (3.21347, 106.22181)
FAR = ((3.34411, 106.31122), (3.34509, 106.30987))

OVERSTAY_EVIDENCE: dict[str, object] = {
    "person_name": "TAN Wei Ming",
    "nationality": "MYS",
    "permit_number": "VISIT-2026-0001",
    "permit_type": "VISIT",
    "last_valid_day": "2026-10-26",
    "sponsor": "PT Tarempa Marine",
    "days_over": 37,
    "fee_per_day_idr": 1_000_000,
    "fee_accrued_idr": 37_000_000,
    "deportation_after_days": 60,
    "registered_address": {
        "line": "Jl. Hang Tuah No. 7, Tarempa",
        "latitude": HOME[0],
        "longitude": HOME[1],
        "district_code": "21.05.01",
    },
    "far_sightings": [
        {"latitude": lat, "longitude": lon, "place_name": "Wisma Matak", "distance_meters": 15000}
        for lat, lon in FAR
    ],
}

_KINDS = {
    alerts.AlertEventKind.OPENED: (alerts.Severity.HIGH, alerts.AlertStatus.OPEN, None),
    alerts.AlertEventKind.UPDATED: (alerts.Severity.HIGH, alerts.AlertStatus.OPEN, None),
    alerts.AlertEventKind.ESCALATED: (alerts.Severity.CRITICAL, alerts.AlertStatus.OPEN, None),
    alerts.AlertEventKind.REVIEWED: (alerts.Severity.CRITICAL, alerts.AlertStatus.CONFIRMED, None),
    alerts.AlertEventKind.RESOLVED: (
        alerts.Severity.CRITICAL,
        alerts.AlertStatus.RESOLVED,
        alerts.ResolutionReason.DEPARTED,
    ),
}


def alert_event(
    kind: alerts.AlertEventKind,
    seq: int,
    at: datetime,
    *,
    alert_id: uuid.UUID = ALERT_ID,
    rule: alerts.RuleName = alerts.RuleName.OVERSTAY,
    district_code: str = "21.05.01",
    evidence: dict[str, object] | None = None,
) -> alerts.AlertEvent:
    """An event of an overstay alert (by default) of a person living in Siantan."""
    severity, status, reason = _KINDS[kind]
    return alerts.AlertEvent(
        seq=seq,
        alert_id=alert_id,
        kind=kind,
        rule=rule,
        subject_kind=alerts.SubjectKind.PERSON,
        subject_id=str(PERSON_ID),
        stay_id=STAY_ID,
        severity=severity,
        status=status,
        district_code=district_code,
        village_code=district_code + ".2003" if district_code else "",
        evidence=OVERSTAY_EVIDENCE if evidence is None else evidence,
        summary_id="TAN Wei Ming (MYS) melampaui izin tinggal selama 37 hari: izin VISIT nomor"
        " VISIT-2026-0001 berlaku sampai 26 Oktober 2026.",
        summary_en="TAN Wei Ming (MYS) has overstayed by 37 days: VISIT permit VISIT-2026-0001"
        " was valid until 26 October 2026.",
        action=alerts.AdministrativeAction.DEPORTATION_AND_ENTRY_BAN
        if severity is alerts.Severity.CRITICAL
        else alerts.AdministrativeAction.OVERSTAY_FEE,
        resolution_reason=reason,
        actor_id="rules",
        actor_kind="SYSTEM",
        officer="",
        note="",
        rule_run_id=uuid.uuid4(),
        occurred_at=at,
        recorded_at=at,
    )


def entries(
    events: Sequence[alerts.AlertEvent],
    signer: Signer,
    signed_at: datetime,
    *,
    agency_id: str = PEMKAB,
    view: DataView = DataView.DISTRICT,
) -> list[FeedEntry]:
    """The events as consecutive entries 1, 2, ... of the agency's feed."""
    made: list[FeedEntry] = []
    previous = ZERO_HASH
    for sequence, event in enumerate(events, start=1):
        at = signed_at + timedelta(seconds=sequence)
        payload = entry_payload(
            disclose(event, view),
            agency_id=agency_id,
            sequence=sequence,
            previous_hash=previous,
            signed_at=at,
        )
        made.append(
            FeedEntry(
                agency_id=agency_id,
                sequence=sequence,
                event_seq=event.seq,
                payload=payload,
                payload_type=PAYLOAD_TYPE,
                key_id=signer.key_id,
                signature=signer.sign(pae(PAYLOAD_TYPE, payload)),
                previous_hash=previous,
                signed_at=at,
            )
        )
        previous = entry_hash(payload)
    return made


def lifecycle(at: datetime) -> list[alerts.AlertEvent]:
    """One alert opened, updated, escalated, reviewed and resolved, and a second alert opened."""
    kinds = [
        alerts.AlertEventKind.OPENED,
        alerts.AlertEventKind.UPDATED,
        alerts.AlertEventKind.ESCALATED,
        alerts.AlertEventKind.REVIEWED,
        alerts.AlertEventKind.RESOLVED,
    ]
    events = [alert_event(kind, 100 + i, at + timedelta(hours=i)) for i, kind in enumerate(kinds)]
    other = alert_event(
        alerts.AlertEventKind.OPENED,
        200,
        at,
        alert_id=uuid.UUID("1d7e2f3a-4b5c-4d6e-9f0a-b1c2d3e4f5a6"),
        rule=alerts.RuleName.PERMIT_EXPIRING,
        district_code="21.05.06",
        evidence={
            "person_name": "Lars Olsen",
            "nationality": "NOR",
            "permit_type": "VOA",
            "last_valid_day": "2026-12-09",
            "days_left": 7,
            "within_days": 14,
        },
    )
    return [*events, dataclasses.replace(other, severity=alerts.Severity.WARNING)]
