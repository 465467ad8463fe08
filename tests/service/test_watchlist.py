"""The watchlist through its use cases on the real PostGIS: entries and their history,
screening on demand, the screener raising WATCHLIST_MATCH alerts, the four eyes on a
confirmation, and a dismissed match staying dismissed until a record changes."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import Connection, text

from exchange_service.app import alerts_options, build_screener, watchlist_options
from exchange_service.domain import commands as cmd
from exchange_service.domain import watchlist as wl
from exchange_service.domain.agencies import AgencyKind
from exchange_service.domain.alerts import AlertStatus, Severity
from exchange_service.domain.audit import Actor
from exchange_service.domain.call import CallRecord, current_call
from exchange_service.domain.errors import (
    FailedPrecondition,
    InvalidInput,
    NotFound,
    PermissionDenied,
)
from exchange_service.services import Registry
from exchange_service.services.alerts import Alerts, RuleEngine
from exchange_service.services.watchlist import Screener, Watchlist
from exchange_service.settings import Settings
from exchange_service.storage.database import SavepointUnitOfWork
from tests.mrz_samples import td3
from tests.service import commands as c
from tests.service.conftest import SettableClock

IMMIGRATION = Actor.agency("kanim-tarempa", "IMMIGRATION", "Budi Santoso")
OTHER_OFFICER = Actor.agency("kanim-tarempa", "IMMIGRATION", "Siti Rahayu")
POLICE = Actor.agency("polres-anambas", "POLICE", "Bripka Andi")


@pytest.fixture
def watchlist(
    uow: SavepointUnitOfWork, service_settings: Settings, clock: SettableClock
) -> Watchlist:
    return Watchlist(uow, watchlist_options(service_settings), clock)


@pytest.fixture
def screener(
    uow: SavepointUnitOfWork,
    service_settings: Settings,
    clock: SettableClock,
    rule_engine: RuleEngine,
    connection: Connection,
) -> Screener:
    # Persons and entries the other tiers committed are not this test's business.
    connection.execute(text("DELETE FROM screening_queue"))
    return build_screener(service_settings, uow, rule_engine, clock=clock)


@pytest.fixture
def alerts(uow: SavepointUnitOfWork, service_settings: Settings, clock: SettableClock) -> Alerts:
    return Alerts(uow, alerts_options(service_settings), clock)


def entry(
    *names: str,
    kind: wl.WatchlistKind = wl.WatchlistKind.ENTRY_BAN,
    born: cmd.DateParts | None = None,
    nationality: str = "",
    documents: tuple[str, ...] = (),
    reason: str = "Penangkalan: pelanggaran keimigrasian 2024",
    external_id: str = "",
    entry_id: str = "",
    valid_until: cmd.DateParts | None = None,
) -> wl.UpsertEntry:
    return wl.UpsertEntry(
        entry_id=entry_id,
        list=str(kind),
        names=names,
        birth_date=born,
        nationality=nationality,
        documents=documents,
        reason=reason,
        issuing_agency="Ditjen Imigrasi",
        valid_from=None,
        valid_until=valid_until,
        external_id=external_id,
    )


@contextlib.contextmanager
def calling(actor: Actor) -> Iterator[None]:
    token = current_call.set(
        CallRecord("/pantau.v1.RegistryService/RegisterPerson", actor.id, actor.kind, actor.officer)
    )
    try:
        yield
    finally:
        current_call.reset(token)


def count(connection: Connection, table: str) -> int:
    return int(connection.execute(text(f"SELECT count(*) FROM {table}")).scalar_one())


def watchlist_alert(connection: Connection, person_id: object) -> tuple[str, str, str] | None:
    row = connection.execute(
        text(
            "SELECT status, severity, facts FROM alerts WHERE rule = 'WATCHLIST_MATCH'"
            " AND subject_id = :id"
            " ORDER BY status IN ('OPEN', 'ACKNOWLEDGED', 'CONFIRMED') DESC, changed_at DESC"
            " LIMIT 1"
        ),
        {"id": str(person_id)},
    ).first()
    return None if row is None else (row[0], row[1], row[2])


# --- entries ---------------------------------------------------------------------------


def test_a_bad_entry_names_each_field_and_writes_nothing(
    watchlist: Watchlist, connection: Connection
) -> None:
    before = count(connection, "watchlist_entries"), count(connection, "watchlist_entry_versions")
    bad = wl.UpsertEntry(
        entry_id="not-a-uuid",
        list="BLACKLIST",
        names=("",),
        birth_date=cmd.DateParts(1990, 13, 1),
        nationality="XYZ",
        documents=("A B#1",),
        reason="",
        issuing_agency="",
        valid_from=c.parts(date(2026, 5, 1)),
        valid_until=c.parts(date(2026, 4, 1)),
    )
    with pytest.raises(InvalidInput) as raised:
        watchlist.upsert_entry(bad, IMMIGRATION, AgencyKind.IMMIGRATION)
    fields = {v.field for v in raised.value.violations}
    assert {
        "entry.entry_id",
        "entry.list",
        "entry.names",
        "entry.birth_date.month",
        "entry.nationality",
        "entry.document_numbers[0]",
        "entry.reason",
        "entry.issuing_agency",
        "entry.valid_until",
    } <= fields
    after = count(connection, "watchlist_entries"), count(connection, "watchlist_entry_versions")
    assert after == before


def test_every_change_is_a_version_and_a_removal_keeps_the_entry(
    watchlist: Watchlist, clock: SettableClock
) -> None:
    added = watchlist.upsert_entry(
        entry("Ivan Petrov", "Иван Петров"), IMMIGRATION, AgencyKind.IMMIGRATION
    )
    same = watchlist.upsert_entry(
        entry("Ivan Petrov", "Иван Петров", entry_id=str(added.id)),
        IMMIGRATION,
        AgencyKind.IMMIGRATION,
    )
    assert same.version == 1  # the same content again writes no version
    clock.set(clock.ago(hours=-1))
    changed = watchlist.upsert_entry(
        entry("Ivan Petrov", "Иван Петров", entry_id=str(added.id), nationality="RUS"),
        OTHER_OFFICER,
        AgencyKind.IMMIGRATION,
    )
    removed = watchlist.remove_entry(
        wl.RemoveEntry(str(added.id), "dicabut: keputusan Dirjen"),
        IMMIGRATION,
        AgencyKind.IMMIGRATION,
    )
    assert (changed.version, removed.version) == (2, 3)
    found, versions = watchlist.get_entry(str(added.id))
    assert found.is_removed
    assert found.removal_note == "dicabut: keputusan Dirjen"
    assert [(v.version, v.change, v.officer) for v in versions] == [
        (1, wl.EntryChange.ADDED, "Budi Santoso"),
        (2, wl.EntryChange.UPDATED, "Siti Rahayu"),
        (3, wl.EntryChange.REMOVED, "Budi Santoso"),
    ]
    assert [v.content.nationality for v in versions[:2]] == ["", "RUS"]
    listed = watchlist.list_entries(wl.ListEntries())
    assert added.id not in {e.id for e in listed.items}
    with_removed = watchlist.list_entries(wl.ListEntries(include_removed=True, page_size=500))
    assert added.id in {e.id for e in with_removed.items}
    with pytest.raises(FailedPrecondition) as refused:
        watchlist.upsert_entry(
            entry("Ivan Petrov", entry_id=str(added.id)), IMMIGRATION, AgencyKind.IMMIGRATION
        )
    assert refused.value.violations[0].type == "ENTRY_REMOVED"


def test_an_import_updates_the_entry_of_the_same_source_record(watchlist: Watchlist) -> None:
    first = watchlist.import_entries(
        [entry("Chen Wei", external_id="os-1"), entry("", external_id="os-2")],
        IMMIGRATION,
        AgencyKind.IMMIGRATION,
    )
    assert first[0] is None
    assert "entry.names" in (first[1] or "")
    again = watchlist.import_entries(
        [entry("Chen Wei", "陈伟", external_id="os-1")], IMMIGRATION, AgencyKind.IMMIGRATION
    )
    assert again == [None]
    page = watchlist.list_entries(wl.ListEntries(page_size=500))
    chen = [e for e in page.items if e.content.external_id == "os-1"]
    assert [(e.version, e.content.names) for e in chen] == [(2, ("Chen Wei", "陈伟"))]


def test_police_write_their_wanted_list_only(watchlist: Watchlist) -> None:
    wanted = watchlist.upsert_entry(
        entry("Lee Min Ho", kind=wl.WatchlistKind.POLICE_WANTED), POLICE, AgencyKind.POLICE
    )
    assert wanted.content.list is wl.WatchlistKind.POLICE_WANTED
    with pytest.raises(PermissionDenied):
        watchlist.upsert_entry(entry("Lee Min Ho"), POLICE, AgencyKind.POLICE)
    ban = watchlist.upsert_entry(entry("Park Ji Sung"), IMMIGRATION, AgencyKind.IMMIGRATION)
    with pytest.raises(PermissionDenied):
        watchlist.remove_entry(wl.RemoveEntry(str(ban.id), "x"), POLICE, AgencyKind.POLICE)
    with pytest.raises(PermissionDenied):
        watchlist.upsert_entry(
            entry("Lee Min Ho", kind=wl.WatchlistKind.POLICE_WANTED),
            Actor.agency("pemkab-anambas", "LOCAL_GOVERNMENT", "x"),
            AgencyKind.LOCAL_GOVERNMENT,
        )
    with pytest.raises(NotFound):
        watchlist.remove_entry(wl.RemoveEntry(str(uuid.uuid4()), "x"), POLICE, AgencyKind.POLICE)


# --- screening on demand ---------------------------------------------------------------


def test_screen_explains_a_match_across_scripts(watchlist: Watchlist) -> None:
    listed = watchlist.upsert_entry(
        entry(
            "Aleksandr Sergeyevich Volkov",
            "Александр Волков",
            born=cmd.DateParts(1979, 4, 2),
            nationality="RUS",
        ),
        IMMIGRATION,
        AgencyKind.IMMIGRATION,
    )
    found = watchlist.screen(
        wl.Screen("Alexander Volkov", birth_date=cmd.DateParts(1979, 4, 2), nationality="RUS")
    )
    best = next(m for m in found if m.entry.id == listed.id)
    assert best.match
    assert best.score >= 0.7
    features = {f["name"] for f in best.explanation["features"]}  # type: ignore[attr-defined]
    assert "birth_date" in features
    # A different name with the same birth date and nationality is no match.
    other = watchlist.screen(
        wl.Screen("Dmitri Sokolov", birth_date=cmd.DateParts(1979, 4, 2), nationality="RUS")
    )
    assert all(not m.match for m in other if m.entry.id == listed.id)


def test_screen_names_bad_fields() -> None:
    with pytest.raises(InvalidInput) as raised:
        wl.valid_screen(
            wl.Screen("", birth_date=cmd.DateParts(2990, 1, 1), nationality="QQQ"),
            date(2026, 3, 10),
        )
    assert {v.field for v in raised.value.violations} >= {
        "name",
        "birth_date.year",
        "nationality",
    }


# --- the screener and the alerts -------------------------------------------------------


def test_a_registered_person_on_the_wanted_list_raises_a_critical_alert(
    registry: Registry,
    watchlist: Watchlist,
    screener: Screener,
    connection: Connection,
) -> None:
    watchlist.upsert_entry(
        entry(
            "Nguyen Van Hung",
            kind=wl.WatchlistKind.POLICE_WANTED,
            born=cmd.DateParts(1985, 7, 9),
            nationality="VNM",
        ),
        POLICE,
        AgencyKind.POLICE,
    )
    with calling(IMMIGRATION):
        person = registry.register_person(
            c.registration("Nguyen", "Van Hung", born=date(1985, 7, 9))
        )
    matches_of_person = text("SELECT count(*) FROM watchlist_matches WHERE person_id = :id")
    # Off the call's path: queued, not yet screened.
    assert connection.execute(matches_of_person, {"id": person.id}).scalar_one() == 0
    done = screener.drain()
    assert done.changed >= 1
    status, severity, _ = watchlist_alert(connection, person.id) or ("", "", "")
    assert (status, severity) == (AlertStatus.OPEN, Severity.CRITICAL)


def test_an_entry_added_later_finds_the_person_registered_before(
    registry: Registry, watchlist: Watchlist, screener: Screener, connection: Connection
) -> None:
    person = registry.register_person(c.registration("Wang", "Xiaoming", "CHN"))
    screener.drain()
    assert watchlist_alert(connection, person.id) is None
    listed = watchlist.upsert_entry(
        entry("王小明", "Wang Xiao Ming", nationality="CHN"), IMMIGRATION, AgencyKind.IMMIGRATION
    )
    screener.drain()
    assert watchlist_alert(connection, person.id) is not None
    assert watchlist_alert(connection, person.id)[1] == Severity.HIGH  # type: ignore[index]
    watchlist.remove_entry(
        wl.RemoveEntry(str(listed.id), "salah entri"), IMMIGRATION, AgencyKind.IMMIGRATION
    )
    screener.drain()
    row = connection.execute(
        text(
            "SELECT status, resolution_reason FROM alerts WHERE rule = 'WATCHLIST_MATCH'"
            " AND subject_id = :id"
        ),
        {"id": str(person.id)},
    ).one()
    assert tuple(row) == ("RESOLVED", "WATCHLIST_CLEARED")


def test_a_dismissed_match_stays_dismissed_until_a_record_changes(  # noqa: PLR0917
    registry: Registry,
    watchlist: Watchlist,
    screener: Screener,
    alerts: Alerts,
    connection: Connection,
    clock: SettableClock,
) -> None:
    listed = watchlist.upsert_entry(
        entry("Kim Jong Su", nationality="KOR"), IMMIGRATION, AgencyKind.IMMIGRATION
    )
    person = registry.register_person(c.registration("Kim", "Jong Su", "KOR"))
    screener.drain()
    alert_id = connection.execute(
        text("SELECT id FROM alerts WHERE rule = 'WATCHLIST_MATCH' AND subject_id = :id"),
        {"id": str(person.id)},
    ).scalar_one()
    alerts.review_alert(
        cmd.ReviewAlert(str(alert_id), "DISMISS", "berbeda orang: paspor lain, lahir 1990"),
        OTHER_OFFICER,
    )
    # A sighting screens the person again: the same pair is not raised again.
    registry.record_entry(c.entry(person.id, clock.ago(hours=1), c.permit(clock.today())))
    screener.drain()
    assert watchlist_alert(connection, person.id)[0] == AlertStatus.DISMISSED  # type: ignore[index]
    # The entry changes: the pair is raised again as a new alert.
    watchlist.upsert_entry(
        entry("Kim Jong Su", nationality="KOR", entry_id=str(listed.id), reason="DPO Interpol"),
        IMMIGRATION,
        AgencyKind.IMMIGRATION,
    )
    screener.drain()
    assert watchlist_alert(connection, person.id)[0] == AlertStatus.OPEN  # type: ignore[index]


def test_the_officer_who_registered_the_person_cannot_confirm_the_match(
    registry: Registry,
    watchlist: Watchlist,
    screener: Screener,
    alerts: Alerts,
    connection: Connection,
) -> None:
    watchlist.upsert_entry(entry("Rodrigo Alves Costa"), IMMIGRATION, AgencyKind.IMMIGRATION)
    with calling(IMMIGRATION):
        person = registry.register_person(c.registration("Costa", "Rodrigo Alves", "BRA"))
    screener.drain()
    alert_id = connection.execute(
        text("SELECT id FROM alerts WHERE rule = 'WATCHLIST_MATCH' AND subject_id = :id"),
        {"id": str(person.id)},
    ).scalar_one()
    with pytest.raises(FailedPrecondition) as refused:
        alerts.review_alert(cmd.ReviewAlert(str(alert_id), "CONFIRM", ""), IMMIGRATION)
    assert refused.value.violations[0].type == "FOUR_EYES"
    assert watchlist_alert(connection, person.id)[0] == AlertStatus.OPEN  # type: ignore[index]
    reviewed, event = alerts.review_alert(
        cmd.ReviewAlert(str(alert_id), "CONFIRM", "paspor dan foto cocok"), OTHER_OFFICER
    )
    assert reviewed.status is AlertStatus.CONFIRMED
    assert event.officer == "Siti Rahayu"


def test_many_entries_changed_at_once_screen_the_population_again(
    registry: Registry,
    watchlist: Watchlist,
    screener: Screener,
    connection: Connection,
    service_settings: Settings,
) -> None:
    person = registry.register_person(c.registration("Tanaka", "Hiroshi", "JPN"))
    screener.drain()
    batch = [
        entry(f"Listed Person {i:04d}", external_id=f"bulk-{i}")
        for i in range(service_settings.watchlist_bulk_entries)
    ]
    batch.append(entry("Hiroshi Tanaka", external_id="bulk-tanaka"))
    assert all(
        o is None for o in watchlist.import_entries(batch, IMMIGRATION, AgencyKind.IMMIGRATION)
    )
    done = screener.run_once()
    assert done.population_queued >= 1
    screener.drain()
    assert watchlist_alert(connection, person.id) is not None


def test_an_entry_out_of_force_raises_nothing(
    registry: Registry,
    watchlist: Watchlist,
    screener: Screener,
    connection: Connection,
    clock: SettableClock,
) -> None:
    ended = clock.today() - timedelta(days=1)
    watchlist.upsert_entry(
        entry("Olga Smirnova", valid_until=c.parts(ended)), IMMIGRATION, AgencyKind.IMMIGRATION
    )
    person = registry.register_person(c.registration("Smirnova", "Olga", "RUS"))
    screener.drain()
    assert watchlist_alert(connection, person.id) is None


# --- registration from the machine readable zone ---------------------------------------

# An Australian passport's MRZ, every check digit right: born 1985-01-01, expires 2030.
SPECIMEN = "\n".join(td3("SMITH<<JOHN<PAUL", "PA1234567", state="AUS"))


def test_the_mrz_fills_the_person_and_the_document(registry: Registry) -> None:
    request = cmd.RegisterPerson(
        family_name="",
        given_names="",
        nationality="",
        birth_date=None,
        sex=None,
        documents=(),
        mrz=SPECIMEN,
    )
    person, reading = registry.register_person_read(request)
    assert reading is not None
    assert reading.valid
    identity = person.identity
    assert (identity.family_name, identity.given_names, identity.nationality) == (
        "SMITH",
        "JOHN PAUL",
        "AUS",
    )
    assert (identity.birth_date.year, identity.birth_date.month, identity.birth_date.day) == (
        1985,
        1,
        1,
    )
    assert [(d.issuing_state, d.number, d.expiry_date) for d in person.documents] == [
        ("AUS", "PA1234567", date(2030, 1, 1))
    ]


def test_a_failing_check_digit_or_a_disagreeing_field_writes_nothing(
    registry: Registry, row_counts: object
) -> None:
    before = row_counts.snapshot()  # type: ignore[attr-defined]
    good = SPECIMEN.split("\n")[1][9]
    broken = SPECIMEN.replace(f"PA1234567{good}", f"PA1234567{(int(good) + 1) % 10}")
    with pytest.raises(InvalidInput) as raised:
        registry.register_person(cmd.RegisterPerson("", "", "", None, None, (), mrz=broken))
    assert {v.field for v in raised.value.violations} == {
        "mrz.checks.document_number",
        "mrz.checks.composite",
    }
    with pytest.raises(InvalidInput) as disagreeing:
        registry.register_person(
            cmd.RegisterPerson("SMYTH", "", "AUS", None, None, (), mrz=SPECIMEN)
        )
    assert [v.field for v in disagreeing.value.violations] == ["person.family_name"]
    with pytest.raises(InvalidInput) as unreadable:
        registry.register_person(cmd.RegisterPerson("", "", "", None, None, (), mrz="P<UTO"))
    assert [v.field for v in unreadable.value.violations] == ["mrz"]
    assert row_counts.snapshot() == before  # type: ignore[attr-defined]


def test_an_entry_stops_applying_at_wib_midnight_not_utc_midnight(
    watchlist: Watchlist, clock: SettableClock
) -> None:
    """Its last day is the office's: in force at 23:59 WIB (16:59 UTC, the same UTC day),
    not at 00:01 WIB (17:01 UTC, still the same UTC day)."""
    last_day = date(2026, 3, 10)
    listed = watchlist.upsert_entry(
        entry("Bjorn Halvorsen", valid_until=c.parts(last_day)),
        IMMIGRATION,
        AgencyKind.IMMIGRATION,
    )

    def found() -> bool:
        return any(m.entry.id == listed.id for m in watchlist.screen(wl.Screen("Bjorn Halvorsen")))

    clock.set(datetime(2026, 3, 10, 16, 59, tzinfo=UTC))
    assert found()
    clock.set(datetime(2026, 3, 10, 17, 1, tzinfo=UTC))
    assert not found()
