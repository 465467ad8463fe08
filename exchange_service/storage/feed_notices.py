"""Commit notices of the feeds, on the server's event loop: one LISTEN connection for all.

The transaction that appends entries to an agency's feed sends
``pg_notify('pantau_feed', <agency id>)``, delivered when it commits. One
asynchronous connection listens and wakes the subscriptions of that agency.
If the connection drops, it reconnects with backoff and then wakes every
subscription, which reads again from its last sequence: a notice lost
meanwhile costs nothing but the wait (and the subscriptions' heartbeat
timer reads again anyway).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import psycopg

from exchange_service.storage.async_reads import libpq_url
from exchange_service.storage.feed_store import NOTIFY_CHANNEL

log = logging.getLogger(__name__)


class FeedNotices:
    """Wakes the waiters of an agency when its feed grows; belongs to the loop that starts it."""

    def __init__(self, url: str, *, application_name: str = "pantau-feed") -> None:
        self._conninfo = libpq_url(url)
        self._application_name = application_name
        self._versions: dict[str, int] = {}
        self._changed: asyncio.Condition | None = None
        self._task: asyncio.Task[None] | None = None

    def _condition(self) -> asyncio.Condition:
        if self._changed is None:
            self._changed = asyncio.Condition()
            self._task = asyncio.ensure_future(self._listen())
        return self._changed

    def version(self, agency_id: str) -> int:
        """A number that changes whenever a notice for the agency arrives (or all are woken)."""
        self._condition()
        return self._versions.get(agency_id, 0) + self._versions.get("", 0)

    async def wait(self, agency_id: str, seen: int, timeout: float) -> None:
        """Returns once the agency's version differs from ``seen``, or after ``timeout``."""
        changed = self._condition()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout), changed:
                await changed.wait_for(lambda: self.version(agency_id) != seen)

    async def _wake(self, agency_id: str) -> None:
        changed = self._condition()
        async with changed:
            self._versions[agency_id] = self._versions.get(agency_id, 0) + 1
            changed.notify_all()

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            try:
                connection: psycopg.AsyncConnection[Any] = await psycopg.AsyncConnection.connect(
                    self._conninfo, autocommit=True, application_name=self._application_name
                )
                async with connection:
                    await connection.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    await self._wake("")  # anything missed while not listening
                    delay = 0.5
                    async for notice in connection.notifies():
                        await self._wake(notice.payload)
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database went away: wait, reconnect
                log.warning("feed notices: %s; listening again in %.1f s", error, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
