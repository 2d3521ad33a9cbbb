"""Scale-out: run one analysis for every municipality in the data folder, fanned out on Dask.

Each municipality is one Dask task: build its workspace (a GeoPackage of its own under the
output folder), run the analysis there as a stored job, write its outputs, and hand back its
main table. The tasks run on a :class:`distributed.LocalCluster` (one process per worker, one
thread each) or on a real cluster given by its scheduler address; then data folder and output
folder must be paths every worker sees (a shared file system).

Every municipality ends as a row of the combined table and of the run table: its result; or
「結果なし（理由あり）」 with the reason when its data cannot answer the analysis (no candidate
site for new salons, say); or 失敗 with the error — never the end of the run. Parameters an
analysis can fit to a city (:data:`FIT_TO_CITY`, e.g. k larger than a town's candidate sites) are
fitted, with a note. The longest municipalities are started first: by their seconds in the last
run of the analysis, else by land area and small areas (:func:`expected_work`).

Fixed costs are kept short, the same for any number of workers: the prefecture-wide open data
comes from its parsed copies on disk when they are of the files as they are now
(:mod:`api.opendata_cache`, else it is parsed once and the copies written); then the LocalCluster's
workers are forked from this process (on Linux, :data:`START_METHOD`), so they start with its
imports and its parsed open data (no new interpreter importing GeoPandas and the analyses, about a
second per worker, and no hand-over). Workers of a cluster given by its scheduler address, or
spawned, take the parse from a file in the output folder (:data:`PARSED_FILE`, removed at the end). The cluster shuts down while the combined
table is written. :attr:`FanoutResult.timeline` and ``tasks`` say where the time went.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from api.jobs import STATUS_LABELS, csv_bytes, get_spec, labelled, validate_params, who, write_job_outputs, xlsx_bytes

log = logging.getLogger("tsunagu.fanout")

#: Columns put in front of every municipality's rows in the combined table.
CODE_COLUMN, NAME_COLUMN, STATUS_COLUMN, ERROR_COLUMN = "市区町村コード", "市区町村名", "状態", "エラー"
#: A municipality whose data cannot answer the analysis (no candidate sites, say): a stated reason, not a failure.
NO_RESULT = "no_result"
NO_RESULT_LABEL = "結果なし（理由あり）"
#: Parameters the fan-out turns on where an analysis has them: fit a city's parameters to its data
#: (with a note) instead of failing it, e.g. k larger than a small town's candidate sites.
FIT_TO_CITY = {"k_up_to_candidates": True}


def _label(status: str) -> str:
    return NO_RESULT_LABEL if status == NO_RESULT else STATUS_LABELS.get(status, status)


@dataclass
class FanoutResult:
    """What :func:`run_all_municipalities` produced.

    Attributes
    ----------
    table
        The combined main table (Japanese column labels), municipality code and name in front;
        a failed municipality is one row with its 状態 and エラー.
    runs
        One row per municipality: code, name, status, job id, rows, seconds, error, output folder.
    paths
        ``csv``, ``xlsx`` (combined table, run status and notes as sheets) and ``folder``.
    wall_seconds
        Wall time of the whole fan-out (cluster start included).
    notes
        Notes of the analysis (deduplicated across municipalities).
    timeline
        Seconds from the start of the fan-out to each step in the main process: ``listed``
        (municipalities read), ``parsed`` (shared open data in this process), ``cluster`` (workers
        ready), ``submitting``, ``first_start`` / ``last_end`` (of any task), ``results`` (last
        outcome received), ``written`` (combined table), ``closed``; and ``main_cpu``, the CPU
        seconds this process used (scheduler, nannies, client, progress) while the tasks ran.
    tasks
        One row per municipality: ``code``, ``worker`` (process id), ``start`` / ``end`` (seconds
        from the start of the fan-out), the task's own spans ``workspace``, ``job``, ``outputs`` and
        ``cpu`` (CPU seconds of its worker process meanwhile, all threads).
    opendata
        How many shared open-data files were ``kept`` (parsed in this process already), read from a
        parsed ``copy`` on disk, or ``parsed`` by this run.
    """

    table: pd.DataFrame
    runs: pd.DataFrame
    paths: dict[str, Path]
    wall_seconds: float
    notes: list[str] = field(default_factory=list)
    timeline: dict[str, float] = field(default_factory=dict)
    tasks: pd.DataFrame | None = None
    opendata: dict[str, int] = field(default_factory=dict)


#: The shared open-data files parsed by the main process, in the output folder while the run lasts
#: (for the workers of a cluster given by its scheduler address; a LocalCluster's inherit them).
PARSED_FILE = ".parsed-opendata.pickle"
_taken: set[str] = set()


def dask_setup(worker) -> None:  # noqa: ARG001 - Dask's preload hook
    """Import what every task needs: in the main process before the workers fork, and as their preload hook."""
    import api.importing
    import api.store.geopackage
    import openpyxl  # noqa: F401 - each city's Excel output
    from api.jobs import load_analyses

    load_analyses()
    del api


#: Dask settings of the fan-out's LocalCluster: fewer wake-ups of the scheduler, nannies and workers
#: while the tasks run (with 2 workers on 2 cores, every CPU second of this process is taken from a
#: task: 0.2 s per run with Dask's defaults, 0.08 s with these). One-thread workers with queued tasks
#: need no work stealing; there is no dashboard to show the profiler's samples.
CLUSTER_CONFIG = {
    "distributed.worker.profile.enabled": False,
    "distributed.scheduler.work-stealing": False,
    "distributed.scheduler.active-memory-manager.start": False,
    "distributed.admin.tick.interval": "500ms",
    "distributed.admin.system-monitor.interval": "2s",
    "distributed.worker.memory.monitor-interval": "1s",
}


#: How the LocalCluster's worker processes start: forked on Linux; spawned elsewhere (Windows has no
#: fork, and macOS's system libraries are not safe to fork), where they take the parse from the
#: output folder (:data:`PARSED_FILE`) as a remote cluster's workers do.
START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"


def _connect(*, workers: int, scheduler: str | None):
    """A client on the scheduler given, else on a new LocalCluster of ``workers`` forked, preloaded processes."""
    import dask
    from distributed import Client, LocalCluster

    if scheduler:
        return Client(scheduler), None
    # Forked, not spawned: a worker starts with this process's imports and parsed open data in
    # 0.1-0.2 s instead of a fresh interpreter importing GeoPandas, Dask and the analyses (~1 s
    # per worker, ~0.5 s more to shut down). This thread only waits while they fork, and no other
    # thread of ours reads files then (the open data is read before, the tasks after). What the
    # tasks import is imported here, once (0.1 s), not in every worker (0.3 s more to start two,
    # measured under load); the preload hook then finds it done (a restarted worker is spawned).
    dask_setup(None)
    with dask.config.set({"distributed.worker.multiprocessing-method": START_METHOD, **CLUSTER_CONFIG}):
        cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None,
                               silence_logs=logging.ERROR, preload=[__name__])
    return Client(cluster), cluster


def _disconnect(client, cluster) -> None:
    client.close()
    if cluster is not None:
        cluster.close()


def city_task(code: str, name: str, spec, params: dict, *, data_dir: str, out_dir: str, created_by: str,
              parsed: str | None = None) -> dict:
    """One municipality: build its workspace, run the job, write outputs; never raises.

    ``parsed``: the main process's parsed open-data files (:data:`PARSED_FILE`), taken into this
    worker's cache by its first task (None: the worker has them already, forked from that process).

    Returns a dict with ``code``, ``name``, ``status``, ``job_id``, ``error``, ``seconds``,
    ``table`` (the main result table, or None), ``notes`` and ``folder``; and for the run's time
    spans ``worker`` (process id), ``started_at`` / ``ended_at`` (epoch seconds) and ``spans``
    (``workspace``, ``job``, ``outputs`` and ``cpu``, the CPU seconds of this process meanwhile).
    """
    from api.importing import build_city_workspace
    from api.jobs import run_job
    from api.store.geopackage import GeoPackageStore
    from gis import opendata

    started, started_at, cpu = time.perf_counter(), time.time(), time.process_time()
    if parsed and parsed not in _taken and Path(parsed).exists():  # not there: a worker without the shared folder
        opendata.import_parsed(Path(parsed))
        _taken.add(parsed)
    out: dict = {"code": code, "name": name, "status": "failed", "job_id": None, "error": None,
                 "table": None, "notes": [], "folder": None, "worker": os.getpid(), "started_at": started_at,
                 "spans": {}}
    spans = out["spans"]
    root = Path(out_dir)
    try:
        (root / "workspaces").mkdir(parents=True, exist_ok=True)
        with GeoPackageStore(root / "workspaces" / f"{code}.gpkg") as store:
            build_city_workspace(store, data_dir=Path(data_dir), city_code=code)
            spans["workspace"] = time.perf_counter() - started
            job_id = run_job(store, spec, params, data_dir=Path(data_dir), created_by=created_by)
            spans["job"] = time.perf_counter() - started - spans["workspace"]
            record = store.get_job(job_id)
            status = record["status"]
            if status == "failed" and record["error"] and not str(record["error"]).startswith("内部エラー"):
                status = NO_RESULT  # the analysis said why this city's data cannot answer it
            out.update(status=status, job_id=job_id, error=record["error"], notes=record["notes"])
            if record["status"] == "done":
                folder = root / "cities" / f"{code}-{name}"
                write_job_outputs(store, record, folder)
                out["folder"] = str(folder)
                if record["tables"]:
                    out["table"] = store.job_table(job_id, record["tables"][0])
    except Exception as exc:  # noqa: BLE001 - one municipality's failure is reported, not fatal
        log.warning("municipality %s failed: %s", code, exc)
        out["error"] = f"{type(exc).__name__}: {exc}" if not str(exc) else str(exc)
    out["seconds"] = round(time.perf_counter() - started, 2)
    out["ended_at"] = time.time()
    spans["outputs"] = time.perf_counter() - started - spans.get("workspace", 0) - spans.get("job", 0)
    spans["cpu"] = time.process_time() - cpu
    return out


def run_all_municipalities(
    analysis,
    params: dict | None,
    *,
    data_dir: Path,
    out_dir: Path,
    workers: int = 2,
    scheduler: str | None = None,
    codes: list[str] | None = None,
    created_by: str | None = None,
    progress: bool | Callable[[dict], None] = True,
    cache_dir: Path | None = None,
) -> FanoutResult:
    """Run ``analysis`` for every municipality in ``data_dir`` on Dask and write one combined table.

    Parameters
    ----------
    analysis
        Registered analysis name (or its spec).
    params
        Parameters (validated here first: bad parameters fail before any cluster starts).
    data_dir
        The open-data folder (``api.importing.list_municipalities`` says what is in it).
    out_dir
        Output folder: ``workspaces/<code>.gpkg``, ``cities/<code>-<name>/`` (each job's tables,
        Excel and map) and the combined ``<analysis>-all.csv`` / ``.xlsx``.
    workers
        Worker processes of the LocalCluster (one thread each); ignored with ``scheduler``.
    scheduler
        Address of a running Dask scheduler (``tcp://host:8786``) instead of a LocalCluster.
    codes
        Only these municipality codes (default: all in the data folder).
    progress
        True for a progress bar on stderr, False for none, or a callable given each
        municipality's outcome as it completes.
    cache_dir
        Folder of the parsed copies of the prefecture-wide open data (:mod:`api.opendata_cache`):
        read when they are of the files as they are now, written when not; None parses every run.
        The seconds each city took (:data:`SECONDS_FILE`) are kept there too, and the next run of
        the analysis starts the longest first by them.

    Returns
    -------
    FanoutResult
    """
    from distributed import as_completed

    from api import opendata_cache
    from api.importing import city_source_files, list_municipalities, listing_files
    from gis import opendata
    from gis.errors import InputDataError

    started = time.perf_counter()
    epoch = time.time()
    timeline: dict[str, float] = {}

    def mark(step: str) -> None:
        timeline[step] = round(time.perf_counter() - started, 3)

    spec = get_spec(analysis)
    params = dict(params or {})
    for key, value in FIT_TO_CITY.items():
        if key in spec.params.model_fields:
            params.setdefault(key, value)
    model = validate_params(spec, params)
    plain = model.model_dump(mode="json")
    if int(workers) < 1:
        msg = f"並列数（workers）は1以上にしてください（指定: {workers}）"
        raise InputDataError(msg, feature="workers", en=f"workers must be at least 1, got {workers}")
    out_dir = Path(out_dir).resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    user = created_by or who()
    # the shared open data into this process first (from its parsed copies when they are current),
    # then the workers: forked from this process, they have it too
    listing = listing_files(Path(data_dir))
    warmed = opendata_cache.warm(listing, folder=cache_dir)
    table = list_municipalities(Path(data_dir))
    mark("listed")
    names = dict(zip(table["code"].astype(str), table["name"].fillna("").astype(str), strict=True))
    if codes:
        unknown = [c for c in codes if str(c) not in names]
        if unknown:
            msg = f"市区町村 {unknown} は {data_dir} にありません。あるもの: {', '.join(names)}"
            raise InputDataError(msg, feature="codes",
                                 en=f"municipalities {unknown} are not in {data_dir}; it holds {', '.join(names)}")
        names = {str(c): names[str(c)] for c in codes}
    shared = city_source_files(Path(data_dir), list(names))
    for kind, n in opendata_cache.warm([f for f in shared if f not in listing], folder=cache_dir).items():
        warmed[kind] += n
    parsed = None
    if scheduler or START_METHOD != "fork":  # workers that are not forked take this parse from the output folder
        parsed = out_dir / PARSED_FILE
        opendata.export_parsed(parsed, sources=shared)
    mark("parsed")
    client, cluster = _connect(workers=int(workers), scheduler=scheduler)
    mark("cluster")
    mark("submitting")
    cpu_before = time.process_time()
    asked = list(names)
    # the longest tasks first, so that no worker is left with a big city at the end: as long as
    # they took last time (kept beside the parsed copies), else as expected from land and small areas
    last = _last_seconds(cache_dir, spec.name)
    work = last if set(names) <= set(last) else expected_work(table)
    names = dict(sorted(names.items(), key=lambda kv: -work.get(kv[0], 0.0)))
    outcomes: list[dict] = []
    bar = None
    try:
        futures = {
            client.submit(city_task, code, name, spec, plain, data_dir=str(Path(data_dir).resolve()),
                          out_dir=str(out_dir), created_by=user, parsed=str(parsed) if parsed else None,
                          key=f"tsunagu-{spec.name}-{code}-{time.time_ns()}", pure=False): code
            for code, name in names.items()
        }
        if progress is True:
            from tqdm import tqdm

            bar = tqdm(total=len(futures), desc=f"{spec.label}（{len(futures)} 市区町村）", unit="市区町村")
        for future in as_completed(futures):
            code = futures[future]
            try:
                outcome = future.result()
            except Exception as exc:  # noqa: BLE001 - a lost worker: report, go on
                outcome = {"code": code, "name": names[code], "status": "failed", "job_id": None, "table": None,
                           "error": f"worker failed: {type(exc).__name__}: {exc}", "notes": [], "seconds": None,
                           "folder": None}
            outcomes.append(outcome)
            if bar is not None:
                bar.set_postfix_str(f"{outcome['name']} {_label(outcome['status'])}")
                bar.update(1)
            elif callable(progress):
                progress(outcome)
        mark("results")
        timeline["main_cpu"] = round(time.process_time() - cpu_before, 3)
    finally:
        if bar is not None:
            bar.close()
        # the workers shut down while this process writes the combined table
        closing = threading.Thread(target=_disconnect, args=(client, cluster), name="tsunagu-cluster-close")
        closing.start()
    if parsed is not None:
        parsed.unlink(missing_ok=True)
    order = {code: i for i, code in enumerate(asked)}
    outcomes.sort(key=lambda o: order[o["code"]])  # the table in the order asked for (the data folder's)
    combined = combine(outcomes)
    runs = pd.DataFrame([{
        CODE_COLUMN: o["code"], NAME_COLUMN: o["name"], STATUS_COLUMN: _label(o["status"]),
        "ジョブID": o["job_id"], "行数": None if o["table"] is None else len(o["table"]),
        "所要時間（秒）": o["seconds"], ERROR_COLUMN: o["error"] or "", "出力フォルダ": o["folder"] or "",
    } for o in outcomes])
    notes = list(dict.fromkeys(n for o in outcomes for n in o["notes"]))
    no_result = [o for o in outcomes if o["status"] == NO_RESULT]
    if no_result:
        notes.append(f"{len(no_result)} 市区町村はデータが足りず結果がありません（理由は実行状況の表）: "
                     + "、".join(f"{o['name']}（{o['code']}）" for o in no_result))
    failed = [o for o in outcomes if o["status"] not in ("done", NO_RESULT)]
    if failed:
        notes.append(f"{len(failed)} 市区町村で失敗しました: " + "、".join(f"{o['name']}（{o['code']}）" for o in failed))
    _keep_seconds(cache_dir, spec.name, {o["code"]: o["seconds"] for o in outcomes if o.get("seconds")})
    stem = out_dir / f"{spec.name}-all"
    csv_path, xlsx_path = stem.with_suffix(".csv"), stem.with_suffix(".xlsx")
    csv_path.write_bytes(csv_bytes(combined))
    xlsx_path.write_bytes(xlsx_bytes({"結合表": combined, "実行状況": runs}, notes=notes))
    mark("written")
    closing.join()
    mark("closed")
    tasks = pd.DataFrame([{
        "code": o["code"], "worker": o.get("worker"),
        "start": round(o["started_at"] - epoch, 3) if o.get("started_at") else None,
        "end": round(o["ended_at"] - epoch, 3) if o.get("ended_at") else None,
        **{k: round(v, 3) for k, v in (o.get("spans") or {}).items()},
    } for o in outcomes])
    if len(tasks) and tasks["start"].notna().any():
        timeline["first_start"], timeline["last_end"] = float(tasks["start"].min()), float(tasks["end"].max())
    return FanoutResult(table=combined, runs=runs, paths={"csv": csv_path, "xlsx": xlsx_path, "folder": out_dir},
                        wall_seconds=time.perf_counter() - started, notes=notes, timeline=timeline, tasks=tasks,
                        opendata=warmed)


#: Seconds each municipality's task took in the last run of each analysis, in the cache folder.
SECONDS_FILE = "fanout-seconds.json"


def _last_seconds(cache_dir: Path | None, analysis: str) -> dict[str, float]:
    """Seconds per municipality code of the last run of ``analysis`` (empty when none is kept or the file is unreadable)."""
    import json

    if cache_dir is None:
        return {}
    try:
        kept = json.loads((Path(cache_dir) / SECONDS_FILE).read_text(encoding="utf-8"))
        return {str(k): float(v) for k, v in kept.get(analysis, {}).items()}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def _keep_seconds(cache_dir: Path | None, analysis: str, seconds: dict[str, float]) -> None:
    """Remember this run's seconds per municipality for the next run's order (beside the ones of other cities)."""
    import json

    if cache_dir is None or not seconds:
        return
    path = Path(cache_dir) / SECONDS_FILE
    try:
        kept = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}
        kept = kept if isinstance(kept, dict) else {}
    except (OSError, ValueError):
        kept = {}
    kept[analysis] = {**kept.get(analysis, {}), **seconds}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(kept, ensure_ascii=False, sort_keys=True), encoding="utf-8")
        tmp.replace(path)
    except OSError as exc:  # the next run orders by land and small areas instead
        log.warning("fan-out seconds not kept in %s: %s", path, exc)


def expected_work(table: pd.DataFrame) -> dict[str, float]:
    """Each municipality's expected share of the work: its share of the land area plus its share of the small areas.

    A task's time grows with the land (the 100 m demand mesh, the road network) and with the small
    areas (the tiers, the census joins): 新見市 (793 km², 153 small areas) takes about as long as
    高梁市 (547 km², 444) and 倉敷市 (355 km², 585, most people) although it has a fourteenth of
    倉敷市's people, so the population alone started it last but three.

    Parameters
    ----------
    table
        :func:`api.importing.list_municipalities` (``code``, ``area_km2``, ``features``).

    Returns
    -------
    dict
        Code to a number; larger means longer, the numbers add up to 2 (less when a column is missing).
    """
    out = dict.fromkeys(table["code"].astype(str), 0.0)
    for column in ("area_km2", "features"):
        values = pd.to_numeric(table[column], errors="coerce").fillna(0) if column in table else None
        if values is None or values.sum() <= 0:
            continue
        for code, share in zip(table["code"].astype(str), values / values.sum(), strict=True):
            out[code] += float(share)
    return out


def combine(outcomes: list[dict]) -> pd.DataFrame:
    """The main tables of all municipalities in one, labelled, with code/name/status in front."""
    frames = []
    for o in outcomes:
        status = _label(o["status"])
        if o["table"] is not None:
            frame = labelled(o["table"])
        else:
            frame = pd.DataFrame(index=[0])
        frame.insert(0, ERROR_COLUMN, o["error"] or "")
        frame.insert(0, STATUS_COLUMN, status)
        frame.insert(0, NAME_COLUMN, o["name"])
        frame.insert(0, CODE_COLUMN, o["code"])
        frames.append(frame)
    if not frames:
        return pd.DataFrame(columns=[CODE_COLUMN, NAME_COLUMN, STATUS_COLUMN, ERROR_COLUMN])
    return pd.concat(frames, ignore_index=True)
