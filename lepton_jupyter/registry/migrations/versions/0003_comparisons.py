"""Comparisons (the evidence promotion gates ask for) and the evidence of each alias move.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "comparisons",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("metric", sa.String(200), nullable=False),
        sa.Column("record", sa.JSON, nullable=False),
        sa.Column("created_by", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "comparison_versions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("comparison_id", sa.Integer, sa.ForeignKey("comparisons.id"), nullable=False),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("versions.id"), nullable=False),
    )
    op.create_index("ix_comparison_versions_version", "comparison_versions", ["version_id"])
    with op.batch_alter_table("alias_events") as batch:
        batch.add_column(sa.Column("evidence", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("alias_events") as batch:
        batch.drop_column("evidence")
    op.drop_index("ix_comparison_versions_version", "comparison_versions")
    op.drop_table("comparison_versions")
    op.drop_table("comparisons")
