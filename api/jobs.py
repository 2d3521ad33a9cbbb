"""Analysis jobs: validate parameters, queue an analysis as a stored, versioned job, and write its outputs.

A job is one run of a registered analysis (:data:`api.analyses.base.REGISTRY`) on one workspace:
``queued → running → done | failed | cancelled``. Its record keeps who ran it, when, with which
parameters and on which data (:func:`data_version`); a finished result never changes, and
running the analysis again makes a new job. The store's job table is the queue: a worker
(:mod:`api.worker`) claims, runs and ends jobs - in its own process (``tsunagu worker``), in
child processes of ``tsunagu serve`` (:class:`JobRunner`, ``job_runner = "process"``, the
GeoPackage default, :mod:`api.job_process`), in background threads of the API
(``job_runner = "thread"``) or in the calling thread (:func:`run_job`, the CLI).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd
from pydantic import BaseModel

from api.analysis_registry import (  # noqa: F401 - the registry is part of the jobs API
    ANALYSIS_MODULES,
    describe_analyses,
    get_spec,
    load_analyses,
    parse_param_pairs,
    validate_params,
)
from api.store.base import Store, StoreError
from gis.errors import InputDataError, TsunaguError
from api.worker import DEFAULT_LEASE_S, DEFAULT_MAX_ATTEMPTS, Worker, default_worker_id, run_workspaces

log = logging.getLogger("tsunagu.jobs")

class JobTimeout(TsunaguError, TimeoutError):
    """A job still open when :func:`wait_for_job`'s ``timeout`` ran out."""


#: Status → Japanese label.
STATUS_LABELS = {"queued": "待機中", "running": "実行中", "done": "完了", "failed": "失敗", "cancelled": "取消"}
#: Label of a running job whose cancel was asked (it stops at its next progress report).
CANCELLING_LABEL = "取消中"
#: Statuses of a job that has not ended.
OPEN_STATUSES = ("queued", "running")

ProgressCallback = Callable[[float, str], None]


# ---------------------------------------------------------------------- data version


def data_version(store: Store) -> str:
    """A fingerprint of the workspace inputs: ``<city code>-<12 hex>``.

    Hashes the import log, the areas (ids, levels, populations), the stations and the resources
    (ids, kinds, positions to ~1 m), so any re-import or edit of a layer gives a new version.
    """
    ws = store.workspace()
    digest = hashlib.sha256()
    digest.update(json.dumps(store.import_log(), ensure_ascii=False, sort_keys=True, default=str).encode())
    areas = pd.DataFrame(store.areas()).drop(columns="geometry")
    digest.update(pd.util.hash_pandas_object(areas.astype(str), index=False).values.tobytes())
    for frame, id_col in ((store.stations(), "station_id"), (store.resources(), "resource_id")):
        if len(frame):
            xy = frame.geometry.get_coordinates().round(5).astype(str)
            keys = frame[id_col].astype(str) + "|" + frame["kind"].astype(str) + "|" + xy["x"] + "," + xy["y"]
            digest.update("\n".join(sorted(keys)).encode())
        digest.update(b"#")
    return f"{ws['city_code']}-{digest.hexdigest()[:12]}"


def job_city(record: dict, workspace: dict | None = None) -> dict:
    """The city a job ran on, from its data version (``<city code>-<hash>``): ``{"city_code", "city_name"}``.

    The name comes from ``workspace`` when its code matches (a job of another city, left from a
    workspace rebuilt with ``--replace``, shows its code).
    """
    code = str(record.get("data_version") or "").partition("-")[0] or None
    name = None
    if code and workspace and str(workspace.get("city_code")) == code:
        name = workspace.get("city_name")
    return {"city_code": code, "city_name": name or code}


def job_words(record: dict) -> dict:
    """``{"headline", "figures"}`` of a done job: its summary in Japanese (:mod:`api.analyses._words`)."""
    from api.analyses._words import describe

    spec = load_analyses().get(record.get("analysis"))
    return describe(record.get("analysis"), record.get("summary"), label=None if spec is None else spec.label,
                    notes=record.get("notes"))


def who() -> str:
    """The user running the CLI (job ``created_by``): ``--as``, ``TSUNAGU_USER`` or the (mapped) OS user."""
    from api.acting import acting_user

    return acting_user()


# ---------------------------------------------------------------------- running


def create_job(store: Store, name, params: dict | None, *, created_by: str,
               version: str | None = None) -> tuple[dict, object, BaseModel]:
    """Validate and record a queued job; returns ``(record, spec, validated params)``.

    The stored params are the validated model with every default filled in, so a result
    always says exactly what it was computed with; ``params["scenario"]`` (a saved scenario's
    name) runs the analysis on that scenario and stores the scenario itself with the job
    (:mod:`api.scenarios`). ``version`` is the workspace's data version
    when the caller already knows it exactly (default: :func:`data_version`).
    """
    from api.scenarios import PARAM, job_params

    spec = get_spec(name)
    own, scenario = job_params(store, spec, params)
    model = validate_params(spec, own)
    version = version or data_version(store)
    stored = model.model_dump(mode="json")
    if scenario is not None:
        stored[PARAM] = scenario  # the whole scenario: the job says what it ran on, whatever happens to it later
    record = store.create_job(analysis=spec.name, params=stored, created_by=created_by, data_version=version)
    return record, spec, model


def wait_for_job(store: Store, job_id: str, *, timeout: float | None = None, poll_s: float = 0.2) -> dict:
    """Block until the job has ended and return its record (TimeoutError after ``timeout`` seconds)."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record = store.get_job(job_id)
        if record is None:
            msg = f"このワークスペースにジョブ {job_id} はありません"
            raise StoreError(msg, en=f"no job {job_id} in this workspace")
        if record["status"] not in OPEN_STATUSES:
            return record
        if deadline is not None and time.monotonic() > deadline:
            msg = f"ジョブ {job_id} は {timeout:g} 秒たっても {record['status']} のままです"
            en = f"job {job_id} is still {record['status']} after {timeout:g} s"
            raise JobTimeout(msg, en=en)
        time.sleep(poll_s)


def run_job(
    store: Store,
    name,
    params: dict | None,
    *,
    data_dir: Path | None,
    created_by: str,
    progress_cb: ProgressCallback | None = None,
    lease_s: float | None = None,
) -> str:
    """Run analysis ``name`` as a stored job in this thread and return its job id.

    The job is queued and at once claimed by this thread, under a lease like any worker's
    (if this process dies, a worker re-queues it). Should another worker claim it first,
    this waits for that worker to end it. Bad parameters or an unknown analysis raise
    :class:`InputDataError` (no job is made); a failure of the analysis itself ends the job
    ``failed`` (see :meth:`api.worker.Worker.run`).
    """
    if lease_s is None:
        from api.settings import Settings

        lease_s = Settings().job_lease_s
    record, spec, _ = create_job(store, name, params, created_by=created_by)
    worker = Worker(store, lease_s=lease_s, data_dir=data_dir)
    claimed = worker.claim(job_id=record["job_id"])
    if claimed is None:
        wait_for_job(store, record["job_id"])
        return record["job_id"]
    try:
        worker.run(claimed, spec=spec, progress_cb=progress_cb)
    except KeyboardInterrupt:  # Ctrl-C: the user stopped it, no worker should run it again later
        try:
            store.cancel_job(record["job_id"], worker_id=worker.worker_id, attempt=claimed["attempts"])
        except StoreError as exc:
            log.warning("cannot record the cancellation of job %s: %s", record["job_id"], exc)
        raise
    return record["job_id"]


class JobRunner:
    """Starts jobs for the API: queues them, and in ``"process"`` or ``"thread"`` mode also runs them.

    ``mode="worker"`` only queues (``tsunagu worker`` processes run the jobs: PostGIS).
    ``mode="process"`` (the GeoPackage default) starts ``max_workers`` child processes with the
    first workspace (:class:`api.job_process.WorkerProcesses`); each runs the claim loop of
    ``tsunagu worker`` over the GeoPackage workspaces of the server's folder, so no analysis
    runs in the API process, and a child that dies is restarted.
    ``mode="thread"`` runs ``max_workers`` claim loops (:func:`api.worker.run_workspaces`) in
    threads of this process over every workspace the service has opened (embedding, tests).
    Either way the job's row is the truth: status, progress and cancel go through the store, and
    a job survives the process (queued jobs wait, a running job whose process died is re-queued
    when its lease runs out).
    """

    def __init__(self, *, max_workers: int = 2, mode: str = "thread", lease_s: float = DEFAULT_LEASE_S,
                 heartbeat_s: float | None = None, max_attempts: int = DEFAULT_MAX_ATTEMPTS,
                 poll_s: float = 1.0, settings=None) -> None:
        if mode not in ("process", "thread", "worker"):
            msg = f"ジョブの実行方式は process・thread・worker のどれかにしてください（{mode!r} でした）"
            en = f"job runner mode must be 'process', 'thread' or 'worker', got {mode!r}"
            raise InputDataError(msg, en=en)
        if mode == "process" and settings is None:
            msg = "ジョブの実行方式 process にはサーバーの設定が要ります（子プロセスがワークスペースを開くため）"
            en = "job runner mode 'process' needs the server's settings (the child processes open the workspaces)"
            raise InputDataError(msg, en=en)
        self.mode = mode
        self.max_workers = max(1, int(max_workers))
        self.lease_s = lease_s
        self.heartbeat_s = heartbeat_s
        self.max_attempts = max_attempts
        self.poll_s = poll_s
        self.settings = settings
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._stores: list[Store] = []
        self._data_dirs: dict[int, Path | None] = {}
        self._workers: list[Worker] = []
        self._threads: list[threading.Thread] = []
        self._processes = None  # api.job_process.WorkerProcesses, in process mode

    @classmethod
    def from_settings(cls, settings) -> "JobRunner":
        """The runner ``settings`` ask for (``job_runner``, ``job_processes`` / ``job_threads``, lease, attempts, poll)."""
        if settings.job_runner == "process":
            from api.job_process import default_processes

            count = settings.job_processes or default_processes()
        else:
            count = settings.job_threads
        return cls(mode=settings.job_runner, max_workers=count, lease_s=settings.job_lease_s,
                   heartbeat_s=settings.job_heartbeat_s, max_attempts=settings.job_max_attempts,
                   poll_s=settings.job_poll_s, settings=settings)

    @property
    def runs_jobs(self) -> bool:
        """Whether this server runs jobs itself (process or thread mode)."""
        return self.mode in ("process", "thread")

    def submit(self, store: Store, name: str, params: dict | None, *, data_dir: Path | None,
               created_by: str, version: str | None = None) -> dict:
        """Validate and queue a job (and wake whoever runs it here); returns its record.

        ``version``: the workspace's data version, when the caller knows it exactly (see :func:`create_job`).
        """
        record, _, _ = create_job(store, name, params, created_by=created_by, version=version)
        if self.runs_jobs:
            self.start(store, data_dir=data_dir)
            if self._processes is not None:
                self._processes.wake()
            self._wake.set()
        return record

    def start(self, store: Store, *, data_dir: Path | None = None) -> None:
        """Run the jobs of ``store`` too: the child processes (or threads) start with the first workspace.

        In process mode the children find the workspaces themselves (every ``.gpkg`` of the
        folder of ``settings.workspace``); ``store`` only says that there is one.
        """
        if not self.runs_jobs:
            return
        with self._lock:
            if self._stop.is_set():
                return
            if self.mode == "process":
                if self._processes is None:
                    from api.job_process import WorkerProcesses

                    self._processes = WorkerProcesses(
                        self.settings, processes=self.max_workers, lease_s=self.lease_s,
                        heartbeat_s=self.heartbeat_s, max_attempts=self.max_attempts, poll_s=self.poll_s)
                    self._processes.start()
                return
            if all(known is not store for known in self._stores):
                self._stores.append(store)
                self._data_dirs[id(store)] = data_dir
            if self._threads:
                return
            base = default_worker_id()
            for i in range(self.max_workers):
                thread = threading.Thread(target=self._loop, args=(f"{base}:t{i + 1}",), name=f"tsunagu-job-{i + 1}",
                                          daemon=True)
                self._threads.append(thread)
            for thread in self._threads:
                thread.start()

    def pids(self) -> list[int]:
        """Process ids of the child processes running jobs now (process mode; empty otherwise)."""
        return [] if self._processes is None else self._processes.pids()

    def _stores_now(self) -> list[Store]:
        with self._lock:
            return list(self._stores)

    def _loop(self, worker_id: str) -> None:
        def make_worker(store: Store) -> Worker:
            worker = Worker(store, worker_id=worker_id, lease_s=self.lease_s, heartbeat_s=self.heartbeat_s,
                            max_attempts=self.max_attempts, data_dir=self._data_dirs.get(id(store)), stop=self._stop)
            with self._lock:
                self._workers.append(worker)
            return worker

        try:
            run_workspaces(self._stores_now, make_worker, stop=self._stop, poll_s=self.poll_s, wake=self._wake)
        except Exception:  # noqa: BLE001 - a dying loop is logged; its job's lease brings the job back
            log.exception("job thread %s stopped", worker_id)

    def live(self, job_id: str) -> tuple[float, str] | None:
        """In-memory (fraction, message) of a job running in this process, or None."""
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            current = worker.current()
            if current is not None and current[0] == job_id:
                return current[1], current[2]
        return None

    def status(self, store: Store, job_id: str) -> dict | None:
        """The job's record, with the latest progress of a job running in this process merged in (None when unknown)."""
        record = store.get_job(job_id)
        return None if record is None else self.merged(record)

    def merged(self, record: dict) -> dict:
        """``record`` with the in-memory progress of this process's threads, when newer than the row's."""
        live = self.live(record["job_id"])
        if live is not None and record["status"] == "running" and live[0] >= record["progress"]:
            record = {**record, "progress": live[0], "message": live[1]}
        return record

    def cancel(self, store: Store, job_id: str) -> dict:
        """Cancel a job: a queued one at once, a running one at its next progress report.

        A finished job raises :class:`~api.store.base.JobStateError`.
        """
        record = store.cancel_job(job_id)
        if record["status"] == "running":
            with self._lock:
                workers = list(self._workers)
            for worker in workers:  # running here: no need to wait for the next heartbeat
                worker.request_cancel(record["job_id"])
        return record

    def shutdown(self, store: Store | None = None, *, timeout: float = 30.0) -> None:
        """Stop the child processes or threads: queued jobs stay queued, a running job goes back to the queue.

        A running job is given back at its next progress report; waits up to ``timeout``
        seconds, then an analysis that did not report is left to its lease (a child process
        that has not stopped by then is killed).
        """
        with self._lock:
            self._stop.set()
            processes = self._processes
        self._wake.set()
        if processes is not None:
            processes.shutdown(timeout=timeout)
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            if thread is not threading.current_thread():
                thread.join(max(0.0, deadline - time.monotonic()))

    def wait(self, job_id: str, timeout: float | None = None, *, store: Store | None = None) -> dict | None:
        """Block until a job has ended (tests, CLI); returns its record (None when no workspace here has it)."""
        for candidate in [store] if store is not None else self._stores_now():
            if candidate.get_job(job_id) is not None:
                return wait_for_job(candidate, job_id, timeout=timeout)
        return None


# ---------------------------------------------------------------------- outputs


#: Fewest leading characters of a job ID that name a job (the CLI prints 8).
JOB_PREFIX_MIN = 4


def find_job(store: Store, ref: str) -> dict | None:
    """The job ``ref`` names: its whole ID, or its first characters as the CLI and pages print them.

    Returns None when no job matches; a prefix shorter than :data:`JOB_PREFIX_MIN` or shared by
    two jobs is an :class:`api.store.base.StoreError` saying which jobs it could be.
    """
    text = str(ref).strip().lower()
    record = store.get_job(text)
    if record is not None or len(text) >= 36:
        return record
    if len(text) < JOB_PREFIX_MIN:
        msg = f"ジョブIDは先頭の {JOB_PREFIX_MIN} 文字以上を書いてください（「{ref}」では短すぎます）"
        raise StoreError(msg,
                         en=f"write at least the first {JOB_PREFIX_MIN} characters of the job id ({ref!r} is too short)")
    matches = [r for r in store.list_jobs(limit=100_000) if r["job_id"].startswith(text)]
    if len(matches) > 1:
        shown = "、".join(r["job_id"][:12] for r in matches[:5])
        msg = f"「{ref}」で始まるジョブが {len(matches)} 件あります（{shown}）: もう少し長く書いてください"
        raise StoreError(msg,
                         en=f"{len(matches)} jobs start with {ref!r} ({', '.join(r['job_id'][:12] for r in matches[:5])}): write a little more")
    return matches[0] if matches else None


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The table with Japanese column labels (``attrs["labels"]``) applied, for CSV/Excel."""
    labels = table.attrs.get("labels") or {}
    out = table.rename(columns={k: v for k, v in labels.items() if k in table.columns})
    out.attrs = {}
    return out


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a byte-order mark, so Excel opens Japanese text correctly."""
    return labelled(table).to_csv(index=False).encode("utf-8-sig")


def xlsx_bytes(tables: dict[str, pd.DataFrame], *, notes: list[str] | None = None, words: dict | None = None) -> bytes:
    """One Excel workbook, one sheet per table (plus a 注記 sheet with the notes).

    ``words`` (:func:`job_words`) with figures puts a 概要 sheet first: the headline sentence in
    A1, then 項目 / 値 / 単位 of every figure.
    """
    buffer = io.BytesIO()
    used: set[str] = set()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
        if words and words.get("figures"):
            sheet = _sheet_name("概要", used)
            figures = words["figures"]
            pd.DataFrame({"項目": [f["label"] for f in figures], "値": [f["value"] for f in figures],
                          "単位": [f["unit"] for f in figures]}).to_excel(writer, sheet_name=sheet, index=False, startrow=2)
            writer.sheets[sheet]["A1"] = words["headline"]
        for name, table in tables.items():
            sheet = _sheet_name(name, used)
            frame = labelled(table)
            for col in frame.columns:  # Excel has no time zones
                if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                    frame[col] = frame[col].dt.tz_localize(None)
            frame.to_excel(writer, sheet_name=sheet, index=False)
        if notes:
            pd.DataFrame({"注記": notes}).to_excel(writer, sheet_name=_sheet_name("注記", used), index=False)
        if not used:
            pd.DataFrame({"注記": ["結果表はありません"]}).to_excel(writer, sheet_name="注記", index=False)
    return buffer.getvalue()


def _sheet_name(name: str, used: set[str]) -> str:
    base = "".join("_" if c in "[]:*?/\\" else c for c in str(name))[:31] or "sheet"
    sheet, i = base, 2
    while sheet.lower() in {u.lower() for u in used}:
        suffix = f"_{i}"
        sheet, i = base[: 31 - len(suffix)] + suffix, i + 1
    used.add(sheet)
    return sheet


def job_tables(store: Store, record: dict) -> dict[str, pd.DataFrame]:
    """All result tables of a done job, in their order."""
    return {name: store.job_table(record["job_id"], name) for name in record["tables"]}


def write_job_outputs(store: Store, record: dict, out_dir: Path) -> dict[str, Path]:
    """Write a done job's tables (one CSV each + one Excel file), map and record to ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tables = job_tables(store, record)
    written: dict[str, Path] = {}
    for name, table in tables.items():
        path = out_dir / f"{name}.csv"
        path.write_bytes(csv_bytes(table))
        written[name] = path
    xlsx = out_dir / f"{record['analysis']}.xlsx"
    xlsx.write_bytes(xlsx_bytes(tables, notes=record["notes"], words=job_words(record)))
    written["xlsx"] = xlsx
    html = store.job_map(record["job_id"])
    if html is not None:
        path = out_dir / "map.html"
        path.write_text(html, encoding="utf-8")
        written["map"] = path
    path = out_dir / "job.json"
    path.write_text(json.dumps(record, ensure_ascii=False, indent=2, default=str), encoding="utf-8")
    written["job"] = path
    return written
