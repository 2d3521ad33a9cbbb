"""Load test on loopback: many users browsing maps while a few run jobs, against a real server.

Starts ``tsunagu serve`` (a real uvicorn process) on 127.0.0.1 on a copy of a workspace (by
default 高梁市, built from the open data), logs in one account per simulated user, then:

1. **baseline** — one user browses alone for ``--baseline`` seconds;
2. **load** — ``--users`` users browse (each request followed by a think time of ~``--think`` s)
   while ``--jobs`` users each start an analysis job, follow it to the end and start the next,
   for ``--duration`` seconds.

Printed per endpoint: requests, p50 / p95 alone and under load, the ratio p95(load) / p50(alone),
and errors (any status other than 200/304, a timeout or a dropped connection). The exit status
is 1 when anything failed. Loopback only: the server binds 127.0.0.1.

    python3 benchmarks/load.py                              # 50 users + 5 jobs for 60 s
    python3 benchmarks/load.py --users 10 --jobs 2 --duration 10   # the bounded CI setting
    python3 benchmarks/load.py --postgis postgresql://postgres@127.0.0.1:5432/postgres   # API + worker
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

#: Analyses the job users take turns at (each finishes in seconds on 高梁市).
JOB_ANALYSES = ({"analysis": "catchments", "params": {"by": "nearest"}},
                {"analysis": "salon-gaps", "params": {}})
OK_STATUSES = (200, 304)


@dataclass
class Tally:
    """Latencies (s) per endpoint label and the errors seen."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    jobs_done: int = 0
    jobs_failed: int = 0

    def add(self, label: str, seconds: float) -> None:
        self.latencies.setdefault(label, []).append(seconds)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare_postgis(admin_url: str, *, data_dir: str | None) -> str:
    """A scratch database ``tsunagu_load`` beside ``admin_url``'s, with 高梁市 built into it."""
    import sqlalchemy as sa

    from api.importing import build_city_workspace, find_data_dir
    from api.store.postgis import PostGISStore, normalise_url

    url = normalise_url(admin_url)
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text("DROP DATABASE IF EXISTS tsunagu_load WITH (FORCE)"))
        conn.execute(sa.text("CREATE DATABASE tsunagu_load"))
    engine.dispose()
    load_url = url.set(database="tsunagu_load")
    engine = sa.create_engine(load_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    text = load_url.render_as_string(hide_password=False)
    store = PostGISStore(text, create=True)
    try:
        build_city_workspace(store, city_code="33209", data_dir=find_data_dir(data_dir))
    finally:
        store.close()
    return text


def prepare_workspace(folder: Path, *, source: str | None, data_dir: str | None) -> Path:
    """A private copy of ``source`` (a .gpkg), or 高梁市 built from the open data."""
    target = folder / "load.gpkg"
    if source:
        shutil.copyfile(source, target)
        return target
    from api.importing import build_city_workspace, find_data_dir
    from api.store.geopackage import GeoPackageStore

    store = GeoPackageStore(target, create=True)
    try:
        build_city_workspace(store, city_code="33209", data_dir=find_data_dir(data_dir))
    finally:
        store.close()
    return target


def sessions(workspace, count: int, *, role: str = "planner") -> list[str]:
    """``count`` session tokens of load-test users (made straight in the account store)."""
    from api.accounts import AccountStore, accounts_path

    accounts = AccountStore(workspace if "://" in str(workspace) else accounts_path(workspace))
    try:
        tokens = []
        for i in range(count):
            name = f"load-{role}-{i:03d}"
            user = accounts.get_user(name) or accounts.create_user(name, "load-test-password", role=role)
            tokens.append(accounts.start_session(user)[0])
        return tokens
    finally:
        accounts.close()


@contextlib.contextmanager
def running_server(workspace, port: int, *, data_dir: str | None, workers: int = 0, log_dir: Path | None = None):
    """``tsunagu serve`` on 127.0.0.1:port (and ``workers`` ``tsunagu worker`` processes) until the block ends.

    Their output goes to files (an unread pipe would fill up with access-log lines and stall the
    server after a few hundred requests).
    """
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="tsunagu-load-log-"))
    server_log = open(log_dir / "server.log", "wb")  # noqa: SIM115 - closed below
    worker_log = open(log_dir / "worker.log", "wb")  # noqa: SIM115
    env = {**os.environ, "TSUNAGU_WORKSPACE": str(workspace), "TSUNAGU_HOST": "127.0.0.1",
           "TSUNAGU_PORT": str(port)}
    if data_dir:
        env["TSUNAGU_DATA_DIR"] = str(data_dir)
    if workers:
        env["TSUNAGU_JOB_RUNNER"] = "worker"
    proc = subprocess.Popen([sys.executable, "-m", "api.cli", "serve"], cwd=ROOT, env=env,
                            stdout=server_log, stderr=subprocess.STDOUT)
    worker_procs = [subprocess.Popen([sys.executable, "-m", "api.cli", "worker"], cwd=ROOT, env=env,
                                     stdout=worker_log, stderr=subprocess.STDOUT) for _ in range(workers)]
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                out = (log_dir / "server.log").read_text(errors="replace")
                msg = f"the server stopped at start:\n{out[-2000:]}"
                raise RuntimeError(msg)
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            time.sleep(0.3)
        else:
            msg = "the server did not answer /health within 60 s"
            raise RuntimeError(msg)
        yield proc
    finally:
        for p in [proc, *worker_procs]:
            p.terminate()
        for p in [proc, *worker_procs]:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
        server_log.close()
        worker_log.close()


async def _get(client: httpx.AsyncClient, tally: Tally, label: str, url: str, token: str) -> None:
    start = time.perf_counter()
    try:
        r = await client.get(url, headers={"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"})
        await r.aread()
    except httpx.HTTPError as exc:
        tally.errors.append(f"{label}: {type(exc).__name__} {exc}")
        return
    tally.add(label, time.perf_counter() - start)
    if r.status_code not in OK_STATUSES:
        tally.errors.append(f"{label}: HTTP {r.status_code} {r.text[:200]}")


async def browse(client, tally: Tally, token: str, stop: float, *, think: float, rng: random.Random,
                 levels: list[str], job_map: str | None) -> None:
    """One user looking at maps and layers until ``stop``."""
    pages = [("map /maps/tiers", "/maps/tiers"), ("GET /tiers", "/tiers"), ("GET /resources", "/resources"),
             ("GET /stations", "/stations"), ("GET /jobs", "/jobs?limit=20")]
    pages += [("GeoJSON /tiers/{level}", f"/tiers/{lv}") for lv in levels]
    if job_map:
        pages.append(("map /maps/jobs/{id}", job_map))
    while time.monotonic() < stop:
        label, url = rng.choice(pages)
        await _get(client, tally, label, url, token)
        if think:
            await asyncio.sleep(rng.uniform(0.5 * think, 1.5 * think))


async def run_jobs(client, tally: Tally, token: str, stop: float, *, offset: int) -> None:
    """One user starting analyses one after another until ``stop`` (the last one is waited for)."""
    headers = {"Authorization": f"Bearer {token}"}
    i = offset
    while time.monotonic() < stop:
        body = JOB_ANALYSES[i % len(JOB_ANALYSES)]
        i += 1
        start = time.perf_counter()
        try:
            r = await client.post("/jobs", json=body, headers=headers)
            if r.status_code != 202:
                tally.errors.append(f"POST /jobs: HTTP {r.status_code} {r.text[:200]}")
                await asyncio.sleep(1)
                continue
            job_url = r.json()["status_url"]
            tally.add("POST /jobs", time.perf_counter() - start)
            while True:
                await asyncio.sleep(1.0)
                t0 = time.perf_counter()
                s = await client.get(job_url, headers=headers)
                tally.add("GET /jobs/{id}", time.perf_counter() - t0)
                status = s.json().get("status") if s.status_code == 200 else None
                if s.status_code != 200:
                    tally.errors.append(f"GET /jobs/{{id}}: HTTP {s.status_code}")
                    break
                if status == "done":
                    tally.jobs_done += 1
                    break
                if status in ("failed", "cancelled"):
                    tally.jobs_failed += 1
                    tally.errors.append(f"job {body['analysis']} {status}: {s.json().get('error')}")
                    break
        except httpx.HTTPError as exc:
            tally.errors.append(f"jobs: {type(exc).__name__} {exc}")


async def _phase(base: str, tokens: list[str], *, users: int, jobs: int, seconds: float, think: float,
                 levels: list[str], job_map: str | None, seed: int) -> Tally:
    tally = Tally()
    # idle connections are dropped before the server's keep-alive timeout (uvicorn: 5 s), else a
    # request can race the server closing the connection and fail on the client side
    limits = httpx.Limits(max_connections=users + jobs + 5, max_keepalive_connections=users + jobs + 5,
                          keepalive_expiry=2.0)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        stop = time.monotonic() + seconds
        tasks = [browse(client, tally, tokens[i], stop, think=think, rng=random.Random(seed + i), levels=levels,
                        job_map=job_map) for i in range(users)]
        tasks += [run_jobs(client, tally, tokens[users + j], stop, offset=j) for j in range(jobs)]
        await asyncio.gather(*tasks)
    return tally


def _warm_up(base: str, token: str) -> tuple[list[str], str | None]:
    """Levels of the workspace and the map URL of one finished job (made here if none)."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=120, headers=headers) as client:
        levels = [lv["key"] for lv in client.get("/tiers").raise_for_status().json()["levels"]]
        client.get("/maps/tiers").raise_for_status()
        r = client.post("/jobs", json=JOB_ANALYSES[0]).raise_for_status()
        url = r.json()["status_url"]
        for _ in range(240):
            record = client.get(url).json()
            if record["status"] in ("done", "failed", "cancelled"):
                break
            time.sleep(0.5)
        return levels, record.get("links", {}).get("map")


def _pct(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000 if values else float("nan")


def report(alone: Tally, loaded: Tally, *, users: int, jobs: int, seconds: float) -> str:
    lines = [f"{'endpoint':<26}{'n alone':>8}{'p50 alone':>11}{'n load':>8}{'p50 load':>10}{'p95 load':>10}"
             f"{'p95/p50 alone':>15}"]
    labels = sorted(set(alone.latencies) | set(loaded.latencies))
    for label in labels:
        a, b = alone.latencies.get(label, []), loaded.latencies.get(label, [])
        base = _pct(a, 50)
        ratio = _pct(b, 95) / base if a and b else float("nan")
        lines.append(f"{label:<26}{len(a):>8}{base:>9.0f}ms{len(b):>8}{_pct(b, 50):>8.0f}ms{_pct(b, 95):>8.0f}ms"
                     f"{ratio:>14.1f}×")
    total = sum(len(v) for v in loaded.latencies.values())
    lines.append(f"load: {users} users + {jobs} job users for {seconds:.0f} s: {total} requests "
                 f"({total / seconds:.1f}/s), jobs done {loaded.jobs_done}, failed {loaded.jobs_failed}, "
                 f"errors {len(loaded.errors)} (alone: {len(alone.errors)})")
    for err in (alone.errors + loaded.errors)[:20]:
        lines.append(f"  error: {err}")
    return "\n".join(lines)


def run(*, users: int = 50, jobs: int = 5, duration: float = 60, baseline: float = 10, think: float = 1.0,
        workspace: str | None = None, data_dir: str | None = None, seed: int = 0,
        postgis: str | None = None, workers: int = 1) -> tuple[Tally, Tally, str]:
    """Run both phases; returns the two tallies and the printed report.

    With ``postgis`` (an admin URL of a PostgreSQL server with PostGIS) the server runs as the
    shared deployment does: a scratch database, the API only queueing jobs and ``workers``
    ``tsunagu worker`` processes running them; otherwise the embedded GeoPackage with jobs in
    the server's threads.
    """
    with tempfile.TemporaryDirectory(prefix="tsunagu-load-") as tmp:
        if postgis:
            ws = prepare_postgis(postgis, data_dir=data_dir)
        else:
            ws = prepare_workspace(Path(tmp), source=workspace, data_dir=data_dir)
            workers = 0
        tokens = sessions(ws, users + jobs + 1)
        port = _free_port()
        base = f"http://127.0.0.1:{port}"
        with running_server(ws, port, data_dir=data_dir, workers=workers, log_dir=Path(tmp)):
            levels, job_map = _warm_up(base, tokens[-1])
            alone = asyncio.run(_phase(base, tokens, users=1, jobs=0, seconds=baseline, think=0.0,
                                       levels=levels, job_map=job_map, seed=seed))
            loaded = asyncio.run(_phase(base, tokens, users=users, jobs=jobs, seconds=duration, think=think,
                                        levels=levels, job_map=job_map, seed=seed))
    return alone, loaded, report(alone, loaded, users=users, jobs=jobs, seconds=duration)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--jobs", type=int, default=5)
    parser.add_argument("--duration", type=float, default=60)
    parser.add_argument("--baseline", type=float, default=10)
    parser.add_argument("--think", type=float, default=1.0, help="mean seconds between a user's requests")
    parser.add_argument("--workspace", default=None, help="a .gpkg to copy (default: build 高梁市)")
    parser.add_argument("--data-dir", default=os.environ.get("TSUNAGU_DATA_DIR"))
    parser.add_argument("--postgis", default=None, metavar="URL",
                        help="run the shared deployment: a scratch database on this server, API + worker(s)")
    parser.add_argument("--workers", type=int, default=1, help="tsunagu worker processes (with --postgis)")
    args = parser.parse_args(argv)
    alone, loaded, text = run(users=args.users, jobs=args.jobs, duration=args.duration, baseline=args.baseline,
                              think=args.think, workspace=args.workspace, data_dir=args.data_dir,
                              postgis=args.postgis, workers=args.workers)
    mode = (f"PostGIS, API + {args.workers} worker process(es)" if args.postgis
            else "embedded GeoPackage, jobs in child processes of the server")
    print(f"deployment: {mode}")
    print(text)
    return 1 if alone.errors or loaded.errors else 0


if __name__ == "__main__":
    sys.exit(main())
