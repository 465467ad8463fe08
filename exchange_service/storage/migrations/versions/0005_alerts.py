"""Alerts, their append-only events and the record of rule runs (issue 10).

At most one open alert per (rule, subject, stay): a partial unique index with
NULLS NOT DISTINCT (PostgreSQL 15), so an alert without a stay counts too.
``alert_events`` and ``rule_runs`` only grow: the history tables' trigger
rejects UPDATE and DELETE, and another rejects TRUNCATE.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 19:56:57.758571
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

APPEND_ONLY_TABLES = ("alert_events", "rule_runs")

# The names as of this revision (domain/alerts.py); a later name needs a new revision.
RULES = (
    "OVERSTAY",
    "PERMIT_EXPIRING",
    "UNREPORTED_ADDRESS_CHANGE",
    "NO_RECENT_CONTACT",
    "RESTRICTED_AREA_PRESENCE",
    "SPONSOR_OVERSTAY_CLUSTER",
    "PERMIT_LIMIT_EXCEEDED",
)
ACTIONS = (
    "OVERSTAY_FEE",
    "DEPORTATION_AND_ENTRY_BAN",
    "SUMMONS",
    "PERMIT_REVIEW",
    "ADDRESS_REPORT_DEMAND",
    "SPONSOR_REVIEW",
    "PLACE_BAN",
    "NONE",
)
REASONS = (
    "DEPARTED",
    "PERMIT_EXTENDED",
    "ADDRESS_REPORTED",
    "CONTACT_RECORDED",
    "PERMIT_CORRECTED",
    "SPONSEES_RESOLVED",
    "REVIEWED",
)


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def upgrade() -> None:
    op.create_table(
        "rule_runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("actor", sa.Text(), nullable=False),
        sa.Column("rows_scanned", sa.Integer(), nullable=False),
        sa.Column("opened", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("escalated", sa.Integer(), nullable=False),
        sa.Column("resolved", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("fence_lease", sa.Text(), nullable=True),
        sa.Column("fence_term", sa.BigInteger(), nullable=True),
        sa.CheckConstraint(
            _one_of("rule", RULES),
            name=op.f("ck_rule_runs_rule_name"),
        ),
        sa.CheckConstraint(
            "error IS NULL OR opened + updated + escalated + resolved = 0",
            name=op.f("ck_rule_runs_failed_run_changed_nothing"),
        ),
        sa.CheckConstraint(
            "finished_at >= started_at", name=op.f("ck_rule_runs_finished_after_start")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rule_runs")),
    )
    op.create_index("ix_rule_runs_rule_as_of", "rule_runs", ["rule", "as_of"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("subject_kind", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("stay_id", sa.UUID(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("district_code", sa.String(length=8), nullable=True),
        sa.Column("village_code", sa.String(length=13), nullable=True),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("summary_id", sa.Text(), nullable=False),
        sa.Column("summary_en", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("facts", sa.Text(), nullable=False),
        sa.Column("first_detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution_reason", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "(status = 'RESOLVED') = (resolved_at IS NOT NULL)"
            " AND (resolved_at IS NULL) = (resolution_reason IS NULL)",
            name=op.f("ck_alerts_resolved_with_reason"),
        ),
        sa.CheckConstraint(
            _one_of("action", ACTIONS),
            name=op.f("ck_alerts_action_name"),
        ),
        sa.CheckConstraint(
            "jsonb_typeof(evidence) = 'object'", name=op.f("ck_alerts_evidence_object")
        ),
        sa.CheckConstraint(
            _one_of("resolution_reason", REASONS),
            name=op.f("ck_alerts_resolution_reason_name"),
        ),
        sa.CheckConstraint(
            _one_of("rule", RULES),
            name=op.f("ck_alerts_rule_name"),
        ),
        sa.CheckConstraint(
            "severity IN ('INFO', 'WARNING', 'HIGH', 'CRITICAL')",
            name=op.f("ck_alerts_severity_name"),
        ),
        sa.CheckConstraint(
            "status IN ('OPEN', 'ACKNOWLEDGED', 'CONFIRMED', 'DISMISSED', 'RESOLVED')",
            name=op.f("ck_alerts_status_name"),
        ),
        sa.CheckConstraint(
            "subject_kind IN ('PERSON', 'SPONSOR')", name=op.f("ck_alerts_subject_kind_name")
        ),
        sa.ForeignKeyConstraint(
            ["district_code"], ["districts.code"], name=op.f("fk_alerts_district_code_districts")
        ),
        sa.ForeignKeyConstraint(["stay_id"], ["stays.id"], name=op.f("fk_alerts_stay_id_stays")),
        sa.ForeignKeyConstraint(
            ["village_code"], ["villages.code"], name=op.f("fk_alerts_village_code_villages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    op.create_index("ix_alerts_changed_at", "alerts", ["changed_at"], unique=False)
    op.create_index(
        "ix_alerts_rule_subject", "alerts", ["rule", "subject_kind", "subject_id"], unique=False
    )
    op.create_index(
        "uq_alerts_one_open_per_key",
        "alerts",
        ["rule", "subject_kind", "subject_id", "stay_id"],
        unique=True,
        postgresql_where=sa.text("status IN ('OPEN', 'ACKNOWLEDGED', 'CONFIRMED')"),
        postgresql_nulls_not_distinct=True,
    )
    op.create_table(
        "alert_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("alert_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("rule", sa.Text(), nullable=False),
        sa.Column("subject_kind", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.Text(), nullable=False),
        sa.Column("stay_id", sa.UUID(), nullable=True),
        sa.Column("severity", sa.Text(), nullable=False),
        sa.Column("status", sa.Text(), nullable=False),
        sa.Column("district_code", sa.Text(), nullable=True),
        sa.Column("village_code", sa.Text(), nullable=True),
        sa.Column("evidence", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("summary_id", sa.Text(), nullable=False),
        sa.Column("summary_en", sa.Text(), nullable=False),
        sa.Column("action", sa.Text(), nullable=False),
        sa.Column("resolution_reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Text(), nullable=False),
        sa.Column("actor_kind", sa.Text(), nullable=False),
        sa.Column("officer", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("rule_run_id", sa.UUID(), nullable=True),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "kind IN ('OPENED', 'UPDATED', 'ESCALATED', 'RESOLVED', 'REVIEWED')",
            name=op.f("ck_alert_events_kind_name"),
        ),
        sa.ForeignKeyConstraint(
            ["alert_id"], ["alerts.id"], name=op.f("fk_alert_events_alert_id_alerts")
        ),
        sa.ForeignKeyConstraint(
            ["rule_run_id"],
            ["rule_runs.id"],
            name=op.f("fk_alert_events_rule_run_id_rule_runs"),
            initially="DEFERRED",
            deferrable=True,
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_alert_events")),
    )
    op.create_index("ix_alert_events_alert_seq", "alert_events", ["alert_id", "seq"], unique=False)
    op.create_index("ix_alert_events_rule_run_id", "alert_events", ["rule_run_id"], unique=False)
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
    op.drop_index("ix_alert_events_rule_run_id", table_name="alert_events")
    op.drop_index("ix_alert_events_alert_seq", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_index(
        "uq_alerts_one_open_per_key",
        table_name="alerts",
        postgresql_where=sa.text("status IN ('OPEN', 'ACKNOWLEDGED', 'CONFIRMED')"),
        postgresql_nulls_not_distinct=True,
    )
    op.drop_index("ix_alerts_rule_subject", table_name="alerts")
    op.drop_index("ix_alerts_changed_at", table_name="alerts")
    op.drop_table("alerts")
    op.drop_index("ix_rule_runs_rule_as_of", table_name="rule_runs")
    op.drop_table("rule_runs")
