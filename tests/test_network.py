"""Network mode of the distance engine on hand-written OpenStreetMap files with known distances."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from pathlib import Path

import geopandas as gpd
import networkx as nx
import numpy as np
import pytest
import scipy.sparse as sp
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyproj import Geod, Transformer
from shapely.geometry import Point

from gis.access import StraightLineEngine
from gis.errors import InputDataError
from gis.network import NetworkEngine, RoadGraph, find_road_network, read_road_graph

OSM = Path(__file__).parent / "fixtures" / "osm"
TOWN = OSM / "town.osm"
CRS = "EPSG:6673"
X0, Y0 = -67000.0, -133000.0  # town.osm's local origin in EPSG:6673 (see the file's comment)
TOL = 0.05  # metres: the file's coordinates are rounded to 1e-7 degree (about 1 cm)


def pts(*xy) -> gpd.GeoDataFrame:
    """Points given in town.osm's local metres."""
    return gpd.GeoDataFrame(geometry=[Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS)


# town.osm nodes (local metres)
N1, N2, N3, N4, N5, N6, N7, N8, N20 = (0, 0), (100, 0), (200, 0), (300, 0), (400, 0), (0, 200), (400, 200), (200, 200), (1000, 0)
FACILITIES = pts(N8, (400, 10))  # F0 on node 8, F1 10 m off node 5
ORIGINS = pts(N1, (100, 30), N4, N7, N20, (400, 1000))  # o1 snaps 30 m to node 2; o4 on the island; o5 800 m off


@pytest.fixture(scope="module")
def walk():
    return read_road_graph(TOWN, mode="walk", crs=CRS)


@pytest.fixture(scope="module")
def drive():
    return read_road_graph(TOWN, mode="drive", crs=CRS)


def _distances(engine, origins=ORIGINS, facilities=FACILITIES):
    out = engine.nearest(origins, facilities)
    return out["facility"].tolist(), out["distance_m"].to_numpy(), out["reachable"].tolist()


# --------------------------------------------------------------------------- reading

def test_graph_summary(walk, drive):
    # walk: 4 x 100 + 3 x 200 (y=200 road and 5-7) ... listed: 1-2-3-4-5, 6-8-7, 5-7, 6-1, 3-8 footway, island 20-21
    assert walk.nodes == 10 and walk.edges == 10
    assert walk.total_length_km == pytest.approx((400 + 400 + 200 + 200 + 200 + 100) / 1000, abs=1e-4)
    assert drive.edges == 9  # no footway
    assert drive.total_length_km == pytest.approx(1.3, abs=1e-4)
    assert walk.n_components == 2 and drive.n_components == 2
    assert (walk.adjacency != walk.adjacency.T).nnz == 0  # walking: symmetric
    i1, i6 = (list(drive.node_ids).index(k) for k in (1, 6))
    assert drive.adjacency[i6, i1] == pytest.approx(200, abs=TOL) and drive.adjacency[i1, i6] == 0  # oneway 6 -> 1
    assert walk.summary()["largest_component_share"] == pytest.approx(0.8)


# --------------------------------------------------------------------------- nearest

def test_nearest_walk_by_hand(walk):
    eng = NetworkEngine(walk)
    fac, dist, ok = _distances(eng)
    # o0 node1: to F0 1-6-8 = 400 (or 1-2-3-8 = 400); to F1 400 + 10
    # o1 30 m to node2: F0 30 + 100 + 200 (footway 3-8) = 330; F1 30 + 300 + 10 = 340
    # o2 node4: F1 100 + 10 = 110;  o3 node7: F0 200; o4 island; o5 beyond snapping distance
    assert fac == [0, 0, 1, 0, -1, -1]
    np.testing.assert_allclose(dist[:4], [400, 330, 110, 200], atol=TOL)
    assert np.isnan(dist[4:]).all() and not np.isinf(dist).any()
    assert ok == [True, True, True, True, False, False]
    r = eng.report
    assert r["unreachable"] == 2 and r["beyond_snap"] == 1 and r["not_connected"] == 1
    assert r["graph_components"] == 2
    assert sorted(r["components_touched"].values()) == [2, 8]  # the island (2 nodes) and the town (8)


def test_nearest_drive_respects_oneway_and_skips_footway(drive):
    fac, dist, ok = _distances(NetworkEngine(drive))
    # o0 node1 cannot go up 1->6 (oneway 6->1): F0 by 1-5-7-8 = 800, F1 = 410 -> F1
    # o1: F0 30 + 300 + 200 + 200 = 730 (no footway), F1 340 -> F1
    assert fac == [1, 1, 1, 0, -1, -1]
    np.testing.assert_allclose(dist[:4], [410, 340, 110, 200], atol=TOL)
    # the oneway in both directions: 6 -> 1 is 200, 1 -> 6 goes round: 400 + 200 + 200 + 200
    one = NetworkEngine(drive).nearest(pts(N6), pts(N1))
    back = NetworkEngine(drive).nearest(pts(N1), pts(N6))
    assert one["distance_m"].iloc[0] == pytest.approx(200, abs=TOL)
    assert back["distance_m"].iloc[0] == pytest.approx(1000, abs=TOL)
    walked = NetworkEngine(read_road_graph(TOWN, mode="walk", crs=CRS)).nearest(pts(N1), pts(N6))
    assert walked["distance_m"].iloc[0] == pytest.approx(200, abs=TOL)


def test_footway_walk_only(walk, drive):
    o, f = pts(N3), pts(N8)
    assert NetworkEngine(walk).nearest(o, f)["distance_m"].iloc[0] == pytest.approx(200, abs=TOL)
    assert NetworkEngine(drive).nearest(o, f)["distance_m"].iloc[0] == pytest.approx(600, abs=TOL)  # 3-4-5-7-8


def test_detour_longer_than_straight_line(walk):
    o, f = pts((100, 30)), pts(N8)
    straight = StraightLineEngine(crs=CRS).nearest(o, f)["distance_m"].iloc[0]
    road = NetworkEngine(walk).nearest(o, f)["distance_m"].iloc[0]
    assert straight == pytest.approx(math.hypot(100, 170), abs=1e-6)
    assert road == pytest.approx(330, abs=TOL)
    assert road > straight + 100


def test_origins_in_lonlat_are_projected(walk):
    lonlat = ORIGINS.to_crs("EPSG:4326")
    _, dist, _ = _distances(NetworkEngine(walk), origins=lonlat)
    np.testing.assert_allclose(dist[:4], [400, 330, 110, 200], atol=TOL)


def test_no_facilities_everyone_unreachable(walk):
    eng = NetworkEngine(walk)
    out = eng.nearest(ORIGINS, FACILITIES.iloc[:0])
    assert (out["facility"] == -1).all() and out["distance_m"].isna().all() and not out["reachable"].any()
    assert eng.report["unreachable"] == len(ORIGINS)
    assert eng.within(ORIGINS, FACILITIES.iloc[:0], max_distance_m=500).empty


def test_facility_beyond_snap_is_ignored(walk):
    eng = NetworkEngine(walk, max_snap_m=50)
    out = eng.nearest(pts(N4), pts((400, 1000), N8))
    assert out["facility"].tolist() == [1] and out["distance_m"].iloc[0] == pytest.approx(300, abs=TOL)
    assert eng.report["facilities_beyond_snap"] == 1


def test_facility_only_on_island(walk):
    eng = NetworkEngine(walk)
    out = eng.nearest(pts(N1, (1030, 0)), pts((1100, 0)))
    assert out["reachable"].tolist() == [False, True]
    assert out["distance_m"].iloc[1] == pytest.approx(30 + 100, abs=TOL)  # 30 m snap to node 20, then road 20-21
    assert eng.report["not_connected"] == 1


# --------------------------------------------------------------------------- within

def test_within_walk_by_hand(walk):
    eng = NetworkEngine(walk)
    out = eng.within(ORIGINS, FACILITIES, max_distance_m=350)
    got = {(o, f): d for o, f, d in out.itertuples(index=False)}
    want = {(1, 0): 330, (1, 1): 340, (2, 1): 110, (2, 0): 300, (3, 0): 200, (3, 1): 210}
    assert set(got) == set(want)
    for k, d in want.items():
        assert got[k] == pytest.approx(d, abs=TOL)
    assert list(out.columns) == ["origin", "facility", "distance_m"]
    assert out["origin"].is_monotonic_increasing
    assert eng.report["unreachable"] == 2 and eng.report["origins_with_facility_within"] == 3


def test_within_drive(drive):
    out = NetworkEngine(drive).within(ORIGINS, FACILITIES, max_distance_m=350)
    assert {(o, f) for o, f, _ in out.itertuples(index=False)} == {(1, 1), (2, 1), (3, 0), (3, 1)}


@pytest.mark.parametrize("bad", [0, -5, float("inf"), float("nan"), "far"])
def test_within_bad_threshold(walk, bad):
    with pytest.raises(InputDataError):
        NetworkEngine(walk).within(ORIGINS, FACILITIES, max_distance_m=bad)


@pytest.mark.parametrize("bad", [0, -1])
def test_bad_snapping_distance(walk, bad):
    with pytest.raises(InputDataError, match="道路につなぐ距離の上限"):
        NetworkEngine(walk, max_snap_m=bad)


def test_description_japanese(walk, drive):
    assert NetworkEngine(walk).description == "道路網上の徒歩距離（town.osm）"
    assert NetworkEngine(drive).description == "道路網上の車距離（town.osm）"
    assert NetworkEngine(walk).mode == "network"


# --------------------------------------------------------------------------- a parallel, measured

def test_latitude_line_lengths_measured_with_pyproj():
    g = read_road_graph(OSM / "latitude_line.osm", mode="walk", crs=CRS)
    assert g.nodes == 4  # the motorway and its end node are not walkable
    lon = np.array([133.600, 133.601, 133.602, 133.605])
    x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(lon, np.full(4, 34.8))
    seg = np.hypot(np.diff(x), np.diff(y))
    facility = gpd.GeoDataFrame(geometry=[Point(x[0], y[0])], crs=CRS)
    origins = gpd.GeoDataFrame(geometry=[Point(a, b) for a, b in zip(x, y)], crs=CRS)
    out = NetworkEngine(g).nearest(origins, facility)
    np.testing.assert_allclose(out["distance_m"], np.concatenate([[0], np.cumsum(seg)]), atol=1e-6)
    # the plane's scale factor keeps the projected length within 0.1 % of the geodesic one
    geod = Geod(ellps="GRS80").line_length([133.600, 133.605], [34.8, 34.8])
    assert out["distance_m"].iloc[3] == pytest.approx(geod, rel=1e-3)
    drive = read_road_graph(OSM / "latitude_line.osm", mode="drive", crs=CRS)
    assert drive.nodes == 5  # motorway included when driving


# --------------------------------------------------------------------------- other formats

def _osm_xml(path: Path):
    root = ET.parse(path).getroot()
    nodes = {n.get("id"): (float(n.get("lon")), float(n.get("lat"))) for n in root.iter("node")}
    ways = []
    for w in root.iter("way"):
        tags = {t.get("k"): t.get("v") for t in w.iter("tag")}
        if "highway" in tags:
            ways.append(([nd.get("ref") for nd in w.iter("nd")], tags))
    return nodes, ways


def _graphml(tmp_path: Path, *, with_length: bool) -> Path:
    nodes, ways = _osm_xml(TOWN)
    to_plane = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    g = nx.MultiDiGraph(crs="epsg:4326")
    for refs, _ in ways:
        for r in refs:
            g.add_node(r, x=nodes[r][0], y=nodes[r][1])
    for refs, tags in ways:
        for a, b in zip(refs[:-1], refs[1:]):
            (xa, ya), (xb, yb) = (to_plane.transform(*nodes[r]) for r in (a, b))
            attrs = {"highway": tags["highway"], "osmid": 1}
            if with_length:
                attrs["length"] = math.hypot(xa - xb, ya - yb)
            g.add_edge(a, b, **attrs)
            if tags.get("oneway") != "yes":
                g.add_edge(b, a, **attrs)
    path = tmp_path / f"town_{with_length}.graphml"
    nx.write_graphml(g, path)
    return path


@pytest.mark.parametrize("with_length", [True, False])
@pytest.mark.parametrize("mode", ["walk", "drive"])
def test_graphml_same_as_osm(tmp_path, with_length, mode):
    path = _graphml(tmp_path, with_length=with_length)
    g = read_road_graph(path, mode=mode, crs=CRS)
    ref = _distances(NetworkEngine(read_road_graph(TOWN, mode=mode, crs=CRS)))
    got = _distances(NetworkEngine(g))
    assert got[0] == ref[0] and got[2] == ref[2]
    np.testing.assert_allclose(got[1], ref[1], atol=1e-6, equal_nan=True)


def test_pbf_same_as_osm(tmp_path):
    import osmium

    pbf = tmp_path / "town.osm.pbf"
    with osmium.SimpleWriter(str(pbf)) as writer:
        for obj in osmium.FileProcessor(str(TOWN)):
            writer.add(obj)
    for mode in ("walk", "drive"):
        ref = _distances(NetworkEngine(read_road_graph(TOWN, mode=mode, crs=CRS)))
        got = _distances(NetworkEngine(read_road_graph(pbf, mode=mode, crs=CRS)))
        assert got[0] == ref[0] and got[2] == ref[2]
        np.testing.assert_allclose(got[1], ref[1], atol=1e-6, equal_nan=True)


# --------------------------------------------------------------------------- bad input

def test_no_roads_error_names_file_and_types():
    with pytest.raises(InputDataError, match="徒歩で通れる道路がありません") as err:
        read_road_graph(OSM / "buildings_only.osm", mode="walk", crs=CRS)
    assert err.value.source == "buildings_only.osm"
    assert "footway" in str(err.value) and "residential" in str(err.value)


def test_footway_only_has_no_roads_for_driving(tmp_path):
    path = tmp_path / "paths.osm"
    path.write_text(TOWN.read_text().replace('v="residential"', 'v="footway"').replace('v="tertiary"', 'v="steps"')
                    .replace('v="unclassified"', 'v="path"'))
    assert read_road_graph(path, mode="walk", crs=CRS).nodes == 10
    with pytest.raises(InputDataError, match="車で通れる道路がありません") as err:
        read_road_graph(path, mode="drive", crs=CRS)
    assert "footway（" in str(err.value)  # says what it found


def test_missing_and_unreadable_files(tmp_path):
    with pytest.raises(InputDataError, match="道路網のファイルが見つかりません") as err:
        read_road_graph(tmp_path / "nope.osm.pbf", crs=CRS)
    assert "nope.osm.pbf" in str(err.value)
    broken = tmp_path / "broken.osm"
    broken.write_text("<osm><node id='1' lat=")
    with pytest.raises(InputDataError, match="ファイルを読めません") as err:
        read_road_graph(broken, crs=CRS)
    assert err.value.source == "broken.osm"
    garbage = tmp_path / "garbage.osm.pbf"
    garbage.write_bytes(b"\x00\x01not a pbf" * 10)
    with pytest.raises(InputDataError, match="ファイルを読めません"):
        read_road_graph(garbage, crs=CRS)
    other = tmp_path / "roads.shp"
    other.write_text("x")
    with pytest.raises(InputDataError, match="ファイル形式「.shp」は読めません"):
        read_road_graph(other, crs=CRS)
    with pytest.raises(InputDataError, match="移動手段（mode）"):
        read_road_graph(TOWN, mode="fly", crs=CRS)


def test_graphml_without_coordinates(tmp_path):
    g = nx.Graph()
    g.add_edge("a", "b", length=10.0)
    path = tmp_path / "nocoords.graphml"
    nx.write_graphml(g, path)
    with pytest.raises(InputDataError, match="x・y の座標がありません") as err:
        read_road_graph(path, crs=CRS)
    assert err.value.source == "nocoords.graphml"
    bad = tmp_path / "bad.graphml"
    bad.write_text("<graphml><graph")
    with pytest.raises(InputDataError, match="ファイルを読めません"):
        read_road_graph(bad, crs=CRS)


def test_find_road_network(tmp_path):
    assert find_road_network(tmp_path, city_code="33209") is None
    assert find_road_network(None, city_code="33209") is None
    (tmp_path / "okayama" / "roads").mkdir(parents=True)
    gm = tmp_path / "okayama" / "roads" / "33209_takahashi.graphml"
    gm.write_text("x")
    assert find_road_network(tmp_path, city_code="33209") == gm
    (tmp_path / "roads").mkdir()
    pbf = tmp_path / "roads" / "33209.osm.pbf"
    pbf.write_bytes(b"x")
    (tmp_path / "roads" / "33202.osm").write_text("x")
    assert find_road_network(tmp_path, city_code="33209") == pbf
    assert find_road_network(tmp_path, city_code="33210") is None


# --------------------------------------------------------------------------- property

@st.composite
def grids(draw):
    rows = draw(st.integers(2, 5))
    cols = draw(st.integers(2, 5))
    n = rows * cols
    xy = np.array([(100.0 * (k % cols), 100.0 * (k // cols)) for k in range(n)])
    edges = []
    for k in range(n):
        r, c = divmod(k, cols)
        if c + 1 < cols:
            edges.append((k, k + 1))
        if r + 1 < rows:
            edges.append((k, k + cols))
    keep = draw(st.lists(st.booleans(), min_size=len(edges), max_size=len(edges)))
    weights = draw(st.lists(st.floats(100, 400), min_size=len(edges), max_size=len(edges)))
    kept = [(a, b, w) for (a, b), k, w in zip(edges, keep, weights) if k]
    facilities = draw(st.lists(st.integers(0, n - 1), min_size=1, max_size=4))
    return xy, kept, facilities


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(grids())
def test_nearest_equals_min_of_per_facility_dijkstra(case):
    xy, kept, facilities = case
    n = len(xy)
    g = nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(kept)
    u = np.array([a for a, b, _ in kept] + [b for a, b, _ in kept], dtype=np.int64)
    v = np.array([b for a, b, _ in kept] + [a for a, b, _ in kept], dtype=np.int64)
    w = np.array([x for *_, x in kept] * 2, dtype=float)
    adj = sp.csr_matrix((w, (u, v)), shape=(n, n))
    graph = RoadGraph(node_ids=np.arange(n), xy=xy + [X0, Y0], adjacency=adj, crs=CRS, mode="walk", source="grid")
    origins = gpd.GeoDataFrame(geometry=[Point(X0 + x, Y0 + y) for x, y in xy], crs=CRS)
    fac = gpd.GeoDataFrame(geometry=[Point(X0 + xy[k][0], Y0 + xy[k][1]) for k in facilities], crs=CRS)
    eng = NetworkEngine(graph, max_snap_m=1.0)
    out = eng.nearest(origins, fac)
    per = [nx.single_source_dijkstra_path_length(g, k) for k in facilities]
    for node in range(n):
        best = min((d[node] for d in per if node in d), default=None)
        if best is None:
            assert not out["reachable"].iloc[node] and math.isnan(out["distance_m"].iloc[node])
        else:
            assert out["distance_m"].iloc[node] == pytest.approx(best)
            j = out["facility"].iloc[node]
            assert per[j].get(node) == pytest.approx(best)  # the facility named is one at that distance
    assert eng.report["unreachable"] == int((~out["reachable"]).sum())
    within = eng.within(origins, fac, max_distance_m=300)
    want = {(o, j) for j, d in enumerate(per) for o, x in d.items() if x <= 300}
    assert {(o, f) for o, f, _ in within.itertuples(index=False)} == want


def test_choose_engine_uses_a_road_file_in_the_data_folder(tmp_path):
    from api.analyses.base import choose_engine

    engine, notes = choose_engine("33209", data_dir=tmp_path)
    assert engine.mode == "straight" and "直線距離" in notes[0]
    (tmp_path / "roads").mkdir()
    (tmp_path / "roads" / "33209_test.osm").write_text(TOWN.read_text())
    engine, notes = choose_engine("33209", data_dir=tmp_path)
    assert engine.mode == "network" and "33209_test.osm" in notes[0]
    assert engine.nearest(pts(N3), pts(N8))["distance_m"].iloc[0] == pytest.approx(200, abs=TOL)
