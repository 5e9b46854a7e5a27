"""Alembic's environment for songscope: always run from `songscope.store.db.migrate`, which hands
over an open connection (inside its transaction) in ``config.attributes["connection"]``."""

from alembic import context

from songscope.store.tables import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
