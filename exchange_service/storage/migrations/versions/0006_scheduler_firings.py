"""Scheduler firings: each scheduled run that committed, claimed in the run's own transaction.

A (job, slot) fires once; a run that stands in for missed slots covers the
span from ``covers_from`` to ``slot``, and no slot of a job is covered twice
(an exclusion constraint over the spans, with btree_gist for the job's
equality; the extension comes with the database, as PostGIS does).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-09 03:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.create_table(
        "scheduler_firings",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("job", sa.Text(), nullable=False),
        sa.Column("slot", sa.DateTime(timezone=True), nullable=False),
        sa.Column("covers_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease", sa.Text(), nullable=False),
        sa.Column("term", sa.BigInteger(), nullable=False),
        sa.Column("fired_by", sa.Text(), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "covers_from <= slot", name=op.f("ck_scheduler_firings_covers_up_to_slot")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduler_firings")),
        sa.UniqueConstraint("job", "slot", name="uq_scheduler_firings_job_slot"),
        postgresql.ExcludeConstraint(
            ("job", "="),
            (sa.text("tstzrange(covers_from, slot, '[]')"), "&&"),
            name="ex_scheduler_firings_covered_once",
            using="gist",
        ),
    )


def downgrade() -> None:
    op.drop_table("scheduler_firings")
