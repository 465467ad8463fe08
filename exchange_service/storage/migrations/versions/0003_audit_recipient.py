"""Audit records name the recipient when personal data left the system.

An audit record now stands for any audited event (an RPC, a rule run, an
alert delivery), and a delivery names the agency that received the data.
Records written before keep an empty recipient, which the record's hash
leaves out, so their hashes and every checkpoint over them stay valid.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 02:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Adding a column with a constant default rewrites no rows and fires no
    # row trigger, so the append-only triggers are untouched.
    op.add_column(
        "audit_records",
        sa.Column("recipient", sa.Text(), server_default=sa.text("''"), nullable=False),
    )


def downgrade() -> None:
    op.drop_column("audit_records", "recipient")
