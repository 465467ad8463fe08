"""The stays that can go over a permit limit, reached by index: PERMIT_LIMIT_EXCEEDED's candidates.

A stay's periods of one type go over the type's limits (``domain/permits.py``)
only if the stay has more than one period, or if one period alone is longer
than the type allows in all. The rule reads those two sets and no other
period: the partial index of the periods after a stay's first (the stays with
an extension, of which it keeps those of a type with a limit), and the index
of each period's type and length (``valid_until - valid_from``, days after
the first), which hands over, for each type, a range scan of the periods at
least as long as its limit. The periods of the candidates are then read by
stay through the unique index of (stay, sequence).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_stay_permits_extensions",
        "stay_permits",
        ["stay_id"],
        postgresql_where=sa.text("sequence > 1"),
    )
    op.create_index(
        "ix_stay_permits_type_length",
        "stay_permits",
        ["type", sa.text("(valid_until - valid_from)")],
        postgresql_include=["stay_id"],
    )


def downgrade() -> None:
    op.drop_index("ix_stay_permits_type_length", table_name="stay_permits")
    op.drop_index("ix_stay_permits_extensions", table_name="stay_permits")
