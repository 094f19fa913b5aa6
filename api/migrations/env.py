"""Alembic environment of the service's metadata database.

``api.storage.upgrade_database`` runs the migrations on a connection it passes
in ``config.attributes["connection"]``. Without one, the URL comes from the
``sqlalchemy.url`` option, which is how ``api.storage.migration_config(url)``
is used with Alembic's own commands (``revision --autogenerate`` among them).
"""

from __future__ import annotations

from alembic import context
from api.storage import Base, open_engine

config = context.config
target_metadata = Base.metadata


def run_migrations_offline() -> None:
    """Write the SQL of the migrations instead of running it (``alembic upgrade --sql``)."""
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=target_metadata,
                      literal_binds=True, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_on(connection) -> None:
    # Batch mode lets a migration alter a SQLite table, which SQLite can only
    # do by copying it; on PostgreSQL it emits plain ALTER TABLE.
    context.configure(connection=connection, target_metadata=target_metadata, render_as_batch=True,
                      compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
elif config.attributes.get("connection") is not None:
    run_migrations_on(config.attributes["connection"])
else:
    engine = open_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as connection:
            run_migrations_on(connection)
    finally:
        engine.dispose()
