"""Alembic environment: migrations run on the connection the store hands over.

There is no alembic.ini: :func:`lepton_jupyter.registry.tables.upgrade` builds the config
in code and passes an open connection (inside a transaction holding the migration lock).
"""

from __future__ import annotations

from alembic import context

from lepton_jupyter.registry.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
