"""Station catchments on a synthetic row of four 1 km squares: given vs nearest, claims reported, workload, polygons."""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import Point, box

from gis.access import StraightLineEngine
from gis.catchments import area_ancestors, assign_catchments, catchment_polygons, station_workload
from gis.errors import InputDataError
from gis.tiers import CityProfile, TierLevel

CRS = "EPSG:6673"
X0, Y0 = 10000.0, -133000.0
ENGINE = StraightLineEngine(crs=CRS)
PROFILE = CityProfile(levels=(TierLevel("neighbourhood", "町丁・字"), TierLevel("junior_high", "中学校区"),
                              TierLevel("city", "市全域")))


def _sq(i):
    return box(X0 + 1000 * i, Y0, X0 + 1000 * (i + 1), Y0 + 1000)


def _areas(single=(1, 2, 3, 4)):
    rows = [(f"N{i + 1}", "neighbourhood", f"{i + 1}丁目", "J1" if i < 2 else "J2", 100 * (i + 1), single[i], _sq(i))
            for i in range(4)]
    rows += [("J1", "junior_high", "東中学校区", "C", 300, None, _sq(0).union(_sq(1))),
             ("J2", "junior_high", "西中学校区", "C", 700, None, _sq(2).union(_sq(3))),
             ("C", "city", "テスト市", None, 1000, None, _sq(0).union(_sq(3)).envelope)]
    return gpd.GeoDataFrame([r[:6] for r in rows], columns=["area_id", "level", "name", "parent_id", "population",
                                                             "single_elderly_households"],
                            geometry=[r[6] for r in rows], crs=CRS).to_crs("EPSG:4326")


def _stations(claims):
    # S1 at the centre of N1, S2 at the centre of N4 (and S3, when given, at the centre of N2)
    xs = [500, 3500, 1500]
    return gpd.GeoDataFrame(
        {"station_id": [f"S{i + 1}" for i in range(len(claims))], "name": [f"拠点{i + 1}" for i in range(len(claims))],
         "kind": "comprehensive_support_center", "area_ids": claims, "is_sample": True},
        geometry=[Point(X0 + xs[i], Y0 + 500) for i in range(len(claims))], crs=CRS,
    ).to_crs("EPSG:4326")


def _demand():
    # one point at each square's centre and one at its far east edge (x + 950): population 60/40 split
    pts, ids, pop, old = [], [], [], []
    for i in range(4):
        for dx, share in ((500, 0.6), (950, 0.4)):
            pts.append(Point(X0 + 1000 * i + dx, Y0 + 500))
            ids.append(f"N{i + 1}")
            pop.append(100 * (i + 1) * share)
            old.append(40 * (i + 1) * share)
    d = gpd.GeoDataFrame({"point_id": range(8), "area_id": ids, "population": pop, "elderly": old},
                         geometry=pts, crs=CRS).to_crs("EPSG:4326")
    return d


def test_area_ancestors_follow_parent_chain():
    anc = area_ancestors(_areas(), profile=PROFILE)
    assert anc.set_index("neighbourhood").loc["N3", "junior_high"] == "J2"
    assert set(anc["city"]) == {"C"}


def test_given_expands_outer_ids_and_reports_claims():
    # S1 claims a 中学校区 id (→ N1, N2); S2 claims N4 only → N3 unclaimed
    a = assign_catchments(_areas(), _stations([["J1"], ["N4"]]), profile=PROFILE, by="given")
    assert dict(zip(a["area_id"], a["station_id"])) == {"N1": "S1", "N2": "S1", "N3": None, "N4": "S2"}
    assert a.attrs["unclaimed"] == ["3丁目"] and a.attrs["double_claimed"] == []
    assert any("3丁目" in n and "担当していない" in n for n in a.attrs["notes"])
    # S3 claims N2 too, plus an id that does not exist
    b = assign_catchments(_areas(), _stations([["J1"], ["J2"], ["N2", "X9"]]), profile=PROFILE, by="given")
    assert b.attrs["double_claimed"] == [{"area_id": "N2", "name": "2丁目", "stations": ["拠点1", "拠点3"]}]
    assert b.set_index("area_id").loc["N2", "station_id"] == "S1"  # first listed
    assert b.attrs["unknown_ids"] == {"拠点3": ["X9"]} and b.attrs["unclaimed"] == []
    assert any("2丁目（拠点1・拠点3）" in n for n in b.attrs["notes"]) and any("X9" in n for n in b.attrs["notes"])


def test_nearest_by_area_and_by_demand_point():
    st = _stations([[], []])
    a = assign_catchments(_areas(), st, profile=PROFILE, engine=ENGINE, by="nearest")
    assert dict(zip(a["area_id"], a["station_id"])) == {"N1": "S1", "N2": "S1", "N3": "S2", "N4": "S2"}
    assert a.set_index("area_id")["distance_m"].to_dict() == pytest.approx({"N1": 0, "N2": 1000, "N3": 1000, "N4": 0}, abs=1e-6)
    # by demand point: N2's edge point (x=1950) is 1450 m from S1 and 1550 m from S2; N3's centre (2500) 2000 / 1000
    p = assign_catchments(_areas(), st, profile=PROFILE, engine=ENGINE, demand=_demand(), by="nearest")
    pts = p.attrs["points"]
    assert pts["station_id"].tolist() == ["S1", "S1", "S1", "S1", "S2", "S2", "S2", "S2"]
    # move S2 to x=2600: N2's edge point (650 m vs 1450 m) goes to S2, its centre (1000 vs 1100 m) and majority stay with S1
    st2 = _stations([[], []])
    st2.loc[1, "geometry"] = gpd.GeoSeries([Point(X0 + 2600, Y0 + 500)], crs=CRS).to_crs("EPSG:4326").iloc[0]
    q = assign_catchments(_areas(), st2, profile=PROFILE, engine=ENGINE, demand=_demand(), by="nearest")
    assert q.attrs["points"]["station_id"].tolist()[:4] == ["S1", "S1", "S1", "S2"]
    assert q.set_index("area_id").loc["N2", "station_id"] == "S1"
    assert any("最寄り拠点が分かれて" in n for n in q.attrs["notes"])


def test_given_and_nearest_agree_on_this_layout_and_workload_is_hand_computed():
    areas = _areas()
    st = _stations([["J1"], ["J2"]])
    given = assign_catchments(areas, st, profile=PROFILE, demand=_demand(), by="given")
    near = assign_catchments(areas, st, profile=PROFILE, engine=ENGINE, demand=_demand(), by="nearest")
    assert given["station_id"].tolist() == near["station_id"].tolist()
    uncovered = pd.DataFrame({"point_id": [1, 3, 7], "remaining": [5.0, 7.0, 11.0]})
    w = station_workload(given, st, areas=areas, engine=ENGINE, uncovered=uncovered).set_index("station_id")
    assert w.loc["S1", "population"] == pytest.approx(300) and w.loc["S2", "population"] == pytest.approx(700)
    assert w.loc["S1", "elderly"] == pytest.approx(120) and w.loc["S2", "elderly"] == pytest.approx(280)
    assert w.loc["S1", "single_elderly_households"] == 3 and w.loc["S2", "single_elderly_households"] == 7
    assert w.loc["S1", "uncovered_elderly"] == pytest.approx(12) and w.loc["S2", "uncovered_elderly"] == pytest.approx(11)
    assert w.loc["S1", "area_km2"] == pytest.approx(2.0, rel=1e-6) and w.loc["S1", "n_areas"] == 2
    # farthest household of S1 (x=500): N2's edge point at x=1950 → 1450 m
    assert w.loc["S1", "farthest_m"] == pytest.approx(1450, abs=1e-3)
    assert w.loc["S2", "farthest_m"] == pytest.approx(1000, abs=1e-3)  # S2 (x=3500) to N3's centre (x=2500)
    assert w.attrs["labels"]["farthest_m"] == "最も遠い世帯までの距離（m）"


def test_workload_unknowns_are_none_and_said():
    areas = _areas(single=(1, None, 3, 4))
    st = _stations([["J1"], ["J2"]])
    a = assign_catchments(areas, st, profile=PROFILE, by="given")
    w = station_workload(a, st, areas=areas).set_index("station_id")
    assert w.loc["S1", "single_elderly_households"] is None and w.loc["S2", "single_elderly_households"] == 7
    assert w.loc["S1", "farthest_m"] is None and w.loc["S1", "uncovered_elderly"] is None
    assert w.loc["S1", "population"] == 300  # census values without demand
    notes = " ".join(w.attrs["notes"])
    assert "高齢単身世帯数" in notes and "需要点がないため" in notes
    # an unclaimed area is its own row
    b = assign_catchments(areas, _stations([["J1"], ["N4"]]), profile=PROFILE, by="given")
    wb = station_workload(b, _stations([["J1"], ["N4"]]), areas=areas)
    assert wb["name"].tolist()[-1] == "未割当" and wb["population"].tolist()[-1] == 300


def test_catchment_polygons_and_map():
    from layers.catchments import catchment_map
    from layers.maps import render_html

    areas = _areas()
    st = _stations([["J1"], ["N4"]])
    a = assign_catchments(areas, st, profile=PROFILE, by="given")
    poly = catchment_polygons(a, st)
    assert poly["station_id"].tolist() == ["S1", "S2"] and poly["n_areas"].tolist() == [2, 1]
    km2 = poly.to_crs(CRS).area / 1e6
    assert km2.tolist() == pytest.approx([2.0, 1.0], rel=1e-6)
    w = station_workload(a, st, areas=areas, engine=ENGINE, demand=_demand())
    m = catchment_map(polygons=poly, stations=st, workload=w, city_name="テスト市", by="given",
                      unassigned=a[a["station_id"].isna()], notes=a.attrs["notes"])
    names = [c.layer_name for c in m._children.values() if isinstance(c, folium.FeatureGroup)]
    assert names == ["拠点の担当圏域", "拠点（2か所）［サンプルデータ］"]
    html = render_html(m)
    for text in ("拠点と担当圏域", "担当拠点なし", "拠点1（サンプル）", "サンプルデータ", "3丁目"):
        assert text in html


def test_bad_inputs():
    with pytest.raises(InputDataError, match="'given' か 'nearest' にしてください"):
        assign_catchments(_areas(), _stations([["J1"]]), profile=PROFILE, by="closest")
    with pytest.raises(InputDataError, match="地域を割り当てる拠点がありません"):
        assign_catchments(_areas(), _stations([["J1"]]).iloc[0:0], profile=PROFILE)
    with pytest.raises(InputDataError, match="距離の計算方法"):
        assign_catchments(_areas(), _stations([["J1"]]), profile=PROFILE, by="nearest")
    with pytest.raises(InputDataError, match="拠点のレイヤーに座標系がありません"):
        assign_catchments(_areas(), _stations([["J1"]]).set_crs(None, allow_override=True), profile=PROFILE)
