"""What the rules read, kept where an index reaches it: each stay's permit state, recent activity.

A rule asks "which present stays are on a permit ending before today" (or
within 14 days, or in the last 90): with a million stays, each on its last
permit period, answering that by sorting every period of every stay is a
scan of the population on every run. So each stay keeps its permit state,
the period ending last (``permit_valid_until``, ``permit_id``,
``permit_type``; the highest sequence wins a tie, as the rules ordered the periods
before), written by a statement-level trigger on ``stay_permits`` in the
statement that inserts the periods, whichever path inserts them (use case,
import, legacy data); periods are never updated or deleted (the table is
append-only, migration 0001's triggers refuse it). A partial index on the present stays' last valid
day then hands each rule exactly the stays its window holds.

Windows over recent activity (the sightings of the last 30 or 180 days, the
addresses and permit periods recorded since a day) are index range scans on
the time alone, with the person or stay included, so the rules read the
window and not the history. The alerts get the index of their listing order
(first detected, newest first), and the digest of what each open alert's
finding was rendered from (``digest``: its rule's inputs, statement and
numbers), so a run renders evidence and summaries only for the findings
whose inputs changed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

# The state of each stay named in ``changed`` (the inserted rows), from all its periods.
_SYNC = """
CREATE FUNCTION stays_sync_permit_state() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE stays s
    SET permit_valid_until = last.valid_until,
        permit_id = last.id,
        permit_type = last.type
    FROM (SELECT DISTINCT stay_id FROM changed) c
    LEFT JOIN LATERAL (
        SELECT sp.valid_until, sp.id, sp.type
        FROM stay_permits sp
        WHERE sp.stay_id = c.stay_id
        ORDER BY sp.valid_until DESC, sp.sequence DESC
        LIMIT 1
    ) last ON true
    WHERE s.id = c.stay_id
      AND (s.permit_valid_until, s.permit_id, s.permit_type)
          IS DISTINCT FROM (last.valid_until, last.id, last.type);
    RETURN NULL;
END
$$
"""

_TRIGGER = "stay_permits_state"


def upgrade() -> None:
    op.add_column("stays", sa.Column("permit_valid_until", sa.Date(), nullable=True))
    op.add_column("stays", sa.Column("permit_id", sa.Integer(), nullable=True))
    op.add_column("stays", sa.Column("permit_type", sa.String(length=16), nullable=True))
    op.execute(
        """
        UPDATE stays s
        SET permit_valid_until = last.valid_until, permit_id = last.id,
            permit_type = last.type
        FROM (
            SELECT DISTINCT ON (stay_id) stay_id, valid_until, id, type
            FROM stay_permits
            ORDER BY stay_id, valid_until DESC, sequence DESC
        ) last
        WHERE s.id = last.stay_id
        """
    )
    op.execute(_SYNC)
    op.execute(
        f"CREATE TRIGGER {_TRIGGER} AFTER INSERT ON stay_permits"
        " REFERENCING NEW TABLE AS changed"
        " FOR EACH STATEMENT EXECUTE FUNCTION stays_sync_permit_state()"
    )
    op.create_index(
        "ix_stays_present_permit_valid_until",
        "stays",
        ["permit_valid_until"],
        postgresql_where=sa.text("exited_at IS NULL"),
    )
    op.create_index(
        "ix_stays_exited_at",
        "stays",
        ["exited_at"],
        postgresql_where=sa.text("exited_at IS NOT NULL"),
    )
    op.create_index(
        "ix_sightings_observed_at", "sightings", ["observed_at"], postgresql_include=["person_id"]
    )
    op.create_index(
        "ix_addresses_reported_at", "addresses", ["reported_at"], postgresql_include=["person_id"]
    )
    op.create_index(
        "ix_stay_permits_recorded_at",
        "stay_permits",
        ["recorded_at"],
        postgresql_include=["stay_id"],
    )
    op.add_column("alerts", sa.Column("digest", postgresql.UUID(as_uuid=True), nullable=True))
    op.create_index(
        "ix_alerts_listing", "alerts", [sa.text("first_detected_at DESC"), sa.text("id DESC")]
    )


def downgrade() -> None:
    op.drop_index("ix_alerts_listing", table_name="alerts")
    op.drop_column("alerts", "digest")
    op.drop_index("ix_stay_permits_recorded_at", table_name="stay_permits")
    op.drop_index("ix_addresses_reported_at", table_name="addresses")
    op.drop_index("ix_sightings_observed_at", table_name="sightings")
    op.drop_index("ix_stays_exited_at", table_name="stays")
    op.drop_index("ix_stays_present_permit_valid_until", table_name="stays")
    op.execute(f"DROP TRIGGER {_TRIGGER} ON stay_permits")
    op.execute("DROP FUNCTION stays_sync_permit_state()")
    op.drop_column("stays", "permit_type")
    op.drop_column("stays", "permit_id")
    op.drop_column("stays", "permit_valid_until")
