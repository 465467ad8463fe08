"""WatchlistService over mutual TLS: entries written by the agencies allowed, bad input
named field by field and nothing written, screening explained, and the screener's
WATCHLIST_MATCH alert reviewed with four eyes, each agency seeing it in its own view."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.type.date_pb2 import Date
from pantau.v1 import alert_review_service_pb2 as ar
from pantau.v1 import alert_review_service_pb2_grpc as ar_grpc
from pantau.v1 import alerts_pb2 as apb
from pantau.v1 import query_service_pb2 as q
from pantau.v1 import query_service_pb2_grpc as q_grpc
from pantau.v1 import records_pb2 as pb
from pantau.v1 import registry_service_pb2 as r
from pantau.v1 import registry_service_pb2_grpc as r_grpc
from pantau.v1 import watchlist_service_pb2 as w
from pantau.v1 import watchlist_service_pb2_grpc as w_grpc
from sqlalchemy import Engine, text

from exchange_service.app import build_screener
from exchange_service.services.alerts import RuleEngine
from exchange_service.settings import Settings
from exchange_service.storage.database import UnitOfWork
from tests import factories as f
from tests.conftest import AGENCIES, RowCounts, agency_channel
from tests.mrz_samples import td3

REGISTRAR = (("x-pantau-officer", "Budi Santoso"), ("x-pantau-purpose", "pendaftaran WNA"))
REVIEWER = (("x-pantau-officer", "Siti Rahayu"), ("x-pantau-purpose", "verifikasi DPO"))


@pytest.fixture
def police(grpc_target: str, pki_dir: Path) -> Iterator[grpc.Channel]:
    with agency_channel(grpc_target, pki_dir, AGENCIES["POLICE"]) as channel:
        yield channel


def _stub(channel: grpc.Channel) -> w_grpc.WatchlistServiceStub:
    return w_grpc.WatchlistServiceStub(channel)


def _entries(engine: Engine) -> tuple[int, int]:
    with engine.connect() as connection:
        return (
            int(connection.execute(text("SELECT count(*) FROM watchlist_entries")).scalar_one()),
            int(
                connection.execute(
                    text("SELECT count(*) FROM watchlist_entry_versions")
                ).scalar_one()
            ),
        )


def test_bad_entries_name_every_field_and_write_nothing(
    grpc_channel: grpc.Channel, engine: Engine
) -> None:
    before = _entries(engine)
    with pytest.raises(grpc.RpcError) as caught:
        _stub(grpc_channel).UpsertEntry(
            w.UpsertEntryRequest(
                content=w.WatchlistEntryContent(
                    names=["", "x" * 201],
                    birth_date=Date(year=1990, month=13),
                    nationality="ZZZ",
                    document_numbers=["A#1"],
                )
            )
        )
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    fields = set(f.field_violations(caught.value))
    assert {
        "entry.list",
        "entry.names[0]",
        "entry.names[1]",
        "entry.birth_date.month",
        "entry.nationality",
        "entry.document_numbers[0]",
        "entry.reason",
        "entry.issuing_agency",
    } <= fields
    assert _entries(engine) == before


def test_police_write_their_wanted_list_and_nothing_else(
    police: grpc.Channel, engine: Engine
) -> None:
    wanted = _stub(police).UpsertEntry(
        w.UpsertEntryRequest(
            content=w.WatchlistEntryContent(
                list=w.WATCHLIST_KIND_POLICE_WANTED,
                names=["Rahim bin Osman"],
                reason="DPO: perampokan di Tarempa",
                issuing_agency="Polres Kepulauan Anambas",
            )
        )
    )
    assert wanted.entry.version == 1
    assert wanted.entry.created_by == AGENCIES["POLICE"]
    before = _entries(engine)
    with pytest.raises(grpc.RpcError) as caught:
        _stub(police).UpsertEntry(
            w.UpsertEntryRequest(
                content=w.WatchlistEntryContent(
                    list=w.WATCHLIST_KIND_ENTRY_BAN,
                    names=["Rahim bin Osman"],
                    reason="tangkal",
                    issuing_agency="Polres",
                )
            )
        )
    assert caught.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert f.error_info(caught.value).reason == "WATCHLIST_LIST_NOT_ALLOWED"
    assert _entries(engine) == before


def test_screen_explains_each_candidate(grpc_channel: grpc.Channel) -> None:
    tag = uuid.uuid4().hex[:4]
    listed = _stub(grpc_channel).UpsertEntry(
        w.UpsertEntryRequest(
            content=w.WatchlistEntryContent(
                list=w.WATCHLIST_KIND_INTERNATIONAL_NOTICE,
                names=[f"Mukhammad Aliyev {tag}", f"Мухаммад Алиев {tag}"],
                birth_date=Date(year=1975),
                nationality="UZB",
                reason="Red Notice",
                issuing_agency="NCB Interpol",
            )
        )
    )
    found = _stub(grpc_channel).Screen(
        w.ScreenRequest(name=f"Muhammad Aliev {tag}", birth_date=Date(year=1975, month=3, day=1))
    )
    assert found.threshold == pytest.approx(0.7)
    best = next(m for m in found.matches if m.entry.entry_id == listed.entry.entry_id)
    assert best.match
    assert best.score == pytest.approx(sum(feature.contribution for feature in best.features))
    assert {feature.name for feature in best.features} >= {"name_similarity"}
    assert best.matched_name


def test_a_match_is_raised_then_confirmed_by_another_officer(  # noqa: PLR0917 (fixtures)
    grpc_target: str,
    pki_dir: Path,
    settings: Settings,
    engine: Engine,
    rule_engine: RuleEngine,
    grpc_channel: grpc.Channel,
) -> None:
    tag = uuid.uuid4().hex[:5]
    family, given = f"Okafor{tag}", "Chinedu Emeka"
    _stub(grpc_channel).UpsertEntry(
        w.UpsertEntryRequest(
            content=w.WatchlistEntryContent(
                list=w.WATCHLIST_KIND_ENTRY_BAN,
                names=[f"{given} {family}"],
                nationality="NGA",
                reason="Penangkalan: pemalsuan dokumen",
                issuing_agency="Direktorat Jenderal Imigrasi",
            )
        )
    )
    immigration = AGENCIES["IMMIGRATION"]
    with agency_channel(grpc_target, pki_dir, immigration, REGISTRAR) as registrar:
        person = r_grpc.RegistryServiceStub(registrar).RegisterPerson(
            r.RegisterPersonRequest(
                person=pb.Person(
                    family_name=family,
                    given_names=given,
                    nationality="NGA",
                    birth_date=Date(year=1988, month=5, day=4),
                    sex=pb.SEX_MALE,
                    documents=[pb.TravelDocument(issuing_state="NGA", number=f.document_number())],
                )
            )
        )
        uow = UnitOfWork(engine, boundary_tolerance_meters=settings.boundary_tolerance_meters)
        build_screener(settings, uow, rule_engine).drain()
        listed = q_grpc.QueryServiceStub(registrar).ListAlerts(
            q.ListAlertsRequest(rules=[apb.ALERT_RULE_WATCHLIST_MATCH], person_id=person.id)
        )
        (alert,) = listed.alerts
        assert alert.severity == apb.ALERT_SEVERITY_HIGH
        assert alert.action == apb.ADMINISTRATIVE_ACTION_IDENTITY_VERIFICATION
        matches = alert.evidence.fields["watchlist_matches"].list_value.values
        assert matches[0].struct_value.fields["list"].string_value == "ENTRY_BAN"
        with pytest.raises(grpc.RpcError) as refused:
            ar_grpc.AlertReviewServiceStub(registrar).ReviewAlert(
                ar.ReviewAlertRequest(alert_id=alert.id, decision=apb.REVIEW_DECISION_CONFIRM)
            )
        assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    with agency_channel(grpc_target, pki_dir, immigration, REVIEWER) as reviewer:
        reviewed = ar_grpc.AlertReviewServiceStub(reviewer).ReviewAlert(
            ar.ReviewAlertRequest(
                alert_id=alert.id,
                decision=apb.REVIEW_DECISION_CONFIRM,
                note="paspor dan foto dicocokkan",
            )
        )
    assert reviewed.alert.status == apb.ALERT_STATUS_CONFIRMED
    with agency_channel(grpc_target, pki_dir, AGENCIES["LOCAL_GOVERNMENT"]) as district:
        seen = q_grpc.QueryServiceStub(district).GetAlert(q.GetAlertRequest(alert_id=alert.id))
    # Local government learns that someone in its district matched, not which list.
    assert "watchlist_matches" not in seen.alert.evidence.fields
    assert seen.alert.evidence.fields["watchlist_match_count"].number_value == 1


def test_register_person_reads_the_mrz_and_names_a_failing_check_digit(
    grpc_channel: grpc.Channel, row_counts: RowCounts
) -> None:
    number = f"E{uuid.uuid4().int % 10**8:08d}"
    lines = td3("TANAKA<<HIROSHI", number, state="JPN")
    registry = r_grpc.RegistryServiceStub(grpc_channel)
    person = registry.RegisterPerson(r.RegisterPersonRequest(mrz="\n".join(lines)))
    assert (person.family_name, person.given_names, person.nationality) == (
        "TANAKA",
        "HIROSHI",
        "JPN",
    )
    assert [d.number for d in person.documents] == [number]
    assert person.mrz_reading.valid
    assert {c.field for c in person.mrz_reading.checks} == {
        "document_number",
        "birth_date",
        "expiry_date",
        "personal_number",
        "composite",
    }
    wrong = str((int(lines[1][19]) + 1) % 10)
    broken = (lines[0], lines[1][:19] + wrong + lines[1][20:])
    before = row_counts.snapshot()
    with pytest.raises(grpc.RpcError) as caught:
        registry.RegisterPerson(r.RegisterPersonRequest(mrz="\n".join(broken)))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    violations = f.field_violations(caught.value)
    assert set(violations) == {"mrz.checks.birth_date", "mrz.checks.composite"}
    assert wrong in violations["mrz.checks.birth_date"]
    assert row_counts.snapshot() == before
