"""The watchlist and its screening: entries with their versions, names, retrieval keys and
document numbers; what each person was last screened as; the queue of persons and entries
to screen, filled by triggers on what is recorded; the matches the WATCHLIST_MATCH rule
raises; who registered each person (for the four eyes on a confirmation); the alerts'
new rule, action and resolution reason.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

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
NEW_RULES = (*RULES, "WATCHLIST_MATCH")
NEW_ACTIONS = (*ACTIONS, "IDENTITY_VERIFICATION")
NEW_REASONS = (*REASONS, "WATCHLIST_CLEARED")

# (table, column of the person, reason): what puts a person in the screening queue.
ENQUEUED_BY = (
    ("persons", "id", "REGISTERED"),
    ("travel_documents", "person_id", "DOCUMENT_ADDED"),
    ("stays", "person_id", "ENTRY_RECORDED"),
    ("sightings", "person_id", "SIGHTED"),
)

_ENQUEUE_PERSONS = """
CREATE FUNCTION screening_enqueue_{table}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO screening_queue (kind, subject_id, reason)
    SELECT DISTINCT 'PERSON', n.{column}, '{reason}' FROM new_rows n
    ON CONFLICT (kind, subject_id) DO NOTHING;
    RETURN NULL;
END
$$
"""

_ENQUEUE_ENTRIES = """
CREATE FUNCTION screening_enqueue_entries() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO screening_queue (kind, subject_id, reason)
    SELECT 'ENTRY', n.id,
        CASE WHEN n.removed_at IS NULL THEN 'ENTRY_CHANGED' ELSE 'ENTRY_REMOVED' END
    FROM new_rows n
    ON CONFLICT (kind, subject_id) DO NOTHING;
    RETURN NULL;
END
$$
"""


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _constraints(
    rules: tuple[str, ...], actions: tuple[str, ...], reasons: tuple[str, ...]
) -> None:
    for table, name, check in (
        ("alerts", "rule_name", _one_of("rule", rules)),
        ("rule_runs", "rule_name", _one_of("rule", rules)),
        ("alerts", "action_name", _one_of("action", actions)),
        ("alerts", "resolution_reason_name", _one_of("resolution_reason", reasons)),
    ):
        op.drop_constraint(op.f(f"ck_{table}_{name}"), table, type_="check")
        op.create_check_constraint(op.f(f"ck_{table}_{name}"), table, check)


def upgrade() -> None:
    _constraints(NEW_RULES, NEW_ACTIONS, NEW_REASONS)
    op.add_column(
        "persons",
        sa.Column("registered_by", sa.Text(), server_default=sa.text("''"), nullable=False),
    )
    op.add_column(
        "persons",
        sa.Column("registered_officer", sa.Text(), server_default=sa.text("''"), nullable=False),
    )
    op.create_index("ix_travel_documents_number", "travel_documents", ["number"])
    op.create_table(
        "watchlist_entries",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("list", sa.Text(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("digest", sa.CHAR(length=64), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("external_id", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=True),
        sa.Column("valid_until", sa.Date(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.Text(), nullable=False),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removal_note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.CheckConstraint(
            "list IN ('ENTRY_BAN', 'EXIT_BAN', 'POLICE_WANTED', 'INTERNATIONAL_NOTICE', 'OTHER')",
            name=op.f("ck_watchlist_entries_list_known"),
        ),
        sa.CheckConstraint("version >= 1", name=op.f("ck_watchlist_entries_version_from_one")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watchlist_entries")),
    )
    op.create_index(
        "uq_watchlist_entries_external_id",
        "watchlist_entries",
        ["external_id"],
        unique=True,
        postgresql_where=sa.text("external_id <> ''"),
    )
    op.create_index("ix_watchlist_entries_updated_at", "watchlist_entries", ["updated_at"])
    op.create_table(
        "watchlist_entry_versions",
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("change", sa.Text(), nullable=False),
        sa.Column("content", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("agency_id", sa.Text(), nullable=False),
        sa.Column("officer", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.CheckConstraint(
            "change IN ('ADDED', 'UPDATED', 'REMOVED')",
            name=op.f("ck_watchlist_entry_versions_change_known"),
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["watchlist_entries.id"],
            name=op.f("fk_watchlist_entry_versions_entry_id_watchlist_entries"),
        ),
        sa.PrimaryKeyConstraint("entry_id", "version", name=op.f("pk_watchlist_entry_versions")),
    )
    op.create_table(
        "watchlist_names",
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.SmallInteger(), nullable=False),
        sa.Column("comparable", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["watchlist_entries.id"],
            name=op.f("fk_watchlist_names_entry_id_watchlist_entries"),
        ),
        sa.PrimaryKeyConstraint("entry_id", "position", name=op.f("pk_watchlist_names")),
    )
    op.create_index(
        "ix_watchlist_names_comparable_trgm",
        "watchlist_names",
        ["comparable"],
        postgresql_using="gin",
        postgresql_ops={"comparable": "gin_trgm_ops"},
    )
    op.create_table(
        "watchlist_keys",
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["watchlist_entries.id"],
            name=op.f("fk_watchlist_keys_entry_id_watchlist_entries"),
        ),
        sa.PrimaryKeyConstraint("key", "entry_id", name=op.f("pk_watchlist_keys")),
    )
    op.create_index("ix_watchlist_keys_entry_id", "watchlist_keys", ["entry_id"])
    op.create_table(
        "watchlist_documents",
        sa.Column("number", sa.Text(), nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["watchlist_entries.id"],
            name=op.f("fk_watchlist_documents_entry_id_watchlist_entries"),
        ),
        sa.PrimaryKeyConstraint("number", "entry_id", name=op.f("pk_watchlist_documents")),
    )
    op.create_index("ix_watchlist_documents_entry_id", "watchlist_documents", ["entry_id"])
    op.create_table(
        "person_screenings",
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("digest", sa.CHAR(length=64), nullable=False),
        sa.Column("keys", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("comparable", sa.Text(), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_person_screenings_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_person_screenings")),
    )
    op.create_index(
        "ix_person_screenings_keys", "person_screenings", ["keys"], postgresql_using="gin"
    )
    op.create_index(
        "ix_person_screenings_comparable_trgm",
        "person_screenings",
        ["comparable"],
        postgresql_using="gin",
        postgresql_ops={"comparable": "gin_trgm_ops"},
    )
    op.create_table(
        "screening_queue",
        sa.Column("kind", sa.Text(), nullable=False),
        sa.Column("subject_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column(
            "enqueued_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "kind IN ('PERSON', 'ENTRY')", name=op.f("ck_screening_queue_kind_known")
        ),
        sa.PrimaryKeyConstraint("kind", "subject_id", name=op.f("pk_screening_queue")),
    )
    op.create_index("ix_screening_queue_enqueued_at", "screening_queue", ["enqueued_at"])
    op.create_table(
        "watchlist_matches",
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("entry_id", sa.UUID(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("explanation", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("entry_digest", sa.CHAR(length=64), nullable=False),
        sa.Column("person_digest", sa.CHAR(length=64), nullable=False),
        sa.Column("screened_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "score >= 0 AND score <= 1", name=op.f("ck_watchlist_matches_score_range")
        ),
        sa.ForeignKeyConstraint(
            ["entry_id"],
            ["watchlist_entries.id"],
            name=op.f("fk_watchlist_matches_entry_id_watchlist_entries"),
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_watchlist_matches_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("person_id", "entry_id", name=op.f("pk_watchlist_matches")),
    )
    op.create_index("ix_watchlist_matches_entry_id", "watchlist_matches", ["entry_id"])
    # Versions are history: added, never changed.
    op.execute(
        "CREATE TRIGGER watchlist_entry_versions_append_only BEFORE UPDATE OR DELETE"
        " ON watchlist_entry_versions FOR EACH ROW EXECUTE FUNCTION pantau_reject_history_change()"
    )
    for table, column, reason in ENQUEUED_BY:
        op.execute(_ENQUEUE_PERSONS.format(table=table, column=column, reason=reason))
        op.execute(
            f"CREATE TRIGGER screening_enqueue AFTER INSERT ON {table}"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
            f" EXECUTE FUNCTION screening_enqueue_{table}()"
        )
    op.execute(_ENQUEUE_ENTRIES)
    for event in ("INSERT", "UPDATE"):
        op.execute(
            f"CREATE TRIGGER screening_enqueue_{event.lower()} AFTER {event} ON watchlist_entries"
            " REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT"
            " EXECUTE FUNCTION screening_enqueue_entries()"
        )
    # Everyone registered before the watchlist existed is screened once.
    op.execute(
        "INSERT INTO screening_queue (kind, subject_id, reason)"
        " SELECT 'PERSON', id, 'MIGRATED' FROM persons"
    )


def downgrade() -> None:
    for event in ("insert", "update"):
        op.execute(f"DROP TRIGGER screening_enqueue_{event} ON watchlist_entries")
    op.execute("DROP FUNCTION screening_enqueue_entries()")
    for table, _column, _reason in ENQUEUED_BY:
        op.execute(f"DROP TRIGGER screening_enqueue ON {table}")
        op.execute(f"DROP FUNCTION screening_enqueue_{table}()")
    for table in (
        "watchlist_matches",
        "screening_queue",
        "person_screenings",
        "watchlist_documents",
        "watchlist_keys",
        "watchlist_names",
        "watchlist_entry_versions",
        "watchlist_entries",
    ):
        op.drop_table(table)
    op.drop_index("ix_travel_documents_number", table_name="travel_documents")
    op.drop_column("persons", "registered_officer")
    op.drop_column("persons", "registered_by")
    _constraints(RULES, ACTIONS, REASONS)
