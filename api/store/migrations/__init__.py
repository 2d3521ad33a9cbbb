"""Alembic migrations of the PostGIS store (run by ``PostGISStore(create=True)``)."""
