"""An export of part of the audit trail that an auditor verifies offline with the public key.

Pure: builds and verifies the JSON document; reading the trail and writing
the file are in ``commands``. The document::

    {"format": "pantau-audit-export/1",
     "manifest": {...}, "manifest_signature": "<base64 Ed25519>",
     "checkpoints": [<checkpoint>, ...], "records": [<record>, ...]}

The records are a contiguous stretch of the chain: they start right after a
signed checkpoint (``anchor_seq``, whose head is ``anchor_prev_hash``; or at the
start of the chain, anchor 0 and 64 zeros) and run to the first checkpoint at
or after the last record asked for (``end_seq``), so that every record asked
for is vouched for by a signature made when it was written. Records outside
[``from``, ``to``] that this needs are included; ``first_seq`` and
``last_seq`` name the ones inside.

Two signatures protect it. The checkpoints, made when the records were
written, reveal changes made in the database before the export. The manifest
signature, made at export time over the anchor, the end, the counts and the
range, reveals changes to the file afterwards: edited, deleted, inserted or
truncated records, or checkpoints removed.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from exchange_service.audit.chain import (
    AuditRecord,
    ChainHead,
    Checkpoint,
    Keyring,
    VerificationReport,
    canonical,
    format_time,
    is_hex64,
    key_id,
    parse_time,
    signature_valid,
    verify_chain,
)

FORMAT = "pantau-audit-export/1"
MANIFEST_FIELDS = (
    "format",
    "key_id",
    "from",
    "to",
    "exported_at",
    "anchor_seq",
    "anchor_prev_hash",
    "first_seq",
    "last_seq",
    "end_seq",
    "end_hash",
    "record_count",
    "checkpoint_count",
)


def build_export(
    records: Sequence[AuditRecord],
    checkpoints: Iterable[Checkpoint],
    *,
    anchor: ChainHead,
    start: datetime,
    end: datetime,
    exported_at: datetime,
    private_key: Ed25519PrivateKey,
) -> dict[str, Any]:
    """The export document of ``records`` (contiguous, in seq order, right after ``anchor``)."""
    inside = [r.seq for r in records if start <= r.at <= end]
    listed = sorted(set(checkpoints), key=lambda c: (c.seq, c.signature))
    last = records[-1].head if records else anchor
    manifest = {
        "format": FORMAT,
        "key_id": key_id(private_key.public_key()),
        "from": format_time(start),
        "to": format_time(end),
        "exported_at": format_time(exported_at),
        "anchor_seq": anchor.seq,
        "anchor_prev_hash": anchor.hash,
        "first_seq": min(inside, default=None),
        "last_seq": max(inside, default=None),
        "end_seq": last.seq,
        "end_hash": last.hash,
        "record_count": len(records),
        "checkpoint_count": len(listed),
    }
    signature = private_key.sign(canonical(manifest))
    return {
        "format": FORMAT,
        "manifest": manifest,
        "manifest_signature": base64.b64encode(signature).decode("ascii"),
        "checkpoints": [c.to_json() for c in listed],
        "records": [r.to_json() for r in records],
    }


def _int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _manifest_problem(manifest: object) -> str | None:
    if not isinstance(manifest, Mapping) or set(manifest) != set(MANIFEST_FIELDS):
        return "the manifest needs exactly the fields " + ", ".join(MANIFEST_FIELDS)
    for name in ("anchor_seq", "end_seq", "record_count", "checkpoint_count"):
        if not _int(manifest[name]):
            return f"manifest field {name} must be an integer"
    for name in ("first_seq", "last_seq"):
        if manifest[name] is not None and not _int(manifest[name]):
            return f"manifest field {name} must be an integer or null"
    for name in ("anchor_prev_hash", "end_hash"):
        if not is_hex64(manifest[name]):
            return f"manifest field {name} must be 64 hex digits"
    for name in ("from", "to", "exported_at"):
        try:
            parse_time(manifest[name])
        except ValueError:
            return f"manifest field {name} must be an audit time"
    if not isinstance(manifest["key_id"], str):
        return "manifest field key_id must be a string"
    return None


def verify_export(document: object, keys: Ed25519PublicKey | Keyring) -> VerificationReport:
    """Verifies an export document with nothing but the public key (or keys, after rotations).

    Guarantees: ``ok`` only if the manifest is signed by the key, the records
    are exactly those it describes (count, anchor, end, range), they form an
    unbroken chain from the anchor, the anchor is the start of the chain or a
    validly signed checkpoint, and every checkpoint in it is valid and matches
    its record. Records asked for but not covered by a write-time checkpoint
    are noted (unsigned tail), not failed.
    """
    report = VerificationReport()
    if not isinstance(document, Mapping) or document.get("format") != FORMAT:
        report.problem(None, "malformed", f"not a {FORMAT} document")
        return report
    manifest = document.get("manifest")
    problem = _manifest_problem(manifest)
    if problem is not None or not isinstance(manifest, Mapping):
        report.problem(None, "malformed", problem or "no manifest")
        return report
    raw_records = document.get("records")
    raw_checkpoints = document.get("checkpoints")
    signature = document.get("manifest_signature")
    if not isinstance(raw_records, list) or not isinstance(raw_checkpoints, list):
        report.problem(None, "malformed", "records and checkpoints must be lists")
        return report
    keyring = Keyring.of(keys)
    signer = keyring.signer(manifest["key_id"])
    if signer is None:
        report.problem(
            None,
            "export-key",
            f"the export was signed by key {manifest['key_id']!r},"
            f" not by {', '.join(key_id(k) for k in keyring.current) or 'a current key'}",
        )
    elif not isinstance(signature, str) or not signature_valid(
        signer, canonical(dict(manifest)), signature
    ):
        report.problem(
            None,
            "export-signature",
            "the manifest's signature is bad: the manifest was altered after the export",
        )

    records: list[AuditRecord] = []
    for index, raw in enumerate(raw_records):
        try:
            records.append(AuditRecord.from_json(raw))
        except ValueError as error:
            report.problem(None, "malformed", f"records[{index}] is not a record ({error})")
    checkpoints: list[Checkpoint] = []
    for index, raw in enumerate(raw_checkpoints):
        try:
            checkpoints.append(Checkpoint.from_json(raw))
        except ValueError as error:
            report.problem(None, "malformed", f"checkpoints[{index}] is not a checkpoint ({error})")

    if len(raw_records) != manifest["record_count"]:
        report.problem(
            None,
            "export-count",
            f"the export holds {len(raw_records)} records, its manifest says"
            f" {manifest['record_count']}: records were added or removed",
        )
    if len(raw_checkpoints) != manifest["checkpoint_count"]:
        report.problem(
            None,
            "export-count",
            f"the export holds {len(raw_checkpoints)} checkpoints, its manifest says"
            f" {manifest['checkpoint_count']}: checkpoints were added or removed",
        )
    ordered = sorted(records, key=lambda r: r.seq)
    end = (
        ordered[-1].head
        if ordered
        else ChainHead(manifest["anchor_seq"], manifest["anchor_prev_hash"])
    )
    if end != (manifest["end_seq"], manifest["end_hash"]):
        report.problem(
            end.seq,
            "export-end",
            f"the export ends at seq {end.seq} with hash {end.hash[:12]}..., its manifest says"
            f" seq {manifest['end_seq']} with hash {manifest['end_hash'][:12]}...:"
            " records were removed from or added to its end, or the last one was edited",
        )
    start, stop = parse_time(manifest["from"]), parse_time(manifest["to"])
    first, last = manifest["first_seq"], manifest["last_seq"]
    for record in ordered:
        asked = first is not None and last is not None and first <= record.seq <= last
        if asked != (start <= record.at <= stop):
            report.problem(
                record.seq,
                "export-range",
                f"record seq {record.seq} is {'' if asked else 'not '}listed as inside the"
                f" exported period but its time says otherwise",
            )

    chain = verify_chain(
        records,
        checkpoints,
        keyring,
        anchor=ChainHead(manifest["anchor_seq"], manifest["anchor_prev_hash"]),
    )
    report.merge(chain)
    report.records = chain.records
    report.first_seq, report.last_seq = chain.first_seq, chain.last_seq
    report.checkpoints = chain.checkpoints
    report.signed_through = chain.signed_through
    return report
