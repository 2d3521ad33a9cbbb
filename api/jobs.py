"""Analysis jobs: validate parameters, run an analysis as a stored, versioned job, and write its outputs.

A job is one run of a registered analysis (:data:`api.analyses.base.REGISTRY`) on one workspace:
``queued → running → done | failed`` (or ``queued → cancelled``). Its record keeps who ran it,
when, with which parameters and on which data (:func:`data_version`); a finished result never
changes, and running the analysis again makes a new job.
"""

from __future__ import annotations

import getpass
import hashlib
import importlib
import io
import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ValidationError

from api.store.base import JobStateError, Store, StoreError
from gis.errors import InputDataError, TsunaguError

log = logging.getLogger("tsunagu.jobs")

#: Modules that register the analyses; each is optional (imported when present).
ANALYSIS_MODULES = ("api.analyses.salons", "api.analyses.shopping", "api.analyses.catchments",
                    "api.analyses.mobile_sales", "api.analyses.outreach")

#: Status → Japanese label.
STATUS_LABELS = {"queued": "待機中", "running": "実行中", "done": "完了", "failed": "失敗", "cancelled": "取消"}

ProgressCallback = Callable[[float, str], None]


# ---------------------------------------------------------------------- registry


def load_analyses() -> dict:
    """Import the analysis modules that exist and return the registry (name → AnalysisSpec)."""
    from api.analyses.base import REGISTRY

    for module in ANALYSIS_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # the module exists but something it needs does not
                log.warning("analysis module %s cannot be imported: %s", module, exc)
    return REGISTRY


def get_spec(name):
    """The registered analysis ``name``; an unknown name is an :class:`InputDataError` listing the known ones.

    An ``AnalysisSpec`` given instead of a name is returned as it is (Dask workers receive specs).
    """
    if not isinstance(name, str) and hasattr(name, "run") and hasattr(name, "params"):
        return name
    registry = load_analyses()
    if name not in registry:
        known = ", ".join(sorted(registry)) or "（なし）"
        msg = f"unknown analysis {name!r}; known analyses: {known}"
        raise InputDataError(msg, feature="analysis", hint=f"analysis には次のいずれかを指定してください: {known}")
    return registry[name]


def validate_params(spec, params: dict | None) -> BaseModel:
    """Validate ``params`` with the analysis's pydantic model; errors name the field (InputDataError → 422)."""
    if params is None:
        params = {}
    if not isinstance(params, dict):
        msg = f"params must be an object of name → value, got {type(params).__name__}"
        raise InputDataError(msg, feature="params")
    try:
        return spec.params.model_validate(params)
    except ValidationError as exc:
        problems = []
        first = None
        for err in exc.errors():
            field = ".".join(str(p) for p in err.get("loc", ())) or "params"
            first = first or field
            problems.append(f"{field}: {err.get('msg', 'invalid')} (given {err.get('input')!r})")
        known = ", ".join(spec.params.model_fields)
        msg = f"invalid parameters for {spec.name}: " + "; ".join(problems)
        raise InputDataError(msg, feature=first, hint=f"{spec.name} のパラメータ: {known}") from None


def parse_param_pairs(spec, pairs: list[str] | tuple[str, ...]) -> dict:
    """Turn CLI ``key=value`` strings into a params dict, typed from the model's JSON schema.

    Values are read as JSON where that fits the field (``500``, ``true``, ``[1, 2]``); list
    fields also take ``500,1000``; text fields keep the text as given.
    """
    properties = spec.params.model_json_schema().get("properties", {})
    out: dict = {}
    for pair in pairs:
        if "=" not in pair:
            msg = f"parameter {pair!r} is not key=value"
            raise InputDataError(msg, feature=pair, hint="例: --param threshold_m=500")
        key, value = (part.strip() for part in pair.split("=", 1))
        key = key.replace("-", "_")
        if key not in properties:
            known = ", ".join(properties) or "（なし）"
            msg = f"{spec.name} has no parameter {key!r}; its parameters: {known}"
            raise InputDataError(msg, feature=key)
        types = _schema_types(properties[key])
        if types == {"string"}:
            out[key] = value
            continue
        try:
            parsed = json.loads(value)
        except json.JSONDecodeError:
            parsed = value
        if "array" in types and not isinstance(parsed, list):
            parsed = [_json_or_text(v.strip()) for v in value.split(",") if v.strip()]
        out[key] = parsed
    return out


def _schema_types(prop: dict) -> set[str]:
    types = set()
    for option in [prop, *prop.get("anyOf", []), *prop.get("oneOf", [])]:
        t = option.get("type")
        if isinstance(t, list):
            types.update(t)
        elif t:
            types.add(t)
    types.discard("null")
    return types


def _json_or_text(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def describe_analyses() -> list[dict]:
    """Name, Japanese label and parameter JSON schema of every registered analysis."""
    return [{"name": s.name, "label": s.label, "params": s.params.model_json_schema()}
            for s in sorted(load_analyses().values(), key=lambda s: s.name)]


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


def who() -> str:
    """The user running the CLI (job ``created_by``)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "unknown"


# ---------------------------------------------------------------------- running


def create_job(store: Store, name, params: dict | None, *, created_by: str) -> tuple[dict, object, BaseModel]:
    """Validate and record a queued job; returns ``(record, spec, validated params)``.

    The stored params are the validated model with every default filled in, so a result
    always says exactly what it was computed with.
    """
    spec = get_spec(name)
    model = validate_params(spec, params)
    version = data_version(store)
    record = store.create_job(analysis=spec.name, params=model.model_dump(mode="json"),
                              created_by=created_by, data_version=version)
    return record, spec, model


def execute_job(
    store: Store,
    job_id: str,
    spec,
    params: BaseModel,
    *,
    data_dir: Path | None,
    progress_cb: ProgressCallback | None = None,
) -> dict:
    """Run a created job to its end (done or failed) and return its final record.

    Errors of the analysis (bad or missing data, :class:`TsunaguError`) end the job
    ``failed`` with their message; nothing is raised. Progress is passed to ``progress_cb``
    every time and persisted at most every ``store.job_progress_interval`` seconds.
    """
    last_write = [0.0]

    def progress(fraction: float, message: str = "") -> None:
        try:
            value = min(1.0, max(0.0, float(fraction)))
        except (TypeError, ValueError):
            return
        if value != value:  # NaN
            return
        if progress_cb is not None:
            progress_cb(value, str(message))
        now = time.monotonic()
        if now - last_write[0] >= store.job_progress_interval:
            last_write[0] = now
            try:
                store.update_job_progress(job_id, value, str(message))
            except StoreError as exc:  # progress is advisory: never fail a job over it
                log.warning("cannot record progress of job %s: %s", job_id, exc)

    try:
        store.update_job_progress(job_id, 0.0, "開始")
        last_write[0] = time.monotonic()
        if progress_cb is not None:
            progress_cb(0.0, "開始")
        result = spec.run(store, params, progress=progress, data_dir=data_dir)
        if not hasattr(result, "tables"):
            msg = f"analysis {spec.name} returned {type(result).__name__}, not an AnalysisResult"
            raise TypeError(msg)
        record = store.finish_job(job_id, result)
    except JobStateError:
        raise
    except (TsunaguError, StoreError) as exc:
        record = _fail(store, job_id, str(exc))
    except Exception as exc:  # noqa: BLE001 - any bug in an analysis ends its job, not the service
        log.exception("analysis %s (job %s) failed", spec.name, job_id)
        record = _fail(store, job_id, f"内部エラー（{type(exc).__name__}）: {exc}")
    if progress_cb is not None and record["status"] == "done":
        progress_cb(1.0, "完了")
    return record


def _fail(store: Store, job_id: str, error: str) -> dict:
    try:
        return store.fail_job(job_id, error)
    except JobStateError:
        return store.get_job(job_id)


def run_job(
    store: Store,
    name,
    params: dict | None,
    *,
    data_dir: Path | None,
    created_by: str,
    progress_cb: ProgressCallback | None = None,
) -> str:
    """Run analysis ``name`` as a stored job in this thread and return its job id.

    Bad parameters or an unknown analysis raise :class:`InputDataError` (no job is made);
    a failure of the analysis itself ends the job ``failed`` (see :func:`execute_job`).
    """
    record, spec, model = create_job(store, name, params, created_by=created_by)
    execute_job(store, record["job_id"], spec, model, data_dir=data_dir, progress_cb=progress_cb)
    return record["job_id"]


class JobRunner:
    """Runs jobs in background threads (at most ``max_workers`` at once) and keeps live progress.

    Progress of a running job is held in memory (the store gets it every
    ``store.job_progress_interval`` seconds); :meth:`status` merges both. Jobs do not survive
    the process: a durable worker is a later step.
    """

    def __init__(self, *, max_workers: int = 2) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="tsunagu-job")
        self._lock = threading.Lock()
        self._live: dict[str, tuple[float, str]] = {}
        self._futures: dict[str, Future] = {}

    def submit(self, store: Store, name: str, params: dict | None, *, data_dir: Path | None,
               created_by: str) -> dict:
        """Validate, record (queued) and start a job; returns its record."""
        record, spec, model = create_job(store, name, params, created_by=created_by)
        job_id = record["job_id"]

        def seen(fraction: float, message: str) -> None:
            with self._lock:
                self._live[job_id] = (fraction, message)

        def work() -> None:
            try:
                execute_job(store, job_id, spec, model, data_dir=data_dir, progress_cb=seen)
            except Exception:  # noqa: BLE001 - logged; the record says failed or stays as it was
                log.exception("job %s could not be finished", job_id)
            finally:
                with self._lock:
                    self._live.pop(job_id, None)
                    self._futures.pop(job_id, None)

        with self._lock:
            self._futures[job_id] = self._pool.submit(work)
        return record

    def live(self, job_id: str) -> tuple[float, str] | None:
        """In-memory (fraction, message) of a job running here, or None."""
        with self._lock:
            return self._live.get(job_id)

    def status(self, store: Store, job_id: str) -> dict | None:
        """The job's record with the latest in-memory progress merged in (None when unknown)."""
        record = store.get_job(job_id)
        if record is None:
            return None
        live = self.live(record["job_id"])
        if live is not None and record["status"] in ("queued", "running"):
            record = {**record, "status": "running", "progress": live[0], "message": live[1]}
        return record

    def cancel(self, store: Store, job_id: str) -> dict:
        """Cancel a queued job (one already running goes on; :class:`JobStateError` says so)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None and not future.cancel():
            msg = f"job {job_id} is already running and cannot be cancelled"
            raise JobStateError(msg)
        return store.cancel_job(job_id)

    def shutdown(self, store: Store | None = None) -> None:
        """Stop taking jobs; queued ones are cancelled (and recorded so when ``store`` is given)."""
        with self._lock:
            pending = [(j, f) for j, f in self._futures.items() if f.cancel()]
        for job_id, _ in pending:
            if store is not None:
                try:
                    store.cancel_job(job_id)
                except StoreError as exc:
                    log.warning("cannot record cancellation of job %s: %s", job_id, exc)
        self._pool.shutdown(wait=True, cancel_futures=True)

    def wait(self, job_id: str, timeout: float | None = None) -> None:
        """Block until a job started here ends (tests, CLI)."""
        with self._lock:
            future = self._futures.get(job_id)
        if future is not None:
            future.result(timeout=timeout)


# ---------------------------------------------------------------------- outputs


def labelled(table: pd.DataFrame) -> pd.DataFrame:
    """The table with Japanese column labels (``attrs["labels"]``) applied, for CSV/Excel."""
    labels = table.attrs.get("labels") or {}
    out = table.rename(columns={k: v for k, v in labels.items() if k in table.columns})
    out.attrs = {}
    return out


def csv_bytes(table: pd.DataFrame) -> bytes:
    """UTF-8 CSV with a byte-order mark, so Excel opens Japanese text correctly."""
    return labelled(table).to_csv(index=False).encode("utf-8-sig")


def xlsx_bytes(tables: dict[str, pd.DataFrame], *, notes: list[str] | None = None) -> bytes:
    """One Excel workbook, one sheet per table (plus a 注記 sheet with the notes)."""
    buffer = io.BytesIO()
    used: set[str] = set()
    with pd.ExcelWriter(buffer, engine="openpyxl") as writer:
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
    xlsx.write_bytes(xlsx_bytes(tables, notes=record["notes"]))
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
