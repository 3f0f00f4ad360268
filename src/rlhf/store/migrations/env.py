"""Alembic environment: run the migrations on the connection `rlhf.store.migrate` passes in.

There is no alembic.ini and no offline (SQL script) mode: `rlhf.store.migrate.alembic_config`
builds the configuration and hands over an open connection in `config.attributes["connection"]`.
To write a new revision, compare against a database migrated to head:

    with engine.begin() as connection:
        config = alembic_config(connection)
        alembic.command.revision(config, message="...", autogenerate=True, rev_id="0002")

then review the generated file (autogenerate is a draft, not a migration).
"""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from rlhf.store.schema import Base


def run_migrations_online() -> None:
    """Run the pending migrations in the transaction of the connection given by the caller."""
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError(
            "rlhf migrations run through rlhf.store.migrate.upgrade(connection), "
            "which passes an open connection; they are not run from the alembic command line"
        )
    # DDL is transactional on PostgreSQL, and on SQLite too as the store drives it (it emits
    # BEGIN itself, see rlhf.store.connect): a failed migration leaves the schema as it was.
    context.configure(connection=connection, target_metadata=Base.metadata, transactional_ddl=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("rlhf migrations have no offline mode; open the store to migrate it")
run_migrations_online()
