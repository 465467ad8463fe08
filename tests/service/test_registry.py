"""The registry's rules, through the use cases on the real PostGIS; nothing outlives a test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta

import pytest
from sqlalchemy import Connection, event

from exchange_service.domain import commands as cmd
from exchange_service.domain import model
from exchange_service.domain.errors import (
    AlreadyExists,
    FailedPrecondition,
    InvalidInput,
    NotFound,
    PantauError,
)
from exchange_service.services import Queries, Registry
from tests.service import commands as c
from tests.service.conftest import RowCountsInTransaction, SettableClock


def _precondition_types(error: pytest.ExceptionInfo[FailedPrecondition]) -> list[str]:
    return [v.type for v in error.value.violations]


# --- persons and their documents ---------------------------------------------


def test_registering_again_with_the_same_document_and_identity_returns_the_same_person(
    registry: Registry, row_counts: RowCountsInTransaction
) -> None:
    first = registry.register_person(c.registration())
    number = first.documents[0].number
    before = row_counts.snapshot()
    again = registry.register_person(
        c.registration("NGUYEN", "van  an", documents=(c.document(number.lower()),))
    )
    assert again == first
    assert row_counts.snapshot() == before


def test_a_known_document_with_another_identity_is_refused_naming_the_holder(
    registry: Registry, row_counts: RowCountsInTransaction
) -> None:
    first = registry.register_person(c.registration())
    number = first.documents[0].number
    before = row_counts.snapshot()
    with pytest.raises(AlreadyExists) as caught:
        registry.register_person(
            c.registration("Tran", "Thi Bich", documents=(c.document(number),))
        )
    assert caught.value.reason == "DOCUMENT_REGISTERED_TO_OTHER_IDENTITY"
    assert caught.value.metadata == {"person_id": str(first.id)}
    assert row_counts.snapshot() == before


def test_documents_of_two_registered_persons_are_refused_naming_both(
    registry: Registry, row_counts: RowCountsInTransaction
) -> None:
    one = registry.register_person(c.registration())
    other = registry.register_person(c.registration())
    before = row_counts.snapshot()
    both = (c.document(one.documents[0].number), c.document(other.documents[0].number))
    with pytest.raises(AlreadyExists) as caught:
        registry.register_person(c.registration(documents=both))
    assert caught.value.reason == "DOCUMENTS_OF_DIFFERENT_PERSONS"
    assert caught.value.metadata == {"person_ids": ",".join(sorted([str(one.id), str(other.id)]))}
    assert row_counts.snapshot() == before


def test_registering_again_with_a_new_document_adds_it_to_the_same_person(
    registry: Registry, queries: Queries, row_counts: RowCountsInTransaction
) -> None:
    first = registry.register_person(c.registration())
    known, new = c.document(first.documents[0].number), c.document()
    before = row_counts.snapshot()
    again = registry.register_person(c.registration(documents=(new, known)))
    assert again.id == first.id
    assert [d.number for d in again.documents] == [first.documents[0].number, new.number]
    assert row_counts.snapshot()["travel_documents"] == before["travel_documents"] + 1
    assert queries.get_person(cmd.PersonKey(person_id=str(first.id))).person == again


def test_a_document_of_another_person_cannot_be_added(
    registry: Registry, row_counts: RowCountsInTransaction
) -> None:
    holder = registry.register_person(c.registration())
    other = registry.register_person(c.registration())
    taken = c.document(holder.documents[0].number)
    before = row_counts.snapshot()
    with pytest.raises(AlreadyExists) as caught:
        registry.add_travel_document(cmd.AddTravelDocument(str(other.id), taken))
    assert caught.value.metadata == {"person_id": str(holder.id)}
    with pytest.raises(NotFound) as missing:
        registry.add_travel_document(cmd.AddTravelDocument(str(uuid.uuid4()), c.document()))
    assert missing.value.field == "person_id"
    assert row_counts.snapshot() == before
    # The holder's own document again is no change.
    assert registry.add_travel_document(cmd.AddTravelDocument(str(holder.id), taken)) == holder
    assert row_counts.snapshot() == before


# --- stays and permits -------------------------------------------------------


def test_a_person_has_one_open_stay_at_a_time(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    stay = registry.record_entry(c.entry(person.id, clock.ago(hours=2), c.permit(clock.today())))
    before = row_counts.snapshot()
    with pytest.raises(FailedPrecondition) as caught:
        registry.record_entry(c.entry(person.id, clock.ago(hours=1), c.permit(clock.today())))
    assert _precondition_types(caught) == ["STAY_OPEN"]
    assert caught.value.violations[0].subject == f"stays/{stay.id}"
    assert row_counts.snapshot() == before


def test_an_entry_before_the_last_exit_is_refused(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    registry.record_entry(c.entry(person.id, clock.ago(hours=5), c.permit(clock.today())))
    registry.record_exit(c.exit_at(person.id, clock.ago(hours=2)))
    before = row_counts.snapshot()
    with pytest.raises(FailedPrecondition) as caught:
        registry.record_entry(c.entry(person.id, clock.ago(hours=3), c.permit(clock.today())))
    assert _precondition_types(caught) == ["ENTRY_BEFORE_LAST_EXIT"]
    assert row_counts.snapshot() == before
    again = registry.record_entry(c.entry(person.id, clock.ago(hours=1), c.permit(clock.today())))
    assert again.is_open


def test_an_extension_joins_the_current_period_and_ends_later(
    registry: Registry, queries: Queries, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    today = clock.today()
    person = registry.register_person(c.registration())
    stay = registry.record_entry(c.entry(person.id, clock.ago(hours=2), c.permit(today)))
    before = row_counts.snapshot()
    refusals = {
        "a gap after the current period": (c.permit(today, starts=40, ends=90), "CONTIGUOUS"),
        "backdated before its start": (c.permit(today, starts=-400, ends=90), "CONTIGUOUS"),
        "starting with the current period": (c.permit(today, starts=-1, ends=90), "CONTIGUOUS"),
        "ending no later": (c.permit(today, starts=10, ends=30), "LATER"),
    }
    for name, (permit, rule) in refusals.items():
        with pytest.raises(FailedPrecondition) as caught:
            registry.extend_permit(cmd.ExtendPermit(str(stay.id), permit))
        assert _precondition_types(caught) == [f"EXTENSION_NOT_{rule}"], name
    assert row_counts.snapshot() == before

    # The day after the current period's end is still contiguous (and the
    # VOA's 60 days in all are reached, not passed: the first period is from yesterday).
    extension = c.permit(today, starts=31, ends=58, number="VOA-1-EXT")
    extended = registry.extend_permit(cmd.ExtendPermit(str(stay.id), extension))
    assert [p.permit_number for p in extended.permits] == ["VOA-1", "VOA-1-EXT"]
    assert extended.permit.valid_until == today + timedelta(days=58)
    dossier = queries.get_person(cmd.PersonKey(person_id=str(person.id)))
    assert dossier.current_stay == extended


def test_an_ended_or_unknown_stay_cannot_be_extended(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    stay = registry.record_entry(c.entry(person.id, clock.ago(hours=2), c.permit(clock.today())))
    registry.record_exit(c.exit_at(person.id, clock.ago(hours=1)))
    extension = c.permit(clock.today(), starts=31, ends=90)
    before = row_counts.snapshot()
    with pytest.raises(FailedPrecondition) as caught:
        registry.extend_permit(cmd.ExtendPermit(str(stay.id), extension))
    assert _precondition_types(caught) == ["STAY_CLOSED"]
    with pytest.raises(NotFound) as missing:
        registry.extend_permit(cmd.ExtendPermit(str(uuid.uuid4()), extension))
    assert missing.value.field == "stay_id"
    assert row_counts.snapshot() == before


def test_an_exit_needs_an_open_stay_entered_before_it(
    registry: Registry, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    before = row_counts.snapshot()
    with pytest.raises(FailedPrecondition) as caught:
        registry.record_exit(c.exit_at(person.id, clock.ago(hours=1)))
    assert _precondition_types(caught) == ["NO_OPEN_STAY"]
    stay = registry.record_entry(c.entry(person.id, clock.ago(hours=2), c.permit(clock.today())))
    entered = row_counts.snapshot()
    assert entered["stays"] == before["stays"] + 1
    with pytest.raises(FailedPrecondition) as caught:
        registry.record_exit(c.exit_at(person.id, clock.ago(hours=3)))
    assert _precondition_types(caught) == ["EXIT_BEFORE_ENTRY"]
    assert row_counts.snapshot() == entered

    closed = registry.record_exit(c.exit_at(person.id, clock.ago(hours=1)))
    assert (closed.id, closed.exit_port_code, closed.exited_at) == (
        stay.id,
        "MWK",
        clock.ago(hours=1),
    )
    assert closed.permits == stay.permits


def test_a_person_who_left_no_longer_lives_at_their_address(
    registry: Registry, queries: Queries, clock: SettableClock
) -> None:
    genting_pulur = cmd.RawPoint(2.8624, 105.7424)
    person = registry.register_person(c.registration())
    registry.record_entry(c.entry(person.id, clock.ago(hours=5), c.permit(clock.today())))
    registry.report_address(c.address(person.id, clock.today(), genting_pulur))

    def near() -> list[uuid.UUID]:
        found = queries.list_persons_near(cmd.ListPersonsNear(genting_pulur, 300, 500))
        return [n.person.id for n in found.items]

    assert person.id in near()
    registry.record_exit(c.exit_at(person.id, clock.ago(hours=1)))
    assert person.id not in near()
    assert queries.get_person(cmd.PersonKey(str(person.id))).current_address is None


# --- addresses ----------------------------------------------------------------


def test_an_address_is_placed_and_the_latest_move_stays_current(
    registry: Registry, queries: Queries, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    today = clock.today()
    person = registry.register_person(c.registration())
    first = registry.report_address(c.address(person.id, today - timedelta(days=30)))
    assert (first.address.district_code, first.address.village_code) == (
        "21.05.01",
        "21.05.01.1001",
    )
    assert first.address.village_name == "Terempa"
    before = row_counts.snapshot()
    moved = registry.report_address(c.address(person.id, today - timedelta(days=2), c.MATAK))
    assert moved.address.district_code == "21.05.10"  # Kute Siantan
    after = row_counts.snapshot()
    assert after["addresses"] == before["addresses"] + 1
    assert after["current_addresses"] == before["current_addresses"]

    # A late report of an older move is kept but does not become current.
    late = registry.report_address(c.address(person.id, today - timedelta(days=10)))
    dossier = queries.get_person(cmd.PersonKey(str(person.id)))
    assert dossier.current_address == moved
    assert late.id not in {first.id, moved.id}


def test_an_address_outside_the_regency_gets_no_district(
    registry: Registry, clock: SettableClock
) -> None:
    person = registry.register_person(c.registration())
    batam = registry.report_address(c.address(person.id, clock.today(), c.BATAM))
    assert (batam.address.district_code, batam.address.village_code) == ("", "")


# --- sightings ----------------------------------------------------------------


def test_a_sighting_names_its_person_by_id_or_by_document(
    registry: Registry, queries: Queries, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    person = registry.register_person(c.registration())
    held = c.document(person.documents[0].number)
    by_id, new_by_id = registry.record_sighting(
        c.police_check(clock.ago(hours=3), person_id=person.id)
    )
    by_document, new_by_document = registry.record_sighting(
        c.police_check(clock.ago(hours=1), held=held)
    )
    assert (new_by_id, new_by_document) == (True, True)
    assert by_id.person_id == by_document.person_id == person.id
    assert by_document.district_code.startswith("21.05.")
    dossier = queries.get_person(cmd.PersonKey(str(person.id)))
    assert dossier.recent_sightings == (by_document, by_id)

    before = row_counts.snapshot()
    with pytest.raises(NotFound) as unknown_document:
        registry.record_sighting(c.police_check(clock.ago(hours=1), held=c.document()))
    assert unknown_document.value.field == "document"
    with pytest.raises(NotFound) as unknown_person:
        registry.record_sighting(c.police_check(clock.ago(hours=1), person_id=uuid.uuid4()))
    assert unknown_person.value.field == "person_id"
    assert row_counts.snapshot() == before


def test_a_sighting_reference_is_recorded_once_and_never_for_another_person(
    registry: Registry, queries: Queries, clock: SettableClock, row_counts: RowCountsInTransaction
) -> None:
    first = registry.register_person(c.registration())
    second = registry.register_person(c.registration())
    reference = "POLRES-KKA-0042"
    original, is_new = registry.record_sighting(
        c.police_check(clock.ago(hours=2), person_id=first.id, reference=reference)
    )
    assert is_new
    before = row_counts.snapshot()
    repeat, is_new = registry.record_sighting(
        c.police_check(clock.ago(hours=2), person_id=first.id, reference=reference)
    )
    assert (repeat, is_new) == (original, False)
    with pytest.raises(AlreadyExists) as caught:
        registry.record_sighting(
            c.police_check(clock.ago(hours=1), person_id=second.id, reference=reference)
        )
    assert caught.value.reason == "SIGHTING_REFERENCE_TAKEN"
    assert str(first.id) not in caught.value.message
    assert row_counts.snapshot() == before
    assert not queries.get_person(cmd.PersonKey(str(second.id))).recent_sightings


# --- what a write returns ----------------------------------------------------


def test_each_write_returns_the_record_as_the_database_holds_it(
    registry: Registry, queries: Queries, clock: SettableClock
) -> None:
    today = clock.today()
    registered = registry.register_person(c.registration())
    dossier = queries.get_person(cmd.PersonKey(str(registered.id)))
    assert dossier.person == registered
    grown = registry.register_person(
        c.registration(documents=(c.document(registered.documents[0].number), c.document()))
    )
    assert queries.get_person(cmd.PersonKey(str(registered.id))).person == grown

    entered = registry.record_entry(c.entry(registered.id, clock.ago(hours=3), c.permit(today)))
    assert entered.permit.recorded_at is not None
    assert queries.get_person(cmd.PersonKey(str(registered.id))).current_stay == entered
    extended = registry.extend_permit(
        cmd.ExtendPermit(str(entered.id), c.permit(today, starts=31, ends=58, number="EXT"))
    )
    assert queries.get_person(cmd.PersonKey(str(registered.id))).current_stay == extended
    closed = registry.record_exit(c.exit_at(registered.id, clock.ago(hours=1)))
    assert closed == replace(extended, exit_port_code="MWK", exited_at=clock.ago(hours=1))


@dataclass
class _Statements:
    """The statements a use case sends on the test's connection, savepoints aside."""

    sent: list[str]

    def count(self, work: Callable[[], object]) -> int:
        self.sent.clear()
        work()
        return len([s for s in self.sent if not s.startswith(("SAVEPOINT", "RELEASE"))])


@pytest.fixture
def statements(connection: Connection) -> Iterator[_Statements]:
    recorded = _Statements([])

    def record(*args: object) -> None:
        recorded.sent.append(str(args[2]).lstrip())

    event.listen(connection, "before_cursor_execute", record)
    yield recorded
    event.remove(connection, "before_cursor_execute", record)


def test_writes_read_back_nothing_they_wrote(
    registry: Registry, clock: SettableClock, statements: _Statements
) -> None:
    today = clock.today()
    # Lock the document, find its holder, insert the person, insert the document.
    new: list[model.Person] = []
    assert statements.count(lambda: new.append(registry.register_person(c.registration()))) == 4
    # Lock the document, find its holder, read the holder.
    known = c.registration(documents=(c.document(new[0].documents[0].number),))
    assert statements.count(lambda: registry.register_person(known)) == 3
    # Lock the person, look for an open stay and the last exit, insert stay and permit.
    stays: list[model.Stay] = []
    entry = c.entry(new[0].id, clock.ago(hours=2), c.permit(today))
    assert statements.count(lambda: stays.append(registry.record_entry(entry))) == 5
    # Lock the stay, read it, insert the permit.
    extension = cmd.ExtendPermit(str(stays[0].id), c.permit(today, starts=31, ends=58))
    assert statements.count(lambda: registry.extend_permit(extension)) == 3
    # Lock the person, read the open stay, close it, end the current address.
    exit_ = c.exit_at(new[0].id, clock.ago(hours=1))
    assert statements.count(lambda: registry.record_exit(exit_)) == 4


# --- a rejected command writes nothing --------------------------------------


@dataclass
class _World:
    """Made before the snapshot: a person with an open stay and a sighting, one with neither."""

    registry: Registry
    clock: SettableClock
    present: model.Person
    idle: model.Person
    sighting_reference: str


@pytest.fixture
def world(registry: Registry, clock: SettableClock) -> _World:
    present = registry.register_person(c.registration())
    registry.record_entry(c.entry(present.id, clock.ago(hours=2), c.permit(clock.today())))
    reference = "POLRES-KKA-0001"
    registry.record_sighting(
        c.police_check(clock.ago(hours=1), person_id=present.id, reference=reference)
    )
    idle = registry.register_person(c.registration())
    return _World(registry, clock, present, idle, reference)


REJECTED: dict[str, tuple[Callable[[_World], object], type[PantauError], str]] = {
    "birth date in the future": (
        lambda w: w.registry.register_person(
            c.registration(born=w.clock.today() + timedelta(days=1))
        ),
        InvalidInput,
        "person.birth_date",
    ),
    "home country citizen": (
        lambda w: w.registry.register_person(c.registration(nationality="IDN")),
        InvalidInput,
        "person.nationality",
    ),
    "document listed twice": (
        lambda w: w.registry.register_person(
            c.registration(documents=(c.document("A1"), c.document("A1")))
        ),
        InvalidInput,
        "person.documents[1]",
    ),
    "entry with a permit starting later": (
        lambda w: w.registry.record_entry(
            c.entry(w.idle.id, w.clock.ago(hours=1), c.permit(w.clock.today(), starts=3))
        ),
        InvalidInput,
        "permit.valid_from",
    ),
    "entry in the future": (
        lambda w: w.registry.record_entry(
            c.entry(w.idle.id, w.clock.ago(hours=-1), c.permit(w.clock.today()))
        ),
        InvalidInput,
        "entered_at",
    ),
    "entry of an unknown person": (
        lambda w: w.registry.record_entry(
            c.entry(uuid.uuid4(), w.clock.ago(hours=1), c.permit(w.clock.today()))
        ),
        NotFound,
        "person_id",
    ),
    "second open stay": (
        lambda w: w.registry.record_entry(
            c.entry(w.present.id, w.clock.ago(hours=1), c.permit(w.clock.today()))
        ),
        FailedPrecondition,
        "",
    ),
    "exit without a stay": (
        lambda w: w.registry.record_exit(c.exit_at(w.idle.id, w.clock.ago(hours=1))),
        FailedPrecondition,
        "",
    ),
    "address effective tomorrow": (
        lambda w: w.registry.report_address(
            c.address(w.present.id, w.clock.today() + timedelta(days=1))
        ),
        InvalidInput,
        "effective_from",
    ),
    "address of an unknown person": (
        lambda w: w.registry.report_address(c.address(uuid.uuid4(), w.clock.today())),
        NotFound,
        "person_id",
    ),
    "sighting latitude over 90": (
        lambda w: w.registry.record_sighting(
            replace(
                c.police_check(w.clock.ago(hours=1), person_id=w.present.id),
                location=cmd.RawPoint(90.5, 106.0),
            )
        ),
        InvalidInput,
        "location.latitude",
    ),
    "sighting reference of another person": (
        lambda w: w.registry.record_sighting(
            c.police_check(
                w.clock.ago(hours=1), person_id=w.idle.id, reference=w.sighting_reference
            )
        ),
        AlreadyExists,
        "",
    ),
}


@pytest.mark.parametrize("case", sorted(REJECTED))
def test_a_rejected_command_writes_nothing(
    case: str, world: _World, row_counts: RowCountsInTransaction
) -> None:
    call, error_type, field = REJECTED[case]
    before = row_counts.snapshot()
    with pytest.raises(error_type) as caught:
        call(world)
    if field and isinstance(caught.value, InvalidInput):
        assert field in {v.field for v in caught.value.violations}
    if field and isinstance(caught.value, NotFound):
        assert caught.value.field == field
    assert row_counts.snapshot() == before
