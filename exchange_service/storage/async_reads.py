"""Reads on the server's event loop, no worker thread at all: the dossier, and the feeds.

GetPerson is the call the police make most. Run on a worker it costs two
thread hand-overs (the loop to a worker and back), which on two cores cost
about as much as the rest of the call; here its one statement is sent on an
asynchronous connection from the loop itself. The pool is small and lazy:
connections are opened as calls need them, at most ``size``, each read-only,
autocommit and bound by the call's deadline as the threads' read engine is
(``database.py``); a broken connection is dropped and the call fails with
``Unavailable``. It belongs to the event loop that first uses it.

The feeds' subscriptions read their entries here too: a subscription is a
coroutine that waits for the next commit notice, so it must not hold a
thread either.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import psycopg
from psycopg import sql

from exchange_service.domain import model
from exchange_service.domain.deadlines import seconds_left
from exchange_service.domain.errors import DeadlineExceeded, Unavailable
from exchange_service.domain.feed import FeedEntry
from exchange_service.storage.database import statement_timeout_ms
from exchange_service.storage.registry_reader import dossier_of, dossier_query


def libpq_url(url: str) -> str:
    """A libpq URL from SQLAlchemy's (``postgresql+psycopg://``)."""
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


class AsyncReader:
    """The dossier query on one asynchronous read-only connection."""

    def __init__(self, connection: psycopg.AsyncConnection[Any]) -> None:
        self._connection = connection

    async def dossier(
        self,
        *,
        person_id: uuid.UUID | None = None,
        document: model.TravelDocument | None = None,
        sightings: int,
    ) -> model.PersonDossier | None:
        query = dossier_query(person_id, document, sightings)
        if query is None:
            return None
        cursor = await self._connection.execute(*query, prepare=True)
        return dossier_of(await cursor.fetchall())

    async def feed_entries(
        self, agency_id: str, after: int, limit: int
    ) -> list[tuple[FeedEntry, str]]:
        """The agency's entries after sequence ``after``, in order, at most ``limit``, each with
        the id of the person it is about ('' for none)."""
        cursor = await self._connection.execute(
            _FEED_ENTRIES, {"agency_id": agency_id, "after": after, "limit": limit}, prepare=True
        )
        return [(feed_entry_of(row), row[9]) for row in await cursor.fetchall()]

    async def feed_last_sequence(self, agency_id: str) -> int:
        """The sequence of the agency's last entry (0 for none)."""
        cursor = await self._connection.execute(_FEED_HEAD, {"agency_id": agency_id}, prepare=True)
        row = await cursor.fetchone()
        return 0 if row is None else int(row[0])


# What an entry is read as, here and by the other readers of the feeds.
FEED_ENTRY_COLUMNS = (
    "agency_id, sequence, event_seq, payload, payload_type, key_id, signature, previous_hash,"
    " signed_at, person_id"
)
_FEED_ENTRIES = (
    f"SELECT {FEED_ENTRY_COLUMNS} FROM feed_entries"
    " WHERE agency_id = %(agency_id)s AND sequence > %(after)s ORDER BY sequence LIMIT %(limit)s"
)
_FEED_HEAD = "SELECT last_sequence FROM feed_heads WHERE agency_id = %(agency_id)s"


def feed_entry_of(row: Sequence[Any]) -> FeedEntry:
    """An entry from a row of ``FEED_ENTRY_COLUMNS`` (the person's id, last, is not the entry's)."""
    return FeedEntry(
        agency_id=row[0],
        sequence=row[1],
        event_seq=row[2],
        payload=bytes(row[3]),
        payload_type=row[4],
        key_id=row[5],
        signature=bytes(row[6]),
        previous_hash=bytes(row[7]),
        signed_at=row[8],
    )


class AsyncReadPool:
    """At most ``size`` asynchronous read-only connections, opened as calls need them."""

    def __init__(self, url: str, *, size: int, application_name: str = "pantau") -> None:
        self._conninfo = libpq_url(url)
        self._size = size
        self._application_name = application_name
        self._idle: list[tuple[psycopg.AsyncConnection[Any], dict[str, int]]] = []
        self._opened = 0
        self._freed: asyncio.Condition | None = None

    async def _take(self) -> tuple[psycopg.AsyncConnection[Any], dict[str, int]]:
        freed = self._condition()
        async with freed:
            while not self._idle and self._opened >= self._size:
                await freed.wait()
            if self._idle:
                return self._idle.pop()
            self._opened += 1
        try:
            connection = await psycopg.AsyncConnection.connect(
                self._conninfo,
                autocommit=True,
                application_name=self._application_name,
                options="-c TimeZone=UTC -c jit=off -c default_transaction_read_only=on",
            )
        except psycopg.OperationalError as error:
            await self._forget()
            raise Unavailable("the database cannot be reached") from error
        return connection, {}

    def _condition(self) -> asyncio.Condition:
        """Made on the loop that first takes a connection (asyncio objects belong to one)."""
        if self._freed is None:
            self._freed = asyncio.Condition()
        return self._freed

    async def _forget(self) -> None:
        async with self._condition():
            self._opened -= 1
            self._condition().notify()

    async def _give_back(self, taken: tuple[psycopg.AsyncConnection[Any], dict[str, int]]) -> None:
        async with self._condition():
            self._idle.append(taken)
            self._condition().notify()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncReader]:
        """A reader on a pooled connection, its statements bounded by the call's deadline."""
        taken = await self._take()
        connection, state = taken
        broken = False
        try:
            try:
                wanted = statement_timeout_ms(seconds_left())
                if state.get("statement_timeout") != wanted:
                    await connection.execute(sql.SQL("SET statement_timeout = {}").format(wanted))
                    state["statement_timeout"] = wanted
                yield AsyncReader(connection)
            except psycopg.errors.QueryCanceled as error:
                raise DeadlineExceeded("the deadline passed while the database worked") from error
            except psycopg.OperationalError as error:
                broken = True
                raise Unavailable("the database cannot be reached") from error
            except asyncio.CancelledError:
                broken = True  # a statement may be under way on it
                raise
        finally:
            if broken or connection.closed:
                await connection.close()
                await self._forget()
            else:
                await self._give_back(taken)

    async def close(self) -> None:
        """Closes the idle connections (the server has stopped serving)."""
        idle, self._idle = self._idle, []
        for connection, _state in idle:
            await connection.close()
