"""Delivering the feeds: each push channel's lane (cursor, lease and fencing token, retries)
and the dead letters of the lanes given up on.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_lanes",
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "delivered_through", sa.BigInteger(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column(
            "next_attempt_at",
            sa.DateTime(timezone=True),
            server_default=sa.func.now(),
            nullable=False,
        ),
        sa.Column("lease_owner", sa.Text(), nullable=True),
        sa.Column("lease_token", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("lease_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("dead_lettered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "channel IN ('GRPC', 'WEBHOOK', 'CAP')", name=op.f("ck_delivery_lanes_channel_known")
        ),
        sa.CheckConstraint(
            "delivered_through >= 0", name=op.f("ck_delivery_lanes_cursor_not_negative")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_delivery_lanes_attempts_not_negative")),
        sa.PrimaryKeyConstraint("agency_id", "channel", name=op.f("pk_delivery_lanes")),
    )
    op.create_table(
        "delivery_dead_letters",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("channel", sa.Text(), nullable=False),
        sa.Column("from_sequence", sa.BigInteger(), nullable=False),
        sa.Column("through_sequence", sa.BigInteger(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("requeued_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "from_sequence <= through_sequence",
            name=op.f("ck_delivery_dead_letters_range_in_order"),
        ),
        sa.ForeignKeyConstraint(
            ["agency_id", "channel"],
            ["delivery_lanes.agency_id", "delivery_lanes.channel"],
            name=op.f("fk_delivery_dead_letters_agency_id_delivery_lanes"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_delivery_dead_letters")),
    )
    op.create_index(
        "ix_delivery_dead_letters_lane",
        "delivery_dead_letters",
        ["agency_id", "channel"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index("ix_delivery_dead_letters_lane", table_name="delivery_dead_letters")
    op.drop_table("delivery_dead_letters")
    op.drop_table("delivery_lanes")
