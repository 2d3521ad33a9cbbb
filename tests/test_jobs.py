"""Analysis jobs: the job store contract on both stores, run_job, the HTTP API and the CLI."""

from __future__ import annotations

import io
import json
import time
import uuid
from types import SimpleNamespace

import _fake_analysis as fake
from _auth import login
import geopandas as gpd
import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from shapely.geometry import Point, box

from api.app import create_app
from api.jobs import data_version, get_spec, parse_param_pairs, run_job, validate_params
from api.settings import Settings
from api.store.base import JobStateError, StoreError
from api.store.geopackage import GeoPackageStore
from gis.errors import InputDataError
from gis.schema import coerce_areas, coerce_resources
from gis.tiers import DEFAULT_PROFILE

# ---------------------------------------------------------------------------- fixtures


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def make_store(request, tmp_path):
    """``make_store()`` opens a new store object on the same workspace each call."""
    if request.param == "geopackage":
        path = tmp_path / "workspace.gpkg"
        opened = []

        def factory():
            opened.append(GeoPackageStore(path))
            return opened[-1]

        yield factory
        for store in opened:
            store.close()
    else:
        pg_store_factory = request.getfixturevalue("pg_store_factory")
        name = pg_store_factory().workspace_name
        yield lambda: pg_store_factory(name)


@pytest.fixture
def store(make_store):
    return make_store()


def _fill(store) -> None:
    areas = coerce_areas(gpd.GeoDataFrame(
        {
            "area_id": ["a1", "a2", "a3", "k1", "j1", "c1"],
            "level": ["neighbourhood"] * 3 + ["kominkan", "junior_high", "city"],
            "name": ["落合町阿部", "成羽町下原", "川上町地頭", "高梁小学校区", "高梁中学校区", "高梁市"],
            "parent_id": ["k1", "k1", "k1", "j1", "c1", None],
            "population": [1200, 30, pd.NA, 1230, 1230, 1230],
        },
        geometry=[box(133.60, 34.78, 133.62, 34.80), box(133.62, 34.78, 133.64, 34.80),
                  box(133.64, 34.78, 133.66, 34.80)] + [box(133.60, 34.78, 133.66, 34.80)] * 3,
        crs="EPSG:4326",
    ))
    with store.transaction() as tx:
        tx.set_workspace(city_code="33209", city_name="高梁市", profile=DEFAULT_PROFILE)
        tx.replace_areas(areas)


def _result(**tables) -> SimpleNamespace:
    return SimpleNamespace(tables=tables, map_html="<html>地図</html>", summary={"n": 2}, notes=["注記です"])


def _rich_table() -> pd.DataFrame:
    df = pd.DataFrame({
        "地域": ["落合", "成羽"],
        "人口": pd.array([1200, None], dtype="Int64"),
        "率": [0.25, float("nan")],
        "要支援": [True, False],
        "時刻": pd.to_datetime(["2024-04-01T09:00:00Z", "2024-04-02T10:30:00Z"], utc=True),
    }, index=pd.Index(["a1", "a2"], name="area_id"))
    df.attrs["labels"] = {"率": "未カバー率"}
    return df


# ---------------------------------------------------------------------------- store contract


def test_job_lifecycle_and_result_round_trip(make_store):
    store = make_store()
    job = store.create_job(analysis="salon-gaps", params={"threshold_m": 500, "名": "高梁"},
                           created_by="tanaka", data_version="33209-abc")
    assert job["status"] == "queued" and job["progress"] == 0.0 and job["started_at"] is None
    assert job["params"] == {"threshold_m": 500, "名": "高梁"} and job["created_by"] == "tanaka"
    assert job["data_version"] == "33209-abc" and job["tables"] == [] and job["has_map"] is False
    uuid.UUID(job["job_id"])

    store.update_job_progress(job["job_id"], 0.4, "距離を計算中")
    running = store.get_job(job["job_id"])
    assert (running["status"], running["progress"], running["message"]) == ("running", 0.4, "距離を計算中")
    assert running["started_at"] is not None

    point = gpd.GeoDataFrame({"x": [1]}, geometry=[Point(0, 0)], crs="EPSG:4326")
    done = store.finish_job(job["job_id"], _result(main=_rich_table(), geo=point))
    assert done["status"] == "done" and done["progress"] == 1.0 and done["finished_at"] >= done["started_at"]
    assert done["tables"] == ["main", "geo"] and done["has_map"] and done["summary"] == {"n": 2}
    assert done["notes"] == ["注記です"]

    reopened = make_store()  # another store object on the same workspace sees all of it
    table = reopened.job_table(job["job_id"], "main")
    assert list(table.columns) == ["area_id", "地域", "人口", "率", "要支援", "時刻"]
    assert table["area_id"].tolist() == ["a1", "a2"]
    assert str(table["人口"].dtype) == "Int64" and table["人口"].iloc[0] == 1200 and pd.isna(table["人口"].iloc[1])
    assert table["率"].dtype == float and pd.isna(table["率"].iloc[1])
    assert table["要支援"].dtype == bool
    assert table["時刻"].iloc[1] == pd.Timestamp("2024-04-02T10:30:00Z")
    assert table.attrs["labels"] == {"率": "未カバー率"}
    assert list(reopened.job_table(job["job_id"], "geo").columns) == ["x"]  # geometry left to the map
    assert reopened.job_map(job["job_id"]) == "<html>地図</html>"
    assert reopened.job_table(job["job_id"], "nope") is None


def test_finished_jobs_are_immutable(store):
    job = store.create_job(analysis="a", params={}, created_by="u", data_version="v")
    store.finish_job(job["job_id"], _result(t=pd.DataFrame({"x": [1]})))
    for change in (lambda: store.finish_job(job["job_id"], _result(t=pd.DataFrame({"x": [2]}))),
                   lambda: store.fail_job(job["job_id"], "late"),
                   lambda: store.update_job_progress(job["job_id"], 0.5, "again"),
                   lambda: store.cancel_job(job["job_id"])):
        with pytest.raises(JobStateError, match="記録は変えられません"):
            change()
    assert store.job_table(job["job_id"], "t")["x"].tolist() == [1]
    assert store.get_job(job["job_id"])["status"] == "done"


def test_fail_cancel_and_unknown_jobs(store):
    failing = store.create_job(analysis="a", params={}, created_by="u", data_version="v")
    store.update_job_progress(failing["job_id"], 0.2)
    failed = store.fail_job(failing["job_id"], "サロンがありません")
    assert failed["status"] == "failed" and failed["error"] == "サロンがありません" and failed["finished_at"]

    queued = store.create_job(analysis="a", params={}, created_by="u", data_version="v")
    assert store.cancel_job(queued["job_id"])["status"] == "cancelled"
    running = store.create_job(analysis="a", params={}, created_by="u", data_version="v")
    store.update_job_progress(running["job_id"], 0.1)
    asked = store.cancel_job(running["job_id"])  # a running job is asked to stop, and stops at its next report
    assert asked["status"] == "running" and asked["cancel_requested"] is True
    ended = store.finish_job(running["job_id"], _result(t=pd.DataFrame({"x": [1]})))
    assert ended["status"] == "cancelled" and ended["tables"] == [] and store.job_table(running["job_id"], "t") is None
    with pytest.raises(JobStateError, match="記録は変えられません"):
        store.cancel_job(running["job_id"])

    unknown = str(uuid.uuid4())
    assert store.get_job(unknown) is None and store.get_job("not-a-uuid") is None
    assert store.job_table(unknown, "t") is None and store.job_map(unknown) is None
    with pytest.raises(JobStateError, match="ジョブ .* はありません"):
        store.fail_job(unknown, "x")
    with pytest.raises(StoreError):
        store.update_job_progress(running["job_id"], float("nan"))


def test_a_bad_result_writes_nothing(store):
    job = store.create_job(analysis="a", params={}, created_by="u", data_version="v")
    store.update_job_progress(job["job_id"], 0.5)
    with pytest.raises(StoreError, match="DataFrame"):
        store.finish_job(job["job_id"], _result(good=pd.DataFrame({"x": [1]}), bad=[1, 2]))
    with pytest.raises(StoreError, match="結果の表の名前"):
        store.finish_job(job["job_id"], _result(**{"a/b": pd.DataFrame({"x": [1]})}))
    after = store.get_job(job["job_id"])
    assert after["status"] == "running" and after["tables"] == [] and store.job_table(job["job_id"], "good") is None


def test_list_jobs_newest_first_with_filters(store):
    ids = [store.create_job(analysis=name, params={"i": i}, created_by="u", data_version="v")["job_id"]
           for i, name in enumerate(["a", "b", "a"])]
    store.fail_job(ids[1], "x")
    assert [j["job_id"] for j in store.list_jobs()] == ids[::-1]
    assert [j["job_id"] for j in store.list_jobs(analysis="a")] == [ids[2], ids[0]]
    assert [j["job_id"] for j in store.list_jobs(status="failed")] == [ids[1]]
    assert len(store.list_jobs(limit=1)) == 1


def test_geopackage_with_jobs_is_still_a_workspace(tmp_path):
    path = tmp_path / "ws.gpkg"
    store = GeoPackageStore(path)
    _fill(store)
    job = store.create_job(analysis="a", params={}, created_by="u", data_version="v")
    store.finish_job(job["job_id"], _result(t=pd.DataFrame({"x": [1]})))
    again = GeoPackageStore(path, create=False)
    assert len(again.areas(level="neighbourhood")) == 3
    assert again.get_job(job["job_id"])["status"] == "done"
    import pyogrio

    # the jobs live beside the workspace, not in it
    assert not {"jobs", "job_tables"} & {str(n) for n, _ in pyogrio.list_layers(path)}
    assert (tmp_path / "ws.jobs.sqlite").is_file()


def test_fifty_jobs_leave_the_geopackage_untouched(tmp_path):
    path = tmp_path / "ws.gpkg"
    store = GeoPackageStore(path)
    _fill(store)
    before = path.read_bytes()
    stat = path.stat()
    ids = [run_job(store, fake.NAME, {"min_population": 10}, data_dir=None, created_by="u") for _ in range(50)]
    assert path.read_bytes() == before and path.stat().st_mtime_ns == stat.st_mtime_ns  # not even rewritten
    import sqlite3

    con = sqlite3.connect(tmp_path / "ws.jobs.sqlite")
    try:
        assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        con.close()
    listed = GeoPackageStore(path, create=False).list_jobs(limit=100)
    assert sorted(j["job_id"] for j in listed) == sorted(ids)
    assert {j["status"] for j in listed} == {"done"} and all(j["tables"] == ["areas", "levels"] for j in listed)
    table = store.job_table(ids[-1], "areas")
    assert list(table["area_id"]) == ["a1", "a2"] and table.attrs["labels"]["area_id"] == "地域コード"
    assert "地域数の地図" in store.job_map(ids[0])


def test_jobs_of_an_older_geopackage_move_beside_it_on_open(tmp_path):
    """A workspace whose jobs were kept inside the .gpkg: on open they move to the jobs database, readable as before."""
    import sqlite3

    import pyogrio

    path = tmp_path / "old.gpkg"
    store = GeoPackageStore(path)
    _fill(store)
    done = store.create_job(analysis="a", params={"k": 1}, created_by="u", data_version="v")
    store.finish_job(done["job_id"], _result(t=_rich_table()))
    queued = store.create_job(analysis="b", params={}, created_by="u", data_version="v")
    expected = store.job_table(done["job_id"], "t")
    # put them back inside the GeoPackage, as an older Tsunagu kept them
    jobs_db = tmp_path / "old.jobs.sqlite"
    con = sqlite3.connect(path)
    with con:
        con.execute("ATTACH DATABASE ? AS j", (str(jobs_db),))
        con.execute("CREATE TABLE jobs AS SELECT * FROM j.jobs")
        con.execute("CREATE TABLE job_tables AS SELECT * FROM j.job_tables")
        con.execute("INSERT INTO gpkg_contents (table_name, data_type, identifier) VALUES ('jobs', 'attributes', 'jobs')")
    con.execute("DETACH DATABASE j")
    con.close()
    for suffix in ("", "-wal", "-shm"):
        jobs_db.with_name(jobs_db.name + suffix).unlink(missing_ok=True)
    grown = path.stat().st_size

    again = GeoPackageStore(path, create=False)
    assert not {"jobs", "job_tables"} & {str(n) for n, _ in pyogrio.list_layers(path)}
    assert path.stat().st_size < grown and jobs_db.is_file()
    assert len(again.areas()) == 6
    assert [j["job_id"] for j in again.list_jobs()] == [queued["job_id"], done["job_id"]]
    record = again.get_job(done["job_id"])
    assert record["status"] == "done" and record["params"] == {"k": 1} and record["tables"] == ["t"]
    pd.testing.assert_frame_equal(again.job_table(done["job_id"], "t"), expected)
    assert again.job_map(done["job_id"]) == "<html>地図</html>"
    assert GeoPackageStore(path, create=False).get_job(queued["job_id"])["status"] == "queued"  # moved once


# ---------------------------------------------------------------------------- run_job


def test_run_job_records_params_progress_and_versions(make_store, tmp_path):
    store = make_store()
    _fill(store)
    seen = []
    first = run_job(store, fake.NAME, {"min_population": 100}, data_dir=None, created_by="suzuki",
                    progress_cb=lambda f, m: seen.append(f))
    record = store.get_job(first)
    assert record["status"] == "done" and record["created_by"] == "suzuki"
    assert record["params"] == {"level": "neighbourhood", "min_population": 100, "fail": False, "crash": False,
                                "wait": False, "fail_city": None, "crash_city": None, "steps": 0, "step_s": 0.0, "extra_tables": 0,
                                "tag": ""}  # defaults filled in: the result says what it used
    assert record["data_version"].startswith("33209-")
    assert seen[0] == 0.0 and seen[-1] == 1.0 and seen == sorted(seen)
    assert store.job_table(first, "areas")["area_id"].tolist() == ["a1"]

    second = run_job(store, fake.NAME, {"min_population": 0}, data_dir=None, created_by="suzuki")
    assert second != first
    assert store.job_table(second, "areas")["area_id"].tolist() == ["a1", "a2", "a3"]
    assert store.job_table(first, "areas")["area_id"].tolist() == ["a1"]  # the first result is unchanged


def test_run_job_failures_end_the_job_not_the_caller(tmp_path):
    store = GeoPackageStore(tmp_path / "ws.gpkg")
    _fill(store)
    failed = store.get_job(run_job(store, fake.NAME, {"fail": True}, data_dir=None, created_by="u"))
    assert failed["status"] == "failed" and "サロンの位置データがありません" in failed["error"]
    crashed = store.get_job(run_job(store, fake.NAME, {"crash": True}, data_dir=None, created_by="u"))
    assert crashed["status"] == "failed" and "ZeroDivisionError" in crashed["error"]


def test_bad_params_and_names_make_no_job(tmp_path):
    store = GeoPackageStore(tmp_path / "ws.gpkg")
    _fill(store)
    with pytest.raises(InputDataError, match="min_population") as err:
        run_job(store, fake.NAME, {"min_population": -5}, data_dir=None, created_by="u")
    assert err.value.feature == "min_population"
    with pytest.raises(InputDataError, match=f"あるもの: .*{fake.NAME}"):
        run_job(store, "salon-gap", {}, data_dir=None, created_by="u")
    assert store.list_jobs() == []


def test_data_version_follows_the_data(tmp_path):
    store = GeoPackageStore(tmp_path / "ws.gpkg")
    _fill(store)
    before = data_version(store)
    assert before == data_version(store) and before.startswith("33209-")
    salon = coerce_resources(gpd.GeoDataFrame({"resource_id": ["s1"], "kind": ["salon"], "name": ["サロン"]},
                                              geometry=[Point(133.61, 34.79)], crs="EPSG:4326"))
    with store.transaction() as tx:
        tx.add_resources(salon)
    assert data_version(store) != before


def test_cli_param_pairs_are_typed_from_the_model():
    spec = get_spec(fake.NAME)
    params = parse_param_pairs(spec, ["min_population=5", "level=kominkan", "fail=false"])
    assert params == {"min_population": 5, "level": "kominkan", "fail": False}
    assert validate_params(spec, params).min_population == 5
    with pytest.raises(InputDataError, match="パラメータ「radius」はありません"):
        parse_param_pairs(spec, ["radius=3"])
    with pytest.raises(InputDataError, match="「名前=値」"):
        parse_param_pairs(spec, ["radius"])


# ---------------------------------------------------------------------------- HTTP API


@pytest.fixture
def client(tmp_path):
    store = GeoPackageStore(tmp_path / "ws.gpkg")
    _fill(store)
    app = create_app(Settings(workspace=str(tmp_path / "ws.gpkg"), data_dir=tmp_path), store=store)
    fake.GATE.clear()
    with TestClient(app) as c:
        login(c, "planner")
        yield c
    fake.GATE.set()
    runner = getattr(app.state, "job_runner", None)
    if runner is not None:
        runner.shutdown(store)


def _wait(client, job_id: str, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = client.get(f"/jobs/{job_id}").json()
        if body["status"] not in ("queued", "running"):
            return body
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} still {body['status']} after {timeout} s")


def test_api_job_to_csv_xlsx_and_map(client):
    listed = {a["name"]: a for a in client.get("/analyses").json()}
    assert listed[fake.NAME]["label"] == "テスト用：地域数の集計"
    assert "min_population" in listed[fake.NAME]["params"]["properties"]

    posted = client.post("/jobs", json={"analysis": fake.NAME, "params": {"min_population": 10}})
    assert posted.status_code == 202
    job_id = posted.json()["job_id"]
    assert posted.json()["status_url"] == f"/jobs/{job_id}" == posted.headers["location"]
    done = _wait(client, job_id)
    assert done["status"] == "done" and done["status_label"] == "完了" and done["created_by"] == "test-planner"  # the logged-in user, not a header
    assert done["summary"] == {"areas": 2, "population": 1230} and done["notes"] == ["テスト用の解析です"]

    csv = client.get(done["links"]["areas"])
    assert csv.status_code == 200 and csv.headers["content-type"].startswith("text/csv")
    assert csv.content.startswith(b"\xef\xbb\xbf")  # BOM: Excel reads the Japanese right
    frame = pd.read_csv(io.BytesIO(csv.content), encoding="utf-8-sig", dtype=str)
    assert list(frame.columns) == ["地域コード", "地域名", "人口"]
    assert frame["地域名"].tolist() == ["落合町阿部", "成羽町下原"]

    xlsx = client.get(f"/jobs/{job_id}/tables/all.xlsx")
    assert xlsx.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["areas", "levels", "注記"]
    assert [c.value for c in book["areas"][1]] == ["地域コード", "地域名", "人口"]
    assert [c.value for c in book["areas"][2]] == ["a1", "落合町阿部", 1200]
    one = openpyxl.load_workbook(io.BytesIO(client.get(f"/jobs/{job_id}/tables/levels.xlsx").content))
    assert one.sheetnames[0] == "levels"

    page = client.get(f"/maps/jobs/{job_id}")
    assert page.status_code == 200 and "高梁市 地域数の地図" in page.text
    listed = {j["job_id"]: j for j in client.get("/jobs").json()}
    assert listed[job_id]["city_code"] == "33209" and listed[job_id]["city_name"] == "高梁市"
    assert client.get(f"/jobs/{job_id}/tables/nope.csv").status_code == 404
    assert client.get(f"/jobs/{job_id}/tables/areas.pdf").status_code == 404


def test_api_bad_analysis_and_bad_params_are_422(client):
    r = client.post("/jobs", json={"analysis": "salon-gap", "params": {}})
    assert r.status_code == 422 and fake.NAME in r.json()["message"]
    r = client.post("/jobs", json={"analysis": fake.NAME, "params": {"min_population": "many"}})
    assert r.status_code == 422
    assert r.json()["detail"]["feature"] == "min_population" and "min_population" in r.json()["message"]
    assert client.get("/jobs").json() == []


def test_api_job_not_done_is_409_and_unknown_is_404(client):
    job_id = client.post("/jobs", json={"analysis": fake.NAME, "params": {"wait": True}}).json()["job_id"]
    for url in (f"/jobs/{job_id}/tables/areas.csv", f"/jobs/{job_id}/tables/all.xlsx", f"/maps/jobs/{job_id}"):
        r = client.get(url)
        assert r.status_code == 409 and r.json()["status"] in ("queued", "running"), url
    status = client.get(f"/jobs/{job_id}").json()
    assert status["status"] in ("queued", "running") and 0 <= status["progress"] < 1
    fake.GATE.set()
    assert _wait(client, job_id)["status"] == "done"
    assert client.get(f"/jobs/{job_id}/tables/areas.csv").status_code == 200

    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        assert client.get(f"/jobs/{unknown}").status_code == 404
        assert client.get(f"/jobs/{unknown}/tables/areas.csv").status_code == 404
        assert client.get(f"/maps/jobs/{unknown}").status_code == 404


def test_api_failing_analysis_ends_failed_not_500(client):
    job_id = client.post("/jobs", json={"analysis": fake.NAME, "params": {"fail": True}}).json()["job_id"]
    body = _wait(client, job_id)
    assert body["status"] == "failed" and "サロンの位置データがありません" in body["error"]
    r = client.get(f"/jobs/{job_id}/tables/areas.csv")
    assert r.status_code == 409 and r.json()["status"] == "failed"


def test_api_reruns_are_new_versions(client):
    ids = [client.post("/jobs", json={"analysis": fake.NAME, "params": {}}).json()["job_id"] for _ in range(2)]
    first, second = (_wait(client, i) for i in ids)
    assert first["job_id"] != second["job_id"] and first["status"] == second["status"] == "done"
    assert first["data_version"] == second["data_version"]
    assert client.get(f"/jobs/{ids[0]}/tables/areas.csv").content == client.get(
        f"/jobs/{ids[1]}/tables/areas.csv").content


# ---------------------------------------------------------------------------- CLI


def test_cli_analyse_writes_tables_map_and_summary(tmp_path):
    from api.cli import main

    ws = tmp_path / "ws.gpkg"
    _fill(GeoPackageStore(ws))
    runner = CliRunner()
    listed = runner.invoke(main, ["analyse", "--help"])
    assert fake.NAME in listed.output and "テスト用：地域数の集計" in listed.output
    out = tmp_path / "out"
    result = runner.invoke(main, ["analyse", fake.NAME, "--workspace", str(ws), "--out", str(out),
                                  "--param", "min_population=10"])
    assert result.exit_code == 0, result.output
    assert "テスト用の解析です" in result.output and "テスト用：地域数の集計が完了しました。" in result.output
    assert "areas: 2" not in result.output  # raw summary keys are for --json, not for the planner
    assert (out / "areas.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    assert openpyxl.load_workbook(out / f"{fake.NAME}.xlsx").sheetnames == ["areas", "levels", "注記"]
    assert "地域数の地図" in (out / "map.html").read_text(encoding="utf-8")
    assert GeoPackageStore(ws).list_jobs()[0]["status"] == "done"

    default = runner.invoke(main, ["analyse", fake.NAME, "--workspace", str(ws)])
    assert default.exit_code == 0, default.output
    job_id = GeoPackageStore(ws).list_jobs()[0]["job_id"]
    assert (tmp_path / "jobs" / f"{fake.NAME}-{job_id[:8]}" / "areas.csv").exists()

    raw = runner.invoke(main, ["analyse", fake.NAME, "--workspace", str(ws), "--json"])
    assert raw.exit_code == 0, raw.output
    printed = json.loads(raw.output[raw.output.index("{"):])
    assert printed["summary"] == GeoPackageStore(ws).get_job(printed["job_id"])["summary"] and printed["summary"]["areas"]

    failed = runner.invoke(main, ["analyse", fake.NAME, "--workspace", str(ws), "--param", "fail=true"])
    assert failed.exit_code == 2 and "サロンの位置データがありません" in failed.output
    bad = runner.invoke(main, ["analyse", fake.NAME, "--workspace", str(ws), "--param", "min_population=-1"])
    assert bad.exit_code == 2 and "min_population" in bad.output and "Traceback" not in bad.output


def test_api_job_records_the_data_version_and_an_edit_changes_it(client):
    from api.layer_cache import exact_version

    store = client.app.state.store
    first = client.post("/jobs", json={"analysis": fake.NAME, "params": {}}).json()
    assert first["data_version"] == data_version(store) == exact_version(store)
    salon = coerce_resources(gpd.GeoDataFrame({"resource_id": ["s9"], "kind": ["salon"], "name": ["新サロン"]},
                                              geometry=[Point(133.61, 34.79)], crs="EPSG:4326"))
    with store.transaction() as tx:
        tx.add_resources(salon)
    second = client.post("/jobs", json={"analysis": fake.NAME, "params": {}}).json()
    assert second["data_version"] != first["data_version"] and second["data_version"] == data_version(store)
    for job in (first, second):
        _wait(client, job["job_id"])


def test_load_analyses_reads_the_settings_once_per_value_of_the_modules_variable(monkeypatch):
    import api.settings
    from api import analysis_registry

    built = []
    real = api.settings.Settings

    class Counted(real):
        def __init__(self, *args, **kwargs):
            built.append(1)
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(api.settings, "Settings", Counted)
    monkeypatch.setenv("TSUNAGU_ANALYSIS_MODULES", f"_fake_analysis,tests_unknown_{uuid.uuid4().hex}")
    for _ in range(5):  # GET /jobs asks on every request
        assert fake.NAME in analysis_registry.load_analyses()
    assert len(built) == 1
    monkeypatch.setenv("TSUNAGU_ANALYSIS_MODULES", "_fake_analysis")  # another value: read again
    assert fake.NAME in analysis_registry.load_analyses()
    assert len(built) == 2


def test_geopackage_job_reads_do_not_wait_behind_a_write_waiting_for_another_process(tmp_path):
    import sqlite3
    import threading

    from api.store.geopackage import jobs_path

    store = GeoPackageStore(tmp_path / "ws.gpkg", lock_timeout=10)
    first = store.create_job(analysis="salon-gaps", params={}, created_by="u", data_version="v")
    other = sqlite3.connect(jobs_path(store.path), isolation_level=None)  # a job process saving a result
    other.execute("BEGIN IMMEDIATE")
    try:
        writing = threading.Thread(target=store.create_job,
                                   kwargs={"analysis": "salon-gaps", "params": {}, "created_by": "u", "data_version": "v"})
        writing.start()  # this process's write now waits for the other one (holding the store's write lock)
        time.sleep(0.3)
        t0 = time.monotonic()
        assert [r["job_id"] for r in store.list_jobs()] == [first["job_id"]]
        assert store.get_job(first["job_id"])["status"] == "queued"
        assert time.monotonic() - t0 < 1.0 and writing.is_alive()
    finally:
        other.execute("COMMIT")
        other.close()
    writing.join(10)
    assert len(store.list_jobs()) == 2
    store.close()


def test_the_catalogue_names_the_module_and_label_each_analysis_registers():
    from api.analysis_registry import CATALOGUE, load_analyses

    registry = load_analyses()
    for analysis in CATALOGUE:
        spec = registry[analysis.name]
        assert (spec.run.__module__, spec.label) == (analysis.module, analysis.label), analysis.name


def test_an_analysis_outside_the_catalogue_must_give_its_label():
    from api.analyses.base import register

    with pytest.raises(TypeError, match="CATALOGUE"):
        register("tests-not-catalogued", params=fake.CountParams)
