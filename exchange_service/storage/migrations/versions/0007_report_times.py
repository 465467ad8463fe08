"""Addresses and sightings keep two times: when they were reported, and when Pantau received them.

An address or sighting imported from another system carries the time it was
originally reported (``reported_at``), so a rule asking whether an address
was reported since a sighting does not take a historical import for a fresh
report; the time Pantau received it is kept beside it (``recorded_at``).
``addresses.reported_at`` was the time of receipt and becomes the time of the
report; ``addresses.recorded_at`` and ``sightings.reported_at`` are new.

The rows written before this revision were all reported as they were
received, so each new column starts as a copy of the row's one time. These
tables are append-only by trigger: the migration lifts the trigger for its
one copy, inside its own transaction, so no other write can pass meanwhile
(ALTER TABLE holds the table's exclusive lock until the commit).

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 02:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# (table, new column, the column it starts as a copy of)
_NEW_TIMES = (
    ("addresses", "recorded_at", "reported_at"),
    ("sightings", "reported_at", "recorded_at"),
)


def upgrade() -> None:
    for table, column, copied_from in _NEW_TIMES:
        op.add_column(table, sa.Column(column, sa.DateTime(timezone=True), nullable=True))
        op.execute(f"ALTER TABLE {table} DISABLE TRIGGER {table}_append_only")
        op.execute(f"UPDATE {table} SET {column} = {copied_from}")
        op.execute(f"ALTER TABLE {table} ENABLE TRIGGER {table}_append_only")
        op.alter_column(table, column, nullable=False, server_default=sa.text("now()"))


def downgrade() -> None:
    for table, column, _copied_from in _NEW_TIMES:
        op.drop_column(table, column)
