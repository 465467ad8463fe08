"""The audit inbox: events any process records in its own transaction, for the trail's writer.

The trail has one writer (an advisory lock held by ``AuditLog``). Another
process, the scheduler or a rule run beside a server, inserts its event into
``audit_inbox`` in the transaction of the work it accounts for; the writer
chains the waiting events and deletes them in the transaction that inserts
their records, so each is chained exactly once.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 04:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "audit_inbox",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Text(), nullable=False),
        sa.Column("actor_kind", sa.Text(), nullable=False),
        sa.Column("officer", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=False),
        sa.Column("purpose", sa.Text(), nullable=False),
        sa.Column("person_ids", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("recipient", sa.Text(), nullable=False),
        sa.Column("request_digest", sa.CHAR(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_inbox")),
    )


def downgrade() -> None:
    op.drop_table("audit_inbox")
