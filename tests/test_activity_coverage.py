"""Coverage of any activity: a 子ども食堂 layer from a CSV per 小学校区 on 高梁市, target groups, salons as one use."""

from __future__ import annotations

import json

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from gis.access import StraightLineEngine
from gis.activity_coverage import TARGET_GROUPS, activity_coverage, coverage_by_tier, target_counts, target_weights
from gis.crs import plane_rectangular_crs
from gis.errors import InputDataError
from gis.tiers import CityProfile, TierLevel

CRS = "EPSG:6673"
PROFILE = CityProfile(levels=(TierLevel("neighbourhood", "町丁・字"), TierLevel("kominkan", "公民館区"),
                              TierLevel("city", "市全域")))
SHARE = 0.15


# --- by hand ----------------------------------------------------------------------------------


def _small() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame({
        "area_id": ["n1", "n2"], "level": "neighbourhood", "name": ["一丁目", "二丁目"], "parent_id": "k1",
        "population": [100.0, 300.0], "pop_65plus": [40.0, None], "pop_75plus": [None, None],
    }, geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], crs=CRS).to_crs("EPSG:4326")


def test_target_counts_name_their_source_and_refuse_without_a_figure():
    small = _small()
    everyone = target_counts(small, target="all")
    assert everyone.counts.to_dict() == {"n1": 100.0, "n2": 300.0} and everyone.column == "population"
    children = target_counts(small, target="children", share=SHARE)
    assert children.counts.to_dict() == pytest.approx({"n1": 15.0, "n2": 45.0})
    assert children.column is None and children.share == SHARE and "15.0%" in children.basis
    mixed = target_counts(small, target="65+", share=0.5)  # n1 from the census column, n2 estimated
    assert mixed.counts.to_dict() == {"n1": 40.0, "n2": 150.0}
    assert mixed.column == "pop_65plus" and mixed.estimated_areas == 1 and "pop_65plus" in mixed.basis
    with pytest.raises(InputDataError, match="子ども（0〜14歳）の人数がありません") as info:
        target_counts(small, target="children")
    assert "--share" in info.value.as_dict()["hint"]
    with pytest.raises(InputDataError, match="列 pop_75plus（75歳以上人口）が 2 地域で空です"):
        target_counts(small, target="75+")
    with pytest.raises(InputDataError, match="対象 'teens' はありません"):
        target_counts(small, target="teens")
    assert set(TARGET_GROUPS) == {"65+", "75+", "children", "all"}


def test_two_kinds_each_with_its_threshold_by_hand():
    pts = [(100, 500), (900, 500), (1900, 500)]
    demand = gpd.GeoDataFrame({"point_id": range(3), "area_id": ["n1", "n1", "n2"], "population": [10.0, 30.0, 60.0]},
                              geometry=[Point(x, y) for x, y in pts], crs=CRS).to_crs("EPSG:4326")
    resources = gpd.GeoDataFrame({"resource_id": ["a", "b"], "name": ["食堂A", "カフェB"],
                                  "kind": ["kodomo_shokudo", "dementia_cafe"]},
                                 geometry=[Point(0, 500), Point(2000, 500)], crs=CRS).to_crs("EPSG:4326")
    counts = target_counts(_small(), target="all")
    weights = target_weights(demand, counts)
    assert weights == pytest.approx([25.0, 75.0, 300.0])  # each area's people spread like its population
    cov = activity_coverage(demand, resources, engine=StraightLineEngine(crs=CRS),
                            thresholds_m={"kodomo_shokudo": 500, "dementia_cafe": 150}, target=weights)
    assert cov["kodomo_shokudo_distance_m"].to_numpy() == pytest.approx([100, 900, 1900], abs=1e-3)
    assert list(cov["covered_kodomo_shokudo"]) == [True, False, False]
    assert list(cov["covered_dementia_cafe"]) == [False, False, True]
    assert list(cov["covered"]) == [True, False, True]
    areas = pd.concat([_small()[["area_id", "level", "name", "parent_id", "geometry"]], gpd.GeoDataFrame(
        {"area_id": ["k1", "c"], "level": ["kominkan", "city"], "name": ["公民館区", "市"], "parent_id": ["c", None]},
        geometry=[box(0, 0, 2000, 1000)] * 2, crs=CRS).to_crs("EPSG:4326")], ignore_index=True)
    t = coverage_by_tier(cov, areas, profile=PROFILE, group=TARGET_GROUPS["all"]).set_index("area_id")
    assert t.loc["n1", ["target", "covered_kodomo_shokudo", "covered", "uncovered"]].tolist() == [100, 25, 25, 75]
    assert t.loc["c", ["covered_kodomo_shokudo", "covered_dementia_cafe", "covered", "uncovered"]].tolist() == [25, 300, 325, 75]
    assert t.loc["c", "uncovered_share"] == pytest.approx(75 / 400)


# --- 高梁市: a 子ども食堂 layer imported from a CSV, per 小学校区 --------------------------------


@pytest.fixture(scope="module")
def takahashi(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    path = tmp_path_factory.mktemp("coverage") / "t.gpkg"
    store = open_store(str(path))
    build_city_workspace(store, data_dir=data_dir)
    yield store, path
    store.close()


@pytest.fixture(scope="module")
def shokudo_csv(takahashi, tmp_path_factory):
    """Three SAMPLE 子ども食堂 at the representative points of the three most populous 小学校区."""
    store, _ = takahashi
    kominkan = store.areas(level="kominkan")
    top = kominkan.sort_values("population", ascending=False).head(3)
    pts = top.to_crs(plane_rectangular_crs("33209")).representative_point().to_crs("EPSG:4326")
    path = tmp_path_factory.mktemp("csv") / "sample_kodomo_shokudo.csv"
    pd.DataFrame({"ID": [f"sample-shokudo-{i}" for i in (1, 2, 3)],
                  "名称": [f"サンプル子ども食堂{i}（架空）" for i in (1, 2, 3)],
                  "種別": "子ども食堂", "緯度": pts.y.round(6).to_numpy(), "経度": pts.x.round(6).to_numpy()}
                 ).to_csv(path, index=False, encoding="utf-8-sig")
    return path, top["area_id"].tolist()


def test_kodomo_shokudo_coverage_per_elementary_district(takahashi, shokudo_csv, data_dir):
    import api.analyses.coverage  # noqa: F401 - registers the job
    from api.analyses.base import REGISTRY, workspace_demand
    from api.importing import import_resource_file

    store, _ = takahashi
    path, hosts = shokudo_csv
    assert import_resource_file(store, path)["kinds"] == {"kodomo_shokudo": 3}
    # the 公民館区 level of this workspace is the 国土数値情報 A27 小学校区
    assert store.areas(level="kominkan")["source"].str.contains("小学校区").all()
    spec = REGISTRY["activity-coverage"]
    res = spec.run(store, spec.params(kinds=["子ども食堂"], threshold_m=1000, target="children", share=SHARE, cell_size_m=200),
                   progress=lambda f, m: None, data_dir=data_dir)
    s = res.summary
    assert s["kinds"] == ["kodomo_shokudo"] and s["target"] == "children" and s["reconciles"]
    assert s["target_column"] is None and s["share"] == SHARE and "15.0%" in s["target_basis"]
    assert s["target_basis"] in res.notes
    assert s["target_people"] == pytest.approx(SHARE * 34963, abs=0.5)
    # covered children = 15 % of the people on demand points within 1 km of a 子ども食堂 (straight line)
    demand, _ = workspace_demand(store, cell_size_m=200)
    crs = plane_rectangular_crs("33209")
    sites = store.resources(kinds=["kodomo_shokudo"]).to_crs(crs)
    d = np.min([demand.to_crs(crs).distance(p).to_numpy() for p in sites.geometry], axis=0)
    assert s["covered"] == pytest.approx(SHARE * demand["population"].to_numpy()[d <= 1000].sum(), rel=1e-9)
    assert 0 < s["covered"] < s["target_people"]
    table = res.tables["圏域別（子ども（0〜14歳））"]
    lab = table.attrs["labels"]
    assert lab["target"] == "対象人口（子ども（0〜14歳））"
    first = table[table[lab["level_label"]] == "公民館区"]
    assert table.index[: len(first)].tolist() == first.index.tolist()  # 小学校区 listed first, worst first
    assert first[lab["uncovered"]].is_monotonic_decreasing
    hosted = first[first[lab["area_id"]].isin(hosts)]
    assert len(hosted) == 3 and (hosted[lab["covered"]] > 0).all()
    others = first[~first[lab["area_id"]].isin(hosts)]
    assert (others[lab["covered"]] < others[lab["target"]]).all()
    assert first[lab["target"]].sum() == pytest.approx(s["target_people"], abs=0.05 * len(first) + 0.1)
    html = res.map_html
    assert any(form in html for form in ("サンプル子ども食堂1（架空）", json.dumps("サンプル子ども食堂1（架空）")[1:-1]))
    assert "未カバー（子ども（0〜14歳）・人）" in html and "子ども食堂（1000 m）" in html


def test_children_without_a_share_is_a_clear_error(takahashi, data_dir):
    import api.analyses.coverage  # noqa: F401
    from api.analyses.base import REGISTRY

    store, _ = takahashi
    spec = REGISTRY["activity-coverage"]
    with pytest.raises(InputDataError, match="ワークスペースに子ども（0〜14歳）の人数がありません") as info:
        spec.run(store, spec.params(kinds=["kodomo_shokudo"], target="children"), progress=lambda f, m: None,
                 data_dir=data_dir)
    assert info.value.as_dict()["feature"] == "share"
    # kinds.toml says whom 子ども食堂 serves: leaving --target out still asks for the children's share
    with pytest.raises(InputDataError, match="子ども（0〜14歳）"):
        spec.run(store, spec.params(kinds=["kodomo_shokudo"]), progress=lambda f, m: None, data_dir=data_dir)
    # two kinds for children, one named by its Japanese synonym; a threshold for one of them
    both = spec.run(store, spec.params(kinds=["親子サロン", "子ども食堂"], kind_thresholds_m={"子ども食堂": 1500},
                                       target="children", share=SHARE, cell_size_m=200),
                    progress=lambda f, m: None, data_dir=data_dir)
    assert both.summary["thresholds_m"] == {"kosodate_salon": 1000.0, "kodomo_shokudo": 1500.0}
    assert any("子育てサロンが1か所も登録されていない" in n for n in both.notes)
    with pytest.raises(InputDataError, match="対象の種別（kinds）にありません"):
        spec.run(store, spec.params(kinds=["kodomo_shokudo"], kind_thresholds_m={"salon": 500}, target="all"),
                 progress=lambda f, m: None, data_dir=data_dir)
    with pytest.raises(InputDataError, match="種別「子供会」が分かりません"):
        spec.run(store, spec.params(kinds=["子供会"], target="all"), progress=lambda f, m: None, data_dir=data_dir)


def test_cli_activity_coverage_options(takahashi, shokudo_csv, tmp_path, data_dir, monkeypatch):
    from click.testing import CliRunner

    from api.cli import main

    _, path = takahashi
    monkeypatch.setenv("TSUNAGU_DATA_DIR", str(data_dir))
    out = tmp_path / "job"
    result = CliRunner().invoke(main, ["analyse", "activity-coverage", "--kinds", "kodomo_shokudo", "--threshold", "800",
                                       "--target", "children", "--share", "0.15", "--param", "cell_size_m=200",
                                       "--workspace", str(path), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "子ども（0〜14歳）の人数は人口 × 比率 15.0%（指定の比率）で推計しています" in result.output
    assert "子ども食堂（" in result.output and "か所）から直線800 m以上離れて暮らしています" in result.output  # the headline
    assert "子ども食堂の徒歩圏" in result.output and "800" in result.output  # the 集計値 table
    result = CliRunner().invoke(main, ["analyse", "activity-coverage", "--kinds", "kodomo_shokudo", "--target", "children",
                                       "--workspace", str(path)])
    assert result.exit_code != 0 and "人数がありません" in result.output


def test_salon_gaps_is_one_use_of_activity_coverage(takahashi, data_dir):
    """salon-gaps (unchanged) and activity-coverage for salons, 65+, 500 m give the same tier figures."""
    import api.analyses.coverage  # noqa: F401
    import api.analyses.salons  # noqa: F401
    from api.analyses.base import REGISTRY

    store, _ = takahashi
    gaps = REGISTRY["salon-gaps"].run(store, REGISTRY["salon-gaps"].params(thresholds_m=[500], cell_size_m=200),
                                      progress=lambda f, m: None, data_dir=data_dir)
    spec = REGISTRY["activity-coverage"]
    act = spec.run(store, spec.params(kinds=["salon"], threshold_m=500, cell_size_m=200), progress=lambda f, m: None,
                   data_dir=data_dir)
    assert act.summary["target"] == "65+"  # kinds.toml: salons serve 65+
    # no age table in this workspace: the 65+ share salon-gaps uses, named with its source
    assert "2020年国勢調査 高梁市 65歳以上 11,925人／29,072人" in act.summary["target_basis"]
    g, a = gaps.tables["圏域別（徒歩500 m）"], act.tables["圏域別（65歳以上）"]
    gl, al = g.attrs["labels"], a.attrs["labels"]
    assert g[gl["area_id"]].tolist() == a[al["area_id"]].tolist()
    for gc, ac in (("population", "population"), ("elderly", "target"), ("covered_elderly", "covered"),
                   ("uncovered_elderly", "uncovered"), ("uncovered_share", "uncovered_share")):
        pd.testing.assert_series_equal(g[gl[gc]], a[al[ac]], check_names=False)
    assert act.summary["uncovered"] == gaps.summary["by_threshold"]["500"]["uncovered_elderly"]


def test_api_activity_coverage_job(takahashi, shokudo_csv, data_dir):
    """POST /jobs runs activity-coverage like any analysis; a missing share fails with the Japanese reason."""
    import time

    from _auth import login
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    _, path = takahashi
    app = create_app(Settings(workspace=str(path), data_dir=str(data_dir)))

    def wait(client, job_id):
        for _ in range(600):
            body = client.get(f"/jobs/{job_id}").json()
            if body["status"] not in ("queued", "running"):
                return body
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not finish")

    with TestClient(app) as client:
        login(client, "planner")
        assert "activity-coverage" in {a["name"] for a in client.get("/analyses").json()}
        ok = client.post("/jobs", json={"analysis": "activity-coverage", "params": {
            "kinds": ["kodomo_shokudo"], "target": "children", "share": SHARE, "cell_size_m": 200}})
        assert ok.status_code == 202, ok.text
        done = wait(client, ok.json()["job_id"])
        assert done["status"] == "done", done
        assert done["summary"]["target_basis"] == "子ども（0〜14歳）の人数は人口 × 比率 15.0%（指定の比率）で推計しています"
        bad = client.post("/jobs", json={"analysis": "activity-coverage", "params": {"kinds": ["kodomo_shokudo"]}})
        failed = wait(client, bad.json()["job_id"])
        assert failed["status"] == "failed" and "子ども（0〜14歳）の人数がありません" in failed["error"]
        refused = client.post("/jobs", json={"analysis": "activity-coverage", "params": {"kinds": []}})
        assert refused.status_code == 422 and "kinds" in refused.text
    runner = getattr(app.state, "job_runner", None)
    if runner is not None:  # the runner's threads stop with the test
        runner.shutdown()
