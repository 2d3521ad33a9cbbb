"""`tsunagu serve` on a GeoPackage runs its jobs in child worker processes, never in the API process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import _fake_analysis as fake
import pytest
from _auth import login
from _sample_workspace import fill_small_workspace
from fastapi.testclient import TestClient

from api.app import create_app
from api.dependencies import runner_of
from api.jobs import wait_for_job
from api.job_process import default_processes
from api.settings import Settings
from api.store.geopackage import GeoPackageStore

ROOT = Path(__file__).resolve().parents[1]


def _settings(tmp_path, **overrides) -> Settings:
    for name in ("ws", "niimi"):
        with GeoPackageStore(tmp_path / f"{name}.gpkg") as store:
            fill_small_workspace(store)
    return Settings(workspace=str(tmp_path / "ws.gpkg"), data_dir=tmp_path, upload_dir=tmp_path / "uploads",
                    job_runner="process", job_processes=1, job_poll_s=0.2,
                    analysis_modules="_fake_analysis", **overrides)


def _pid(record: dict) -> int:
    return int(record["worker_id"].split(":")[1])  # host:pid:random


def _wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.1)
    pytest.fail(f"{what} within {timeout:g} s")


def test_a_job_posted_to_the_api_runs_in_a_child_process(tmp_path):
    settings = _settings(tmp_path)
    other = GeoPackageStore(tmp_path / "niimi.gpkg")
    waiting = other.create_job(analysis=fake.NAME, params={}, created_by="u", data_version="v")  # before the start
    tag = uuid.uuid4().hex
    app = create_app(settings)
    with TestClient(app) as client:
        runner = runner_of(app)
        assert runner.mode == "process"
        login(client, "planner")
        job_id = client.post("/jobs", json={"analysis": fake.NAME, "params": {"tag": tag}}).json()["job_id"]
        store = GeoPackageStore(settings.workspace, create=False)
        record = wait_for_job(store, job_id, timeout=90)
        assert record["status"] == "done", record
        assert client.get(f"/jobs/{job_id}").json()["status"] == "done"
        assert client.get(f"/jobs/{job_id}/tables/areas.csv").status_code == 200
        children = runner.pids()
        assert len(children) == 1 and os.getpid() not in children
        assert _pid(record) in children  # claimed and run by the child
        assert fake.RUNS[tag] == 0  # the analysis never ran in this (the API's) process
        # the child yields the CPU to the API: TSUNAGU_JOB_NICE (10) steps lower than this process
        assert os.getpriority(os.PRIO_PROCESS, children[0]) == min(19, os.nice(0) + settings.job_nice)
        assert wait_for_job(other, waiting["job_id"], timeout=30)["status"] == "done"  # every workspace of the folder
    _wait_until(lambda: not any(_alive(pid) for pid in children), 15, "the child did not stop with the server")


def test_a_killed_child_is_restarted_and_its_job_finished(tmp_path):
    settings = _settings(tmp_path, job_lease_s=3.0)
    app = create_app(settings)
    with TestClient(app) as client:
        runner = runner_of(app)
        login(client, "planner")
        job_id = client.post("/jobs", json={"analysis": fake.NAME,
                                            "params": {"steps": 30, "step_s": 0.2}}).json()["job_id"]
        store = GeoPackageStore(settings.workspace, create=False)
        running = _wait_until(lambda: (r := store.get_job(job_id))["status"] == "running" and r, 90,
                              "the job did not start")
        killed = _pid(running)
        os.kill(killed, signal.SIGKILL)
        record = wait_for_job(store, job_id, timeout=90)  # lease (3 s) runs out, the new child re-queues and runs it
        assert record["status"] == "done" and record["attempts"] == 2
        assert _pid(record) != killed and _pid(record) in runner.pids()
        assert not _alive(killed)


def test_a_child_killed_while_idle_does_not_hold_up_the_server(tmp_path):
    """An idle child sleeps waiting for a wake-up; killed there, it must not block the next POST or the shutdown.

    (With a shared ``multiprocessing.Event`` the dead sleeper stayed counted and the server's
    next ``set()`` waited for it for ever.)
    """
    settings = _settings(tmp_path)
    app = create_app(settings)
    with TestClient(app) as client:
        runner = runner_of(app)
        login(client, "planner")
        store = GeoPackageStore(settings.workspace, create=False)
        warm_up = client.post("/jobs", json={"analysis": fake.NAME, "params": {}}).json()["job_id"]
        assert wait_for_job(store, warm_up, timeout=90)["status"] == "done"  # the child is in its claim loop
        (first,) = runner.pids()
        time.sleep(1.0)  # and waiting for work now
        os.kill(first, signal.SIGKILL)
        _wait_until(lambda: not _alive(first), 10, "the child did not die")
        posted: dict = {}
        poster = threading.Thread(target=lambda: posted.update(
            client.post("/jobs", json={"analysis": fake.NAME, "params": {}}).json()), daemon=True)
        poster.start()
        poster.join(30)
        assert not poster.is_alive(), "POST /jobs hung after a child was killed"
        record = wait_for_job(store, posted["job_id"], timeout=90)
        assert record["status"] == "done" and _pid(record) != first
    assert not runner.pids()  # shut down without hanging, children gone


def test_the_default_runs_cores_minus_one_jobs_at_once(monkeypatch):
    monkeypatch.setattr("api.settings.EMBEDDED_JOB_RUNNER", "process")  # what `tsunagu serve` uses (conftest: threads)
    from api.jobs import JobRunner

    runner = JobRunner.from_settings(Settings(workspace="ws.gpkg"))
    assert runner.mode == "process" and runner.max_workers == default_processes()
    assert default_processes() == max(1, len(os.sched_getaffinity(0)) - 1)


def test_lower_priority_adds_its_steps_to_the_processs_niceness():
    code = "import os; from api.worker import lower_priority; before = os.nice(0); print(before, lower_priority(3), lower_priority(0))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    before, after, unchanged = map(int, out.split())
    assert after == unchanged == min(19, before + 3)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (ended, not yet reaped) is not alive
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return False
