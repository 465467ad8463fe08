"""The early-warning reports as made: each report's day, district, edition, instant and
digest, and its files. Both tables only grow: the history tables' trigger rejects UPDATE
and DELETE, and another rejects TRUNCATE.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-09 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("reports", "report_files")


def upgrade() -> None:
    op.create_table(
        "reports",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("district_code", sa.Text(), nullable=False),
        sa.Column("edition", sa.Text(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("made_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("made_by", sa.Text(), nullable=False),
        sa.Column("digest", sa.CHAR(length=64), nullable=False),
        sa.CheckConstraint(
            "edition IN ('FULL', 'AGGREGATE')", name=op.f("ck_reports_edition_known")
        ),
        sa.CheckConstraint(
            "district_code = '' OR district_code ~ '^21\\.05\\.\\d{2}$'",
            name=op.f("ck_reports_district_code_form"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reports")),
        sa.UniqueConstraint(
            "digest", "edition", "district_code", "as_of", name="uq_reports_made_once"
        ),
    )
    op.create_index("ix_reports_key", "reports", ["date", "district_code", "edition", "made_at"])
    op.create_index("ix_reports_digest", "reports", ["digest"])
    op.create_table(
        "report_files",
        sa.Column("report_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("media_type", sa.Text(), nullable=False),
        sa.Column("sha256", sa.CHAR(length=64), nullable=False),
        sa.Column("content", postgresql.BYTEA(), nullable=False),
        sa.CheckConstraint(
            "sha256 = encode(sha256(content), 'hex')",
            name=op.f("ck_report_files_sha256_of_content"),
        ),
        sa.ForeignKeyConstraint(
            ["report_id"], ["reports.id"], name=op.f("fk_report_files_report_id_reports")
        ),
        sa.PrimaryKeyConstraint("report_id", "name", name=op.f("pk_report_files")),
    )
    # pantau_reject_history_change() comes with revision 0001.
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pantau_reject_history_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION pantau_reject_history_change()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.drop_table("report_files")
    op.drop_table("reports")
