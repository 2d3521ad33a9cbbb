"""Nesting of tiers: assignment by overlap, reports, roll-up — synthetic cases with known answers and real 高梁市 data."""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from shapely.geometry import box

from gis.errors import InputDataError, NestingError
from gis.nesting import TierSource, assign_parents, build_tiers, check_rollup, parent_overlaps, roll_up
from gis.tiers import DEFAULT_PROFILE, load_profile

CRS = "EPSG:6673"  # JGD2011 zone V (岡山県)
X0, Y0 = -40_000.0, -130_000.0  # a place in zone V's plane


def _frame(rows):
    """rows: (area_id, name, (minx, miny, maxx, maxy) in km from the origin, population)."""
    return gpd.GeoDataFrame(
        {
            "area_id": [r[0] for r in rows],
            "name": [r[1] for r in rows],
            "population": pd.array([r[3] for r in rows], dtype="Int64"),
            "households": pd.array([r[3] // 2 if r[3] is not None else None for r in rows], dtype="Int64"),
        },
        geometry=[box(X0 + a * 1000, Y0 + b * 1000, X0 + c * 1000, Y0 + d * 1000) for *_, (a, b, c, d), _p in
                  [(r[0], r[1], r[2], r[3]) for r in rows]],
        crs=CRS,
    ).to_crs(4326)


def _grid_city():
    """A 4 km × 2 km city: 8 small areas of 1 km², two elementary districts, one junior-high district."""
    small = _frame([(f"s{i}{j}", f"字{i}{j}", (i, j, i + 1, j + 1), 100 * (i + 1) + j) for i in range(4) for j in range(2)])
    elem = _frame([("e1", "東小学校", (0, 0, 2, 2), None), ("e2", "西小学校", (2, 0, 4, 2), None)])
    junior = _frame([("j1", "中央中学校", (0, 0, 4, 2), None)])
    city = _frame([("c", "テスト市", (0, 0, 4, 2), None)])
    return small, elem, junior, city


def _build(small, elem, junior, city, **kw):
    return build_tiers(
        small, profile=DEFAULT_PROFILE, city=city, city_code="33999", city_name="テスト市",
        sources={"kominkan": TierSource(polygons=elem), "junior_high": TierSource(polygons=junior)}, crs=CRS, **kw,
    )


def test_parent_overlaps_gives_known_shares():
    child = _frame([("a", "A", (1.5, 0, 2.5, 1), 10)])  # half in e1, half in e2
    _, elem, _, _ = _grid_city()
    ov = parent_overlaps(child, elem, crs=CRS).set_index("parent_id")["share"]
    assert ov["e1"] == pytest.approx(0.5, abs=1e-6)
    assert ov["e2"] == pytest.approx(0.5, abs=1e-6)


def test_assign_parents_reports_straddling_crossing_uncovered_and_outside():
    _, elem, _, _ = _grid_city()
    kids = _frame([
        ("inside", "内", (0, 0, 1, 1), 1),
        ("straddle", "二分", (1.5, 0, 2.5, 1), 1),        # 50 / 50
        ("cross", "越境", (2.8, 0, 3.8, 1), 1),           # fully inside e2 → no issue
        ("edge", "端", (3.5, 0, 4.5, 1), 1),              # 50 % in e2, 50 % outside every district
        ("far", "遠方", (6, 0, 7, 1), 1),                 # no overlap: nearest is e2
        ("tilt", "傾き", (1.8, 0, 2.8, 1), 1),            # 20 % e1 / 80 % e2
    ])
    assignment, issues = assign_parents(kids, elem, crs=CRS, threshold=0.9, straddle_share=0.4)
    by_id = {i["area_id"]: i for i in issues}
    assert assignment["inside"] == "e1" and "inside" not in by_id
    assert by_id["straddle"]["status"] == "straddles"
    assert by_id["straddle"]["share"] == pytest.approx(0.5, abs=1e-3)
    assert by_id["edge"]["status"] == "partly_uncovered" and assignment["edge"] == "e2"
    assert by_id["far"]["status"] == "outside" and assignment["far"] == "e2"
    assert by_id["tilt"]["status"] == "crosses_boundary"
    assert by_id["tilt"]["parent_id"] == "e2" and by_id["tilt"]["second_parent_id"] == "e1"
    assert "cross" not in by_id


def test_build_tiers_rolls_up_population_on_every_level():
    small, elem, junior, city = _grid_city()
    build = _build(small, elem, junior, city)
    areas = build.areas
    total = int(small["population"].sum())
    for level in DEFAULT_PROFILE.keys:
        assert int(areas.loc[areas["level"] == level, "population"].sum()) == total
    e1 = areas[(areas["level"] == "kominkan") & (areas["area_id"] == "e1")]
    assert int(e1["population"].iloc[0]) == 100 + 101 + 200 + 201
    assert build.report["rollup"]["ok"] and check_rollup(areas, DEFAULT_PROFILE) == []
    # age bands unknown → unknown on every level, never 0
    assert areas["pop_65plus"].isna().all()


def test_strict_nesting_names_the_straddling_area():
    small, elem, junior, city = _grid_city()
    small = pd.concat([small, _frame([("s-x", "またがり字", (1.5, 1.0, 2.5, 1.5), 5)])])
    small = small[~small["area_id"].isin(["s11", "s21"])]  # avoid overlapping small areas
    with pytest.raises(NestingError, match="またがり字") as err:
        _build(small, elem, junior, city, strict=True)
    assert "東小学校" in str(err.value) and "西小学校" in str(err.value) and "50%" in str(err.value)
    # without strict: reported, not raised
    report = _build(small, elem, junior, city).report
    assert [i["name"] for i in report["pairs"][0]["issues"] if i["status"] == "straddles"] == ["またがり字"]


def test_tier_from_small_area_table_dissolves_small_areas():
    small, _, junior, city = _grid_city()
    table = pd.DataFrame({
        "small_area_id": small["area_id"],
        "area_id": ["k1" if aid[1] in "01" else "k2" for aid in small["area_id"]],
        "name": ["北公民館区" if aid[1] in "01" else "南公民館区" for aid in small["area_id"]],
    })
    build = build_tiers(small, profile=DEFAULT_PROFILE, city=city, city_code="33999", city_name="テスト市",
                        sources={"kominkan": TierSource(table=table), "junior_high": TierSource(polygons=junior)}, crs=CRS)
    k = build.areas[build.areas["level"] == "kominkan"].set_index("area_id")
    assert k.loc["k1", "name"] == "北公民館区"
    assert k.to_crs(CRS).area["k1"] == pytest.approx(4e6, rel=1e-6)
    assert build.report["pairs"][0]["issues"] == []


def test_table_with_missing_small_area_is_refused():
    small, _, junior, city = _grid_city()
    table = pd.DataFrame({"small_area_id": small["area_id"][:-1], "area_id": "k1", "name": "北"})
    with pytest.raises(InputDataError, match="どの公民館区にも入っていない小地域が 1 あります"):
        build_tiers(small, profile=DEFAULT_PROFILE, city=city, city_code="33999", city_name="テスト市",
                    sources={"kominkan": TierSource(table=table), "junior_high": TierSource(polygons=junior)}, crs=CRS)


def test_three_level_profile_builds():
    small, elem, _, city = _grid_city()
    mine = load_profile("mine")
    build = build_tiers(small, profile=mine, city=city, city_code="35213", city_name="美祢市（試験）",
                        sources={"welfare_area": TierSource(polygons=elem)}, crs=CRS)
    assert sorted(build.areas["level"].unique()) == ["activity_area", "city", "welfare_area"]
    assert build.report["rollup"]["ok"]


_BUILT = {}


def _built_grid():
    if "areas" not in _BUILT:
        _BUILT["areas"] = _build(*_grid_city()).areas
    return _BUILT["areas"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.integers(0, 5000)), min_size=8, max_size=8))
def test_roll_up_sums_children_and_keeps_unknown_unknown(pops):
    areas = _built_grid().copy()
    base = areas["level"] == "neighbourhood"
    areas.loc[base, "population"] = pd.array(pops, dtype="Int64")
    areas = roll_up(areas, DEFAULT_PROFILE)
    for parent in ("e1", "e2"):
        kids = areas[base & (areas["parent_id"] == parent)]["population"]
        got = areas[(areas["level"] == "kominkan") & (areas["area_id"] == parent)]["population"].iloc[0]
        if kids.isna().any():
            assert pd.isna(got)
        else:
            assert got == kids.sum()
    city_pop = areas[areas["level"] == "city"]["population"].iloc[0]
    assert pd.isna(city_pop) if any(p is None for p in pops) else city_pop == sum(pops)


# --- real data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def takahashi(data_dir):
    from gis import opendata
    from gis.crs import plane_rectangular_crs

    ok = data_dir / "okayama"
    city = opendata.municipality(ok / "ksj_n03_municipalities.topo.json", "33209")
    small = opendata.read_census_small_areas(ok / "h22_small_areas_west_okayama.topo.json", city_code="33209")
    elem = opendata.read_ksj_elementary_districts(ok / "ksj_a27_elementary_districts.topo.json", city_code="33209")
    junior = opendata.read_ksj_junior_high_districts(ok / "ksj_a32_junior_high_districts.topo.json", city_code="33209")
    build = build_tiers(
        small, profile=DEFAULT_PROFILE, city=city, city_code="33209", city_name="高梁市",
        sources={"kominkan": TierSource(polygons=elem.rename(columns={"district_id": "area_id"})),
                 "junior_high": TierSource(polygons=junior.rename(columns={"district_id": "area_id"}))},
        crs=plane_rectangular_crs("33209"),
    )
    return small, elem, junior, build


def test_takahashi_counts_and_totals(takahashi):
    small, elem, junior, build = takahashi
    assert len(small) == 444 and small.attrs["import"]["key_codes"] == 444
    assert len(elem) == 15 and len(junior) == 7
    counts = build.areas.groupby("level").size().to_dict()
    assert counts == {"neighbourhood": 444, "kominkan": 15, "junior_high": 7, "city": 1}
    assert build.report["rollup"]["totals"] == {
        "neighbourhood": 34963, "kominkan": 34963, "junior_high": 34963, "city": 34963}
    assert build.report["rollup"]["ok"]


def test_takahashi_elementary_nest_in_junior_high(takahashi):
    *_, build = takahashi
    pair = build.report["pairs"][1]
    assert pair["child_level"] == "kominkan" and pair["issues"] == []


def test_takahashi_report_names_straddling_small_areas_and_uncovered_area(takahashi):
    *_, build = takahashi
    pair = build.report["pairs"][0]
    straddling = sorted(i["name"] for i in pair["issues"] if i["status"] == "straddles")
    assert straddling == sorted(["松山河内谷", "松山広瀬", "落合町阿部市場", "落合町近似奥"])
    assert 15 <= len(pair["issues"]) <= 30  # ~20 do not nest by area (boundary noise)
    uncovered = build.report["levels"][1]["uncovered"]
    assert uncovered["area_km2"] == pytest.approx(18.8, abs=0.3)
    named = {s["name"] for part in uncovered["parts"] for s in part.get("small_areas", [])}
    assert named, "the uncovered part must name the small areas it lies in"


def test_kurashiki_dissolves_parts_and_keeps_water_out(data_dir):
    from gis import opendata

    small = opendata.read_census_small_areas(
        data_dir / "okayama" / "h22_small_areas_west_okayama.topo.json", city_code="33202")
    info = small.attrs["import"]
    assert info["features"] == 585 and info["key_codes"] == 568
    assert info["water_parts"] == 5 and info["water_only_key_codes"] == ["332021231"]
    assert len(small) == 567 and small["area_id"].is_unique
    assert int(small["population"].sum()) == 475513
