"""Demand points built once per mesh input and reused by every job of this process (and from disk by the next).

Spreading the census over the 100 m mesh (:func:`gis.demand.demand_points`) takes seconds on a
city of ~450 small areas, most of a salon-gaps job, and gives the same points every time the
same inputs come in. The key is what the mesh depends on, not the workspace's data version
(that one changes with every resource edit, which leaves the mesh as it was): the small areas'
ids, populations, 65+ counts and boundaries, the plane CRS, the cell size, the 65+ share used
where the census has none, and the clipping rule. An import of areas or of an age table gives a
new key, so a stale mesh is never reused.

Entries live in an in-process LRU (:data:`MAX_ENTRIES`); for a GeoPackage workspace a copy is
also written beside it (``<stem>.cache/demand-<key>.npz``, written to a temporary file and
renamed), so a new process — the CLI, a restarted worker, a second fan-out into the same
folder — starts from it; the newest :data:`MAX_DISK_COPIES` are kept. A copy that cannot be
read is rebuilt.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from api.store.base import Store
from gis.crs import STORAGE_CRS
from gis._once import BuildOnceLRU
from gis.demand import demand_points

log = logging.getLogger("tsunagu.demand_cache")

#: Meshes kept per process (one city at a few cell sizes / shares), least recently used dropped first.
MAX_ENTRIES = 8
#: On-disk copies kept beside a workspace (older ones, of areas since re-imported, are deleted).
MAX_DISK_COPIES = 4
#: Bumped when :func:`gis.demand.demand_points` changes what it returns for the same inputs.
MESH_FORMAT = "demand-1"

_entries: BuildOnceLRU[gpd.GeoDataFrame] = BuildOnceLRU(MAX_ENTRIES)
_state = {"enabled": True, "clip": "boundary", "builds": 0}


def demand_key(
    small_areas: gpd.GeoDataFrame,
    *,
    crs: str,
    cell_size_m: float,
    elderly_share: float | Mapping[str, float] | None,
    clip: str = "boundary",
) -> str:
    """Hex digest of everything the demand mesh of ``small_areas`` depends on.

    Parameters
    ----------
    small_areas
        The innermost tier (``area_id``, ``population``, optionally ``pop_65plus``, geometry).
    crs, cell_size_m, elderly_share, clip
        As given to :func:`gis.demand.demand_points`.

    Returns
    -------
    str
        64 hex digits; equal keys give equal meshes.
    """
    digest = hashlib.sha256()
    if isinstance(elderly_share, Mapping):
        share = sorted((str(k), float(v)) for k, v in elderly_share.items())
    else:
        share = None if elderly_share is None else float(elderly_share)
    head = {"format": MESH_FORMAT, "crs": str(crs), "cell": float(cell_size_m), "share": share, "clip": clip,
            "n": int(len(small_areas)), "crs_in": str(small_areas.crs)}
    digest.update(json.dumps(head, sort_keys=True).encode())
    areas = small_areas.reset_index(drop=True)
    old = areas["pop_65plus"] if "pop_65plus" in areas.columns else pd.Series(pd.NA, index=areas.index)
    table = pd.DataFrame({"area_id": areas["area_id"].astype(str), "population": areas["population"].astype(str),
                          "pop_65plus": old.astype(str)})
    digest.update(pd.util.hash_pandas_object(table, index=False).values.tobytes())
    for wkb in shapely.to_wkb(areas.geometry.values, hex=False):
        digest.update(wkb or b"")
    return digest.hexdigest()


def cache_dir(store: Store) -> Path | None:
    """Folder for the on-disk copies of a workspace: ``<stem>.cache`` beside a GeoPackage; None for a database."""
    path = getattr(store, "path", None)
    if path is None:
        return None
    path = Path(path)
    return path.with_name(f"{path.stem}.cache")


def cached_demand(
    small_areas: gpd.GeoDataFrame,
    *,
    crs: str,
    cell_size_m: float,
    elderly_share: float | Mapping[str, float] | None = None,
    folder: Path | None = None,
) -> gpd.GeoDataFrame:
    """:func:`gis.demand.demand_points` of ``small_areas`` (mesh), from the cache when the inputs were seen.

    Concurrent callers with the same key wait for one build. Each caller gets its own copy.

    Parameters
    ----------
    small_areas, crs, cell_size_m, elderly_share
        As for :func:`gis.demand.demand_points`.
    folder
        Where on-disk copies are read and written (:func:`cache_dir`); None keeps them in memory only.

    Returns
    -------
    GeoDataFrame
        The demand points with their ``attrs`` (``age_note``, ``cell_size_m``, ``method``).
    """
    clip = _state["clip"]
    if not _state["enabled"]:
        _state["builds"] += 1
        return demand_points(small_areas, crs=crs, cell_size_m=cell_size_m, elderly_share=elderly_share, clip=clip)
    key = demand_key(small_areas, crs=crs, cell_size_m=cell_size_m, elderly_share=elderly_share, clip=clip)
    path = folder / f"demand-{key[:32]}.npz" if folder is not None else None

    def build() -> gpd.GeoDataFrame:
        hit = _read(path) if path is not None else None
        if hit is None:
            hit = demand_points(small_areas, crs=crs, cell_size_m=cell_size_m, elderly_share=elderly_share,
                                clip=clip)
            _state["builds"] += 1
            if path is not None:
                _write(hit, path)
        return hit

    return _copy(_entries.get_or_build(key, build))


def builds() -> int:
    """How many meshes this process has built (not taken from the cache) so far."""
    return int(_state["builds"])


def clear(*, folder: Path | None = None) -> None:
    """Forget every mesh kept in memory (and the on-disk copies in ``folder``)."""
    _entries.clear()
    if folder is not None and folder.is_dir():
        for path in folder.glob("demand-*.npz"):
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def bypassed(*, clip: str = "all") -> Iterator[None]:
    """Within the block every request builds its mesh afresh, clipping ``clip`` cells (the path before the cache).

    For benchmarks and tests that compare with the former behaviour; not thread-safe against
    jobs started elsewhere in the process meanwhile.
    """
    before = dict(_state)
    _state.update(enabled=False, clip=clip)
    try:
        yield
    finally:
        _state.update(enabled=before["enabled"], clip=before["clip"])


def _copy(points: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    out = points.copy()
    out.attrs = dict(points.attrs)
    return out


_COLUMNS = ("area_id", "population", "elderly", "elderly_estimated")


def _write(points: gpd.GeoDataFrame, path: Path) -> None:
    """Write ``points`` to ``path`` atomically (temporary file, then rename); a failure is only logged."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        xy = shapely.get_coordinates(points.geometry.values)
        arrays = {
            "x": xy[:, 0], "y": xy[:, 1],
            "point_id": points["point_id"].to_numpy(dtype=np.int64),
            "area_id": points["area_id"].astype(str).to_numpy(dtype=str),
            "population": points["population"].to_numpy(dtype=float),
            "elderly": points["elderly"].to_numpy(dtype=float),
            "elderly_estimated": points["elderly_estimated"].to_numpy(dtype=bool),
            "attrs": np.array(json.dumps(points.attrs, ensure_ascii=False, default=str)),
        }
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".tmp.npz", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                np.savez(fh, **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        copies = sorted(path.parent.glob("demand-*.npz"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in copies[MAX_DISK_COPIES:]:
            old.unlink(missing_ok=True)
    except OSError as exc:
        log.warning("demand mesh not written to %s: %s", path, exc)


def _read(path: Path) -> gpd.GeoDataFrame | None:
    """The points written by :func:`_write`, or None when there is no readable copy."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            frame = {c: data[c] for c in ("point_id", *_COLUMNS)}
            x, y, attrs = data["x"], data["y"], json.loads(str(data["attrs"]))
    except (OSError, ValueError, KeyError) as exc:
        log.warning("demand mesh copy %s unreadable, rebuilding: %s", path, exc)
        return None
    frame["area_id"] = frame["area_id"].astype(object)
    out = gpd.GeoDataFrame(frame, geometry=gpd.points_from_xy(x, y), crs=STORAGE_CRS)
    out.attrs = attrs
    return out
