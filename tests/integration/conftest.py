"""Fixtures of the storage tier: units of work whose writes are all rolled back."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine

from exchange_service.storage.database import SavepointUnitOfWork


@pytest.fixture
def uow(engine: Engine) -> Iterator[SavepointUnitOfWork]:
    """Units of work in a transaction of one connection, rolled back after the test."""
    with engine.connect() as connection:
        transaction = connection.begin()
        try:
            yield SavepointUnitOfWork(connection, boundary_tolerance_meters=1500.0)
        finally:
            transaction.rollback()
