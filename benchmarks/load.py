"""Load test on loopback: many users browsing maps while a few run jobs, against a real server.

Starts ``tsunagu serve`` (a real uvicorn process) on 127.0.0.1 on a copy of a workspace (by
default 高梁市, built from the open data), logs in one account per simulated user, then, on the
same server in the same run:

1. **alone** — one user browses alone for ``--baseline`` seconds;
2. **no jobs** — ``--users`` users browse (each request followed by a think time of ~``--think`` s)
   for ``--duration`` seconds;
3. **with jobs** — the same users browse while ``--jobs`` users each start an analysis job,
   follow it to the end and start the next, for ``--duration`` seconds.

Printed per endpoint: p50 alone, p50 / p95 without and with jobs side by side, and p95 with jobs
over p95 without (the issue's goal: p95 < 200 ms for the tier map and tier GeoJSON, and jobs
costing browsing at most 2×); errors are any status other than 200/304, a timeout or a dropped
connection, and the exit status is 1 when there is any. Loopback only: the server binds 127.0.0.1.

    python3 benchmarks/load.py                              # 50 users + 5 jobs for 60 s
    python3 benchmarks/load.py --users 10 --jobs 2 --duration 10   # the bounded CI setting
    python3 benchmarks/load.py --postgis postgresql://postgres@127.0.0.1:5432/tsunagu_load_mine   # API + worker

``--postgis`` takes the URL of *your* database: it is created (with PostGIS) when missing and
never dropped; 高梁市 is built into its default workspace unless an earlier run left it there.
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


#: The city the benchmark runs on (高梁市).
CITY_CODE = "33209"


def ensure_database(url: str) -> str:
    """The database ``url`` names, created (with PostGIS) when it does not exist; never dropped.

    The database is the caller's: one that exists is used as it is (only ``CREATE EXTENSION IF
    NOT EXISTS postgis``); a missing one is created from the server's ``postgres`` database.
    Returns the URL (normalised for SQLAlchemy).
    """
    import sqlalchemy as sa

    from api.store.postgis import normalise_url

    target = normalise_url(url)
    name = target.database
    if not name:
        msg = f"--postgis needs a URL naming the database to use (…/<database>), got {url!r}"
        raise SystemExit(msg)
    admin = sa.create_engine(target.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first()
            if exists is None:
                quoted = conn.dialect.identifier_preparer.quote(name)
                conn.execute(sa.text(f"CREATE DATABASE {quoted}"))
    finally:
        admin.dispose()
    engine = sa.create_engine(target)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    finally:
        engine.dispose()
    return target.render_as_string(hide_password=False)


def prepare_postgis(url: str, *, data_dir: str | None) -> str:
    """The caller's database ``url`` (made if missing) with 高梁市 in its default workspace.

    A workspace that already holds 高梁市 is used as it is (an earlier run's); one holding
    another city is refused rather than overwritten.
    """
    from api.importing import build_city_workspace, find_data_dir
    from api.store.errors import WorkspaceNotInitialised
    from api.store.postgis import PostGISStore

    text = ensure_database(url)
    store = PostGISStore(text, create=True)
    try:
        try:
            held = store.workspace()["city_code"]
        except WorkspaceNotInitialised:
            held = None
        if held is None:
            build_city_workspace(store, city_code=CITY_CODE, data_dir=find_data_dir(data_dir))
        elif str(held) != CITY_CODE:
            msg = (f"the database of {url} already holds city {held}: give --postgis another database name "
                   "(it is created when missing)")
            raise SystemExit(msg)
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
        build_city_workspace(store, city_code=CITY_CODE, data_dir=find_data_dir(data_dir))
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


#: The endpoints the issue's goal is about (p95 < 200 ms, with jobs at most twice without).
KEY_ENDPOINTS = ("map /maps/tiers", "GeoJSON /tiers/{level}")


@dataclass
class Result:
    """The tallies of one run: one user alone, the users without jobs, the same users with jobs."""

    alone: Tally
    no_jobs: Tally | None
    with_jobs: Tally
    text: str = ""

    @property
    def errors(self) -> list[str]:
        return [*self.alone.errors, *(self.no_jobs.errors if self.no_jobs else []), *self.with_jobs.errors]

    def p95(self, label: str, *, jobs: bool = True) -> float:
        """p95 (ms) of ``label`` in the phase with (or without) jobs."""
        tally = self.with_jobs if jobs else self.no_jobs
        return _pct(tally.latencies.get(label, []) if tally else [], 95)

    def ratio(self, label: str) -> float:
        """p95 with jobs / p95 without jobs, same run, same server."""
        return self.p95(label) / self.p95(label, jobs=False)


def report(result: Result, *, users: int, jobs: int, seconds: float) -> str:
    """The table: per endpoint, alone, without jobs and with jobs side by side, and the p95 ratio."""
    alone, quiet, loaded = result.alone, result.no_jobs or Tally(), result.with_jobs
    lines = [f"{'endpoint':<24}{'alone p50':>10}{'n':>7}{'no jobs p50':>12}{'p95':>8}{'n':>7}{'jobs p50':>9}"
             f"{'p95':>8}{'p95 jobs/no jobs':>18}"]
    labels = sorted(set(alone.latencies) | set(quiet.latencies) | set(loaded.latencies),
                    key=lambda label: (label not in KEY_ENDPOINTS, label))
    for label in labels:
        a, q, b = (t.latencies.get(label, []) for t in (alone, quiet, loaded))
        ratio = _pct(b, 95) / _pct(q, 95) if q and b else float("nan")
        lines.append(f"{label:<24}{_pct(a, 50):>8.0f}ms{len(q):>7}{_pct(q, 50):>10.0f}ms{_pct(q, 95):>6.0f}ms"
                     f"{len(b):>7}{_pct(b, 50):>7.0f}ms{_pct(b, 95):>6.0f}ms{ratio:>17.2f}×")
    for name, tally, job_users in (("no jobs", result.no_jobs, 0), ("with jobs", loaded, jobs)):
        if tally is None:
            continue
        total = sum(len(v) for v in tally.latencies.values())
        lines.append(f"{name}: {users} users + {job_users} job users for {seconds:.0f} s: {total} requests "
                     f"({total / seconds:.1f}/s), jobs done {tally.jobs_done}, failed {tally.jobs_failed}, "
                     f"errors {len(tally.errors)}")
    lines.append(f"alone: errors {len(alone.errors)}")
    for err in result.errors[:20]:
        lines.append(f"  error: {err}")
    return "\n".join(lines)


def run(*, users: int = 50, jobs: int = 5, duration: float = 60, baseline: float = 10, think: float = 1.0,
        workspace: str | None = None, data_dir: str | None = None, seed: int = 0,
        postgis: str | None = None, workers: int = 1, compare: bool = True) -> Result:
    """Run the phases on one server; returns their tallies and the printed report.

    With ``postgis`` (the URL of the caller's database, made with PostGIS when missing and
    never dropped) the server runs as the shared deployment does: the API only queueing jobs
    and ``workers`` ``tsunagu worker`` processes running them; otherwise the embedded
    GeoPackage with jobs in the server's child processes. ``compare`` runs the users without
    jobs first (same server, same run), so the with-jobs p95 has its reference.
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
        phase = {"levels": None, "job_map": None, "seed": seed}
        with running_server(ws, port, data_dir=data_dir, workers=workers, log_dir=Path(tmp)):
            phase["levels"], phase["job_map"] = _warm_up(base, tokens[-1])
            alone = asyncio.run(_phase(base, tokens, users=1, jobs=0, seconds=baseline, think=0.0, **phase))
            quiet = None
            if compare:
                quiet = asyncio.run(_phase(base, tokens, users=users, jobs=0, seconds=duration, think=think, **phase))
            loaded = asyncio.run(_phase(base, tokens, users=users, jobs=jobs, seconds=duration, think=think, **phase))
    result = Result(alone=alone, no_jobs=quiet, with_jobs=loaded)
    result.text = report(result, users=users, jobs=jobs, seconds=duration)
    return result


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
                        help="run the shared deployment (API + worker(s)) on the database this URL names: "
                             "created with PostGIS when missing, never dropped")
    parser.add_argument("--workers", type=int, default=1, help="tsunagu worker processes (with --postgis)")
    parser.add_argument("--no-compare", dest="compare", action="store_false",
                        help="skip the phase without jobs (only the users with jobs)")
    args = parser.parse_args(argv)
    result = run(users=args.users, jobs=args.jobs, duration=args.duration, baseline=args.baseline,
                 think=args.think, workspace=args.workspace, data_dir=args.data_dir,
                 postgis=args.postgis, workers=args.workers, compare=args.compare)
    mode = (f"PostGIS, API + {args.workers} worker process(es)" if args.postgis
            else "embedded GeoPackage, jobs in child processes of the server")
    print(f"deployment: {mode}; load average {' '.join(f'{v:.2f}' for v in os.getloadavg())} at the end")
    print(result.text)
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
