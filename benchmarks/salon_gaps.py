"""Benchmark: salon-gaps jobs on 高梁市, the former path (mesh rebuilt, every cell clipped) against the cached path.

Builds the 高梁市 workspace from the open data once, then runs stored salon-gaps jobs (default
parameters: 100 m mesh, 500 m and 1000 m) the way a worker does (:func:`api.jobs.run_job`), in
one process and one run:

- **former**: ``api.demand_cache.bypassed(clip="all")`` — every job builds its demand mesh and
  intersects every cell with its area (the path before the cache).
- **cached**: every job asks :mod:`api.demand_cache`; the first job (memory and disk copy
  cleared) builds the mesh clipping only boundary cells, the later ones take it from memory;
  one more job after clearing memory only shows a new process starting from the disk copy.

    python3 benchmarks/salon_gaps.py [--jobs 5] [--rounds 1] [--city 33209] [--workspace PATH]

Rounds alternate which path goes first so a load change on a shared machine falls on both.
Figures: median seconds per job, and former / cached (higher is faster).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _job(store, data, params) -> float:
    from api.jobs import run_job

    started = time.perf_counter()
    job_id = run_job(store, "salon-gaps", params, data_dir=data, created_by="benchmark")
    seconds = time.perf_counter() - started
    record = store.get_job(job_id)
    if record["status"] != "done":
        sys.exit(f"salon-gaps job {job_id} ended {record['status']}: {record['error']}")
    return seconds


def _former(store, data, params, n: int) -> list[float]:
    from api import demand_cache

    with demand_cache.bypassed(clip="all"):
        return [_job(store, data, params) for _ in range(n)]


def _cached(store, data, params, n: int) -> tuple[list[float], float]:
    from api import demand_cache

    demand_cache.clear(folder=demand_cache.cache_dir(store))
    times = [_job(store, data, params) for _ in range(n)]
    demand_cache.clear()  # memory only: the next job is what a new process sees
    from_disk = _job(store, data, params)
    return times, from_disk


def main() -> None:
    from api.importing import build_city_workspace, find_data_dir
    from api.store.geopackage import GeoPackageStore

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=5, help="jobs per path and round (first + later)")
    parser.add_argument("--rounds", type=int, default=1, help="rounds, alternating which path goes first")
    parser.add_argument("--city", default="33209")
    parser.add_argument("--workspace", default=None,
                        help="an existing workspace of the city (default: built in a temp folder)")
    parser.add_argument("--cell-size", type=float, default=100.0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args()
    if args.jobs < 2:
        sys.exit("--jobs must be at least 2 (a first job and later ones)")

    data = find_data_dir(args.data_dir)
    params = {"cell_size_m": args.cell_size}
    print(f"salon-gaps on {args.city}, {args.cell_size:g} m mesh, {args.jobs} jobs per path × {args.rounds} round(s); "
          f"machine: {os.cpu_count()} CPUs (timings on a shared machine vary; read the ratio)")
    with tempfile.TemporaryDirectory(prefix="tsunagu-salon-gaps-") as tmp:
        path = Path(args.workspace) if args.workspace else Path(tmp) / f"{args.city}.gpkg"
        with GeoPackageStore(path, create=not path.exists()) as store:
            if not args.workspace:
                started = time.perf_counter()
                build_city_workspace(store, data_dir=data, city_code=args.city)
                print(f"workspace built in {time.perf_counter() - started:.1f} s")
            # warm-up (imports, registry, templates), not timed: a coarse mesh on the former path
            from api import demand_cache

            with demand_cache.bypassed(clip="all"):
                _job(store, data, {"cell_size_m": 1000.0})

            former_first, former_later, cached_first, cached_later, from_disk = [], [], [], [], []
            for r in range(args.rounds):
                order = ("former", "cached") if r % 2 == 0 else ("cached", "former")
                for which in order:
                    if which == "former":
                        times = _former(store, data, params, args.jobs)
                        former_first.append(times[0])
                        former_later += times[1:]
                    else:
                        times, disk = _cached(store, data, params, args.jobs)
                        cached_first.append(times[0])
                        cached_later += times[1:]
                        from_disk.append(disk)
                    print(f"  round {r + 1} {which:<6}: " + " ".join(f"{t:.2f}" for t in times)
                          + (f" | from the disk copy {disk:.2f}" if which == "cached" else ""))
            demand_cache.clear(folder=demand_cache.cache_dir(store))

    med = statistics.median
    rows = [
        ("first job", med(former_first), med(cached_first), len(former_first)),
        ("second and later jobs", med(former_later), med(cached_later), len(former_later)),
        ("first job of a new process (disk copy)", med(former_first), med(from_disk), len(from_disk)),
    ]
    print()
    print(f"{'median s per job':<40} {'former':>8} {'cached':>8} {'former/cached':>14} {'n':>4}")
    for label, a, b, n in rows:
        print(f"{label:<40} {a:>8.2f} {b:>8.2f} {a / b:>13.2f}x {n:>4}")


if __name__ == "__main__":
    main()
