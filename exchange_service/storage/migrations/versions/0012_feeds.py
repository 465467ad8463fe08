"""The agencies' alert feeds: each agency's head and its signed entries (the outbox).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "feed_heads",
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("last_sequence", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_hash", sa.LargeBinary(), nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("last_sequence >= 0", name=op.f("ck_feed_heads_sequence_not_negative")),
        sa.CheckConstraint("length(last_hash) = 32", name=op.f("ck_feed_heads_hash_is_sha256")),
        sa.PrimaryKeyConstraint("agency_id", name=op.f("pk_feed_heads")),
    )
    op.create_table(
        "feed_entries",
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("sequence", sa.BigInteger(), nullable=False),
        sa.Column("event_seq", sa.BigInteger(), nullable=False),
        sa.Column("person_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("payload", sa.LargeBinary(), nullable=False),
        sa.Column("payload_type", sa.Text(), nullable=False),
        sa.Column("key_id", sa.Text(), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.Column("previous_hash", sa.LargeBinary(), nullable=False),
        sa.Column("entry_hash", sa.LargeBinary(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("sequence >= 1", name=op.f("ck_feed_entries_sequence_from_one")),
        sa.CheckConstraint("length(entry_hash) = 32", name=op.f("ck_feed_entries_hash_is_sha256")),
        sa.CheckConstraint(
            "length(previous_hash) = 32", name=op.f("ck_feed_entries_previous_is_sha256")
        ),
        sa.ForeignKeyConstraint(
            ["agency_id"],
            ["feed_heads.agency_id"],
            name=op.f("fk_feed_entries_agency_id_feed_heads"),
        ),
        sa.ForeignKeyConstraint(
            ["event_seq"], ["alert_events.seq"], name=op.f("fk_feed_entries_event_seq_alert_events")
        ),
        sa.PrimaryKeyConstraint("agency_id", "sequence", name=op.f("pk_feed_entries")),
        sa.UniqueConstraint("agency_id", "event_seq", name="uq_feed_entries_agency_event"),
    )
    op.create_index("ix_feed_entries_event_seq", "feed_entries", ["event_seq"], unique=False)
    # An entry is never changed once written, but for its first acknowledgement.
    op.execute(
        """
        CREATE FUNCTION feed_entry_sealed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP = 'DELETE' THEN
                RAISE EXCEPTION 'feed entries are never deleted';
            END IF;
            IF (NEW.agency_id, NEW.sequence, NEW.event_seq, NEW.person_id, NEW.payload,
                NEW.payload_type, NEW.key_id, NEW.signature, NEW.previous_hash, NEW.entry_hash,
                NEW.signed_at)
               IS DISTINCT FROM
               (OLD.agency_id, OLD.sequence, OLD.event_seq, OLD.person_id, OLD.payload,
                OLD.payload_type, OLD.key_id, OLD.signature, OLD.previous_hash, OLD.entry_hash,
                OLD.signed_at)
               OR (OLD.acknowledged_at IS NOT NULL
                   AND NEW.acknowledged_at IS DISTINCT FROM OLD.acknowledged_at) THEN
                RAISE EXCEPTION 'feed entry (%, %) is sealed', OLD.agency_id, OLD.sequence;
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER feed_entries_sealed BEFORE UPDATE OR DELETE ON feed_entries
            FOR EACH ROW EXECUTE FUNCTION feed_entry_sealed();
        """
    )


def downgrade() -> None:
    op.execute("DROP TRIGGER feed_entries_sealed ON feed_entries")
    op.execute("DROP FUNCTION feed_entry_sealed()")
    op.drop_index("ix_feed_entries_event_seq", table_name="feed_entries")
    op.drop_table("feed_entries")
    op.drop_table("feed_heads")
