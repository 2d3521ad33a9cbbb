"""Step-4 experiments: Tsunagu variants (monkeypatched into gis.routing) against a stored baseline run."""
from __future__ import annotations

import argparse, json, math, sys, time
from pathlib import Path

import numpy as np

sys.path.insert(0, "/work/i10")
sys.path.insert(0, "/work/i10/benchmarks")
import gis.routing as R  # noqa: E402
import vrptw as B  # noqa: E402

_INT_MAX = np.iinfo(np.int64).max


def scaled_penalty_params():
    from pyvrp.PenaltyManager import PenaltyParams

    class Scaled(PenaltyParams):
        def midpoint_penalties(self, data):
            D = np.asarray(data.distance_matrix(0), dtype=float)
            T = np.asarray(data.duration_matrix(0), dtype=float)
            avg_cost = D.mean()
            dl = np.array([c.delivery for c in data.clients()], dtype=float)
            avg_load = dl.mean(axis=0) if dl.size else np.zeros(data.num_load_dimensions)
            load = (avg_cost / np.maximum(avg_load, 1)).tolist() if data.num_load_dimensions else []
            return (load, avg_cost / max(T.mean(), 1), avg_cost / max(D.mean(), 1))
    return Scaled()


class AbortIfInfeasible:
    """Stop at frac × limit when no feasible solution yet (and at the limit anyway)."""
    def __init__(self, limit, frac):
        self.limit, self.frac, self.t0, self.aborted = limit, frac, None, False

    def __call__(self, best_cost):
        if self.t0 is None:
            self.t0 = time.perf_counter()
        el = time.perf_counter() - self.t0
        if el > self.limit:
            return True
        if best_cost >= _INT_MAX and el > self.frac * self.limit:
            self.aborted = True
            return True
        return False


VARIANT = {"pen": False, "rescue": None, "warm_quick": True}


def worker(args, stop=None):
    import pyvrp, warnings
    from pyvrp.stop import MaxRuntime
    from pyvrp.solve import SolveParams
    warnings.filterwarnings("ignore", module="pyvrp")
    data, init, seed, t, _mi, _ni, tag = args
    params = SolveParams(penalty=scaled_penalty_params()) if VARIANT["pen"] else SolveParams()
    res = pyvrp.solve(data, stop or MaxRuntime(max(0.01, t)), seed=seed, collect_stats=False,
                      initial_solution=init, params=params)
    best = res.best
    routes = [(r.vehicle_type(), [a.idx for a in r.schedule() if a.is_client()]) for r in best.routes()]
    key = (0 if best.is_feasible() else 1, int(res.cost()) if best.is_feasible() else int(best.distance()))
    return key, routes, best.is_feasible(), tag


def second_core(args):
    problem, active, full, t, seed, mi, ni = args
    t0 = time.perf_counter()
    frac = VARIANT["rescue"]
    if frac is None:
        return ORIG_SECOND(args)
    # cold PyVRP first; VROOM only as a rescue when no feasible plan by frac × t
    quick = R._solve_vroom(problem, active, exploration=3, threads=1, timeout_s=max(0.2, 0.05 * t)) \
        if VARIANT["warm_quick"] else None
    warm = R._try_warm(full, quick[0], problem) if quick and not quick[1] else None
    stop = AbortIfInfeasible(t - (time.perf_counter() - t0), frac)
    out = worker((full[0], warm, seed, t, mi, ni, 1), stop=stop)
    vr = quick if quick else ([], list(active))
    if not stop.aborted:
        return vr, out
    more = R._solve_vroom(problem, active, exploration=5, threads=1, timeout_s=0.5 * (t - (time.perf_counter() - t0)))
    if not quick or len(more[1]) < len(quick[1]):
        vr = more
    rest = t - (time.perf_counter() - t0)
    if rest < 0.2:
        return vr, None
    warm = None if vr[1] else R._try_warm(full, vr[0], problem)
    return vr, worker((full[0], warm, seed, rest, mi, ni, 1))


ORIG_SECOND = R._vroom_then_pyvrp


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--base", type=Path, required=True)
    ap.add_argument("--instances", default="")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--pen", action="store_true")
    ap.add_argument("--rescue", type=float, default=None)
    ap.add_argument("--no-quick", action="store_true")
    ap.add_argument("--t", type=float, default=10)
    ap.add_argument("--homberger", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    VARIANT.update(pen=a.pen, rescue=a.rescue, warm_quick=not a.no_quick)
    R._pyvrp_worker = worker
    R._vroom_then_pyvrp = second_core
    base = {r["instance"]: r for r in json.loads(a.base.read_text())}
    names = [n.strip() for n in a.instances.split(",") if n.strip()] or list(base)
    bks_all = json.loads((B.DATA / "BKS.json").read_text())
    folder = B.DATA / ("homberger_200" if a.homberger else "solomon")
    rows = []
    for name in names:
        inst = B.read_solomon(folder / f"{name}.txt")
        b = bks_all.get(inst.name) or {}
        fleet = int(b.get("solved_with_vehicles", inst.vehicles)); bks = b.get("best_known_cost")
        prob, real = B.to_problem(inst, fleet)
        gaps, bgaps = [], []
        for r in range(a.reps):
            plan = R.solve(prob, solver="pyvrp", time_limit_s=a.t, seed=r, workers=2, no_improvement=None)
            s = B.summarise(plan, prob, real, bks, 0)
            gaps.append(s["gap"]); bgaps.append(base[name]["reps"][r]["base"]["gap"])
        rows.append({"instance": name, "class": B.klass(name), "gaps": gaps, "base": bgaps})
        print(f"{name:10} " + " ".join(f"{g:6.2f}" for g in gaps) + " | base " + " ".join(f"{g:6.2f}" for g in bgaps)
              + f" | mean {np.nanmean(gaps):6.2f} vs {np.nanmean(bgaps):6.2f}", flush=True)
    for c in sorted({r["class"] for r in rows}) + ["all"]:
        rr = [r for r in rows if c == "all" or r["class"] == c]
        t = [float(np.nanmean([r["gaps"][k] for r in rr])) for k in range(a.reps)]
        bb = [float(np.nanmean([r["base"][k] for r in rr])) for k in range(a.reps)]
        nf = sum(math.isnan(g) for r in rr for g in r["gaps"]); nb = sum(math.isnan(g) for r in rr for g in r["base"])
        print(f"{c:5} n={len(rr):2} tsunagu {np.mean(t):6.3f} ({min(t):.2f}–{max(t):.2f}) infeas {nf} | "
              f"base {np.mean(bb):6.3f} ({min(bb):.2f}–{max(bb):.2f}) infeas {nb}")
    if a.json:
        a.json.write_text(json.dumps(rows, default=float))


if __name__ == "__main__":
    main()
