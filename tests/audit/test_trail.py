"""The audit trail in PostgreSQL: writing, checkpoints, and detection of every kind of tampering."""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import threading
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from sqlalchemy.exc import DBAPIError

from exchange_service.api.audit import call_event
from exchange_service.audit import store
from exchange_service.audit import verify as verification
from exchange_service.audit.chain import (
    AuditRecord,
    ChainHead,
    Problem,
    VerificationReport,
    build_record,
)
from exchange_service.audit.log import AuditLog, AuditLogOptions, AuditUnavailable, open_audit_log
from exchange_service.cli import audit as commands
from exchange_service.domain.call import CallRecord
from exchange_service.settings import Settings
from exchange_service.signing.files import ensure_private_key, load_private_key, load_public_key
from tests.clock import TestClock

RECORDS = 300
EVERY = 50
TRIALS = int(os.environ.get("AUDIT_TRIALS", "1000"))
STATUSES = ("OK", "INVALID_ARGUMENT", "NOT_FOUND", "PERMISSION_DENIED", "UNAUTHENTICATED")
AGENCIES = (
    ("kanim-tarempa", "IMMIGRATION"),
    ("polres-anambas", "POLICE"),
    ("pemkab-anambas", "LOCAL_GOVERNMENT"),
)
METHODS = (
    "/pantau.v1.QueryService/GetPerson",
    "/pantau.v1.QueryService/SearchPersons",
    "/pantau.v1.RegistryService/RecordSighting",
)


def _hex(rng: random.Random) -> str:
    return f"{rng.getrandbits(256):064x}"


def _person(rng: random.Random) -> str:
    return f"{rng.getrandbits(32):08x}-0000-4000-8000-{rng.getrandbits(48):012x}"


def write_calls(audit_log: AuditLog, count: int, seed: int = 7, threads: int = 4) -> None:
    """``count`` calls recorded from several threads at once, like gRPC workers."""

    def work(worker: int) -> None:
        rng = random.Random(seed * 100 + worker)
        for _ in range(count // threads):
            agency, kind = rng.choice(AGENCIES)
            call = CallRecord(
                method=rng.choice(METHODS),
                agency_id=agency,
                agency_kind=kind,
                officer=rng.choice(("Bripka Andi", "Ibu Sri Wahyuni", "")),
                purpose=rng.choice(("LP/123/XI/2026", "ND/IMI.4/2026", "")),
            )
            ids = [_person(rng) for _ in range(rng.randrange(4))]
            audit_log.record(call_event(call, ids, rng.choice(STATUSES), _hex(rng)))

    workers = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


@pytest.fixture
def written(audit_settings: Settings, clock: TestClock) -> Settings:
    """A trail of 300 records, checkpointed every 50, closed cleanly, written at the clock's now."""
    audit_log = open_audit_log(audit_settings, clock=clock.now)
    write_calls(audit_log, RECORDS)
    audit_log.close()
    return audit_settings


def _verify(settings: Settings, connection: Connection) -> VerificationReport:
    """What `pantau audit verify` does, on the given connection (and transaction)."""
    public_key = load_public_key(Path(f"{settings.audit_signing_key_file}.pub"))
    file_checkpoints, file_report = verification.read_file_checkpoints(
        settings.audit_checkpoint_file
    )
    return verification.verify_database(connection, public_key, file_checkpoints, file_report)


def test_records_and_checkpoints_reach_the_database_and_the_file(
    written: Settings, audit_engine: Engine
) -> None:
    with audit_engine.connect() as connection:
        records = list(store.iter_records(connection))
        checkpoints = store.load_checkpoints(connection)
    assert [r.seq for r in records] == list(range(1, RECORDS + 1))
    assert [c.seq for c in checkpoints] == list(range(EVERY, RECORDS + 1, EVERY))
    in_file, problems = store.read_checkpoint_file(written.audit_checkpoint_file)
    assert in_file == checkpoints
    assert problems == []
    assert all(records[i].at <= records[i + 1].at for i in range(len(records) - 1))
    out = io.StringIO()
    assert commands.verify(written, out=out) == 0, out.getvalue()
    assert out.getvalue().startswith("OK: audit trail")
    assert f"{RECORDS} records (seq 1 to {RECORDS})" in out.getvalue()


def test_the_key_is_private_and_its_public_half_beside_it(written: Settings) -> None:
    key_file = written.audit_signing_key_file
    assert key_file.stat().st_mode & 0o777 == 0o600
    assert ensure_private_key(key_file) == Path(f"{key_file}.pub")
    public = load_public_key(Path(f"{key_file}.pub"))
    assert public == load_private_key(key_file).public_key()


def test_a_restarted_log_continues_the_chain(written: Settings, audit_engine: Engine) -> None:
    audit_log = open_audit_log(written)
    assert audit_log.head.seq == RECORDS
    record = audit_log.record(
        call_event(CallRecord(method="/pantau.v1.QueryService/GetPerson"), [], "OK", "0" * 64)
    )
    assert record.seq == RECORDS + 1
    assert audit_log.flush()
    audit_log.close()
    out = io.StringIO()
    assert commands.verify(written, out=out) == 0, out.getvalue()
    with audit_engine.connect() as connection:
        assert store.last_checkpoint(connection) is not None
        assert store.last_checkpoint(connection).seq == RECORDS + 1  # type: ignore[union-attr]


def test_records_are_signed_every_m_seconds_too(
    audit_settings: Settings, audit_engine: Engine
) -> None:
    settings = audit_settings.model_copy(update={"audit_checkpoint_every_seconds": 0.2})
    audit_log = open_audit_log(settings)
    try:
        audit_log.record(
            call_event(CallRecord(method="/pantau.v1.QueryService/GetPerson"), [], "OK", "0" * 64)
        )
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            with audit_engine.connect() as connection:
                if store.last_checkpoint(connection) is not None:
                    break
            time.sleep(0.05)
        with audit_engine.connect() as connection:
            checkpoint = store.last_checkpoint(connection)
        assert checkpoint is not None
        assert checkpoint.seq == 1
    finally:
        audit_log.close()


def test_one_process_writes_a_trail(written: Settings) -> None:
    first = open_audit_log(written)
    try:
        with pytest.raises(AuditUnavailable, match="another process"):
            open_audit_log(written)
    finally:
        first.close()
    with pytest.raises(AuditUnavailable, match="closed"):
        first.record(
            call_event(CallRecord(method="/pantau.v1.QueryService/GetPerson"), [], "OK", "0" * 64)
        )


def test_a_nul_in_a_request_does_not_jam_the_writer(
    audit_settings: Settings, audit_engine: Engine
) -> None:
    audit_log = open_audit_log(audit_settings)
    try:
        call = CallRecord(method="/pantau.v1.QueryService/GetPerson", officer="a\x00b")
        audit_log.record(call_event(call, ["id\x00"], "INVALID_ARGUMENT", "0" * 64))
        assert audit_log.flush(timeout=5)
    finally:
        audit_log.close()
    with audit_engine.connect() as connection:
        (record,) = store.iter_records(connection)
    assert (record.officer, record.person_ids) == ("a\ufffdb", ("id\ufffd",))
    assert record.computed_hash() == record.hash


def test_the_writer_reconnects_after_losing_its_session(
    written: Settings, audit_engine: Engine
) -> None:
    audit_log = open_audit_log(written)
    try:
        with audit_engine.begin() as connection:
            killed = connection.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE application_name = 'pantau-audit' AND pid <> pg_backend_pid()"
                    " AND datname = current_database()"
                )
            ).scalar_one()
        assert killed == 1
        write_calls(audit_log, 40, seed=11)
        assert audit_log.flush(timeout=20)
        assert audit_log.accepting
    finally:
        audit_log.close()
    out = io.StringIO()
    assert commands.verify(written, out=out) == 0, out.getvalue()
    assert f"{RECORDS + 40} records" in out.getvalue()


def test_flush_waits_for_the_database(audit_settings: Settings, audit_engine: Engine) -> None:
    options = AuditLogOptions(flush_interval=5.0)  # only a flush (or a full batch) writes
    audit_log = open_audit_log(audit_settings, options)
    try:
        for _ in range(3):
            audit_log.record(
                call_event(
                    CallRecord(method="/pantau.v1.QueryService/GetPerson"), [], "OK", "0" * 64
                )
            )
        assert audit_log.flush(timeout=5)
        with audit_engine.connect() as connection:
            assert store.last_record(connection) is not None
            assert store.last_record(connection).seq == 3  # type: ignore[union-attr]
    finally:
        audit_log.close()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_records SET officer = 'x' WHERE seq = 1",
        "DELETE FROM audit_records WHERE seq = 1",
        "TRUNCATE audit_records",
        "DELETE FROM audit_checkpoints",
        "UPDATE audit_checkpoints SET head = head",
    ],
)
def test_the_tables_are_append_only(
    written: Settings, audit_engine: Engine, statement: str
) -> None:
    with audit_engine.connect() as connection:
        with pytest.raises(DBAPIError, match="append-only"):
            connection.execute(text(statement))
        connection.rollback()


# --- tampering ------------------------------------------------------------------------


class Tamperer:
    """Changes the trail the way someone with write access to the database could.

    Each change returns the seqs a report must name (any one of them).
    """

    def __init__(self, connection: Connection, records: list[AuditRecord], rng: random.Random):
        self.c = connection
        self.records = records
        self.rng = rng
        self.last = records[-1].seq

    def _set(self, seq: int, column: str, value: object) -> None:
        self.c.execute(
            text(f"UPDATE audit_records SET {column} = :value WHERE seq = :seq"),
            {"value": value, "seq": seq},
        )

    def edit(self) -> set[int]:
        rng = self.rng
        record = rng.choice(self.records)
        seq = record.seq
        column = rng.choice(store.records_table.c.keys())
        if column == "seq":
            moved = self.last + rng.randrange(1, 50)
            self._set(seq, "seq", moved)
            return {seq, seq + 1, moved}
        if column == "at":
            shift = timedelta(microseconds=rng.choice((1, -1)) * rng.randrange(1, 10**9))
            self._set(seq, "at", record.at + shift)
        elif column == "person_ids":
            ids = list(record.person_ids)
            if ids and rng.random() < 0.5:
                ids.pop(rng.randrange(len(ids)))
            else:
                ids.insert(rng.randrange(len(ids) + 1), _person(rng))
            self._set(seq, "person_ids", ids)
        elif column == "status":
            self._set(seq, "status", rng.choice([s for s in STATUSES if s != record.status]))
        elif column in ("request_digest", "prev_hash", "hash"):
            self._set(seq, column, _hex(rng))
        else:
            old = str(getattr(record, column))
            position = rng.randrange(len(old) + 1)
            new = old[:position] + rng.choice("aZ.-/ 9é") + old[position:]
            self._set(seq, column, new)
        return {seq, seq + 1}

    def delete(self) -> set[int]:
        first = self.rng.randrange(1, self.last + 1)
        last = min(self.last, first + self.rng.randrange(3))
        self.c.execute(
            text("DELETE FROM audit_records WHERE seq BETWEEN :a AND :b"), {"a": first, "b": last}
        )
        return set(range(first - 1, last + 2))

    def insert(self) -> set[int]:
        """A forged record slipped in at ``at``; later records renumbered, maybe rehashed."""
        rng = self.rng
        at = rng.randrange(1, self.last + 1)
        before = self.records[at - 2].head if at > 1 else ChainHead(0, "0" * 64)
        forged = build_record(
            before,
            at=self.records[at - 1].at,
            agency_id="kanim-tarempa",
            agency_kind="IMMIGRATION",
            officer="forger",
            purpose="cover story",
            method="/pantau.v1.QueryService/GetPerson",
            person_ids=[_person(rng)],
            status="OK",
            request_digest=_hex(rng),
        )
        rehash = rng.random() < 0.5
        rewritten = [forged]
        for record in self.records[at - 1 :]:
            moved = replace(record, seq=record.seq + 1)
            if rehash:
                moved = replace(moved, prev_hash=rewritten[-1].hash)
                moved = replace(moved, hash=moved.computed_hash())
            rewritten.append(moved)
        self.c.execute(text("DELETE FROM audit_records WHERE seq >= :at"), {"at": at})
        store.insert_records(self.c, rewritten)
        if rng.random() < 0.3:  # and hide the checkpoints it breaks
            self.c.execute(text("DELETE FROM audit_checkpoints WHERE seq >= :at"), {"at": at})
        return set(range(at, self.last + 2))

    def truncate(self) -> set[int]:
        keep = self.rng.randrange(0, self.last)
        self.c.execute(text("DELETE FROM audit_records WHERE seq > :keep"), {"keep": keep})
        if self.rng.random() < 0.5:  # and the checkpoints that would tell
            self.c.execute(text("DELETE FROM audit_checkpoints WHERE seq > :keep"), {"keep": keep})
        return {keep}


def test_a_thousand_random_tamperings_are_all_detected(
    written: Settings, audit_engine: Engine
) -> None:
    started = time.monotonic()
    with audit_engine.connect() as connection:
        records = list(store.iter_records(connection))
        pristine = _verify(written, connection)
        connection.rollback()
    assert pristine.ok, pristine.problems
    assert pristine.notes == []
    rng = random.Random(20261130)
    done: Counter[str] = Counter()
    missed: list[tuple[int, str]] = []
    misplaced: list[tuple[int, str, set[int], list[Problem]]] = []
    with audit_engine.connect() as connection:
        # As the tables' owner, who can switch the append-only triggers off.
        connection.execute(text("ALTER TABLE audit_records DISABLE TRIGGER USER"))
        connection.execute(text("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER"))
        for trial in range(TRIALS):
            savepoint = connection.begin_nested()
            tamperer = Tamperer(connection, records, rng)
            kind = rng.choice(("edit", "delete", "insert", "truncate"))
            expected = getattr(tamperer, kind)()
            report = _verify(written, connection)
            savepoint.rollback()  # back to the pristine trail
            done[kind] += 1
            if report.ok:
                missed.append((trial, kind))
            elif not {p.seq for p in report.problems} & expected:
                misplaced.append((trial, kind, expected, report.problems))
        connection.rollback()  # the triggers are on again
    elapsed = time.monotonic() - started
    assert missed == [], f"undetected: {missed}"
    assert misplaced == [], f"detected but not located: {misplaced[:3]}"
    assert sum(done.values()) == TRIALS
    assert min(done.values()) > TRIALS // 8, done
    with audit_engine.connect() as connection:
        assert _verify(written, connection).ok  # the rollbacks left it pristine
    print(f"\n{TRIALS} tamperings {dict(done)} all detected in {elapsed:.1f}s")  # noqa: T201


def test_appending_past_the_last_checkpoint_shows_as_an_unsigned_tail(
    written: Settings, audit_engine: Engine
) -> None:
    with audit_engine.connect() as connection:
        last = store.last_record(connection)
        assert last is not None
        forged = build_record(
            last.head,
            at=last.at,
            agency_id="x",
            agency_kind="POLICE",
            officer="forger",
            purpose="",
            method="/pantau.v1.QueryService/GetPerson",
            person_ids=[],
            status="OK",
            request_digest="0" * 64,
        )
        store.insert_records(connection, [forged])
        report = _verify(written, connection)
        connection.rollback()
    assert [(n.seq, n.kind) for n in report.notes] == [(RECORDS + 1, "unsigned-tail")]


def test_a_damaged_or_missing_checkpoint_file_is_reported(written: Settings) -> None:
    path = written.audit_checkpoint_file
    lines = path.read_bytes().splitlines(keepends=True)
    path.write_bytes(b"".join(lines[:2]) + b"{not json\n" + b"".join(lines[2:]))
    out = io.StringIO()
    assert commands.verify(written, out=out) == 1
    assert "line 3 of" in out.getvalue()
    path.write_bytes(b"")
    out = io.StringIO()
    assert commands.verify(written, out=out) == 1
    assert "holds none of the 6 checkpoints" in out.getvalue()
    path.unlink()
    out = io.StringIO()
    assert commands.verify(written, out=out) == 1


def test_verify_names_the_tampered_record(written: Settings, audit_engine: Engine) -> None:
    with audit_engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_records DISABLE TRIGGER USER"))
        connection.execute(text("UPDATE audit_records SET purpose = 'fishing' WHERE seq = 123"))
        connection.execute(text("DELETE FROM audit_records WHERE seq = 200"))
        connection.execute(text("ALTER TABLE audit_records ENABLE TRIGGER USER"))
    out = io.StringIO()
    assert commands.verify(written, out=out) == 1
    report = out.getvalue()
    assert "PROBLEM seq 123: record seq 123 edited" in report
    assert "PROBLEM seq 201: records missing between seq 199 and seq 201 (deleted)" in report
    assert "PROBLEM seq 200: record seq 200, vouched for by a checkpoint, is missing" in report
    assert report.splitlines()[-1].startswith("FAILED")


# --- export ------------------------------------------------------------------------------


def test_an_export_of_a_period_verifies_offline_and_its_tampering_does_not(
    written: Settings, audit_engine: Engine, tmp_path: Path
) -> None:
    with audit_engine.connect() as connection:
        records = list(store.iter_records(connection))
    start, end = records[119].at, records[164].at  # seq 120 to 165 (times are monotonic)
    export_file = tmp_path / "export.json"
    with export_file.open("w") as written_export:
        assert commands.export(written, start=start, end=end, out=written_export) == 0
    document = json.loads(export_file.read_text())
    manifest = document["manifest"]
    inside = [r for r in records if start <= r.at <= end]
    assert (manifest["first_seq"], manifest["last_seq"]) == (inside[0].seq, inside[-1].seq)
    assert manifest["anchor_seq"] == 100
    assert manifest["end_seq"] == 200
    assert [c["seq"] for c in document["checkpoints"]] == [100, 150, 200]

    # The auditor has only the export and the public key, copied elsewhere.
    public_copy = tmp_path / "auditor" / "pantau-audit.pub"
    public_copy.parent.mkdir()
    public_copy.write_bytes(Path(f"{written.audit_signing_key_file}.pub").read_bytes())
    elsewhere = written.model_copy(
        update={
            "database_url": "postgresql+psycopg://nobody@127.0.0.1:1/none",
            "audit_signing_key_file": tmp_path / "absent.key",
            "audit_checkpoint_file": tmp_path / "absent.jsonl",
        }
    )
    out = io.StringIO()
    code = commands.verify(
        elsewhere, export_path=export_file, public_key_paths=[public_copy], out=out
    )
    assert code == 0, out.getvalue()

    def fails(change: str) -> str:
        tampered = json.loads(export_file.read_text())
        rows = tampered["records"]
        index = next(i for i, r in enumerate(rows) if r["seq"] == 140)
        if change == "edit":
            rows[index]["officer"] += " (edited)"
        elif change == "delete":
            del rows[index]
        elif change == "insert":
            rows.insert(index, dict(rows[index], officer="forger"))
        elif change == "truncate":
            del rows[index:]
            tampered["checkpoints"] = tampered["checkpoints"][:1]
        path = tmp_path / f"tampered-{change}.json"
        path.write_text(json.dumps(tampered))
        out = io.StringIO()
        code = commands.verify(elsewhere, export_path=path, public_key_paths=[public_copy], out=out)
        assert code == 1, (change, out.getvalue())
        return out.getvalue()

    assert "record seq 140 edited" in fails("edit")
    assert "records missing between seq 139 and seq 141" in fails("delete")
    assert "seq 140 appears more than once" in fails("insert")
    assert "records were removed from or added to its end" in fails("truncate")


def test_an_export_of_a_quiet_period_is_empty_but_signed(written: Settings, tmp_path: Path) -> None:
    start = datetime(2001, 1, 1, tzinfo=UTC)
    export_file = tmp_path / "empty.json"
    with export_file.open("w") as empty:
        assert commands.export(written, start=start, end=start + timedelta(days=1), out=empty) == 0
    out_text = io.StringIO()
    assert commands.verify(written, export_path=export_file, out=out_text) == 0
    assert "no records" in out_text.getvalue()


def test_the_command_line_verifies_and_exports(
    written: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str], clock: TestClock
) -> None:
    parser = argparse.ArgumentParser(prog="pantau")
    commands.add_audit_parser(parser.add_subparsers(dest="command", required=True))
    assert commands.run_audit_command(parser.parse_args(["audit", "verify"]), written) == 0
    assert capsys.readouterr().out.startswith("OK: audit trail")
    export_file = tmp_path / "all.json"
    # The export reads bare dates as the office's days (WIB), as its users do.
    today = clock.today()
    args = ["audit", "export", "--from", f"{today - timedelta(days=1)}", "--to", f"{today}"]
    args += ["--output", str(export_file)]
    assert commands.run_audit_command(parser.parse_args(args), written) == 0
    assert json.loads(export_file.read_text())["manifest"]["record_count"] == RECORDS
    public = f"{written.audit_signing_key_file}.pub"
    check = ["audit", "verify", "--export", str(export_file), "--public-key", public]
    assert commands.run_audit_command(parser.parse_args(check), written) == 0
    bad = ["audit", "export", "--from", "yesterday", "--to", "today"]
    assert commands.run_audit_command(parser.parse_args(bad), written) == 2


def test_dates_on_the_command_line_are_office_days() -> None:
    start = commands.parse_when("2026-11-30", "Asia/Jakarta", end_of_day=False)
    end = commands.parse_when("2026-11-30", "Asia/Jakarta", end_of_day=True)
    assert start == datetime(2026, 11, 29, 17, 0, tzinfo=UTC)
    assert end == datetime(2026, 11, 30, 16, 59, 59, 999999, tzinfo=UTC)
    moment = commands.parse_when("2026-11-30T08:00:00Z", "Asia/Jakarta", end_of_day=False)
    assert moment == datetime(2026, 11, 30, 8, tzinfo=UTC)
