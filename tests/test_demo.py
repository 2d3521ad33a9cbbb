"""End to end on real data: `tsunagu demo` builds the 高梁市 workspace and its map; bad input leaves the store unchanged."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from api.cli import main



@pytest.fixture(scope="module")
def demo_workspace(data_dir, tmp_path_factory):
    ws = tmp_path_factory.mktemp("demo") / "tsunagu.gpkg"
    result = CliRunner().invoke(main, ["demo", "--workspace", str(ws), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    return ws, result.output


def _snapshot(ws) -> dict:
    from api.store.connect import open_store

    with open_store(str(ws), create=False) as store:
        return {
            "workspace": store.workspace()["city_code"],
            "areas": store.areas().drop(columns="geometry").to_json(),
            "geoms": store.areas().geometry.to_wkb().tolist(),
            "resources": store.resources().drop(columns="geometry").to_json(),
            "stations": store.stations().drop(columns="geometry").to_json(),
            "report": json.dumps(store.nesting_report(), sort_keys=True),
            "log": len(store.import_log()),
        }


def test_demo_builds_takahashi_tiers_and_map(demo_workspace):
    ws, output = demo_workspace
    assert "高梁市（33209）" in output and "一致" in output
    from api.store.connect import open_store

    with open_store(str(ws), create=False) as store:
        info = store.workspace()
        assert info["city_name"] == "高梁市"
        areas = store.areas()
        assert areas.groupby("level").size().to_dict() == {
            "neighbourhood": 444, "kominkan": 15, "junior_high": 7, "city": 1}
        for level in info["profile"].keys:
            assert int(areas.loc[areas["level"] == level, "population"].sum()) == 34963
        assert "A27" in info["profile"].notes["kominkan"]
        stations = store.stations()
        assert len(stations) == 7 and stations["is_sample"].all()
        assert sorted(a for ids in stations["area_ids"] for a in ids) == sorted(
            areas.loc[areas["level"] == "neighbourhood", "area_id"])
        kinds = store.resources()["kind"].value_counts()
        assert kinds.get("kominkan", 0) + kinds.get("meeting_hall", 0) >= 30 and kinds.get("rail_station", 0) >= 5
        assert store.nesting_report()["rollup"]["ok"]
        salons = store.resources(kinds=["salon"])
        assert len(salons) >= 10 and salons["is_sample"].all() and salons["name"].str.endswith("（サンプル）").all()
    html = (ws.parent / "tier_map_33209.html").read_text(encoding="utf-8")
    for label in ("町丁・字", "公民館区", "中学校区", "市全域", "人口密度", "国土地理院", "e-Stat", "サンプル"):
        assert label in html or json.dumps(label)[1:-1] in html, label


def test_nesting_command_names_straddling_areas(demo_workspace):
    ws, _ = demo_workspace
    result = CliRunner().invoke(main, ["nesting", "--workspace", str(ws)])
    assert result.exit_code == 0, result.output
    assert "またがり" in result.output and "松山広瀬" in result.output
    assert "km²" in result.output


def test_unknown_municipality_is_refused_and_store_unchanged(demo_workspace, data_dir):
    ws, _ = demo_workspace
    before = _snapshot(ws)
    result = CliRunner().invoke(main, ["demo", "--city", "33999", "--workspace", str(ws), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "33999" in result.output and "33209 高梁市" in result.output  # lists the codes present
    assert "Traceback" not in result.output
    assert _snapshot(ws) == before


def test_strict_nesting_refuses_straddling_areas_and_store_unchanged(demo_workspace, data_dir):
    ws, _ = demo_workspace
    before = _snapshot(ws)
    result = CliRunner().invoke(
        main, ["demo", "--strict-nesting", "--replace", "--workspace", str(ws), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "にまたがっています" in result.output and "松山広瀬" in result.output
    assert _snapshot(ws) == before


def test_missing_data_dir_names_download_pages(tmp_path):
    result = CliRunner().invoke(main, ["demo", "--workspace", str(tmp_path / "w.gpkg"), "--data-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert "e-stat.go.jp" in result.output and "nlftp.mlit.go.jp" in result.output
    assert not (tmp_path / "w.gpkg").exists() or _snapshot_empty(tmp_path / "w.gpkg")


def _snapshot_empty(ws) -> bool:
    from api.store.base import WorkspaceNotInitialised
    from api.store.connect import open_store

    with open_store(str(ws), create=False) as store:
        try:
            store.workspace()
        except WorkspaceNotInitialised:
            return True
    return False


def test_demo_runs_for_kurashiki(data_dir, tmp_path):
    ws = tmp_path / "kurashiki.gpkg"
    result = CliRunner().invoke(main, ["demo", "--city", "33202", "--workspace", str(ws), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "倉敷市（33202）" in result.output
    assert (tmp_path / "tier_map_33202.html").exists()


def test_city_without_elementary_districts_falls_back_to_junior_high(data_dir, tmp_path):
    # 新見市 is missing from the A27 edition: its 中学校区 stand in for the 公民館区, and say so.
    ws = tmp_path / "niimi.gpkg"
    result = CliRunner().invoke(main, ["demo", "--city", "33210", "--workspace", str(ws), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    from api.store.connect import open_store

    with open_store(str(ws), create=False) as store:
        profile = store.workspace()["profile"]
        assert "A32" in profile.notes["kominkan"] and "A27" in profile.notes["kominkan"]
        areas = store.areas()
        assert (areas.groupby("level")["population"].sum() == 33870).all()
