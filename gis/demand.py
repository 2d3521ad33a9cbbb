"""Demand: census population placed where people live (100 m mesh cells or buildings), reconcilable to the census."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import STORAGE_CRS
from gis.errors import InputDataError

#: Default mesh cell size (m): fine enough for 500 m walking thresholds in rural 字 of several km².
DEFAULT_CELL_M = 100.0

DEMAND_COLUMNS = ["point_id", "area_id", "population", "elderly", "elderly_estimated", "geometry"]


def _elderly_counts(areas: pd.DataFrame, elderly_share) -> tuple[pd.Series, pd.Series, str]:
    """65+ per area: the census figure where known, else the share given; returns (counts, estimated?, note)."""
    known = areas["pop_65plus"] if "pop_65plus" in areas.columns else pd.Series(pd.NA, index=areas.index)
    known = pd.array(known, dtype="Int64")
    estimated = pd.Series(pd.isna(known), index=areas.index)
    if not estimated.any():
        return pd.Series(np.asarray(known, dtype=float), index=areas.index), estimated, ""
    if elderly_share is None:
        missing = areas.loc[estimated, "name"].head(5).tolist()
        msg = (f"65歳以上人口が不明な地域があります（{len(estimated[estimated])} 地域: {'、'.join(missing)} …）")
        raise InputDataError(
            msg, en=f"65+ population unknown in {len(estimated[estimated])} areas: {', '.join(missing)} ...",
            hint="e-Stat の年齢別人口の表を取り込む（tsunagu import age-table）か、65歳以上の割合を指定してください"
            "（例: --elderly-share 0.41。高梁市 2020年国勢調査 11,925 / 29,072）",
            hint_en="import an e-Stat age table (tsunagu import age-table) or give a 65+ share "
            "(e.g. --elderly-share 0.41: 高梁市 2020 census 11,925 / 29,072)",
        )
    if isinstance(elderly_share, Mapping):
        share = areas["area_id"].map(elderly_share)
        if share[estimated].isna().any():
            first = areas.loc[estimated & share.isna(), "area_id"].iloc[0]
            msg = f"地域 {first} の65歳以上の割合が指定されていません"
            raise InputDataError(
                msg, en=f"no 65+ share given for area {first}", feature=str(first),
                hint="年齢別の表がない地域には、すべて割合を指定してください",
                hint_en="give a share for every area without an age table",
            )
    else:
        share = pd.Series(float(elderly_share), index=areas.index)
    if ((share[estimated] < 0) | (share[estimated] > 1)).any():
        low, high = share[estimated].min(), share[estimated].max()
        msg = f"65歳以上の割合は 0〜1 にしてください（指定は {low}〜{high}）"
        raise InputDataError(msg, en=f"a 65+ share must be between 0 and 1, got {low}–{high}")
    pop = areas["population"].astype(float)
    counts = pd.Series(np.where(estimated, (pop * share).round(), np.asarray(known, dtype=float)), index=areas.index)
    n = int(estimated.sum())
    # the caller names where a single share comes from (city census or national figure) in its own note
    label = "一律の比率" if not isinstance(elderly_share, Mapping) else "地域別の比率"
    note = (f"65歳以上人口は {n} 地域で国勢調査の年齢別集計がなく、{label}"
            f"{'' if isinstance(elderly_share, Mapping) else f'（{float(elderly_share):.1%}）'}から推計しています")
    return counts, estimated, note


def demand_points(
    small_areas: gpd.GeoDataFrame,
    *,
    crs: str,
    cell_size_m: float = DEFAULT_CELL_M,
    buildings: gpd.GeoDataFrame | None = None,
    elderly_share: float | Mapping[str, float] | None = None,
    clip: Literal["boundary", "all"] = "boundary",
) -> gpd.GeoDataFrame:
    """Disaggregate each small area's population (and 65+) to points where people live.

    Without buildings, each area is cut by a ``cell_size_m`` mesh and its people are spread over
    the cells in proportion to the area of the cell inside it; with a building layer (points or
    footprints), over the buildings inside it (an area with none falls back to the mesh).
    Counts are fractional (a cell of a rural 字 may hold 0.3 people): spreading whole people
    would pile them into whichever cells come first. The points of an area sum to its census
    count (to floating-point precision; :func:`reconcile` checks it).

    Parameters
    ----------
    small_areas
        The innermost tier: ``area_id``, ``name``, ``population``, optionally ``pop_65plus``.
    crs
        Projected CRS (JGD2011 plane-rectangular zone) the mesh is laid in.
    cell_size_m
        Mesh cell size in metres.
    buildings
        Optional building points or footprints.
    elderly_share
        65+ share (0–1) for the city, or per area id, used where the census age table is missing.
        When 65+ is unknown somewhere and no share is given, :class:`InputDataError` says so.
    clip
        ``"boundary"``: only the cells crossing an area's boundary are intersected with it (a
        cell wholly inside keeps its full area and centre); ``"all"``: every cell is intersected,
        the former, slower path with the same result (kept for the benchmark and the tests).

    Returns
    -------
    GeoDataFrame
        :data:`DEMAND_COLUMNS` in EPSG:4326; ``attrs["age_note"]`` (Japanese) says where 65+ was
        estimated (empty when the census gave it everywhere); ``attrs["cell_size_m"]``.
    """
    if cell_size_m <= 0:
        msg = f"メッシュの大きさは正の数で指定してください（{cell_size_m} が渡されました）"
        raise InputDataError(msg, en=f"the mesh cell size must be a positive number (got {cell_size_m})")
    if clip not in ("boundary", "all"):
        msg = f"clip は 'boundary' か 'all' を指定してください（{clip!r} が渡されました）"
        raise InputDataError(msg, en=f"clip must be 'boundary' or 'all' (got {clip!r})")
    areas = small_areas.reset_index(drop=True)
    if areas["population"].isna().any():
        first = areas.loc[areas["population"].isna(), "name"].iloc[0]
        msg = f"{first} の人口が分かりません"
        raise InputDataError(
            msg,
            en=f"the population of {first} is unknown",
            feature=str(first),
            hint="人口の配分には、すべての小地域に国勢調査の人口が要ります",
            hint_en="placing people needs the census population of every small area",
        )
    elderly, estimated, note = _elderly_counts(areas, elderly_share)
    proj = areas.to_crs(crs)
    bpts = None
    if buildings is not None and len(buildings):
        bpts = buildings.to_crs(crs).geometry.representative_point()
        btree = shapely.STRtree(bpts.values)

    ids, pops, olds, est, geoms = [], [], [], [], []
    for i, row in enumerate(proj.itertuples()):
        geom = row.geometry
        pts = weights = None
        if bpts is not None:
            hit = btree.query(geom, predicate="contains")
            if len(hit):
                pts = bpts.values[hit]
                weights = np.ones(len(hit))
        if pts is None:
            pts, weights = _mesh_cells(geom, cell_size_m, clip=clip)
        share = np.asarray(weights, dtype=float) / float(np.sum(weights))
        pop = float(row.population) * share
        old = float(elderly.iloc[i]) * share
        keep = np.ones(len(share), dtype=bool)
        ids += [row.area_id] * int(keep.sum())
        pops.append(pop[keep])
        olds.append(old[keep])
        est += [bool(estimated.iloc[i])] * int(keep.sum())
        geoms.append(np.asarray(pts)[keep])
    geometry = gpd.GeoSeries(np.concatenate(geoms) if geoms else [], crs=crs).to_crs(STORAGE_CRS)
    out = gpd.GeoDataFrame(
        {
            "point_id": np.arange(len(ids)),
            "area_id": ids,
            "population": np.concatenate(pops) if pops else np.array([], dtype=float),
            "elderly": np.concatenate(olds) if olds else np.array([], dtype=float),
            "elderly_estimated": est,
        },
        geometry=geometry.values,
        crs=STORAGE_CRS,
    )
    out.attrs["age_note"] = note
    out.attrs["cell_size_m"] = cell_size_m
    out.attrs["method"] = "buildings" if bpts is not None else f"mesh {cell_size_m:g} m"
    return out


def _mesh_cells(geom, cell: float, *, clip: str = "boundary") -> tuple[np.ndarray, np.ndarray]:
    """Centres (points inside the polygon) and in-polygon areas of the mesh cells covering ``geom``.

    A cell wholly inside the polygon keeps its full area and its centre; only the cells crossing
    the boundary are intersected with it (``clip="all"`` intersects every cell, the former path).
    """
    minx, miny, maxx, maxy = geom.bounds
    x0, y0 = np.floor(minx / cell) * cell, np.floor(miny / cell) * cell
    xs = np.arange(x0, maxx, cell)
    ys = np.arange(y0, maxy, cell)
    gx, gy = np.meshgrid(xs, ys)
    boxes = shapely.box(gx.ravel(), gy.ravel(), gx.ravel() + cell, gy.ravel() + cell)
    shapely.prepare(geom)
    hit = shapely.intersects(geom, boxes)
    boxes = boxes[hit]
    if len(boxes) == 0:
        return np.array([geom.representative_point()]), np.array([1.0])
    centres = shapely.centroid(boxes)
    if clip == "all":
        inside = shapely.intersection(boxes, geom)
        weights = shapely.area(inside)
        # a cell centre outside the area (edge cells) is moved to a point inside its clipped part
        outside = ~shapely.contains(geom, centres)
        if outside.any():
            centres[outside] = shapely.point_on_surface(inside[outside])
    else:
        weights = shapely.area(boxes)
        edge = ~shapely.contains(geom, boxes)
        if edge.any():
            inside = shapely.intersection(boxes[edge], geom)
            weights[edge] = shapely.area(inside)
            outside = ~shapely.contains(geom, centres[edge])
            if outside.any():
                moved = centres[edge]
                moved[outside] = shapely.point_on_surface(inside[outside])
                centres[edge] = moved
    # slivers left by reprojecting a boundary onto the mesh (< 1 m² of a 100 m cell) hold nobody
    ok = weights > cell * cell * 1e-4
    if not ok.any():
        ok = weights > 0
    return centres[ok], weights[ok]


def reconcile(points: pd.DataFrame, small_areas: pd.DataFrame) -> pd.DataFrame:
    """Compare demand points with census counts per area: rows where they differ (empty = reconciles)."""
    got = points.groupby("area_id")["population"].sum()
    want = small_areas.set_index("area_id")["population"].astype("Int64")
    diff = pd.DataFrame({"census": want.astype(float), "points": got.reindex(want.index).fillna(0.0)})
    return diff[(diff["census"] - diff["points"]).abs() > 1e-6 * diff["census"].clip(lower=1)]
