"""One city per workspace: building another city never overwrites the first, and a served workspace is never replaced.

Issue 13: `tsunagu demo --city 33202` replaced 高梁市's workspace while `serve` ran, and the salon
added on its map was gone. These tests build the real 高梁市 workspace, add a salon, then build
another city beside it.
"""

from __future__ import annotations

import shutil

import pytest
from click.testing import CliRunner

from api.cli import main
from api.importing import import_resource_file
from api.store.connect import open_store
from api.workspace_guard import serving_folder

TAKAHASHI_SALON = ("あじさいサロン（テスト）", 34.7916, 133.6161)  # near 高梁市役所


@pytest.fixture(scope="module")
def built(data_dir, tmp_path_factory):
    """高梁市 built once, with one salon added the way a planner adds one (a CSV import)."""
    folder = tmp_path_factory.mktemp("takahashi")
    ws = folder / "tsunagu.gpkg"
    result = CliRunner().invoke(main, ["demo", "--workspace", str(ws), "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    name, lat, lon = TAKAHASHI_SALON
    csv = folder / "salon.csv"
    csv.write_text(f"名称,緯度,経度\n{name},{lat},{lon}\n", encoding="utf-8")
    with open_store(str(ws)) as store:
        import_resource_file(store, csv, kind="salon")
    return ws


@pytest.fixture
def workspace(built, tmp_path, monkeypatch):
    """A copy of the built workspace in its own folder, named as the default (TSUNAGU_WORKSPACE)."""
    ws = tmp_path / "workspace" / "tsunagu.gpkg"
    ws.parent.mkdir()
    shutil.copy(built, ws)
    monkeypatch.setenv("TSUNAGU_WORKSPACE", str(ws))
    return ws


def _contents(ws) -> dict:
    with open_store(str(ws), create=False) as store:
        resources = store.resources()
        return {"city": store.workspace()["city_code"], "areas": len(store.areas()),
                "salons": sorted(resources.loc[resources["kind"] == "salon", "name"]), "resources": len(resources)}


def test_another_city_gets_its_own_workspace_and_the_first_keeps_its_edits(workspace, data_dir):
    before = _contents(workspace)
    assert before["city"] == "33209" and TAKAHASHI_SALON[0] in before["salons"]
    result = CliRunner().invoke(main, ["demo", "--city", "33202", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    kurashiki = workspace.parent / "tsunagu_33202.gpkg"
    assert "高梁市（33209）のデータがあるので" in result.output and str(kurashiki) in result.output
    assert _contents(workspace) == before
    assert _contents(kurashiki)["city"] == "33202"
    assert "倉敷市（33202）" in result.output


def test_building_the_same_city_again_keeps_it(workspace, data_dir):
    before = _contents(workspace)
    result = CliRunner().invoke(main, ["demo", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "作り直さず" in result.output and "--replace" in result.output
    assert _contents(workspace) == before
    assert (workspace.parent / "tier_map_33209.html").exists()


def test_a_named_workspace_holding_another_city_is_refused(workspace, data_dir):
    before = _contents(workspace)
    result = CliRunner().invoke(main, ["demo", "--city", "33423", "--workspace", str(workspace), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "高梁市（33209）のデータがあるため" in result.output and "--replace" in result.output
    assert _contents(workspace) == before
    assert not (workspace.parent / "tsunagu_33423.gpkg").exists()


def test_replace_is_refused_while_a_server_has_the_folder(workspace, data_dir):
    before = _contents(workspace)
    with serving_folder(str(workspace)):
        result = CliRunner().invoke(main, ["demo", "--city", "33423", "--replace", "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "tsunagu serve が開いている" in result.output
    assert _contents(workspace) == before


def test_replace_rebuilds_when_asked_and_no_server_runs(workspace, data_dir):
    result = CliRunner().invoke(main, ["demo", "--city", "33423", "--replace", "--data-dir", str(data_dir)])
    assert result.exit_code == 0, result.output
    assert "置き換えます（--replace）" in result.output
    after = _contents(workspace)
    assert after["city"] == "33423" and TAKAHASHI_SALON[0] not in after["salons"]


def test_an_unknown_city_is_refused_before_anything_is_touched(workspace, data_dir):
    before = _contents(workspace)
    result = CliRunner().invoke(main, ["demo", "--city", "33999", "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "33999" in result.output and "33209 高梁市" in result.output
    assert _contents(workspace) == before and not (workspace.parent / "tsunagu_33999.gpkg").exists()
