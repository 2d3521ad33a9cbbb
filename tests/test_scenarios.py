"""Scenarios on 高梁市: add the MCLP sites as salons and close a shop, run on the scenario, compare with the baseline."""

from __future__ import annotations

import io
import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from api.comparisons import compare_jobs, comparison_excel, comparison_summary
from api.jobs import job_tables, run_job
from api.scenarios import PARAM, ScenarioView, new_scenario
from api.store.base import StoreError
from gis.comparison import BASE, DELTA, GAINED, LOST, SAME, SCENARIO, area_changes, compare_tables
from gis.errors import InputDataError
from gis.scenarios import apply_scenario, scenario_from_dict


@pytest.fixture(scope="module")
def takahashi(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    path = tmp_path_factory.mktemp("scenarios") / "t.gpkg"
    store = open_store(str(path))
    build_city_workspace(store, data_dir=data_dir)
    store.close()
    return path


@pytest.fixture(scope="module")
def store(takahashi):
    from api.store.connect import open_store

    s = open_store(str(takahashi))
    yield s
    s.close()


@pytest.fixture(scope="module")
def mclp_sites(store, data_dir):
    job = run_job(store, "salon-sites", {"k": 3, "time_limit_s": 30}, data_dir=data_dir, created_by="planner")
    record = store.get_job(job)
    assert record["status"] == "done", record["error"]
    chosen = store.job_table(job, "選ばれた候補地")
    assert len(chosen) == 3
    return chosen


@pytest.fixture(scope="module")
def shop_x(store):
    from gis.shopping import food_shops

    shops = food_shops(store.resources())
    return shops.sort_values("resource_id").iloc[0]


@pytest.fixture(scope="module")
def scenario(store, mclp_sites, shop_x):
    changes = [{"action": "add", "kind": "salon", "name": f"新サロン{r.順位}（MCLP）", "lon": float(r.経度), "lat": float(r.緯度)}
               for r in mclp_sites.itertuples(index=False)]
    changes.append({"action": "remove", "resource_id": str(shop_x["resource_id"])})
    return new_scenario(store, {"name": "サロン3か所と閉店", "description": "MCLP の3か所にサロン、1店閉店", "changes": changes},
                        created_by="planner")


def _same_table(a: pd.DataFrame, b: pd.DataFrame) -> bool:
    return a.reset_index(drop=True).equals(b.reset_index(drop=True))


# --------------------------------------------------------------------------- the acceptance case


def test_salon_gaps_on_the_scenario_deltas_equal_the_difference_of_the_tables(store, data_dir, scenario):
    before_resources = store.resources()
    base = run_job(store, "salon-gaps", {}, data_dir=data_dir, created_by="planner")
    other = run_job(store, "salon-gaps", {PARAM: scenario["name"]}, data_dir=data_dir, created_by="planner")
    rec = store.get_job(other)
    assert rec["status"] == "done", rec["error"]
    assert rec["params"][PARAM]["name"] == scenario["name"] and len(rec["params"][PARAM]["changes"]) == 4
    # the base data did not change
    assert _same_table(store.resources().drop(columns="attributes"), before_resources.drop(columns="attributes"))

    result = compare_jobs(store, base, other)
    ta, tb = job_tables(store, store.get_job(base)), job_tables(store, rec)
    assert set(result["tables"]) == set(ta)
    for name, compared in result["tables"].items():
        a = ta[name].set_index("地域ID")
        b = tb[name].set_index("地域ID")
        assert set(compared["地域ID"]) == set(a.index) == set(b.index)
        for col in ("未カバー高齢者", "カバー済み高齢者", "65歳以上人口"):
            got = compared.set_index("地域ID")[col + DELTA]
            want = (b[col] - a[col]).reindex(got.index)
            np.testing.assert_allclose(got.to_numpy(), want.to_numpy(), atol=1e-6)
            np.testing.assert_allclose(compared.set_index("地域ID")[col + BASE].to_numpy(), a[col].reindex(got.index))
            np.testing.assert_allclose(compared.set_index("地域ID")[col + SCENARIO].to_numpy(), b[col].reindex(got.index))
    # three new salons: some areas gain, none loses, the 65+ figures are untouched
    for name, changes in result["changes"].items():
        assert changes["指標"].iloc[0] == "未カバー高齢者"
        assert (changes["変化"] == GAINED).sum() >= 1, name
        assert not (changes["変化"] == LOST).any(), name
    city = result["tables"]["圏域別（徒歩500 m）"]
    assert (city["65歳以上人口" + DELTA] == 0).all()
    # the scenario's changes are listed for the map
    assert list(result["scenario_changes"]["操作"]) == ["追加"] * 3 + ["削除"]


def test_shopping_refugees_lose_where_the_shop_closes(store, data_dir, scenario, shop_x):
    base = run_job(store, "shopping-refugees", {}, data_dir=data_dir, created_by="planner")
    other = run_job(store, "shopping-refugees", {PARAM: scenario["name"]}, data_dir=data_dir, created_by="planner")
    result = compare_jobs(store, base, other)
    changes = result["changes"]["圏域別の買い物弱者"]
    assert changes["指標"].iloc[0] == "残る買い物弱者（直線）"
    assert not (changes["変化"] == GAINED).any()  # only a shop closed
    # the closed shop is gone from the scenario run's shop list, and only there
    shops_b = job_tables(store, store.get_job(other))["食料品店"]
    shops_a = job_tables(store, store.get_job(base))["食料品店"]
    assert str(shop_x["resource_id"]) in set(shops_a["店ID"]) - set(shops_b["店ID"])
    assert len(shops_a) - len(shops_b) == 1
    summary = comparison_summary(result)
    json.dumps(summary, ensure_ascii=False)  # JSON-ready
    assert summary["other"]["scenario"] == scenario["name"] and summary["base"]["scenario"] is None


def test_comparison_map_and_excel(store, data_dir, scenario):
    from layers.comparison import comparison_map_html

    base = run_job(store, "salon-gaps", {"thresholds_m": [500]}, data_dir=data_dir, created_by="planner")
    other = run_job(store, "salon-gaps", {"thresholds_m": [500], PARAM: scenario["name"]}, data_dir=data_dir,
                    created_by="planner")
    result = compare_jobs(store, base, other)
    name = next(iter(result["changes"]))
    html = comparison_map_html(areas=store.areas(), changes=result["changes"][name],
                               scenario_changes=result["scenario_changes"], title="比較")
    assert "改善" in html and "シナリオの変更" in html and "新サロン1（MCLP）" in html
    book = pd.read_excel(io.BytesIO(comparison_excel(result)), sheet_name=None)
    assert any(s.startswith("差_") for s in book) and any(s.startswith("増減_") for s in book)
    assert "シナリオの変更" in book and "注記" in book


def test_a_job_keeps_its_scenario_after_the_scenario_is_deleted(store, data_dir, mclp_sites):
    r = mclp_sites.iloc[0]
    new_scenario(store, {"name": "一時", "changes": [{"action": "add", "kind": "サロン", "name": "仮", "lon": float(r.経度),
                                                     "lat": float(r.緯度)}]}, created_by="planner")
    job = run_job(store, "salon-gaps", {"thresholds_m": [500], PARAM: "一時"}, data_dir=data_dir, created_by="planner")
    assert store.delete_scenario("一時") and store.get_scenario("一時") is None
    rec = store.get_job(job)
    assert rec["status"] == "done" and rec["params"][PARAM]["changes"][0]["kind"] == "salon"
    with pytest.raises(InputDataError, match="シナリオ「一時」はありません"):
        run_job(store, "salon-gaps", {PARAM: "一時"}, data_dir=data_dir, created_by="planner")


def test_scenario_parameters_override_the_analysis(store, data_dir):
    new_scenario(store, {"name": "比率40パーセント", "params": {"elderly_share": 0.4}}, created_by="planner")
    job = run_job(store, "salon-gaps", {"thresholds_m": [500], PARAM: "比率40パーセント"}, data_dir=data_dir, created_by="planner")
    rec = store.get_job(job)
    assert rec["params"]["elderly_share"] == 0.4
    assert any("40.0%" in n for n in rec["notes"])


# --------------------------------------------------------------------------- bad input


def test_a_scenario_that_cannot_apply_is_refused_when_made(store):
    with pytest.raises(InputDataError, match="ない地域資源.*変更1: no-such"):
        new_scenario(store, {"name": "x", "changes": [{"action": "remove", "resource_id": "no-such"}]}, created_by="p")
    with pytest.raises(InputDataError, match="経度と緯度が逆"):
        scenario_from_dict({"name": "x", "changes": [{"action": "add", "kind": "salon", "name": "a", "lon": 34.8, "lat": 133.6}]})
    with pytest.raises(InputDataError, match="種類「pub」"):
        scenario_from_dict({"name": "x", "changes": [{"action": "add", "kind": "pub", "name": "a", "lon": 133.6, "lat": 34.8}]})
    with pytest.raises(InputDataError, match="操作「paint」"):
        scenario_from_dict({"name": "x", "changes": [{"action": "paint"}]})
    with pytest.raises(InputDataError, match="シナリオ名"):
        scenario_from_dict({"name": "a/b"})
    with pytest.raises(InputDataError, match="変えられないパラメータ"):
        scenario_from_dict({"name": "x", "params": {"password": 1}})
    assert store.get_scenario("x") is None


def test_a_name_is_taken_once_unless_replaced(store):
    new_scenario(store, {"name": "重複"}, created_by="p")
    with pytest.raises(StoreError, match="すでにあります"):
        new_scenario(store, {"name": "重複"}, created_by="p")
    again = new_scenario(store, {"name": "重複", "description": "2回目"}, created_by="p", replace=True)
    assert again["description"] == "2回目" and store.get_scenario("重複")["description"] == "2回目"


def test_the_view_refuses_writes(store):
    view = ScenarioView(store, scenario_from_dict({"name": "v"}))
    with pytest.raises(StoreError, match="書き換えられません"):
        view.transaction()
    assert len(view.resources()) == len(store.resources())


def test_apply_move_change_and_attributes(store):
    res = store.resources()
    salon = res[res["kind"] == "salon"].iloc[0]
    sc = scenario_from_dict({"name": "m", "changes": [
        {"action": "move", "resource_id": salon["resource_id"], "lon": 133.6, "lat": 34.8},
        {"action": "change", "resource_id": salon["resource_id"], "name": "改名", "attributes": {"capacity": 30}},
    ]})
    out = apply_scenario(res, sc)
    row = out[out["resource_id"] == salon["resource_id"]].iloc[0]
    assert row["name"] == "改名" and row["attributes"]["capacity"] == 30
    assert (round(row.geometry.x, 6), round(row.geometry.y, 6)) == (133.6, 34.8)
    assert res[res["resource_id"] == salon["resource_id"]].iloc[0]["name"] == salon["name"]  # input untouched


def test_compare_tables_by_hand():
    a = pd.DataFrame({"地域ID": ["a", "b", "c"], "名称": ["A", "B", "C"], "未カバー高齢者": [10.0, 5.0, 1.0]})
    b = pd.DataFrame({"地域ID": ["b", "a", "d"], "名称": ["B", "A", "D"], "未カバー高齢者": [6.0, 4.0, 2.0]})
    c = compare_tables(a, b).set_index("地域ID")
    assert c.loc["a", "未カバー高齢者" + DELTA] == -6 and c.loc["b", "未カバー高齢者" + DELTA] == 1
    assert np.isnan(c.loc["c", "未カバー高齢者" + SCENARIO]) and c.loc["d", "名称"] == "D"
    ch = area_changes(compare_tables(a, b)).set_index("地域ID")["変化"]
    assert ch["a"] == GAINED and ch["b"] == LOST and ch["c"] == "基準のみ" and ch["d"] == "比較のみ"
    same = area_changes(compare_tables(a, a))
    assert (same["変化"] == SAME).all()
    with pytest.raises(InputDataError, match="重複"):
        compare_tables(pd.concat([a, a]), b)


# --------------------------------------------------------------------------- both stores, CLI, API


def test_postgis_keeps_scenarios_per_workspace(pg_store_factory):
    from api.store.postgis import PostGISStore

    one = pg_store_factory("scn_one")
    two = pg_store_factory("scn_two")
    for s in (one, two):
        _minimal_workspace(s)
    record = {"name": "案A", "description": "", "changes": [], "params": {}, "created_by": "p", "created_at": ""}
    one.save_scenario(record)
    assert [r["name"] for r in one.scenarios()] == ["案A"] and two.scenarios() == []
    with pytest.raises(StoreError, match="すでにあります"):
        one.save_scenario(record)
    one.save_scenario({**record, "description": "改"}, replace=True)
    assert one.get_scenario("案A")["description"] == "改"
    assert one.delete_scenario("案A") and not one.delete_scenario("案A")
    assert isinstance(one, PostGISStore)


def _minimal_workspace(store) -> None:
    from gis.tiers import load_profile

    with store.transaction() as w:
        w.set_workspace(city_code="33209", city_name="高梁市", profile=load_profile("default"))


def test_cli_scenario_analyse_and_compare(takahashi, data_dir, mclp_sites, tmp_path):
    from api.cli import main

    r = mclp_sites.iloc[1]
    env = {"TSUNAGU_DATA_DIR": str(data_dir)}
    runner = CliRunner()
    res = runner.invoke(main, ["scenario", "create", "CLI案", "--workspace", str(takahashi),
                               "--add", f"salon,CLIサロン,{r.経度},{r.緯度}", "--param", "elderly_share=0.45"], env=env)
    assert res.exit_code == 0, res.output
    assert "シナリオ「CLI案」を保存しました（変更 1 件）" in res.output
    res = runner.invoke(main, ["scenario", "list", "--workspace", str(takahashi)], env=env)
    assert "CLI案" in res.output
    res = runner.invoke(main, ["scenario", "show", "CLI案", "--workspace", str(takahashi)], env=env)
    assert "追加" in res.output and "CLIサロン" in res.output and "65歳以上人口の比率: 0.45" in res.output
    res = runner.invoke(main, ["analyse", "salon-gaps", "--workspace", str(takahashi), "-p", "thresholds_m=500",
                               "--scenario", "CLI案", "--out", str(tmp_path / "s")], env=env)
    assert res.exit_code == 0, res.output
    res = runner.invoke(main, ["analyse", "salon-gaps", "--workspace", str(takahashi), "-p", "thresholds_m=500",
                               "-p", "elderly_share=0.45", "--out", str(tmp_path / "b")], env=env)
    assert res.exit_code == 0, res.output
    from api.store.connect import open_store

    with open_store(str(takahashi)) as s:
        jobs = [j for j in s.list_jobs(analysis="salon-gaps", limit=2)]
    other, base = jobs[0]["job_id"], jobs[1]["job_id"]
    out = tmp_path / "cmp.xlsx"
    res = runner.invoke(main, ["compare", other, base, "--workspace", str(takahashi), "--out", str(out)], env=env)
    assert res.exit_code == 0, res.output
    assert "指標「未カバー高齢者」" in res.output and "悪化" in res.output and out.stat().st_size > 1000
    # the IDs as printed (8 characters) work too, and `tsunagu jobs` lists them with their scenario
    res = runner.invoke(main, ["jobs", "--workspace", str(takahashi), "--analysis", "salon-gaps"], env=env)
    assert res.exit_code == 0, res.output
    plain, scen = other, base  # newest first: the baseline ran after the scenario
    assert f"{scen[:8]}  サロンの空白地域  シナリオ「CLI案」  完了" in res.output
    assert f"{plain[:8]}  サロンの空白地域  基本データ  完了" in res.output and "（日本時間）" in res.output
    res = runner.invoke(main, ["compare", plain[:8], scen[:8], "--workspace", str(takahashi),
                               "--out", str(tmp_path / "short.xlsx")], env=env)
    assert res.exit_code == 0, res.output
    assert f"基準 A: ジョブ {plain[:8]}（基本データ）" in res.output and "中学校区（日常生活圏域） " in res.output
    res = runner.invoke(main, ["compare", base[:2], other[:8], "--workspace", str(takahashi)], env=env)
    assert res.exit_code != 0 and "4 文字以上" in res.output and "Traceback" not in res.output
    res = runner.invoke(main, ["scenario", "delete", "CLI案", "--workspace", str(takahashi)], env=env)
    assert res.exit_code == 0 and "削除しました" in res.output
    res = runner.invoke(main, ["scenario", "show", "CLI案", "--workspace", str(takahashi)], env=env)
    assert res.exit_code != 0 and "ありません" in res.output and "Traceback" not in res.output


def test_api_scenarios_and_compare(takahashi, data_dir, mclp_sites, tmp_path):
    from _auth import login
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.settings import Settings

    settings = Settings(workspace=str(takahashi), data_dir=str(data_dir), job_runner="thread",
                        accounts=str(tmp_path / "accounts.sqlite"), upload_dir=tmp_path / "uploads", job_poll_s=0.1)
    app = create_app(settings)
    with TestClient(app) as client:
        login(client, "planner")
        r = mclp_sites.iloc[2]
        body = {"name": "API案", "changes": [{"action": "add", "kind": "salon", "name": "APIサロン",
                                              "lon": float(r.経度), "lat": float(r.緯度)}]}
        made = client.post("/scenarios", json=body)
        assert made.status_code == 201, made.text
        assert client.post("/scenarios", json=body).status_code == 409
        bad = client.post("/scenarios", json={"name": "bad", "changes": [{"action": "remove", "resource_id": "nope"}]})
        assert bad.status_code == 422 and "nope" in bad.text
        assert "API案" in [s["name"] for s in client.get("/scenarios").json()]
        shown = client.get("/scenarios/API案").json()
        assert shown["change_rows"][0]["操作"] == "追加"
        assert client.get("/scenarios/なし").status_code == 404
        ids = []
        for params in ({"thresholds_m": [500]}, {"thresholds_m": [500], "scenario": "API案"}):
            start = client.post("/jobs", json={"analysis": "salon-gaps", "params": params})
            assert start.status_code == 202, start.text
            ids.append(start.json()["job_id"])
        for jid in ids:
            for _ in range(600):
                status = client.get(f"/jobs/{jid}").json()["status"]
                if status not in ("queued", "running"):
                    break
                import time

                time.sleep(0.1)
            assert status == "done"
        cmp = client.get(f"/jobs/{ids[0]}/compare/{ids[1]}")
        assert cmp.status_code == 200, cmp.text
        data = cmp.json()
        assert data["other"]["scenario"] == "API案" and data["changes"]
        assert client.get(f"/jobs/{ids[0]}/compare/{ids[1]}?format=xlsx").content[:2] == b"PK"
        page = client.get(f"/jobs/{ids[0]}/compare/{ids[1]}?format=html")
        assert page.status_code == 200 and "APIサロン" in page.text
        assert client.get(f"/jobs/{ids[0]}/compare/00000000000000000000000000000000").status_code == 422
        assert client.delete("/scenarios/API案").status_code == 204
        assert client.delete("/scenarios/API案").status_code == 404


def test_area_report_shows_the_scenario_beside_now_with_deltas_equal_to_the_job_tables(store, data_dir, scenario):
    """The 中学校区 reports under the scenario: per district, 差 = the scenario job's table − the baseline job's."""
    from api.reports import build_reports, render

    level = "junior_high"
    reports = build_reports(store, level=level, data_dir=data_dir, scenario=scenario["name"])
    assert len(reports) == 7
    base = run_job(store, "salon-gaps", {}, data_dir=data_dir, created_by="planner")
    other = run_job(store, "salon-gaps", {PARAM: scenario["name"]}, data_dir=data_dir, created_by="planner")
    ta = store.job_table(base, "圏域別（徒歩500 m）").set_index("地域ID")
    tb = store.job_table(other, "圏域別（徒歩500 m）").set_index("地域ID")
    shop_a = store.job_table(run_job(store, "shopping-refugees", {}, data_dir=data_dir, created_by="p"),
                             "圏域別の買い物弱者").set_index("地域ID")
    shop_b = store.job_table(run_job(store, "shopping-refugees", {PARAM: scenario["name"]}, data_dir=data_dir,
                                     created_by="p"), "圏域別の買い物弱者").set_index("地域ID")
    gained = 0
    for r in reports:
        ind = r.indicators.set_index("key")
        now, then, delta = (ind.loc["uncovered_elderly_500", c] for c in ("value", "scenario", "delta"))
        assert now == pytest.approx(ta.loc[r.area_id, "未カバー高齢者"])
        assert then == pytest.approx(tb.loc[r.area_id, "未カバー高齢者"])
        assert delta == pytest.approx(round(tb.loc[r.area_id, "未カバー高齢者"] - ta.loc[r.area_id, "未カバー高齢者"], 1))
        gained += delta < 0
        assert ind.loc["refugees_straight", "delta"] == pytest.approx(
            round(shop_b.loc[r.area_id, "買い物弱者（直線）"] - shop_a.loc[r.area_id, "買い物弱者（直線）"], 1))
        assert ind.loc["kind:salon", "scenario"] >= ind.loc["kind:salon", "value"]
        assert any("シナリオ「サロン3か所と閉店」" in n for n in r.notes)
    assert gained >= 1
    html = render(reports, "html").decode("utf-8")
    assert "シナリオ「サロン3か所と閉店」" in html and "差（シナリオ − 現状）" in html
    book = pd.read_excel(io.BytesIO(render(reports, "xlsx")), sheet_name=None, header=None)
    assert len(book) == 7 and any("差（シナリオ − 現状）" in str(v) for v in next(iter(book.values())).to_numpy().ravel())
    with pytest.raises(InputDataError, match="シナリオ「なし」はありません"):
        build_reports(store, level=level, data_dir=data_dir, scenario="なし")
