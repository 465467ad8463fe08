"""Restricted areas: where only some permit purposes may be (the rule RESTRICTED_AREA_PRESENCE).

The rows come from the GeoJSON file the settings name
(``rule_restricted_areas_file``, by default the illustrative example shipped
in ``exchange_service/data``): ``pantau migrate`` loads them after the
migrations, as it loads the boundaries. Geography, so the sightings' points
are tested against them on the same spheroid, with a GiST index.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02 10:00:00.000000
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "restricted_areas",
        sa.Column("code", sa.Text(), nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("allowed_purposes", postgresql.ARRAY(sa.Text()), nullable=False),
        sa.Column("note", sa.Text(), server_default=sa.text("''"), nullable=False),
        sa.Column(
            "boundary",
            geoalchemy2.types.Geography(
                geometry_type="MULTIPOLYGON",
                srid=4326,
                dimension=2,
                spatial_index=False,
                from_text="ST_GeogFromText",
                name="geography",
                nullable=False,
            ),
            nullable=False,
        ),
        sa.CheckConstraint("length(name) > 0", name=op.f("ck_restricted_areas_name_present")),
        sa.PrimaryKeyConstraint("code", name=op.f("pk_restricted_areas")),
    )
    op.create_index(
        "ix_restricted_areas_boundary",
        "restricted_areas",
        ["boundary"],
        unique=False,
        postgresql_using="gist",
    )


def downgrade() -> None:
    op.drop_index(
        "ix_restricted_areas_boundary", table_name="restricted_areas", postgresql_using="gist"
    )
    op.drop_table("restricted_areas")
