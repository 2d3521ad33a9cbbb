"""Shopping refugees: MAFF straight line with hand-computed distances, tiers, mobile sales, scenarios, bad input, 高梁市."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from shapely.geometry import Point, box

from gis.access import StraightLineEngine
from gis.errors import InputDataError
from gis.shopping import (
    FOOD_SHOP_KINDS,
    STATUS_MOBILE,
    STATUS_OK,
    STATUS_REFUGEE,
    parse_days,
    refugees_by_tier,
    scenario,
    shopping_access,
)
from gis.tiers import CityProfile, TierLevel

CRS = "EPSG:6673"
X0, Y0 = 10000.0, -133000.0  # near 高梁市 in zone V
ENGINE = StraightLineEngine(crs=CRS)
PROFILE = CityProfile(levels=(TierLevel("neighbourhood", "町丁・字"), TierLevel("kominkan", "公民館区"),
                              TierLevel("city", "市全域")))


def _demand(offsets, elderly, areas, population=None):
    pts = [Point(X0 + dx, Y0 + dy) for dx, dy in offsets]
    population = population or [e * 2 for e in elderly]
    d = gpd.GeoDataFrame({"point_id": range(len(pts)), "area_id": areas, "population": population,
                          "elderly": elderly, "elderly_estimated": False}, geometry=pts, crs=CRS).to_crs("EPSG:4326")
    d.attrs["age_note"] = ""
    return d


def _shops(offsets, kinds=None, ids=None, crs="EPSG:4326"):
    kinds = kinds or ["supermarket"] * len(offsets)
    ids = ids or [f"S{i + 1}" for i in range(len(offsets))]
    g = gpd.GeoDataFrame({"resource_id": ids, "kind": kinds, "name": [f"店{i}" for i in ids], "is_sample": False},
                         geometry=[Point(X0 + dx, Y0 + dy) for dx, dy in offsets], crs=CRS)
    return g.to_crs(crs)


def _areas():
    sq = lambda x: box(X0 + x, Y0 - 1000, X0 + x + 1000, Y0 + 1000)  # noqa: E731
    rows = [("A1", "neighbourhood", "一丁目", "K1", sq(-500)), ("A2", "neighbourhood", "二丁目", "K1", sq(500)),
            ("A3", "neighbourhood", "三丁目", "K2", sq(1500)), ("K1", "kominkan", "東公民館区", "C", sq(-500).union(sq(500))),
            ("K2", "kominkan", "西公民館区", "C", sq(1500)), ("C", "city", "テスト市", None, sq(-500).union(sq(1500)))]
    return gpd.GeoDataFrame([r[:4] for r in rows], columns=["area_id", "level", "name", "parent_id"],
                            geometry=[r[4] for r in rows], crs=CRS).to_crs("EPSG:4326")


# shop at the origin; points at 100, 499, 501, 800 m (east), elderly 10, 20, 30, 40
OFFSETS = [(100, 0), (0, 499), (501, 0), (800, 0)]
ELDERLY = [10.0, 20.0, 30.0, 40.0]
AREAS = ["A1", "A1", "A2", "A2"]


def test_maff_straight_line_hand_computed():
    out = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0)]), engine=ENGINE)
    assert out["shop_distance_m"].to_numpy() == pytest.approx([100, 499, 501, 800], abs=1e-3)
    assert out["refugee"].tolist() == [False, False, True, True]
    assert out["refugees"].tolist() == pytest.approx([0, 0, 30, 40])
    assert out["shop_id"].tolist() == ["S1"] * 4
    # threshold is "500 m or more": a point at exactly the threshold counts
    at = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0)]), engine=ENGINE, threshold_m=501.0 - 1e-6)
    assert at["refugee"].tolist() == [False, False, True, True]
    # car-free share weights refugees, per city or per area
    half = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0)]), engine=ENGINE, car_free_share=0.5)
    assert half["refugees"].sum() == pytest.approx(35)
    per_area = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0)]), engine=ENGINE,
                               car_free_share={"A1": 1.0, "A2": 0.25})
    assert per_area["refugees"].sum() == pytest.approx(17.5)
    assert any("自動車" in n for n in out.attrs["notes"])


def test_only_food_shop_kinds_count():
    shops = _shops([(0, 0), (800, 10)], kinds=["supermarket", "salon"])
    out = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), shops, engine=ENGINE)
    assert out["refugees"].sum() == pytest.approx(70)  # the salon next to the 800 m point is not a shop
    assert "drugstore" in FOOD_SHOP_KINDS  # MAFF 2020 edition
    drug = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0), (800, 10)], kinds=["supermarket", "drugstore"]),
                           engine=ENGINE)
    assert drug["refugees"].sum() == 0  # the drugstore is 299 m and 10 m from the two far points
    assert drug["shop_kind"].tolist() == ["supermarket", "supermarket", "drugstore", "drugstore"]
    without = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0), (800, 10)], kinds=["supermarket", "drugstore"]),
                              engine=ENGINE, shop_kinds=["supermarket"])
    assert without["refugees"].sum() == pytest.approx(70)


def test_tier_table_reconciles_and_shares():
    pts = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0)]), engine=ENGINE)
    table = refugees_by_tier(pts, _areas(), profile=PROFILE)
    row = table.set_index("area_id")
    assert list(table["level"].drop_duplicates()) == ["city", "kominkan", "neighbourhood"]
    assert row.loc["A1", "refugees_straight"] == 0 and row.loc["A2", "refugees_straight"] == pytest.approx(70)
    assert row.loc["K1", "refugees_straight"] == pytest.approx(70)
    assert row.loc["C", "elderly"] == pytest.approx(100) and row.loc["C", "share_straight"] == pytest.approx(0.7)
    # an area with nobody: 0 elderly, share NaN (no division by zero)
    assert row.loc["A3", "elderly"] == 0 and np.isnan(row.loc["A3", "share_straight"]) and row.loc["K2", "refugees_straight"] == 0
    for lv in ("kominkan", "neighbourhood"):
        part = table[table["level"] == lv]
        for col in ("population", "elderly", "refugees_straight", "remaining_straight"):
            assert part[col].sum() == pytest.approx(row.loc["C", col])
    assert "refugees_network" not in table.columns
    assert set(table.attrs["labels"].values()) >= {"買い物弱者（直線）", "65歳以上人口"}


def test_network_figure_side_by_side():
    from gis.network import NetworkEngine, RoadGraph

    # road: shop (0,0) → (400,0) → (400,200); the point at (400,200) is 447 m away in straight line, 600 m by road
    xy = np.array([[X0, Y0], [X0 + 400, Y0], [X0 + 400, Y0 + 200]])
    u, v, w = [0, 1], [1, 2], [400.0, 200.0]
    adj = sp.csr_matrix((w + w, (u + v, v + u)), shape=(3, 3))
    graph = RoadGraph(node_ids=np.arange(3), xy=xy, adjacency=adj, crs=CRS, mode="walk", source="手書き")
    demand = _demand([(400, 200), (100, 0)], [10.0, 5.0], ["A1", "A1"])
    shops = _shops([(0, 0)])
    straight = shopping_access(demand, shops, engine=ENGINE)
    network = shopping_access(demand, shops, engine=NetworkEngine(graph))
    assert straight["shop_distance_m"].iloc[0] == pytest.approx(447.2136, abs=1e-3)
    assert network["shop_distance_m"].iloc[0] == pytest.approx(600.0, abs=1e-3)
    table = refugees_by_tier(straight, _areas(), profile=PROFILE, network_points=network)
    city = table.set_index("area_id").loc["C"]
    assert city["refugees_straight"] == 0 and city["refugees_network"] == pytest.approx(10)
    cols = list(table.columns)
    assert cols.index("refugees_network") == cols.index("share_straight") + 1  # side by side


def test_no_shops_everyone_is_a_refugee_with_a_note():
    d = _demand(OFFSETS, ELDERLY, AREAS)
    empty = _shops([(0, 0)]).iloc[0:0]
    for shops in (None, empty):
        out = shopping_access(d, shops, engine=ENGINE)
        assert out["refugee"].all() and out["refugees"].sum() == pytest.approx(100)
        assert out["shop_distance_m"].isna().all() and not np.isinf(out["shop_distance_m"]).any()
        assert any("食料品店が1件もない" in n for n in out.attrs["notes"])
        table = refugees_by_tier(out, _areas(), profile=PROFILE)
        assert np.isfinite(table["share_straight"].dropna()).all()


def test_shop_layer_in_another_crs_gives_identical_result():
    d = _demand(OFFSETS, ELDERLY, AREAS)
    a = shopping_access(d, _shops([(0, 0), (900, 50)], crs="EPSG:4326"), engine=ENGINE)
    b = shopping_access(d, _shops([(0, 0), (900, 50)], crs=CRS), engine=ENGINE)
    assert a["shop_distance_m"].to_numpy() == pytest.approx(b["shop_distance_m"].to_numpy(), abs=1e-6)
    assert a["refugees"].tolist() == b["refugees"].tolist() and a["shop_id"].tolist() == b["shop_id"].tolist()
    no_crs = _shops([(0, 0)]).set_crs(None, allow_override=True)
    with pytest.raises(InputDataError, match="店のレイヤーに座標系がありません"):
        shopping_access(d, no_crs, engine=ENGINE)


@pytest.mark.parametrize("bad", [0, -5, float("nan"), float("inf"), "abc"])
def test_bad_thresholds(bad):
    d = _demand(OFFSETS, ELDERLY, AREAS)
    with pytest.raises(InputDataError):
        shopping_access(d, _shops([(0, 0)]), engine=ENGINE, threshold_m=bad)
    with pytest.raises(InputDataError):
        shopping_access(d, _shops([(0, 0)]), engine=ENGINE, stop_walk_m=bad)


def test_bad_inputs_say_what_to_do():
    d = _demand(OFFSETS, ELDERLY, AREAS)
    with pytest.raises(InputDataError, match="65歳以上人口の列"):
        shopping_access(d.drop(columns="elderly"), _shops([(0, 0)]), engine=ENGINE)
    with pytest.raises(InputDataError, match="車を使えない人の割合は 0〜1"):
        shopping_access(d, _shops([(0, 0)]), engine=ENGINE, car_free_share=1.5)
    with pytest.raises(InputDataError, match="店の種別「bakery」はありません"):
        shopping_access(d, _shops([(0, 0)]), engine=ENGINE, shop_kinds=["bakery"])
    with pytest.raises(InputDataError, match="曜日は1つの曜日で"):
        shopping_access(d, _shops([(0, 0)]), engine=ENGINE, weekday="someday")


def test_age_notes_come_from_demand_attrs():
    d = _demand(OFFSETS, ELDERLY, AREAS)
    d.attrs["age_note"] = "65歳以上人口は 2 地域で推計しています"
    out = shopping_access(d, _shops([(0, 0)]), engine=ENGINE)
    assert out.attrs["notes"][0] == "65歳以上人口は 2 地域で推計しています"
    d2 = _demand(OFFSETS, [10.0, np.nan, 30.0, np.nan], AREAS)
    out2 = shopping_access(d2, _shops([(0, 0)]), engine=ENGINE)
    assert any("不明な需要点が 2 点" in n for n in out2.attrs["notes"])
    assert refugees_by_tier(out2, _areas(), profile=PROFILE).set_index("area_id").loc["C", "refugees_straight"] == pytest.approx(30)


def test_parse_days():
    assert parse_days(["火", "金"]) == {"火", "金"}
    assert parse_days("毎週火・金") == {"火", "金"}
    assert parse_days("火曜日・金曜日") == {"火", "金"}  # 曜日 is not Sunday
    assert parse_days("第1・3金曜") == {"金"}
    assert parse_days("平日") == {"月", "火", "水", "木", "金"}
    assert parse_days("毎日") == set("月火水木金土日")
    assert parse_days("Tue, Fri") == {"火", "金"}
    assert parse_days("") is None and parse_days(None) is None and parse_days("未定") is None


def _stops(days, offset=(800, 250)):
    return gpd.GeoDataFrame({"resource_id": ["M1"], "kind": ["mobile_sales_stop"], "name": ["移動販売"],
                             "attributes": [{"days": days}]},
                            geometry=[Point(X0 + offset[0], Y0 + offset[1])], crs=CRS)


def test_mobile_sales_stop_days():
    d = _demand(OFFSETS, ELDERLY, AREAS)
    shops = _shops([(0, 0)])
    # stop 250 m from the 800 m point, 380.8 m from the 501 m point: only the 800 m point is served (300 m walk)
    any_day = shopping_access(d, shops, engine=ENGINE, mobile_stops=_stops("毎週火・金"))
    assert any_day["served_mobile"].tolist() == [False, False, False, True]
    assert any_day["served_refugees"].sum() == pytest.approx(40) and any_day["remaining"].sum() == pytest.approx(30)
    assert any_day["refugees"].sum() == pytest.approx(70)  # still counted as refugees, separately served
    assert shopping_access(d, shops, engine=ENGINE, mobile_stops=_stops("毎週火・金"), weekday="火")["served_mobile"].sum() == 1
    assert shopping_access(d, shops, engine=ENGINE, mobile_stops=_stops("毎週火・金"), weekday="水")["served_mobile"].sum() == 0
    assert shopping_access(d, shops, engine=ENGINE, mobile_stops=_stops(["火", "金"]), weekday=4)["served_mobile"].sum() == 1
    wide = shopping_access(d, shops, engine=ENGINE, mobile_stops=_stops("毎週火・金"), stop_walk_m=400)
    assert wide["served_mobile"].tolist() == [False, False, True, True]
    unknown = shopping_access(d, shops, engine=ENGINE, mobile_stops=_stops(None), weekday="火")
    assert unknown["served_mobile"].sum() == 0 and any("運行曜日が不明" in n for n in unknown.attrs["notes"])
    assert shopping_access(d, shops, engine=ENGINE, mobile_stops=_stops(None))["served_mobile"].sum() == 1


def test_scenario_close_shop_creates_refugees_exactly_there():
    # S1 at the origin, S2 3 km east; points near S2 at 200 and 450 m, one near S1
    d = _demand([(100, 0), (3200, 0), (3000, 450)], [10.0, 20.0, 30.0], ["A1", "A3", "A3"])
    shops = _shops([(0, 0), (3000, 0)])
    res = scenario(d, shops, engine=ENGINE, areas=_areas(), profile=PROFILE, close_shop_ids=["S2"])
    assert sorted(res.changed["point_id"]) == [1, 2]
    assert set(res.changed["status_before"]) == {STATUS_OK} and set(res.changed["status_after"]) == {STATUS_REFUGEE}
    t = res.table.set_index("area_id")
    assert t.loc["A3", "refugees_before"] == 0 and t.loc["A3", "refugees_after"] == pytest.approx(50)
    assert t.loc["A1", "refugees_change"] == 0 and t.loc["C", "refugees_change"] == pytest.approx(50)
    # adding a stop near one of them serves only that one
    res2 = scenario(d, shops, engine=ENGINE, areas=_areas(), profile=PROFILE, close_shop_ids=["S2"],
                    add_stops=[{"name": "新停留所", "lon": float(d.geometry.x[1]), "lat": float(d.geometry.y[1]), "days": "火"}])
    st = dict(zip(res2.changed["point_id"], res2.changed["status_after"]))
    assert st == {1: STATUS_MOBILE, 2: STATUS_REFUGEE}
    assert res2.table.set_index("area_id").loc["C", "remaining_after"] == pytest.approx(30)
    # adding a shop next to the far point: it is no longer a refugee
    res3 = scenario(d, _shops([(0, 0)]), engine=ENGINE, areas=_areas(), profile=PROFILE,
                    add_shops=[{"name": "新店", "lon": float(d.geometry.x[2]), "lat": float(d.geometry.y[2])}])
    assert res3.changed["point_id"].tolist() == [1, 2]  # the new shop is 492 m from point 1 too
    assert res3.after.loc[2, "refugee"] == False  # noqa: E712
    with pytest.raises(InputDataError, match="閉じる食料品店の ID「S9」が見つかりません"):
        scenario(d, shops, engine=ENGINE, areas=_areas(), profile=PROFILE, close_shop_ids=["S9"])
    with pytest.raises(InputDataError, match="の位置（経度 34.8、緯度 133.6）が日本の外です"):
        scenario(d, shops, engine=ENGINE, areas=_areas(), profile=PROFILE, add_stops=[{"name": "x", "lon": 34.8, "lat": 133.6}])


def test_shopping_layers_render():
    from layers.maps import render_html
    from layers.shopping import shopping_map

    pts = shopping_access(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0)]), engine=ENGINE, mobile_stops=_stops("火"))
    table = refugees_by_tier(pts, _areas(), profile=PROFILE, network_points=pts)
    res = scenario(_demand(OFFSETS, ELDERLY, AREAS), _shops([(0, 0)]), engine=ENGINE, areas=_areas(), profile=PROFILE,
                   close_shop_ids=["S1"])
    m = shopping_map(tier_table=table, areas=_areas(), profile=PROFILE, shops=_shops([(0, 0)]), city_name="テスト市",
                     threshold_m=500, mobile_stops=_stops("火"), changed=res.changed, notes=["注記です"])
    names = [c.layer_name for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    for name in ("買い物弱者の割合：公民館区（直線）", "買い物弱者の割合：公民館区（道路網）",
                 "移動販売停留所（徒歩 300 m の目安円）", "シナリオで変わる地点（2 地点）", "スーパーマーケット（1件）"):
        assert name in names
    html = render_html(m)
    for text in ("注記です", "買い物弱者の割合（65歳以上に占める）", "移動販売停留所", "悪化（買い物弱者になる）"):
        assert text in html
    assert "cdn.jsdelivr" not in html


# --- real data: 高梁市 end to end through the registered job ---------------------------------


@pytest.fixture(scope="module")
def takahashi(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    store = open_store(str(tmp_path_factory.mktemp("shopping") / "t.gpkg"))
    build_city_workspace(store, data_dir=data_dir)
    yield store
    store.close()


def test_takahashi_shopping_and_catchments_end_to_end(takahashi, data_dir):
    import api.analyses.catchments  # noqa: F401 - registers the jobs
    import api.analyses.shopping  # noqa: F401
    from api.analyses.base import REGISTRY

    seen = []
    spec = REGISTRY["shopping-refugees"]
    res = spec.run(takahashi, spec.params(), progress=lambda f, m: seen.append((f, m)), data_dir=data_dir)
    table = res.tables["圏域別の買い物弱者"]
    lab = table.attrs["labels"]
    by = dict(tuple(table.groupby(lab["level_label"])))
    city = by["市全域"].iloc[0]
    assert city[lab["population"]] == pytest.approx(34963, abs=0.1)
    for level, part in by.items():
        for col in ("population", "elderly", "refugees_straight"):
            assert part[lab[col]].sum() == pytest.approx(city[lab[col]], abs=0.05 * len(part) + 0.1), (level, col)
    s = res.summary
    assert 0 < s["refugees_straight"] < s["elderly"]
    assert s["share_straight"] == pytest.approx(s["refugees_straight"] / s["elderly"], abs=1e-3)
    if "道路網" in s["engine"]:
        assert isinstance(s["refugees_network"], float)
    else:
        assert s["refugees_network"] == "道路網なし"
        assert (table[lab["refugees_network"]] == "道路網なし").all()
        assert any("直線距離で計算しました" in n for n in res.notes)
    assert any("65歳以上" in n for n in res.notes) and "買い物弱者マップ" in res.map_html
    assert seen[-1][0] == 1.0 and all(isinstance(m, str) for _, m in seen)

    spec = REGISTRY["catchments"]
    for by_, uncovered in (("given", "shopping"), ("nearest", "none")):
        # a 250 m mesh keeps this test fast; the 100 m figures are checked above
        res = spec.run(takahashi, spec.params(by=by_, uncovered=uncovered, cell_size_m=250),
                       progress=lambda f, m: None, data_dir=data_dir)
        work = res.tables["拠点ごとの負担"]
        assert len(work) == 7 and work["人口"].sum() == pytest.approx(34963, abs=0.5)
        assert work["65歳以上人口"].sum() == pytest.approx(s["elderly"], abs=0.5)
        assert (work["サンプルデータ"] == "はい").all() and "サンプル" in res.map_html
        assert (work["最も遠い世帯までの距離（m）"] > 0).all() and (work["面積（km²）"] > 0).all()
        assert work["高齢単身世帯数"].isna().all() and any("高齢単身世帯数" in n for n in res.notes)
        assert res.summary["unclaimed"] == [] and res.summary["double_claimed"] == []
        if uncovered == "shopping":
            unc = work["未カバーの高齢者（買い物弱者・直線500 m）"]
            assert 0 < unc.sum() < work["65歳以上人口"].sum()
        else:
            assert work["未カバーの高齢者"].isna().all()
