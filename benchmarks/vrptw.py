"""Benchmark: Tsunagu's VRPTW solver against plain PyVRP at equal compute on Solomon / Homberger instances.

Run: ``python3 benchmarks/vrptw.py [PATH ...] [--homberger] [--time-limit 10] [--repeat 3]
[--instances C101,R201] [--extra pyvrp1,vroom] [--json out.json] [--results runs.jsonl]
[--held-out SEED]``.
Without PATH, solves the Solomon instances in ../shared/data/benchmarks/vrptw/solomon (with
``--homberger`` the 200-customer set). Any file in the Solomon text format works (vehicle number and
capacity; per customer x, y, demand, ready, due, service; customer 0 is the depot).

Distances are Euclidean, not rounded: solvers see integers at a fixed-point scale ×1000 (durations
rounded up, so an integer-feasible plan is feasible in real numbers), distances are reported in the
original units, recomputed from the coordinates. The fleet is fixed to BKS.json's
``solved_with_vehicles`` for the instance (else the file's vehicle number); the objective is total
distance. Each instance is solved ``--repeat`` times (default 3) with different seeds; repetition r
(counted from ``--seed``, default 0) runs, one after the other, each for the same wall time:

* ``tsunagu``: ``gis.routing.solve(workers=2, seed=r)`` — two parallel processes for the whole wall
  time: two independent PyVRP searches with PyVRP's default settings,
  the second asking VROOM for a plan when it has none serving everyone by 40 % of its time; the
  better plan kept;
* ``base`` (the equal-compute baseline, the headline comparison): plain PyVRP, default settings,
  ``Model.solve(stop=MaxRuntime(t))``, seeds 2r and 2r+1 in two parallel processes (as many as
  Tsunagu uses), the better feasible plan kept; each seed's gap is shown;
* optional (``--extra``): ``pyvrp1`` plain PyVRP on one thread, seed r; ``vroom`` plain pyvroom,
  default exploration level (5) and threads (4).

Feasible = every customer served and the plan passes an independent check of time windows,
capacity and the depot's due time (``gis.routing.check_plan``). Gap = distance / best-known − 1.
The per-class summary gives, for tsunagu and base, the feasible count, the mean gap over feasible
instances per repetition, the mean of those and their spread (min–max); and per instance tsunagu's
wins / ties / losses against base on the gap averaged over the repetitions (a tie is within 0.01
points; a feasible plan beats an infeasible one).

Held-out instances (``--held-out SEED``): every instance with its customers moved by up to ±2
units in x and y (uniform, seeded by SEED and the instance name; demands, windows and the fleet
unchanged), so a design can be checked on inputs nobody tuned on. Their best-known costs are
unknown: gaps are then to the best feasible plan any solver found for that instance in the
results, and an instance neither solver serves with the fleet is left out of the gaps.

A long acceptance run can be split (``--results runs.jsonl``): every repetition is appended as
one JSON line (with the machine's load average), a repetition already in the file for the same
instance, time limit, workers and held-out seed is not run again, and the summary covers every
matching line in the file. Run it again, in one session or the next, until nothing is left.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gis.routing import Location, RoutingPlan, RoutingProblem, Stop, Vehicle, _schedule, check_plan, solve  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "benchmarks" / "vrptw"
SCALE = 1000
CLASSES = ["C1", "C2", "R1", "R2", "RC1", "RC2"]


@dataclass
class Instance:
    name: str
    vehicles: int
    capacity: int
    xy: np.ndarray  # (n+1, 2), row 0 depot
    demand: np.ndarray
    ready: np.ndarray
    due: np.ndarray
    service: np.ndarray


def read_solomon(path: Path) -> Instance:
    """Parse a Solomon-format VRPTW file."""
    lines = Path(path).read_text().splitlines()
    nums = [[float(t) for t in ln.split()] for ln in lines if re.fullmatch(r"[\s\d.\-eE+]+", ln) and ln.strip()]
    veh = next(r for r in nums if len(r) == 2)
    rows = np.array([r for r in nums if len(r) == 7])
    if len(rows) < 2 or rows[0, 0] != 0:
        msg = f"{path}: no customer table in Solomon format (CUST NO. X Y DEMAND READY DUE SERVICE, 0 = depot)"
        raise SystemExit(msg)
    return Instance(Path(path).stem, int(veh[0]), int(veh[1]), rows[:, 1:3], rows[:, 3].astype(int),
                    rows[:, 4], rows[:, 5], rows[:, 6])


def to_problem(inst: Instance, fleet: int) -> tuple[RoutingProblem, np.ndarray]:
    """The instance as a planar RoutingProblem at scale ×1000, and the real-valued distance matrix."""
    diff = inst.xy[:, None, :] - inst.xy[None, :, :]
    real = np.sqrt((diff ** 2).sum(-1))
    dur = np.ceil(real * SCALE - 1e-9)
    dist = np.round(real * SCALE)
    sc = lambda v: int(round(v * SCALE))  # noqa: E731
    stops = [Stop(str(i), str(i), Location(*inst.xy[i]), sc(inst.service[i]), int(inst.demand[i]),
                  [(sc(inst.ready[i]), sc(inst.due[i]))]) for i in range(1, len(inst.xy))]
    vehicles = [Vehicle(f"v{k}", f"v{k}", (sc(inst.ready[0]), sc(inst.due[0])), capacity=inst.capacity)
                for k in range(fleet)]
    prob = RoutingProblem(Location(*inst.xy[0]), stops, vehicles, dur, dist, planar=True)
    return prob, real


def real_distance(plan: RoutingPlan, real: np.ndarray) -> float:
    total = 0.0
    for r in plan.routes:
        nodes = [0] + [int(v.stop_id) for v in r.visits] + [0]
        total += sum(real[a, b] for a, b in zip(nodes, nodes[1:]))
    return total


def plan_from_sequences(prob: RoutingProblem, seqs: list[list[int]], solver: str, runtime: float) -> RoutingPlan:
    routes = [_schedule(prob, prob.vehicles[k], seq) for k, seq in enumerate(seqs) if seq]
    served = {v.stop_id for r in routes for v in r.visits}
    un = [(s.stop_id, "not served") for s in prob.stops if s.stop_id not in served]
    return RoutingPlan(routes, un, sum(r.distance_m for r in routes), sum(r.duration_s for r in routes),
                       solver, runtime, 0)


def plain_pyvrp(prob: RoutingProblem, inst: Instance, fleet: int, t: float, seed: int = 0):
    import pyvrp
    from pyvrp.stop import MaxRuntime

    m = pyvrp.Model()
    m.add_vehicle_type(num_available=fleet, capacity=inst.capacity,
                       tw_early=prob.vehicles[0].shift[0], tw_late=prob.vehicles[0].shift[1])
    depot = m.add_depot(m.add_location(0, 0), tw_early=prob.vehicles[0].shift[0], tw_late=prob.vehicles[0].shift[1])
    locs = [depot.location if hasattr(depot, "location") else None]
    nodes = [m.locations[0]]
    for s in prob.stops:
        loc = m.add_location(0, 0)
        nodes.append(loc)
        m.add_client(loc, delivery=s.demand, service_duration=s.service_s,
                     tw_early=s.time_windows[0][0], tw_late=s.time_windows[0][1])
    del locs
    D, X = prob.durations_s.astype(int), prob.distances_m.astype(int)
    n = len(nodes)
    for a in range(n):
        for b in range(n):
            if a != b:
                m.add_edge(nodes[a], nodes[b], distance=int(X[a, b]), duration=int(D[a, b]))
    t0 = time.perf_counter()
    res = m.solve(stop=MaxRuntime(t), seed=seed, display=False)
    rt = time.perf_counter() - t0
    seqs = [[a.idx for a in r.schedule() if a.is_client()] for r in res.best.routes()]
    plan = plan_from_sequences(prob, seqs, "pyvrp", rt)
    return plan, res.best.is_feasible()


def plain_vroom(prob: RoutingProblem, inst: Instance, fleet: int):
    import vroom

    inp = vroom.Input()
    D, X = prob.durations_s.astype(np.int64), prob.distances_m.astype(np.int64)
    inp.set_durations_matrix("car", D)
    inp.set_costs_matrix("car", X)
    for k in range(fleet):
        inp.add_vehicle(vroom.Vehicle(k, start=0, end=0, capacity=[inst.capacity],
                                      time_window=vroom.TimeWindow(*prob.vehicles[0].shift)))
    for i, s in enumerate(prob.stops, start=1):
        inp.add_job(vroom.Job(i, location=i, default_service=s.service_s, delivery=[s.demand],
                              time_windows=[vroom.TimeWindow(*s.time_windows[0])]))
    t0 = time.perf_counter()
    sol = inp.solve(exploration_level=5)
    rt = time.perf_counter() - t0
    seqs = [[int(st["id"]) - 1 for st in r["steps"] if st["type"] == "job"] for r in sol.to_dict()["routes"]]
    return plan_from_sequences(prob, seqs, "vroom", rt)


def held_out(inst: Instance, seed: int) -> Instance:
    """The instance with its customers moved by up to ±2 units (seeded by ``seed`` and its name)."""
    import zlib

    rng = np.random.default_rng([seed, zlib.crc32(inst.name.upper().encode())])
    xy = inst.xy.copy()
    xy[1:] += rng.uniform(-2.0, 2.0, size=xy[1:].shape)
    return Instance(f"{inst.name}~h{seed}", inst.vehicles, inst.capacity, xy, inst.demand, inst.ready,
                    inst.due, inst.service)


def _load() -> float:
    try:
        import os

        return round(os.getloadavg()[0], 2)
    except OSError:
        return math.nan


def summarise(plan: RoutingPlan, prob: RoutingProblem, real: np.ndarray, bks: float | None, runtime: float) -> dict:
    violations = check_plan(prob, plan)
    feasible = not plan.unassigned and not violations
    dist = real_distance(plan, real)
    gap = (dist / bks - 1) * 100 if bks and feasible else math.nan
    return {"feasible": feasible, "vehicles": len(plan.routes), "distance": dist, "gap": gap, "time": runtime,
            "unserved": len(plan.unassigned), "violations": len(violations)}


def klass(name: str) -> str:
    m = re.match(r"(rc|r|c)(\d)", name.split("~")[0], re.I)
    return (m.group(1).upper() + m.group(2)) if m else "other"


def _baseline_job(args):
    """One plain PyVRP seed (runs in a child process of the equal-compute baseline)."""
    import warnings

    warnings.filterwarnings("ignore", module="pyvrp")  # as in gis.routing's own workers
    prob, inst, fleet, t, seed = args
    t0 = time.perf_counter()
    plan, _ = plain_pyvrp(prob, inst, fleet, t, seed=seed)
    return plan, time.perf_counter() - t0


def equal_compute_baseline(prob: RoutingProblem, inst: Instance, fleet: int, t: float, seeds: list[int]):
    """Plain PyVRP, one process per seed in parallel; each seed's plan and its wall time."""
    import multiprocessing as mp

    with mp.get_context("fork").Pool(len(seeds)) as pool:
        return pool.map(_baseline_job, [(prob, inst, fleet, t, s) for s in seeds])


TIE = 0.01  # gap points within which two results are a tie


def _regap(results: list[dict]) -> None:
    """Gaps of instances without a best-known cost: to the best feasible plan found in the results."""
    for row in results:
        if row["bks"]:
            continue
        found = [rep[s_]["distance"] for rep in row["reps"] for s_ in rep
                 if isinstance(rep[s_], dict) and rep[s_].get("feasible")]
        found += [x["distance"] for rep in row["reps"] for x in rep.get("base_seeds", []) if x["feasible"]]
        ref = min(found) if found else None
        for rep in row["reps"]:
            for x in [rep[s_] for s_ in rep if isinstance(rep[s_], dict)] + rep.get("base_seeds", []):
                x["gap"] = (x["distance"] / ref - 1) * 100 if ref and x["feasible"] else math.nan


def compare(a: dict, b: dict) -> int:
    """+1 when result ``a`` beats ``b`` (feasible before infeasible, then lower mean gap), 0 tie, −1 loss."""
    fa, fb = not math.isnan(a["gap"]), not math.isnan(b["gap"])
    if fa != fb:
        return 1 if fa else -1
    if not fa:
        return 0
    d = a["gap"] - b["gap"]
    return 0 if abs(d) <= TIE else (1 if d < 0 else -1)


def _fmt(g: float, w: int = 6) -> str:
    return f"{'–':>{w}}" if math.isnan(g) else f"{g:>{w}.2f}"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="*", type=Path)
    ap.add_argument("--homberger", action="store_true", help="the 200-customer Gehring & Homberger set")
    ap.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance and solver (default 10)")
    ap.add_argument("--instances", default="", help="comma-separated names, e.g. C101,R201")
    ap.add_argument("--repeat", type=int, default=3, help="repetitions with different seeds (default 3)")
    ap.add_argument("--seed", type=int, default=0, help="first repetition's number r (tsunagu seed r, base 2r, 2r+1)")
    ap.add_argument("--workers", type=int, default=2, help="processes for tsunagu and for the baseline (default 2)")
    ap.add_argument("--extra", default="", help="also run: pyvrp1 (plain PyVRP, one thread), vroom (plain pyvroom)")
    ap.add_argument("--bks", type=Path, default=DATA / "BKS.json")
    ap.add_argument("--json", type=Path, help="write per-instance results here")
    ap.add_argument("--results", type=Path,
                    help="append every repetition to this JSON-lines file and skip those already in it")
    ap.add_argument("--held-out", type=int, default=None, metavar="SEED",
                    help="solve held-out variants: customers moved by up to ±2 units, seeded")
    args = ap.parse_args(argv)
    import warnings

    warnings.filterwarnings("ignore", module="pyvrp")  # penalty-bound warnings of the plain runs
    paths = list(args.paths)
    if not paths:
        folder = DATA / ("homberger_200" if args.homberger else "solomon")
        paths = sorted(folder.glob("*.txt"))
    if args.instances:
        wanted = {w.strip().lower() for w in args.instances.split(",") if w.strip()}
        paths = [p for p in paths if p.stem.lower() in wanted]
    if not paths:
        print("no instances to solve", file=sys.stderr)
        return 2
    extra = [e.strip() for e in args.extra.split(",") if e.strip()]
    if set(extra) - {"pyvrp1", "vroom"}:
        print(f"--extra: unknown {sorted(set(extra) - {'pyvrp1', 'vroom'})}", file=sys.stderr)
        return 2
    bks_all = json.loads(args.bks.read_text()) if args.bks.exists() else {}
    reps = [args.seed + k for k in range(max(1, args.repeat))]
    nw = max(1, args.workers)
    t = args.time_limit
    results = []
    print(f"time limit {t:g} s per instance and solver; {len(reps)} repetitions; fleet = BKS vehicles; "
          f"distance unrounded; tsunagu = solve(workers={nw}, seed r); base = plain PyVRP best of seeds "
          f"{', '.join(f'{nw}r+{j}' for j in range(nw))} in {nw} parallel processes\n")
    seed_head = " ".join(f"{'s' + str(j):>6}" for j in range(nw))
    head = (f"{'instance':10} {'veh':>3} {'BKS':>9} {'r':>2} | {'tsunagu':^31} | {'base':^31} {seed_head} |"
            + "".join(f" {e:^16} |" for e in extra) + " t vs base")
    print(head)
    sub = f"{'ok':>2} {'veh':>3} {'dist':>9} {'gap%':>6} {'time':>5}"
    print(f"{'':10} {'':>3} {'':>9} {'':>2} | {sub} | {sub} {'gap%':^{len(seed_head)}} |"
          + "".join(f" {'ok':>2} {'gap%':>6} {'time':>5} |" for _ in extra))
    done: dict[tuple[str, int], dict] = {}
    setting = {"time_limit": t, "workers": nw, "held_out": args.held_out}
    if args.results and args.results.exists():
        for ln in args.results.read_text().splitlines():
            if ln.strip():
                rec = json.loads(ln)
                if all(rec.get(k) == v for k, v in setting.items()):
                    done[(rec["instance"], rec["r"])] = rec
    for path in paths:
        inst = read_solomon(path)
        b = bks_all.get(inst.name) or bks_all.get(inst.name.upper()) or bks_all.get(inst.name.lower()) or {}
        fleet = int(b.get("solved_with_vehicles", inst.vehicles))
        bks = b.get("best_known_cost")
        if args.held_out is not None:
            inst, bks = held_out(inst, args.held_out), None
        prob, real = to_problem(inst, fleet)
        row = {"instance": inst.name, "class": klass(inst.name), "fleet": fleet, "bks": bks, "reps": []}
        for r in reps:
            if (inst.name, r) in done:
                rep = done[(inst.name, r)]
                row["reps"].append(rep)
                print(f"{inst.name:10} {fleet:>3} {'':>9} {r:>2} | (in {args.results.name}, load {rep.get('load')})")
                continue
            rep = {"r": r, "load_before": _load()}
            t0 = time.perf_counter()
            plan = solve(prob, solver="pyvrp", time_limit_s=t, seed=r, workers=nw, no_improvement=None)
            rep["tsunagu"] = summarise(plan, prob, real, bks, time.perf_counter() - t0)
            seeds = [nw * r + j for j in range(nw)]
            t0 = time.perf_counter()
            outs = equal_compute_baseline(prob, inst, fleet, t, seeds)
            wall = time.perf_counter() - t0
            per_seed = [dict(summarise(pl, prob, real, bks, rt), seed=sd) for (pl, rt), sd in zip(outs, seeds)]
            # the better feasible plan (ties to the lower seed), else the one serving most
            best = min(per_seed, key=lambda x: (not x["feasible"], x["unserved"], x["distance"]))
            rep["base"] = dict(best, time=wall)
            rep["base_seeds"] = per_seed
            if "pyvrp1" in extra:
                t0 = time.perf_counter()
                plan, _ = plain_pyvrp(prob, inst, fleet, t, seed=r)
                rep["pyvrp1"] = summarise(plan, prob, real, bks, time.perf_counter() - t0)
            if "vroom" in extra:
                t0 = time.perf_counter()
                plan = plain_vroom(prob, inst, fleet)
                rep["vroom"] = summarise(plan, prob, real, bks, time.perf_counter() - t0)
            row["reps"].append(rep)
            rep["load"] = _load()
            if args.results:
                with args.results.open("a") as fh:
                    fh.write(json.dumps(dict(setting, instance=inst.name, cls=row["class"], fleet=fleet, bks=bks,
                                             **rep), default=float) + "\n")
            cells = []
            for s_ in ("tsunagu", "base"):
                x = rep[s_]
                cells.append(f"{'✓' if x['feasible'] else '✗':>2} {x['vehicles']:>3} {x['distance']:>9.2f} "
                             f"{_fmt(x['gap'])} {x['time']:>5.1f}")
            seed_cells = " ".join(_fmt(x["gap"]) for x in per_seed)
            ex = "".join(f" {'✓' if rep[e]['feasible'] else '✗':>2} {_fmt(rep[e]['gap'])} {rep[e]['time']:>5.1f} |"
                         for e in extra)
            a, b_ = rep["tsunagu"], rep["base"]
            if not bks:  # held out: compare the two plans to the better of them
                ref = min([x["distance"] for x in (a, b_) if x["feasible"]], default=None)
                a, b_ = ({**x, "gap": (x["distance"] / ref - 1) * 100 if ref and x["feasible"] else math.nan}
                         for x in (a, b_))
            verdict = {1: "win", 0: "tie", -1: "loss"}[compare(a, b_)]
            print(f"{inst.name:10} {fleet:>3} {bks if bks else float('nan'):>9.2f} {r:>2} | {cells[0]} | {cells[1]} "
                  f"{seed_cells} |{ex} {verdict}", flush=True)
        results.append(row)
    print()
    _regap(results)
    solvers = ["tsunagu", "base"] + extra
    groups = [c for c in CLASSES if any(r["class"] == c for r in results)] + \
        sorted({r["class"] for r in results} - set(CLASSES))
    rep_head = " ".join(f"{'r' + str(r):>6}" for r in reps)
    print(f"{'class':6} {'n':>3} | " + " | ".join(f"{s_ + ' feas':>13} {rep_head} {'mean':>6} {'min–max':>13}"
                                                   for s_ in solvers) + " | W/T/L")
    for g in groups + ["all"]:
        rows = [r for r in results if g == "all" or r["class"] == g]
        cells = []
        for s_ in solvers:
            feas = sum(rep[s_]["feasible"] for r in rows for rep in r["reps"])
            per_rep = []
            for k in range(len(reps)):
                gaps = [r["reps"][k][s_]["gap"] for r in rows if not math.isnan(r["reps"][k][s_]["gap"])]
                per_rep.append(float(np.mean(gaps)) if gaps else math.nan)
            ok = [x for x in per_rep if not math.isnan(x)]
            mean = float(np.mean(ok)) if ok else math.nan
            spread = f"{min(ok):.2f}–{max(ok):.2f}" if ok else "–"
            cells.append(f"{feas:>7}/{len(rows) * len(reps):<5} " + " ".join(_fmt(x) for x in per_rep)
                         + f" {_fmt(mean)} {spread:>13}")
        wtl = [0, 0, 0]
        for r in rows:
            avg = {}
            for s_ in ("tsunagu", "base"):
                gaps = [rep[s_]["gap"] for rep in r["reps"]]
                avg[s_] = {"gap": math.nan if any(math.isnan(x) for x in gaps) else float(np.mean(gaps))}
            wtl[1 - compare(avg["tsunagu"], avg["base"])] += 1
        print(f"{g:6} {len(rows):>3} | " + " | ".join(cells) + f" | {wtl[0]}/{wtl[1]}/{wtl[2]}")
    print("\nfeas = feasible runs of instances × repetitions; gap % per repetition = mean over its feasible "
          "instances; W/T/L = tsunagu against base per instance, on the gap averaged over the repetitions "
          f"(an instance infeasible in any repetition counts as infeasible; tie within {TIE} points)")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
