"""Benchmark: nearest facility by road for every demand point of 高梁市, several ways, side by side.

Run ``python3 benchmarks/nearest_facility.py`` (``--help`` for options). Methods, all on the
same graph, the same demand points (real 100 m mesh demand of 高梁市) and the same facilities
(real 公民館・集会所 from the 国土地理院 shelter lists):

(a) ``gis.network.NetworkEngine.nearest``: one multi-source Dijkstra (scipy.sparse.csgraph,
    ``min_only=True``), snapping included.
(b) baseline: plain per-source Dijkstra in networkx, ``nx.single_source_dijkstra_path_length``
    from each facility in turn, then the minimum per node (one Dijkstra per facility, not per
    demand point: per demand point would be ~68,000 runs).
(c) networkx ``multi_source_dijkstra_path_length`` (one pass, pure Python) for reference.
(d) pandana (contraction hierarchies) ``nearest_pois``, when it installs; its preprocessing
    is timed separately.
(e) igraph: one C Dijkstra from a virtual super-source joined to every facility node.

No OpenStreetMap extract ships in the shared data and none can be downloaded offline, so by
default the graph is a stand-in: a 100 m lattice clipped to the 高梁市 boundary (N03). Give
``--graph PATH`` (``.osm.pbf``, ``.osm`` or ``.graphml``) to run on a real road network.
Every method's distances are checked against (a); times are printed as ratios to (b).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import geopandas as gpd  # noqa: E402
import scipy.sparse as sp  # noqa: E402
from scipy.spatial import cKDTree  # noqa: E402
from shapely import contains_xy  # noqa: E402

import data as manifest  # noqa: E402
from gis.crs import plane_rectangular_crs  # noqa: E402
from gis.demand import demand_points  # noqa: E402
from gis.network import NetworkEngine, RoadGraph, read_road_graph  # noqa: E402
from gis.opendata import municipality, read_census_small_areas  # noqa: E402
from gis.resources import read_shelters  # noqa: E402

CITY = "33209"  # 高梁市
ELDERLY_SHARE = 11925 / 29072  # 2020 census, 高梁市
#: Largest difference accepted between methods: pandana keeps edge weights in single precision
#: (differences of about 2 cm over 12 km were seen).
TOLERANCE_M = 0.1


def lattice_graph(boundary: gpd.GeoDataFrame, *, crs: str, spacing_m: float, jitter_m: float = 15.0,
                  seed: int = 0) -> RoadGraph:
    """A square lattice of ``spacing_m`` clipped to the boundary: nodes inside, 4-neighbour edges.

    Each node is moved by up to ``jitter_m`` (seeded) and edges are as long as the straight line
    between their ends, so lengths vary as on real roads: with all lengths equal, shortest paths
    tie everywhere and contraction hierarchies (pandana) degenerate (1,600 nodes took 12 s to
    contract, 55,000 did not finish in 15 min).
    """
    geom = boundary.to_crs(crs).geometry.union_all()
    minx, miny, maxx, maxy = geom.bounds
    xs = np.arange(minx, maxx + spacing_m, spacing_m)
    ys = np.arange(miny, maxy + spacing_m, spacing_m)
    gx, gy = np.meshgrid(xs, ys)
    inside = contains_xy(geom, gx, gy)
    index = np.full(gx.shape, -1, dtype=np.int64)
    index[inside] = np.arange(inside.sum())
    us, vs = [], []
    for a, b in ((index[:, :-1], index[:, 1:]), (index[:-1, :], index[1:, :])):
        ok = (a >= 0) & (b >= 0)
        us.append(a[ok])
        vs.append(b[ok])
    u = np.concatenate(us)
    v = np.concatenate(vs)
    n = int(inside.sum())
    rng = np.random.default_rng(seed)
    xy = np.column_stack([gx[inside], gy[inside]]) + rng.uniform(-jitter_m, jitter_m, size=(n, 2))
    w = np.hypot(*(xy[u] - xy[v]).T)
    adj = sp.csr_matrix((np.concatenate([w, w]), (np.concatenate([u, v]), np.concatenate([v, u]))), shape=(n, n))
    return RoadGraph(node_ids=np.arange(n), xy=xy, adjacency=adj, crs=crs, mode="walk",
                     source=f"{spacing_m:g} m lattice (±{jitter_m:g} m) clipped to 高梁市 (stand-in)")


def load_inputs(data_dir: Path, crs: str):
    m = manifest.manifest()
    boundary = municipality(data_dir / m["municipalities"]["path"], CITY)
    small = read_census_small_areas(data_dir / m["small_areas"]["path"], city_code=CITY)
    demand = demand_points(small, crs=crs, elderly_share=ELDERLY_SHARE)
    files = sorted((data_dir / "okayama" / "shelters").glob(f"*_{CITY}?.json"))
    places = read_shelters(files)
    facilities = places[places["kind"].isin(["kominkan", "meeting_hall"])].reset_index(drop=True)
    return boundary, demand, facilities


def timed(func, repeat: int):
    best, out = np.inf, None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - t0)
    return best, out


def _pandana_child(graph: RoadGraph, fnode, horizon: float, repeat: int, queue) -> None:
    import contextlib
    import os

    try:
        import pandana
    except ImportError as exc:
        queue.put(f"not importable ({exc}); pip install pandana")
        return
    try:
        queue.put(_pandana_run(graph, fnode, horizon, repeat, pandana, queue))
    except Exception as exc:  # report, do not hang the parent
        queue.put(f"failed: {exc!r}")


def _pandana_run(graph: RoadGraph, fnode, horizon: float, repeat: int, pandana, queue):
    import contextlib
    import os

    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        os.dup2(null.fileno(), 1)  # pandana's C++ progress dots
        t0 = time.perf_counter()
        edges = graph.adjacency.tocoo()
        directed = graph.mode == "drive"
        keep = edges.row < edges.col if not directed else np.ones(edges.nnz, dtype=bool)
        net = pandana.Network(pd.Series(graph.xy[:, 0]), pd.Series(graph.xy[:, 1]), pd.Series(edges.row[keep]),
                              pd.Series(edges.col[keep]), pd.DataFrame({"length": edges.data[keep]}), twoway=not directed)
        build = time.perf_counter() - t0
        queue.put(("built", build))
        best, dist = np.inf, None
        for _ in range(repeat):
            t0 = time.perf_counter()
            net.set_pois("fac", horizon, 1, pd.Series(graph.xy[fnode, 0]), pd.Series(graph.xy[fnode, 1]))
            res = net.nearest_pois(horizon, "fac", num_pois=1)
            dist = np.array(res[1].to_numpy(dtype=float), copy=True)
            dist[dist >= horizon] = np.nan
            best = min(best, time.perf_counter() - t0)
    return build, best, dist


def run_pandana(graph: RoadGraph, fnode, horizon: float, *, repeat: int, timeout: float):
    """(preprocessing s, best query s, node distances) from pandana in a child process, or why not."""
    import multiprocessing as mp
    import queue as queue_mod

    ctx = mp.get_context("fork")
    q = ctx.Queue()
    proc = ctx.Process(target=_pandana_child, args=(graph, fnode, horizon, repeat, q))
    proc.start()
    start = time.perf_counter()
    try:
        first = q.get(timeout=timeout)
    except queue_mod.Empty:
        return (f"its contraction-hierarchy preprocessing of {graph.nodes:,} nodes did not finish within "
                f"{timeout:.0f} s (--pandana-timeout)")
    if not (isinstance(first, tuple) and first[0] == "built"):
        return first
    try:
        return q.get(timeout=max(timeout - (time.perf_counter() - start), 1.0))
    except queue_mod.Empty:
        return (f"preprocessing took {first[1]:.0f} s, then nearest_pois (horizon {horizon:,.0f} m) did not "
                f"finish within the {timeout:.0f} s budget (--pandana-timeout)")
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data")
    ap.add_argument("--graph", type=Path, default=None, help="a real .osm.pbf/.osm/.graphml instead of the lattice")
    ap.add_argument("--mode", choices=["walk", "drive"], default="walk")
    ap.add_argument("--spacing", type=float, default=100.0, help="lattice spacing in metres (stand-in graph)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of the fast methods (best time kept)")
    ap.add_argument("--pandana-timeout", type=float, default=300.0, help="seconds before pandana is given up")
    ap.add_argument("--skip", nargs="*", default=[], help="methods to skip: nx nx-multi pandana igraph")
    args = ap.parse_args(argv)

    crs = plane_rectangular_crs(CITY)
    t0 = time.perf_counter()
    boundary, demand, facilities = load_inputs(args.data_dir, crs)
    if args.graph:
        graph = read_road_graph(args.graph, mode=args.mode, crs=crs)
        print(f"graph: {args.graph.name} ({args.mode})")
    else:
        graph = lattice_graph(boundary, crs=crs, spacing_m=args.spacing)
        print("graph: STAND-IN — a {:g} m lattice (nodes jittered ±15 m, seeded) clipped to the 高梁市 N03 boundary, because no OpenStreetMap "
              "extract is available offline (run with --graph PATH for a real .osm.pbf/.graphml)".format(args.spacing))
    s = graph.summary()
    print(f"  nodes {s['nodes']:,}  edges {s['edges']:,}  length {s['length_km']:,.0f} km  components {s['components']}"
          f"  (largest {s['largest_component_share']:.1%})")
    print(f"demand: {len(demand):,} points of the 100 m mesh (population {demand['population'].sum():,.0f}); "
          f"facilities: {len(facilities)} 公民館・集会所 (国土地理院 指定緊急避難場所・指定避難所); inputs {time.perf_counter() - t0:.1f} s")

    # Facilities are moved onto their nearest node first so that every method measures the same
    # node-to-node distances (pandana and igraph do not add a facility's snapping distance).
    tree = cKDTree(graph.xy)
    fxy = np.column_stack([facilities.geometry.to_crs(crs).x, facilities.geometry.to_crs(crs).y])
    fsnap, fnode = tree.query(fxy)
    fnode = np.unique(fnode)
    fac = gpd.GeoDataFrame(geometry=gpd.points_from_xy(graph.xy[fnode, 0], graph.xy[fnode, 1]), crs=crs)
    print(f"  facilities snapped to {len(fnode)} distinct nodes (median snap {np.median(fsnap):.0f} m)")
    dg = demand.geometry.to_crs(crs)
    oxy = np.column_stack([dg.x, dg.y])
    directed = graph.mode == "drive"
    rev = graph.adjacency.T.tocsr() if directed else graph.adjacency
    n = graph.nodes
    max_snap = 500.0

    def snap_origins():
        d, i = tree.query(oxy, distance_upper_bound=max_snap)
        ok = i < n
        return np.where(ok, i, 0), np.where(ok, d, np.nan)

    def per_point(node_dist):
        onode, osnap = snap_origins()
        return node_dist[onode] + osnap

    results: dict[str, dict] = {}

    engine = NetworkEngine(graph, max_snap_m=max_snap)
    t, out = timed(lambda: engine.nearest(demand, fac), args.repeat)
    ref = out["distance_m"].to_numpy()
    results["(a) NetworkEngine.nearest (scipy multi-source)"] = {"time": t, "dist": ref}
    print(f"  engine report: {engine.report['unreachable']:,} demand points unreachable "
          f"({engine.report['beyond_snap']:,} beyond {max_snap:.0f} m of the network)")

    import networkx as nx

    t0 = time.perf_counter()
    coo = rev.tocoo()
    g = nx.DiGraph() if directed else nx.Graph()
    g.add_nodes_from(range(n))
    g.add_weighted_edges_from(zip(coo.row.tolist(), coo.col.tolist(), coo.data.tolist()))
    nx_build = time.perf_counter() - t0

    if "nx" not in args.skip:
        def nx_per_source():
            best = np.full(n, np.inf)
            for f in fnode:
                lengths = nx.single_source_dijkstra_path_length(g, int(f), weight="weight")
                idx = np.fromiter(lengths.keys(), dtype=np.int64, count=len(lengths))
                val = np.fromiter(lengths.values(), dtype=float, count=len(lengths))
                np.minimum.at(best, idx, val)
            return per_point(np.where(np.isfinite(best), best, np.nan))

        t, d = timed(nx_per_source, 1)
        results["(b) networkx per-source Dijkstra, min (baseline)"] = {"time": t, "dist": d}

    if "nx-multi" not in args.skip:
        def nx_multi():
            lengths = nx.multi_source_dijkstra_path_length(g, {int(f) for f in fnode}, weight="weight")
            best = np.full(n, np.nan)
            best[np.fromiter(lengths.keys(), dtype=np.int64)] = np.fromiter(lengths.values(), dtype=float)
            return per_point(best)

        t, d = timed(nx_multi, 1)
        results["(c) networkx multi_source_dijkstra"] = {"time": t, "dist": d}

    if "pandana" not in args.skip:
        finite = ref[np.isfinite(ref)]
        horizon = float(finite.max() + 1.0) if len(finite) else 1.0
        res = run_pandana(graph, fnode, horizon, repeat=args.repeat, timeout=args.pandana_timeout)
        if isinstance(res, str):
            print(f"  pandana skipped: {res}")
        else:
            build, t, dist = res
            results["(d) pandana nearest_pois (CH query)"] = {"time": t, "dist": per_point(dist),
                                                               "extra": f"+ {build:.2f} s preprocessing"}
            print(f"  pandana: search horizon {horizon:,.0f} m (the farthest reachable distance found by (a)); "
                  f"contraction preprocessing {build:.2f} s")

    if "igraph" not in args.skip:
        try:
            import igraph as ig
        except ImportError as exc:
            print(f"  igraph skipped: not importable ({exc}); pip install igraph")
        else:
            t0 = time.perf_counter()
            coo = rev.tocoo()
            src = n  # virtual super-source
            er = np.concatenate([coo.row, np.full(len(fnode), src)])
            ec = np.concatenate([coo.col, fnode])
            ew = np.concatenate([coo.data, np.zeros(len(fnode))])
            gi = ig.Graph(n=n + 1, edges=np.column_stack([er, ec]).tolist(), directed=True)
            gi.es["weight"] = ew.tolist()
            ibuild = time.perf_counter() - t0

            def igraph_nearest():
                dist = np.asarray(gi.distances(source=[src], weights="weight", mode="out")[0][:n], dtype=float)
                dist[~np.isfinite(dist)] = np.nan
                return per_point(dist)

            t, d = timed(igraph_nearest, args.repeat)
            results["(e) igraph, one Dijkstra from a super-source"] = {"time": t, "dist": d, "extra": f"+ {ibuild:.2f} s graph build"}

    base_key = next((k for k in results if k.startswith("(b)")), next(iter(results)))
    base = results[base_key]["time"]
    print()
    print(f"nearest facility for {len(demand):,} demand points, {len(fnode)} facilities, graph {graph.nodes:,} nodes "
          f"(networkx graph build {nx_build:.2f} s, not timed)")
    print(f"{'method':52s} {'time s':>9s} {'× vs baseline':>14s} {'max |Δ| m':>10s} {'same unreachable':>17s}")
    ok_all = True
    for key, r in results.items():
        d = r["dist"]
        same_nan = bool((np.isnan(d) == np.isnan(ref)).all())
        both = ~np.isnan(d) & ~np.isnan(ref)
        diff = float(np.abs(d[both] - ref[both]).max()) if both.any() else 0.0
        ok_all &= same_nan and diff < TOLERANCE_M
        ratio = base / r["time"] if r["time"] > 0 else float("nan")
        print(f"{key:52s} {r['time']:9.3f} {ratio:13.1f}× {diff:10.4f} {str(same_nan):>17s}  {r.get('extra', '')}")
    print(f"\n× = baseline time / method time (higher is faster); baseline = {base_key}")
    print(f"all methods give the same distances (within {TOLERANCE_M} m)" if ok_all
          else "DISTANCES DIFFER between methods (see max |Δ|)")
    return 0 if ok_all else 1


if __name__ == "__main__":
    raise SystemExit(main())
