"""The permit limits as SQL reads them: one parameter, a row per type, and the domain's counting.

The rule PERMIT_LIMIT_EXCEEDED finds, over every stay at once, what
``ExtendPermit`` would have refused; here stays are written as an import
would write them (straight to the store, past the use case's check), and a
set-based statement over them, fed ``PermitLimits.sql_parameters()``, finds
the same excesses as ``domain.permits.limits_exceeded``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine, text

from exchange_service.domain import model
from exchange_service.domain.permits import PermitLimits, PermitTypeLimit, limits_exceeded
from exchange_service.storage.database import SavepointUnitOfWork
from tests.factories import document_number

LIMITS = PermitLimits(
    voa=PermitTypeLimit(total_days=60, extensions=1),
    visit=PermitTypeLimit(total_days=180),
    limited_stay=PermitTypeLimit(),
    permanent_stay=PermitTypeLimit(),
    diplomatic=PermitTypeLimit(),
)
DAY = date(2025, 1, 1)
T = model.PermitType

# Stays as imports brought them: (type, first day, last day) per period, days from DAY.
IMPORTED: dict[str, list[tuple[model.PermitType, int, int]]] = {
    "VOA met": [(T.VOA, 0, 29), (T.VOA, 30, 59)],
    "VOA a day over": [(T.VOA, 0, 29), (T.VOA, 30, 60)],
    "VOA overlapping, met": [(T.VOA, 0, 29), (T.VOA, 10, 59)],
    "VOA extended twice": [(T.VOA, 0, 9), (T.VOA, 10, 19), (T.VOA, 20, 29)],
    "VOA over in both": [(T.VOA, 0, 29), (T.VOA, 30, 40), (T.VOA, 41, 70)],
    "VISIT met": [(T.VISIT, 0, 59), (T.VISIT, 60, 119), (T.VISIT, 120, 179)],
    "VISIT a day over": [(T.VISIT, 0, 59), (T.VISIT, 60, 119), (T.VISIT, 120, 180)],
    "VISIT with a gap, met": [(T.VISIT, 0, 99), (T.VISIT, 150, 229)],
    # 240 days in all, but each type within its own limit.
    "VOA then VISIT, each met": [(T.VOA, 0, 59), (T.VISIT, 60, 239)],
    "DIPLOMATIC for years": [(T.DIPLOMATIC, 0, 3000), (T.DIPLOMATIC, 3001, 9000)],
}

_EXCESSES = text(
    """
    WITH per_type AS (
      SELECT sp.stay_id, sp.type,
             range_agg(daterange(sp.valid_from, sp.valid_until, '[]')) AS covered,
             count(*) - 1 AS extensions
      FROM stay_permits sp
      WHERE sp.stay_id = ANY(:stays)
      GROUP BY sp.stay_id, sp.type
    )
    SELECT p.stay_id, p.type, kind.name
    FROM per_type p
    JOIN jsonb_to_recordset(CAST(:permit_limits AS jsonb))
      AS permit_limits(type text, total_days integer, extensions integer)
      ON permit_limits.type = p.type
    CROSS JOIN LATERAL (
      SELECT sum(upper(r) - lower(r)) AS days FROM unnest(p.covered) r
    ) covered
    CROSS JOIN LATERAL (VALUES
      ('total_days', covered.days > permit_limits.total_days),
      ('extensions', p.extensions > permit_limits.extensions)
    ) AS kind(name, exceeded)
    WHERE kind.exceeded
    """
)


def _import(
    uow: SavepointUnitOfWork, periods: list[tuple[model.PermitType, int, int]]
) -> model.Stay:
    permits = [
        model.StayPermit(f"IMP-{i}", kind, DAY + timedelta(days=first), DAY + timedelta(days=last))
        for i, (kind, first, last) in enumerate(periods)
    ]
    with uow.begin() as tx:
        person = tx.registry.add_person(
            model.Identity("Tran", "Thi", "VNM", model.BirthDate(1990), model.Sex.FEMALE),
            [model.TravelDocument("VNM", document_number())],
        )
        entered = datetime.combine(DAY, datetime.min.time(), UTC)
        stay = tx.registry.add_stay(person.id, "IDTRE", entered, permits[0])
        for sequence, permit in enumerate(permits[1:], start=2):
            tx.registry.add_permit(stay.id, permit, sequence=sequence)
    return model.Stay(stay.id, person.id, "IDTRE", entered, tuple(permits))


def test_a_set_based_statement_finds_what_the_domain_finds(uow: SavepointUnitOfWork) -> None:
    stays = {name: _import(uow, periods) for name, periods in IMPORTED.items()}
    expected = {
        (stay.id, excess.permit_type.value, excess.kind.value)
        for stay in stays.values()
        for kind in {p.type for p in stay.permits}
        for excess in limits_exceeded(stay.permits, LIMITS, kind)
    }
    parameters = {"stays": [s.id for s in stays.values()], **LIMITS.sql_parameters()}
    with uow.begin() as tx:
        rows = tx.registry.session.execute(_EXCESSES, parameters).all()
    found = {(row.stay_id, row.type, row.name) for row in rows}
    assert found == expected
    names = {stay.id: name for name, stay in stays.items()}
    assert sorted((names[stay_id], kind) for stay_id, _type, kind in found) == [
        ("VISIT a day over", "total_days"),
        ("VOA a day over", "total_days"),
        ("VOA extended twice", "extensions"),
        ("VOA over in both", "extensions"),
        ("VOA over in both", "total_days"),
    ]


def test_a_type_without_a_limit_reads_as_null(engine: Engine) -> None:
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT type, total_days, extensions FROM jsonb_to_recordset("
                "CAST(:permit_limits AS jsonb)) AS l(type text, total_days integer,"
                " extensions integer)"
            ),
            LIMITS.sql_parameters(),
        ).all()
    assert [tuple(row) for row in rows] == [
        ("VOA", 60, 1),
        ("VISIT", 180, None),
        ("LIMITED_STAY", None, None),
        ("PERMANENT_STAY", None, None),
        ("DIPLOMATIC", None, None),
    ]
