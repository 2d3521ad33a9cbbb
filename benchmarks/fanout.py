"""Benchmark: `--all-municipalities` on every municipality in the data folder with 1 and 2 Dask workers.

Runs the same fan-out (workspace build + analysis job per municipality, combined table) on a
LocalCluster with 1 worker and with 2 workers, alternating, ``--repeat`` times, and prints the
wall times side by side with their ratio. Absolute times depend on the machine; the ratio is the
figure to compare.

    python3 benchmarks/fanout.py [--analysis catchments] [--workers 1 2] [--repeat 3] [--only 33209,33445] [--cold]

Municipalities start longest first (by their seconds in the previous run of the analysis, kept in
the cache folder; before any run by land area and small areas); each ends with its result, or
「結果なし（理由あり）」 and the reason (e.g. no candidate site for salon-sites), or 失敗; the per-city
table is printed for each worker count (first round), and for every run where the wall time went:
the main process's steps (municipalities listed, shared open data in memory, cluster ready, first
task started, last task ended, results in, combined table written, cluster closed), each worker's
busy time and the tasks' CPU; after each run, how many of the CPUs two spinning processes got (2.00
on a quiet 2-core machine: a ratio measured at ~1 says the machine was shared).

Each run is a fresh Python process, as a ``tsunagu analyse --all-municipalities`` is (its imports
and nothing parsed in memory; the wall time is the fan-out's, from its start). The parsed copies of
the prefecture-wide open data (``api.opendata_cache``) are written once before the rounds, into a
cache folder of this benchmark, as by any earlier run on the same data; every run reads them.
``--cold`` deletes the folder before each run instead, so every run parses the open data (and
orders the cities by land and small areas).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

#: Cheapest first (measured on 高梁市); the first one registered is used unless --analysis is given.
PREFERENCE = ("catchments", "salon-gaps", "shopping-refugees", "salon-sites")
ENDED = ("完了", "結果なし（理由あり）")


def _spin(_: int) -> float:
    started = time.perf_counter()
    x = 0
    for i in range(3_000_000):
        x += i * i
    return time.perf_counter() - started


def _cores_free() -> float:
    """How many CPUs two busy processes got just now: 2.0 on a quiet 2-core machine, ~1 when others run."""
    from multiprocessing import get_context

    with get_context("spawn").Pool(2) as pool:
        pool.map(_spin, [0, 1])  # both processes started
        alone = pool.apply(_spin, (0,))
        both = time.perf_counter()
        pool.map(_spin, [0, 1])
        parallel = time.perf_counter() - both
    return 2 * alone / parallel


def _spans(run: dict) -> str:
    import pandas as pd

    t = run["timeline"]
    tasks = pd.DataFrame(run["tasks"])
    steps = ("listed", "parsed", "cluster", "submitting", "first_start", "last_end", "results", "written", "closed")
    line = "  ".join(f"{k} {t[k]:.2f}" for k in steps if k in t)
    busy = tasks.assign(busy=tasks["end"] - tasks["start"]).groupby("worker")["busy"].sum()
    ends = tasks.groupby("worker")["end"].max()
    workers = ", ".join(f"{b:.1f}" for b in sorted(busy, reverse=True)) + f" (last ends {ends.max() - ends.min():.2f} s apart)"
    parts = {k: tasks[k].sum() for k in ("workspace", "job", "outputs") if k in tasks}
    inside = " + ".join(f"{k} {v:.1f}" for k, v in parts.items())
    cpu = f"; their CPU {tasks['cpu'].sum():.1f} s" if "cpu" in tasks else ""
    main_cpu = t.get("main_cpu", float("nan"))
    shared = ", ".join(f"{k} {v}" for k, v in run["opendata"].items())
    return (f"  spans (s from start): {line}\n  busy per worker: {workers} s; tasks: {inside} s{cpu}; "
            f"main process CPU while tasks ran: {main_cpu:.2f} s; shared open-data files: {shared}")


def _one_run(spec_file: str) -> None:
    """Child process: one fan-out, as ``tsunagu analyse --all-municipalities`` runs it; its outcome as JSON."""
    from api.fanout import run_all_municipalities
    from api.jobs import load_analyses

    job = json.loads(Path(spec_file).read_text(encoding="utf-8"))
    load_analyses()  # as the CLI does to know its analyses
    result = run_all_municipalities(job["analysis"], {}, data_dir=Path(job["data_dir"]), out_dir=Path(job["out_dir"]),
                                    workers=job["workers"], codes=job["codes"], progress=job["progress"],
                                    cache_dir=Path(job["cache_dir"]))
    out = {"wall": result.wall_seconds, "timeline": result.timeline, "notes": result.notes,
           "opendata": result.opendata, "runs": result.runs.astype(object).where(result.runs.notna(), None)
           .to_dict("records"), "tasks": result.tasks.to_dict("records")}
    Path(job["result"]).write_text(json.dumps(out, ensure_ascii=False, default=str), encoding="utf-8")


def _run(job: dict, folder: Path) -> dict:
    """One fan-out in a fresh process (this file with ``--one-run``); its outcome."""
    spec_file = folder / f"{Path(job['out_dir']).name}.json"
    job = {**job, "result": str(folder / f"{Path(job['out_dir']).name}-result.json")}
    spec_file.write_text(json.dumps(job, ensure_ascii=False), encoding="utf-8")
    subprocess.run([sys.executable, __file__, "--one-run", str(spec_file)], check=True)
    return json.loads(Path(job["result"]).read_text(encoding="utf-8"))


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--one-run":
        _one_run(sys.argv[2])
        return
    from api import opendata_cache
    from api.importing import city_source_files, find_data_dir, list_municipalities, listing_files
    from api.jobs import load_analyses

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analysis", default=None, help="registered analysis (default: cheapest registered)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1, help="rounds (each round runs every worker count once)")
    parser.add_argument("--only", default=None, help="municipality codes, comma-separated (default: all)")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--cold", action="store_true", help="no parsed copies on disk: every run parses the open data")
    args = parser.parse_args()

    registry = load_analyses()
    name = args.analysis or next((n for n in PREFERENCE if n in registry), None)
    if name is None:
        sys.exit(f"no real analysis is registered (known: {sorted(registry)}); give --analysis")
    data = find_data_dir(args.data_dir)
    codes = args.only.split(",") if args.only else list(list_municipalities(data)["code"].astype(str))
    print(f"analysis {name} ({registry[name].label}) on {len(codes)} municipalities: {', '.join(codes)}")
    print(f"machine: {os.cpu_count()} CPUs, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

    rows = []
    with tempfile.TemporaryDirectory(prefix="tsunagu-fanout-") as tmp:
        cache = Path(tmp) / "opendata-cache"
        if not args.cold:
            files = list(dict.fromkeys([*listing_files(data), *city_source_files(data, codes)]))
            started = time.perf_counter()
            opendata_cache.warm(files, folder=cache)
            print(f"parsed copies of {len(files)} open-data files written before the rounds "
                  f"({time.perf_counter() - started:.2f} s); every run reads them")
        for round_ in range(1, args.repeat + 1):
            for n in args.workers:
                if args.cold:
                    shutil.rmtree(cache, ignore_errors=True)  # this run parses the open data and writes the copies
                run = _run({"analysis": name, "data_dir": str(data), "out_dir": str(Path(tmp) / f"r{round_}w{n}"),
                            "workers": n, "codes": codes, "progress": round_ == 1, "cache_dir": str(cache)}, Path(tmp))
                runs = run["runs"]
                rows.append({"round": round_, "workers": n, "wall": run["wall"],
                             "tasks": float(sum(r["所要時間（秒）"] or 0 for r in runs)),
                             "done": sum(r["状態"] == "完了" for r in runs), "ended": sum(r["状態"] in ENDED for r in runs),
                             "total": len(runs), "load": os.getloadavg()[0], "cores": _cores_free()})
                if round_ == 1:
                    print(f"\nworkers={n}: every municipality's result or reason")
                    for r in runs:
                        r = list(r.values())
                        reason = str(r[6])[:70]
                        print(f"  {r[0]} {r[1]:<10} {r[2]:<12} {r[5] if r[5] is not None else '-':>7} s  {reason}")
                    for x in run["notes"]:
                        if "新しいサロンの数を" in x or "データが足りず" in x or "失敗" in x or x.startswith("店舗データなし"):
                            print(f"  注記: {x[:160]}")
                print(f"round {round_}, workers={n}: wall {run['wall']:.2f} s")
                print(_spans(run))

    print()
    print(f"{'round':>5} {'workers':>7} {'wall s':>8} {'sum of task s':>14} {'done':>6} {'result or reason':>17} "
          f"{'wall vs ' + str(args.workers[0]) + ' worker':>18} {'load 1 min':>10} {'CPUs free':>9}")
    for r in rows:
        base = next(b["wall"] for b in rows if b["round"] == r["round"] and b["workers"] == args.workers[0])
        print(f"{r['round']:>5} {r['workers']:>7} {r['wall']:>8.2f} {r['tasks']:>14.1f} {r['done']:>3}/{r['total']:<2} "
              f"{r['ended']:>13}/{r['total']:<3} {base / r['wall']:>17.2f}x {r['load']:>10.2f} {r['cores']:>9.2f}")
    for n in args.workers[1:]:
        ratios = [next(b["wall"] for b in rows if b["round"] == r["round"] and b["workers"] == args.workers[0]) / r["wall"]
                  for r in rows if r["workers"] == n]
        walls = {w: statistics.median(r["wall"] for r in rows if r["workers"] == w) for w in (args.workers[0], n)}
        print(f"{n} workers vs {args.workers[0]}: per-round ratios {', '.join(f'{x:.2f}' for x in ratios)}; "
              f"median wall {walls[args.workers[0]]:.2f} s vs {walls[n]:.2f} s = {walls[args.workers[0]] / walls[n]:.2f}x")


if __name__ == "__main__":
    main()
