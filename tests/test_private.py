"""The private client store: apart from the public workspace, per-station access, access log, deletion."""

from __future__ import annotations

import stat
import uuid

import pandas as pd
import pytest

from api.private import (
    HOUSEHOLD_COLUMNS,
    PRIVATE_SCHEMA,
    ClientStore,
    PrivateAccessError,
    Viewer,
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
        for table in ("client_households", "access_log"):
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
    assert {"client_households", "access_log"} <= tables
    assert "client_households" not in public


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
