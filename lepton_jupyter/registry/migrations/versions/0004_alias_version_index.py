"""Aliases are found by the version they point at (a version's card lists its aliases).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_aliases_version", "aliases", ["version_id"])


def downgrade() -> None:
    op.drop_index("ix_aliases_version", table_name="aliases")
