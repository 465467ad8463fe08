"""Stay registry: persons, documents, stays, permits, addresses, sightings, boundaries.

Revision ID: 0001
Revises:
Create Date: 2026-11-28 04:35:39.143099
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


APPEND_ONLY_TABLES = ("addresses", "stay_permits", "sightings")


def upgrade() -> None:
    # The extensions come with the database (deploy/dev/setup-postgres.sh
    # creates them as a superuser); IF NOT EXISTS makes this a check.
    op.execute("CREATE EXTENSION IF NOT EXISTS postgis")
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.create_table(
        "districts",
        sa.Column("code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("bps_code", sa.String(length=7), nullable=True),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_districts")),
    )
    op.create_index(
        "ix_districts_boundary", "districts", ["boundary"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "persons",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("given_names", sa.String(length=100), nullable=False),
        sa.Column("name_key", sa.Text(), nullable=False),
        sa.Column("nationality", sa.String(length=3), nullable=False),
        sa.Column("birth_year", sa.SmallInteger(), nullable=False),
        sa.Column("birth_month", sa.SmallInteger(), nullable=False),
        sa.Column("birth_day", sa.SmallInteger(), nullable=False),
        sa.Column("sex", sa.String(length=1), nullable=False),
        sa.Column(
            "registered_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("sex IN ('F', 'M', 'X')", name=op.f("ck_persons_sex_code")),
        sa.CheckConstraint("birth_day BETWEEN 0 AND 31", name=op.f("ck_persons_birth_day_range")),
        sa.CheckConstraint(
            "birth_month > 0 OR birth_day = 0", name=op.f("ck_persons_birth_day_needs_month")
        ),
        sa.CheckConstraint(
            "birth_month BETWEEN 0 AND 12", name=op.f("ck_persons_birth_month_range")
        ),
        sa.CheckConstraint("length(family_name) > 0", name=op.f("ck_persons_family_name_present")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_persons")),
    )
    op.create_index(
        "ix_persons_name_key_trgm",
        "persons",
        ["name_key"],
        unique=False,
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.create_table(
        "regency",
        sa.Column("code", sa.String(length=5), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_regency")),
    )
    op.create_table(
        "stays",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("entry_port_code", sa.String(length=10), nullable=False),
        sa.Column("entered_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("exit_port_code", sa.String(length=10), nullable=True),
        sa.Column("exited_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "(exited_at IS NULL) = (exit_port_code IS NULL)", name=op.f("ck_stays_exit_has_port")
        ),
        sa.CheckConstraint(
            "exited_at IS NULL OR exited_at >= entered_at", name=op.f("ck_stays_exit_after_entry")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_stays_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stays")),
    )
    op.create_index("ix_stays_person_entered", "stays", ["person_id", "entered_at"], unique=False)
    op.create_index(
        "uq_stays_one_open_per_person",
        "stays",
        ["person_id"],
        unique=True,
        postgresql_where=sa.text("exited_at IS NULL"),
    )
    op.create_table(
        "travel_documents",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("issuing_state", sa.String(length=3), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("expiry_date", sa.Date(), nullable=True),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "number ~ '^[A-Z0-9]{1,20}$'", name=op.f("ck_travel_documents_number_format")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_travel_documents_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_travel_documents")),
        sa.UniqueConstraint("issuing_state", "number", name="uq_travel_documents_state_number"),
    )
    op.create_index(
        op.f("ix_travel_documents_person_id"), "travel_documents", ["person_id"], unique=False
    )
    op.create_table(
        "villages",
        sa.Column("code", sa.String(length=13), nullable=False),
        sa.Column("district_code", sa.String(length=8), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geometry(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeomFromEWKT",
                name="geometry",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["district_code"], ["districts.code"], name=op.f("fk_villages_district_code_districts")
        ),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_villages")),
    )
    op.create_index(
        "ix_villages_boundary", "villages", ["boundary"], unique=False, postgresql_using="gist"
    )
    op.create_table(
        "addresses",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("line", sa.String(length=300), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("district_code", sa.String(length=8), nullable=True),
        sa.Column("village_code", sa.String(length=13), nullable=True),
        sa.Column("effective_from", sa.Date(), nullable=False),
        sa.Column(
            "reported_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["district_code"], ["districts.code"], name=op.f("fk_addresses_district_code_districts")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_addresses_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["village_code"], ["villages.code"], name=op.f("fk_addresses_village_code_villages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_addresses")),
    )
    op.create_index(
        "ix_addresses_location", "addresses", ["location"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "ix_addresses_person_effective", "addresses", ["person_id", "effective_from"], unique=False
    )
    op.create_table(
        "sightings",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.Column("district_code", sa.String(length=8), nullable=True),
        sa.Column("village_code", sa.String(length=13), nullable=True),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(length=24), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("place_name", sa.String(length=200), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["district_code"], ["districts.code"], name=op.f("fk_sightings_district_code_districts")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_sightings_person_id_persons")
        ),
        sa.ForeignKeyConstraint(
            ["village_code"], ["villages.code"], name=op.f("fk_sightings_village_code_villages")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sightings")),
    )
    op.create_index(
        "ix_sightings_location", "sightings", ["location"], unique=False, postgresql_using="gist"
    )
    op.create_index(
        "ix_sightings_person_observed", "sightings", ["person_id", "observed_at"], unique=False
    )
    op.create_index(
        "uq_sightings_source_reference",
        "sightings",
        ["source", "reference"],
        unique=True,
        postgresql_where=sa.text("reference <> ''"),
    )
    op.create_table(
        "stay_permits",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("stay_id", sa.UUID(), nullable=False),
        sa.Column("sequence", sa.SmallInteger(), nullable=False),
        sa.Column("permit_number", sa.String(length=50), nullable=False),
        sa.Column("type", sa.String(length=16), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_until", sa.Date(), nullable=False),
        sa.Column("sponsor", sa.String(length=200), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column(
            "recorded_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint(
            "type IN ('VOA', 'VISIT', 'LIMITED_STAY', 'PERMANENT_STAY', 'DIPLOMATIC')",
            name=op.f("ck_stay_permits_type_code"),
        ),
        sa.CheckConstraint(
            "valid_until >= valid_from", name=op.f("ck_stay_permits_ends_after_start")
        ),
        sa.ForeignKeyConstraint(
            ["stay_id"], ["stays.id"], name=op.f("fk_stay_permits_stay_id_stays")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stay_permits")),
        sa.UniqueConstraint("stay_id", "sequence", name="uq_stay_permits_stay_sequence"),
    )
    op.create_table(
        "current_addresses",
        sa.Column("person_id", sa.UUID(), nullable=False),
        sa.Column("address_id", sa.UUID(), nullable=False),
        sa.Column(
            "location",
            geoalchemy2.types.Geography(
                geometry_type="POINT",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["address_id"], ["addresses.id"], name=op.f("fk_current_addresses_address_id_addresses")
        ),
        sa.ForeignKeyConstraint(
            ["person_id"], ["persons.id"], name=op.f("fk_current_addresses_person_id_persons")
        ),
        sa.PrimaryKeyConstraint("person_id", name=op.f("pk_current_addresses")),
        sa.UniqueConstraint("address_id", name=op.f("uq_current_addresses_address_id")),
    )
    op.create_index(
        "ix_current_addresses_location",
        "current_addresses",
        ["location"],
        unique=False,
        postgresql_using="gist",
    )
    op.execute(
        """
        CREATE FUNCTION pantau_reject_history_change() RETURNS trigger
        LANGUAGE plpgsql AS $$
        BEGIN
          RAISE EXCEPTION 'history table % is append-only', TG_TABLE_NAME
            USING ERRCODE = 'restrict_violation';
        END
        $$
        """
    )
    for table in APPEND_ONLY_TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION pantau_reject_history_change()"
        )


def downgrade() -> None:
    for table in APPEND_ONLY_TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
    op.execute("DROP FUNCTION IF EXISTS pantau_reject_history_change()")
    op.drop_index(
        "ix_current_addresses_location", table_name="current_addresses", postgresql_using="gist"
    )
    op.drop_table("current_addresses")
    op.drop_table("stay_permits")
    op.drop_index(
        "uq_sightings_source_reference",
        table_name="sightings",
        postgresql_where=sa.text("reference <> ''"),
    )
    op.drop_index("ix_sightings_person_observed", table_name="sightings")
    op.drop_index("ix_sightings_location", table_name="sightings", postgresql_using="gist")
    op.drop_table("sightings")
    op.drop_index("ix_addresses_person_effective", table_name="addresses")
    op.drop_index("ix_addresses_location", table_name="addresses", postgresql_using="gist")
    op.drop_table("addresses")
    op.drop_index("ix_villages_boundary", table_name="villages", postgresql_using="gist")
    op.drop_table("villages")
    op.drop_index(op.f("ix_travel_documents_person_id"), table_name="travel_documents")
    op.drop_table("travel_documents")
    op.drop_index(
        "uq_stays_one_open_per_person",
        table_name="stays",
        postgresql_where=sa.text("exited_at IS NULL"),
    )
    op.drop_index("ix_stays_person_entered", table_name="stays")
    op.drop_table("stays")
    op.drop_table("regency")
    op.drop_index(
        "ix_persons_name_key_trgm",
        table_name="persons",
        postgresql_using="gin",
        postgresql_ops={"name_key": "gin_trgm_ops"},
    )
    op.drop_table("persons")
    op.drop_index("ix_districts_boundary", table_name="districts", postgresql_using="gist")
    op.drop_table("districts")
