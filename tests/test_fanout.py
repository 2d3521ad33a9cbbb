"""The per-municipality fan-out on a Dask LocalCluster: two small real municipalities, one failing run."""

from __future__ import annotations

import json

import _fake_analysis as fake
import openpyxl
import pandas as pd
import pytest
from _paths import require_data_dir

from api.fanout import combine, expected_work, run_all_municipalities
from api.importing import list_municipalities
from gis import opendata
from gis.errors import InputDataError

pytestmark = pytest.mark.realdata


def test_two_municipalities_on_one_worker_one_without_a_result(tmp_path):
    data = require_data_dir()
    seen = []
    result = run_all_municipalities(fake.NAME, {"level": "city", "fail_city": "33445"}, data_dir=data,
                                    out_dir=tmp_path, workers=1, codes=["33445", "33209"], progress=seen.append)
    assert sorted(o["code"] for o in seen) == ["33209", "33445"]  # every outcome reported as it completed
    table = result.table
    assert list(table.columns[:4]) == ["市区町村コード", "市区町村名", "状態", "エラー"]
    assert table["市区町村コード"].tolist() == ["33445", "33209"]  # in the order asked for
    assert table["市区町村名"].tolist() == ["浅口郡里庄町", "高梁市"]
    # 里庄町's data cannot answer: one row saying why, the run went on
    assert table["状態"].tolist() == ["結果なし（理由あり）", "完了"]
    assert "サロンの位置データがありません" in table["エラー"].iloc[0] and table["エラー"].iloc[1] == ""
    assert pd.isna(table["人口"].iloc[0])
    # 高梁市: the fake analysis' main table is the city-level area with its census population
    assert int(table["人口"].iloc[1]) == 34963 and table["地域名"].iloc[1] == "高梁市"
    assert result.runs["状態"].tolist() == ["結果なし（理由あり）", "完了"]
    assert any("1 市区町村はデータが足りず" in n and "浅口郡里庄町" in n for n in result.notes)
    assert not any("失敗" in n for n in result.notes)
    assert "テスト用の解析です" in result.notes

    csv = pd.read_csv(result.paths["csv"], encoding="utf-8-sig", dtype=str)
    assert result.paths["csv"].read_bytes().startswith(b"\xef\xbb\xbf")
    assert csv["市区町村名"].tolist() == ["浅口郡里庄町", "高梁市"]
    book = openpyxl.load_workbook(result.paths["xlsx"])
    assert book.sheetnames[:2] == ["結合表", "実行状況"]
    assert [c.value for c in book["実行状況"][1]][:3] == ["市区町村コード", "市区町村名", "状態"]
    for code in ("33209", "33445"):
        assert (tmp_path / "workspaces" / f"{code}.gpkg").exists()
    assert (tmp_path / "cities" / "33209-高梁市" / "areas.csv").exists()
    assert not (tmp_path / "cities" / "33445-浅口郡里庄町").exists()


def test_an_unexpected_error_is_a_failed_row_not_the_end_of_the_run(tmp_path):
    data = require_data_dir()
    result = run_all_municipalities(fake.NAME, {"level": "city", "crash_city": "33445"}, data_dir=data,
                                    out_dir=tmp_path, workers=1, codes=["33445"], progress=False)
    assert result.runs["状態"].tolist() == ["失敗"]
    assert result.runs["エラー"].iloc[0].startswith("内部エラー（ZeroDivisionError）")
    assert any("1 市区町村で失敗" in n for n in result.notes)


def test_bad_input_fails_before_any_cluster(tmp_path):
    data = require_data_dir()
    with pytest.raises(InputDataError, match="min_population"):
        run_all_municipalities(fake.NAME, {"min_population": -1}, data_dir=data, out_dir=tmp_path)
    with pytest.raises(InputDataError, match="99999"):
        run_all_municipalities(fake.NAME, {}, data_dir=data, out_dir=tmp_path, codes=["99999"])
    with pytest.raises(InputDataError, match="workers"):
        run_all_municipalities(fake.NAME, {}, data_dir=data, out_dir=tmp_path, workers=0)


def test_combine_keeps_failed_rows_beside_results():
    ok = pd.DataFrame({"area_id": ["a"], "population": [5]})
    ok.attrs["labels"] = {"population": "人口"}
    table = combine([
        {"code": "1", "name": "甲市", "status": "done", "error": None, "table": ok},
        {"code": "2", "name": "乙町", "status": "failed", "error": "データなし", "table": None},
    ])
    assert table.columns.tolist() == ["市区町村コード", "市区町村名", "状態", "エラー", "area_id", "人口"]
    assert table["状態"].tolist() == ["完了", "失敗"] and table["エラー"].tolist() == ["", "データなし"]
    assert pd.isna(table["人口"].iloc[1])


def test_salon_sites_ends_with_a_result_or_a_reason_for_small_towns(tmp_path):
    """Real salon-sites, k=5: 浅口市 has fewer candidate sites (k fitted, said), 早島町 has no 公民館 (a reason)."""
    data = require_data_dir()
    result = run_all_municipalities("salon-sites", {"k": 5, "k_max": 5}, data_dir=data, out_dir=tmp_path, workers=1,
                                    codes=["33216", "33423"], progress=False)
    runs = result.runs.set_index("市区町村コード")
    assert runs.loc["33216", "状態"] == "完了", runs.loc["33216", "エラー"]
    assert runs.loc["33423", "状態"] == "結果なし（理由あり）"
    assert runs.loc["33423", "エラー"].startswith("候補地がありません")
    fitted = [n for n in result.notes if "新しいサロンの数を k=5 から" in n]
    assert fitted, result.notes
    chosen = result.table[result.table["市区町村コード"] == "33216"]
    n_fitted = int(fitted[0].split("から ")[1].split(" に")[0])
    assert 1 <= n_fitted < 5 and len(chosen) == n_fitted


def test_a_town_without_shop_data_says_so_instead_of_100_percent(tmp_path):
    """早島町 has no food-permit file: shopping-refugees ends as 店舗データなし, not 100 % 完了; 笠岡市 has shops."""
    data = require_data_dir()
    result = run_all_municipalities("shopping-refugees", {}, data_dir=data, out_dir=tmp_path,
                                    workers=1, codes=["33205", "33423"], progress=False)
    runs = result.runs.set_index("市区町村コード")
    assert runs.loc["33423", "状態"] == "結果なし（理由あり）"
    assert runs.loc["33423", "エラー"].startswith("店舗データなし")
    assert runs.loc["33205", "状態"] == "完了", runs.loc["33205", "エラー"]
    town = result.table[result.table["市区町村コード"].astype(str) == "33423"]
    shares = [c for c in result.table.columns if "割合" in c]
    assert shares and town[shares].isna().all().all()  # a stated reason, no share at all
    kasaoka = result.table[result.table["市区町村コード"].astype(str) == "33205"]
    assert kasaoka[shares].notna().any().any()


def test_catchments_do_not_need_food_shops(tmp_path):
    """早島町 has no food-permit file and no 公民館: its catchment is still drawn, only the shopping column is blank."""
    data = require_data_dir()
    opendata.clear_parsed()  # as a new process: the shared files are parsed and their copies written
    result = run_all_municipalities("catchments", {}, data_dir=data, out_dir=tmp_path, workers=1,
                                    codes=["33423", "33205"], progress=False, cache_dir=tmp_path / "cache")
    assert result.opendata == {"kept": 0, "copy": 0, "parsed": 4}  # N03, small areas, A27, A32
    assert len(list((tmp_path / "cache").glob("*.pickle"))) == 4
    # each city's seconds are kept for the next run's order (the longest first)
    kept = json.loads((tmp_path / "cache" / "fanout-seconds.json").read_text(encoding="utf-8"))
    assert set(kept["catchments"]) == {"33423", "33205"} and all(v > 0 for v in kept["catchments"].values())
    runs = result.runs.set_index("市区町村コード")
    assert runs.loc["33423", "状態"] == "完了", runs.loc["33423", "エラー"]
    assert runs.loc["33205", "状態"] == "完了", runs.loc["33205", "エラー"]
    column = "未カバーの高齢者（買い物弱者・直線500 m）"
    town = result.table[result.table["市区町村コード"] == "33423"]
    assert len(town) >= 1 and town["人口"].astype(float).sum() > 10_000  # 早島町: about 12,000 people
    assert town[column].isna().all()  # no shop: blank, never 100 % of the elderly
    kasaoka = result.table[result.table["市区町村コード"] == "33205"]
    assert kasaoka[column].astype(float).sum() > 0  # 笠岡市 has shops: counted
    assert any(n.startswith("店舗データなし：都窪郡早島町") and "空欄" in n for n in result.notes), result.notes
    assert any("人口重心に仮に置いています" in n for n in result.notes), result.notes  # the fallback is said
    assert list((tmp_path / "cities" / "33423-都窪郡早島町").glob("*.html"))  # its catchment map
    # the run's time spans: every city ran once on a worker; the shared parse is gone with the run
    assert sorted(result.tasks["code"]) == ["33205", "33423"]
    assert (result.tasks["end"] > result.tasks["start"]).all() and result.tasks["worker"].notna().all()
    t = result.timeline
    assert t["listed"] <= t["parsed"] <= t["submitting"] and t["cluster"] <= t["submitting"] <= t["first_start"]
    assert t["first_start"] <= t["last_end"] <= t["results"]
    assert t["results"] <= t["written"] <= t["closed"] <= result.wall_seconds
    assert not (tmp_path / ".parsed-opendata.pickle").exists()


def test_every_city_ends_with_its_result_or_its_reason(tmp_path):
    """The per-city table: one row per city asked, each 完了 or 結果なし with the reason (salon-sites: 里庄町 has no 公民館)."""
    data = require_data_dir()
    result = run_all_municipalities("salon-sites", {}, data_dir=data, out_dir=tmp_path, workers=2,
                                    codes=["33445", "33216", "33209"], progress=False)
    runs = result.runs
    assert runs["市区町村コード"].tolist() == ["33445", "33216", "33209"]
    assert set(runs["状態"]) <= {"完了", "結果なし（理由あり）"}, runs[["状態", "エラー"]]
    reasons = runs[runs["状態"] != "完了"]
    assert reasons["エラー"].str.len().gt(0).all()
    assert runs.set_index("市区町村コード").loc["33445", "状態"] == "結果なし（理由あり）"
    assert (runs[runs["状態"] == "完了"]["行数"] > 0).all()
    assert set(result.table["市区町村コード"]) == {"33445", "33216", "33209"}  # every city in the combined table too
    assert result.tasks["worker"].nunique() <= 2


def test_the_longest_cities_start_first_by_land_and_small_areas_not_people():
    """新見市 (793 km², a fourteenth of 倉敷市's people) takes as long as the big cities: it starts with them."""
    table = list_municipalities(require_data_dir())
    work = expected_work(table)
    names = dict(zip(table["code"], table["name"], strict=True))
    order = [names[c] for c in sorted(work, key=lambda c: -work[c])]
    assert set(order[:3]) == {"倉敷市", "高梁市", "新見市"}, order
    assert set(order[-2:]) == {"都窪郡早島町", "浅口郡里庄町"}, order
    assert sum(work.values()) == pytest.approx(2.0)


def test_the_next_run_starts_the_cities_that_took_longest_last_time(tmp_path):
    data = require_data_dir()
    cache = tmp_path / "cache"
    cache.mkdir()
    # as if 里庄町 had taken longest last time: it is submitted first although it is the smallest
    (cache / "fanout-seconds.json").write_text(json.dumps({fake.NAME: {"33445": 9.0, "33209": 1.0}}), encoding="utf-8")
    result = run_all_municipalities(fake.NAME, {"level": "city"}, data_dir=data, out_dir=tmp_path / "out", workers=1,
                                    codes=["33209", "33445"], progress=False, cache_dir=cache)
    tasks = result.tasks.set_index("code")
    assert tasks.loc["33445", "start"] < tasks.loc["33209", "start"]
    kept = json.loads((cache / "fanout-seconds.json").read_text(encoding="utf-8"))[fake.NAME]
    assert kept["33445"] < 9.0 and kept["33209"] > 0  # this run's seconds now
