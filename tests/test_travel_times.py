"""Travel times: road-class speeds and maxspeed on a road graph, and matrices handed in (CSV, OSRM JSON)."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
from shapely.geometry import Point

from gis.access import StraightLineEngine
from gis.errors import InputDataError
from gis.network import NetworkEngine, read_road_graph
from gis.outreach import OutreachVisit, make_csws, plan_outreach
from gis.routing import Location, check_plan, travel_matrix
from gis.travel_times import (
    ACCESS_SPEED_KMH,
    DRIVE_SPEED_KMH,
    SOURCE_AVERAGE_SPEED,
    SOURCE_MATRIX,
    SOURCE_ROAD_SPEEDS,
    edge_speed_kmh,
    parse_maxspeed,
    read_travel_matrix,
)

OSM = Path(__file__).parent / "fixtures" / "osm"
TOWN = OSM / "town.osm"
CRS = "EPSG:6673"
X0, Y0 = -67000.0, -133000.0  # town.osm's local origin (see the file's comment)
# town.osm nodes in local metres: 1 (0,0) … 5 (400,0) residential; 6 (0,200) - 8 - 7 (400,200)
# residential; 5-7 tertiary; 6->1 oneway residential; 3-8 footway (not driven).
N1, N5, N6, N7 = (0, 0), (400, 0), (0, 200), (400, 200)


def lonlat(*xy) -> list[Location]:
    from pyproj import Transformer

    tr = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    return [Location(*tr.transform(X0 + x, Y0 + y), f"p{k}") for k, (x, y) in enumerate(xy)]


def at(kmh: float, metres: float) -> float:
    return metres / (kmh / 3.6)


@pytest.fixture
def fast_town(tmp_path) -> Path:
    """town.osm with maxspeed=60 on the upper street 6-8-7."""
    text = TOWN.read_text(encoding="utf-8").replace(
        '<nd ref="6"/><nd ref="8"/><nd ref="7"/>\n    <tag k="highway" v="residential"/>',
        '<nd ref="6"/><nd ref="8"/><nd ref="7"/>\n    <tag k="highway" v="residential"/>\n    <tag k="maxspeed" v="60"/>')
    assert 'k="maxspeed"' in text
    path = tmp_path / "fast_town.osm"
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------- speeds


@pytest.mark.parametrize(("value", "kmh"), [
    ("40", 40.0), ("40 km/h", 40.0), (" 50kmh ", 50.0), ("30 mph", 30 * 1.609344), ("40;50", 40.0),
    (["50", "30"], 30.0), ("['60', '40']", 40.0), ("none", None), ("signals", None), ("JP:urban", None),
    ("", None), (None, None), ("0", None), ("999", None),
])
def test_parse_maxspeed(value, kmh):
    got = parse_maxspeed(value)
    assert got == (pytest.approx(kmh) if kmh is not None else None)


def test_edge_speed_maxspeed_first_then_class_then_fallback():
    assert edge_speed_kmh("residential", "50") == 50.0
    assert edge_speed_kmh("residential") == DRIVE_SPEED_KMH["residential"]
    assert edge_speed_kmh(["primary", "residential"]) == DRIVE_SPEED_KMH["residential"]  # slowest known class
    assert edge_speed_kmh("primary", speeds={"primary": 55}) == 55
    assert edge_speed_kmh("bus_guideway") == 20.0


# --------------------------------------------------------------------------- road graph times


def test_drive_graph_times_by_hand():
    graph = read_road_graph(TOWN, mode="drive", crs=CRS)
    engine = NetworkEngine(graph)
    pts = lonlat(N1, N5, N7)
    gdf = gpd.GeoDataFrame(geometry=[Point(p.lon, p.lat) for p in pts], crs="EPSG:4326")
    t = engine.travel_time_matrix(gdf)
    res, ter = DRIVE_SPEED_KMH["residential"], DRIVE_SPEED_KMH["tertiary"]
    assert t[0, 1] == pytest.approx(at(res, 400), abs=0.1)  # 1 → 5 on the lower street
    assert t[1, 2] == pytest.approx(at(ter, 200), abs=0.1)  # 5 → 7 tertiary
    # 7 → 1: via 5 (200 m tertiary + 400 m residential) beats 7-8-6-1 (600 m residential)
    assert t[2, 0] == pytest.approx(at(ter, 200) + at(res, 400), abs=0.1)
    assert np.all(np.diag(t) == 0)


def test_maxspeed_changes_the_fastest_path(fast_town):
    engine = NetworkEngine(read_road_graph(fast_town, mode="drive", crs=CRS))
    pts = lonlat(N7, N1)
    gdf = gpd.GeoDataFrame(geometry=[Point(p.lon, p.lat) for p in pts], crs="EPSG:4326")
    t = engine.travel_time_matrix(gdf)
    # 7 → 8 → 6 at 60 km/h (400 m), then 6 → 1 residential (200 m): faster than via 5
    assert t[0, 1] == pytest.approx(at(60, 400) + at(DRIVE_SPEED_KMH["residential"], 200), abs=0.1)
    # 1 → 7 cannot use 1 → 6 (oneway 6->1): lower street and the tertiary
    assert t[1, 0] == pytest.approx(at(DRIVE_SPEED_KMH["residential"], 400) + at(DRIVE_SPEED_KMH["tertiary"], 200), abs=0.1)


def test_snapping_leg_at_access_speed():
    engine = NetworkEngine(read_road_graph(TOWN, mode="drive", crs=CRS))
    pts = lonlat(N1, (400, -50))  # 50 m south of node 5
    gdf = gpd.GeoDataFrame(geometry=[Point(p.lon, p.lat) for p in pts], crs="EPSG:4326")
    t = engine.travel_time_matrix(gdf)
    assert t[0, 1] == pytest.approx(at(DRIVE_SPEED_KMH["residential"], 400) + at(ACCESS_SPEED_KMH, 50), abs=0.2)


def test_walk_graph_has_no_driving_times():
    walk = read_road_graph(TOWN, mode="walk", crs=CRS)
    assert walk.durations is None
    gdf = gpd.GeoDataFrame(geometry=[Point(p.lon, p.lat) for p in lonlat(N1, N5)], crs="EPSG:4326")
    with pytest.raises(InputDataError, match="徒歩"):
        NetworkEngine(walk).travel_time_matrix(gdf)


def test_travel_matrix_names_its_source():
    drive = NetworkEngine(read_road_graph(TOWN, mode="drive", crs=CRS))
    pts = lonlat(N1, N5, N7)
    road = travel_matrix(drive, pts, speed_kmh=30)
    assert road.source == SOURCE_ROAD_SPEEDS and "道路種別ごとの速度" in road.note and "town.osm" in road.note
    assert road.durations_s[0, 1] == round(at(DRIVE_SPEED_KMH["residential"], 400))
    walked = travel_matrix(drive, pts, speed_kmh=4, mode="walk")
    assert walked.source == SOURCE_AVERAGE_SPEED and "時速4km" in walked.note
    assert walked.durations_s[0, 1] == round(400 / (4 / 3.6))
    straight = travel_matrix(StraightLineEngine(crs=CRS), pts, speed_kmh=30)
    assert straight.source == SOURCE_AVERAGE_SPEED and "概算" in straight.note
    with pytest.raises(InputDataError, match="drive か walk"):
        travel_matrix(drive, pts, speed_kmh=30, mode="bike")


def test_graphml_travel_time_and_speed_kph_are_used(tmp_path):
    g = nx.MultiDiGraph(crs=CRS)
    g.add_node(1, x=X0, y=Y0)
    g.add_node(2, x=X0 + 1000, y=Y0)
    g.add_node(3, x=X0 + 2000, y=Y0)
    g.add_edge(1, 2, length=1000.0, highway="primary", travel_time=300.0)  # OSMnx's own time wins
    g.add_edge(2, 3, length=1000.0, highway="primary", speed_kph=72.0)
    path = tmp_path / "g.graphml"
    nx.write_graphml(g, path)
    graph = read_road_graph(path, mode="drive", crs=CRS)
    engine = NetworkEngine(graph)
    pts = lonlat((0, 0), (1000, 0), (2000, 0))
    gdf = gpd.GeoDataFrame(geometry=[Point(p.lon, p.lat) for p in pts], crs="EPSG:4326")
    t = engine.travel_time_matrix(gdf)
    assert t[0, 1] == pytest.approx(300.0, abs=0.1)
    assert t[1, 2] == pytest.approx(at(72, 1000), abs=0.1)
    assert np.isnan(t[1, 0])  # directed graph, no way back


# --------------------------------------------------------------------------- matrices handed in


def _csv(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_matrix_reordered_by_labels_and_in_minutes(tmp_path):
    path = _csv(tmp_path / "m.csv", "分,s2,拠点,s1\ns1,3,2,0\n拠点,4,0,1\ns2,0,5,6\n", encoding="cp932")
    m = read_travel_matrix(path, labels=["店", "s1", "s2"])
    assert m.source == "m.csv" and m.distances_m is None
    np.testing.assert_allclose(m.durations_s, np.array([[0, 1, 4], [2, 0, 3], [5, 6, 0]]) * 60.0)


def test_csv_matrix_blank_means_no_way_and_errors_say_what_to_fix(tmp_path):
    ok = read_travel_matrix(_csv(tmp_path / "a.csv", "秒,depot,A\ndepot,0,\nA,30,0\n"), labels=["x", "A"])
    assert np.isnan(ok.durations_s[0, 1]) and ok.durations_s[1, 0] == 30
    with pytest.raises(InputDataError, match="地点がありません: B"):
        read_travel_matrix(_csv(tmp_path / "b.csv", "秒,拠点,A\n拠点,0,1\nA,1,0\n"), labels=["x", "A", "B"])
    with pytest.raises(InputDataError, match="計画にない地点があります: Z"):
        read_travel_matrix(_csv(tmp_path / "c.csv", "秒,拠点,A,Z\n拠点,0,1,1\nA,1,0,1\nZ,1,1,0\n"), labels=["x", "A"])
    with pytest.raises(InputDataError, match="数値ではありません"):
        read_travel_matrix(_csv(tmp_path / "d.csv", "秒,拠点,A\n拠点,0,abc\nA,1,0\n"), labels=["x", "A"])
    with pytest.raises(InputDataError, match="負の値"):
        read_travel_matrix(_csv(tmp_path / "e.csv", "秒,拠点,A\n拠点,0,-5\nA,1,0\n"), labels=["x", "A"])
    with pytest.raises(InputDataError, match="ファイルがありません"):
        read_travel_matrix(tmp_path / "none.csv", labels=["x"])


def _osrm(path: Path, pts: list[Location], durations, distances=None, code="Ok") -> Path:
    doc = {"code": code, "durations": durations,
           "sources": [{"location": [p.lon, p.lat]} for p in pts],
           "destinations": [{"location": [p.lon, p.lat]} for p in pts]}
    if distances is not None:
        doc["distances"] = distances
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_osrm_table_read_and_checked(tmp_path):
    pts = lonlat(N1, N5, N7)
    where = [(p.lon, p.lat) for p in pts]
    labels = ["拠点", "a", "b"]
    good = _osrm(tmp_path / "t.json", pts, [[0, 60, None], [61, 0, 30], [90, 31, 0]],
                 [[0, 400, None], [400, 0, 200], [600, 200, 0]])
    m = read_travel_matrix(good, labels=labels, locations=where)
    assert m.durations_s[0, 1] == 60 and np.isnan(m.durations_s[0, 2]) and m.distances_m[2, 0] == 600
    swapped = _osrm(tmp_path / "s.json", [pts[0], pts[2], pts[1]], [[0, 1, 1], [1, 0, 1], [1, 1, 0]])
    read_travel_matrix(swapped, labels=labels, locations=where)  # 200 m off: within the default 500 m
    with pytest.raises(InputDataError, match="2 番目の地点が「a」から 200m"):
        read_travel_matrix(swapped, labels=labels, locations=where, tolerance_m=100)
    small = _osrm(tmp_path / "n.json", pts[:2], [[0, 1], [1, 0]])
    with pytest.raises(InputDataError, match="3×3"):
        read_travel_matrix(small, labels=labels, locations=where)
    with pytest.raises(InputDataError, match="エラー"):
        read_travel_matrix(_osrm(tmp_path / "e.json", pts, [], code="NoTable"), labels=labels)
    (tmp_path / "bad.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(InputDataError, match="JSON を読めません"):
        read_travel_matrix(tmp_path / "bad.json", labels=labels)


def test_travel_matrix_uses_the_given_matrix(tmp_path):
    pts = lonlat(N1, N5, N7)
    engine = StraightLineEngine(crs=CRS)
    m = read_travel_matrix(_osrm(tmp_path / "t.json", pts, [[0, 600, 700], [600, 0, 100], [700, 100, 0]]),
                           labels=["拠点", "a", "b"])
    got = travel_matrix(engine, pts, speed_kmh=30, matrix=m)
    assert got.source == SOURCE_MATRIX and "t.json" in got.note
    assert got.durations_s[0, 1] == 600
    assert got.distances_m[0, 1] == round(400 * 1.3)  # no distances in the file: straight line × circuity
    with pytest.raises(InputDataError, match="地点です"):
        travel_matrix(engine, pts[:2], speed_kmh=30, matrix=m)


def test_outreach_drivers_use_the_matrix_walkers_their_speed(tmp_path):
    station = {"station_id": "st", "name": "拠点", "lon": 133.6166, "lat": 34.7930}
    visits = [OutreachVisit(visit_id=f"H-{k}", lon=133.6166 + 0.01 * k, lat=34.7930, duration_s=1800) for k in (1, 2)]
    pts = [Location(station["lon"], station["lat"])] + [Location(v.lon, v.lat) for v in visits]
    # a long way round: 40 minutes between everything
    path = _osrm(tmp_path / "t.json", pts, [[0, 2400, 2400], [2400, 0, 2400], [2400, 2400, 0]])
    m = read_travel_matrix(path, labels=["拠点", "H-1", "H-2"], locations=[(p.lon, p.lat) for p in pts])
    plan = plan_outreach(station, visits, make_csws(1), engine=StraightLineEngine(crs=CRS), travel_matrix=m,
                         time_limit_s=1)
    assert plan.travel_time_sources == {"car": SOURCE_MATRIX}
    assert any("t.json" in n for n in plan.notes)
    route = plan.routes[0]
    assert len(route.visits) == 2 and route.travel_s == 3 * 2400
    for problem, rplan in plan.checks:
        assert check_plan(problem, rplan) == []
    walkers = plan_outreach(station, visits, make_csws(1, mode="walk"), engine=StraightLineEngine(crs=CRS),
                            travel_matrix=m, time_limit_s=1)
    assert walkers.travel_time_sources == {"walk": SOURCE_AVERAGE_SPEED}


def test_mobile_sales_second_run_with_a_travel_matrix(tmp_path):
    """Plan once, hand in a matrix for the stops of that plan, plan again on those stops with it."""
    import pandas as pd
    from _clients_sample import fill_workspace

    from api.cli_mobile_sales import run_mobile_sales
    from api.store.geopackage import GeoPackageStore

    with GeoPackageStore(tmp_path / "ws.gpkg", create=True) as store:
        fill_workspace(store)
        first = run_mobile_sales(store, data_dir=tmp_path, vehicles=1, days="火,金", time_limit_s=1, seed=3,
                                 cell_size_m=200, lunch="なし", out_dir=tmp_path / "first")
        assert first["travel_time_source"] == SOURCE_AVERAGE_SPEED
        stops = pd.read_csv(first["paths"]["stops"], encoding="utf-8-sig", dtype={"停留所ID": str})
        ids = ["拠点"] + stops["停留所ID"].tolist()
        rows = ["秒," + ",".join(ids)] + [f"{a}," + ",".join("0" if a == b else "300" for b in ids) for a in ids]
        matrix = _csv(tmp_path / "所要時間.csv", "\n".join(rows) + "\n")
        second = run_mobile_sales(store, data_dir=tmp_path, vehicles=1, days="火,金", time_limit_s=1, seed=3,
                                  cell_size_m=200, lunch="なし", out_dir=tmp_path / "second",
                                  stops_file=first["paths"]["stops"], no_new_stops=True, travel_matrix_file=matrix)
    assert second["travel_time_source"] == SOURCE_MATRIX
    assert any("所要時間.csv" in n for n in second["notes"])
    plan = second["plan"]
    for day in plan.days:
        assert plan.driving_s(day) % 300 == 0  # every leg is the matrix's 5 minutes
    assert plan.total_driving_s > 0
