"""Job records shared by both stores: statuses, the queue's state machine, result tables as JSON.

Both stores lock a job's row, hand it to one of the ``plan_*`` functions below and write the
changes it returns; so the rules (who may finish a job, what a dead worker's job becomes) are
written once. Times in a plan are :data:`NOW` or :class:`After` markers that each store turns
into its own clock (PostgreSQL's ``clock_timestamp()``, or UTC text in the GeoPackage).
"""

from __future__ import annotations

import datetime as _dt
import json
import uuid
import zlib
from dataclasses import dataclass

import numpy as np
import pandas as pd

from api.store import _json
from api.store.errors import JobLeaseLost, JobStateError, StoreError

#: Status → Japanese label (what users see).
JOB_STATUSES = {
    "queued": "待機中",
    "running": "実行中",
    "done": "完了",
    "failed": "失敗",
    "cancelled": "取消",
}
#: A job in one of these states never changes again (its result is immutable).
FINAL_STATUSES = frozenset({"done", "failed", "cancelled"})

#: Fields of a job record, in the order :meth:`Store.get_job` returns them.
JOB_FIELDS = [
    "job_id", "analysis", "params", "status", "progress", "message", "created_by", "created_at",
    "started_at", "finished_at", "data_version", "summary", "notes", "error", "tables", "has_map",
    "attempts", "worker_id", "heartbeat_at", "lease_until", "cancel_requested",
]

#: Columns of a job row the ``plan_*`` functions read.
ROW_FIELDS = ("status", "worker_id", "attempts", "cancel_requested", "started_at")


def now() -> str:
    """UTC now as ISO 8601 text with microseconds (fixed width, so text order is time order)."""
    return iso(_dt.datetime.now(_dt.UTC))


def iso(moment: _dt.datetime) -> str:
    """A UTC time as fixed-width ISO 8601 text (``2025-04-01T09:00:00.000000+00:00``)."""
    return moment.astimezone(_dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


class _Now:
    def __repr__(self) -> str:
        return "NOW"


#: Marker in a plan: the store's current time.
NOW = _Now()


@dataclass(frozen=True)
class After:
    """Marker in a plan: the store's current time plus ``seconds``."""

    seconds: float


def resolve_time(value, moment: _dt.datetime | None = None):
    """Turn :data:`NOW` / :class:`After` into UTC text (GeoPackage); other values pass through."""
    if value is NOW or isinstance(value, After):
        moment = moment or _dt.datetime.now(_dt.UTC)
        return iso(moment + _dt.timedelta(seconds=value.seconds) if isinstance(value, After) else moment)
    return value


def new_job_id(job_id: str | None = None) -> str:
    """A new job id (uuid4 text), or ``job_id`` checked to be a UUID."""
    if job_id is None:
        return str(uuid.uuid4())
    return check_job_id(job_id)


def check_job_id(job_id: str) -> str:
    """Return ``job_id`` as canonical UUID text; anything else is a :class:`StoreError`."""
    try:
        return str(uuid.UUID(str(job_id)))
    except ValueError as exc:
        msg = f"ジョブ ID {job_id!r} は UUID ではありません"
        en = f"job id {job_id!r} is not a UUID"
        raise StoreError(msg, en=en) from exc


def check_progress(progress: float) -> float:
    """Progress clipped to 0–1; NaN or non-numbers are an error (never stored)."""
    try:
        value = float(progress)
    except (TypeError, ValueError) as exc:
        msg = f"ジョブの進み具合は 0 から 1 の数にしてください（{progress!r} でした）"
        en = f"job progress must be a number between 0 and 1, got {progress!r}"
        raise StoreError(msg, en=en) from exc
    if not np.isfinite(value):
        msg = f"ジョブの進み具合は 0 から 1 の数にしてください（{progress!r} でした）"
        en = f"job progress must be a number between 0 and 1, got {progress!r}"
        raise StoreError(msg, en=en)
    return min(1.0, max(0.0, value))


def check_transition(job_id: str, status: str | None, new: str) -> None:
    """Raise when ``job_id`` (now ``status``; None = unknown) may not move to ``new`` (no worker named)."""
    if status is None:
        msg = f"このワークスペースにジョブ {job_id} はありません"
        en = f"no job {job_id} in this workspace"
        raise JobStateError(msg, en=en)
    if status in FINAL_STATUSES:
        msg = f"ジョブ {job_id} はすでに {status} です。記録は変えられません（新しいジョブとして解析をやり直してください）"
        en = f"job {job_id} is already {status}; its record is immutable (run the analysis again for a new job)"
        raise JobStateError(msg, en=en)
    if new == "queued" or (new == "cancelled" and status != "queued"):
        msg = f"ジョブ {job_id} は {status} から {new} に変えられません"
        en = f"job {job_id} cannot go from {status} to {new}"
        raise JobStateError(msg, en=en)


def check_lease(lease_s) -> float:
    """A lease length in seconds (positive and finite)."""
    try:
        value = float(lease_s)
    except (TypeError, ValueError):
        value = float("nan")
    if not np.isfinite(value) or value <= 0:
        msg = f"ジョブの貸出時間は正の秒数にしてください（{lease_s!r} でした）"
        en = f"a job lease must be a positive number of seconds, got {lease_s!r}"
        raise StoreError(msg, en=en)
    return value


def check_owner(job_id: str, row: dict | None, worker_id: str, attempt: int) -> None:
    """Raise :class:`JobLeaseLost` unless ``worker_id`` still runs ``attempt`` of the job."""
    if row is None:
        msg = f"このワークスペースにジョブ {job_id} はありません"
        en = f"no job {job_id} in this workspace"
        raise JobStateError(msg, en=en)
    if row["status"] != "running" or row["worker_id"] != worker_id or int(row["attempts"]) != int(attempt):
        msg = (f"ジョブ {job_id}（{attempt} 回目）はもうワーカー {worker_id} のものではありません（今は {row['status']}）。貸出時間が切れたか、ほかで終わりました")
        en = (f"job {job_id} is no longer run by worker {worker_id} (attempt {attempt}): it is {row['status']}"
              + (f", attempt {row['attempts']} of worker {row['worker_id']}" if row["status"] == "running" else "")
              + "; its lease ran out or it was ended elsewhere")
        raise JobLeaseLost(msg, en=en)


# ---------------------------------------------------------------------- plans
#
# Each plan takes the locked row (a dict of ROW_FIELDS, or None when there is no such job) and
# returns ``(changes, value)``: the columns to write and what the store method returns.


def _ended(status: str, *, error: str | None = None) -> dict:
    return {"status": status, "error": error, "message": JOB_STATUSES[status], "finished_at": NOW,
            "lease_until": None}


def plan_claim(row: dict, *, worker_id: str, lease_s: float) -> dict:
    """queued → running for ``worker_id``: a new attempt with a lease of ``lease_s`` seconds."""
    changes = {"status": "running", "worker_id": str(worker_id), "attempts": int(row["attempts"] or 0) + 1,
               "lease_until": After(lease_s), "heartbeat_at": NOW, "progress": 0.0, "message": "開始",
               "error": None}
    if row.get("started_at") is None:
        changes["started_at"] = NOW
    return changes


def plan_progress(job_id: str, row: dict | None, *, progress: float, message: str) -> tuple[dict, None]:
    """Progress without a worker (legacy callers): the first call moves queued → running."""
    check_transition(job_id, None if row is None else row["status"], "running")
    changes = {"status": "running", "progress": progress, "message": str(message)}
    if row.get("started_at") is None:
        changes["started_at"] = NOW
    return changes, None


def plan_heartbeat(job_id: str, row: dict | None, *, worker_id: str, attempt: int, lease_s: float,
                   progress: float | None, message: str | None) -> tuple[dict, bool]:
    """The running worker extends its lease (and records progress); returns whether cancel was asked."""
    check_owner(job_id, row, worker_id, attempt)
    changes: dict = {"heartbeat_at": NOW, "lease_until": After(lease_s)}
    if progress is not None:
        changes["progress"] = progress
    if message is not None:
        changes["message"] = str(message)
    return changes, bool(row["cancel_requested"])


def plan_finish(job_id: str, row: dict | None, *, worker_id: str | None, attempt: int | None) -> tuple[dict, str]:
    """running → done (the result is written in the same transaction), or cancelled when cancel was asked."""
    if worker_id is None:
        check_transition(job_id, None if row is None else row["status"], "done")
    else:
        check_owner(job_id, row, worker_id, attempt)
    if row["cancel_requested"]:
        return _ended("cancelled"), "cancelled"
    changes = {**_ended("done"), "progress": 1.0, "message": "完了"}
    if row.get("started_at") is None:
        changes["started_at"] = NOW
    return changes, "done"


def plan_fail(job_id: str, row: dict | None, *, error: str, worker_id: str | None,
              attempt: int | None) -> tuple[dict, None]:
    """queued or running → failed with ``error``."""
    if worker_id is None:
        check_transition(job_id, None if row is None else row["status"], "failed")
    else:
        check_owner(job_id, row, worker_id, attempt)
    return _ended("failed", error=str(error)), None


def plan_cancel(job_id: str, row: dict | None, *, worker_id: str | None, attempt: int | None) -> tuple[dict, None]:
    """A user's cancel: queued → cancelled at once, running → cancel requested (the worker stops at
    its next progress report). With ``worker_id``: the worker records that it stopped (running → cancelled)."""
    if worker_id is not None:
        check_owner(job_id, row, worker_id, attempt)
        return _ended("cancelled"), None
    status = None if row is None else row["status"]
    if status == "running":
        return {"cancel_requested": True, "message": "取消の要求を受け付けました"}, None
    check_transition(job_id, status, "cancelled")
    return {**_ended("cancelled"), "cancel_requested": True}, None


def plan_release(job_id: str, row: dict | None, *, worker_id: str, attempt: int) -> tuple[dict, None]:
    """A worker that shuts down gives its job back: running → queued, the attempt not counted."""
    check_owner(job_id, row, worker_id, attempt)
    if row["cancel_requested"]:
        return _ended("cancelled"), None
    return {"status": "queued", "worker_id": None, "lease_until": None, "attempts": max(0, int(attempt) - 1),
            "progress": 0.0, "message": "再開待ち（ワーカーが停止したため）"}, None


def plan_expired(row: dict, *, max_attempts: int) -> dict:
    """A running job whose lease ran out (its worker died or hung): queued again, or failed/cancelled."""
    attempts = int(row["attempts"] or 0)
    if row["cancel_requested"]:
        return _ended("cancelled")
    if attempts >= max_attempts:
        error = (f"ワーカーが応答しなくなったため、{attempts} 回試みたところで中止しました"
                 f"（最後のワーカー: {row['worker_id']}）。データや設定を確かめて、解析をもう一度実行してください。")
        return _ended("failed", error=error)
    return {"status": "queued", "worker_id": None, "lease_until": None, "progress": 0.0,
            "message": f"再実行待ち（ワーカーが応答しなくなったため、{attempts} 回目の実行を打ち切りました）"}


def result_parts(result) -> tuple[list[tuple[str, dict]], str | None, dict, list[str]]:
    """Split an ``AnalysisResult``-like object into encoded tables, map, summary and notes."""
    tables = getattr(result, "tables", None) or {}
    if not isinstance(tables, dict):
        msg = f"解析結果の表は 名前 → DataFrame の dict にしてください（{type(tables).__name__} でした）"
        en = f"an analysis result's tables must be a dict of name → DataFrame, got {type(tables).__name__}"
        raise StoreError(msg, en=en)
    encoded = []
    for name, frame in tables.items():
        check_table_name(name)
        encoded.append((str(name), encode_table(frame)))
    map_html = getattr(result, "map_html", None)
    if map_html is not None and not isinstance(map_html, str):
        msg = f"解析結果の地図は HTML の文字列か None にしてください（{type(map_html).__name__} でした）"
        en = f"an analysis result's map_html must be HTML text or None, got {type(map_html).__name__}"
        raise StoreError(msg, en=en)
    summary = _json.normalise(getattr(result, "summary", None) or {})
    notes = [str(n) for n in (getattr(result, "notes", None) or [])]
    return encoded, map_html, summary, notes


def check_table_name(name) -> None:
    """Table names become file names (``<name>.csv``) and sheet names: keep them simple."""
    text = str(name)
    if not text or text == "all" or any(c in text for c in '/\\:*?"<>|[]') or len(text) > 100:
        msg = f"結果の表の名前 {text!r} は使えません。/ \\ : * ? \" < > | [ ] を含まない 100 文字以内の名前（all 以外）にしてください"
        en = (f"result table name {text!r} cannot be used: give a non-empty name without / \\ : * ? \" < > | [ ], "
              "at most 100 characters, other than 'all'")
        raise StoreError(msg, en=en)


# ---------------------------------------------------------------------- tables


def encode_table(frame: pd.DataFrame) -> dict:
    """A table as JSON-ready ``{"columns", "dtypes", "data", "attrs"}`` (column order and dtypes kept).

    Geometry columns are left out (tables are for CSV/Excel; the map shows the geometry), and a
    meaningful index becomes ordinary columns.
    """
    if not isinstance(frame, pd.DataFrame):
        msg = f"解析結果の表は DataFrame にしてください（{type(frame).__name__} でした）"
        en = f"an analysis result table must be a DataFrame, got {type(frame).__name__}"
        raise StoreError(msg, en=en)
    df = pd.DataFrame(frame)
    geometry = [c for c in df.columns if str(df[c].dtype) == "geometry"]
    df = df.drop(columns=geometry)
    if not (isinstance(df.index, pd.RangeIndex) and df.index.start == 0 and df.index.step == 1):
        df = df.reset_index()
    df.columns = [str(c) for c in df.columns]
    payload = json.loads(df.to_json(orient="split", index=False, date_format="iso", force_ascii=False))
    try:
        attrs = _json.normalise(dict(frame.attrs))
    except (TypeError, ValueError):
        attrs = {"labels": _json.normalise(dict(frame.attrs.get("labels", {})))} if "labels" in frame.attrs else {}
    return {
        "columns": list(df.columns),
        "dtypes": [str(t) for t in df.dtypes],
        "data": payload["data"],
        "attrs": attrs,
    }


def decode_table(payload: dict) -> pd.DataFrame:
    """Inverse of :func:`encode_table`."""
    columns = payload["columns"]
    data = payload["data"]
    df = pd.DataFrame.from_records(data, columns=range(len(columns))) if data else pd.DataFrame(
        {i: pd.Series([], dtype=object) for i in range(len(columns))})
    df.columns = columns
    for i, dtype in enumerate(payload.get("dtypes", [])):
        df.isetitem(i, _as_dtype(df.iloc[:, i], dtype))
    df.attrs = dict(payload.get("attrs") or {})
    return df


def _as_dtype(series: pd.Series, dtype: str) -> pd.Series:
    try:
        if dtype.startswith("datetime64"):
            return pd.to_datetime(series, utc="UTC" in dtype or "+" in dtype)
        if dtype in ("object",):
            return series.astype(object).where(series.notna(), None)
        if dtype == "bool" and series.isna().any():
            return series.astype("boolean")
        return series.astype(dtype)
    except (TypeError, ValueError):
        return series


# ---------------------------------------------------------------------- maps


def pack_map(html: str | None) -> bytes | None:
    """Folium pages inline Leaflet (hundreds of kB): store them compressed."""
    return None if html is None else zlib.compress(html.encode("utf-8"), 6)


def unpack_map(blob: bytes | None) -> str | None:
    """Inverse of :func:`pack_map`."""
    return None if blob is None else zlib.decompress(bytes(blob)).decode("utf-8")
