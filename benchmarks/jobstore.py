"""Job store: how the GeoPackage workspace grows, and how long a job's writes take, over many jobs.

Copies a workspace (by default 高梁市, built from the open data), runs ``--jobs`` jobs of the small
test analysis (``tests/_fake_analysis.py``: two result tables and a map, so the time is the
store's, not an analysis's) one after the other in this process, and prints the GeoPackage's
size before and after, the size of the files beside it, and the seconds per job.

    python3 benchmarks/jobstore.py                 # 50 jobs on 高梁市
    python3 benchmarks/jobstore.py --jobs 10 --workspace path/to/city.gpkg
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
for folder in (ROOT, ROOT / "tests"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))


def run(*, jobs: int = 50, workspace: str | None = None, data_dir: str | None = None) -> dict:
    """Run ``jobs`` jobs on a copy of ``workspace``; returns the sizes (bytes) and seconds per job."""
    import _fake_analysis as fake  # noqa: F401 - registers the test analysis

    from api.jobs import run_job
    from api.store.geopackage import GeoPackageStore

    with tempfile.TemporaryDirectory(prefix="tsunagu-jobstore-") as tmp:
        path = Path(tmp) / "ws.gpkg"
        if workspace:
            shutil.copyfile(workspace, path)
        else:
            from api.importing import build_city_workspace, find_data_dir

            with GeoPackageStore(path, create=True) as store:
                build_city_workspace(store, city_code="33209", data_dir=find_data_dir(data_dir))
        before = path.stat().st_size
        with GeoPackageStore(path, create=False) as store:
            start = time.perf_counter()
            for _ in range(jobs):
                run_job(store, fake.NAME, {}, data_dir=None, created_by="bench")
            seconds = time.perf_counter() - start
            listed = store.list_jobs(limit=jobs + 10)
        after = path.stat().st_size
        beside = {p.name: p.stat().st_size for p in Path(tmp).iterdir() if p != path}
    return {"jobs": jobs, "listed": len(listed), "gpkg_before": before, "gpkg_after": after,
            "beside": beside, "s_per_job": seconds / max(1, jobs)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--workspace", default=None, help="a .gpkg to copy (default: build 高梁市)")
    parser.add_argument("--data-dir", default=os.environ.get("TSUNAGU_DATA_DIR"))
    args = parser.parse_args(argv)
    out = run(jobs=args.jobs, workspace=args.workspace, data_dir=args.data_dir)
    mb = 1024 * 1024
    print(f"jobs run: {out['jobs']}, listed afterwards: {out['listed']}")
    print(f"GeoPackage: {out['gpkg_before'] / mb:.2f} MB before, {out['gpkg_after'] / mb:.2f} MB after "
          f"({(out['gpkg_after'] - out['gpkg_before']) / mb:+.2f} MB, {out['gpkg_before']} -> {out['gpkg_after']} bytes)")
    for name, size in sorted(out["beside"].items()):
        print(f"  beside it: {name} {size / mb:.2f} MB")
    print(f"seconds per job (create, claim, progress, result): {out['s_per_job']:.3f}")
    return 0 if out["listed"] >= out["jobs"] else 1


if __name__ == "__main__":
    sys.exit(main())
