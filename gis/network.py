"""Road graphs from OpenStreetMap or GraphML, and the network mode of the distance engine."""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyproj import Transformer
from scipy.sparse.csgraph import connected_components, dijkstra
from scipy.spatial import cKDTree

from gis.access import DistanceEngine, _xy, check_threshold
from gis.errors import InputDataError
from gis.travel_times import ACCESS_SPEED_KMH, edge_speed_kmh, seconds

#: OSM ``highway=*`` values walked on. Motorways (and their links) are not walkable in Japan.
#: ``cycleway`` is included: most Japanese cycle paths are 自転車歩行者道 shared with pedestrians.
WALK_HIGHWAYS = frozenset({
    "footway", "path", "pedestrian", "steps", "cycleway", "corridor", "bridleway",
    "residential", "living_street", "service", "track", "unclassified", "road",
    "tertiary", "tertiary_link", "secondary", "secondary_link",
    "primary", "primary_link", "trunk", "trunk_link",
})
#: OSM ``highway=*`` values driven on. ``track`` (農道・林道, often gated or unpaved) is left out,
#: as OSMnx's "drive" network does; footways, paths, steps and pedestrian streets are too.
DRIVE_HIGHWAYS = frozenset({
    "motorway", "motorway_link", "trunk", "trunk_link", "primary", "primary_link",
    "secondary", "secondary_link", "tertiary", "tertiary_link",
    "unclassified", "residential", "living_street", "service", "road",
})
MODES = {"walk": WALK_HIGHWAYS, "drive": DRIVE_HIGHWAYS}
_MODE_LABELS = {"walk": "徒歩", "drive": "車"}
_NO = {"no", "private"}
_YES = {"yes", "true", "1"}


@dataclass
class RoadGraph:
    """A road network ready for shortest paths.

    Attributes
    ----------
    node_ids
        OSM node id (or GraphML node key) of each node, in matrix order.
    xy
        ``(n, 2)`` node coordinates in ``crs`` (metres).
    adjacency
        ``(n, n)`` CSR matrix; entry ``[u, v]`` is the length in metres of the road from ``u``
        to ``v``. Symmetric for walking; for driving a oneway street has one direction only.
    crs
        Projected CRS of ``xy`` and of the lengths (a JGD2011 plane-rectangular zone).
    mode
        ``"walk"`` or ``"drive"``.
    source
        File name the graph was read from (said in outputs).
    components
        Connected-component label of each node (weakly connected for driving).
    durations
        Driving graphs: ``(n, n)`` CSR matrix of travel seconds per road segment at its speed
        (``maxspeed``, else the class's speed in :data:`gis.travel_times.DRIVE_SPEED_KMH`; a
        GraphML edge's ``travel_time`` or ``speed_kph`` when OSMnx wrote one). None for walking
        graphs: walkers go at one speed, so their times are length ÷ walking speed.
    """

    node_ids: np.ndarray
    xy: np.ndarray
    adjacency: sp.csr_matrix
    crs: str
    mode: str
    source: str
    components: np.ndarray = field(default=None)
    durations: sp.csr_matrix | None = None

    def __post_init__(self) -> None:
        if self.components is None:
            _, labels = connected_components(self.adjacency, directed=True, connection="weak")
            self.components = labels.astype(np.int64)

    @property
    def nodes(self) -> int:
        """Number of nodes."""
        return int(self.adjacency.shape[0])

    def _segments(self) -> sp.csr_matrix:
        sym = self.adjacency.maximum(self.adjacency.T)
        return sp.triu(sym, k=1).tocsr()

    @property
    def edges(self) -> int:
        """Number of road segments (a two-way street counts once)."""
        return int(self._segments().nnz)

    @property
    def total_length_km(self) -> float:
        """Total length of the road segments in kilometres (a two-way street counts once)."""
        return float(self._segments().sum()) / 1000.0

    @property
    def n_components(self) -> int:
        """Number of connected components."""
        return int(self.components.max() + 1) if len(self.components) else 0

    def summary(self) -> dict:
        """JSON-ready figures: nodes, edges, length (km), components, largest component share."""
        sizes = np.bincount(self.components) if len(self.components) else np.array([0])
        return {"source": self.source, "mode": self.mode, "crs": self.crs, "nodes": self.nodes,
                "edges": self.edges, "length_km": round(self.total_length_km, 3),
                "components": self.n_components,
                "largest_component_share": float(sizes.max() / max(self.nodes, 1))}


# --------------------------------------------------------------------------- reading

def read_road_graph(path: str | Path, *, mode: str = "walk", crs: str) -> RoadGraph:
    """Read a road graph from an OpenStreetMap extract (``.osm``, ``.osm.pbf``) or a GraphML file.

    OSM: ways whose ``highway`` tag suits the mode (:data:`WALK_HIGHWAYS`,
    :data:`DRIVE_HIGHWAYS`) become edges between consecutive nodes, with each segment's length
    measured in ``crs`` (the same plane the straight-line engine measures in, so a road
    distance is never shorter than the straight line). Ways tagged ``access=no/private``
    (walking: unless ``foot=yes``), ``foot=no`` (walking) or ``motor_vehicle``/``motorcar=no``
    (driving) are skipped. Driving respects ``oneway=yes|true|1|-1`` and the oneway implied by
    ``junction=roundabout`` and ``highway=motorway``; walking ignores oneway.

    GraphML (as OSMnx writes it): nodes need ``x``/``y`` (longitude/latitude unless the graph's
    ``crs`` attribute says otherwise); edge ``length`` (metres) is used when present, else the
    length of the edge ``geometry`` (WKT) or of the straight segment in ``crs``. Directed
    graphs keep their directions for driving; walking makes every edge two-way.

    Parameters
    ----------
    path
        The file.
    mode
        ``"walk"`` or ``"drive"``.
    crs
        Projected CRS to measure in, e.g. ``gis.crs.plane_rectangular_crs("33209")``.

    Returns
    -------
    RoadGraph

    Raises
    ------
    InputDataError
        File missing or unreadable, no road for the mode, GraphML nodes without coordinates.
    """
    if mode not in MODES:
        msg = f"移動手段（mode）は 'walk'（徒歩）か 'drive'（車）にしてください（指定は「{mode}」）"
        raise InputDataError(msg, en=f"mode must be 'walk' or 'drive', got {mode!r}")
    path = Path(path)
    name = path.name
    if not path.is_file():
        msg = "道路網のファイルが見つかりません"
        raise InputDataError(
            msg, en="road network file not found", source=str(path),
            hint="OpenStreetMap の .osm.pbf・.osm の切り出しか、GraphML のファイルを指定してください",
            hint_en="give an OpenStreetMap .osm.pbf/.osm extract or a GraphML file",
        )
    lower = name.lower()
    if lower.endswith(".graphml") or lower.endswith(".graphml.xml"):
        u, v, w, kmh, t_s, ids, lonlat_or_xy, src_crs = _read_graphml(path, mode=mode, crs=crs)
    elif lower.endswith((".osm", ".osm.pbf", ".pbf", ".osm.xml", ".osm.bz2", ".osm.gz")):
        u, v, w, kmh, t_s, ids, lonlat_or_xy, src_crs = _read_osm(path, mode=mode, crs=crs)
    else:
        msg = f"道路網のファイル形式「{path.suffix}」は読めません"
        raise InputDataError(
            msg, en=f"unknown road network format {path.suffix!r}", source=name,
            hint=".osm.pbf・.osm（OpenStreetMap）か .graphml（OSMnx）を使ってください",
            hint_en="use .osm.pbf, .osm (OpenStreetMap) or .graphml (OSMnx)",
        )
    xy = _project(lonlat_or_xy, src_crs, crs)
    if w is None:  # lengths from projected coordinates
        w = np.hypot(*(xy[u] - xy[v]).T)
    adjacency = _adjacency(u, v, w, len(ids))
    durations = None
    if mode == "drive":
        # seconds per segment: explicit times where the file had them, else length at the speed
        t = np.where(np.isfinite(t_s), t_s, seconds(w, kmh))
        durations = _adjacency(u, v, t, len(ids))
    return RoadGraph(node_ids=ids, xy=xy, adjacency=adjacency, crs=crs, mode=mode, source=name, durations=durations)


def _project(coords: np.ndarray, src: str, dst: str) -> np.ndarray:
    if len(coords) == 0:
        return np.empty((0, 2))
    if str(src).upper() == str(dst).upper():
        return np.asarray(coords, dtype=float)
    tr = Transformer.from_crs(src, dst, always_xy=True)
    x, y = tr.transform(coords[:, 0], coords[:, 1])
    return np.column_stack([x, y])


def _adjacency(u: np.ndarray, v: np.ndarray, w: np.ndarray, n: int) -> sp.csr_matrix:
    """CSR matrix with the shortest of parallel edges; self-loops dropped; zero lengths kept."""
    keep = u != v
    frame = pd.DataFrame({"u": u[keep], "v": v[keep], "w": w[keep]}).groupby(["u", "v"], sort=True)["w"].min()
    rows = frame.index.get_level_values(0).to_numpy()
    cols = frame.index.get_level_values(1).to_numpy()
    return sp.csr_matrix((frame.to_numpy(dtype=float), (rows, cols)), shape=(n, n))


def _oneway(tags: dict, highway: str) -> int:
    """+1 forward only, -1 backward only, 0 both ways (driving)."""
    value = str(tags.get("oneway", "")).strip().lower()
    if value in _YES:
        return 1
    if value in {"-1", "reverse"}:
        return -1
    if value == "no":
        return 0
    if tags.get("junction") in {"roundabout", "circular"} or highway == "motorway":
        return 1
    return 0


def _usable(tags: dict, mode: str) -> bool:
    highway = tags.get("highway")
    if highway not in MODES[mode] or tags.get("area") == "yes":
        return False
    access = tags.get("access")
    if mode == "walk":
        if tags.get("foot") in _NO:
            return False
        return not (access in _NO and tags.get("foot") not in {"yes", "designated", "permissive"})
    if tags.get("motor_vehicle") in _NO or tags.get("motorcar") in _NO:
        return False
    return access not in _NO


def _read_osm(path: Path, *, mode: str, crs: str):
    try:
        import osmium
    except ImportError as exc:  # pragma: no cover - osmium is a dependency
        msg = "OpenStreetMap のファイルを読むには pyosmium が必要です"
        raise InputDataError(
            msg, en="reading OpenStreetMap files needs pyosmium", source=path.name,
            hint="pip install osmium でインストールしてください", hint_en="pip install osmium",
        ) from exc
    index: dict[int, int] = {}
    lonlat: list[tuple[float, float]] = []
    us: list[int] = []
    vs: list[int] = []
    speeds: list[float] = []
    seen_types: dict[str, int] = {}
    missing = 0
    try:
        fp = osmium.FileProcessor(str(path), osmium.osm.NODE | osmium.osm.WAY).with_locations()
        for obj in fp:
            if not obj.is_way():
                continue
            tags = {t.k: t.v for t in obj.tags}
            if "highway" not in tags:
                continue
            seen_types[tags["highway"]] = seen_types.get(tags["highway"], 0) + 1
            if not _usable(tags, mode):
                continue
            refs = []
            for nd in obj.nodes:
                loc = nd.location
                if not loc.valid():
                    missing += 1
                    continue
                k = index.get(nd.ref)
                if k is None:
                    k = index[nd.ref] = len(lonlat)
                    lonlat.append((loc.lon, loc.lat))
                refs.append(k)
            direction = _oneway(tags, tags["highway"]) if mode == "drive" else 0
            kmh = edge_speed_kmh(tags["highway"], tags.get("maxspeed"))
            for a, b in zip(refs[:-1], refs[1:]):
                if direction >= 0:
                    us.append(a)
                    vs.append(b)
                    speeds.append(kmh)
                if direction <= 0:
                    us.append(b)
                    vs.append(a)
                    speeds.append(kmh)
    except InputDataError:
        raise
    except Exception as exc:  # osmium raises RuntimeError for unreadable files
        msg = f"この OpenStreetMap のファイルを読めません（{exc}）"
        raise InputDataError(
            msg, en=f"cannot read this OpenStreetMap file ({exc})", source=path.name,
            hint="地域ごとにダウンロードできる .osm.pbf か .osm の切り出しを指定してください",
            hint_en="give an .osm.pbf or .osm extract, e.g. from a regional download",
        ) from exc
    if not us:
        wanted = ", ".join(sorted(MODES[mode]))
        found = ", ".join(f"{k} ({n})" for k, n in sorted(seen_types.items())) or "none"
        found_ja = "、".join(f"{k}（{n}）" for k, n in sorted(seen_types.items())) or "なし"
        msg = (f"この OpenStreetMap のファイルに{_MODE_LABELS.get(mode, mode)}で通れる道路がありません"
               f"（探した道路の種類: {wanted}。あった種類: {found_ja}）")
        raise InputDataError(
            msg, en=f"no roads for {mode} mode in this OpenStreetMap file (highway types looked for: {wanted}; found: {found})",
            source=path.name,
            hint="切り出しが市の範囲を含み、道路（highway）を含んでいるか確かめてください"
            + ("。道路の節点が切り出しから抜けています" if missing else ""),
            hint_en="check the extract covers the city and holds highway ways"
            + ("; nodes of the ways are missing from the extract" if missing else ""),
        )
    ids = np.fromiter(index.keys(), dtype=np.int64, count=len(index))
    coords = np.asarray(lonlat, dtype=float)
    u = np.asarray(us, dtype=np.int64)
    v = np.asarray(vs, dtype=np.int64)
    xy = _project(coords, "EPSG:4326", crs)
    w = np.hypot(*(xy[u] - xy[v]).T)
    kmh = np.asarray(speeds, dtype=float)
    return u, v, w, kmh, np.full(len(u), np.nan), ids, coords, "EPSG:4326"


def _highway_values(value) -> set[str]:
    if value is None:
        return set()
    if isinstance(value, (list, tuple, set)):
        return {str(x) for x in value}
    text = str(value)
    if text.startswith("["):
        try:
            return {str(x) for x in ast.literal_eval(text)}
        except (ValueError, SyntaxError):
            pass
    return {text}


def _read_graphml(path: Path, *, mode: str, crs: str):
    import networkx as nx

    try:
        graph = nx.read_graphml(path)
    except Exception as exc:
        msg = f"この GraphML のファイルを読めません（{exc}）"
        raise InputDataError(
            msg, en=f"cannot read this GraphML file ({exc})", source=path.name,
            hint="networkx.write_graphml か osmnx.save_graphml で書き出してください",
            hint_en="write it with networkx.write_graphml or osmnx.save_graphml",
        ) from exc
    if graph.number_of_nodes() == 0 or graph.number_of_edges() == 0:
        msg = "この GraphML のファイルに道路がありません（辺が1本もありません）"
        raise InputDataError(msg, en="no roads in this GraphML file (it has no edges)", source=path.name)
    keys = list(graph.nodes)
    index = {k: i for i, k in enumerate(keys)}
    coords = np.empty((len(keys), 2))
    for i, k in enumerate(keys):
        data = graph.nodes[k]
        try:
            coords[i] = (float(data["x"]), float(data["y"]))
        except (KeyError, TypeError, ValueError) as exc:
            msg = f"節点「{k}」に x・y の座標がありません"
            raise InputDataError(
                msg, en=f"node {k!r} has no x/y coordinates", source=path.name,
                hint="GraphML の節点には、OSMnx が書き出すように x（経度）と y（緯度）が必要です",
                hint_en="GraphML nodes need x (longitude) and y (latitude) attributes, as OSMnx writes them",
            ) from exc
    src_crs = str(graph.graph.get("crs") or "EPSG:4326")
    if src_crs.upper() == "EPSG:4326" and (np.abs(coords[:, 0]).max() > 180 or np.abs(coords[:, 1]).max() > 90):
        msg = "節点の x・y が経度・緯度ではないのに、グラフに座標系（crs）の指定がありません"
        raise InputDataError(
            msg, en="node x/y are not longitude/latitude and the graph has no crs attribute", source=path.name,
            hint="グラフの属性 crs を指定してください（例: 'EPSG:6673'）",
            hint_en="set the graph attribute crs, e.g. 'EPSG:6673'",
        )
    xy = _project(coords, src_crs, crs)
    directed = graph.is_directed() and mode == "drive"
    us, vs, ws, kmhs, ts = [], [], [], [], []
    seen_types: set[str] = set()
    for a, b, data in graph.edges(data=True):
        types = _highway_values(data.get("highway"))
        seen_types |= types
        if types and not (types & MODES[mode]):
            continue
        i, j = index[a], index[b]
        length = _edge_length(data, xy[i], xy[j], src_crs, crs)
        kmh = _positive(data.get("speed_kph")) or edge_speed_kmh(sorted(types) or None, data.get("maxspeed"))
        t = _positive(data.get("travel_time")) or math.nan
        for a2, b2 in ((i, j), (j, i)) if not directed else ((i, j),):
            us.append(a2)
            vs.append(b2)
            ws.append(length)
            kmhs.append(kmh)
            ts.append(t)
    if not us:
        wanted = ", ".join(sorted(MODES[mode]))
        msg = (f"この GraphML のファイルに{_MODE_LABELS.get(mode, mode)}で通れる道路がありません"
               f"（探した道路の種類: {wanted}。あった種類: {'、'.join(sorted(seen_types)) or 'なし'}）")
        raise InputDataError(
            msg, en=f"no roads for {mode} mode in this GraphML file (highway types looked for: {wanted}; "
            f"found: {', '.join(sorted(seen_types)) or 'none'})",
            source=path.name,
        )
    return (np.asarray(us, dtype=np.int64), np.asarray(vs, dtype=np.int64), np.asarray(ws, dtype=float),
            np.asarray(kmhs, dtype=float), np.asarray(ts, dtype=float), np.asarray(keys, dtype=object), coords, src_crs)


def _positive(value) -> float | None:
    """A positive finite number from a GraphML attribute (text), else None."""
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) and x > 0 else None


def _edge_length(data: dict, a: np.ndarray, b: np.ndarray, src_crs: str, crs: str) -> float:
    value = data.get("length")
    if value is not None:
        try:
            length = float(value)
        except (TypeError, ValueError):
            length = math.nan
        if math.isfinite(length) and length >= 0:
            return length
    geom = data.get("geometry")
    if geom:
        try:
            from shapely import wkt

            line = gpd.GeoSeries([wkt.loads(str(geom))], crs=src_crs).to_crs(crs)
            return float(line.length.iloc[0])
        except Exception:  # fall back to the straight segment
            pass
    return float(np.hypot(*(a - b)))


# --------------------------------------------------------------------------- finding

def find_road_network(data_dir: str | Path | None, *, city_code: str) -> Path | None:
    """Find a road file for the city in the data folder, or None.

    Looks in ``<data_dir>/roads/`` and ``<data_dir>/okayama/roads/`` for
    ``<city_code>*.osm.pbf``, ``<city_code>*.osm`` and ``<city_code>*.graphml`` (in that order of
    preference), e.g. ``roads/33209_takahashi.osm.pbf``.
    """
    if data_dir is None:
        return None
    base = Path(data_dir)
    code = str(city_code).strip()
    for folder in (base / "roads", base / "okayama" / "roads"):
        if not folder.is_dir():
            continue
        for suffix in (".osm.pbf", ".osm", ".graphml"):
            hits = sorted(p for p in folder.glob(f"{code}*{suffix}") if p.is_file())
            if hits:
                return hits[0]
    return None


# --------------------------------------------------------------------------- engine

class NetworkEngine(DistanceEngine):
    """Shortest-path distance on a road graph, for every origin in one multi-source pass.

    Origins and facilities are snapped to their nearest graph node (k-d tree) and the snapping
    distance is added to the road distance; a point farther than ``max_snap_m`` from every node
    is unreachable. Distances run from the origin to the facility (on a driving graph with
    oneway streets, the way there). After each call, :attr:`report` says how many origins
    could not be reached and why.

    Parameters
    ----------
    graph
        From :func:`read_road_graph`.
    max_snap_m
        Largest distance from a point to its nearest node that still counts as on the network.
    """

    mode = "network"

    def __init__(self, graph: RoadGraph, *, max_snap_m: float = 500.0) -> None:
        self.graph = graph
        self.max_snap_m = check_threshold(max_snap_m, what="道路につなぐ距離の上限", what_en="snapping distance")
        self.crs = graph.crs
        self.description = f"道路網上の{_MODE_LABELS.get(graph.mode, '')}距離（{graph.source}）"
        self._tree = cKDTree(graph.xy)
        # Dijkstra runs from the facilities: on a directed graph, walk the roads backwards so
        # that the distance found is origin → facility.
        adj = graph.adjacency
        self._reverse = adj.T.tocsr() if graph.mode == "drive" else adj
        self._sizes = np.bincount(graph.components, minlength=graph.n_components)
        self.report: dict = {}

    # ---- helpers
    def _snap(self, gdf: gpd.GeoDataFrame, what: str) -> tuple[np.ndarray, np.ndarray]:
        """Node index (-1 beyond snapping distance) and snapping distance of each point."""
        xy = _xy(gdf, self.crs, what)
        if len(xy) == 0:
            return np.empty(0, dtype=np.int64), np.empty(0)
        ok = np.isfinite(xy).all(axis=1)
        node = np.full(len(xy), -1, dtype=np.int64)
        dist = np.full(len(xy), np.nan)
        if ok.any():
            d, i = self._tree.query(xy[ok], k=1, distance_upper_bound=self.max_snap_m)
            hit = np.isfinite(d) & (i < self.graph.nodes)
            node_ok = np.where(hit, i, -1)
            node[ok] = node_ok
            dist[ok] = np.where(hit, d, np.nan)
        return node, dist

    def _augmented(self, f_node: np.ndarray, f_snap: np.ndarray) -> tuple[sp.csr_matrix, np.ndarray]:
        """Reverse graph plus one virtual source per facility joined to its node by its snap distance."""
        n = self.graph.nodes
        m = len(f_node)
        rev = self._reverse.tocoo()
        rows = np.concatenate([rev.row, n + np.arange(m)])
        cols = np.concatenate([rev.col, f_node])
        data = np.concatenate([rev.data, f_snap])
        return sp.csr_matrix((data, (rows, cols)), shape=(n + m, n + m)), n + np.arange(m)

    def _base_report(self, o_node, f_node) -> dict:
        comps = self.graph.components
        on = o_node[o_node >= 0]
        fn = f_node[f_node >= 0]
        touched = np.union1d(np.unique(comps[on]), np.unique(comps[fn])) if len(on) or len(fn) else np.array([], int)
        return {
            "origins": int(len(o_node)),
            "beyond_snap": int((o_node < 0).sum()),
            "facilities": int(len(f_node)),
            "facilities_beyond_snap": int((f_node < 0).sum()),
            "max_snap_m": self.max_snap_m,
            "graph_components": self.graph.n_components,
            "components_touched": {int(c): int(self._sizes[c]) for c in touched},
            "facility_components": sorted({int(c) for c in comps[fn]}),
        }

    # ---- interface
    def nearest(self, origins: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame) -> pd.DataFrame:
        """Nearest facility of every origin by road (one multi-source Dijkstra); see DistanceEngine."""
        o_node, o_snap = self._snap(origins, "origins")
        f_node_all, f_snap_all = self._snap(facilities, "facilities")
        n_o = len(o_node)
        facility = np.full(n_o, -1, dtype=np.int64)
        distance = np.full(n_o, np.nan)
        usable = np.flatnonzero(f_node_all >= 0)
        if len(usable) and (o_node >= 0).any():
            graph, sources = self._augmented(f_node_all[usable], f_snap_all[usable])
            dist, _, src = dijkstra(graph, directed=True, indices=sources, min_only=True, return_predecessors=True)
            on = o_node >= 0
            d = dist[o_node[on]] + o_snap[on]
            s = src[o_node[on]]
            ok = np.isfinite(d) & (s >= 0)
            idx = np.flatnonzero(on)[ok]
            distance[idx] = d[ok]
            facility[idx] = usable[s[ok] - self.graph.nodes]
        reachable = facility >= 0
        report = self._base_report(o_node, f_node_all)
        report["unreachable"] = int((~reachable).sum())
        report["not_connected"] = report["unreachable"] - report["beyond_snap"]
        self.report = report
        return pd.DataFrame({"facility": facility, "distance_m": distance, "reachable": reachable})

    def within(self, origins: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, *, max_distance_m: float,
               chunk: int = 64) -> pd.DataFrame:
        """All (origin, facility) pairs within ``max_distance_m`` by road; see DistanceEngine.

        One Dijkstra per facility, cut at the threshold (facilities are tens to hundreds).
        """
        limit = check_threshold(max_distance_m)
        o_node, o_snap = self._snap(origins, "origins")
        f_node_all, f_snap_all = self._snap(facilities, "facilities")
        usable = np.flatnonzero(f_node_all >= 0)
        pieces = []
        on = np.flatnonzero(o_node >= 0)
        if len(usable) and len(on):
            uniq, inv = np.unique(o_node[on], return_inverse=True)
            graph, sources = self._augmented(f_node_all[usable], f_snap_all[usable])
            for start in range(0, len(usable), chunk):
                block = sources[start:start + chunk]
                dist = dijkstra(graph, directed=True, indices=block, limit=limit)
                total = dist[:, uniq][:, inv] + o_snap[on][None, :]
                fi, oi = np.nonzero(total <= limit)
                if len(fi):
                    pieces.append(pd.DataFrame({"origin": on[oi].astype(np.int64),
                                                "facility": usable[start + fi].astype(np.int64),
                                                "distance_m": total[fi, oi].astype(float)}))
        if pieces:
            out = pd.concat(pieces, ignore_index=True).sort_values(["origin", "distance_m"], kind="stable")
            out = out.reset_index(drop=True)
        else:
            out = pd.DataFrame({"origin": np.array([], dtype=np.int64), "facility": np.array([], dtype=np.int64),
                                "distance_m": np.array([], dtype=float)})
        report = self._base_report(o_node, f_node_all)
        comps = self.graph.components
        fcomps = np.unique(comps[f_node_all[usable]]) if len(usable) else np.array([], dtype=np.int64)
        connected = np.zeros(len(o_node), dtype=bool)
        connected[on] = np.isin(comps[o_node[on]], fcomps)
        report["unreachable"] = int((~connected).sum())
        report["not_connected"] = report["unreachable"] - report["beyond_snap"]
        report["max_distance_m"] = limit
        report["origins_with_facility_within"] = int(out["origin"].nunique())
        self.report = report
        return out

    def travel_time_matrix(self, points: gpd.GeoDataFrame, *, chunk: int = 64) -> np.ndarray:
        """Driving seconds between every pair of points over the fastest roads.

        Each point is snapped to its nearest node as in :meth:`nearest`; its leg to the node is
        driven at :data:`gis.travel_times.ACCESS_SPEED_KMH`. One Dijkstra per distinct node on
        the segment travel times (:attr:`RoadGraph.durations`), in blocks of ``chunk``.

        Returns
        -------
        numpy.ndarray
            ``(n, n)`` seconds from row point to column point; NaN where a point lies beyond the
            snapping distance or no road joins the two; 0 on the diagonal.

        Raises
        ------
        InputDataError
            The graph is a walking graph (it has no driving times).
        """
        if self.graph.durations is None:
            msg = "徒歩の道路網には車の所要時間がありません"
            raise InputDataError(
                msg,
                en="a walking network has no driving times",
                source=self.graph.source,
                hint="車の道路網（mode='drive'）で読み込んでください",
                hint_en="read the network with mode='drive'",
            )
        node, snap = self._snap(points, "points")
        n = len(node)
        out = np.full((n, n), np.nan)
        ok = np.flatnonzero(node >= 0)
        if len(ok):
            uniq, inv = np.unique(node[ok], return_inverse=True)
            between = np.empty((len(uniq), len(uniq)))
            for start in range(0, len(uniq), chunk):
                block = uniq[start:start + chunk]
                between[start:start + len(block)] = dijkstra(self.graph.durations, directed=True, indices=block)[:, uniq]
            legs = seconds(snap[ok], ACCESS_SPEED_KMH)
            out[np.ix_(ok, ok)] = legs[:, None] + between[np.ix_(inv, inv)] + legs[None, :]
        out[~np.isfinite(out)] = np.nan  # no road between the two
        np.fill_diagonal(out, 0.0)
        return out
