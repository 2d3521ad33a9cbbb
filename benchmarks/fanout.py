"""Benchmark: `--all-municipalities` on every municipality in the data folder with 1 and 2 Dask workers.

Runs the same fan-out (workspace build + analysis job per municipality, combined table) on a
LocalCluster with 1 worker and with 2 workers in one run, and prints the wall times side by side
with their ratio. Absolute times depend on the machine; the ratio is the figure to compare.

    python3 benchmarks/fanout.py [--analysis catchments] [--workers 1 2] [--only 33209,33445]

Municipalities start largest first; each ends with its result, or 「結果なし（理由あり）」 and the
reason (e.g. no candidate site for salon-sites), or 失敗; the per-city table is printed for each
worker count.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Cheapest first (measured on 高梁市); the first one registered is used unless --analysis is given.
PREFERENCE = ("catchments", "salon-gaps", "shopping-refugees", "salon-sites")


def main() -> None:
    from api.fanout import run_all_municipalities
    from api.importing import find_data_dir, list_municipalities
    from api.jobs import load_analyses

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysis", default=None, help="registered analysis (default: cheapest registered)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--only", default=None, help="municipality codes, comma-separated (default: all)")
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()

    registry = load_analyses()
    name = args.analysis or next((n for n in PREFERENCE if n in registry), None)
    if name is None:
        sys.exit(f"no real analysis is registered (known: {sorted(registry)}); give --analysis")
    data = find_data_dir(args.data_dir)
    codes = args.only.split(",") if args.only else list(list_municipalities(data)["code"].astype(str))
    print(f"analysis {name} ({registry[name].label}) on {len(codes)} municipalities: {', '.join(codes)}")
    print(f"machine: {os.cpu_count()} CPUs")

    rows = []
    with tempfile.TemporaryDirectory(prefix="tsunagu-fanout-") as tmp:
        for n in args.workers:
            result = run_all_municipalities(name, {}, data_dir=data, out_dir=Path(tmp) / f"w{n}", workers=n,
                                            codes=codes, progress=True)
            done = int((result.runs["状態"] == "完了").sum())
            task_sum = float(result.runs["所要時間（秒）"].fillna(0).sum())
            rows.append((n, result.wall_seconds, task_sum, done, len(result.runs)))
            ended = int(result.runs["状態"].isin(["完了", "結果なし（理由あり）"]).sum())
            rows[-1] = rows[-1] + (ended,)
            print(f"\nworkers={n}: every municipality's result or reason")
            for r in result.runs.itertuples(index=False):
                reason = str(r[6])[:70]
                print(f"  {r[0]} {r[1]:<10} {r[2]:<12} {r[5] if r[5] is not None else '-':>7} s  {reason}")
            for x in result.notes:
                if "新しいサロンの数を" in x or "データが足りず" in x or "失敗" in x:
                    print(f"  注記: {x}")

    base = rows[0][1]
    print()
    print(f"{'workers':>7} {'wall s':>8} {'sum of task s':>14} {'done':>6} {'result or reason':>17} "
          f"{'wall vs ' + str(rows[0][0]) + ' worker':>18}")
    for n, wall, task_sum, done, total, ended in rows:
        print(f"{n:>7} {wall:>8.1f} {task_sum:>14.1f} {done:>3}/{total:<2} {ended:>13}/{total:<3} {base / wall:>17.2f}x")


if __name__ == "__main__":
    main()
