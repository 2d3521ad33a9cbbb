"""Demand points: population placed on a mesh or on buildings, summing to the census, 65+ known or stated as estimated."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import Point, box

from gis.demand import demand_points, reconcile
from gis.errors import InputDataError

CRS = "EPSG:6673"
X0, Y0 = -40_000.0, -130_000.0


def _areas(rows, *, elderly=None):
    gdf = gpd.GeoDataFrame(
        {"area_id": [r[0] for r in rows], "name": [r[1] for r in rows],
         "population": pd.array([r[3] for r in rows], dtype="Int64"),
         "pop_65plus": pd.array(elderly if elderly is not None else [None] * len(rows), dtype="Int64")},
        geometry=[box(X0 + a, Y0 + b, X0 + c, Y0 + d) for _i, _n, (a, b, c, d), _p in rows], crs=CRS,
    )
    return gdf.to_crs(4326)


def test_mesh_cells_sum_to_census_and_follow_area_share():
    areas = _areas([("a", "字A", (0, 0, 300, 100), 90), ("b", "字B", (0, 100, 150, 200), 10)])
    pts = demand_points(areas, crs=CRS, cell_size_m=100, elderly_share=0.5)
    assert reconcile(pts, areas).empty
    a = pts[pts["area_id"] == "a"]
    assert len(a) == 3 and np.allclose(a["population"], 30.0)
    b = pts[pts["area_id"] == "b"].sort_values("population")
    # a 100 m cell and a half cell: 2/3 and 1/3 of the 10 people
    assert np.allclose(b["population"], [10 / 3, 20 / 3])
    assert pts["elderly"].sum() == pytest.approx(50.0)
    assert pts["elderly_estimated"].all() and "推計" in pts.attrs["age_note"]
    # every point lies inside its own area
    own = gpd.GeoSeries(areas.set_index("area_id").to_crs(CRS).geometry.reindex(pts["area_id"]).values,
                        index=pts.index, crs=CRS)
    assert pts.to_crs(CRS).within(own.buffer(1e-6)).all()


def test_known_65plus_is_used_and_not_flagged():
    areas = _areas([("a", "字A", (0, 0, 200, 100), 40)], elderly=[12])
    pts = demand_points(areas, crs=CRS, cell_size_m=100)
    assert pts["elderly"].sum() == pytest.approx(12.0)
    assert not pts["elderly_estimated"].any() and pts.attrs["age_note"] == ""


def test_missing_age_data_without_a_share_is_a_clear_error():
    areas = _areas([("a", "字A", (0, 0, 200, 100), 40)])
    with pytest.raises(InputDataError, match="65歳以上人口が不明") as err:
        demand_points(areas, crs=CRS)
    assert "age-table" in str(err.value)


def test_per_area_share_and_bad_share():
    areas = _areas([("a", "字A", (0, 0, 100, 100), 100), ("b", "字B", (100, 0, 200, 100), 100)])
    pts = demand_points(areas, crs=CRS, elderly_share={"a": 0.2, "b": 0.6})
    assert pts.groupby("area_id")["elderly"].sum().to_dict() == pytest.approx({"a": 20.0, "b": 60.0})
    with pytest.raises(InputDataError, match="65歳以上の割合は 0〜1 にしてください"):
        demand_points(areas, crs=CRS, elderly_share=1.5)
    with pytest.raises(InputDataError, match="地域 b の65歳以上の割合が指定されていません"):
        demand_points(areas, crs=CRS, elderly_share={"a": 0.2})
    with pytest.raises(InputDataError, match="正の数"):
        demand_points(areas, crs=CRS, elderly_share=0.3, cell_size_m=0)


def test_buildings_place_people_where_they_live():
    areas = _areas([("a", "字A", (0, 0, 1000, 1000), 60), ("b", "字B", (1000, 0, 2000, 1000), 10)])
    houses = gpd.GeoDataFrame(geometry=[Point(X0 + 100, Y0 + 100), Point(X0 + 900, Y0 + 900), Point(X0 + 500, Y0 + 200)], crs=CRS)
    pts = demand_points(areas, crs=CRS, buildings=houses, elderly_share=0.4)
    a = pts[pts["area_id"] == "a"]
    assert len(a) == 3 and np.allclose(a["population"], 20.0)
    # 字B has no building: falls back to the mesh, still reconciles
    assert len(pts[pts["area_id"] == "b"]) == 100 and reconcile(pts, areas).empty


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.integers(50, 900), st.integers(50, 900), st.integers(0, 3000)), min_size=1, max_size=5),
       st.sampled_from([50.0, 100.0, 250.0]))
def test_points_always_reconcile(shapes, cell):
    rows = [(f"a{i}", f"字{i}", (i * 1000, 0, i * 1000 + w, h), p) for i, (w, h, p) in enumerate(shapes)]
    areas = _areas(rows)
    pts = demand_points(areas, crs=CRS, cell_size_m=cell, elderly_share=0.3)
    assert reconcile(pts, areas).empty
    assert pts["population"].min() >= 0


def test_takahashi_demand_reconciles(data_dir, tmp_path):
    from gis import opendata

    small = opendata.read_census_small_areas(data_dir / "okayama" / "h22_small_areas_west_okayama.topo.json",
                                             city_code="33209")
    pts = demand_points(small, crs=CRS, cell_size_m=250, elderly_share=0.41)
    assert reconcile(pts, small).empty
    assert pts["population"].sum() == pytest.approx(34963)


def _same_points(a, b):
    """Same cells in the same order, same populations and 65+ (floating tolerance)."""
    assert len(a) == len(b)
    assert (a["area_id"].to_numpy() == b["area_id"].to_numpy()).all()
    np.testing.assert_allclose(a["population"], b["population"], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(a["elderly"], b["elderly"], rtol=1e-9, atol=1e-9)
    assert a.geometry.geom_equals_exact(b.geometry, 1e-9).all()


def test_boundary_clipping_equals_clipping_every_cell_on_takahashi(data_dir):
    from gis import opendata

    small = opendata.read_census_small_areas(data_dir / "okayama" / "h22_small_areas_west_okayama.topo.json",
                                             city_code="33209")
    fast = demand_points(small, crs=CRS, cell_size_m=100, elderly_share=0.41)
    full = demand_points(small, crs=CRS, cell_size_m=100, elderly_share=0.41, clip="all")
    assert len(fast) > 60_000  # the real 100 m mesh of 高梁市, not a toy
    _same_points(fast, full)
    assert reconcile(fast, small).empty


def _blob(seed: int, n: int, radius: float):
    """A random non-convex polygon (a star around the origin), sometimes with a hole."""
    rng = np.random.default_rng(seed)
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    r = rng.uniform(0.3, 1.0, n) * radius
    from shapely.geometry import Polygon

    shell = Polygon(np.c_[X0 + r * np.cos(angles), Y0 + r * np.sin(angles)]).buffer(0)
    if rng.random() < 0.4:
        shell = shell.difference(Point(X0, Y0).buffer(radius * 0.2))
    return shell


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.integers(3, 40), st.floats(60, 1500), st.sampled_from([50.0, 100.0, 250.0]))
def test_boundary_clipping_equals_clipping_every_cell_on_random_polygons(seed, n, radius, cell):
    geom = _blob(seed, n, radius)
    if geom.is_empty or geom.area <= 0:
        return
    areas = gpd.GeoDataFrame({"area_id": ["a"], "name": ["字"], "population": pd.array([777], dtype="Int64"),
                              "pop_65plus": pd.array([300], dtype="Int64")}, geometry=[geom], crs=CRS).to_crs(4326)
    fast = demand_points(areas, crs=CRS, cell_size_m=cell)
    full = demand_points(areas, crs=CRS, cell_size_m=cell, clip="all")
    _same_points(fast, full)
    assert reconcile(fast, areas).empty
