"""Workspaces a server offers: the cities in one PostGIS database, or the GeoPackages in one folder.

The configured ``settings.workspace`` is the default. A PostGIS database holds several named
workspaces (one per city, ``tsunagu demo --city … --workspace postgresql://…`` plus the
workspace name); with GeoPackages, every ``.gpkg`` beside the configured one is a workspace
named by its file stem. A request picks one with the ``X-Tsunagu-Workspace`` header or the
``tsunagu_workspace`` cookie (the web UI's chooser); anything not listed is refused.
"""

from __future__ import annotations

import re
from pathlib import Path

import sqlalchemy as sa

from api.store.base import StoreError

WORKSPACE_COOKIE = "tsunagu_workspace"
WORKSPACE_HEADER = "x-tsunagu-workspace"
DEFAULT_NAME = "default"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,100}$")


def is_url(location: str) -> bool:
    return str(location).startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def default_name(settings) -> str:
    """The name of the configured workspace."""
    return DEFAULT_NAME if is_url(settings.workspace) else Path(settings.workspace).stem


def list_workspaces(settings) -> list[dict]:
    """Every workspace this server can open: ``name``, ``city_code``, ``city_name``, ``default``."""
    default = default_name(settings)
    if is_url(settings.workspace):
        from api.store.postgis import normalise_url

        engine = sa.create_engine(normalise_url(settings.workspace), connect_args={"connect_timeout": 5})
        try:
            with engine.connect() as conn:
                has = conn.execute(sa.text("SELECT to_regclass('workspaces')")).scalar()
                rows = conn.execute(sa.text(
                    "SELECT name, city_code, city_name FROM workspaces ORDER BY name")).all() if has else []
        except sa.exc.DBAPIError as exc:
            msg = f"データベースのワークスペース一覧を読めません: {str(exc.orig).strip()}"
            raise StoreError(msg, en=f"cannot list the workspaces of the database: {str(exc.orig).strip()}") from exc
        finally:
            engine.dispose()
        out = [{"name": r.name, "city_code": r.city_code, "city_name": r.city_name} for r in rows]
    else:
        from api.store.geopackage import GeoPackageStore

        out = []
        for path in list_gpkg_paths(settings):
            entry = {"name": path.stem, "city_code": None, "city_name": None}
            try:
                with GeoPackageStore(path, create=False) as store:
                    ws = store.workspace()
                entry.update(city_code=ws["city_code"], city_name=ws["city_name"])
            except Exception:  # noqa: BLE001 - an unfinished or foreign file: listed without a city
                pass
            out.append(entry)
    if not any(w["name"] == default for w in out):
        out.insert(0, {"name": default, "city_code": None, "city_name": None})
    for w in out:
        w["default"] = w["name"] == default
    return out


def list_gpkg_paths(settings) -> list[Path]:
    """The ``.gpkg`` files of the folder of a GeoPackage workspace (each a workspace named by its stem).

    Files being written (``.<name>….tmp.gpkg``) and names that are not workspace names are left out.
    """
    folder = Path(settings.workspace).expanduser().resolve().parent
    if not folder.is_dir():
        return []
    return [path for path in sorted(folder.glob("*.gpkg"))
            if not path.name.startswith(".") and _NAME.match(path.stem)]


def location_of(settings, name: str) -> tuple[str, str]:
    """``(location, workspace name)`` to open workspace ``name`` with :func:`api.store.connect.open_store`."""
    if is_url(settings.workspace):
        return settings.workspace, name
    folder = Path(settings.workspace).expanduser().resolve().parent
    return str(folder / f"{name}.gpkg"), DEFAULT_NAME


def requested_name(request) -> str | None:
    """The workspace a request asks for (header first, then cookie), or None for the default."""
    name = request.headers.get(WORKSPACE_HEADER) or request.cookies.get(WORKSPACE_COOKIE)
    return name.strip() if name and name.strip() else None
