"""Child worker processes of ``tsunagu serve``: the embedded server runs its jobs outside the API process.

With a GeoPackage workspace, ``tsunagu serve`` alone runs the analysis jobs: it starts
``processes`` child processes (``multiprocessing`` with the *spawn* start method, so a child
shares no threads, locks or GDAL handles with the server) and each runs the claim loop of
``tsunagu worker`` (:func:`api.worker.run_workspaces`: lease, heartbeat, re-queue of dead
workers' jobs) over every ``.gpkg`` workspace of the server's folder. The API process only
queues jobs and reads their rows, so maps stay fast while analyses run.

A supervisor thread in the server restarts a child that died (killed, out of memory): the job
it was running keeps its lease until that runs out, then the restarted child re-queues and
runs it (:meth:`api.store.base.Store.reap_expired_jobs`). Shutting the server down stops the
children: a running job is given back to the queue at its next progress report, and a child
that does not stop within the timeout is killed (its job comes back by its lease). A child
whose server has gone (killed with ``kill -9``) stops by itself.

The server talks to each child over a pipe of its own (``wake``: a job was queued; ``stop``),
never through ``multiprocessing.Event``: an Event's lock and sleeper counts live in shared
memory, so a child killed while it held the lock or slept in ``wait`` left the server blocked
for good at its next ``set`` (seen as a hung test after ``kill -9`` of a child). A dead child's
pipe only refuses the message, and a child reads the end of its pipe as "the server is gone".
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

log = logging.getLogger("tsunagu.jobs")

#: Seconds between the supervisor's looks at its children.
_SUPERVISE_S = 0.5
#: A child that dies sooner than this after its start is restarted after a growing pause.
_QUICK_DEATH_S = 10.0
#: What the server sends a child over its pipe.
_WAKE, _STOP = b"wake", b"stop"


def default_processes() -> int:
    """Jobs the embedded server runs at once: ``max(1, cores - 1)`` (one core stays with the API)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        cores = os.cpu_count() or 1
    return max(1, cores - 1)


class WorkerProcesses:
    """Child processes running the jobs of the server's GeoPackage workspaces.

    Parameters
    ----------
    settings
        The server's :class:`~api.settings.Settings` (the child opens the workspaces from them).
    processes
        Children, so jobs run at once (default :func:`default_processes`).
    lease_s, heartbeat_s, max_attempts, poll_s
        As for :class:`api.worker.Worker` and :func:`api.worker.run_workspaces`.
    nice
        Steps the children lower their CPU priority by (:func:`api.worker.lower_priority`;
        default ``settings.job_nice``).
    """

    def __init__(self, settings, *, processes: int | None = None, lease_s: float = 30.0,
                 heartbeat_s: float | None = None, max_attempts: int = 3, poll_s: float = 1.0,
                 nice: int | None = None) -> None:
        self.settings = settings
        self.processes = max(1, int(processes or default_processes()))
        self.options = {"lease_s": float(lease_s), "heartbeat_s": heartbeat_s, "max_attempts": int(max_attempts),
                        "poll_s": float(poll_s),
                        "nice": int(settings.job_nice if nice is None else nice)}
        self._ctx = multiprocessing.get_context("spawn")
        self._children: list = [None] * self.processes
        self._channels: list = [None] * self.processes  # the server's sending end of each child's pipe
        self._started_at = [0.0] * self.processes
        self._pause = [0.0] * self.processes
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._supervisor: threading.Thread | None = None

    def start(self) -> None:
        """Start the children and their supervisor (once; later calls do nothing)."""
        with self._lock:
            if self._supervisor is not None or self._closing.is_set():
                return
            for slot in range(self.processes):
                self._spawn(slot)
            self._supervisor = threading.Thread(target=self._supervise, name="tsunagu-job-supervisor", daemon=True)
            self._supervisor.start()
        # before multiprocessing's own exit hook, which would wait for children that do not stop by themselves
        atexit.register(self.shutdown, timeout=10.0)

    def wake(self) -> None:
        """Tell the children a job was queued (they look at once instead of at their next poll)."""
        self._tell(_WAKE)

    def pids(self) -> list[int]:
        """Process ids of the children alive now."""
        with self._lock:
            return [child.pid for child in self._children if child is not None and child.is_alive()]

    def shutdown(self, *, timeout: float = 30.0) -> None:
        """Stop the children: running jobs go back to the queue at their next report; stragglers are killed."""
        with self._lock:
            if self._closing.is_set():
                return
            self._closing.set()
        atexit.unregister(self.shutdown)
        self._tell(_STOP)
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout=5)
        deadline = time.monotonic() + timeout
        with self._lock:
            children = [child for child in self._children if child is not None]
        for child in children:
            child.join(max(0.0, deadline - time.monotonic()))
        for child in children:
            if child.is_alive():
                log.warning("job process %s did not stop within %.0f s; its job comes back by its lease",
                            child.pid, timeout)
                child.kill()
                child.join(5)
        for child in children:
            with contextlib.suppress(ValueError):  # already closed
                child.close()
        with self._lock:
            self._children = [None] * self.processes  # closed: pids() is empty from now on
            for slot, channel in enumerate(self._channels):
                if channel is not None:
                    channel.close()
                    self._channels[slot] = None

    # ------------------------------------------------------------------ private

    def _tell(self, message: bytes) -> None:
        """Send ``message`` to every child; a dead child's pipe, or a full one, is passed over."""
        with self._lock:
            channels = [channel for channel in self._channels if channel is not None]
        for channel in channels:
            # BrokenPipeError: the child died (the supervisor restarts it); BlockingIOError: the pipe
            # is full of unread messages, so one like this is waiting already; OSError: closed meanwhile
            with contextlib.suppress(OSError):
                channel.send_bytes(message)

    def _spawn(self, slot: int) -> None:
        receiving, sending = self._ctx.Pipe(duplex=False)
        os.set_blocking(sending.fileno(), False)  # wake() must never hold up a request
        child = self._ctx.Process(target=_child_main, name=f"tsunagu-job-{slot + 1}",
                                  args=(self.settings, self.options, receiving, os.getpid()))
        try:
            child.start()
        except BaseException:
            receiving.close()
            sending.close()
            raise
        receiving.close()  # the child has its own copy: once it dies, sending to it fails instead of filling up
        if self._channels[slot] is not None:
            self._channels[slot].close()
        self._channels[slot] = sending
        self._children[slot] = child
        self._started_at[slot] = time.monotonic()
        log.info("job process %s started (slot %d of %d)", child.pid, slot + 1, self.processes)

    def _supervise(self) -> None:
        restart_at: dict[int, float] = {}
        while not self._closing.wait(_SUPERVISE_S):
            with self._lock:
                if self._closing.is_set():
                    return
                for slot, child in enumerate(self._children):
                    if child is None or child.is_alive():
                        continue
                    if slot not in restart_at:
                        lived = time.monotonic() - self._started_at[slot]
                        quick = lived < _QUICK_DEATH_S
                        self._pause[slot] = min(30.0, max(1.0, self._pause[slot] * 2)) if quick else 0.0
                        restart_at[slot] = time.monotonic() + self._pause[slot]
                        log.warning("job process %s ended (exit code %s) after %.0f s; restarting it in %.0f s",
                                    child.pid, child.exitcode, lived, self._pause[slot])
                    if time.monotonic() >= restart_at[slot]:
                        del restart_at[slot]
                        with contextlib.suppress(ValueError):
                            child.close()
                        try:
                            self._spawn(slot)
                        except Exception:  # noqa: BLE001 - try again at the next look
                            log.exception("cannot restart job process %d", slot + 1)
                            self._children[slot] = child


class _FolderWorkspaces:
    """The GeoPackage workspaces of the server's folder, looked for again every ``every_s`` seconds."""

    def __init__(self, settings, *, every_s: float = 2.0) -> None:
        self.settings = settings
        self.every_s = every_s
        self.opened: dict[Path, object] = {}
        self._refused: dict[Path, float] = {}  # path -> mtime when it could not be opened
        self._listed = -float("inf")

    def __call__(self) -> list:
        from api.store.base import StoreError
        from api.store.connect import open_store
        from api.workspaces import list_gpkg_paths

        if time.monotonic() - self._listed >= self.every_s:
            self._listed = time.monotonic()
            for path in list_gpkg_paths(self.settings):
                if path in self.opened:
                    continue
                with contextlib.suppress(OSError):
                    mtime = path.stat().st_mtime
                    if self._refused.get(path) == mtime:
                        continue
                    try:
                        self.opened[path] = open_store(str(path), create=False)
                    except StoreError as exc:  # not (yet) a workspace: looked at again when it changes
                        log.info("job process skips %s: %s", path, exc)
                        self._refused[path] = mtime
        return [store for path, store in self.opened.items() if path.exists()]

    def close(self) -> None:
        for store in self.opened.values():
            with contextlib.suppress(Exception):
                store.close()


def _child_main(settings, options: dict, channel, parent_pid: int) -> None:
    """A job process: run the claim loop over the folder's workspaces until told to stop or the server is gone."""
    stop, wake = threading.Event(), threading.Event()  # this process's own: nothing shared with the server
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C on the server reaches its children too: the server stops us
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("tsunagu").setLevel(logging.INFO)

    from api.analysis_registry import load_analyses
    from api.importing import find_data_dir
    from api.worker import Worker, default_worker_id, lower_priority, run_workspaces
    from gis.errors import DataNotFoundError

    lower_priority(options.get("nice", 0))  # the API process keeps the CPU whenever a request waits
    load_analyses(settings.analysis_module_names())
    threading.Thread(target=_listen_to_server, args=(channel, parent_pid, stop, wake, options["lease_s"]),
                     daemon=True, name="tsunagu-server-listener").start()
    worker_id = default_worker_id()
    try:
        data_dir = find_data_dir(settings.data_dir)
    except DataNotFoundError:  # analyses that need the open data then say so
        data_dir = None
    lease_s, heartbeat_s = options["lease_s"], options["heartbeat_s"]

    def make_worker(store) -> Worker:
        return Worker(store, worker_id=worker_id, lease_s=lease_s,
                      heartbeat_s=heartbeat_s if heartbeat_s and heartbeat_s < lease_s else None,
                      max_attempts=options["max_attempts"], data_dir=data_dir, stop=stop)

    stores = _FolderWorkspaces(settings)
    log.info("job process %s runs the jobs of %s", os.getpid(), Path(settings.workspace).expanduser().resolve().parent)
    try:
        run_workspaces(stores, make_worker, stop=stop, poll_s=options["poll_s"], wake=wake)
    finally:
        stores.close()


def _listen_to_server(channel, parent_pid: int, stop: threading.Event, wake: threading.Event,
                      grace_s: float) -> None:
    """Turn the server's messages into this child's events; when the server is gone, stop (exit if the job lingers).

    The server is gone when its end of the pipe closes, or when this process was handed to
    another parent (a process the server forked may hold the pipe open after the server died).
    """
    while not stop.is_set():
        try:
            if not channel.poll(1.0):
                if os.getppid() != parent_pid:
                    break
                continue
            message = channel.recv_bytes()
        except (EOFError, OSError):
            break
        if message == _STOP:
            stop.set()
            wake.set()
            return
        wake.set()
    if stop.is_set():  # SIGTERM: the claim loop ends by itself
        return
    log.warning("the server (pid %s) is gone: job process %s stops", parent_pid, os.getpid())
    stop.set()
    wake.set()
    time.sleep(grace_s)
    os._exit(0)
