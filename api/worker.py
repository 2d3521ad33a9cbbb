"""The job worker: claims queued jobs from the store, runs them under a lease, and records their end.

One claim loop serves every way of running jobs: ``tsunagu worker`` (a process of its own,
beside a PostGIS store), the child processes ``tsunagu serve`` starts on a GeoPackage
(:mod:`api.job_process`) and the background threads of an embedded app
(:class:`api.jobs.JobRunner`, thread mode). A worker

1. re-queues the jobs of dead workers (:meth:`Store.reap_expired_jobs`: a running job whose
   lease ran out goes back to the queue, or fails after ``max_attempts`` attempts);
2. claims the oldest queued job (:meth:`Store.claim_job`, exclusive between workers);
3. runs its analysis while a heartbeat thread renews the lease every ``heartbeat_s`` seconds;
   progress reports are written to the job's row (at most every
   ``store.job_progress_interval`` seconds) and bring back a pending cancel request;
4. writes the result with the status in one transaction (:meth:`Store.finish_job`), or the
   failure, or the cancellation. A worker whose lease ran out writes nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path

from api.store.base import JobLeaseLost, JobStateError, Store, StoreError
from gis.errors import InputDataError, TsunaguError

log = logging.getLogger("tsunagu.worker")

#: Default lease of a claimed job (seconds): a worker silent this long is taken for dead.
DEFAULT_LEASE_S = 30.0
#: Default number of attempts before a job whose workers keep dying is failed.
DEFAULT_MAX_ATTEMPTS = 3

ProgressCallback = Callable[[float, str], None]


class JobInterrupted(BaseException):  # noqa: N818 - like KeyboardInterrupt: analyses must not swallow it
    """Raised inside an analysis at a progress report to stop it.

    A :class:`BaseException`, so an analysis's ``except Exception`` does not swallow it.
    ``reason`` is ``"cancelled"`` (a user asked), ``"lost"`` (the lease ran out and the job is
    someone else's now) or ``"stopping"`` (this worker shuts down and gives the job back).
    """

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def lower_priority(nice: int) -> int:
    """Lower this process's CPU priority by ``nice`` steps (:func:`os.nice`) before it runs jobs; returns its niceness.

    A process running analyses shares the cores with the API: at a lower priority it yields
    them whenever a request is waiting, so browsing stays fast while jobs run (a job alone still
    gets all the idle CPU). Called once, when a job process starts (``tsunagu worker``, the
    child job processes of ``tsunagu serve``); the niceness stops at 19.

    Parameters
    ----------
    nice
        Steps to add (``Settings.job_nice``, ``TSUNAGU_JOB_NICE``); 0 leaves the priority as it is.
    """
    steps = max(0, int(nice))
    if steps == 0:
        return os.nice(0)
    try:
        return os.nice(steps)
    except OSError as exc:  # pragma: no cover - not allowed here: jobs run at the API's priority
        log.warning("cannot lower the priority of job process %s by %s: %s", os.getpid(), steps, exc)
        return os.nice(0)


def default_worker_id() -> str:
    """``host:pid:random`` - unique per worker, readable in the job record."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """Claims and runs the jobs of one store.

    Parameters
    ----------
    store
        The workspace whose jobs this worker runs.
    worker_id
        Name written to the jobs it claims (default: host, process id and a random suffix).
    lease_s
        Seconds a claimed job stays held without a heartbeat; after that another worker may
        re-queue it.
    heartbeat_s
        Seconds between heartbeats (default: a sixth of the lease, at most 5 s).
    max_attempts
        Attempts (claims) after which a job whose lease keeps running out is failed.
    data_dir
        The open-data folder analyses read (None lets them look for it).
    stop
        Set to stop the worker: the loop ends, and a running job is given back to the queue at
        its next progress report.
    """

    def __init__(self, store: Store, *, worker_id: str | None = None, lease_s: float = DEFAULT_LEASE_S,
                 heartbeat_s: float | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 data_dir: Path | None = None, stop: threading.Event | None = None) -> None:
        if not lease_s > 0:
            msg = f"貸出時間（lease_s）は正の数にしてください（{lease_s!r} でした）"
            en = f"lease_s must be positive, got {lease_s!r}"
            raise InputDataError(msg, en=en)
        if max_attempts < 1:
            msg = f"試行回数（max_attempts）は1以上にしてください（{max_attempts!r} でした）"
            en = f"max_attempts must be at least 1, got {max_attempts!r}"
            raise InputDataError(msg, en=en)
        self.store = store
        self.worker_id = worker_id or default_worker_id()
        self.lease_s = float(lease_s)
        self.heartbeat_s = float(heartbeat_s) if heartbeat_s else min(5.0, self.lease_s / 6)
        if not 0 < self.heartbeat_s < self.lease_s:
            msg = f"生存通知の間隔（heartbeat_s = {self.heartbeat_s:g}）は正の数で、貸出時間（lease_s = {self.lease_s:g}）より短くしてください"
            en = f"heartbeat_s ({self.heartbeat_s:g}) must be positive and shorter than lease_s ({self.lease_s:g})"
            raise InputDataError(msg, en=en)
        self.max_attempts = int(max_attempts)
        self.data_dir = data_dir
        self.stop_event = stop or threading.Event()
        self._lease: _Lease | None = None
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ the loop

    def run_once(self) -> dict | None:
        """Re-queue dead workers' jobs, then claim and run one job; returns its final record (None: no job)."""
        if self.stop_event.is_set():
            return None
        for record in self.store.reap_expired_jobs(max_attempts=self.max_attempts):
            log.warning("job %s of a worker that stopped answering is now %s (attempt %s)",
                        record["job_id"], record["status"], record["attempts"])
        record = self.claim()
        return None if record is None else self.run(record)

    def run_forever(self, *, poll_s: float = 1.0, wake: threading.Event | None = None) -> None:
        """Run jobs until :attr:`stop_event` is set; look for work every ``poll_s`` seconds (or when ``wake`` is set).

        See :func:`run_workspaces` (this is it with one workspace).
        """
        run_workspaces(lambda: [self.store], lambda store: self, stop=self.stop_event, poll_s=poll_s, wake=wake)

    def claim(self, *, job_id: str | None = None) -> dict | None:
        """Claim the oldest queued job of an analysis this process knows (or job ``job_id``, whatever its analysis)."""
        from api.analysis_registry import load_analyses

        analyses = None if job_id is not None else sorted(load_analyses())
        return self.store.claim_job(worker_id=self.worker_id, lease_s=self.lease_s, analyses=analyses, job_id=job_id)

    # ------------------------------------------------------------------ one job

    def current(self) -> tuple[str, float, str] | None:
        """``(job_id, fraction, message)`` of the job running here now, or None."""
        lease = self._lease
        return None if lease is None else (lease.job_id, *lease.latest)

    def request_cancel(self, job_id: str) -> bool:
        """Tell the job running here (if it is ``job_id``) that cancel was asked; True when it runs here."""
        lease = self._lease
        if lease is not None and lease.job_id == job_id:
            lease.cancel_requested = True
            return True
        return False

    def run(self, record: dict, *, spec=None, progress_cb: ProgressCallback | None = None) -> dict:
        """Run a job this worker claimed to its end and return the final record.

        Errors of the analysis (bad or missing data, :class:`TsunaguError`) end the job
        ``failed`` with their message, and so does any other exception (as 内部エラー); nothing
        is raised for them. ``spec`` is the analysis to run (default: looked up by name).
        """
        from api.analysis_registry import get_spec, validate_params

        job_id, attempt = record["job_id"], int(record["attempts"])
        lease = _Lease(self, job_id, attempt, progress_cb)
        with self._lock:
            self._lease = lease
        log.info("worker %s runs job %s (%s, attempt %s)", self.worker_id, job_id, record["analysis"], attempt)
        if progress_cb is not None:
            progress_cb(0.0, "開始")
        lease.start()
        try:
            try:
                from api.scenarios import job_params, view_for

                spec = get_spec(spec or record["analysis"])
                own, scenario = job_params(self.store, spec, record["params"])
                params = validate_params(spec, own)
                result = spec.run(view_for(self.store, scenario), params, progress=lease.progress,
                                  data_dir=self.data_dir)
                if not hasattr(result, "tables"):
                    msg = f"analysis {spec.name} returned {type(result).__name__}, not an AnalysisResult"
                    raise TypeError(msg)
                lease.check()
                lease.write(1.0, "結果を保存中")
                lease.stop()
                final = self.store.finish_job(job_id, result, worker_id=self.worker_id, attempt=attempt)
            except JobInterrupted as stop:
                lease.stop()
                final = self._interrupted(job_id, attempt, stop.reason)
            except JobLeaseLost as exc:
                log.warning("worker %s lost job %s: %s", self.worker_id, job_id, exc)
                final = self.store.get_job(job_id)
            except (TsunaguError, StoreError) as exc:
                final = self._fail(job_id, attempt, str(exc))
            except Exception as exc:  # noqa: BLE001 - any bug in an analysis ends its job, not the worker
                log.exception("analysis %s (job %s) failed", record["analysis"], job_id)
                final = self._fail(job_id, attempt, f"内部エラー（{type(exc).__name__}）: {exc}")
        finally:
            lease.stop()
            with self._lock:
                self._lease = None
        if progress_cb is not None and final is not None and final["status"] == "done":
            progress_cb(1.0, "完了")
        log.info("job %s ended %s", job_id, None if final is None else final["status"])
        return final

    def _interrupted(self, job_id: str, attempt: int, reason: str) -> dict | None:
        owner = {"worker_id": self.worker_id, "attempt": attempt}
        try:
            if reason == "cancelled":
                return self.store.cancel_job(job_id, **owner)
            if reason == "stopping":
                return self.store.release_job(job_id, **owner)
        except JobLeaseLost as exc:
            log.warning("worker %s lost job %s: %s", self.worker_id, job_id, exc)
        return self.store.get_job(job_id)

    def _fail(self, job_id: str, attempt: int, error: str) -> dict | None:
        try:
            return self.store.fail_job(job_id, error, worker_id=self.worker_id, attempt=attempt)
        except JobStateError as exc:  # the lease ran out meanwhile: the job is someone else's
            log.warning("worker %s cannot record the failure of job %s: %s", self.worker_id, job_id, exc)
            return self.store.get_job(job_id)


def run_workspaces(stores: Callable[[], Iterable[Store]], make_worker: Callable[[Store], Worker], *,
                   stop: threading.Event, poll_s: float = 1.0, wake: threading.Event | None = None) -> None:
    """The claim loop over the workspaces of a server: one job at a time, each workspace in turn.

    ``stores()`` is asked for the workspaces every round (so new ones are picked up) and
    ``make_worker(store)`` makes this loop's worker for a workspace the first time it is seen.
    When no workspace had work, the loop waits ``poll_s`` seconds (or until ``wake`` is set).
    A workspace that cannot be used (database restarting, file locked or gone) is skipped and
    retried after a growing pause (up to 30 s); the loop never exits for it. A job it was
    running then keeps its lease until that runs out, and is re-queued.
    """
    workers: dict[int, Worker] = {}
    retry_at: dict[int, tuple[float, float]] = {}  # id(store) -> (monotonic time, pause)
    while not stop.is_set():
        ran = False
        try:
            current = list(stores())
        except Exception:  # noqa: BLE001 - listing the workspaces failed: same as a failing store
            log.exception("cannot list the workspaces; trying again in %.0f s", poll_s)
            current = []
        for store in current:
            if stop.is_set():
                break
            key = id(store)
            if retry_at.get(key, (0.0, 0.0))[0] > time.monotonic():
                continue
            worker = workers.get(key)
            if worker is None:
                worker = workers[key] = make_worker(store)
            try:
                ran = worker.run_once() is not None or ran
            except Exception as exc:  # noqa: BLE001 - database down, file locked: wait and try again
                pause = min(30.0, max(retry_at.get(key, (0.0, poll_s))[1], 0.5) * 2)
                retry_at[key] = (time.monotonic() + pause, pause)
                if isinstance(exc, StoreError):
                    log.warning("worker %s cannot use %s (%s); trying again in %.0f s",
                                worker.worker_id, store.location, exc, pause)
                else:
                    log.exception("worker %s: unexpected error on %s; trying again in %.0f s",
                                  worker.worker_id, store.location, pause)
            else:
                retry_at.pop(key, None)
        if ran or stop.is_set():
            continue
        if wake is None:
            stop.wait(poll_s)
        else:
            wake.wait(poll_s)
            wake.clear()


class _Lease:
    """The hold of one worker on one running job: heartbeat thread, progress writes, stop flags."""

    def __init__(self, worker: Worker, job_id: str, attempt: int, progress_cb: ProgressCallback | None) -> None:
        self.worker = worker
        self.job_id = job_id
        self.attempt = attempt
        self.progress_cb = progress_cb
        self.latest: tuple[float, str] = (0.0, "開始")
        self.cancel_requested = False
        self.lost = False
        self._written = time.monotonic()  # the claim itself wrote progress and the lease
        self._write_lock = threading.Lock()
        self._done = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name=f"tsunagu-heartbeat-{self.job_id[:8]}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._done.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _beat(self) -> None:
        store, worker = self.worker.store, self.worker
        while not self._done.wait(worker.heartbeat_s / 2):
            if time.monotonic() - self._written >= worker.heartbeat_s * 0.9:
                self.write(*self.latest, store=store)

    def write(self, fraction: float | None, message: str | None, *, store: Store | None = None) -> None:
        """Renew the lease and record progress; learns of a cancel request or a lost lease (never raises)."""
        worker = self.worker
        with self._write_lock:
            if self.lost:
                return
            try:
                asked = (store or worker.store).heartbeat_job(
                    self.job_id, worker_id=worker.worker_id, attempt=self.attempt, lease_s=worker.lease_s,
                    progress=fraction, message=message)
            except JobLeaseLost as exc:
                log.warning("worker %s lost job %s: %s", worker.worker_id, self.job_id, exc)
                self.lost = True
                return
            except Exception as exc:  # noqa: BLE001 - a blip of the store: the lease is renewed at the next beat
                log.warning("cannot record progress of job %s: %s", self.job_id, exc)
                return
            finally:
                self._written = time.monotonic()
            self.cancel_requested = self.cancel_requested or asked

    def check(self) -> None:
        """Raise :class:`JobInterrupted` when the job must stop here."""
        if self.lost:
            raise JobInterrupted("lost")
        if self.cancel_requested:
            raise JobInterrupted("cancelled")
        if self.worker.stop_event.is_set():
            raise JobInterrupted("stopping")

    def progress(self, fraction: float, message: str = "") -> None:
        """The callback analyses report to: remembers, writes now and then, and stops the job when asked."""
        try:
            value = min(1.0, max(0.0, float(fraction)))
        except (TypeError, ValueError):
            return
        if value != value:  # NaN
            return
        self.latest = (value, str(message))
        if self.progress_cb is not None:
            self.progress_cb(value, str(message))
        self.check()
        if time.monotonic() - self._written >= self.worker.store.job_progress_interval:
            self.write(value, str(message))
            self.check()
