"""Engine and units of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg.errors
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from exchange_service.domain.deadlines import seconds_left
from exchange_service.domain.errors import DeadlineExceeded, Unavailable


def make_engine(url: str, *, pool_size: int = 10, application_name: str = "pantau") -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args={"application_name": application_name},
    )

    @event.listens_for(engine, "connect")
    def _utc(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        with dbapi_connection.cursor() as cursor:
            cursor.execute("SET TIME ZONE 'UTC'")
        dbapi_connection.commit()

    return engine


class UnitOfWork:
    """Opens one transaction per use case: committed on success, rolled back otherwise.

    Statements are bounded by the deadline of the call being served, so a
    caller that gives up does not leave work running; a timed-out or
    unreachable database becomes ``DeadlineExceeded`` or ``Unavailable``.
    """

    def __init__(self, engine: Engine) -> None:
        self._sessions = sessionmaker(engine, expire_on_commit=False, autoflush=False)

    @contextmanager
    def begin(self) -> Iterator[Session]:
        with _database_errors(), self._sessions() as session, session.begin():
            _bound_by_deadline(session)
            yield session

    @contextmanager
    def read(self) -> Iterator[Session]:
        """A read-only transaction: a bug cannot write through it."""
        with _database_errors(), self._sessions() as session, session.begin():
            session.execute(text("SET TRANSACTION READ ONLY"))
            _bound_by_deadline(session)
            yield session


def _bound_by_deadline(session: Session) -> None:
    left = seconds_left()
    if left is None:
        return
    if left <= 0:
        raise DeadlineExceeded("the deadline passed before the work started")
    session.execute(text(f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}"))


@contextmanager
def _database_errors() -> Iterator[None]:
    try:
        yield
    except DBAPIError as error:
        if isinstance(error.orig, psycopg.errors.QueryCanceled):
            raise DeadlineExceeded("the deadline passed while the database worked") from error
        if isinstance(error, OperationalError):
            raise Unavailable("the database cannot be reached") from error
        raise
