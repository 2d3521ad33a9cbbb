"""Durable jobs: workers claiming from the store, leases, cancel, kill -9 of a real ``tsunagu worker``."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import _fake_analysis as fake
import pytest
import sqlalchemy as sa
from _auth import login
from click.testing import CliRunner
from fastapi.testclient import TestClient
from test_jobs import _fill

from api.app import create_app
from api.jobs import create_job, run_job, wait_for_job
from api.settings import Settings
from api.store.geopackage import GeoPackageStore
from api.worker import Worker

ROOT = Path(__file__).resolve().parents[1]


def _queue(store, n: int = 1, **params) -> list[str]:
    return [create_job(store, fake.NAME, params, created_by="tester")[0]["job_id"] for _ in range(n)]


def _poll(what, *, timeout: float = 30.0, every: float = 0.05):
    """Call ``what()`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = what()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"gave up after {timeout} s waiting for {what}")


def _table_rows(store, job_id: str) -> int:
    """Result rows of a job straight from the database (committed ones only)."""
    with store._engine.connect() as conn:
        return conn.execute(sa.text("SELECT count(*) FROM job_tables WHERE job_id = :j"), {"j": job_id}).scalar()


def _assert_done_or_failed_never_between(store, job_id: str, *, n_tables: int) -> dict:
    record = store.get_job(job_id)
    assert record["status"] in ("done", "failed"), record
    if record["status"] == "done":
        assert len(record["tables"]) == n_tables and _table_rows(store, job_id) == n_tables
        assert all(store.job_table(job_id, name) is not None for name in record["tables"])
        assert store.job_map(job_id) is not None and record["summary"]
    else:
        assert record["tables"] == [] and _table_rows(store, job_id) == 0 and store.job_map(job_id) is None
    return record


# ---------------------------------------------------------------------------- claims


@pytest.mark.postgis
def test_two_workers_on_postgis_never_run_a_job_twice(pg_store_factory):
    store = pg_store_factory()
    _fill(store)
    tags = [f"x{uuid.uuid4().hex[:8]}" for _ in range(16)]
    ids = [create_job(store, fake.NAME, {"tag": tag, "steps": 2, "step_s": 0.01}, created_by="t")[0]["job_id"]
           for tag in tags]
    stop = threading.Event()
    workers = [Worker(pg_store_factory(store.workspace_name), worker_id=f"w{i}", lease_s=30, stop=stop)
               for i in range(2)]
    threads = [threading.Thread(target=w.run_forever, kwargs={"poll_s": 0.05}) for w in workers]
    for t in threads:
        t.start()
    try:
        _poll(lambda: all(store.get_job(j)["status"] == "done" for j in ids), timeout=60)
    finally:
        stop.set()
        for t in threads:
            t.join()
    records = [store.get_job(j) for j in ids]
    assert [fake.RUNS[tag] for tag in tags] == [1] * len(tags)  # the analysis ran once per job
    assert all(r["attempts"] == 1 for r in records)
    assert {r["worker_id"] for r in records} <= {"w0", "w1"}


# ---------------------------------------------------------------------------- cancel and progress


@pytest.mark.postgis
def test_cancel_through_the_api_stops_a_running_job_at_its_next_report(pg_store_factory, postgis_url, tmp_path):
    store = pg_store_factory()
    _fill(store)
    settings = Settings(workspace=postgis_url, data_dir=tmp_path, accounts=str(tmp_path / "accounts.sqlite"))
    assert settings.job_runner == "worker"  # PostGIS: the API only queues
    app = create_app(settings, store=store)
    worker = Worker(pg_store_factory(store.workspace_name), lease_s=10)
    with TestClient(app) as client:
        login(client, "coordinator")
        job_id = client.post("/jobs", json={"analysis": fake.NAME, "params": {"steps": 400, "step_s": 0.05}}).json()[
            "job_id"]
        queued_id = client.post("/jobs", json={"analysis": fake.NAME, "params": {}}).json()["job_id"]
        assert client.get(f"/jobs/{job_id}").json()["status"] == "queued"  # nobody runs it in the API process
        ran = threading.Thread(target=worker.run_once)
        ran.start()
        # progress comes from the job's row, written by the worker
        body = _poll(lambda: (b := client.get(f"/jobs/{job_id}").json())["progress"] > 0.1 and b)
        assert body["status"] == "running" and body["message"].startswith("待機中") and body["worker_id"]

        asked = client.post(f"/jobs/{job_id}/cancel")
        asked_at = time.monotonic()
        assert asked.status_code == 202 and asked.json()["status"] == "running"
        assert asked.json()["cancel_requested"] is True and asked.json()["status_label"] == "取消中"
        ran.join(timeout=20)
        stopped_after = time.monotonic() - asked_at
        assert not ran.is_alive()
        final = client.get(f"/jobs/{job_id}").json()
        assert final["status"] == "cancelled" and final["status_label"] == "取消" and final["progress"] < 1
        assert final["tables"] == [] and _table_rows(store, job_id) == 0
        assert client.get(f"/jobs/{job_id}/tables/areas.csv").status_code == 409
        assert stopped_after < 3.0  # next progress write (1 s) + next report (0.05 s)

        now = client.post(f"/jobs/{queued_id}/cancel")  # a queued job is cancelled at once
        assert now.status_code == 200 and now.json()["status"] == "cancelled"
        again = client.post(f"/jobs/{queued_id}/cancel")
        assert again.status_code == 409 and again.json()["status"] == "cancelled" and "取消" in again.json()["hint"]
        assert worker.run_once() is None  # nothing left to run


def test_thread_mode_cancel_reaches_the_running_thread_at_once(tmp_path):
    store = GeoPackageStore(tmp_path / "ws.gpkg")
    _fill(store)
    app = create_app(Settings(workspace=str(tmp_path / "ws.gpkg"), data_dir=tmp_path), store=store)
    with TestClient(app) as client:
        login(client, "planner")
        job_id = client.post("/jobs", json={"analysis": fake.NAME, "params": {"steps": 400, "step_s": 0.05}}).json()[
            "job_id"]
        _poll(lambda: client.get(f"/jobs/{job_id}").json()["progress"] > 0.1)  # live progress of the thread
        asked = time.monotonic()
        assert client.post(f"/jobs/{job_id}/cancel").status_code == 202
        final = _poll(lambda: (b := client.get(f"/jobs/{job_id}").json())["status"] != "running" and b)
        assert final["status"] == "cancelled" and time.monotonic() - asked < 3.0
        assert final["tables"] == []


# ---------------------------------------------------------------------------- leases


@pytest.fixture(params=["geopackage", pytest.param("postgis", marks=pytest.mark.postgis)])
def make_store(request, tmp_path):
    """``make_store()`` opens a new store object on the same (filled) workspace each call."""
    if request.param == "geopackage":
        path = tmp_path / "workspace.gpkg"
        _fill(GeoPackageStore(path))
        yield lambda: GeoPackageStore(path)
    else:
        factory = request.getfixturevalue("pg_store_factory")
        first = factory()
        _fill(first)
        yield lambda: factory(first.workspace_name)


def test_dead_workers_job_is_requeued_and_run_by_the_next_worker(make_store):
    store = make_store()
    (job_id,) = _queue(store)
    dead = store.claim_job(worker_id="dead", lease_s=0.3)  # claims, then never beats again
    assert dead["status"] == "running"
    nxt = Worker(make_store(), worker_id="next", lease_s=5, max_attempts=3)
    assert nxt.run_once() is None  # the lease has not run out yet: the job is left alone
    time.sleep(0.4)
    record = nxt.run_once()
    assert record["job_id"] == job_id and record["status"] == "done" and record["attempts"] == 2
    assert record["worker_id"] == "next" and record["tables"] == ["areas", "levels"]


def test_a_job_whose_workers_keep_dying_fails_after_max_attempts(make_store):
    store = make_store()
    (job_id,) = _queue(store)
    for attempt in (1, 2):
        claimed = store.claim_job(worker_id=f"dead-{attempt}", lease_s=0.1)  # and dies
        assert claimed["attempts"] == attempt
        time.sleep(0.2)
        if attempt == 1:
            (requeued,) = store.reap_expired_jobs(max_attempts=2)
            assert requeued["status"] == "queued"
    assert Worker(make_store(), max_attempts=2, lease_s=5).run_once() is None  # reaps it: failed, nothing to run
    record = store.get_job(job_id)
    assert record["status"] == "failed" and record["attempts"] == 2
    assert record["error"].startswith("ワーカーが応答しなくなったため、2 回試みたところで中止しました")
    assert "もう一度実行してください" in record["error"] and record["tables"] == []


def test_a_worker_stopped_mid_job_gives_it_back(make_store):
    store = make_store()
    (job_id,) = _queue(store, steps=400, step_s=0.02)
    stop = threading.Event()
    worker = Worker(make_store(), lease_s=10, stop=stop)
    result: list = []
    thread = threading.Thread(target=lambda: result.append(worker.run_once()))
    thread.start()
    _poll(lambda: worker.current() is not None and worker.current()[1] > 0.1)
    stop.set()
    thread.join(timeout=10)
    assert result[0]["status"] == "queued" and result[0]["attempts"] == 0  # not counted against the job
    assert "再開待ち" in result[0]["message"]
    done = Worker(make_store(), lease_s=10).run_once()
    assert done["job_id"] == job_id and done["status"] == "done" and done["attempts"] == 1


def test_heartbeat_keeps_a_long_quiet_job(make_store):
    """An analysis silent for longer than the lease keeps its job: the heartbeat thread renews it."""
    store = make_store()
    fake.GATE.clear()
    (job_id,) = _queue(store, wait=True)
    worker = Worker(make_store(), worker_id="quiet", lease_s=1.0, heartbeat_s=0.2)
    thread = threading.Thread(target=worker.run_once)
    thread.start()
    try:
        _poll(lambda: store.get_job(job_id)["status"] == "running")
        time.sleep(2.5)  # 2.5 leases without a progress report
        other = Worker(make_store(), worker_id="other", lease_s=5)
        assert other.run_once() is None and store.get_job(job_id)["worker_id"] == "quiet"
    finally:
        fake.GATE.set()
        thread.join(timeout=20)
    record = store.get_job(job_id)
    assert record["status"] == "done" and record["attempts"] == 1


def test_run_job_claims_its_own_job_under_a_lease(make_store):
    store = make_store()
    job_id = run_job(store, fake.NAME, {}, data_dir=None, created_by="cli", lease_s=5)
    record = store.get_job(job_id)
    assert record["status"] == "done" and record["attempts"] == 1 and record["worker_id"]


def test_ctrl_c_in_the_cli_cancels_its_job(tmp_path):
    store = GeoPackageStore(tmp_path / "ws.gpkg")
    _fill(store)

    def interrupt(fraction: float, message: str) -> None:
        if fraction > 0.2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_job(store, fake.NAME, {"steps": 10, "step_s": 0.01}, data_dir=None, created_by="cli", progress_cb=interrupt)
    (record,) = store.list_jobs()
    assert record["status"] == "cancelled" and record["tables"] == []  # not left for a later worker to re-run


# ---------------------------------------------------------------------------- thread mode (tsunagu serve)


def test_serve_on_a_geopackage_resumes_jobs_left_by_a_dead_process(tmp_path):
    path = tmp_path / "ws.gpkg"
    store = GeoPackageStore(path)
    _fill(store)
    (waiting,) = _queue(store)
    (orphan,) = _queue(store)
    store.claim_job(worker_id="laptop-closed", lease_s=0.05, job_id=orphan)  # its process died mid-job
    time.sleep(0.1)
    settings = Settings(workspace=str(path), data_dir=tmp_path, job_poll_s=0.1)
    assert settings.job_runner == "thread"
    app = create_app(settings)  # opens the workspace itself, like `tsunagu serve`
    with TestClient(app):  # startup starts the job threads: nothing is posted
        records = [wait_for_job(GeoPackageStore(path), j, timeout=30) for j in (waiting, orphan)]
    assert [r["status"] for r in records] == ["done", "done"]
    assert records[1]["attempts"] == 2 and records[1]["worker_id"] != "laptop-closed"


def test_serve_runs_jobs_of_every_geopackage_workspace_of_the_folder(tmp_path):
    _fill(GeoPackageStore(tmp_path / "ws.gpkg"))
    other = GeoPackageStore(tmp_path / "niimi.gpkg")
    _fill(other)
    (waiting,) = _queue(other)  # queued before the service started, in the other city
    app = create_app(Settings(workspace=str(tmp_path / "ws.gpkg"), data_dir=tmp_path, job_poll_s=0.1))
    with TestClient(app) as client:
        assert wait_for_job(other, waiting, timeout=30)["status"] == "done"
        login(client, "planner")
        client.headers["X-Tsunagu-Workspace"] = "niimi"
        job_id = client.post("/jobs", json={"analysis": fake.NAME, "params": {}}).json()["job_id"]
        assert wait_for_job(other, job_id, timeout=30)["status"] == "done"
        assert client.get(f"/jobs/{job_id}").json()["status"] == "done"


def test_settings_choose_the_runner_by_workspace(monkeypatch):
    monkeypatch.setattr("api.settings.EMBEDDED_JOB_RUNNER", "process")  # the real default (conftest sets threads)
    assert Settings(workspace="ws.gpkg").job_runner == "process"  # `tsunagu serve` runs jobs in child processes
    assert Settings(workspace="postgresql://u@h/db").job_runner == "worker"
    assert Settings(workspace="postgresql://u@h/db", job_runner="thread").job_runner == "thread"
    with pytest.raises(ValueError, match="job_lease_s（5）より短く"):
        Settings(job_lease_s=5, job_heartbeat_s=5)


# ---------------------------------------------------------------------------- older workspaces


_OLD_JOBS_DDL = """CREATE TABLE jobs (
    fid INTEGER PRIMARY KEY AUTOINCREMENT, job_id TEXT NOT NULL UNIQUE, analysis TEXT NOT NULL,
    params TEXT NOT NULL, status TEXT NOT NULL, progress REAL NOT NULL DEFAULT 0, message TEXT,
    created_by TEXT, created_at TEXT NOT NULL, started_at TEXT, finished_at TEXT, data_version TEXT,
    summary TEXT, notes TEXT, error TEXT, table_names TEXT, map_html BLOB)"""


def test_a_geopackage_from_before_the_queue_still_opens_and_its_orphans_are_rerun(tmp_path):
    path = tmp_path / "old.gpkg"
    _fill(GeoPackageStore(path))
    orphan = str(uuid.uuid4())
    con = sqlite3.connect(path)
    with con:
        con.execute(_OLD_JOBS_DDL)
        con.execute("INSERT INTO jobs (job_id, analysis, params, status, progress, message, created_by, created_at, "
                    "started_at, notes, table_names) VALUES (?, ?, '{}', 'running', 0.4, '集計中', 'u', "
                    "'2025-01-01T00:00:00+00:00', '2025-01-01T00:00:01+00:00', '[]', '[]')", (orphan, fake.NAME))
    con.close()
    old = GeoPackageStore(path, create=False)  # its jobs move to the jobs database beside it, with the queue's columns
    record = old.get_job(orphan)
    assert record["status"] == "running" and record["attempts"] == 1 and record["lease_until"] is not None
    (new_job,) = _queue(old)
    worker = Worker(old, lease_s=5)
    assert worker.run_once()["job_id"] == orphan  # re-queued by the reaper, oldest first
    assert worker.run_once()["job_id"] == new_job
    assert [old.get_job(j)["status"] for j in (orphan, new_job)] == ["done", "done"]


@pytest.fixture
def scratch_database(postgis_url):
    """URL of a new, empty database with PostGIS (dropped afterwards): for what must not touch the shared one."""
    from api.store.postgis import normalise_url

    url = normalise_url(postgis_url)
    name = f"tsunagu_scratch_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    scratch = url.set(database=name)
    engine = sa.create_engine(scratch)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE EXTENSION IF NOT EXISTS postgis"))
    engine.dispose()
    try:
        yield scratch.render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.mark.postgis
def test_postgis_migration_0003_upgrades_a_0002_database(scratch_database):
    from alembic import command

    from api.store.postgis import PostGISStore, _alembic_config

    engine = sa.create_engine(scratch_database)
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "0002")
            conn.execute(sa.text("INSERT INTO workspaces (name) VALUES ('default')"))
            conn.execute(sa.text(
                "INSERT INTO jobs (job_id, workspace, analysis, status, started_at) VALUES "
                "(:a, 'default', :n, 'running', now()), (:b, 'default', :n, 'queued', NULL)"),
                {"a": (orphan := str(uuid.uuid4())), "b": (queued := str(uuid.uuid4())), "n": fake.NAME})
    finally:
        engine.dispose()
    with PostGISStore(scratch_database) as store:  # migrates to head
        record = store.get_job(orphan)
        assert record["attempts"] == 1 and record["lease_until"] is not None  # left by an old in-process runner
        assert store.get_job(queued)["attempts"] == 0 and store.get_job(queued)["cancel_requested"] is False
        (reaped,) = store.reap_expired_jobs(max_attempts=3)
        assert reaped["job_id"] == orphan and reaped["status"] == "queued"


@pytest.mark.postgis
def test_a_worker_serves_every_city_of_the_database(scratch_database, tmp_path):
    from api.store.postgis import PostGISStore

    cities = [PostGISStore(scratch_database, workspace=name) for name in ("default", "kurashiki")]
    log = tmp_path / "worker.log"
    worker = _start_worker(scratch_database, None, log, lease=5)
    try:
        for store in cities:
            _fill(store)
        ids = [_queue(store)[0] for store in cities]
        later = PostGISStore(scratch_database, workspace="niimi")  # a city added while the worker runs
        cities.append(later)
        _fill(later)
        ids.append(_queue(later)[0])
        for store, job_id in zip(cities, ids, strict=True):
            _poll(lambda s=store, j=job_id: s.get_job(j)["status"] == "done", timeout=60)
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=20) == 0
    except BaseException:
        print(log.read_text(encoding="utf-8", errors="replace")[-5000:])
        raise
    finally:
        _kill(worker)
        for store in cities:
            store.close()


# ---------------------------------------------------------------------------- the CLI


def test_cli_worker_check_and_once(tmp_path):
    from api.cli import main

    path = tmp_path / "ws.gpkg"
    store = GeoPackageStore(path)
    _fill(store)
    (job_id,) = _queue(store)
    runner = CliRunner()
    check = runner.invoke(main, ["worker", "--workspace", str(path), "--check"])
    assert check.exit_code == 0 and "待機中 1 件" in check.output
    once = runner.invoke(main, ["worker", "--workspace", str(path), "--once", "--lease", "5"])
    assert once.exit_code == 0, once.output
    assert store.get_job(job_id)["status"] == "done"
    empty = runner.invoke(main, ["worker", "--workspace", str(path), "--once"])
    assert empty.exit_code == 0 and "待機中のジョブはありません" in empty.output
    missing = runner.invoke(main, ["worker", "--workspace", str(tmp_path / "none.gpkg"), "--check"])
    assert missing.exit_code != 0 and "Traceback" not in missing.output


# ---------------------------------------------------------------------------- kill -9


def _worker_command() -> list[str]:
    script = Path(sys.executable).with_name("tsunagu")
    return [str(script)] if script.exists() else [sys.executable, "-m", "api.cli"]


def _start_worker(url: str, workspace: str | None, log: Path, *, lease: float) -> subprocess.Popen:
    """A real ``tsunagu worker`` process (on one workspace, or every workspace when None) that knows the fake analysis."""
    # this checkout's code (the installed ``tsunagu`` script may point at another), and the fake analysis
    path = [str(ROOT), str(ROOT / "tests"), os.environ.get("PYTHONPATH")]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, path)), "TSUNAGU_ANALYSIS_MODULES": "_fake_analysis",
           "TSUNAGU_JOB_NICE": "10"}
    env.pop("TSUNAGU_WORKSPACE", None)
    only = [] if workspace is None else ["--workspace-name", workspace]
    return subprocess.Popen(
        [*_worker_command(), "worker", "--workspace", url, *only, "--lease", str(lease), "--poll", "0.2"],
        cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def _kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.postgis
def test_kill_9_mid_job_then_the_next_worker_finishes_it(pg_store_factory, postgis_url, tmp_path):
    store = pg_store_factory()
    _fill(store)
    (job_id,) = _queue(store, steps=60, step_s=0.1)
    log = tmp_path / "workers.log"
    first = _start_worker(postgis_url, store.workspace_name, log, lease=3)
    second = None
    try:
        running = _poll(lambda: (r := store.get_job(job_id))["status"] == "running" and r["progress"] > 0.15 and r,
                        timeout=60)
        # the worker runs its jobs 10 steps nicer than whoever started it (TSUNAGU_JOB_NICE), yielding to an API
        assert os.getpriority(os.PRIO_PROCESS, first.pid) == min(19, os.nice(0) + 10)
        os.kill(first.pid, signal.SIGKILL)
        killed_at = time.monotonic()
        first.wait(timeout=10)
        assert first.returncode == -signal.SIGKILL
        after = store.get_job(job_id)  # what a dead worker leaves: running, nothing of a result
        assert after["status"] == "running" and after["worker_id"] == running["worker_id"]
        assert after["tables"] == [] and _table_rows(store, job_id) == 0

        second = _start_worker(postgis_url, store.workspace_name, log, lease=3)
        again = _poll(lambda: (r := store.get_job(job_id))["attempts"] == 2 and r, timeout=60)
        detected = time.monotonic() - killed_at
        assert again["worker_id"] != running["worker_id"]
        _poll(lambda: store.get_job(job_id)["status"] not in ("queued", "running"), timeout=60)
        record = _assert_done_or_failed_never_between(store, job_id, n_tables=2)
        assert record["status"] == "done"  # 2 attempts of 3: it was re-run, not given up
        print(f"\nkill -9 mid-job: re-claimed by the next worker {detected:.1f} s after the kill "
              "(3 s lease, worker start included)")
        second.send_signal(signal.SIGTERM)  # a graceful stop exits cleanly
        assert second.wait(timeout=20) == 0
    except BaseException:
        print(log.read_text(encoding="utf-8", errors="replace")[-5000:])
        raise
    finally:
        _kill(first)
        if second is not None:
            _kill(second)


@pytest.mark.postgis
def test_kill_9_while_the_result_is_being_written_leaves_no_half_result(pg_store_factory, postgis_url, tmp_path):
    store = pg_store_factory()
    _fill(store)
    extra = 30
    (job_id,) = _queue(store, extra_tables=extra)
    log = tmp_path / "workers.log"
    first = _start_worker(postgis_url, store.workspace_name, log, lease=3)
    second = None
    try:
        _poll(lambda: store.get_job(job_id)["message"] == "結果を保存中", timeout=60, every=0.01)

        def in_final_transaction() -> bool:
            """The worker holds the job's row lock: its result transaction is open."""
            with store._engine.connect() as conn:
                try:
                    conn.execute(sa.text("SELECT 1 FROM jobs WHERE job_id = :j FOR UPDATE NOWAIT"), {"j": job_id})
                except sa.exc.OperationalError:
                    return True
                finally:
                    conn.rollback()
            return False

        _poll(in_final_transaction, timeout=60, every=0.005)
        os.kill(first.pid, signal.SIGKILL)
        first.wait(timeout=10)
        _poll(lambda: not in_final_transaction(), timeout=30)  # PostgreSQL rolled the dead worker's transaction back
        after = store.get_job(job_id)
        assert after["status"] == "running" and after["tables"] == [] and _table_rows(store, job_id) == 0

        second = _start_worker(postgis_url, store.workspace_name, log, lease=3)
        _poll(lambda: store.get_job(job_id)["status"] not in ("queued", "running"), timeout=120)
        record = _assert_done_or_failed_never_between(store, job_id, n_tables=2 + extra)
        assert record["status"] == "done" and record["attempts"] == 2
    except BaseException:
        print(log.read_text(encoding="utf-8", errors="replace")[-5000:])
        raise
    finally:
        _kill(first)
        if second is not None:
            _kill(second)
