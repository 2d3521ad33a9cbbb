"""Real stations: imported from CSV / GeoJSON (all or nothing) they replace the samples; catchments and outreach use them."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from gis.crs import plane_rectangular_crs
from gis.errors import InputDataError


@pytest.fixture(scope="module")
def takahashi(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    path = tmp_path_factory.mktemp("stations") / "t.gpkg"
    with open_store(str(path)) as store:
        build_city_workspace(store, data_dir=data_dir)
    return path


def _station_rows(store) -> pd.DataFrame:
    """Three stations (names visibly made up) at 中学校区 centres: two 中学校区 each, the third by area names."""
    districts = store.areas(level="junior_high").sort_values("area_id").reset_index(drop=True)
    pts = districts.to_crs(plane_rectangular_crs("33209")).representative_point().to_crs("EPSG:4326")
    ids = districts["area_id"].tolist()
    names = districts["name"].tolist()
    return pd.DataFrame({
        "ID": ["st-north", "st-centre", "st-south"],
        "名称": ["北部社協ステーション（テスト用）", "中央地域包括支援センター（テスト用）", "南部福祉センター（テスト用）"],
        "種別": ["社協地域ステーション", "comprehensive_support_center", "地域福祉センター"],
        "住所": ["高梁市（架空）", "高梁市（架空）", "高梁市（架空）"],
        "緯度": [round(pts.y[i], 6) for i in (0, 2, 4)],
        "経度": [round(pts.x[i], 6) for i in (0, 2, 4)],
        "担当地域": ["、".join(ids[0:2]), ",".join(ids[2:4]), "；".join(names[4:])],
    })


def _check_imported(store, rows: pd.DataFrame) -> None:
    st = store.stations().set_index("station_id")
    assert sorted(st.index) == ["st-centre", "st-north", "st-south"]
    assert not st["is_sample"].any()
    assert st.loc["st-north", "kind"] == "shakyo_station" and st.loc["st-south", "kind"] == "welfare_center"
    districts = store.areas(level="junior_high").sort_values("area_id")["area_id"].tolist()
    assert st.loc["st-north", "area_ids"] == districts[0:2]
    assert st.loc["st-south", "area_ids"] == districts[4:]  # names resolved to ids
    assert st.loc["st-centre", "geometry"].y == pytest.approx(rows["緯度"][1], abs=1e-6)


def test_cli_import_stations_replaces_the_samples_and_catchments_use_them(takahashi, tmp_path, data_dir):
    from api.cli import main
    from api.jobs import run_job
    from api.store.connect import open_store

    with open_store(str(takahashi), create=False) as store:
        assert store.stations()["is_sample"].all() and len(store.stations()) == 7
        rows = _station_rows(store)
    csv = tmp_path / "stations.csv"
    rows.to_csv(csv, index=False, encoding="utf-8-sig")
    res = CliRunner().invoke(main, ["import", "stations", str(csv), "--workspace", str(takahashi)])
    assert res.exit_code == 0, res.output
    assert "3 件を置き換えて取り込みました" in res.output and "サンプル 7 か所" in res.output
    with open_store(str(takahashi), create=False) as store:
        _check_imported(store, rows)
        assert store.import_log()[-1]["kind"] == "stations"
        job = store.get_job(run_job(store, "catchments", {"by": "given", "cell_size_m": 200}, data_dir=data_dir, created_by="t"))
        assert job["status"] == "done", job["error"]
        assert job["summary"]["stations"] == 3 and job["summary"]["sample_stations"] == 0
        assert not any("サンプル" in n for n in job["notes"])
        names = set(rows["名称"])
        text = store.job_table(job["job_id"], list(job["tables"])[0]).to_csv()
        assert all(n in text for n in names)
        # every 小地域 is assigned (the three stations together claim all 7 中学校区)
        assert not any("担当していない地域" in n for n in job["notes"])
        # outreach plans from an imported station, with sample visits in its catchment
        job = store.get_job(run_job(store, "outreach", {"station_id": "st-centre", "sample_visits": 4, "time_limit_s": 1},
                                    data_dir=data_dir, created_by="t"))
        assert job["status"] == "done", job["error"]
        assert job["summary"]["station_id"] == "st-centre"
        assert job["summary"]["station_name"] == "中央地域包括支援センター（テスト用）"


def test_a_bad_row_imports_nothing(takahashi, tmp_path):
    from api.station_import import import_station_file
    from api.store.connect import open_store

    with open_store(str(takahashi), create=False) as store:
        before = store.stations()
        rows = _station_rows(store)
        bad = rows.copy()
        bad.loc[0, ["緯度", "経度"]] = [rows["経度"][0], rows["緯度"][0]]  # swapped
        bad.loc[1, "種別"] = "駐在所"
        bad.loc[2, "担当地域"] = "どこにもない地区"
        bad.loc[2, "ID"] = "st-north"
        path = tmp_path / "bad.csv"
        bad.to_csv(path, index=False, encoding="utf-8-sig")
        with pytest.raises(InputDataError) as info:
            import_station_file(store, path)
        text = str(info.value)
        assert "何も書き込んでいません" in text
        assert "1行目: 緯度と経度が入れ替わっているようです" in text
        assert "2行目: 拠点の種別「駐在所」が分かりません" in text
        assert "3行目: 担当地域「どこにもない地区」はワークスペースのどの地域にもありません" in text
        assert "ID「st-north」が 1 行目と重複しています" in text
        pd.testing.assert_frame_equal(store.stations().drop(columns="geometry"), before.drop(columns="geometry"))


def test_geojson_stations_on_postgis(pg_store_factory, tmp_path):
    """The same import on the PostGIS store (a small workspace), from a GeoJSON of points."""
    import geopandas as gpd
    from _sample_workspace import fill_small_workspace
    from shapely.geometry import Point, box

    from api.station_import import import_station_file

    store = pg_store_factory()
    fill_small_workspace(store)
    path = tmp_path / "stations.geojson"
    gpd.GeoDataFrame({"ID": ["p1", "p2"], "名称": ["松山ステーション（テスト用）", "成羽センター（テスト用）"],
                      "種別": ["社協地域ステーション", "地域包括支援センター"], "担当地域": ["a1", "成羽町下原"]},
                     geometry=[Point(133.61, 34.79), Point(133.63, 34.79)], crs="EPSG:4326").to_file(path, driver="GeoJSON")
    result = import_station_file(store, path)
    assert result["imported"] == 2 and result["unassigned"] == []
    store_again = pg_store_factory(store.workspace_name)  # a new connection sees what was committed
    got = store_again.stations().set_index("station_id")
    assert got.loc["p1", "area_ids"] == ["a1"] and got.loc["p2", "area_ids"] == ["a2"]
    assert got.loc["p2", "kind"] == "comprehensive_support_center" and not got["is_sample"].any()
    # a polygon is refused, and the two stations stay
    gpd.GeoDataFrame({"ID": ["x"], "種別": ["社協地域ステーション"]}, geometry=[box(133.6, 34.7, 133.7, 34.8)],
                     crs="EPSG:4326").to_file(tmp_path / "poly.geojson", driver="GeoJSON")
    with pytest.raises(InputDataError, match="点ではなく Polygon です"):
        import_station_file(store, tmp_path / "poly.geojson")
    assert sorted(store_again.stations()["station_id"]) == ["p1", "p2"]


def test_station_areas_from_a_table(takahashi, tmp_path, data_dir):
    """Stations imported without areas get them from an assignment table; catchments then cover every area."""
    from api.cli import main
    from api.jobs import run_job
    from api.station_import import import_station_areas
    from api.store.connect import open_store

    with open_store(str(takahashi), create=False) as store:
        rows = _station_rows(store)
        districts = store.areas(level="junior_high").sort_values("area_id")
    path = tmp_path / "stations_no_areas.xlsx"
    rows.drop(columns="担当地域").to_excel(path, index=False)
    res = CliRunner().invoke(main, ["import", "stations", str(path), "--workspace", str(takahashi)])
    assert res.exit_code == 0, res.output
    assert "担当地域のない拠点が 3 か所あります" in res.output
    # one row per (station, district); the station by name or ID, the district by name or ID
    ids, names = districts["area_id"].tolist(), districts["name"].tolist()
    table = pd.DataFrame({
        "拠点": ["北部社協ステーション（テスト用）", "st-north", "st-centre", "st-centre", "st-south", "st-south", "st-south"],
        "担当地域": [ids[0], names[1], ids[2], ids[3], names[4], ids[5], ids[6]],
    })
    assign = tmp_path / "assign.csv"
    table.to_csv(assign, index=False, encoding="utf-8-sig")
    res = CliRunner().invoke(main, ["import", "station-areas", str(assign), "--workspace", str(takahashi)])
    assert res.exit_code == 0, res.output
    assert "3 か所の拠点に担当地域を割り当てました" in res.output
    with open_store(str(takahashi), create=False) as store:
        st = store.stations().set_index("station_id")
        assert st.loc["st-north", "area_ids"] == ids[0:2] and st.loc["st-south", "area_ids"] == ids[4:]
        job = store.get_job(run_job(store, "catchments", {"by": "given", "cell_size_m": 200}, data_dir=data_dir, created_by="t"))
        assert job["status"] == "done" and not any("担当していない地域" in n for n in job["notes"])
        # all or nothing: an unknown station and an unknown area write nothing
        bad = pd.DataFrame({"拠点": ["st-north", "どこかの拠点"], "担当地域": ["存在しない地区", ids[0]]})
        bad.to_csv(tmp_path / "bad.csv", index=False, encoding="utf-8-sig")
        with pytest.raises(InputDataError) as info:
            import_station_areas(store, tmp_path / "bad.csv")
        text = str(info.value)
        assert "1行目: 地域「存在しない地区」はワークスペースのどの地域にもありません" in text
        assert "2行目: 拠点「どこかの拠点」はワークスペースにありません" in text
        assert store.stations().set_index("station_id").loc["st-north", "area_ids"] == ids[0:2]


def test_api_station_import_and_areas(takahashi, tmp_path, data_dir):
    """POST /stations/import and /stations/areas (editors only): GET /stations then serves the imported ones."""
    from _auth import login
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings
    from api.store.connect import open_store

    with open_store(str(takahashi), create=False) as store:
        rows = _station_rows(store)
        ids = store.areas(level="junior_high").sort_values("area_id")["area_id"].tolist()
    app = create_app(Settings(workspace=str(takahashi), data_dir=str(data_dir), upload_dir=str(tmp_path / "up")))
    body = rows.to_csv(index=False).encode("utf-8-sig")
    with TestClient(app) as client:
        login(client, "viewer")
        assert client.post("/stations/import?filename=s.csv", content=body).status_code == 403
        login(client, "planner")
        r = client.post("/stations/import", files={"file": ("stations.csv", body, "text/csv")})
        assert r.status_code == 201, r.text
        assert r.json()["imported"] == 3 and r.json()["source"] == "stations.csv"
        features = client.get("/stations").json()["features"]
        assert sorted(f["properties"]["name"] for f in features) == sorted(rows["名称"])
        assert not any(f["properties"]["is_sample"] for f in features)
        bad = rows.assign(種別=["社協地域ステーション", "交番", "地域福祉センター"]).to_csv(index=False).encode("utf-8-sig")
        r = client.post("/stations/import?filename=bad.csv", content=bad)
        assert r.status_code == 422 and "2行目: 拠点の種別「交番」が分かりません" in r.text
        table = pd.DataFrame({"拠点": ["st-north"], "担当地域": ["、".join(ids)]}).to_csv(index=False).encode("utf-8-sig")
        r = client.post("/stations/areas?filename=a.csv", content=table)
        assert r.status_code == 200, r.text
        got = {f["id"] if "id" in f else f["properties"]["station_id"]: f["properties"]["area_ids"]
               for f in client.get("/stations").json()["features"]}
        assert got["st-north"] == ids
    with open_store(str(takahashi), create=False) as store:
        assert store.import_log()[-1]["by"] == "test-planner"
