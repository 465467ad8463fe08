"""The hash chain, checkpoints, verification and the export format, without a database."""

from __future__ import annotations

import copy
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from exchange_service.audit.chain import (
    GENESIS,
    GENESIS_HASH,
    AuditRecord,
    ChainHead,
    Checkpoint,
    build_record,
    canonical,
    checkpoint_valid,
    format_time,
    key_id,
    parse_time,
    sign_checkpoint,
    verify_chain,
)
from exchange_service.audit.export import build_export, verify_export

T0 = datetime(2026, 11, 30, 1, 2, 3, 456789, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
PUBLIC = KEY.public_key()


def record_after(head: ChainHead, n: int, **changes: Any) -> AuditRecord:
    fields: dict[str, Any] = {
        "at": T0 + timedelta(seconds=n),
        "agency_id": "polres-anambas",
        "agency_kind": "POLICE",
        "officer": "Bripka Andi",
        "purpose": "LP/123/XI/2026",
        "method": "/pantau.v1.QueryService/GetPerson",
        "person_ids": [f"00000000-0000-4000-8000-{n:012d}"],
        "status": "OK",
        "request_digest": "ab" * 32,
    }
    fields.update(changes)
    return build_record(head, **fields)


def chain(n: int, every: int = 10) -> tuple[list[AuditRecord], list[Checkpoint]]:
    records: list[AuditRecord] = []
    checkpoints: list[Checkpoint] = []
    head = GENESIS
    for i in range(1, n + 1):
        record = record_after(head, i)
        records.append(record)
        head = record.head
        if i % every == 0 or i == n:
            checkpoints.append(sign_checkpoint(KEY, head, record.at))
    return records, checkpoints


def kinds(records: list[AuditRecord], checkpoints: list[Checkpoint]) -> set[tuple[int | None, str]]:
    report = verify_chain(records, checkpoints, PUBLIC)
    return {(p.seq, p.kind) for p in report.problems}


def test_encoding_is_stable() -> None:
    record = record_after(GENESIS, 1)
    assert record.seq == 1
    assert record.prev_hash == GENESIS_HASH == "0" * 64
    assert canonical(record.content()) == (
        b'{"agency_id":"polres-anambas","agency_kind":"POLICE",'
        b'"at":"2026-11-30T01:02:04.456789Z","method":"/pantau.v1.QueryService/GetPerson",'
        b'"officer":"Bripka Andi","person_ids":["00000000-0000-4000-8000-000000000001"],'
        b'"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
        b'"purpose":"LP/123/XI/2026","request_digest":"' + b"ab" * 32 + b'","seq":1,"status":"OK"}'
    )
    # A golden value: changing the encoding breaks every trail already written.
    assert record.hash == "128d2a55e2b145522818cb14c478e70e8d47cd801521eceb1c57055549af53ae"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "plain",
        'quote " and \\ backslash',
        "tab\tnew\nline\x00nul\x1f",
        "é \u2013 日本 😀",
        "\ud800",
    ],
)
def test_the_fast_record_hash_is_the_canonical_one(text: str) -> None:
    record = record_after(GENESIS, 7, officer=text, purpose=text[::-1], person_ids=[text, "b"])
    assert record.hash == hashlib.sha256(canonical(record.content())).hexdigest()
    assert record.computed_hash() == record.hash
    document = json.dumps(record.content(), sort_keys=True, separators=(",", ":"))
    assert canonical(record.content()) == document.encode("ascii")


def test_person_ids_are_sorted_and_distinct() -> None:
    record = record_after(GENESIS, 1, person_ids=["b", "a", "b"])
    assert record.person_ids == ("a", "b")


def test_records_round_trip_through_json() -> None:
    record = record_after(GENESIS, 1, officer="Ibu Sri Wahyuni \u2013 Tarempa")
    again = AuditRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert again == record
    assert again.computed_hash() == record.hash
    with pytest.raises(ValueError, match="exactly the fields"):
        AuditRecord.from_json({**record.to_json(), "extra": 1})
    with pytest.raises(ValueError, match="seq must be an integer"):
        AuditRecord.from_json({**record.to_json(), "seq": "1"})


def test_times_have_one_spelling() -> None:
    assert format_time(T0) == "2026-11-30T01:02:03.456789Z"
    assert parse_time("2026-11-30T01:02:03.456789Z") == T0
    for other in ("2026-11-30T01:02:03Z", "2026-11-30T01:02:03.456789+00:00", "2026-11-30"):
        with pytest.raises(ValueError, match="not an audit time"):
            parse_time(other)
    with pytest.raises(ValueError, match="timezone-aware"):
        format_time(T0.replace(tzinfo=None))


def test_checkpoints_are_signed_by_the_named_key() -> None:
    checkpoint = sign_checkpoint(KEY, ChainHead(5, "cd" * 32), T0)
    assert checkpoint.key_id == key_id(PUBLIC)
    assert len(checkpoint.key_id) == 16
    assert checkpoint_valid(checkpoint, PUBLIC)
    assert not checkpoint_valid(replace(checkpoint, seq=6), PUBLIC)
    assert not checkpoint_valid(replace(checkpoint, head="ce" * 32), PUBLIC)
    assert not checkpoint_valid(checkpoint, Ed25519PrivateKey.generate().public_key())
    assert Checkpoint.from_json(json.loads(json.dumps(checkpoint.to_json()))) == checkpoint


def test_an_intact_chain_verifies() -> None:
    records, checkpoints = chain(35)
    report = verify_chain(records, checkpoints, PUBLIC)
    assert report.ok, report.problems
    assert (report.records, report.first_seq, report.last_seq) == (35, 1, 35)
    assert report.signed_through == 35
    assert report.notes == []


def test_an_unsigned_tail_is_a_note_not_a_problem() -> None:
    records, checkpoints = chain(35)
    report = verify_chain(records, checkpoints[:-1], PUBLIC)
    assert report.ok
    assert [(n.seq, n.kind) for n in report.notes] == [(31, "unsigned-tail")]
    assert "seq 31 to 35" in report.notes[0].message


def test_an_edited_record_is_named() -> None:
    records, checkpoints = chain(35)
    records[16] = replace(records[16], officer="someone else")
    report = verify_chain(records, checkpoints, PUBLIC)
    assert [(p.seq, p.kind) for p in report.problems] == [(17, "edited")]
    assert report.problems[0].message.startswith("record seq 17 edited")


def test_an_edit_with_a_recomputed_hash_breaks_the_next_link() -> None:
    records, checkpoints = chain(35)
    forged = replace(records[16], purpose="nothing to see")
    records[16] = replace(forged, hash=forged.computed_hash())
    assert kinds(records, checkpoints) == {(18, "link")}


def test_a_rewritten_tail_is_caught_by_the_checkpoint() -> None:
    records, checkpoints = chain(35)
    head = records[15].head
    for i in range(16, 35):
        records[i] = record_after(head, i + 1, officer="rewritten")
        head = records[i].head
    assert kinds(records, checkpoints) == {
        (20, "checkpoint-mismatch"),
        (30, "checkpoint-mismatch"),
        (35, "checkpoint-mismatch"),
    }


def test_a_deleted_record_is_located() -> None:
    records, checkpoints = chain(35)
    del records[11]
    found = kinds(records, checkpoints)
    assert found == {(13, "gap"), (13, "link")}
    report = verify_chain(records, checkpoints, PUBLIC)
    assert "between seq 11 and seq 13" in report.problems[0].message


def test_a_deleted_signed_record_is_reported_missing() -> None:
    records, checkpoints = chain(35)
    del records[19]
    assert kinds(records, checkpoints) == {(21, "gap"), (21, "link"), (20, "missing")}


def test_an_inserted_record_is_located() -> None:
    records, checkpoints = chain(35)
    forged = record_after(records[9].head, 11, officer="forger")
    records.insert(10, forged)  # a second seq 11
    assert kinds(records, checkpoints) == {(11, "duplicate"), (11, "link")}


def test_truncation_below_a_checkpoint_is_a_problem() -> None:
    records, checkpoints = chain(35)
    report = verify_chain(records[:27], checkpoints, PUBLIC)
    assert [(p.seq, p.kind) for p in report.problems] == [(27, "truncated")]
    assert report.problems[0].message == "truncated after seq 27; checkpoint covers 35"


def test_an_emptied_trail_is_a_truncation() -> None:
    _records, checkpoints = chain(35)
    report = verify_chain([], checkpoints, PUBLIC)
    assert report.problems[-1].message == "truncated after seq 0; checkpoint covers 35"


def test_forged_or_foreign_checkpoints_are_problems() -> None:
    records, checkpoints = chain(35)
    checkpoints[1] = replace(checkpoints[1], head=records[18].hash)
    other = Ed25519PrivateKey.generate()
    checkpoints[2] = sign_checkpoint(other, records[29].head, T0)
    assert kinds(records, checkpoints) == {(20, "checkpoint-signature"), (30, "checkpoint-key")}


def test_a_slice_verifies_from_a_signed_anchor_only() -> None:
    records, checkpoints = chain(35)
    anchor = records[9].head
    report = verify_chain(records[10:], checkpoints, PUBLIC, anchor=anchor)
    assert report.ok, report.problems
    report = verify_chain(records[11:], checkpoints, PUBLIC, anchor=records[10].head)
    assert [(p.seq, p.kind) for p in report.problems] == [(11, "anchor")]
    report = verify_chain(records[11:], checkpoints, PUBLIC, anchor=anchor)
    assert {(p.seq, p.kind) for p in report.problems} == {(12, "gap"), (12, "link")}


# --- the export format ---------------------------------------------------------------------


def export_of(records: list[AuditRecord], checkpoints: list[Checkpoint]) -> dict[str, Any]:
    """Records 14 to 22 asked for: anchored at checkpoint 10, ending at checkpoint 30."""
    return build_export(
        records[10:30],
        [c for c in checkpoints if 10 <= c.seq <= 30],
        anchor=records[9].head,
        start=records[13].at,
        end=records[21].at,
        exported_at=T0 + timedelta(days=1),
        private_key=KEY,
    )


def test_an_export_verifies_offline() -> None:
    document = export_of(*chain(35))
    manifest = document["manifest"]
    assert (manifest["first_seq"], manifest["last_seq"]) == (14, 22)
    assert (manifest["anchor_seq"], manifest["end_seq"], manifest["record_count"]) == (10, 30, 20)
    report = verify_export(json.loads(json.dumps(document)), PUBLIC)
    assert report.ok, report.problems
    assert report.notes == []


def _tampered(document: dict[str, Any], how: str) -> dict[str, Any]:
    changed = copy.deepcopy(document)
    records = changed["records"]
    if how == "edit":
        records[5]["officer"] = "someone else"
    elif how == "edit-rehashed":
        record = AuditRecord.from_json(records[5])
        forged = replace(record, purpose="nothing")
        records[5] = replace(forged, hash=forged.computed_hash()).to_json()
    elif how == "delete":
        del records[5]
    elif how == "delete-first":
        del records[0]
    elif how == "insert":
        records.insert(5, dict(records[5], officer="forger"))
    elif how == "truncate":
        del records[15:]
        changed["checkpoints"] = changed["checkpoints"][:1]
    elif how == "manifest":
        changed["manifest"]["last_seq"] = 21
    elif how == "checkpoint":
        del changed["checkpoints"][-1]
    elif how == "foreign-key":
        return export_of_with(Ed25519PrivateKey.generate())
    return changed


def export_of_with(key: Ed25519PrivateKey) -> dict[str, Any]:
    records, _ = chain(35)
    return build_export(
        records,
        [],
        anchor=GENESIS,
        start=T0,
        end=T0 + timedelta(days=1),
        exported_at=T0,
        private_key=key,
    )


@pytest.mark.parametrize(
    "how",
    [
        "edit",
        "edit-rehashed",
        "delete",
        "delete-first",
        "insert",
        "truncate",
        "manifest",
        "checkpoint",
        "foreign-key",
    ],
)
def test_a_tampered_export_fails(how: str) -> None:
    document = export_of(*chain(35))
    report = verify_export(_tampered(document, how), PUBLIC)
    assert not report.ok, how


def test_garbage_is_not_an_export() -> None:
    assert not verify_export({"format": "something"}, PUBLIC).ok
    assert not verify_export([], PUBLIC).ok
    document = export_of(*chain(35))
    document["records"][3] = {"seq": 14}
    report = verify_export(document, PUBLIC)
    assert any(p.kind == "malformed" for p in report.problems)
