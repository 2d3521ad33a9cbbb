"""Benchmark: exact MCLP (HiGHS via scipy.optimize.milp) vs greedy on 高梁市, demand on the 100 m mesh.

Run: ``python3 benchmarks/mclp.py [--workspace PATH] [--k-max 10]``. Builds the demo workspace from
../shared/data when none is given (~15 s). Prints, per threshold (500 m, 1 km) and k = 1..K, the
exact solve time, proven gap, covered elderly by exact and greedy, and ratios greedy/exact
(coverage and time) side by side; also the demand groups left after aggregation and the solve time
without aggregation (one variable per mesh point) for one k.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from api.analyses.base import workspace_demand  # noqa: E402
from api.store.connect import open_store  # noqa: E402
from gis.access import StraightLineEngine  # noqa: E402
from gis.crs import plane_rectangular_crs  # noqa: E402
from gis.salons import salon_coverage  # noqa: E402
from gis.siting import (  # noqa: E402
    DEFAULT_CANDIDATE_KINDS,
    AggregatedDemand,
    aggregate_demand,
    candidate_sites,
    coverage_matrix,
    greedy_mclp,
    mclp,
)

#: Candidate sites: the halls salons meet in (gis/kinds.toml), plus schools and shelters.
KINDS = [*DEFAULT_CANDIDATE_KINDS, "school", "shelter"]


def _store(workspace: str | None):
    if workspace:
        return open_store(workspace, create=False)
    from api.importing import build_city_workspace, find_data_dir

    path = Path(tempfile.mkdtemp(prefix="tsunagu-bench-")) / "t.gpkg"
    store = open_store(str(path))
    build_city_workspace(store, data_dir=find_data_dir(None))
    return store


def _unaggregated(weights: np.ndarray, matrix) -> AggregatedDemand:
    """One group per demand point with weight and at least one candidate (no merging)."""
    keep = (weights > 0) & (np.asarray(matrix.sum(axis=1)).ravel() > 0)
    uncoverable = float(weights[(weights > 0) & ~keep].sum())
    return AggregatedDemand(weights[keep], matrix[keep].tocsr(), np.full(len(weights), -1), uncoverable, int((weights > 0).sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workspace", help="existing GeoPackage workspace of 高梁市 (else built in a temp dir)")
    ap.add_argument("--k-max", type=int, default=10)
    ap.add_argument("--time-limit", type=float, default=120.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    store = _store(args.workspace)
    ws = store.workspace()
    crs = plane_rectangular_crs(ws["city_code"])
    demand, _ = workspace_demand(store, cell_size_m=100.0)
    engine = StraightLineEngine(crs=crs)
    city = store.areas(level=ws["profile"].top.key)
    cand = candidate_sites(store.resources(), kinds=KINDS, boundary=city)
    salons = store.resources(kinds=["salon"])
    print(f"{ws['city_name']}: demand points {len(demand):,} (100 m mesh), elderly {demand['elderly'].sum():,.0f}; "
          f"candidates {len(cand)} ({', '.join(f'{k} {n}' for k, n in cand['kind'].value_counts().items())}); "
          f"setup {time.perf_counter() - t0:.1f} s")
    print("solver: HiGHS (scipy.optimize.milp), mip_rel_gap=0; greedy: add the best site k times\n")

    for scenario, existing in (("no existing salons (all elderly are demand)", None),
                               (f"{len(salons)} sample salons already cover", salons)):
        for threshold in (500.0, 1000.0):
            if existing is None:
                weights = demand["elderly"].to_numpy(dtype=float)
            else:
                cov = salon_coverage(demand, existing, engine=engine, thresholds_m=[threshold])
                weights = np.where(cov[f"covered_{threshold:g}"], 0.0, cov["elderly"].to_numpy(dtype=float))
            t = time.perf_counter()
            matrix = coverage_matrix(demand, cand, engine=engine, threshold_m=threshold)
            t_matrix = time.perf_counter() - t
            t = time.perf_counter()
            agg = aggregate_demand(weights, matrix)
            t_agg = time.perf_counter() - t
            print(f"== {scenario}; threshold {threshold:g} m ==")
            print(f"   demand points with weight {agg.n_points:,} → {agg.n_groups:,} groups after aggregation "
                  f"({agg.n_points / max(agg.n_groups, 1):,.0f}×); uncoverable elderly {agg.uncoverable_weight:,.1f}; "
                  f"coverage matrix {t_matrix:.2f} s, aggregation {t_agg:.2f} s")
            print(f"   {'k':>3} {'exact':>10} {'greedy':>10} {'greedy/exact':>12} {'gap':>6} {'status':>8} "
                  f"{'exact s':>9} {'greedy s':>9} {'time exact/greedy':>17}")
            worst = 1.0
            for k in range(1, args.k_max + 1):
                r = mclp(agg, k=k, time_limit_s=args.time_limit, check_ties=False)
                g = greedy_mclp(agg, k=k)
                ratio = g.covered_weight / r.covered_weight if r.covered_weight else float("nan")
                worst = min(worst, ratio)
                assert r.covered_weight >= g.covered_weight - 1e-6, "exact below greedy"
                print(f"   {k:>3} {r.covered_weight:>10,.1f} {g.covered_weight:>10,.1f} {ratio:>12.4f} "
                      f"{r.mip_gap if r.mip_gap is not None else float('nan'):>6.3g} {r.status:>8} "
                      f"{r.solve_time_s:>9.4f} {g.solve_time_s:>9.5f} {r.solve_time_s / max(g.solve_time_s, 1e-9):>17.0f}")
            k = min(5, args.k_max)
            raw = _unaggregated(weights, matrix)
            r_raw = mclp(raw, k=k, time_limit_s=args.time_limit, check_ties=False)
            r_agg = mclp(agg, k=k, time_limit_s=args.time_limit, check_ties=False)
            print(f"   worst greedy/exact {worst:.4f}; k={k} without aggregation: {raw.n_groups:,} demand variables, "
                  f"{r_raw.solve_time_s:.3f} s vs {r_agg.solve_time_s:.4f} s aggregated "
                  f"(×{r_raw.solve_time_s / max(r_agg.solve_time_s, 1e-9):,.0f}); same optimum: "
                  f"{abs(r_raw.covered_weight - r_agg.covered_weight) < 1e-6 * max(1, r_agg.covered_weight)}\n")
    store.close()


if __name__ == "__main__":
    main()
