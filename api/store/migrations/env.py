"""Alembic environment of the PostGIS store.

``PostGISStore`` runs the migrations programmatically and hands its connection over in
``config.attributes["connection"]``. From a shell, use the bundled ``alembic.ini``::

    TSUNAGU_DATABASE_URL=postgresql://user@host/db alembic -c api/store/migrations/alembic.ini upgrade head
"""

from __future__ import annotations

import os

from alembic import context
from sqlalchemy import create_engine, pool

#: Kept apart from other applications' ``alembic_version`` tables in a shared database.
VERSION_TABLE = "tsunagu_alembic_version"

config = context.config


def _url() -> str:
    url = config.get_main_option("sqlalchemy.url") or os.environ.get("TSUNAGU_DATABASE_URL", "")
    if not url:
        msg = "no database URL: set TSUNAGU_DATABASE_URL (e.g. postgresql://postgres@127.0.0.1/tsunagu)"
        raise RuntimeError(msg)
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _run(connection) -> None:
    context.configure(connection=connection, target_metadata=None, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    context.configure(url=_url(), literal_binds=True, version_table=VERSION_TABLE)
    with context.begin_transaction():
        context.run_migrations()
elif config.attributes.get("connection") is not None:
    _run(config.attributes["connection"])
else:
    engine = create_engine(_url(), poolclass=pool.NullPool)
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
