"""Weekly mobile-sales plan on 高梁市: Tsunagu's planner vs the naive split-then-route baseline, same run, same time limit.

    python3 benchmarks/weekly.py [--time-limit 10] [--vehicles 1] [--workspace PATH] [--seed 0]

Builds the 高梁市 demo workspace when none is given, proposes stops as `tsunagu routes mobile-sales`
does, then plans the week both ways and prints driving time, vehicle-days and visits served.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=10.0)
    ap.add_argument("--vehicles", type=int, default=1)
    ap.add_argument("--capacity", type=int, default=None)
    ap.add_argument("--workspace", default=None)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from api.cli_mobile_sales import run_mobile_sales
    from api.importing import build_city_workspace, find_data_dir
    from api.store.connect import open_store
    from gis.weekly import check_weekly, naive_weekly_plan, plan_week

    data_dir = find_data_dir(None)
    ws = args.workspace
    if ws is None:
        ws = str(Path(tempfile.mkdtemp()) / "t.gpkg")
        with open_store(ws) as store:
            build_city_workspace(store, data_dir=data_dir)
    with open_store(ws, create=False) as store, tempfile.TemporaryDirectory() as out:
        res = run_mobile_sales(store, data_dir=data_dir, vehicles=args.vehicles, capacity=args.capacity,
                               time_limit_s=0.5, seed=args.seed, out_dir=Path(out))
    problem = res["problem"]
    print(f"高梁市: 停留所 {len(problem.stops)}、週の訪問 {sum(s.visits_per_week for s in problem.stops)} 回、"
          f"車両 {len(problem.vehicles)} 台、運行 {'・'.join(problem.days)}、計算時間の上限 {args.time_limit:g} 秒")
    print(problem.note)
    rows = {}
    for name, fn in (("naive", naive_weekly_plan), ("tsunagu", plan_week)):
        t = time.perf_counter()
        plan = fn(problem, time_limit_s=args.time_limit, seed=args.seed)
        rows[name] = (plan, time.perf_counter() - t, check_weekly(problem, plan))
    n, o = rows["naive"][0], rows["tsunagu"][0]
    fmt = "{:<26}{:>14}{:>14}{:>10}"
    print(fmt.format("", "naive", "tsunagu", "比"))
    def line(label, a, b, digits=0):
        ratio = f"{b / a:.3f}" if a else "-"
        print(fmt.format(label, f"{a:,.{digits}f}", f"{b:,.{digits}f}", ratio))
    line("訪問（回）served", n.visits_served, o.visits_served)
    print(fmt.format("訪問（回）required", n.visits_required, o.visits_required, ""))
    line("停留所（1回以上）", n.stops_served, o.stops_served)
    from gis.weekly import stop_value

    value = {s.stop_id: stop_value(s) for s in problem.stops}
    def customers(plan):
        return sum(value[sid] * len(days) for sid, days in plan.assignment.items())
    line("見込み客（人・週）served", customers(n), customers(o), 1)
    print(fmt.format("見込み客（人・週）required", f"{sum(value[s.stop_id] * s.visits_per_week for s in problem.stops):,.1f}",
                     "", ""))
    line("運転時間（分）", n.total_driving_s / 60, o.total_driving_s / 60, 1)
    line("運転時間/訪問（分）", n.total_driving_s / 60 / max(1, n.visits_served), o.total_driving_s / 60 / max(1, o.visits_served), 2)
    line("走行距離（km）", n.total_distance_m / 1000, o.total_distance_m / 1000, 1)
    line("車両・日", n.vehicle_days, o.vehicle_days)
    line("計算時間（秒）", rows["naive"][1], rows["tsunagu"][1], 1)
    for name, (_, _, problems) in rows.items():
        print(f"{name}: 制約違反 {len(problems)} 件" + (f"（{problems[0]}）" if problems else ""))


if __name__ == "__main__":
    main()
