"""A small filled workspace (no open data needed) for API tests: areas, resources, a station."""

from __future__ import annotations

import contextlib

import geopandas as gpd
import pandas as pd
from shapely.geometry import Point, box

from gis.schema import coerce_areas, coerce_resources, coerce_stations
from gis.tiers import DEFAULT_PROFILE


def fill_small_workspace(store, *, note: str = "公民館区は小学校区（国土数値情報 A27）で代用") -> None:
    """Two small areas of 高梁市 in one 公民館区 / 中学校区 / city, a salon, a shop and a station."""
    areas = coerce_areas(gpd.GeoDataFrame(
        {
            "area_id": ["a1", "a2", "k1", "j1", "c1"],
            "level": ["neighbourhood", "neighbourhood", "kominkan", "junior_high", "city"],
            "name": ["落合町阿部", "成羽町下原", "高梁小学校区", "高梁中学校区", "高梁市"],
            "parent_id": ["k1", "k1", "j1", "c1", None],
            "population": [1200, pd.NA, 1200, 1200, 1200],
            "households": [500, pd.NA, 500, 500, 500],
        },
        geometry=[box(133.60, 34.78, 133.62, 34.80), box(133.62, 34.78, 133.64, 34.80)]
        + [box(133.60, 34.78, 133.64, 34.80)] * 3,
        crs="EPSG:4326",
    ))
    resources = coerce_resources(gpd.GeoDataFrame(
        {
            "resource_id": ["r1", "r2"],
            "kind": ["salon", "supermarket"],
            "name": ["いきいきサロン松山", "天満屋ハピーズ高梁店"],
            "address": ["高梁市松山1", "高梁市正宗町"],
            "attributes": [{"meeting_days": ["火", "金"]}, {}],
            "is_sample": [True, False],
        },
        geometry=[Point(133.61, 34.79), Point(133.63, 34.79)],
        crs="EPSG:4326",
    ))
    stations = coerce_stations(gpd.GeoDataFrame(
        {"station_id": ["s1"], "name": ["高梁市社協本所"], "kind": ["shakyo_station"], "area_ids": [["a1", "a2"]]},
        geometry=[Point(133.615, 34.785)],
        crs="EPSG:4326",
    ))
    with store.transaction() as tx:
        tx.set_workspace(city_code="33209", city_name="高梁市", profile=DEFAULT_PROFILE.with_note("kominkan", note))
        tx.replace_areas(areas)
        tx.replace_stations(stations)
        tx.add_resources(resources)


def small_workspace_settings(folder, **overrides):
    """Settings of a fresh small sample workspace ``folder/ws.gpkg`` (uploads in ``folder/uploads``)."""
    from api.settings import Settings
    from api.store.geopackage import GeoPackageStore

    settings = Settings(**{"workspace": str(folder / "ws.gpkg"), "upload_dir": folder / "uploads", **overrides})
    with GeoPackageStore(settings.workspace, create=True) as store:
        fill_small_workspace(store)
    return settings


@contextlib.contextmanager
def small_app(folder, **overrides):
    """The app on a fresh small sample workspace; its job runner is shut down afterwards."""
    from api.app import create_app

    app = create_app(small_workspace_settings(folder, **overrides))
    try:
        yield app
    finally:
        runner = getattr(app.state, "job_runner", None)
        if runner is not None and hasattr(runner, "shutdown"):
            runner.shutdown()


def write_small_workspace(path):
    """A new GeoPackage at ``path`` filled by :func:`fill_small_workspace` (a module's template)."""
    from api.store.geopackage import GeoPackageStore

    store = GeoPackageStore(path, create=True)
    fill_small_workspace(store)
    store.close()
    return path
