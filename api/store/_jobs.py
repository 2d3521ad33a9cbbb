"""Job records shared by both stores: statuses, allowed transitions, result tables as JSON."""

from __future__ import annotations

import datetime as _dt
import json
import uuid
import zlib

import numpy as np
import pandas as pd

from api.store import _json
from api.store.base import JobStateError, StoreError

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
]


def now() -> str:
    """UTC now as ISO 8601 text (seconds precision is too coarse for ordering; keep microseconds)."""
    return _dt.datetime.now(_dt.UTC).isoformat()


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
        msg = f"job id {job_id!r} is not a UUID"
        raise StoreError(msg) from exc


def check_progress(progress: float) -> float:
    """Progress clipped to 0–1; NaN or non-numbers are an error (never stored)."""
    try:
        value = float(progress)
    except (TypeError, ValueError) as exc:
        msg = f"job progress must be a number between 0 and 1, got {progress!r}"
        raise StoreError(msg) from exc
    if not np.isfinite(value):
        msg = f"job progress must be a number between 0 and 1, got {progress!r}"
        raise StoreError(msg)
    return min(1.0, max(0.0, value))


def check_transition(job_id: str, status: str | None, new: str) -> None:
    """Raise when ``job_id`` (now ``status``; None = unknown) may not move to ``new``."""
    if status is None:
        msg = f"no job {job_id} in this workspace"
        raise JobStateError(msg)
    if status in FINAL_STATUSES:
        msg = f"job {job_id} is already {status}; its record is immutable (run the analysis again for a new job)"
        raise JobStateError(msg)
    if new == "queued" or (new == "cancelled" and status != "queued"):
        msg = f"job {job_id} cannot go from {status} to {new}"
        raise JobStateError(msg)


def result_parts(result) -> tuple[list[tuple[str, dict]], str | None, dict, list[str]]:
    """Split an ``AnalysisResult``-like object into encoded tables, map, summary and notes."""
    tables = getattr(result, "tables", None) or {}
    if not isinstance(tables, dict):
        msg = f"an analysis result's tables must be a dict of name → DataFrame, got {type(tables).__name__}"
        raise StoreError(msg)
    encoded = []
    for name, frame in tables.items():
        check_table_name(name)
        encoded.append((str(name), encode_table(frame)))
    map_html = getattr(result, "map_html", None)
    if map_html is not None and not isinstance(map_html, str):
        msg = f"an analysis result's map_html must be HTML text or None, got {type(map_html).__name__}"
        raise StoreError(msg)
    summary = _json.normalise(getattr(result, "summary", None) or {})
    notes = [str(n) for n in (getattr(result, "notes", None) or [])]
    return encoded, map_html, summary, notes


def check_table_name(name) -> None:
    """Table names become file names (``<name>.csv``) and sheet names: keep them simple."""
    text = str(name)
    if not text or text == "all" or any(c in text for c in '/\\:*?"<>|[]') or len(text) > 100:
        msg = (f"result table name {text!r} cannot be used: give a non-empty name without / \\ : * ? \" < > | [ ], "
               "at most 100 characters, other than 'all'")
        raise StoreError(msg)


# ---------------------------------------------------------------------- tables


def encode_table(frame: pd.DataFrame) -> dict:
    """A table as JSON-ready ``{"columns", "dtypes", "data", "attrs"}`` (column order and dtypes kept).

    Geometry columns are left out (tables are for CSV/Excel; the map shows the geometry), and a
    meaningful index becomes ordinary columns.
    """
    if not isinstance(frame, pd.DataFrame):
        msg = f"an analysis result table must be a DataFrame, got {type(frame).__name__}"
        raise StoreError(msg)
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
