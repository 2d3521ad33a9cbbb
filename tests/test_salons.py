"""Salon coverage: nearest salon per demand point, tier table that reconciles, no salons, bad thresholds, 高梁市 jobs."""

from __future__ import annotations

import math

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Point, box

from gis.access import StraightLineEngine
from gis.errors import InputDataError
from gis.salons import NO_SALONS_NOTE, coverage_by_tier, reconcile_tiers, salon_catchments, salon_coverage
from gis.tiers import CityProfile, TierLevel

CRS = "EPSG:6673"
ENGINE = StraightLineEngine(crs=CRS)
PROFILE = CityProfile(levels=(TierLevel("neighbourhood", "町丁・字"), TierLevel("kominkan", "公民館区"),
                              TierLevel("city", "市全域")))


def _pts(xy, **cols) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(cols, geometry=[Point(x, y) for x, y in xy], crs=CRS).to_crs("EPSG:4326")


def _areas() -> gpd.GeoDataFrame:
    """Four 字 (n1..n4) in two 公民館区 (k1 = n1+n2, k2 = n3+n4) in one city, plus an empty 字 n5 in k2."""
    rows = [
        ("n1", "neighbourhood", "一丁目", "k1", box(0, 0, 1000, 1000)),
        ("n2", "neighbourhood", "二丁目", "k1", box(1000, 0, 2000, 1000)),
        ("n3", "neighbourhood", "三丁目", "k2", box(0, 1000, 1000, 2000)),
        ("n4", "neighbourhood", "四丁目", "k2", box(1000, 1000, 2000, 2000)),
        ("n5", "neighbourhood", "無人地", "k2", box(2000, 1000, 3000, 2000)),
        ("k1", "kominkan", "南公民館区", "c", box(0, 0, 2000, 1000)),
        ("k2", "kominkan", "北公民館区", "c", box(0, 1000, 3000, 2000)),
        ("c", "city", "テスト市", None, box(0, 0, 3000, 2000)),
    ]
    return gpd.GeoDataFrame([r[:4] for r in rows], columns=["area_id", "level", "name", "parent_id"],
                            geometry=[r[4] for r in rows], crs=CRS).to_crs("EPSG:4326")


# Demand: one salon at (500, 500). Distances by hand: d0 = 0, d1 = 400, d2 = 800, d3 = 1500, d4 = 500√2+…
DEMAND_XY = [(500, 500), (900, 500), (1300, 500), (500, 2000 - 0.0), (1500, 1500)]
DIST = [0.0, 400.0, 800.0, 1500.0, math.hypot(1000, 1000)]


def _demand() -> gpd.GeoDataFrame:
    return _pts(DEMAND_XY, point_id=range(5), area_id=["n1", "n1", "n2", "n3", "n4"],
                population=[10.0, 20.0, 30.0, 40.0, 50.0], elderly=[4.0, 8.0, 12.0, 16.0, 0.0])


def _salons() -> gpd.GeoDataFrame:
    return _pts([(500, 500)], resource_id=["s1"], name=["一丁目サロン"], is_sample=[True])


def test_coverage_distances_and_flags_by_hand():
    cov = salon_coverage(_demand(), _salons(), engine=ENGINE, thresholds_m=[1000, 500])
    assert cov["salon_distance_m"].to_numpy() == pytest.approx(DIST, abs=1e-3)
    assert list(cov["covered_500"]) == [True, True, False, False, False]
    assert list(cov["covered_1000"]) == [True, True, True, False, False]
    assert set(cov["salon_name"]) == {"一丁目サロン"} and set(cov["salon_id"]) == {"s1"}
    assert cov.attrs["thresholds_m"] == [500.0, 1000.0]
    assert cov.attrs["notes"] == []


def test_tier_table_by_hand_and_reconciles():
    cov = salon_coverage(_demand(), _salons(), engine=ENGINE, thresholds_m=[500])
    areas = _areas()
    t = coverage_by_tier(cov, areas, profile=PROFILE, threshold_m=500)
    # every area of every level, once
    assert len(t) == len(areas)
    assert set(zip(t["level"], t["area_id"])) == set(zip(areas["level"], areas["area_id"]))
    row = t.set_index("area_id")
    assert row.loc["n1", ["elderly", "covered_elderly", "uncovered_elderly"]].tolist() == [12.0, 12.0, 0.0]
    assert row.loc["k1", ["population", "elderly", "covered_elderly", "uncovered_elderly"]].tolist() == [60, 24, 12, 12]
    assert row.loc["k2", ["population", "elderly", "uncovered_elderly"]].tolist() == [90, 16, 16]
    assert row.loc["c", ["population", "elderly", "uncovered_elderly"]].tolist() == [150, 40, 28]
    assert row.loc["k1", "uncovered_share"] == pytest.approx(0.5)
    # areas with no elderly: share is NaN, not an error (n4 has 50 people but 0 elderly; n5 nobody)
    assert np.isnan(row.loc["n4", "uncovered_share"]) and np.isnan(row.loc["n5", "uncovered_share"])
    assert row.loc["n5", "population"] == 0
    # worst 公民館区 first (k2: 16 uncovered > k1: 12), then the other levels
    assert list(t["level"][:2]) == ["kominkan", "kominkan"] and list(t["area_id"][:2]) == ["k2", "k1"]
    assert list(dict.fromkeys(t["level"])) == ["kominkan", "neighbourhood", "city"]
    assert reconcile_tiers(t, profile=PROFILE).empty
    assert t.attrs["labels"]["uncovered_elderly"] == "未カバー高齢者"


def test_reconcile_flags_a_parent_that_does_not_add_up():
    cov = salon_coverage(_demand(), _salons(), engine=ENGINE, thresholds_m=[500])
    t = coverage_by_tier(cov, _areas(), profile=PROFILE, threshold_m=500)
    t.loc[t["area_id"] == "k1", "elderly"] += 1
    bad = reconcile_tiers(t, profile=PROFILE)
    assert set(bad["area_id"]) == {"k1", "c"}


def test_no_salons_everyone_uncovered_with_note():
    empty = _salons().iloc[0:0]
    cov = salon_coverage(_demand(), empty, engine=ENGINE)
    assert cov["salon_distance_m"].isna().all()
    assert not np.isinf(cov["salon_distance_m"].to_numpy(dtype=float)).any()
    assert not cov["covered_500"].any() and not cov["covered_1000"].any()
    assert cov["salon_id"].isna().all()
    assert NO_SALONS_NOTE in cov.attrs["notes"]
    t = coverage_by_tier(cov, _areas(), profile=PROFILE, threshold_m=500)
    assert (t["covered_elderly"] == 0).all()
    assert (t["uncovered_elderly"] == t["elderly"]).all()
    shares = t.set_index("area_id")["uncovered_share"]
    assert shares["c"] == 1.0 and np.isnan(shares["n5"])
    assert NO_SALONS_NOTE in t.attrs["notes"]
    assert reconcile_tiers(t, profile=PROFILE).empty


@pytest.mark.parametrize("bad", [0, -500, float("nan"), float("inf")])
def test_threshold_must_be_positive(bad):
    with pytest.raises(InputDataError, match="0 より大きいメートル単位の数値"):
        salon_coverage(_demand(), _salons(), engine=ENGINE, thresholds_m=[500, bad])
    cov = salon_coverage(_demand(), _salons(), engine=ENGINE)
    with pytest.raises(InputDataError, match="0 より大きいメートル単位の数値"):
        coverage_by_tier(cov, _areas(), profile=PROFILE, threshold_m=bad)


def test_orphan_area_is_reported_not_silently_lost():
    areas = _areas()
    areas.loc[areas["area_id"] == "n2", "parent_id"] = None
    cov = salon_coverage(_demand(), _salons(), engine=ENGINE)
    with pytest.raises(InputDataError, match="にも入っていません"):
        coverage_by_tier(cov, areas, profile=PROFILE, threshold_m=500)


def test_straight_line_catchment_is_a_circle_of_the_threshold():
    c = salon_catchments(_salons(), engine=ENGINE, threshold_m=500)
    area = c.to_crs(CRS).area.iloc[0]
    assert area == pytest.approx(math.pi * 500**2, rel=0.01)
    assert bool(c["is_sample"].iloc[0])


# --- real data: 高梁市 end to end through the registered jobs -------------------------------


@pytest.fixture(scope="module")
def takahashi(tmp_path_factory, data_dir):
    from api.importing import build_city_workspace
    from api.store.connect import open_store

    path = tmp_path_factory.mktemp("salons") / "t.gpkg"
    store = open_store(str(path))
    build_city_workspace(store, data_dir=data_dir)
    yield store
    store.close()


def test_takahashi_jobs_end_to_end(takahashi, data_dir):
    import api.analyses.salons  # noqa: F401 - registers the jobs
    from api.analyses.base import REGISTRY

    seen = []

    def progress(fraction, message):
        seen.append((fraction, message))

    gaps = REGISTRY["salon-gaps"]
    res = gaps.run(takahashi, gaps.params(cell_size_m=200), progress=progress, data_dir=data_dir)
    assert list(res.tables) == ["圏域別（徒歩500 m）", "圏域別（徒歩1000 m）"]
    t500 = res.tables["圏域別（徒歩500 m）"]
    labels = t500.attrs["labels"]
    assert t500.iloc[0][labels["level_label"]] == "公民館区"
    # points sum to census; parents = sum of children (1-decimal rounding allowed)
    by = {lv: part for lv, part in t500.groupby(labels["level_label"])}
    city = by["市全域"].iloc[0]
    assert city[labels["population"]] == pytest.approx(34963, abs=0.1)
    for level in ("公民館区", "近隣・自治会（町丁・字）", "中学校区（日常生活圏域）"):
        part = by[level]
        for col in ("population", "elderly", "covered_elderly", "uncovered_elderly"):
            assert part[labels[col]].sum() == pytest.approx(city[labels[col]], abs=0.05 * len(part) + 0.1)
    assert all(v["reconciles"] for v in res.summary["by_threshold"].values())
    u500 = res.summary["by_threshold"]["500"]["uncovered_elderly"]
    u1000 = res.summary["by_threshold"]["1000"]["uncovered_elderly"]
    assert 0 < u1000 < u500 < res.summary["by_threshold"]["500"]["elderly"]
    assert any("サンプル" in n for n in res.notes) and any("65歳以上" in n for n in res.notes)
    assert "未カバー高齢者" in res.map_html and "サンプルデータ" in res.map_html
    assert seen[-1][0] == 1.0 and all(isinstance(m, str) for _, m in seen)

    sites = REGISTRY["salon-sites"]
    res = sites.run(takahashi, sites.params(k=3, k_max=5, cell_size_m=200), progress=progress, data_dir=data_dir)
    mclp, greedy = res.summary["mclp"], res.summary["greedy"]
    assert mclp["status"] == "optimal" and mclp["mip_gap"] == 0.0
    assert mclp["covered_weight"] >= greedy["covered_weight"] - 1e-6
    assert len(res.tables["選ばれた候補地"]) == 3
    curve = res.tables["か所数と効果"]
    assert list(curve["か所数 k"]) == [1, 2, 3, 4, 5]
    assert (curve["最適解でカバー（人）"] >= curve["貪欲法でカバー（人）"] - 0.05).all()
    assert (curve["最適性ギャップ"] == 0).all()
    assert curve["最適解でカバー（人）"].iloc[2] == pytest.approx(mclp["covered_weight"], abs=0.05)
    assert res.summary["demand_groups"] < res.summary["demand_points"]
    assert "新しいサロンの候補" in res.map_html

    with pytest.raises(InputDataError, match="候補地の数（.* か所）より多い"):
        sites.run(takahashi, sites.params(k=500), progress=progress, data_dir=data_dir)
    # out-of-range parameters are refused before any job starts, naming the field
    from api.jobs import validate_params

    for spec, bad, field in ((sites, {"k": 0}, "k"), (sites, {"threshold_m": 0}, "threshold_m"),
                             (sites, {"k": -3}, "k"), (gaps, {"thresholds_m": [500, -1]}, "thresholds_m.1")):
        with pytest.raises(InputDataError, match="(より大きい|以上の)値を入力してください") as info:
            validate_params(spec, bad)
        assert info.value.as_dict()["feature"] == field
