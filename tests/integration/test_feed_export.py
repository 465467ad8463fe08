"""`pantau feed export` from the project directory with no environment: an agency's feed read
from the real database and written as CAP documents or JWS, checked back offline."""

from __future__ import annotations

import dataclasses
import json
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from joserfc import jwk, jws
from joserfc.errors import SecurityWarning
from pantau.v1 import alerts_pb2 as apb
from sqlalchemy import Engine, create_engine, insert, text

from agency_adapters.receivers.__main__ import main as receivers_main
from agency_adapters.receivers.cap_import import import_cap_dir
from agency_adapters.senders.cap import ATOM_FILE, JWKS_FILE, document_name
from exchange_service.cli import main
from exchange_service.domain.alerts import AlertEvent
from exchange_service.security.agencies import load_agencies
from exchange_service.services.feed import FeedWriter
from exchange_service.signing.keyset import KeySet
from exchange_service.storage.database import UnitOfWork
from exchange_service.storage.feed_reader import read_feed
from exchange_service.storage.tables import AlertEventRow, AlertRow
from exchange_service.wire.cap import cap_field, validate_cap
from exchange_service.wire.feed import JSON_MEDIA_TYPE, entry_json, entry_payload
from tests import cap_samples
from tests.clock import CLOCK
from tests.conftest import ROOT, fresh_database
from tests.feeds import FEED_KEY_PASSPHRASE, FEED_KEYS_FROM

PEMKAB, POLRES = cap_samples.PEMKAB, cap_samples.POLRES


@dataclass(frozen=True)
class Project:
    directory: Path
    engine: Engine
    keys: KeySet
    events: tuple[AlertEvent, ...]


def _seed(engine: Engine, keys: KeySet) -> tuple[AlertEvent, ...]:
    """The lifecycle's alerts and events in the tables, sealed by the real feed writer."""
    events = cap_samples.lifecycle(CLOCK.now())
    stored: list[AlertEvent] = []
    with engine.begin() as connection:
        for alert_id in dict.fromkeys(e.alert_id for e in events):
            last = [e for e in events if e.alert_id == alert_id][-1]
            connection.execute(
                insert(AlertRow).values(
                    id=alert_id,
                    rule=str(last.rule),
                    subject_kind=str(last.subject_kind),
                    subject_id=last.subject_id,
                    severity=str(last.severity),
                    status=str(last.status),
                    district_code=last.district_code,
                    evidence=dict(last.evidence),
                    summary_id=last.summary_id,
                    summary_en=last.summary_en,
                    action=str(last.action),
                    facts=f"{alert_id}/seed",
                    first_detected_at=last.occurred_at,
                    changed_at=last.occurred_at,
                    resolved_at=last.occurred_at if last.resolution_reason else None,
                    resolution_reason=None
                    if last.resolution_reason is None
                    else str(last.resolution_reason),
                )
            )
        for event in events:
            seq = connection.execute(
                insert(AlertEventRow)
                .values(
                    alert_id=event.alert_id,
                    kind=str(event.kind),
                    rule=str(event.rule),
                    subject_kind=str(event.subject_kind),
                    subject_id=event.subject_id,
                    severity=str(event.severity),
                    status=str(event.status),
                    district_code=event.district_code,
                    evidence=dict(event.evidence),
                    summary_id=event.summary_id,
                    summary_en=event.summary_en,
                    action=str(event.action),
                    resolution_reason=None
                    if event.resolution_reason is None
                    else str(event.resolution_reason),
                    actor_id=event.actor_id,
                    actor_kind=event.actor_kind,
                    occurred_at=event.occurred_at,
                )
                .returning(AlertEventRow.seq)
            ).scalar_one()
            stored.append(dataclasses.replace(event, seq=seq, rule_run_id=None))
    writer = FeedWriter(
        load_agencies(ROOT / "deploy" / "agencies.toml"), entry_payload, keys, CLOCK.now
    )
    uow = UnitOfWork(engine, boundary_tolerance_meters=1500.0)
    with uow.begin() as tx:
        writer.append(tx, stored)
    return tuple(stored)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Project]:
    directory = tmp_path_factory.mktemp("project")
    with fresh_database("pantau_test_feed_export") as url:
        (directory / "deploy").mkdir()
        (directory / "deploy" / "pantau.dev.toml").write_text(
            f'database_url = "{url}"\n'
            f'agencies_file = "{ROOT / "deploy" / "agencies.toml"}"\n'
            'feed_keys_dir = "var/feed-keys"\n'
            f'feed_key_passphrase = "{FEED_KEY_PASSPHRASE}"\n'
            'cap_sender = "kanim-tarempa@imigrasi.go.id"\n'
            'cap_status = "Exercise"\n'
        )
        keys = KeySet.open(
            directory / "var" / "feed-keys",
            FEED_KEY_PASSPHRASE.encode(),
            create_at=FEED_KEYS_FROM,
        )
        engine = create_engine(url)
        try:
            events = _seed(engine, keys)
            yield Project(directory, engine, keys, events)
        finally:
            engine.dispose()


@pytest.fixture
def in_project(project: Project, monkeypatch: pytest.MonkeyPatch) -> Project:
    """The command's surroundings as an officer has them: the project directory, no PANTAU_*."""
    monkeypatch.chdir(project.directory)
    for name in [n for n in os.environ if n.startswith("PANTAU_")]:
        monkeypatch.delenv(name)
    return project


def test_the_feed_reader_gives_every_entry_as_sealed_in_sequence_order(project: Project) -> None:
    entries = list(read_feed(project.engine, PEMKAB, batch=4))
    assert [e.sequence for e in entries] == [1, 2, 3, 4, 5, 6]
    assert [e.event_seq for e in entries] == [e.seq for e in project.events]
    with project.engine.connect() as connection:
        stored = connection.execute(
            text("SELECT payload FROM feed_entries WHERE agency_id = :a ORDER BY sequence"),
            {"a": PEMKAB},
        ).scalars()
        assert [bytes(p) for p in stored] == [e.payload for e in entries]
    assert entries[1].previous_hash == entries[0].hash
    assert list(read_feed(project.engine, "no-such-agency")) == []


def test_cap_export_writes_signed_documents_the_import_accepts(
    in_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    out = in_project.directory / "export-cap"
    assert main(["feed", "export", "--agency", PEMKAB, "--format", "cap", "--out", str(out)]) == 0
    said = capsys.readouterr()
    assert "settings: deploy/pantau.dev.toml" in said.err
    assert f"{PEMKAB}: 6 entries in {out}" in said.out
    jwks = json.loads((out / JWKS_FILE).read_text())
    imported = import_cap_dir(out, jwks)
    assert imported.rejected == ()
    assert imported.last_sequence == 6
    first = validate_cap((out / document_name(PEMKAB, 1)).read_bytes())
    assert cap_field(first, "status") == "Exercise"
    assert cap_field(first, "sender") == "kanim-tarempa@imigrasi.go.id"
    assert (out / ATOM_FILE).read_bytes().count(b"<entry>") == 6
    # The DISTRICT view: no permit number reaches the regional government's documents.
    assert not [p for p in out.glob("*.xml") if b"VISIT-2026-0001" in p.read_bytes()]
    # Run again: nothing rewritten.
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert main(["feed", "export", "--agency", PEMKAB, "--format", "cap", "--out", str(out)]) == 0
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_jws_export_signs_each_entrys_json_form(
    in_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    out = in_project.directory / "export-jws"
    assert main(["feed", "export", "--agency", POLRES, "--format", "jws", "--out", str(out)]) == 0
    assert f"{POLRES}: 6 entries" in capsys.readouterr().out
    jwks = json.loads((out / JWKS_FILE).read_text())
    key_set = jwk.KeySet.import_key_set(
        {
            "keys": [
                {k: v for k, v in key.items() if not k.startswith("pantau_")}
                for key in jwks["keys"]
            ]
        }
    )
    entries = list(read_feed(in_project.engine, POLRES))
    files = sorted(out.glob("*.jws"))
    assert [f.name for f in files] == [f"{POLRES}-{i:010d}.jws" for i in range(1, 7)]
    for entry, path in zip(entries, files, strict=True):
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=SecurityWarning)
            token = jws.deserialize_compact(path.read_text(), key_set, algorithms=["EdDSA"])
        assert token.headers()["cty"] == JSON_MEDIA_TYPE
        assert token.payload == entry_json(entry)
        document = json.loads(token.payload)
        assert document["data"]["feed"]["sequence"] == entry.sequence
        assert document["data"]["feed"]["entry_hash"] == entry.hash.hex()
    # The police's view (FULL) keeps the permit number the summary names.
    assert apb.AlertEvent.FromString(entries[0].payload).summary_en


def test_a_receiver_takes_a_jws_export_in_with_the_checks_of_a_live_delivery(
    in_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    out = in_project.directory / "handover-jws"
    assert main(["feed", "export", "--agency", POLRES, "--format", "jws", "--out", str(out)]) == 0
    store = in_project.directory / "police-store"

    def take_in() -> int:
        return receivers_main(["import", str(out), "--agency", POLRES, "--store", str(store)])

    assert take_in() == 0
    assert "6 entries stored, 0 held already" in capsys.readouterr().out
    assert take_in() == 0  # again: each entry is held once
    assert "0 entries stored, 6 held already" in capsys.readouterr().out

    def held(directory: Path) -> list[int]:
        lines = (directory / f"{POLRES}.jsonl").read_text().splitlines()
        return [json.loads(line)["sequence"] for line in lines]

    assert held(store) == [1, 2, 3, 4, 5, 6]
    # A bit flipped in the fourth file: refused, and nothing after it is taken.
    fresh = in_project.directory / "police-store-2"
    fourth = out / f"{POLRES}-{4:010d}.jws"
    token = bytearray(fourth.read_bytes())
    token[len(token) // 2] ^= 0x01
    fourth.write_bytes(bytes(token))
    refused = receivers_main(["import", str(out), "--agency", POLRES, "--store", str(fresh)])
    assert refused == 1
    said = capsys.readouterr().out
    assert f"refused {fourth.name}" in said
    assert "3 entries stored" in said
    assert held(fresh) == [1, 2, 3]


def test_an_unknown_agency_is_refused_naming_the_option_and_nothing_is_written(
    in_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    out = in_project.directory / "export-none"
    code = main(
        ["feed", "export", "--agency", "polres-nowhere", "--format", "cap", "--out", str(out)]
    )
    assert code == 2
    assert "--agency: no agency 'polres-nowhere'" in capsys.readouterr().err
    assert not out.exists()
    code = main(
        ["feed", "export", "--agency", "kanim-tarempa", "--format", "jws", "--out", str(out)]
    )
    assert code == 2
    assert "kanim-tarempa has no alert feed" in capsys.readouterr().err
    assert not out.exists()


def test_an_export_into_another_feeds_directory_is_refused_and_changes_nothing(
    in_project: Project, capsys: pytest.CaptureFixture[str]
) -> None:
    out = in_project.directory / "export-mixed"
    assert main(["feed", "export", "--agency", PEMKAB, "--format", "cap", "--out", str(out)]) == 0
    # Another agency's documents under this agency's names: the directory is not this feed's.
    for path in out.glob(f"{PEMKAB}-*.xml"):
        path.rename(path.with_name(path.name.replace(PEMKAB, POLRES)))
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    code = main(["feed", "export", "--agency", POLRES, "--format", "cap", "--out", str(out)])
    assert code == 1
    assert "of pemkab-anambas's feed: the directory is not this feed's" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_database_without_the_feed_tables_exports_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with fresh_database("pantau_test_feed_export_bare", migrated=False) as url:
        (tmp_path / "deploy").mkdir()
        (tmp_path / "deploy" / "pantau.dev.toml").write_text(
            f'database_url = "{url}"\n'
            f'agencies_file = "{ROOT / "deploy" / "agencies.toml"}"\n'
            'feed_keys_dir = "var/feed-keys"\n'
            f'feed_key_passphrase = "{FEED_KEY_PASSPHRASE}"\n'
        )
        monkeypatch.chdir(tmp_path)
        for name in [n for n in os.environ if n.startswith("PANTAU_")]:
            monkeypatch.delenv(name)
        out = tmp_path / "export"
        for export_format in ("cap", "jws"):
            code = main(
                ["feed", "export", "--agency", PEMKAB, "--format", export_format, "--out", str(out)]
            )
            assert code == 2
            assert "pantau migrate" in capsys.readouterr().err
            assert not out.exists()
