"""Opening a workspace store by its location: a GeoPackage path or a PostgreSQL URL.

Apart from :mod:`api.store.base` (the contract) so that the contract never imports the backends
that implement it.
"""

from __future__ import annotations

from api.store.base import Store


def open_store(location: str, *, workspace: str = "default", create: bool = True) -> Store:
    """Open a store by location.

    Parameters
    ----------
    location
        A ``.gpkg`` path (embedded default) or a ``postgresql://`` / ``postgresql+psycopg://`` URL.
    workspace
        Workspace name inside a PostGIS database (one database can hold several cities).
    create
        Create the GeoPackage file or run the PostGIS migrations when needed.
    """
    if location.startswith(("postgresql://", "postgresql+psycopg://", "postgres://")):
        from api.store.postgis import PostGISStore

        return PostGISStore(location, workspace=workspace, create=create)
    from api.store.geopackage import GeoPackageStore

    return GeoPackageStore(location, create=create)
