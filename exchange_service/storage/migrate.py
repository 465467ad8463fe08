"""Runs the Alembic migrations shipped inside the package.

Alembic logs at INFO every plugin it sets up when it is imported, and every
step it takes; the `pantau` command imports this module whatever it does. So
Alembic is imported only to migrate, its records below WARNING are held back
while it runs (unless the log level is DEBUG), and one line of ours says what
the migration did.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)


@contextmanager
def _alembic_warnings_only() -> Iterator[None]:
    alembic_log = logging.getLogger("alembic")
    level = alembic_log.level
    if alembic_log.getEffectiveLevel() > logging.DEBUG:
        alembic_log.setLevel(logging.WARNING)
    try:
        yield
    finally:
        alembic_log.setLevel(level)


def alembic_config(url: str) -> Config:
    with _alembic_warnings_only():
        from alembic.config import Config

    config = Config()
    config.set_main_option(
        "script_location", str(resources.files("exchange_service.storage") / "migrations")
    )
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _revision(connection: Connection) -> str | None:
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Brings the schema to the newest revision in one transaction, and logs the change."""
    with _alembic_warnings_only():
        from alembic import command

        config = alembic_config(engine.url.render_as_string(hide_password=False))
        with engine.begin() as connection:
            before = _revision(connection)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            after = _revision(connection)
    if before == after:
        log.info("database schema is up to date (revision %s)", after)
    else:
        log.info("database schema upgraded from %s to revision %s", before or "empty", after)
