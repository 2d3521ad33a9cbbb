"""The demand cache: one mesh per set of mesh inputs, reused across jobs and processes, never stale."""

from __future__ import annotations

import shutil

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point

from api import demand_cache
from api.analyses.base import workspace_demand
from api.jobs import data_version, run_job
from gis.schema import coerce_resources

CELL = 250.0  # a coarser mesh than the default keeps each build well under a second on 高梁市


@pytest.fixture(scope="module")
def takahashi_file(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.geopackage import GeoPackageStore

    path = tmp_path_factory.mktemp("demand_cache") / "takahashi.gpkg"
    with GeoPackageStore(path, create=True) as store:
        build_city_workspace(store, data_dir=data_dir)
    return path


@pytest.fixture
def takahashi(takahashi_file, tmp_path):
    """A fresh copy of the 高梁市 workspace, with an empty cache in memory and on disk."""
    from api.store.geopackage import GeoPackageStore

    path = tmp_path / "ws.gpkg"
    shutil.copy(takahashi_file, path)
    demand_cache.clear()
    with GeoPackageStore(path) as store:
        yield store
    demand_cache.clear()


def _frame(points):
    return pd.DataFrame(points).assign(geometry=points.geometry.to_wkt())


def test_second_request_reuses_the_mesh_and_equals_a_fresh_build(takahashi):
    before = demand_cache.builds()
    first, notes1 = workspace_demand(takahashi, cell_size_m=CELL)
    second, notes2 = workspace_demand(takahashi, cell_size_m=CELL)
    assert demand_cache.builds() == before + 1
    assert notes1 == notes2 and first.attrs == second.attrs
    with demand_cache.bypassed():  # the former path: no cache, every cell clipped
        fresh, notes3 = workspace_demand(takahashi, cell_size_m=CELL)
    pd.testing.assert_frame_equal(_frame(second), _frame(fresh))
    assert notes3 == notes1
    # each caller gets its own copy: changing one does not change the cache
    second["population"] = 0.0
    third, _ = workspace_demand(takahashi, cell_size_m=CELL)
    assert third["population"].sum() == pytest.approx(34963)


def test_salon_gaps_jobs_share_one_mesh_and_give_the_same_tables(takahashi, data_dir):
    before = demand_cache.builds()
    ids = [run_job(takahashi, "salon-gaps", {"cell_size_m": CELL}, data_dir=data_dir, created_by="test")
           for _ in range(2)]
    assert demand_cache.builds() == before + 1
    with demand_cache.bypassed():
        ids.append(run_job(takahashi, "salon-gaps", {"cell_size_m": CELL}, data_dir=data_dir, created_by="test"))
    records = [takahashi.get_job(i) for i in ids]
    assert [r["status"] for r in records] == ["done"] * 3
    for name in records[0]["tables"]:
        tables = [takahashi.job_table(r["job_id"], name) for r in records]
        pd.testing.assert_frame_equal(tables[0], tables[1])
        pd.testing.assert_frame_equal(tables[0], tables[2])


def test_resource_edit_keeps_the_mesh_but_new_census_ages_rebuild_it(takahashi, tmp_path):
    from api.importing import import_age_table

    version0 = data_version(takahashi)
    base, _ = workspace_demand(takahashi, cell_size_m=CELL)
    builds = demand_cache.builds()

    # a salon added on the map: a new data version, the same mesh (no rebuild)
    salon = coerce_resources(gpd.GeoDataFrame(
        {"resource_id": ["new-salon"], "kind": ["salon"], "name": ["新しいサロン"], "address": ["高梁市"],
         "attributes": [{}], "is_sample": [False]},
        geometry=[Point(133.617, 34.79)], crs="EPSG:4326"))
    with takahashi.transaction() as tx:
        tx.add_resources(salon)
    assert data_version(takahashi) != version0
    workspace_demand(takahashi, cell_size_m=CELL)
    assert demand_cache.builds() == builds

    # an e-Stat age table for two 字: their 65+ are census figures now, the mesh is rebuilt
    small = takahashi.areas(level="neighbourhood").sort_values("area_id")
    picked = small.head(2)
    path = _age_csv(tmp_path, [_age_row(aid, total=str(int(pop))) for aid, pop in
                               zip(picked["area_id"], picked["population"])])
    import_age_table(takahashi, path)
    after, _ = workspace_demand(takahashi, cell_size_m=CELL)
    assert demand_cache.builds() == builds + 1
    for aid in picked["area_id"]:
        mine = after[after["area_id"] == aid]
        assert mine["elderly"].sum() == pytest.approx(28)  # 1+2+…+7 from the table, not the city share
        assert not mine["elderly_estimated"].any()
        assert base.loc[base["area_id"] == aid, "elderly_estimated"].all()
    # a different cell size or share is another mesh
    workspace_demand(takahashi, cell_size_m=500.0)
    workspace_demand(takahashi, cell_size_m=CELL, elderly_share=0.3)
    workspace_demand(takahashi, cell_size_m=1000.0)
    assert demand_cache.builds() == builds + 4
    # five meshes were built for this workspace; only the newest copies stay beside it
    assert len(list(demand_cache.cache_dir(takahashi).glob("demand-*.npz"))) == demand_cache.MAX_DISK_COPIES


def test_a_new_process_starts_from_the_copy_beside_the_workspace(takahashi):
    first, _ = workspace_demand(takahashi, cell_size_m=CELL)
    folder = demand_cache.cache_dir(takahashi)
    copies = sorted(folder.glob("demand-*.npz"))
    assert len(copies) == 1 and not list(folder.glob("*.tmp*"))
    demand_cache.clear()  # what a new process sees: nothing in memory
    builds = demand_cache.builds()
    again, _ = workspace_demand(takahashi, cell_size_m=CELL)
    assert demand_cache.builds() == builds
    pd.testing.assert_frame_equal(_frame(first), _frame(again))
    assert again.attrs == first.attrs
    # a damaged copy is rebuilt, not trusted
    demand_cache.clear()
    copies[0].write_bytes(b"not an npz file")
    rebuilt, _ = workspace_demand(takahashi, cell_size_m=CELL)
    assert demand_cache.builds() == builds + 1
    pd.testing.assert_frame_equal(_frame(first), _frame(rebuilt))


def _age_csv(tmp_path, rows):
    """An e-Stat 年齢別人口 table as downloaded (cp932, code row, label row)."""
    meta = ["KEY_CODE", "HYOSYO", "CITYNAME", "NAME", "HTKSYORI", "HTKSAKI", "GASSAN"]
    codes = ["T000608001", "T000608014", "T000608015", "T000608016", "T000608017", "T000608018", "T000608019",
             "T000608020"]
    labels = ["総数　年齢「不詳」含む", "総数６５～６９歳", "総数７０～７４歳", "総数７５～７９歳", "総数８０～８４歳",
              "総数８５～８９歳", "総数９０～９４歳", "総数９５歳以上"]
    meta_labels = ["地域識別番号", "表章単位", "市区町村名", "町丁字名", "秘匿処理", "秘匿先情報", "合算地域"]
    lines = [",".join(meta + codes), ",".join(meta_labels + labels), *(",".join(r) for r in rows)]
    path = tmp_path / "h22_age_takahashi.csv"
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode("cp932"))
    return path


def _age_row(key, *, total):
    return [key, "3", "高梁市", "字", "0", "", "", total, "1", "2", "3", "4", "5", "6", "7"]


def test_a_second_fan_out_into_the_same_folder_builds_no_mesh(data_dir, tmp_path):
    """A fan-out task rebuilds its city's workspace, yet its mesh inputs are the same: no new mesh."""
    from api.fanout import city_task
    from api.jobs import get_spec

    spec = get_spec("salon-gaps")
    demand_cache.clear()
    try:
        first = city_task("33461", "里庄町", spec, {"cell_size_m": CELL}, data_dir=str(data_dir),
                          out_dir=str(tmp_path), created_by="test")
        builds = demand_cache.builds()
        demand_cache.clear()  # the next run's worker process starts with nothing in memory
        second = city_task("33461", "里庄町", spec, {"cell_size_m": CELL}, data_dir=str(data_dir),
                           out_dir=str(tmp_path), created_by="test")
    finally:
        demand_cache.clear()
    assert first["status"] == second["status"] == "done", (first["error"], second["error"])
    assert demand_cache.builds() == builds
    pd.testing.assert_frame_equal(first["table"], second["table"])
