"""Salon coverage: distance from every demand point to the nearest salon, and covered / uncovered elderly per tier.

One use of :mod:`gis.activity_coverage` (kind ``salon``, target group 65+, several thresholds)
whose column names and labels salon jobs, maps and tests already know.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.access import DistanceEngine, check_threshold, missing_columns_error
from gis.activity_coverage import nearest_resource, reconcile, tier_sums, uncovered_share, worst_first
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.schema import TIER_TABLE_LABELS as _TIER_BASE_LABELS
from gis.tiers import CityProfile

#: Default walking thresholds (m): 500 m (MAFF's "walkable without strain") and 1 km.
DEFAULT_THRESHOLDS_M: tuple[float, ...] = (500.0, 1000.0)

#: Note repeated in every output when no salon is registered.
NO_SALONS_NOTE = "サロンが1か所も登録されていないため、すべての高齢者を「未カバー」としています"

#: Japanese labels of :func:`coverage_by_tier` columns.
TIER_TABLE_LABELS = {
    **_TIER_BASE_LABELS,
    "covered_elderly": "カバー済み高齢者",
    "uncovered_elderly": "未カバー高齢者",
    "uncovered_share": "未カバー率",
}


def covered_column(threshold_m: float) -> str:
    """Name of the covered flag column for a threshold, e.g. ``covered_500``."""
    return f"covered_{float(threshold_m):g}"


def check_thresholds(thresholds_m: Sequence[float]) -> list[float]:
    """Validate walking thresholds (each positive and finite); return them sorted, without repeats."""
    if isinstance(thresholds_m, (int, float)):
        thresholds_m = [thresholds_m]
    values = [check_threshold(t, what="サロンまで歩く距離", what_en="salon walking threshold") for t in thresholds_m]
    if not values:
        msg = "サロンまで歩く距離（メートル）を1つ以上指定してください"
        raise InputDataError(
            msg, en="give at least one salon walking threshold in metres", hint="例: 500 と 1000", hint_en="e.g. 500 and 1000"
        )
    return sorted(dict.fromkeys(values))


def salon_coverage(
    demand: gpd.GeoDataFrame,
    salons: gpd.GeoDataFrame,
    *,
    engine: DistanceEngine,
    thresholds_m: Sequence[float] = DEFAULT_THRESHOLDS_M,
) -> gpd.GeoDataFrame:
    """Add the nearest salon and covered flags to every demand point.

    Parameters
    ----------
    demand
        Demand points (``gis.demand.demand_points``): ``area_id``, ``population``, ``elderly``.
    salons
        Salon points (``resource_id``, ``name``, optionally ``is_sample``); may be empty.
    engine
        Distance engine (straight line or road network).
    thresholds_m
        Walking thresholds in metres; each must be positive.

    Returns
    -------
    GeoDataFrame
        ``demand`` plus ``salon_id``, ``salon_name`` (None when none is reachable),
        ``salon_distance_m`` (NaN when unreachable, never infinity) and ``covered_<t>`` per
        threshold. ``attrs``: ``thresholds_m``, ``notes`` (Japanese), ``engine``.
    """
    thresholds = check_thresholds(thresholds_m)
    for col in ("area_id", "elderly"):
        if col not in demand.columns:
            raise missing_columns_error(col)
    out = demand.copy()
    notes: list[str] = []
    if salons is None or len(salons) == 0:
        notes.append(NO_SALONS_NOTE)
    near = nearest_resource(out, salons, engine=engine)
    dist = near["distance_m"].to_numpy()
    out["salon_id"] = near["id"]
    out["salon_name"] = near["name"]
    out["salon_distance_m"] = dist
    for t in thresholds:
        out[covered_column(t)] = np.nan_to_num(dist, nan=np.inf) <= t
    if salons is not None and len(salons) and np.isnan(dist).any():
        notes.append(f"道路でつながらずサロンに到達できない地点が {int(np.isnan(dist).sum())} 点あり、未カバーとしました")
    out.attrs.update(demand.attrs)
    out.attrs["thresholds_m"] = thresholds
    out.attrs["notes"] = notes
    out.attrs["engine"] = getattr(engine, "description", "")
    return out


def coverage_by_tier(
    points: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    profile: CityProfile,
    threshold_m: float,
    focus_level: str = "kominkan",
) -> pd.DataFrame:
    """Population, elderly, covered and uncovered elderly for every area of every tier level.

    Demand points carry the innermost ``area_id``; outer levels are reached through the areas'
    ``parent_id`` chain, so every parent equals the sum of its children (:func:`reconcile_tiers`).

    Parameters
    ----------
    points
        Output of :func:`salon_coverage` (``area_id``, ``population``, ``elderly``,
        ``salon_distance_m``).
    areas
        Areas of every level (``area_id``, ``level``, ``name``, ``parent_id``).
    profile
        The city's tier profile (levels inner → outer).
    threshold_m
        Walking threshold in metres; a point is covered when its nearest salon is no farther.
    focus_level
        Level listed first, worst first (default 公民館区); the profile's second level when absent.

    Returns
    -------
    DataFrame
        Columns of :data:`TIER_TABLE_LABELS` (``attrs["labels"]``); ``uncovered_share`` is NaN
        for an area with no elderly. Rows: the focus level by uncovered elderly (descending),
        then the other levels inner → outer, each worst first.
    """
    threshold = check_threshold(threshold_m, what="サロンまで歩く距離", what_en="salon walking threshold")
    for col in ("area_id", "population", "elderly", "salon_distance_m"):
        if col not in points.columns:
            raise missing_columns_error(col, made_by="gis.salons.salon_coverage")
    dist = points["salon_distance_m"].to_numpy(dtype=float)
    covered = np.nan_to_num(dist, nan=np.inf) <= threshold
    elderly = points["elderly"].to_numpy(dtype=float)
    table = tier_sums(points["area_id"], {"population": points["population"].to_numpy(dtype=float), "elderly": elderly,
                                          "covered_elderly": np.where(covered, elderly, 0.0)}, areas, profile=profile)
    table["uncovered_elderly"] = (table["elderly"] - table["covered_elderly"]).clip(lower=0.0)
    table["uncovered_share"] = uncovered_share(table["uncovered_elderly"], table["elderly"])
    table = worst_first(table, profile=profile, focus_level=focus_level, column="uncovered_elderly")[list(TIER_TABLE_LABELS)]
    table.attrs["labels"] = dict(TIER_TABLE_LABELS)
    table.attrs["threshold_m"] = threshold
    table.attrs["notes"] = list(points.attrs.get("notes", []))
    return table


def reconcile_tiers(table: pd.DataFrame, *, profile: CityProfile, tolerance: float = 1e-6) -> pd.DataFrame:
    """Parents whose figures differ from the sum of their children (empty = the table reconciles).

    Parameters
    ----------
    table
        Output of :func:`coverage_by_tier` (its ``parent_id`` column links levels).
    profile
        The tier profile.
    tolerance
        Allowed absolute difference per parent (raise it for rounded tables).
    """
    return reconcile(table, profile=profile, columns=["population", "elderly", "covered_elderly", "uncovered_elderly"],
                     tolerance=tolerance)


def salon_catchments(
    salons: gpd.GeoDataFrame,
    *,
    engine: DistanceEngine,
    threshold_m: float,
    demand: gpd.GeoDataFrame | None = None,
    crs: str | None = None,
) -> gpd.GeoDataFrame:
    """Walking catchment polygon of every salon.

    Straight line: a circle of ``threshold_m``. Road network: the convex hull of the demand
    points the salon reaches within ``threshold_m`` (a small circle when it reaches fewer than
    three; empty when it reaches none).

    Returns
    -------
    GeoDataFrame
        ``salon_id``, ``name``, ``is_sample``, ``method``, geometry in EPSG:4326.
    """
    threshold = check_threshold(threshold_m, what="サロンまで歩く距離", what_en="salon walking threshold")
    crs = crs or getattr(engine, "crs", None)
    if crs is None:
        msg = "圏域を描くには平面直角座標系（メートル単位の座標系）が必要です"
        raise InputDataError(
            msg, en="a projected CRS is needed to draw catchments",
            hint="crs=gis.crs.plane_rectangular_crs(市区町村コード) を指定してください",
            hint_en="pass crs=gis.crs.plane_rectangular_crs(city_code)",
        )
    cols = {"salon_id": [], "name": [], "is_sample": [], "method": []}
    if salons is None or len(salons) == 0:
        return gpd.GeoDataFrame(cols, geometry=[], crs=STORAGE_CRS)
    proj = salons.to_crs(crs).reset_index(drop=True)
    ids = proj["resource_id"].astype(str) if "resource_id" in proj.columns else pd.Series(proj.index.astype(str))
    sample = proj["is_sample"].fillna(False).astype(bool) if "is_sample" in proj.columns else pd.Series(False, index=proj.index)
    if engine.mode == "straight" or demand is None or len(demand) == 0:
        geoms = proj.geometry.buffer(threshold, quad_segs=24)
        method = "直線距離の円"
    else:
        pairs = engine.within(demand, salons, max_distance_m=threshold)
        dxy = demand.to_crs(crs).geometry
        geoms = []
        for j in range(len(proj)):
            hit = pairs.loc[pairs["facility"] == j, "origin"].to_numpy()
            if len(hit) >= 3:
                geoms.append(shapely.convex_hull(shapely.multipoints(dxy.values[hit])))
            elif len(hit):
                geoms.append(shapely.multipoints(dxy.values[hit]).buffer(50.0))
            else:
                geoms.append(shapely.Polygon())
        geoms = gpd.GeoSeries(geoms, crs=crs)
        method = "道路距離で到達する地点の凸包"
    return gpd.GeoDataFrame(
        {"salon_id": ids.to_numpy(), "name": proj["name"].astype(str).to_numpy(), "is_sample": sample.to_numpy(),
         "method": method},
        geometry=gpd.GeoSeries(geoms, crs=crs).to_crs(STORAGE_CRS).values,
        crs=STORAGE_CRS,
    )
