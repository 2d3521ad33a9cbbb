"""The private client store: apart from the public workspace, per-station access, access log, deletion."""

from __future__ import annotations

import stat
import uuid

import pandas as pd
import pytest

from api.private import (
    ERROR_REDACTED,
    HOUSEHOLD_COLUMNS,
    PRIVATE_SCHEMA,
    ClientStore,
    HouseholdExists,
    PrivateAccessError,
    Viewer,
    client_store_for,
    normalise_households,
    private_path,
    read_households,
)
from gis.errors import InputDataError

CSW_A = Viewer("csw-a", "csw", "st-A")
CSW_B = Viewer("csw-b", "csw", "st-B")
ADMIN = Viewer("admin-1", "admin")
PLANNER = Viewer("planner-1", "planner")


def households(prefix: str, names: list[str]) -> pd.DataFrame:
    return pd.DataFrame([{
        "id": f"{prefix}-{k:03d}", "氏名": name, "住所": f"架空市{name}町{k}", "緯度": 34.79 + k / 1000,
        "経度": 133.61 + k / 1000, "訪問時間(分)": 30 + 15 * (k % 2), "希望時間帯": "10:00-11:00" if k % 2 else "",
        "優先度": 1 + k % 3, "メモ": "見守り",
    } for k, name in enumerate(names, start=1)])


def fill(store: ClientStore) -> None:
    store.import_households(CSW_A, households("A", ["甲野 一", "乙野 二"]), station_id="st-A")
    store.import_households(CSW_B, households("B", ["丙野 三"]), station_id="st-B")


@pytest.fixture
def gpkg_store(tmp_path):
    with ClientStore(tmp_path / "workspace.gpkg") as store:
        yield store


@pytest.fixture
def pg_store(postgis_url):
    name = f"test_private_{uuid.uuid4().hex[:10]}"
    store = ClientStore(postgis_url, workspace=name)
    yield store
    import sqlalchemy as sa

    with store._engine.begin() as conn:
        for table in ("client_households", "access_log", "outreach_plans"):
            conn.execute(sa.text(f"DELETE FROM {PRIVATE_SCHEMA}.{table} WHERE workspace = :w"), {"w": name})
    store.close()


@pytest.fixture(params=["gpkg", "postgis"])
def any_store(request):
    return request.getfixturevalue("gpkg_store" if request.param == "gpkg" else "pg_store")


def test_private_file_sits_beside_the_workspace_owner_only(tmp_path, gpkg_store):
    assert gpkg_store.path == tmp_path / "workspace.private.sqlite" == private_path(tmp_path / "workspace.gpkg")
    assert stat.S_IMODE(gpkg_store.path.stat().st_mode) == 0o600
    fill(gpkg_store)
    assert stat.S_IMODE(gpkg_store.path.stat().st_mode) == 0o600
    assert not (tmp_path / "workspace.gpkg").exists()  # the public workspace is not touched


def test_a_wider_private_file_is_tightened(tmp_path):
    path = tmp_path / "w.private.sqlite"
    ClientStore(tmp_path / "w.gpkg").close()
    path.chmod(0o644)
    ClientStore(tmp_path / "w.gpkg").close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_csws_see_their_station_admins_all_others_none(any_store):
    fill(any_store)
    mine = any_store.households(CSW_A)
    assert list(mine["household_id"]) == ["A-001", "A-002"]
    assert list(mine.columns) == HOUSEHOLD_COLUMNS
    assert mine.loc[0, "name"] == "甲野 一" and mine.loc[0, "windows"] == [[36000, 39600]] and mine.loc[1, "windows"] == []
    assert list(any_store.households(CSW_B)["household_id"]) == ["B-001"]
    with pytest.raises(PrivateAccessError, match="その拠点の CSW と管理者だけ"):
        any_store.households(CSW_B, station_id="st-A")
    assert any_store.households(CSW_B, ids=["A-001", "B-001"])["household_id"].tolist() == ["B-001"]
    with pytest.raises(PrivateAccessError, match="planner"):
        any_store.households(PLANNER)
    with pytest.raises(PrivateAccessError):
        any_store.households(PLANNER, station_id="st-A")
    with pytest.raises(PrivateAccessError, match="所属拠点"):
        any_store.households(Viewer("x", "csw", None))
    assert len(any_store.households(ADMIN)) == 3
    assert any_store.households(ADMIN, station_id="st-B")["household_id"].tolist() == ["B-001"]


def test_reads_writes_and_refusals_are_audited_by_id_only(any_store):
    fill(any_store)
    any_store.households(CSW_A)
    with pytest.raises(PrivateAccessError):
        any_store.households(CSW_B, station_id="st-A")
    with pytest.raises(PrivateAccessError):
        any_store.households(PLANNER)
    log = any_store.access_log(ADMIN)
    assert [e["action"] for e in log[:3]] == ["denied:read", "denied:read", "read"]
    read = log[2]
    assert read["user"] == "csw-a" and read["role"] == "csw" and read["household_ids"] == ["A-001", "A-002"]
    assert read["at"] is not None
    assert log[1]["user"] == "csw-b" and log[1]["station_id"] == "st-A" and log[1]["household_ids"] == []
    writes = [e for e in log if e["action"] == "write"]
    assert {e["user"] for e in writes} == {"csw-a", "csw-b"}
    text = repr(log)
    for secret in ("甲野", "乙野", "丙野", "架空市"):
        assert secret not in text
    with pytest.raises(PrivateAccessError):
        any_store.access_log(CSW_A)


def test_writes_stay_in_the_viewers_station(any_store):
    fill(any_store)
    with pytest.raises(PrivateAccessError):
        any_store.import_households(CSW_A, households("X", ["丁野 四"]), station_id="st-B")
    with pytest.raises(PrivateAccessError):
        any_store.import_households(PLANNER, households("X", ["丁野 四"]), station_id="st-A")
    with pytest.raises(InputDataError, match="訪問先 B-001 の id は別の拠点"):
        any_store.import_households(CSW_A, households("B", ["丁野 四"]), station_id="st-A")
    assert any_store.households(ADMIN, station_id="st-B")["name"].tolist() == ["丙野 三"]
    # an update by id replaces the row
    changed = households("A", ["甲野 改", "乙野 二"])
    assert any_store.import_households(CSW_A, changed, station_id="st-A") == {"added": 0, "updated": 2}
    assert any_store.households(CSW_A)["name"].tolist() == ["甲野 改", "乙野 二"]


def test_delete_removes_the_household(any_store):
    fill(any_store)
    assert any_store.delete_households(CSW_B, ["A-001"]) == 0  # not theirs: nothing happens
    assert any_store.delete_households(CSW_A, ["A-001"]) == 1
    assert any_store.households(ADMIN)["household_id"].tolist() == ["A-002", "B-001"]
    with pytest.raises(PrivateAccessError):
        any_store.delete_households(PLANNER, ["A-002"])
    assert any_store.delete_households(ADMIN, ["A-002", "B-001"]) == 2
    assert any_store.households(ADMIN).empty
    assert [e["household_ids"] for e in any_store.access_log(ADMIN) if e["action"] == "delete"][:2] == [
        ["A-002", "B-001"], ["A-001"]]


def test_deleted_names_are_overwritten_in_the_sqlite_file(gpkg_store):
    fill(gpkg_store)
    assert "甲野 一".encode() in gpkg_store.path.read_bytes()
    gpkg_store.delete_households(ADMIN, ["A-001"])
    gpkg_store.close()
    assert "甲野 一".encode() not in gpkg_store.path.read_bytes()


def test_postgis_tables_live_in_their_own_schema(pg_store):
    import sqlalchemy as sa

    fill(pg_store)
    with pg_store._engine.connect() as conn:
        tables = {r[0] for r in conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = :s"), {"s": PRIVATE_SCHEMA})}
        public = {r[0] for r in conn.execute(sa.text(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"))}
    assert {"client_households", "access_log", "outreach_plans"} <= tables
    assert "client_households" not in public and "outreach_plans" not in public


def test_postgis_public_workspace_holds_no_household(pg_store_factory, postgis_url):
    """A PostGIS workspace and its private schema: the public tables never see a household."""
    import sqlalchemy as sa

    public = pg_store_factory()
    with ClientStore(postgis_url, workspace=public.workspace_name) as store:
        fill(store)
        try:
            with store._engine.connect() as conn:
                for table in ("workspaces", "areas", "stations", "resources", "import_log", "jobs", "job_tables"):
                    rows = conn.execute(sa.text(f"SELECT * FROM public.{table}")).fetchall()
                    assert "甲野" not in repr(rows), table
        finally:
            with store._engine.begin() as conn:
                for table in ("client_households", "access_log"):
                    conn.execute(sa.text(f"DELETE FROM {PRIVATE_SCHEMA}.{table} WHERE workspace = :w"),
                                 {"w": public.workspace_name})


def test_visits_file_in_shift_jis_and_excel(tmp_path):
    raw = households("H", ["戊野 五", "己野 六"])
    raw.to_csv(tmp_path / "v.csv", index=False, encoding="cp932")
    raw.to_excel(tmp_path / "v.xlsx", index=False)
    for name in ("v.csv", "v.xlsx"):
        table = read_households(tmp_path / name, station_id="st-A")
        assert table["household_id"].tolist() == ["H-001", "H-002"]
        assert table["label"].tolist() == ["H-001", "H-002"]
        assert table["priority"].tolist() == [2, 3]
        assert table["windows"].tolist() == [[[36000, 39600]], []]
        assert table["visit_min"].tolist() == [45, 30]
    with pytest.raises(InputDataError, match="緯度"):
        normalise_households(raw.drop(columns=["緯度"]), station_id="st-A")
    with pytest.raises(InputDataError, match="1件もありません"):
        normalise_households(raw.iloc[:0], station_id="st-A")


# --------------------------------------------------------------------------- adding, aggregates, plans


def test_only_new_refuses_an_existing_id(any_store):
    fill(any_store)
    with pytest.raises(HouseholdExists, match="訪問先 A-001 の id は登録済み"):
        any_store.import_households(CSW_A, households("A", ["甲野 改"]), station_id="st-A", only_new=True)
    assert any_store.households(CSW_A)["name"].tolist() == ["甲野 一", "乙野 二"]


def test_a_job_viewer_is_bound_to_its_station(any_store):
    fill(any_store)
    job = Viewer("csw-a", "job", "st-A")
    assert any_store.households(job)["household_id"].tolist() == ["A-001", "A-002"]
    with pytest.raises(PrivateAccessError):
        any_store.households(job, station_id="st-B")
    with pytest.raises(PrivateAccessError, match="所属拠点"):
        any_store.households(Viewer("x", "job", None))
    assert any_store.access_log(ADMIN)[1]["role"] == "job"


def test_counts_by_area_give_numbers_only_and_are_logged(any_store):
    import geopandas as gpd
    from shapely.geometry import box

    fill(any_store)  # A-001 (34.791, 133.611), A-002 (34.792, 133.612), B-001 (34.791, 133.611)
    areas = gpd.GeoDataFrame({"area_id": ["x", "y"]}, geometry=[box(133.6, 34.78, 133.6115, 34.80),
                                                                box(133.6115, 34.78, 133.63, 34.80)], crs="EPSG:4326")
    counts, outside = any_store.count_by_area(Viewer("viewer-1", "viewer"), areas)
    assert counts.to_dict() == {"x": 2, "y": 1} and outside == 0
    counts, outside = any_store.count_by_area(PLANNER, areas.iloc[:1])
    assert counts.to_dict() == {"x": 2} and outside == 1
    entry = any_store.access_log(ADMIN)[0]
    assert entry["action"] == "aggregate:count_by_area" and entry["user"] == "planner-1"
    assert entry["household_ids"] == ["A-001", "A-002", "B-001"]


def _plan(ids_labels, unfitted=()):
    return {"version": 1, "station_id": "st-A", "station_name": "拠点A", "notes": [],
            "csws": [{"csw_id": "csw-1", "name": "CSW 1", "mode": "car", "leave_s": 30600, "return_s": 40000,
                      "breaks": [], "travel_s": 600, "distance_m": 3000,
                      "visits": [{"order": n, "household_id": hid, "label": hid, "lon": round(133.61234 + n / 1000, 5),
                                  "lat": round(34.79123 + n / 1000, 5), "arrival_s": 31000 + n, "start_s": 31000 + n,
                                  "end_s": 33000 + n, "travel_s": 60, "wait_s": 0, "priority": 2, "windows": []}
                                 for n, hid in enumerate(ids_labels, start=1)]}],
            "unfitted": [{"household_id": u, "label": u, "reason": "時間枠に間に合わない"} for u in unfitted],
            "removed": 0}


def test_outreach_plans_by_station_and_deletion_scrubs_them(any_store):
    import json

    fill(any_store)
    any_store.save_outreach_plan(CSW_A, plan_id="p1", station_id="st-A", document=_plan(["A-001", "A-002"]),
                                 household_ids=["A-001", "A-002"])
    any_store.save_outreach_plan(Viewer("csw-a", "job", "st-A"), plan_id="p2", station_id="st-A",
                                 document=_plan(["A-002"], unfitted=["A-001"]), household_ids=["A-001", "A-002"])
    any_store.save_outreach_plan(CSW_A, plan_id="p3", station_id="st-A", document=None, household_ids=["A-001", "A-002"],
                                 error="訪問先 A-001 の希望時間帯 11:00-10:00 は終わりが始まりより前です")
    with pytest.raises(PrivateAccessError):
        any_store.save_outreach_plan(CSW_B, plan_id="p4", station_id="st-A", document=None, household_ids=[], error="x")
    assert any_store.outreach_plan(CSW_B, "p1") is None  # another station: nothing, not an error
    assert any_store.outreach_plan(ADMIN, "no-such") is None
    plan = any_store.outreach_plan(CSW_A, "p1")
    assert plan["status"] == "done" and plan["household_ids"] == ["A-001", "A-002"]
    assert any_store.access_log(ADMIN)[0]["household_ids"] == ["A-001", "A-002"]
    assert [p["plan_id"] for p in any_store.outreach_plan_index(CSW_A)] == ["p3", "p2", "p1"]
    assert any_store.outreach_plan_index(CSW_B) == []

    assert any_store.delete_households(CSW_A, ["A-001"]) == 1
    p1, p2, p3 = (any_store.outreach_plan(ADMIN, p) for p in ("p1", "p2", "p3"))
    for p in (p1, p2, p3):
        assert "A-001" not in json.dumps(p, default=str), p["plan_id"]
    assert [v["household_id"] for v in p1["document"]["csws"][0]["visits"]] == ["A-002"]
    assert p1["document"]["removed"] == 1 and any("削除された訪問先" in n for n in p1["document"]["notes"])
    assert p2["document"]["unfitted"] == [] and p2["household_ids"] == ["A-002"]
    assert p3["status"] == "failed" and p3["error"] == ERROR_REDACTED
    assert "34.79223" not in json.dumps(p1["document"])  # the deleted visit's point went with it


def test_a_deleted_households_plan_rows_are_overwritten_in_the_file(gpkg_store):
    fill(gpkg_store)
    gpkg_store.save_outreach_plan(CSW_A, plan_id="p1", station_id="st-A", document=_plan(["A-001", "A-002"]),
                                  household_ids=["A-001", "A-002"])
    assert b"34.79223" in gpkg_store.path.read_bytes()  # A-001's planned point, as JSON text
    gpkg_store.delete_households(ADMIN, ["A-001"])
    gpkg_store.close()
    data = gpkg_store.path.read_bytes()
    assert b"34.79223" not in data and "甲野 一".encode() not in data


def test_the_client_store_of_a_public_store(tmp_store, pg_store_factory, postgis_url):
    with client_store_for(tmp_store) as clients:
        assert clients.path == private_path(tmp_store.path)
    public = pg_store_factory()
    with client_store_for(public) as clients:
        assert clients.workspace == public.workspace_name and clients.path is None
        assert PRIVATE_SCHEMA in clients.location and "***" not in str(clients._engine.url.password or "")


def test_skills_column_round_trips_and_an_older_store_gains_it(tmp_path, any_store):
    """「資格」 is read from files and kept; a store made before the column existed gets it on open, rows kept."""
    import sqlalchemy as sa

    table = households("A", ["甲野 一"]).assign(資格="看護師、担当:csw-1")
    any_store.import_households(CSW_A, table, station_id="st-A")
    assert any_store.households(CSW_A).loc[0, "skills"] == ["担当:csw-1", "看護師"]

    old = tmp_path / "old.gpkg"
    ClientStore(old).close()
    path = private_path(old)
    engine = sa.create_engine(f"sqlite:///{path}")
    with engine.begin() as conn:  # as a store from before 資格: without the column, one household in it
        conn.execute(sa.text("ALTER TABLE client_households DROP COLUMN skills"))
        conn.execute(sa.text(
            "INSERT INTO client_households (workspace, household_id, station_id, label, lon, lat, visit_min, windows,"
            " priority, is_sample) VALUES ('default', 'A-009', 'st-A', 'A-009', 133.6, 34.8, 30, '[]', 2, 0)"))
    engine.dispose()
    with ClientStore(old) as store:
        kept = store.households(ADMIN)
    assert kept["household_id"].tolist() == ["A-009"] and not kept.loc[0, "skills"]
