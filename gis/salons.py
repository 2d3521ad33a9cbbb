"""Salon coverage: distance from every demand point to the nearest salon, and covered / uncovered elderly per tier."""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.access import DistanceEngine, check_threshold
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
    values = [check_threshold(t, what="salon walking threshold") for t in thresholds_m]
    if not values:
        msg = "give at least one salon walking threshold in metres"
        raise InputDataError(msg, hint="e.g. 500 and 1000")
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
            msg = f"demand points lack column {col!r}"
            raise InputDataError(msg, hint="build them with gis.demand.demand_points")
    out = demand.copy()
    notes: list[str] = []
    if salons is None or len(salons) == 0:
        nearest = pd.DataFrame({"facility": np.full(len(out), -1), "distance_m": np.full(len(out), np.nan),
                                "reachable": np.zeros(len(out), dtype=bool)})
        notes.append(NO_SALONS_NOTE)
        salons = gpd.GeoDataFrame({"resource_id": [], "name": []}, geometry=[], crs=STORAGE_CRS)
    else:
        nearest = engine.nearest(out, salons)
    fac = nearest["facility"].to_numpy()
    dist = nearest["distance_m"].to_numpy(dtype=float)
    dist = np.where(np.isfinite(dist) & (fac >= 0), dist, np.nan)
    ids = salons["resource_id"].astype(str).to_numpy() if "resource_id" in salons.columns else np.arange(len(salons)).astype(str)
    names = salons["name"].astype(str).to_numpy() if "name" in salons.columns else ids
    ok = fac >= 0
    out["salon_id"] = pd.Series(np.where(ok, ids[np.clip(fac, 0, None)] if len(ids) else None, None), index=out.index, dtype=object)
    out["salon_name"] = pd.Series(np.where(ok, names[np.clip(fac, 0, None)] if len(names) else None, None),
                                  index=out.index, dtype=object)
    out["salon_distance_m"] = dist
    for t in thresholds:
        out[covered_column(t)] = np.nan_to_num(dist, nan=np.inf) <= t
    if len(salons) and (~ok).any():
        notes.append(f"道路でつながらずサロンに到達できない地点が {int((~ok).sum())} 点あり、未カバーとしました")
    out.attrs.update(demand.attrs)
    out.attrs["thresholds_m"] = thresholds
    out.attrs["notes"] = notes
    out.attrs["engine"] = getattr(engine, "description", "")
    return out


def _innermost_chain(areas: pd.DataFrame, profile: CityProfile) -> dict[str, pd.Series]:
    """For every level: a Series mapping each innermost area id to its area id at that level."""
    keys = profile.keys
    base = areas[areas["level"] == keys[0]]
    chain = {keys[0]: pd.Series(base["area_id"].astype(str).to_numpy(), index=base["area_id"].astype(str).to_numpy())}
    cur = chain[keys[0]]
    for inner, outer in zip(keys[:-1], keys[1:]):
        lv = areas[areas["level"] == inner]
        parent = pd.Series(lv["parent_id"].to_numpy(), index=lv["area_id"].astype(str).to_numpy())
        outer_ids = set(areas.loc[areas["level"] == outer, "area_id"].astype(str))
        if not outer_ids:
            break
        mapped = cur.map(parent)
        bad = mapped.isna() | ~mapped.astype(str).isin(outer_ids)
        if bad.any():
            first = cur[bad].iloc[0]
            msg = (f"{int(bad.sum())} {profile.level(inner).label} areas have no parent in "
                   f"{profile.level(outer).label} (e.g. {first}); the tier table would not reconcile")
            raise InputDataError(msg, feature=str(first), hint="rebuild the tiers (tsunagu demo / import tier) so every area has a parent")
        cur = mapped.astype(str)
        chain[outer] = cur
    return chain


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
    threshold = check_threshold(threshold_m, what="salon walking threshold")
    for col in ("area_id", "population", "elderly", "salon_distance_m"):
        if col not in points.columns:
            msg = f"demand points lack column {col!r}"
            raise InputDataError(msg, hint="run gis.salons.salon_coverage first")
    dist = points["salon_distance_m"].to_numpy(dtype=float)
    covered = np.nan_to_num(dist, nan=np.inf) <= threshold
    elderly = points["elderly"].to_numpy(dtype=float)
    pts = pd.DataFrame({
        "area_id": points["area_id"].astype(str).to_numpy(),
        "population": points["population"].to_numpy(dtype=float),
        "elderly": elderly,
        "covered_elderly": np.where(covered, elderly, 0.0),
    })
    chain = _innermost_chain(areas, profile)
    base_ids = chain[profile.base.key].index
    unknown = ~pts["area_id"].isin(base_ids)
    if unknown.any():
        msg = (f"{int(unknown.sum())} demand points lie in areas that are not {profile.base.label} areas "
               f"(e.g. {pts.loc[unknown, 'area_id'].iloc[0]})")
        raise InputDataError(msg, hint="build demand points from the workspace's innermost areas")
    base_sums = pts.groupby("area_id")[["population", "elderly", "covered_elderly"]].sum()
    base_sums = base_sums.reindex(base_ids, fill_value=0.0)
    meta = areas.assign(area_id=areas["area_id"].astype(str)).set_index(["level", "area_id"])
    labels = {lv.key: lv.label for lv in profile.levels}
    frames = []
    for key, mapping in chain.items():
        sums = base_sums.groupby(mapping.reindex(base_sums.index).to_numpy()).sum()
        ids = areas.loc[areas["level"] == key, "area_id"].astype(str)
        sums = sums.reindex(ids.to_numpy(), fill_value=0.0)
        idx = pd.MultiIndex.from_arrays([[key] * len(sums), sums.index])
        frame = pd.DataFrame({
            "level": key,
            "level_label": labels[key],
            "area_id": sums.index.to_numpy(),
            "name": meta["name"].reindex(idx).to_numpy(),
            "parent_id": meta["parent_id"].reindex(idx).to_numpy(),
            "population": sums["population"].to_numpy(),
            "elderly": sums["elderly"].to_numpy(),
            "covered_elderly": sums["covered_elderly"].to_numpy(),
        })
        frames.append(frame)
    table = pd.concat(frames, ignore_index=True)
    table["uncovered_elderly"] = (table["elderly"] - table["covered_elderly"]).clip(lower=0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = table["uncovered_elderly"] / table["elderly"].where(table["elderly"] > 0)
    table["uncovered_share"] = share.astype(float)
    focus = focus_level if focus_level in profile.keys else profile.keys[1]
    order = [focus] + [k for k in profile.keys if k != focus]
    table["_o"] = table["level"].map({k: i for i, k in enumerate(order)})
    table = table.sort_values(["_o", "uncovered_elderly", "area_id"], ascending=[True, False, True], kind="stable")
    table = table.drop(columns="_o").reset_index(drop=True)[list(TIER_TABLE_LABELS)]
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
    rows = []
    cols = ["population", "elderly", "covered_elderly", "uncovered_elderly"]
    for inner, outer in zip(profile.keys[:-1], profile.keys[1:]):
        kids = table[table["level"] == inner].groupby("parent_id")[cols].sum()
        parents = table[table["level"] == outer].set_index("area_id")[cols]
        if parents.empty:
            continue
        diff = (kids.reindex(parents.index).fillna(0.0) - parents).abs()
        bad = diff[(diff > tolerance).any(axis=1)]
        for aid, row in bad.iterrows():
            rows.append({"level": outer, "area_id": aid, **{c: float(row[c]) for c in cols}})
    return pd.DataFrame(rows, columns=["level", "area_id", *cols])


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
    threshold = check_threshold(threshold_m, what="salon walking threshold")
    crs = crs or getattr(engine, "crs", None)
    if crs is None:
        msg = "a projected CRS is needed to draw catchments"
        raise InputDataError(msg, hint="pass crs=gis.crs.plane_rectangular_crs(city_code)")
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
