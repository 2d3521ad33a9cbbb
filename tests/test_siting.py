"""New-salon siting: MCLP / LSCP optima known by hand, greedy baseline, bad input."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
from shapely.geometry import Point, box

from gis.access import StraightLineEngine
from gis.errors import InputDataError
from gis.siting import (
    aggregate_demand,
    candidate_sites,
    coverage_matrix,
    greedy_mclp,
    lscp,
    marginal_gain_curve,
    mclp,
)

# Six demand points p0..p5, four candidates:
#   c0 covers p1 p2 p3 p4 (the middle, weight 6)
#   c1 covers p0 p1 p2   (left, 5)     c2 covers p3 p4 p5 (right, 5)     c3 covers p5 (2)
# k=1: c0 alone (6) is the unique best. k=2: c1+c2 cover everything (10); greedy takes c0 first
# and then only gains 2 (8). LSCP: {c1, c2} is the only 2-site cover, and no single site covers all.
WEIGHTS = np.array([2.0, 1.0, 2.0, 2.0, 1.0, 2.0])
SETS = [[1, 2, 3, 4], [0, 1, 2], [3, 4, 5], [5]]


def _coverage(sets=SETS, n=6) -> np.ndarray:
    c = np.zeros((n, len(sets)), dtype=bool)
    for j, pts in enumerate(sets):
        c[pts, j] = True
    return c


def test_mclp_optimum_by_hand_k1_k2():
    r1 = mclp(WEIGHTS, _coverage(), k=1)
    assert r1.sites == [0] and r1.covered_weight == pytest.approx(6.0)
    assert r1.alternative is None
    r2 = mclp(WEIGHTS, _coverage(), k=2)
    assert sorted(r2.sites) == [1, 2] and r2.covered_weight == pytest.approx(10.0)
    for r in (r1, r2):
        assert r.status == "optimal" and r.optimal
        assert r.mip_gap == 0.0
        assert r.dual_bound == pytest.approx(r.covered_weight)


def test_greedy_is_suboptimal_on_the_constructed_case_and_mclp_never_worse():
    g = greedy_mclp(WEIGHTS, _coverage(), k=2)
    assert g.sites[0] == 0 and g.covered_weight == pytest.approx(8.0)
    assert g.mip_gap is None  # no optimality claim for the heuristic
    curve = marginal_gain_curve(WEIGHTS, _coverage(), k_max=4)
    assert list(curve["k"]) == [1, 2, 3, 4]
    assert list(curve["exact"]) == pytest.approx([6, 10, 10, 10])
    assert list(curve["greedy"]) == pytest.approx([6, 8, 10, 10])
    assert (curve["exact"] >= curve["greedy"] - 1e-9).all()
    assert list(curve["marginal_gain"]) == pytest.approx([6, 4, 0, 0])
    assert curve.loc[1, "greedy_ratio"] == pytest.approx(0.8)
    assert (curve["mip_gap"] == 0).all() and (curve["status"] == "optimal").all()


def test_curve_caps_k_max_at_the_number_of_candidates():
    curve = marginal_gain_curve(WEIGHTS, _coverage(), k_max=10)
    assert curve["k"].max() == 4


def test_slack_k_drops_idle_sites_and_reports_ties():
    r = mclp(WEIGHTS, _coverage(), k=3)
    # c1+c2 already cover everyone: the third site would add nothing
    assert sorted(r.sites) == [1, 2] and r.covered_weight == pytest.approx(10.0)
    assert any("か所目以降は増えません" in n for n in r.notes)
    # {c0, c1, c3} covers everyone too: an equally good layout exists and is reported
    assert r.alternative is not None and sorted(r.alternative) != [1, 2]
    assert any("一つではありません" in n for n in r.notes)


def test_identical_candidates_are_reported_as_a_tie():
    cov = np.hstack([_coverage(), _coverage()[:, [1]]])  # c4 = copy of c1
    r = mclp(WEIGHTS, cov, k=2)
    assert r.covered_weight == pytest.approx(10.0)
    assert r.alternative is not None and set(r.alternative) in ({2, 4}, {1, 2})
    assert lscp(WEIGHTS, cov).alternative is not None


def test_lscp_optimum_by_hand_and_uncoverable_demand_reported():
    r = lscp(WEIGHTS, _coverage())
    assert sorted(r.sites) == [1, 2] and r.objective == 2 and r.mip_gap == 0.0
    assert r.alternative is None
    # a seventh point no candidate reaches: reported, not forced
    w = np.append(WEIGHTS, 3.0)
    cov = np.vstack([_coverage(), np.zeros((1, 4), dtype=bool)])
    r = lscp(w, cov)
    assert r.objective == 2 and r.uncoverable_weight == pytest.approx(3.0)
    assert r.covered_weight == pytest.approx(10.0)
    assert any("カバーできません" in n for n in r.notes)


def test_aggregation_merges_identical_coverage_sets():
    cov = np.vstack([_coverage(), _coverage()[[0, 0, 5]], np.zeros((1, 4), dtype=bool)])
    w = np.concatenate([WEIGHTS, [1.0, 0.0, 4.0, 7.0]])
    agg = aggregate_demand(w, cov)
    # p0 and its copy merge; the zero-weight copy is dropped; p5 and its copy merge; the last is uncoverable
    assert agg.n_points == 9
    assert agg.n_groups == 4  # {c1}, {c0,c1}, {c0,c2}, {c2,c3}: p1/p2 and p3/p4 share sets too
    assert agg.uncoverable_weight == pytest.approx(7.0)
    assert agg.weights.sum() == pytest.approx(WEIGHTS.sum() + 1.0 + 4.0)
    assert agg.group_of_point[0] == agg.group_of_point[6]
    assert agg.group_of_point[7] == -1 and agg.group_of_point[9] == -1
    # same optimum on the aggregated and raw input
    assert mclp(agg, k=2).covered_weight == pytest.approx(mclp(w, cov, k=2).covered_weight)


@pytest.mark.parametrize("k", [0, -1, 2.5])
def test_k_must_be_a_positive_whole_number(k):
    with pytest.raises(InputDataError, match="1 以上の整数"):
        mclp(WEIGHTS, _coverage(), k=k)


def test_k_larger_than_candidates():
    with pytest.raises(InputDataError, match="候補地の数（.* か所）より多い"):
        mclp(WEIGHTS, _coverage(), k=5)
    with pytest.raises(InputDataError, match="候補地の数（.* か所）より多い"):
        greedy_mclp(WEIGHTS, _coverage(), k=5)


def test_no_candidates():
    empty = np.zeros((6, 0), dtype=bool)
    with pytest.raises(InputDataError, match="候補地がありません"):
        mclp(WEIGHTS, empty, k=1)
    with pytest.raises(InputDataError, match="候補地がありません"):
        lscp(WEIGHTS, empty)
    with pytest.raises(InputDataError, match="候補地がありません"):
        candidate_sites(None, kinds=["kominkan"])


def test_bad_weights_and_shape():
    with pytest.raises(InputDataError, match="マイナスでない"):
        mclp([-1.0] * 6, _coverage(), k=1)
    with pytest.raises(InputDataError, match="行ですが、需要点の重みは"):
        mclp(WEIGHTS[:5], _coverage(), k=1)


def test_no_uncovered_demand_is_trivial_not_an_error():
    r = mclp(np.zeros(6), _coverage(), k=2)
    assert r.status == "trivial" and r.covered_weight == 0.0 and r.sites == []


# --- candidates and coverage on points ------------------------------------------------------

CRS = "EPSG:6673"


def _pts(xy, crs=CRS, **cols):
    return gpd.GeoDataFrame(cols, geometry=[Point(x, y) for x, y in xy], crs=crs)


def _resources(xy, kinds, names):
    return _pts(xy, resource_id=[f"r{i}" for i in range(len(xy))], kind=kinds, name=names,
                is_sample=[False] * len(xy)).to_crs("EPSG:4326")


def test_candidates_outside_the_city_are_dropped_by_name():
    city = gpd.GeoDataFrame(geometry=[box(0, 0, 1000, 1000)], crs=CRS)
    res = _resources([(100, 100), (900, 900), (5000, 5000), (500, 500)],
                     ["kominkan", "meeting_hall", "meeting_hall", "school"], ["A館", "B集会所", "遠い集会所", "C小"])
    cand = candidate_sites(res, kinds=["kominkan", "meeting_hall"], boundary=city)
    assert list(cand["name"]) == ["A館", "B集会所"]
    assert cand.attrs["dropped"] == [{"name": "遠い集会所", "reason": "市域の外"}]
    assert any("遠い集会所" in n for n in cand.attrs["notes"])
    # user points: one inside, one outside
    user = _pts([(200, 800), (-300, 0)], name=["空き家", "市外の点"])
    cand = candidate_sites(res, kinds=["kominkan"], user_points=user, boundary=city)
    assert list(cand["name"]) == ["A館", "空き家"] and list(cand["kind"]) == ["kominkan", "user"]
    # nothing left → clear error
    with pytest.raises(InputDataError, match="候補地が残りません"):
        candidate_sites(res, kinds=["meeting_hall"], user_points=None, boundary=gpd.GeoDataFrame(
            geometry=[box(2000, 2000, 3000, 3000)], crs=CRS))


def test_candidates_at_an_existing_salon_are_dropped_and_unknown_kinds_rejected():
    res = _resources([(100, 100), (900, 900)], ["kominkan", "meeting_hall"], ["A館", "B集会所"])
    salons = _pts([(100, 100)], name=["Aサロン"])
    cand = candidate_sites(res, existing=salons, crs=CRS)
    assert list(cand["name"]) == ["B集会所"]
    with pytest.raises(InputDataError, match="候補地の種類 .* はありません"):
        candidate_sites(res, kinds=["castle"])


def test_coverage_matrix_by_hand_and_threshold_checked():
    demand = _pts([(0, 0), (300, 0), (1000, 0)])
    cand = _pts([(0, 400), (1000, 0)])
    eng = StraightLineEngine(crs=CRS)
    m = coverage_matrix(demand, cand, engine=eng, threshold_m=500).toarray()
    # (0,0)-(0,400)=400 ✓; (300,0)-(0,400)=500 ✓ (on the threshold); (1000,0) is on c1
    assert m.tolist() == [[True, False], [True, False], [False, True]]
    for bad in (0, -5):
        with pytest.raises(InputDataError, match="0 より大きいメートル単位の数値"):
            coverage_matrix(demand, cand, engine=eng, threshold_m=bad)
