"""Mobile-sales (移動販売) stops: the fewest stops within a walk of the shopping refugees (LSCP), revisable by planners."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
from scipy import sparse

from gis.access import DistanceEngine, check_threshold
from gis.crs import STORAGE_CRS, in_japan
from gis.errors import InputDataError
from gis.siting import lscp

#: Share of the shopping refugees near a stop expected to come to the truck at a visit
#: (見込み客数 = 徒歩圏の買い物弱者 × 利用率). 0.3 is a planning assumption, not a measured rate:
#: change it when the partner knows its own figure.
DEFAULT_ADOPTION = 0.3
#: A stop is proposed only where at least this many customers are expected per visit; refugees
#: in places too sparse for that are listed as not covered (``min_customers=0`` covers everyone).
DEFAULT_MIN_CUSTOMERS = 5.0
#: Walking distance to a stop (m), as in gis.shopping.
DEFAULT_WALK_M = 300.0

#: Columns of a stops frame (EPSG:4326).
STOP_COLUMNS = ["stop_id", "name", "area_id", "area_name", "refugees", "expected_customers", "status", "pinned",
                "snap_m", "geometry"]
#: Column → Japanese label.
STOP_LABELS = {
    "stop_id": "停留所ID", "name": "停留所名", "area_id": "地域ID", "area_name": "字名",
    "refugees": "徒歩圏の買い物弱者数", "expected_customers": "見込み客数（1回あたり）",
    "status": "状態", "pinned": "固定", "snap_m": "道路までの距離（m）",
}
#: Optional columns a planner may add to the stops CSV: allowed days, service windows, visits per week.
WISH_COLUMNS = ("運行曜日", "時間帯", "週回数")
#: ``status`` values.
STATUS_LABELS = {"proposed": "提案", "kept": "既存", "pinned": "固定", "moved": "移動"}


#: The point sets named in messages, in Japanese.
_WHAT_JA = {"stops": "停留所", "candidate points": "候補地", "refugee points": "買い物困難者の点"}


def _points(gdf: gpd.GeoDataFrame, what: str) -> gpd.GeoDataFrame:
    if gdf.crs is None:
        msg = f"{_WHAT_JA.get(what, what)}のデータに座標系がありません"
        raise InputDataError(
            msg, en=f"the {what} have no CRS",
            hint="座標系を指定してください（経度・緯度なら EPSG:4326）", hint_en="set one (EPSG:4326 for longitude/latitude)",
        )
    out = gdf.to_crs(STORAGE_CRS).reset_index(drop=True)
    if len(out) and not (out.geometry.geom_type == "Point").all():
        out = out.set_geometry(out.geometry.representative_point())
    return out


def _weights(points: gpd.GeoDataFrame) -> np.ndarray:
    if "refugees" in points.columns:
        w = pd.to_numeric(points["refugees"], errors="coerce").to_numpy(dtype=float)
    elif "weight" in points.columns:
        w = pd.to_numeric(points["weight"], errors="coerce").to_numpy(dtype=float)
    else:
        msg = "買い物困難者の点に refugees の列（gis.shopping.shopping_access の結果）か weight の列が必要です"
        raise InputDataError(
            msg, en="refugee points need a 'refugees' column (gis.shopping.shopping_access output) or a 'weight' column",
            hint="先に需要点で gis.shopping.shopping_access を実行してください",
            hint_en="run gis.shopping.shopping_access on the demand points first",
        )
    w = np.where(np.isfinite(w), w, 0.0)
    if (w < 0).any():
        msg = "買い物困難者の数がマイナスになっています"
        raise InputDataError(
            msg,
            en="refugee counts must not be negative",
            row=int(np.flatnonzero(w < 0)[0]) + 1,
        )
    if "refugee" in points.columns:
        w = np.where(points["refugee"].fillna(False).astype(bool).to_numpy(), w, 0.0)
    return w


def _check_lonlat(lon, lat, *, stop: str) -> tuple[float, float]:
    try:
        x, y = float(lon), float(lat)
    except (TypeError, ValueError) as exc:
        msg = f"停留所 {stop} の経度・緯度が数値ではありません（「{lon}」「{lat}」）"
        raise InputDataError(
            msg, en=f"stop {stop}: coordinates must be numbers (longitude, latitude), got {lon!r}, {lat!r}", feature=stop,
            hint="経度・緯度を数値（例: 133.62, 34.79）にしてください", hint_en="give numbers, e.g. 133.62, 34.79",
        ) from exc
    if not in_japan(x, y):
        msg = f"停留所 {stop} の位置（{x}, {y}）が日本の外です"
        raise InputDataError(
            msg, en=f"stop {stop}: ({x}, {y}) is outside Japan", feature=stop,
            hint="経度を先、緯度を後に書いてください（例: 133.62, 34.79）",
            hint_en="give longitude first, then latitude (e.g. 133.62, 34.79)",
        )
    return x, y


def _check_stops(stops: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    if stops is None or len(stops) == 0:
        return gpd.GeoDataFrame({c: [] for c in STOP_COLUMNS[:-1]}, geometry=gpd.GeoSeries([], crs=STORAGE_CRS))
    st = _points(stops, "stops")
    if "stop_id" not in st.columns:
        msg = "停留所に stop_id（停留所ID）の列がありません"
        raise InputDataError(
            msg, en="stops need a stop_id column",
            hint="tsunagu routes mobile-sales が書き出した停留所の CSV を使ってください",
            hint_en="use the stops CSV written by tsunagu routes mobile-sales",
        )
    st["stop_id"] = st["stop_id"].astype(str)
    dup = st["stop_id"].duplicated()
    if dup.any():
        sid = st.loc[dup, "stop_id"].iloc[0]
        msg = f"停留所 {sid} が2回以上出てきます"
        raise InputDataError(
            msg, en=f"stop {sid} appears more than once", feature=sid,
            hint="停留所ごとに別の停留所IDを付けてください", hint_en="give every stop its own stop_id",
        )
    for sid, g in zip(st["stop_id"], st.geometry):
        if g is None or g.is_empty:
            raise InputDataError(f"停留所 {sid} に位置がありません", en=f"stop {sid} has no position", feature=sid)
        _check_lonlat(g.x, g.y, stop=sid)
    for col, default in (("name", None), ("area_id", None), ("area_name", None), ("refugees", 0.0),
                         ("expected_customers", 0.0), ("status", "kept"), ("pinned", False), ("snap_m", np.nan)):
        if col not in st.columns:
            st[col] = default
    st["pinned"] = st["pinned"].map(_truthy)
    return st[STOP_COLUMNS]


def _truthy(v) -> bool:
    if isinstance(v, str):
        return v.strip().lower() in ("true", "1", "yes", "はい", "固定", "○")
    return bool(v) if v is not None and not (isinstance(v, float) and np.isnan(v)) else False


def _candidates(points: gpd.GeoDataFrame, weights: np.ndarray, engine: DistanceEngine,
                candidates: gpd.GeoDataFrame | None, walk: float) -> tuple[gpd.GeoDataFrame, str]:
    """Candidate stop positions: given points, road nodes near refugees (network), or the refugee points."""
    if candidates is not None:
        return _points(candidates, "candidate points"), "指定された候補地"
    graph = getattr(engine, "graph", None)
    if getattr(engine, "mode", "") == "network" and graph is not None:
        from scipy.spatial import cKDTree

        xy = np.column_stack([points.to_crs(engine.crs).geometry.x, points.to_crs(engine.crs).geometry.y])
        xy = xy[weights > 0]
        near = cKDTree(graph.xy).query_ball_point(xy, walk) if len(xy) else []
        nodes = np.unique(np.concatenate([np.asarray(n, dtype=np.int64) for n in near])) if len(near) else np.array([], int)
        cand = gpd.GeoDataFrame({"node": nodes}, geometry=gpd.points_from_xy(graph.xy[nodes, 0], graph.xy[nodes, 1]),
                                crs=engine.crs).to_crs(STORAGE_CRS)
        return cand, "道路網の交差点・節点（停留所は道路上）"
    cand = points[weights > 0].reset_index(drop=True)
    return cand, "買い物弱者のいる地点（道路網がないため道路上とは限りません）"


def _coverage(engine: DistanceEngine, points: gpd.GeoDataFrame, facilities: gpd.GeoDataFrame, walk: float):
    pairs = engine.within(points, facilities, max_distance_m=walk) if len(points) and len(facilities) else \
        pd.DataFrame({"origin": [], "facility": [], "distance_m": []})
    return sparse.csr_matrix((np.ones(len(pairs), dtype=bool),
                              (pairs["origin"].to_numpy(dtype=np.int64), pairs["facility"].to_numpy(dtype=np.int64))),
                             shape=(len(points), len(facilities)), dtype=bool), pairs


def _assign(pairs: pd.DataFrame, n_points: int, chosen: np.ndarray) -> np.ndarray:
    """Nearest chosen facility (position in ``chosen``) of every point within the walk, -1 otherwise."""
    pos = np.full(n_points, -1, dtype=np.int64)
    if len(pairs) == 0 or len(chosen) == 0:
        return pos
    index = {int(j): k for k, j in enumerate(chosen)}
    p = pairs[pairs["facility"].isin(list(index))].sort_values(["origin", "distance_m", "facility"], kind="stable")
    p = p.drop_duplicates("origin")
    pos[p["origin"].to_numpy(dtype=np.int64)] = p["facility"].map(index).to_numpy(dtype=np.int64)
    return pos


def _area_names(stops: gpd.GeoDataFrame, areas: gpd.GeoDataFrame | None, points: gpd.GeoDataFrame,
                from_point: np.ndarray | None) -> tuple[list, list]:
    ids: list = [None] * len(stops)
    names: list = [None] * len(stops)
    if areas is not None and len(areas) and len(stops):
        a = _points_or_polys(areas)
        hit = gpd.sjoin(stops[["geometry"]].reset_index(drop=True), a[["area_id", "name", "geometry"]],
                        how="left", predicate="within")
        hit = hit[~hit.index.duplicated()]
        ids = [None if pd.isna(v) else str(v) for v in hit["area_id"]]
        names = [None if pd.isna(v) else str(v) for v in hit["name"]]
        if any(n is None for n in names):  # on a boundary or just outside: nearest area
            miss = [i for i, n in enumerate(names) if n is None]
            near = gpd.sjoin_nearest(stops.iloc[miss][["geometry"]].to_crs(3857).reset_index(drop=True),
                                     a[["area_id", "name", "geometry"]].to_crs(3857), how="left")
            near = near[~near.index.duplicated()]
            for k, i in enumerate(miss):
                ids[i], names[i] = str(near["area_id"].iloc[k]), str(near["name"].iloc[k])
    elif from_point is not None and "area_id" in points.columns:
        ids = [None if i < 0 else str(points["area_id"].iloc[i]) for i in from_point]
    return ids, names


def _points_or_polys(areas: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if areas.crs is None:
        raise InputDataError(
            "小地域のデータに座標系がありません", en="the small areas have no CRS",
            hint="store.areas(level=...) で取り出した地域を使ってください", hint_en="use store.areas(level=...)",
        )
    a = areas.to_crs(STORAGE_CRS).reset_index(drop=True)
    if "area_id" not in a.columns or "name" not in a.columns:
        raise InputDataError(
            "小地域に area_id と name の列が必要です", en="small areas need area_id and name columns",
            hint="store.areas(level=...) で取り出した地域を使ってください", hint_en="use store.areas(level=...)",
        )
    return a


def stop_names(area_names: Sequence[str | None], *, taken: Iterable[str] = ()) -> list[str]:
    """Japanese stop names 「{字名}停留所」, numbered 「…停留所2」 when a 字 has more than one stop."""
    used = set(taken)
    out = []
    for n in area_names:
        base = f"{n}停留所" if n else "停留所"
        name, k = base, 1
        while name in used or (not n and k == 1):
            k += 1
            name = f"{base}{k}"
        used.add(name)
        out.append(name)
    return out


def propose_stops(
    refugee_points: gpd.GeoDataFrame,
    *,
    engine: DistanceEngine,
    walk_m: float = DEFAULT_WALK_M,
    candidates: gpd.GeoDataFrame | None = None,
    min_customers: float = DEFAULT_MIN_CUSTOMERS,
    adoption: float = DEFAULT_ADOPTION,
    areas: gpd.GeoDataFrame | None = None,
    existing: gpd.GeoDataFrame | None = None,
    time_limit_s: float = 60.0,
    max_rounds: int = 6,
) -> gpd.GeoDataFrame:
    """The fewest mobile-sales stops so that every refugee worth a stop has one within ``walk_m``.

    Location set covering (LSCP, :func:`gis.siting.lscp` on HiGHS) over candidate positions:
    road nodes near the refugees when ``engine`` is a road network (stops are then on a road),
    otherwise the refugee points themselves, or the ``candidates`` given. A candidate whose walk
    catches fewer than ``min_customers`` expected customers (refugees × ``adoption``) is not
    used; refugees that only such candidates reach are listed as too sparse for a stop. After
    solving, every refugee is counted once, at its nearest chosen stop; a stop left below
    ``min_customers`` by that count is dropped and the model solved again (at most
    ``max_rounds`` times). ``existing`` stops (see :func:`revise_stops`) are kept as they are
    and only what they leave uncovered gets new stops.

    Parameters
    ----------
    refugee_points
        :func:`gis.shopping.shopping_access` output (``refugees``, ``refugee``, ``area_id``), or
        points with a ``weight`` column. Any CRS.
    engine
        Distance engine for the walk (straight line or road network).
    walk_m
        Walk to a stop (m).
    candidates
        Candidate stop positions (points); default as above.
    min_customers
        Least expected customers per visit for a stop (0: cover every refugee).
    adoption
        Share of nearby refugees expected at a visit (:data:`DEFAULT_ADOPTION`, documented there).
    areas
        Small areas (``area_id``, ``name``) naming stops 「{字名}停留所」.
    existing
        Stops to keep (their ids, names and positions stay; customers are recounted).
    time_limit_s
        HiGHS time limit per LSCP solve.

    Returns
    -------
    GeoDataFrame
        :data:`STOP_COLUMNS` (EPSG:4326), kept stops first, then new stops by expected
        customers. ``attrs``: ``notes`` (Japanese), ``covered_refugees``, ``total_refugees``,
        ``sparse_refugees`` (too few for a stop), ``uncovered_refugees`` (nothing within the
        walk), ``point_stop`` (stop id per input point, None when not covered), ``status``
        (LSCP solver status), ``walk_m``, ``adoption``, ``min_customers``.
    """
    walk = check_threshold(walk_m, what="停留所まで歩く距離（walk_m）", what_en="walk_m")
    try:
        adoption = float(adoption)
        min_customers = float(min_customers)
    except (TypeError, ValueError) as exc:
        raise InputDataError(
            "利用率（adoption）と最低利用者数（min_customers）は数値にしてください",
            en="adoption and min_customers must be numbers",
        ) from exc
    if not (0 < adoption <= 1):
        raise InputDataError(
            f"利用率（adoption）は 0 より大きく 1 以下にしてください（指定は {adoption}）",
            en=f"adoption must be between 0 and 1, got {adoption}", hint="例: 0.3", hint_en="e.g. 0.3",
        )
    if not np.isfinite(min_customers) or min_customers < 0:
        raise InputDataError(
            f"最低利用者数（min_customers）は 0 以上にしてください（指定は {min_customers}）",
            en=f"min_customers must be 0 or more, got {min_customers}",
        )
    points = _points(refugee_points, "refugee points")
    w = _weights(points)
    cust = w * adoption
    retired = list(existing.attrs.get("deleted", [])) if existing is not None else []
    kept = _check_stops(existing).copy()
    kept.loc[kept["status"] == "proposed", "status"] = "kept"
    notes: list[str] = []
    total = float(w.sum())

    # existing stops cover first
    point_stop = np.full(len(points), -1, dtype=np.int64)  # index into final stops
    if len(kept):
        _, kpairs = _coverage(engine, points, kept, walk)
        point_stop = _assign(kpairs, len(points), np.arange(len(kept)))
    todo = (w > 0) & (point_stop < 0)

    cand, cand_kind = _candidates(points, np.where(todo, w, 0.0), engine, candidates, walk)
    sub = np.flatnonzero(todo)
    cov, pairs = _coverage(engine, points.iloc[sub].reset_index(drop=True), cand, walk)
    cust_sub = cust[sub]
    viable = np.asarray(cov.T.astype(float) @ cust_sub).ravel() >= min_customers - 1e-9 if cov.shape[1] else \
        np.zeros(0, bool)
    status = "trivial"
    chosen = np.array([], dtype=np.int64)
    no_cand = np.asarray(cov.sum(axis=1)).ravel() == 0
    for _ in range(max(1, int(max_rounds))):
        cols = np.flatnonzero(viable)
        sub_cov = cov[:, cols]
        reach = np.asarray(sub_cov.sum(axis=1)).ravel() > 0
        weights = np.where(reach, w[sub], 0.0)
        if not (weights > 0).any() or len(cols) == 0:
            chosen = np.array([], dtype=np.int64)
            break
        res = lscp(weights, sub_cov, time_limit_s=time_limit_s, check_ties=False)
        status = res.status
        chosen = cols[np.asarray(res.sites, dtype=np.int64)]
        pos = _assign(pairs[pairs["facility"].isin(chosen)], len(sub), chosen)
        got = np.bincount(pos[pos >= 0], weights=cust_sub[pos >= 0], minlength=len(chosen))
        weak = chosen[got < min_customers - 1e-9]
        if len(weak) == 0:
            break
        viable[weak] = False
    else:
        notes.append(f"見込み客数 {min_customers:g} 人未満の停留所を除く計算を {max_rounds} 回で打ち切りました")
    pos = _assign(pairs[pairs["facility"].isin(chosen)], len(sub), chosen) if len(chosen) else \
        np.full(len(sub), -1, dtype=np.int64)
    if len(chosen):
        got = np.bincount(pos[pos >= 0], weights=cust_sub[pos >= 0], minlength=len(chosen))
        keep = got >= min_customers - 1e-9
        if not keep.all():  # rounds exhausted: drop what is still too weak
            chosen = chosen[keep]
            pos = _assign(pairs[pairs["facility"].isin(chosen)], len(sub), chosen)

    # the new stops
    new = cand.iloc[chosen].reset_index(drop=True)
    new = gpd.GeoDataFrame(geometry=new.geometry.values, crs=STORAGE_CRS)
    snap = np.full(len(new), np.nan)
    graph = getattr(engine, "graph", None)
    if getattr(engine, "mode", "") == "network" and graph is not None and candidates is None:
        snap[:] = 0.0
    from_point = None
    if getattr(engine, "mode", "") != "network" and candidates is None and len(chosen):
        from_point = np.flatnonzero(np.where(todo, w, 0.0) > 0)[chosen]
    aid, aname = _area_names(new, areas, points, from_point)
    new["area_id"] = aid
    new["area_name"] = aname
    new["status"] = "proposed"
    new["pinned"] = False
    new["snap_m"] = snap
    new["stop_id"] = [f"_new{i}" for i in range(len(new))]
    new["name"] = None
    new["refugees"] = 0.0
    new["expected_customers"] = 0.0

    # count every refugee once, at its nearest stop (kept or new)
    final = pd.concat([kept, new[STOP_COLUMNS]], ignore_index=True) if len(kept) else new[STOP_COLUMNS].copy()
    final = gpd.GeoDataFrame(final, geometry="geometry", crs=STORAGE_CRS)
    point_stop = np.full(len(points), -1, dtype=np.int64)
    if len(final):
        _, fpairs = _coverage(engine, points, final, walk)
        point_stop = _assign(fpairs, len(points), np.arange(len(final)))
    served = point_stop >= 0
    final["refugees"] = np.bincount(point_stop[served], weights=w[served], minlength=len(final)) if len(final) else []
    final["expected_customers"] = final["refugees"] * adoption
    # new stops numbered after the kept ones, most expected customers first
    is_new = (final["status"] == "proposed").to_numpy()
    new_pos = np.flatnonzero(is_new)
    new_pos = new_pos[np.argsort(-final["expected_customers"].to_numpy()[new_pos], kind="stable")]
    order = np.concatenate([np.flatnonzero(~is_new), new_pos]).astype(np.int64)
    final = final.iloc[order].reset_index(drop=True)
    start = _next_number([*kept["stop_id"], *retired])  # a deleted stop's id is never reused
    k = int((~is_new).sum())
    final.loc[k:, "stop_id"] = [f"S{start + i:03d}" for i in range(len(new_pos))]
    final.loc[k:, "name"] = stop_names(list(final.loc[k:, "area_name"]),
                                      taken=[n for n in kept["name"] if isinstance(n, str)])
    final = gpd.GeoDataFrame(final, geometry="geometry", crs=STORAGE_CRS)
    inverse = np.empty(len(order), dtype=np.int64)
    inverse[order] = np.arange(len(order))
    ids = final["stop_id"].to_numpy()
    point_ids = [ids[inverse[i]] if i >= 0 else None for i in point_stop]

    covered = float(w[point_stop >= 0].sum())
    unreachable = float(w[sub][no_cand].sum()) if len(sub) else 0.0
    sparse_w = max(0.0, total - covered - unreachable)
    notes.append(f"停留所の候補：{cand_kind}；徒歩 {walk:g} m 以内の買い物弱者をカバーする最少の停留所数（集合被覆問題・HiGHS）")
    notes.append(f"見込み客数＝徒歩 {walk:g} m 圏の買い物弱者（最寄りの停留所に1回だけ数える）× 利用率 {adoption:.0%}（仮定値）")
    if getattr(engine, "mode", "") != "network":
        notes.append("道路網データがないため、徒歩距離は直線距離です（停留所は道路上とは限りません）")
    if sparse_w > 1e-9:
        notes.append(f"見込み客数が {min_customers:g} 人に届かないまばらな地域の買い物弱者 {sparse_w:,.1f} 人には停留所を置いていません"
                     "（min_customers=0 で全員をカバー）")
    if unreachable > 1e-9:
        notes.append(f"徒歩 {walk:g} m 以内に停留所の候補がない買い物弱者 {unreachable:,.1f} 人はカバーできません")
    final.attrs.update({
        "notes": notes, "covered_refugees": covered, "total_refugees": total, "sparse_refugees": sparse_w,
        "uncovered_refugees": max(0.0, total - covered), "point_stop": point_ids, "status": status,
        "walk_m": walk, "adoption": adoption, "min_customers": min_customers, "candidates": cand_kind,
    })
    return final


def _next_number(ids: Iterable[str]) -> int:
    best = 0
    for s in ids:
        digits = "".join(c for c in str(s) if c.isdigit())
        if digits:
            best = max(best, int(digits))
    return best + 1


def revise_stops(
    stops: gpd.GeoDataFrame,
    *,
    pin: Iterable[str] = (),
    move: Mapping[str, tuple[float, float]] | None = None,
    delete: Iterable[str] = (),
    engine: DistanceEngine | None = None,
) -> gpd.GeoDataFrame:
    """A planner's changes to proposed stops: pin (keep), move (new lon/lat) or delete stops.

    Moved stops are pinned; with a road-network ``engine`` they are snapped to the nearest road
    node (``snap_m`` says how far). Pass the result as ``existing=`` to :func:`propose_stops`
    to add stops only where refugees became uncovered; pass only its pinned rows
    (``stops[stops["pinned"]]``) to re-plan everything else from scratch.

    Raises
    ------
    InputDataError
        A stop id that is not in ``stops`` (named), a stop both moved and deleted, coordinates
        outside Japan, duplicated stop ids.
    """
    st = _check_stops(stops).copy()
    ids = set(st["stop_id"])
    pin, delete, move = [str(s) for s in pin], [str(s) for s in delete], {str(k): v for k, v in (move or {}).items()}
    for what, group in (("pin", pin), ("delete", delete), ("move", list(move))):
        for sid in group:
            if sid not in ids:
                verb = {"pin": "固定", "delete": "削除", "move": "移動"}[what]
                msg = f"停留所 {sid} を{verb}できません。その停留所はありません"
                raise InputDataError(
                    msg, en=f"cannot {what} stop {sid}: there is no such stop", feature=sid,
                    hint=f"停留所ID: {'、'.join(sorted(ids)[:10])}…", hint_en=f"stop ids: {', '.join(sorted(ids)[:10])}…",
                )
    both = set(delete) & (set(move) | set(pin))
    if both:
        sid = sorted(both)[0]
        raise InputDataError(
            f"停留所 {sid} が、削除と固定・移動の両方に指定されています",
            en=f"stop {sid} is both deleted and kept/moved", feature=sid,
        )
    st.loc[st["stop_id"].isin(pin), "pinned"] = True
    st.loc[st["stop_id"].isin(pin), "status"] = "pinned"
    for sid, value in move.items():
        try:
            lon, lat = value
        except (TypeError, ValueError) as exc:
            raise InputDataError(
                f"停留所 {sid} の移動先は（経度, 緯度）で指定してください（指定は「{value}」）",
                en=f"stop {sid}: move needs (longitude, latitude), got {value!r}", feature=sid,
            ) from exc
        lon, lat = _check_lonlat(lon, lat, stop=sid)
        from shapely.geometry import Point

        geom, snap = Point(lon, lat), np.nan
        graph = getattr(engine, "graph", None) if engine is not None else None
        if graph is not None and getattr(engine, "mode", "") == "network":
            from scipy.spatial import cKDTree

            p = gpd.GeoSeries([geom], crs=STORAGE_CRS).to_crs(engine.crs).iloc[0]
            d, i = cKDTree(graph.xy).query([p.x, p.y])
            geom = gpd.GeoSeries(gpd.points_from_xy([graph.xy[i, 0]], [graph.xy[i, 1]]), crs=engine.crs
                                 ).to_crs(STORAGE_CRS).iloc[0]
            snap = float(d)
        i = st.index[st["stop_id"] == sid][0]
        st.at[i, "geometry"] = geom
        st.at[i, "snap_m"] = snap
        st.at[i, "pinned"] = True
        st.at[i, "status"] = "moved"
    st = st[~st["stop_id"].isin(delete)].reset_index(drop=True)
    st.loc[st["status"] == "proposed", "status"] = "kept"
    out = gpd.GeoDataFrame(st, geometry="geometry", crs=STORAGE_CRS)
    out.attrs["deleted"] = delete
    return out


def stops_table(stops: gpd.GeoDataFrame) -> pd.DataFrame:
    """Stops as a plain table with Japanese headers (経度・緯度 columns), e.g. for CSV."""
    st = _check_stops(stops)
    return pd.DataFrame({
        "停留所ID": st["stop_id"], "停留所名": st["name"], "字名": st["area_name"], "地域ID": st["area_id"],
        "見込み客数（1回あたり）": pd.to_numeric(st["expected_customers"]).round(1),
        "徒歩圏の買い物弱者数": pd.to_numeric(st["refugees"]).round(1),
        "状態": st["status"].map(lambda s: STATUS_LABELS.get(s, s)), "固定": st["pinned"].map({True: "固定", False: ""}),
        "経度": st.geometry.x.round(6), "緯度": st.geometry.y.round(6),
    })


def read_stops_table(path) -> gpd.GeoDataFrame:
    """Stops back from a CSV written by :func:`stops_table` (Japanese or English headers; UTF-8 with or without BOM)."""
    try:
        df = pd.read_csv(path, encoding="utf-8-sig", dtype={"停留所ID": str, "stop_id": str, "地域ID": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputDataError(
            f"停留所のファイルを読めません（{exc}）", en=f"cannot read the stops file: {exc}", source=str(path)
        ) from exc
    back = {v: k for k, v in STOP_LABELS.items()}
    back.update({"経度": "lon", "緯度": "lat", "字名": "area_name"})
    df = df.rename(columns={c: back.get(c, c) for c in df.columns})
    for col in ("stop_id", "lon", "lat"):
        if col not in df.columns:
            raise InputDataError(
                f"停留所のファイルに {col} の列がありません", en=f"the stops file has no {col} column", source=str(path),
                hint="列は 停留所ID・停留所名・経度・緯度 です（tsunagu routes mobile-sales が書き出す形）",
                hint_en="columns 停留所ID, 停留所名, 経度, 緯度 (as written by tsunagu routes mobile-sales)",
            )
    status_back = {v: k for k, v in STATUS_LABELS.items()}
    if "status" in df.columns:
        df["status"] = df["status"].map(lambda s: status_back.get(s, s) if isinstance(s, str) else "kept")
    for i, row in df.iterrows():
        _check_lonlat(row["lon"], row["lat"], stop=str(row["stop_id"]))
    gdf = gpd.GeoDataFrame(df.drop(columns=["lon", "lat"]), geometry=gpd.points_from_xy(df["lon"], df["lat"]),
                           crs=STORAGE_CRS)
    out = _check_stops(gdf)
    # the planner's wishes per stop (運行曜日, 時間帯, 週回数) travel with the stops, as written
    for col in WISH_COLUMNS:
        if col in df.columns:
            out[col] = df[col].where(df[col].notna(), None).astype(object).values
    return out


__all__ = [
    "DEFAULT_ADOPTION", "DEFAULT_MIN_CUSTOMERS", "DEFAULT_WALK_M", "STOP_COLUMNS", "STOP_LABELS", "STATUS_LABELS",
    "propose_stops", "revise_stops", "stop_names", "stops_table", "read_stops_table",
]
