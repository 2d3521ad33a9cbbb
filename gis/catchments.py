"""Station catchments (担当圏域): which areas each station serves, its workload, and its polygon."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd

from gis.access import DistanceEngine
from gis.crs import STORAGE_CRS, measuring_crs
from gis.errors import InputDataError
from gis.tiers import CityProfile

#: Workload column → Japanese label.
WORKLOAD_LABELS = {
    "station_id": "拠点ID",
    "name": "拠点名",
    "kind": "種別",
    "is_sample": "サンプルデータ",
    "n_areas": "担当する町丁・字の数",
    "population": "人口",
    "elderly": "65歳以上人口",
    "single_elderly_households": "高齢単身世帯数",
    "uncovered_elderly": "未カバーの高齢者",
    "area_km2": "面積（km²）",
    "farthest_m": "最も遠い世帯までの距離（m）",
}

#: Assignment column → Japanese label.
ASSIGNMENT_LABELS = {
    "area_id": "地域ID",
    "name": "名称",
    "station_id": "拠点ID",
    "station_name": "拠点名",
    "claimed_by": "担当を申告した拠点",
    "distance_m": "拠点までの距離（m）",
}


def area_ancestors(areas: pd.DataFrame, *, profile: CityProfile) -> pd.DataFrame:
    """Every innermost area and its area at each level, following ``parent_id``.

    Returns
    -------
    DataFrame
        One row per innermost area; one column per level key (inner to outer) holding the id of
        the area it lies in (None where the chain breaks).
    """
    parent = {(str(lv), str(a)): (None if p is None or pd.isna(p) else str(p))
              for lv, a, p in zip(areas["level"], areas["area_id"], areas["parent_id"])}
    base = areas.loc[areas["level"] == profile.base.key, "area_id"].astype(str).tolist()
    cols = {profile.base.key: base}
    cur = base
    for child, outer in zip(profile.levels[:-1], profile.levels[1:]):
        cur = [parent.get((child.key, c)) if c is not None else None for c in cur]
        cols[outer.key] = cur
    return pd.DataFrame(cols)


def _expand(ids: list[str], anc: pd.DataFrame, profile: CityProfile) -> tuple[list[str], list[str]]:
    """Innermost areas under each id (an id of any level, innermost match first), and the ids found nowhere."""
    base = anc[profile.base.key].to_numpy()
    index = {}
    for lv in reversed(profile.levels):  # inner levels overwrite outer ones on a shared id
        for aid, members in pd.Series(base).groupby(anc[lv.key].to_numpy()):
            index[str(aid)] = members.tolist()
    members: list[str] = []
    unknown: list[str] = []
    for aid in ids:
        if aid in index:
            members += index[aid]
        else:
            unknown.append(aid)
    return list(dict.fromkeys(members)), unknown


def _stations(stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    if stations is None or len(stations) == 0:
        msg = "地域を割り当てる拠点がありません"
        raise InputDataError(
            msg, en="no stations to assign areas to",
            hint="拠点を取り込む（tsunagu import stations）か、tsunagu demo で見本の拠点を入れてください",
            hint_en="import stations (tsunagu import stations) or run tsunagu demo for sample stations",
        )
    if stations.crs is None:
        msg = "拠点のレイヤーに座標系がありません"
        raise InputDataError(
            msg, en="the station layer has no CRS",
            hint="座標系を指定してください（経度・緯度なら EPSG:4326）", hint_en="set one (EPSG:4326 for longitude/latitude)",
        )
    st = stations.to_crs(STORAGE_CRS).reset_index(drop=True)
    if "station_id" not in st.columns:
        msg = "拠点に station_id（拠点ID）の列がありません"
        raise InputDataError(msg, en="stations lack a station_id column")
    if "name" not in st.columns:
        st["name"] = st["station_id"]
    return st


def assign_catchments(
    areas: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    *,
    profile: CityProfile,
    engine: DistanceEngine | None = None,
    demand: gpd.GeoDataFrame | None = None,
    by: str = "given",
) -> gpd.GeoDataFrame:
    """Assign every innermost area (and demand point) to a station.

    ``by="given"`` uses each station's ``area_ids`` (ids of any level: a 中学校区 id stands for all
    innermost areas in it). Areas no station claims, areas two stations claim (they go to the
    first station listed) and ids that match no area are reported by name in ``attrs``.
    ``by="nearest"`` assigns each innermost area — or, with ``demand``, each demand point (the
    area then goes to the station holding most of its people) — to the station nearest by the
    engine's travel distance.

    Parameters
    ----------
    areas
        Areas of every level.
    stations
        Stations (:data:`gis.schema.STATION_COLUMNS`).
    profile
        The city's tiers.
    engine
        Distance engine (required for ``by="nearest"``).
    demand
        Demand points (optional).
    by
        ``"given"`` or ``"nearest"``.

    Returns
    -------
    GeoDataFrame
        Innermost areas: ``area_id``, ``name``, ``station_id`` (None when unassigned),
        ``station_name``, ``claimed_by`` (list), ``distance_m`` (nearest only; NaN when
        unreachable), geometry (EPSG:4326). ``attrs``: ``by``, ``unclaimed`` (names),
        ``double_claimed`` (``[{"area_id", "name", "stations"}]``), ``unknown_ids``
        (``{station name: [ids]}``), ``unreachable`` (names), ``points`` (demand with
        ``station_id``, or None), ``notes`` (Japanese), ``labels``.
    """
    if by not in ("given", "nearest"):
        msg = f"割り当て方（by）は 'given' か 'nearest' にしてください（指定は「{by}」）"
        raise InputDataError(
            msg, en=f"by must be 'given' or 'nearest', got {by!r}",
            hint="'given' は拠点ごとに決めた担当地域、'nearest' は移動距離のいちばん近い拠点です",
            hint_en="'given' uses the stations' assigned areas; 'nearest' the travel distance",
        )
    st = _stations(stations)
    base = areas[areas["level"] == profile.base.key].to_crs(STORAGE_CRS).reset_index(drop=True)
    if len(base) == 0:
        msg = f"いちばん内側の層「{profile.base.label}」の地域がありません"
        raise InputDataError(
            msg, en=f"no areas of the innermost level {profile.base.key!r}",
            hint="先に国勢調査の小地域を取り込んでください", hint_en="import the census small areas first",
        )
    names = dict(zip(st["station_id"].astype(str), st["name"].astype(str)))
    out = gpd.GeoDataFrame(
        {"area_id": base["area_id"].astype(str), "name": base["name"].astype(str)},
        geometry=base.geometry.values, crs=STORAGE_CRS,
    )
    notes: list[str] = []
    unclaimed: list[str] = []
    double: list[dict] = []
    unknown_ids: dict[str, list[str]] = {}
    unreachable: list[str] = []
    points = None
    if by == "given":
        anc = area_ancestors(areas, profile=profile)
        claims: dict[str, list[str]] = {a: [] for a in out["area_id"]}
        ids_col = st["area_ids"] if "area_ids" in st.columns else pd.Series([[]] * len(st))
        for sid, ids in zip(st["station_id"].astype(str), ids_col):
            ids = [str(i) for i in (ids if isinstance(ids, (list, tuple)) else [])]
            members, unknown = _expand(ids, anc, profile)
            if unknown:
                unknown_ids[names[sid]] = unknown
            for m in members:
                if m in claims and sid not in claims[m]:
                    claims[m].append(sid)
        out["claimed_by"] = [claims[a] for a in out["area_id"]]
        out["station_id"] = [c[0] if c else None for c in out["claimed_by"]]
        out["distance_m"] = np.nan
        unclaimed = out.loc[out["station_id"].isna(), "name"].tolist()
        double = [{"area_id": a, "name": n, "stations": [names[s] for s in c]}
                  for a, n, c in zip(out["area_id"], out["name"], out["claimed_by"]) if len(c) > 1]
        if unclaimed:
            notes.append(f"どの拠点も担当していない地域が {len(unclaimed)} あります: {_names(unclaimed)}")
        if double:
            notes.append(
                f"2つ以上の拠点が担当している地域が {len(double)} あります（最初に挙げた拠点に数えています）: "
                + "、".join(f"{d['name']}（{'・'.join(d['stations'])}）" for d in double[:10])
                + (" …" if len(double) > 10 else "")
            )
        for sname, ids in unknown_ids.items():
            notes.append(f"{sname} の担当地域IDのうち {len(ids)} 件がどの地域にもありません: {'、'.join(ids[:5])}")
        if demand is not None:
            points = demand.to_crs(STORAGE_CRS).reset_index(drop=True).copy()
            points["station_id"] = points["area_id"].astype(str).map(dict(zip(out["area_id"], out["station_id"])))
    else:
        if engine is None:
            msg = "地域をいちばん近い拠点に割り当てるには、距離の計算方法（distance engine）が必要です"
            raise InputDataError(
                msg, en="assigning areas to the nearest station needs a distance engine",
                hint="engine=StraightLineEngine(crs=...) か道路網の計算方法を指定してください",
                hint_en="pass engine=StraightLineEngine(crs=...) or a network engine",
            )
        out["claimed_by"] = [[] for _ in range(len(out))]
        if demand is None:
            origins = gpd.GeoDataFrame(geometry=base.to_crs(measuring_crs(base)).representative_point().to_crs(STORAGE_CRS).values,
                                       crs=STORAGE_CRS)
            near = engine.nearest(origins, st)
            ok = (near["facility"].to_numpy() >= 0) & np.isfinite(near["distance_m"].to_numpy(dtype=float))
            sid = st["station_id"].astype(str).to_numpy()
            out["station_id"] = [sid[f] if o else None for f, o in zip(near["facility"].to_numpy(), ok)]
            out["distance_m"] = np.where(ok, near["distance_m"].to_numpy(dtype=float), np.nan)
        else:
            points = demand.to_crs(STORAGE_CRS).reset_index(drop=True).copy()
            near = engine.nearest(points, st)
            ok = (near["facility"].to_numpy() >= 0) & np.isfinite(near["distance_m"].to_numpy(dtype=float))
            sid = st["station_id"].astype(str).to_numpy()
            points["station_id"] = [sid[f] if o else None for f, o in zip(near["facility"].to_numpy(), ok)]
            points["station_distance_m"] = np.where(ok, near["distance_m"].to_numpy(dtype=float), np.nan)
            held = points.dropna(subset=["station_id"]).groupby(["area_id", "station_id"])["population"].sum()
            major = held.sort_values(ascending=False, kind="stable").reset_index().drop_duplicates("area_id")
            out["station_id"] = out["area_id"].map(dict(zip(major["area_id"].astype(str), major["station_id"])))
            out["station_id"] = out["station_id"].astype(object).where(out["station_id"].notna(), None)
            dmax = points.groupby("area_id")["station_distance_m"].max()
            out["distance_m"] = out["area_id"].map(dmax).astype(float)
            split = points.dropna(subset=["station_id"]).groupby("area_id")["station_id"].nunique()
            n_split = int((split > 1).sum())
            if n_split:
                notes.append(f"{n_split} 地域は中の世帯の最寄り拠点が分かれています（人口の多い側の拠点に塗り分けています）")
        unreachable = out.loc[out["station_id"].isna(), "name"].tolist()
        if unreachable:
            notes.append(f"道路網でどの拠点にも行けない地域が {len(unreachable)} あります: {_names(unreachable)}")
        notes.append(f"各地域を{engine.description}で最も近い拠点に割り当てています")
    for col in ("station_id",):
        out[col] = pd.Series([None if v is None or pd.isna(v) else str(v) for v in out[col]], index=out.index, dtype=object)
    out["station_name"] = pd.Series([names.get(s) if s is not None else None for s in out["station_id"]],
                                    index=out.index, dtype=object)
    out = out[["area_id", "name", "station_id", "station_name", "claimed_by", "distance_m", "geometry"]]
    out.attrs = {
        "by": by, "unclaimed": unclaimed, "double_claimed": double, "unknown_ids": unknown_ids,
        "unreachable": unreachable, "points": points, "notes": notes, "labels": dict(ASSIGNMENT_LABELS),
    }
    return out


def _names(names: list[str], k: int = 10) -> str:
    return "、".join(names[:k]) + (" …" if len(names) > k else "")


def _uncovered_values(uncovered: pd.DataFrame, column: str | None) -> tuple[pd.DataFrame, str]:
    if column is None:
        for c in ("uncovered_elderly", "uncovered", "remaining", "refugees"):
            if c in uncovered.columns:
                column = c
                break
    if column is None or column not in uncovered.columns:
        wanted = column or "uncovered_elderly / remaining / refugees"
        msg = f"届いていない高齢者の表に列「{wanted}」がありません"
        raise InputDataError(
            msg, en=f"the uncovered-elderly table has no column {wanted!r}",
            hint="サロンの到達状況か買い物困難者の点の表と、その列名を指定してください",
            hint_en="give a salon-coverage or shopping-refugee point table and its column name",
        )
    return uncovered, column


def station_workload(
    assignment: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    *,
    areas: gpd.GeoDataFrame,
    engine: DistanceEngine | None = None,
    demand: gpd.GeoDataFrame | None = None,
    uncovered: pd.DataFrame | None = None,
    uncovered_column: str | None = None,
    municipality_code: str | None = None,
) -> pd.DataFrame:
    """Workload of each station: people, elderly, single-elderly households, uncovered elderly, area, reach.

    Parameters
    ----------
    assignment
        :func:`assign_catchments` result (its ``attrs["points"]`` is used when it holds demand).
    stations
        The stations.
    areas
        Areas of every level (innermost ones carry census population and
        ``single_elderly_households``).
    engine
        Distance engine for the farthest household (None: not measured).
    demand
        Demand points, when the assignment was made without them.
    uncovered
        Optional point table (``point_id`` matching the demand) of uncovered elderly: salon
        coverage or shopping refugees; ``uncovered_column`` names the count column (auto:
        ``uncovered_elderly``, ``uncovered``, ``remaining``, ``refugees``).
    municipality_code
        Chooses the plane-rectangular zone areas are measured in.

    Returns
    -------
    DataFrame
        One row per station (:data:`WORKLOAD_LABELS` in ``attrs["labels"]``): ``n_areas``,
        ``population``, ``elderly``, ``single_elderly_households`` (None when unknown for any of
        its areas), ``uncovered_elderly`` (None without the table), ``area_km2``, ``farthest_m``
        (None without demand or engine, or when nothing is reachable); plus an 「未割当」 row
        when some areas have no station. ``attrs["notes"]`` says what is unknown.
    """
    st = _stations(stations)
    notes: list[str] = []
    base_ids = assignment["area_id"].astype(str)
    inner = areas[areas["area_id"].astype(str).isin(set(base_ids))]
    inner = inner.drop_duplicates("area_id").set_index(inner["area_id"].astype(str).drop_duplicates())
    points = assignment.attrs.get("points")
    if points is None and demand is not None:
        points = demand.to_crs(STORAGE_CRS).reset_index(drop=True).copy()
        points["station_id"] = points["area_id"].astype(str).map(dict(zip(base_ids, assignment["station_id"])))
    crs = measuring_crs(assignment, municipality_code=municipality_code)
    km2 = pd.Series(assignment.to_crs(crs).area.to_numpy() / 1e6, index=base_ids.to_numpy())
    sid_of_area = pd.Series(assignment["station_id"].to_numpy(), index=base_ids.to_numpy())

    unc = None
    if uncovered is not None:
        unc, col = _uncovered_values(uncovered, uncovered_column)
        if points is None:
            msg = "届いていない高齢者は需要点ごとに数えます。需要点も指定してください"
            raise InputDataError(
                msg,
                en="uncovered elderly are counted per demand point: give the demand points too",
            )
        key = "point_id" if "point_id" in unc.columns and "point_id" in points.columns else None
        if key is None:
            if len(unc) != len(points):
                msg = "届いていない高齢者の表に point_id の列がなく、行数も需要点の数と違います"
                raise InputDataError(
                    msg, en="the uncovered-elderly table has no point_id and a different number of rows than the demand"
                )
            values = pd.to_numeric(unc[col], errors="coerce").to_numpy(dtype=float)
        else:
            values = points[key].map(unc.set_index(key)[col]).astype(float).fillna(0.0).to_numpy()
        unc = pd.Series(values).groupby(points["station_id"].fillna("__none__").to_numpy()).sum()

    single_col = "single_elderly_households"
    rows = []
    groups = list(st["station_id"].astype(str))
    if sid_of_area.isna().any():
        groups.append(None)
    unknown_single = False
    for sid in groups:
        mask = sid_of_area.isna() if sid is None else (sid_of_area == sid)
        ids = sid_of_area.index[mask.to_numpy()]
        part = inner.reindex(ids)
        row = {
            "station_id": sid if sid is not None else "",
            "name": st.loc[st["station_id"].astype(str) == sid, "name"].iloc[0] if sid is not None else "未割当",
            "kind": st.loc[st["station_id"].astype(str) == sid, "kind"].iloc[0] if sid is not None and "kind" in st.columns else "",
            "is_sample": bool(st.loc[st["station_id"].astype(str) == sid, "is_sample"].iloc[0])
            if sid is not None and "is_sample" in st.columns else False,
            "n_areas": int(len(ids)),
        }
        if points is not None:
            pmask = points["station_id"].isna() if sid is None else (points["station_id"] == sid)
            pp = points[pmask.to_numpy()]
            row["population"] = float(pp["population"].sum())
            row["elderly"] = float(pp["elderly"].sum()) if "elderly" in pp.columns else None
        else:
            pop = pd.to_numeric(part["population"], errors="coerce") if "population" in part else pd.Series(dtype=float)
            row["population"] = float(pop.sum()) if pop.notna().all() else None
            old = pd.to_numeric(part["pop_65plus"], errors="coerce") if "pop_65plus" in part else pd.Series([np.nan])
            row["elderly"] = float(old.sum()) if len(old) and old.notna().all() else None
        if single_col in part.columns and len(part) and part[single_col].notna().all():
            row[single_col] = float(pd.to_numeric(part[single_col]).sum())
        else:
            row[single_col] = None
            unknown_single |= bool(len(part))
        row["uncovered_elderly"] = None if unc is None else float(unc.get(sid if sid is not None else "__none__", 0.0))
        row["area_km2"] = float(km2.reindex(ids).sum())
        row["farthest_m"] = None
        if points is not None and engine is not None and sid is not None:
            pp = points[(points["station_id"] == sid).to_numpy()]
            pp = pp[pd.to_numeric(pp["population"], errors="coerce").fillna(0) > 0]
            if len(pp):
                near = engine.nearest(pp, st[st["station_id"].astype(str) == sid])
                d = near["distance_m"].to_numpy(dtype=float)
                d = d[np.isfinite(d)]
                if len(d):
                    row["farthest_m"] = float(d.max())
                if len(d) < len(pp):
                    notes.append(f"{row['name']}: {len(pp) - len(d):,} 地点は道路網で拠点から行けません（最遠距離に含めていません）")
        rows.append(row)
    out = pd.DataFrame(rows, columns=list(WORKLOAD_LABELS))
    for col in ("population", "elderly", "single_elderly_households", "uncovered_elderly", "farthest_m"):
        out[col] = out[col].astype(object).where(out[col].notna(), None)  # unknown stays None, never NaN or 0
    if unknown_single:
        notes.append("高齢単身世帯数は国勢調査の世帯集計を取り込んでいないため不明です（空欄）")
    if uncovered is None:
        notes.append("未カバーの高齢者は、サロンのカバー状況または買い物弱者の表を渡したときに数えます")
    if points is None:
        notes.append("需要点がないため、最も遠い世帯までの距離は計算していません（人口・65歳以上は国勢調査の地域値）")
    elif engine is not None:
        notes.append(f"最も遠い世帯までの距離は{engine.description}で、人の住む100 mメッシュ（または建物）までの最大値です")
    if (out["station_id"] == "").any():
        notes.append("「未割当」はどの拠点も担当していない地域の合計です")
    out.attrs = {"labels": dict(WORKLOAD_LABELS), "notes": notes}
    return out


def catchment_polygons(assignment: gpd.GeoDataFrame, stations: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Dissolve the innermost areas of each station into its catchment polygon.

    Returns
    -------
    GeoDataFrame
        ``station_id``, ``name``, ``n_areas``, geometry (EPSG:4326), one row per station with areas
        (unassigned areas are left out).
    """
    st = _stations(stations)
    have = assignment[assignment["station_id"].notna()]
    if len(have) == 0:
        return gpd.GeoDataFrame({"station_id": [], "name": [], "n_areas": []}, geometry=[], crs=STORAGE_CRS)
    dissolved = have[["station_id", "geometry"]].dissolve(by="station_id").reset_index()
    counts = have.groupby("station_id").size()
    names = dict(zip(st["station_id"].astype(str), st["name"].astype(str)))
    out = gpd.GeoDataFrame(
        {
            "station_id": dissolved["station_id"].astype(str),
            "name": dissolved["station_id"].map(names),
            "n_areas": dissolved["station_id"].map(counts).astype(int),
        },
        geometry=dissolved.geometry.make_valid().values,
        crs=STORAGE_CRS,
    )
    order = {s: i for i, s in enumerate(st["station_id"].astype(str))}
    return out.sort_values("station_id", key=lambda s: s.map(order)).reset_index(drop=True)
