"""The store contract: the GeoPackage and the PostGIS store behave the same, exactly."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path
from types import SimpleNamespace

import geopandas as gpd
import pandas as pd
import pytest
import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, box

from api.store.base import JobLeaseLost, StoreError, WorkspaceNotInitialised
from api.store.geopackage import GeoPackageStore
from gis.errors import InputDataError
from gis.schema import coerce_areas, coerce_resources, coerce_stations
from gis.tiers import load_profile

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


# ---------------------------------------------------------------------------- data

X0, Y0 = 133.6123456789012, 34.78901234567891  # 高梁市 with full double precision


def _areas() -> gpd.GeoDataFrame:
    hole = Polygon(box(X0, Y0, X0 + 0.02, Y0 + 0.02).exterior.coords,
                   [box(X0 + 0.005, Y0 + 0.005, X0 + 0.0071234567, Y0 + 0.0071234567).exterior.coords[::-1]])
    two_parts = MultiPolygon([box(X0 + 0.02, Y0, X0 + 0.03, Y0 + 0.01), box(X0 + 0.031, Y0, X0 + 0.04, Y0 + 0.01)])
    return gpd.GeoDataFrame(
        {
            "area_id": ["332090010", "332090020", "332090030", "K01", "K02", "33209"],
            "level": ["neighbourhood"] * 3 + ["kominkan"] * 2 + ["city"],
            "name": ["落合町阿部", "成羽町下原", "髙梁・松山（ｶﾀｶﾅ）", "高梁公民館区", "成羽公民館区", "高梁市"],
            "parent_id": ["K01", "K02", None, "33209", "33209", None],
            "population": [1200, pd.NA, 0, 1200, 0, 34963],
            "households": [500, 12, pd.NA, 500, 12, 14000],
            "pop_65plus": [pd.NA] * 6,
            "source": ["出典：政府統計の総合窓口(e-Stat)", "", None, "", "", "国土数値情報"],
        },
        geometry=[hole, two_parts, box(X0, Y0 + 0.02, X0 + 0.01, Y0 + 0.03),
                  box(X0, Y0, X0 + 0.02, Y0 + 0.03), two_parts, box(X0, Y0, X0 + 0.04, Y0 + 0.03)],
        crs="EPSG:4326",
    )


def _stations() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "station_id": ["S1", "S2"],
            "name": ["高梁市社会福祉協議会 本所", "成羽ステーション"],
            "kind": ["shakyo_station", "comprehensive_support_center"],
            "address": ["〒716-0029 岡山県高梁市向町21-3", ""],
            "area_ids": [["332090010", "332090030"], []],
            "is_sample": [False, True],
        },
        geometry=[Point(X0 + 0.001, Y0 + 0.001), Point(X0 + 0.025, Y0 + 0.005)],
        crs="EPSG:4326",
    )


def _resources(ids=("R1", "R2", "R3"), kinds=("salon", "supermarket", "bus_stop")) -> gpd.GeoDataFrame:
    attributes = [
        {"meeting_days": ["月", "木"], "capacity": 20, "organiser": "愛育委員会", "nested": {"a": [1, 2.5, None]}},
        {"opening_hours": "9:00–21:00", "sells_fresh_food": True},
        {},
    ]
    n = len(ids)
    return gpd.GeoDataFrame(
        {
            "resource_id": list(ids),
            "kind": list(kinds),
            "name": ["いきいきサロン松山", "天満屋ハピーズ 高梁店", "高梁駅前 🚌"][:n],
            "address": ["高梁市松山1", "高梁市正宗町", ""][:n],
            "attributes": attributes[:n],
            "source": ["社協名簿", "食品衛生申請等システム", "OSM"][:n],
            "is_sample": [True, False, False][:n],
        },
        geometry=[Point(X0 + 0.0011 * i, Y0 + 0.0007 * i) for i in range(n)],
        crs="EPSG:4326",
    )


def _fill(store) -> None:
    with store.transaction() as w:
        w.set_workspace(city_code="33209", city_name="高梁市", profile=load_profile("default"))
        w.replace_areas(_areas())
        w.replace_stations(_stations())
        w.add_resources(_resources())
        w.set_nesting_report({"strict": False, "straddling": [{"area_id": "332090030", "parents": ["K01", "K02"]}],
                              "uncovered_km2": 18.2, "メモ": "小学校区が公民館区の代わり"})
        w.log_import({"what": "areas", "files": ["h22_small_areas_west_okayama.topo.json"], "count": 6,
                      "who": "社協 太郎"})


def _assert_frames_equal(got: gpd.GeoDataFrame, want: gpd.GeoDataFrame) -> None:
    """Same columns, dtypes, CRS, index, values and geometries (bit for bit)."""
    assert list(got.columns) == list(want.columns)
    assert got.dtypes.to_dict() == want.dtypes.to_dict()
    assert got.crs == want.crs
    assert got.geometry.name == want.geometry.name == "geometry"
    pd.testing.assert_index_equal(got.index, want.index)
    assert list(got.geometry.to_wkb()) == list(want.geometry.to_wkb())
    for col in got.columns.drop("geometry"):
        if got[col].dtype == object:
            assert got[col].tolist() == want[col].tolist(), col
        else:
            pd.testing.assert_series_equal(got[col], want[col])


def _snapshot(store) -> dict:
    try:
        workspace = store.workspace()
    except WorkspaceNotInitialised:
        workspace = None
    return {"workspace": workspace, "areas": store.areas(), "stations": store.stations(),
            "resources": store.resources(), "nesting_report": store.nesting_report(),
            "import_log": store.import_log()}


def _assert_snapshots_equal(got: dict, want: dict) -> None:
    for key in ("areas", "stations", "resources"):
        _assert_frames_equal(got[key], want[key])
    for key in ("workspace", "nesting_report", "import_log"):
        assert got[key] == want[key], key


# ---------------------------------------------------------------------------- contract


def test_empty_workspace_has_typed_empty_frames(store):
    with pytest.raises(WorkspaceNotInitialised):
        store.workspace()
    empty = _areas().iloc[:0]
    _assert_frames_equal(store.areas(), coerce_areas(empty))
    _assert_frames_equal(store.stations(), coerce_stations(_stations().iloc[:0]))
    _assert_frames_equal(store.resources(), coerce_resources(_resources().iloc[:0]))
    assert store.nesting_report() is None
    assert store.import_log() == []


def test_roundtrip_is_exact(store):
    _fill(store)
    ws = store.workspace()
    assert ws == {"city_code": "33209", "city_name": "高梁市", "profile": load_profile("default")}
    _assert_frames_equal(store.areas(), coerce_areas(_areas()))
    _assert_frames_equal(store.stations(), coerce_stations(_stations()))
    _assert_frames_equal(store.resources(), coerce_resources(_resources()))
    assert store.nesting_report()["straddling"] == [{"area_id": "332090030", "parents": ["K01", "K02"]}]
    assert store.nesting_report()["メモ"] == "小学校区が公民館区の代わり"
    assert store.import_log() == [{"what": "areas", "files": ["h22_small_areas_west_okayama.topo.json"],
                                   "count": 6, "who": "社協 太郎"}]
    # Nullable populations stay unknown, never 0; zeros stay zeros.
    areas = store.areas()
    assert areas["population"].isna().tolist() == [False, True, False, False, False, False]
    assert areas["population"].iloc[2] == 0


def test_filters_by_level_and_kind(store):
    _fill(store)
    want = coerce_areas(_areas())
    _assert_frames_equal(store.areas(level="kominkan"),
                         want[want["level"] == "kominkan"].reset_index(drop=True))
    assert store.areas(level="no_such_level").empty
    got = store.resources(kinds=["bus_stop", "salon"])
    assert got["resource_id"].tolist() == ["R1", "R3"]
    assert store.resources(kinds=[]).empty


def test_every_kind_of_the_vocabulary_is_stored_and_changed(store):
    """New kinds (認知症カフェ, 居場所, 子育てサロン, 福祉避難所, 通いの場 …) need no store change."""
    from gis.schema import RESOURCE_KINDS

    keys = list(RESOURCE_KINDS)
    _fill(store)
    with store.transaction() as tx:
        tx.add_resources(coerce_resources(gpd.GeoDataFrame(
            {"resource_id": [f"K{i}" for i in range(len(keys))], "kind": keys,
             "name": [RESOURCE_KINDS[k] for k in keys]},
            geometry=[Point(X0 + 0.0005 * i, Y0) for i in range(len(keys))], crs="EPSG:4326")))
    got = store.resources(kinds=["dementia_cafe", "welfare_shelter"])
    assert sorted(got["kind"]) == ["dementia_cafe", "welfare_shelter"]
    with store.transaction() as tx:
        tx.update_resource("R1", {"kind": "kayoi_no_ba"})
    assert sorted(store.resources(kinds=["kayoi_no_ba"])["resource_id"]) == sorted(["R1", f"K{keys.index('kayoi_no_ba')}"])


def test_reopened_store_sees_committed_data(make_store):
    first = make_store()
    _fill(first)
    snapshot = _snapshot(first)
    first.close()
    again = make_store()
    _assert_snapshots_equal(_snapshot(again), snapshot)
    assert again.workspace()["profile"].keys == load_profile("default").keys


def test_japanese_text_survives(store):
    text = "𠮷野家・髙島屋・ｶﾀｶﾅ・①②・〒716-0029・—「」〜・🍙"
    profile = load_profile("default").with_note("kominkan", "小学校区で代用（" + text + "）")
    resources = _resources(ids=("日本語ID-１",), kinds=("kodomo_shokudo",))
    resources["name"] = [text]
    resources["attributes"] = [{text: text, "曜日": ["土", "日"]}]
    with store.transaction() as w:
        w.set_workspace(city_code="33209", city_name="高梁市", profile=profile)
        w.add_resources(resources)
        w.log_import({"ファイル": text})
    got = store.resources()
    assert got["resource_id"].tolist() == ["日本語ID-１"]
    assert got["name"].tolist() == [text]
    assert got["attributes"].tolist() == [{text: text, "曜日": ["土", "日"]}]
    assert store.workspace()["profile"] == profile
    assert store.import_log() == [{"ファイル": text}]


def test_replace_areas_replaces_only_given_levels(store):
    _fill(store)
    new = gpd.GeoDataFrame(
        {"area_id": ["N1"], "level": ["neighbourhood"], "name": ["新しい町丁"], "population": [7]},
        geometry=[box(X0, Y0, X0 + 0.001, Y0 + 0.001)], crs="EPSG:4326",
    )
    with store.transaction() as w:
        w.replace_areas(new)
    before = coerce_areas(_areas())
    kept = before[before["level"] != "neighbourhood"]
    _assert_frames_equal(store.areas(level="kominkan"), kept[kept["level"] == "kominkan"].reset_index(drop=True))
    _assert_frames_equal(store.areas(level="city"), kept[kept["level"] == "city"].reset_index(drop=True))
    _assert_frames_equal(store.areas(level="neighbourhood"), coerce_areas(new))
    assert len(store.areas()) == len(kept) + 1


def test_add_resources_with_existing_id_raises_and_writes_nothing(store):
    _fill(store)
    before = _snapshot(store)
    clash = _resources(ids=("R9", "R2"), kinds=("salon", "salon"))
    with pytest.raises(InputDataError, match="R2"):
        with store.transaction() as w:
            w.add_resources(clash)
    _assert_snapshots_equal(_snapshot(store), before)
    # Caught inside the transaction: the failed call still adds nothing, later calls commit.
    with store.transaction() as w:
        with pytest.raises(InputDataError):
            w.add_resources(clash)
        w.log_import({"what": "retry"})
    assert store.resources()["resource_id"].tolist() == ["R1", "R2", "R3"]
    assert store.import_log()[-1] == {"what": "retry"}


def test_replace_resources_by_kind(store):
    _fill(store)
    salons = _resources(ids=("S-new",), kinds=("salon",))
    with store.transaction() as w:
        w.replace_resources(salons, kinds=["salon"])
    assert store.resources()["resource_id"].tolist() == ["R2", "R3", "S-new"]
    # A new salon may not take the id of a kept supermarket, and kinds must cover the frame.
    before = _snapshot(store)
    for bad, kinds in ((_resources(ids=("R2",), kinds=("salon",)), ["salon"]),
                       (_resources(ids=("X1",), kinds=("clinic",)), ["salon"])):
        with pytest.raises(InputDataError):
            with store.transaction() as w:
                w.replace_resources(bad, kinds=kinds)
        _assert_snapshots_equal(_snapshot(store), before)
    with store.transaction() as w:
        w.replace_resources(_resources(ids=("only",), kinds=("school",)))
    assert store.resources()["resource_id"].tolist() == ["only"]


def test_delete_resources_counts(store):
    _fill(store)
    with store.transaction() as w:
        assert w.delete_resources(["R1", "R3", "missing"]) == 2
        assert w.delete_resources([]) == 0
    assert store.resources()["resource_id"].tolist() == ["R2"]


def test_set_workspace_and_reports_replace(store):
    _fill(store)
    with store.transaction() as w:
        w.set_workspace(city_code="33210", city_name="新見市", profile=load_profile("mine"))
        w.set_nesting_report({"strict": True})
        w.log_import({"what": "second"})
    assert store.workspace() == {"city_code": "33210", "city_name": "新見市", "profile": load_profile("mine")}
    assert store.nesting_report() == {"strict": True}
    assert [r["what"] for r in store.import_log()] == ["areas", "second"]


_WRITES = {
    "set_workspace": lambda w: w.set_workspace(city_code="33210", city_name="新見市", profile=load_profile("mine")),
    "replace_areas": lambda w: w.replace_areas(_areas().iloc[3:5]),
    "replace_stations": lambda w: w.replace_stations(_stations().iloc[:1]),
    "add_resources": lambda w: w.add_resources(_resources(ids=("R7", "R8"), kinds=("clinic", "school"))),
    "replace_resources": lambda w: w.replace_resources(_resources(ids=("R6",), kinds=("salon",)), kinds=["salon"]),
    "replace_all_resources": lambda w: w.replace_resources(_resources(ids=("R7",), kinds=("salon",))),
    "delete_resources": lambda w: w.delete_resources(["R1", "R2"]),
    "set_nesting_report": lambda w: w.set_nesting_report({"strict": True}),
    "log_import": lambda w: w.log_import({"what": "failed import"}),
}


@pytest.mark.parametrize("method", list(_WRITES))
def test_exception_in_transaction_leaves_store_unchanged(store, method):
    _fill(store)
    before = _snapshot(store)
    with pytest.raises(RuntimeError, match="boom"):
        with store.transaction() as w:
            _WRITES[method](w)
            raise RuntimeError("boom")
    _assert_snapshots_equal(_snapshot(store), before)
    # The same write without the exception does change the store (the test can fail).
    with store.transaction() as w:
        _WRITES[method](w)
    after = _snapshot(store)
    with pytest.raises(AssertionError):
        _assert_snapshots_equal(after, before)


def test_exception_in_first_transaction_leaves_workspace_empty(make_store):
    store = make_store()
    with pytest.raises(RuntimeError):
        with store.transaction() as w:
            for write in _WRITES.values():
                write(w)
            raise RuntimeError("boom")
    with pytest.raises(WorkspaceNotInitialised):
        store.workspace()
    assert store.areas().empty and store.stations().empty and store.resources().empty
    assert store.nesting_report() is None and store.import_log() == []


def test_bad_input_later_in_transaction_writes_nothing(store):
    _fill(store)
    before = _snapshot(store)
    bad_station = _stations().assign(kind=["shakyo_station", "no_such_kind"])
    with pytest.raises(InputDataError, match="no_such_kind"):
        with store.transaction() as w:
            w.replace_areas(_areas().iloc[:1])
            w.delete_resources(["R1"])
            w.replace_stations(bad_station)
    _assert_snapshots_equal(_snapshot(store), before)
    for bad in (_areas().assign(geometry=[Point(X0, Y0)] * 6),
                pd.concat([_areas().iloc[:1], _areas().iloc[:1]])):
        with pytest.raises(InputDataError):
            with store.transaction() as w:
                w.replace_areas(bad)
        _assert_snapshots_equal(_snapshot(store), before)


def test_stations_must_be_points(store):
    polygon_station = _stations().set_geometry([box(X0, Y0, X0 + 0.001, Y0 + 0.001), Point(X0, Y0)])
    with pytest.raises(InputDataError, match="S1"):
        with store.transaction() as w:
            w.replace_stations(polygon_station)
    assert store.stations().empty


# ---------------------------------------------------------------------------- per store


@pytest.mark.postgis
def test_postgis_workspaces_do_not_see_each_other(pg_store_factory):
    takahashi, niimi = pg_store_factory(), pg_store_factory()
    _fill(takahashi)
    with pytest.raises(WorkspaceNotInitialised):
        niimi.workspace()
    assert niimi.areas().empty and niimi.resources().empty and niimi.import_log() == []
    # The same ids in another workspace are fine and independent.
    other = _resources(ids=("R1",), kinds=("clinic",))
    with niimi.transaction() as w:
        w.set_workspace(city_code="33210", city_name="新見市", profile=load_profile("mine"))
        w.replace_areas(_areas().iloc[5:])
        w.add_resources(other)
        w.delete_resources(["R2"])
    _assert_frames_equal(takahashi.areas(), coerce_areas(_areas()))
    _assert_frames_equal(takahashi.resources(), coerce_resources(_resources()))
    _assert_frames_equal(niimi.resources(), coerce_resources(other))
    assert takahashi.workspace()["city_name"] == "高梁市"
    assert niimi.workspace()["city_name"] == "新見市"
    assert len(niimi.areas()) == 1


@pytest.mark.postgis
def test_postgis_location_hides_password(postgis_url):
    from api.store.postgis import PostGISStore, normalise_url

    base = normalise_url(postgis_url)
    secret = base.password or "s3cret-pass"  # trust authentication ignores an added password
    url = base.set(password=secret)
    plain = url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://", 1)
    with PostGISStore(plain, workspace="unused", create=False) as store:
        assert secret not in store.location and "***" in store.location
        assert store.location.startswith("postgresql+psycopg://")
    with pytest.raises(StoreError, match="に接続できません") as err:
        PostGISStore(url.set(port=1).render_as_string(hide_password=False), workspace="x")
    assert secret not in str(err.value)


def test_normalise_url_uses_psycopg3():
    from api.store.postgis import normalise_url

    for given in ("postgresql://u:pw@h:5432/db", "postgres://u:pw@h:5432/db", "postgresql+psycopg://u:pw@h:5432/db"):
        url = normalise_url(given)
        assert url.drivername == "postgresql+psycopg"
        assert (url.username, url.password, url.host, url.port, url.database) == ("u", "pw", "h", 5432, "db")
    with pytest.raises(StoreError, match="mysql"):
        normalise_url("mysql://u@h/db")


def test_geopackage_missing_file_without_create(tmp_path):
    with pytest.raises(StoreError, match="ワークスペースのファイル .* がありません"):
        GeoPackageStore(tmp_path / "missing.gpkg", create=False)
    with pytest.raises(StoreError, match="フォルダ .* がありません"):
        GeoPackageStore(tmp_path / "no" / "folder.gpkg")


def test_geopackage_is_a_plain_geopackage(tmp_store):
    _fill(tmp_store)
    path = Path(tmp_store.location)
    layers = dict(gpd.list_layers(path)[["name", "geometry_type"]].itertuples(index=False))
    assert layers["areas"] == "MultiPolygon" and layers["resources"] == "Point"
    raw = gpd.read_file(path, layer="areas")
    assert raw.crs.to_epsg() == 4326 and len(raw) == 6
    # Commits leave no temporary files behind, even failed ones.
    with pytest.raises(RuntimeError):
        with tmp_store.transaction() as w:
            w.log_import({"x": 1})
            raise RuntimeError("boom")
    assert sorted(p.name for p in path.parent.iterdir()) == ["workspace.gpkg", "workspace.gpkg.lock"]


def test_geopackage_second_writer_waits_for_the_first(tmp_store):
    other = GeoPackageStore(tmp_store.location, lock_timeout=0.2)
    with tmp_store.transaction() as w:
        w.log_import({"n": 1})
        with pytest.raises(StoreError, match="ほかの書き込み"):
            with other.transaction():
                pass
    with other.transaction() as w:
        w.log_import({"n": 2})
    assert tmp_store.import_log() == [{"n": 1}, {"n": 2}]


def test_geopackage_file_that_is_not_a_workspace(tmp_path):
    path = tmp_path / "notes.gpkg"
    path.write_text("これは GeoPackage ではありません", encoding="utf-8")
    with pytest.raises(StoreError, match="開けません"):
        GeoPackageStore(path)


# ---------------------------------------------------------------------------- the job queue


def _queued(store, n: int = 1, analysis: str = "a") -> list[str]:
    return [store.create_job(analysis=analysis, params={"i": i}, created_by="u", data_version="v")["job_id"]
            for i in range(n)]


def test_queue_claims_oldest_first_and_only_named_analyses(store):
    first, second = _queued(store, 2)
    (other,) = _queued(store, 1, analysis="b")
    claimed = store.claim_job(worker_id="w1", lease_s=30, analyses=["a"])
    assert claimed["job_id"] == first and claimed["status"] == "running" and claimed["attempts"] == 1
    assert claimed["worker_id"] == "w1" and claimed["lease_until"] > claimed["heartbeat_at"]
    assert claimed["started_at"] is not None and claimed["message"] == "開始"
    assert store.claim_job(worker_id="w2", lease_s=30, analyses=["a"])["job_id"] == second
    assert store.claim_job(worker_id="w3", lease_s=30, analyses=["a"]) is None  # b is not w3's
    assert store.claim_job(worker_id="w3", lease_s=30, analyses=[]) is None
    assert store.claim_job(worker_id="w3", lease_s=30, job_id=other)["job_id"] == other
    assert store.claim_job(worker_id="w4", lease_s=30, job_id=other) is None  # taken already
    with pytest.raises(StoreError, match="貸出時間"):
        store.claim_job(worker_id="w4", lease_s=0)


def test_queue_only_the_holder_writes(store):
    (job_id,) = _queued(store)
    store.claim_job(worker_id="w1", lease_s=30)
    before = store.get_job(job_id)
    assert store.heartbeat_job(job_id, worker_id="w1", attempt=1, lease_s=60, progress=0.5, message="半分") is False
    after = store.get_job(job_id)
    assert (after["progress"], after["message"]) == (0.5, "半分") and after["lease_until"] > before["lease_until"]
    result = SimpleNamespace(tables={"t": pd.DataFrame({"x": [1]})}, map_html=None, summary={}, notes=[])
    for wrong in ({"worker_id": "w2", "attempt": 1}, {"worker_id": "w1", "attempt": 2}):
        with pytest.raises(JobLeaseLost):
            store.heartbeat_job(job_id, lease_s=30, **wrong)
        with pytest.raises(JobLeaseLost):
            store.finish_job(job_id, result, **wrong)
        with pytest.raises(JobLeaseLost):
            store.fail_job(job_id, "x", **wrong)
    assert store.get_job(job_id)["status"] == "running" and store.job_table(job_id, "t") is None
    done = store.finish_job(job_id, result, worker_id="w1", attempt=1)
    assert done["status"] == "done" and done["lease_until"] is None and store.job_table(job_id, "t")["x"].tolist() == [1]
    with pytest.raises(JobLeaseLost):
        store.heartbeat_job(job_id, worker_id="w1", attempt=1, lease_s=30)


def test_queue_expired_leases_requeue_then_fail(store):
    (job_id,) = _queued(store)
    store.claim_job(worker_id="dead-1", lease_s=5)
    assert store.reap_expired_jobs(max_attempts=2) == []  # a live lease is left alone
    store.heartbeat_job(job_id, worker_id="dead-1", attempt=1, lease_s=0.05)  # then the worker goes silent
    time.sleep(0.1)
    (requeued,) = store.reap_expired_jobs(max_attempts=2)
    assert requeued["status"] == "queued" and requeued["attempts"] == 1 and requeued["worker_id"] is None
    assert "再実行待ち" in requeued["message"]
    with pytest.raises(JobLeaseLost):  # the dead worker, should it wake up, cannot write any more
        store.finish_job(job_id, SimpleNamespace(tables={"t": pd.DataFrame({"x": [1]})}), worker_id="dead-1",
                         attempt=1)
    assert store.claim_job(worker_id="dead-2", lease_s=0.05)["attempts"] == 2
    time.sleep(0.1)
    (failed,) = store.reap_expired_jobs(max_attempts=2)
    assert failed["status"] == "failed" and failed["attempts"] == 2 and failed["finished_at"]
    assert "ワーカーが応答しなくなった" in failed["error"] and "dead-2" in failed["error"]
    assert failed["tables"] == [] and store.job_table(job_id, "t") is None
    assert store.reap_expired_jobs(max_attempts=2) == []


def test_queue_cancel_and_release(store):
    queued, running, released = _queued(store, 3)
    assert store.cancel_job(queued)["status"] == "cancelled"
    store.claim_job(worker_id="w", lease_s=30)
    assert store.get_job(running)["status"] == "running"
    asked = store.cancel_job(running)
    assert asked["status"] == "running" and asked["cancel_requested"] is True
    assert store.heartbeat_job(running, worker_id="w", attempt=1, lease_s=30) is True
    assert store.cancel_job(running, worker_id="w", attempt=1)["status"] == "cancelled"

    assert store.claim_job(worker_id="w", lease_s=30)["job_id"] == released
    back = store.release_job(released, worker_id="w", attempt=1)
    assert back["status"] == "queued" and back["attempts"] == 0 and back["worker_id"] is None
    assert store.claim_job(worker_id="w2", lease_s=30)["attempts"] == 1


def test_queue_concurrent_claims_are_exclusive(make_store):
    ids = set(_queued(make_store(), 30))
    stores = [make_store() for _ in range(4)]
    got: list[list[str]] = [[] for _ in stores]

    def claim_all(i: int) -> None:
        while (record := stores[i].claim_job(worker_id=f"w{i}", lease_s=30)) is not None:
            got[i].append(record["job_id"])

    threads = [threading.Thread(target=claim_all, args=(i,)) for i in range(len(stores))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [job_id for mine in got for job_id in mine]
    assert sorted(claimed) == sorted(ids)  # every job once, none twice


def _data_dir() -> Path | None:
    root = Path(os.environ.get("TSUNAGU_DATA_DIR") or Path(__file__).resolve().parents[2] / "shared" / "data")
    path = root / "okayama" / "ksj_a27_elementary_districts.topo.json"
    return path if path.exists() else None


@pytest.mark.realdata
def test_real_school_districts_roundtrip(store):
    path = _data_dir()
    if path is None:
        pytest.skip("real data not found: set TSUNAGU_DATA_DIR to the shared data folder")
    raw = gpd.read_file(path).set_crs("EPSG:4326", allow_override=True)
    raw = raw[raw["A27_005"].astype(str) == "33209"]
    areas = gpd.GeoDataFrame({"area_id": [f"E{i:02d}" for i in range(len(raw))], "level": "kominkan",
                              "name": raw["A27_007"].astype(str).to_numpy(), "source": "国土数値情報 A27"},
                             geometry=shapely.make_valid(raw.geometry.to_numpy()), crs="EPSG:4326")
    areas = areas[areas.geom_type.isin(["Polygon", "MultiPolygon"])]
    assert len(areas) >= 10
    with store.transaction() as w:
        w.replace_areas(areas)
    _assert_frames_equal(store.areas(), coerce_areas(areas))
