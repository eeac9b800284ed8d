"""Yanked versions: who withdrew a version, when and why (the row stays: pins still load it).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.add_column(sa.Column("yanked_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("yanked_by", sa.String(128), nullable=True))
        batch.add_column(sa.Column("yank_reason", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("versions") as batch:
        batch.drop_column("yank_reason")
        batch.drop_column("yanked_by")
        batch.drop_column("yanked_at")
