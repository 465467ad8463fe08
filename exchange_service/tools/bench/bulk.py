"""Indexes and keys set aside during a bulk load, then rebuilt exactly as they were.

Loading millions of rows through a primary key, GiST and trigram indexes and
foreign-key triggers costs a probe per row; building each index once after
the load and validating each foreign key with one join costs far less. The
schema is read from the catalog before the load, so what is rebuilt is what
the migrations made, whatever they made.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from psycopg import Connection as PgConnection
from psycopg import sql
from psycopg.rows import TupleRow

Connection = PgConnection[TupleRow]

_CONSTRAINTS = """
SELECT c.conrelid::regclass::text, c.conname, c.contype,
       pg_get_constraintdef(c.oid)
FROM pg_constraint c
WHERE c.contype IN ('p', 'u', 'f')
  AND (c.conrelid = ANY(%(tables)s::regclass[]) OR c.confrelid = ANY(%(tables)s::regclass[]))
ORDER BY 1, 2
"""

# Indexes that no constraint owns (a constraint's index goes with it).
_INDEXES = """
SELECT i.indrelid::regclass::text, i.indexrelid::regclass::text,
       pg_get_indexdef(i.indexrelid)
FROM pg_index i
WHERE i.indrelid = ANY(%(tables)s::regclass[])
  AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
ORDER BY 1, 2
"""


@dataclass(frozen=True)
class Constraint:
    table: str
    name: str
    kind: str  # p: primary key, u: unique, f: foreign key
    definition: str


@dataclass(frozen=True)
class IndexDef:
    table: str
    name: str
    definition: str


@dataclass(frozen=True)
class SchemaSnapshot:
    """The keys and indexes of a set of tables, as the catalog describes them."""

    tables: tuple[str, ...]
    constraints: tuple[Constraint, ...]
    indexes: tuple[IndexDef, ...]

    @property
    def rebuild_steps(self) -> int:
        return len(self.constraints) + len(self.indexes)


def snapshot(connection: Connection, tables: Sequence[str]) -> SchemaSnapshot:
    """Reads the primary keys, unique and foreign keys and other indexes of ``tables``.

    Foreign keys of other tables that point at ``tables`` are included, since
    dropping a referenced key requires dropping them first.
    """
    params = {"tables": list(tables)}
    with connection.cursor() as cursor:
        constraints = tuple(Constraint(*row) for row in cursor.execute(_CONSTRAINTS, params))
        indexes = tuple(IndexDef(*row) for row in cursor.execute(_INDEXES, params))
    return SchemaSnapshot(tuple(tables), constraints, indexes)


def drop_all(connection: Connection, schema: SchemaSnapshot) -> None:
    """Drops the snapshot's foreign keys, then its keys and indexes, in one transaction."""
    with connection.transaction(), connection.cursor() as cursor:
        ordered = sorted(schema.constraints, key=lambda c: c.kind != "f")
        for constraint in ordered:
            cursor.execute(
                sql.SQL("ALTER TABLE {} DROP CONSTRAINT {}").format(
                    sql.SQL(constraint.table), sql.Identifier(constraint.name)
                )
            )
        for index in schema.indexes:
            cursor.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(index.name)))


def _statement(item: IndexDef | Constraint) -> sql.SQL | sql.Composed:
    if isinstance(item, IndexDef):
        return sql.SQL(item.definition)
    return sql.SQL("ALTER TABLE {} ADD CONSTRAINT {} {}").format(
        sql.SQL(item.table), sql.Identifier(item.name), sql.SQL(item.definition)
    )


def _run_all(
    connect: Callable[[], Connection],
    items: Sequence[IndexDef | Constraint],
    parallel: int,
    on_step: Callable[[str], None],
) -> None:
    """Runs the items' statements on ``parallel`` connections, each statement committed alone.

    Items are taken in order from a shared queue, so long builds listed first
    start first. The first failure stops the others taking more items and is
    raised, naming the key or index the loaded data violates.
    """
    pending: queue.SimpleQueue[IndexDef | Constraint] = queue.SimpleQueue()
    for item in items:
        pending.put(item)
    failed = threading.Event()

    def work() -> None:
        with connect() as connection, connection.cursor() as cursor:
            while not failed.is_set():
                try:
                    item = pending.get_nowait()
                except queue.Empty:
                    return
                try:
                    cursor.execute(_statement(item))
                except Exception:
                    failed.set()
                    raise
                on_step(item.name)

    with ThreadPoolExecutor(max_workers=parallel, thread_name_prefix="bench-rebuild") as pool:
        for future in [pool.submit(work) for _ in range(parallel)]:
            future.result()


def _build_order(item: IndexDef | Constraint) -> int:
    """Keys first (they lock their table exclusively, so they must not wait behind
    a long build), then the long single-threaded GiST and GIN builds, then the rest."""
    if isinstance(item, Constraint):
        return 0
    definition = item.definition.lower()
    return 1 if " using gist " in definition or " using gin " in definition else 2


def rebuild_all(
    connect: Callable[[], Connection],
    schema: SchemaSnapshot,
    *,
    parallel: int = 2,
    on_step: Callable[[str], None] = lambda _name: None,
) -> None:
    """Recreates the snapshot's indexes and keys, and checks the catalog matches it again.

    ``connect`` opens an autocommit connection; up to ``parallel`` of them
    build indexes, primary and unique keys at once. Then one adds the foreign
    keys, each validated against the loaded rows (one at a time: two adding
    keys that point at the same table would only queue for its lock).
    ``on_step`` is called with each name once built.
    """
    keys = [c for c in schema.constraints if c.kind != "f"]
    foreign = [c for c in schema.constraints if c.kind == "f"]
    _run_all(connect, sorted([*schema.indexes, *keys], key=_build_order), parallel, on_step)
    _run_all(connect, foreign, 1, on_step)
    with connect() as connection:
        rebuilt = snapshot(connection, schema.tables)
    if rebuilt != schema:
        raise RuntimeError("the rebuilt keys and indexes differ from those the migrations made")
