"""Coverage of any activity: the people it is for (65+, 75+, children, all) within walking distance of it, per tier."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from gis import kinds as _kinds
from gis.access import DistanceEngine, check_threshold, missing_columns_error
from gis.errors import InputDataError
from gis.schema import TIER_TABLE_LABELS as _TIER_BASE_LABELS
from gis.tiers import CityProfile

#: Default walking threshold (m) of a kind the user gives none for: 1 km, the outer salon threshold.
DEFAULT_THRESHOLD_M = 1000.0


@dataclass(frozen=True)
class TargetGroup:
    """Whom an activity serves, and where a workspace keeps their number.

    Attributes
    ----------
    key
        One of :data:`gis.kinds.SERVES` (``"65+"``, ``"75+"``, ``"children"``, ``"all"``).
    label
        Japanese name shown in tables, notes and errors.
    column
        The area column holding the count (``pop_65plus`` …), or None when the workspace never
        holds one (children: no age table Tsunagu imports gives 0–14).
    """

    key: str
    label: str
    column: str | None


#: The target groups, keyed like ``serves`` in gis/kinds.toml.
TARGET_GROUPS: dict[str, TargetGroup] = {
    "65+": TargetGroup("65+", "65歳以上", "pop_65plus"),
    "75+": TargetGroup("75+", "75歳以上", "pop_75plus"),
    "children": TargetGroup("children", "子ども（0〜14歳）", None),
    "all": TargetGroup("all", "全住民", "population"),
}
if set(TARGET_GROUPS) != set(_kinds.SERVES):  # the groups kinds.toml may name are the groups counted here
    msg = f"TARGET_GROUPS {sorted(TARGET_GROUPS)} must be gis.kinds.SERVES {sorted(_kinds.SERVES)}"
    raise RuntimeError(msg)


def target_group(key: str) -> TargetGroup:
    """Return the :class:`TargetGroup` for ``key``; an unknown key is an :class:`InputDataError` listing the known ones."""
    if key not in TARGET_GROUPS:
        known = "、".join(f"{k}（{g.label}）" for k, g in TARGET_GROUPS.items())
        msg = f"対象 {key!r} はありません。次のいずれかを指定してください: {known}"
        raise InputDataError(msg, en=f"no target group {key!r}; give one of: {known}", feature="target")
    return TARGET_GROUPS[key]


def default_target(kinds: Sequence[str]) -> str | None:
    """The target group the kinds serve (``serves`` in gis/kinds.toml) when they all agree, else None."""
    served = {_kinds.resource_kinds()[k].serves for k in kinds if k in _kinds.resource_kinds()}
    return served.pop() if len(served) == 1 and None not in served else None


@dataclass(frozen=True)
class TargetCounts:
    """The target group's number per innermost area and where it came from.

    Attributes
    ----------
    counts
        Area id → people of the target group.
    group
        The :class:`TargetGroup`.
    column
        The area column used (None when every figure came from ``share``).
    share
        The share of the population used where the column had no figure (None if unused).
    estimated_areas
        How many areas were estimated from ``share``.
    basis
        Japanese: which column or share the figures are (every output repeats it).
    """

    counts: pd.Series
    group: TargetGroup
    column: str | None
    share: float | None
    estimated_areas: int
    basis: str


def target_counts(small_areas: pd.DataFrame, *, target: str, share: float | None = None,
                  share_basis: str = "指定の比率") -> TargetCounts:
    """People of the target group in every innermost area: the workspace's figure, else ``share`` × population.

    Parameters
    ----------
    small_areas
        The innermost tier (``area_id``, ``name``, ``population`` and the group's column when present).
    target
        ``"65+"``, ``"75+"``, ``"children"`` or ``"all"``.
    share
        The group's share of the population (0–1), used for the areas without a figure.
    share_basis
        Where the share comes from, as the outputs say it (default 「指定の比率」).

    Raises
    ------
    InputDataError
        Some area has no figure for the group and no share is given (the message says which
        column is missing and how to give a share), or the share is outside 0–1.
    """
    group = target_group(target)
    if share is not None and not (0.0 <= float(share) <= 1.0):
        msg = f"対象の比率は 0〜1 で指定してください（{share!r} が渡されました）"
        raise InputDataError(
            msg,
            en=f"the target share must be between 0 and 1 (got {share!r})",
            feature="share",
            hint="例: 子ども（0〜14歳）なら 0.11",
            hint_en="e.g. 0.11 for children (0–14)",
        )
    areas = small_areas.reset_index(drop=True)
    ids = areas["area_id"].astype(str).to_numpy()
    pop = pd.to_numeric(areas["population"], errors="coerce").astype(float)
    if group.column is not None and group.column in areas.columns:
        known = pd.to_numeric(areas[group.column], errors="coerce").astype(float)
    else:
        known = pd.Series(np.nan, index=areas.index)
    missing = known.isna()
    if missing.any() and share is None:
        where = (f"列 {group.column}（{group.label}人口）が {int(missing.sum())} 地域で空です"
                 if group.column is not None and group.column in areas.columns
                 else f"{group.label}の人数を持つ列がありません")
        names = "、".join(areas.loc[missing, "name"].astype(str).head(3))
        msg = (f"ワークスペースに{group.label}の人数がありません（{where}。例: {names}）。"
               f"人口に対する{group.label}の比率を指定してください")
        hint = "例: --share 0.11（CLI）、share=0.11（API）" + (
            "。または tsunagu import age-table で年齢別人口を取り込んでください" if group.column else "")
        raise InputDataError(
            msg,
            en=f"the workspace has no counts of the target group {group.key} (e.g. {names}); give its share of the population",
            feature="share",
            hint=hint,
            hint_en="e.g. --share 0.11 (CLI), share=0.11 (API)" + ("; or import age counts with tsunagu import age-table" if group.column else ""),
        )
    counts = pd.Series(np.where(missing, pop * (share or 0.0), known), index=ids, dtype=float)
    n_est = int(missing.sum())
    column = group.column if n_est < len(areas) else None
    if n_est == 0:
        basis = f"{group.label}の人数は列 {group.column} の値です"
    elif column is None:
        basis = f"{group.label}の人数は人口 × 比率 {float(share):.1%}（{share_basis}）で推計しています"
    else:
        basis = (f"{group.label}の人数は列 {group.column} の値です（{n_est} 地域は値がなく、"
                 f"人口 × 比率 {float(share):.1%}（{share_basis}）で推計）")
    return TargetCounts(counts=counts, group=group, column=column, share=None if n_est == 0 else float(share),
                        estimated_areas=n_est, basis=basis)


def target_weights(demand: pd.DataFrame, counts: TargetCounts) -> np.ndarray:
    """The target group's people on every demand point: its area's count spread like its population."""
    pop = demand["population"].to_numpy(dtype=float)
    area_pop = demand.groupby("area_id")["population"].transform("sum").to_numpy(dtype=float)
    per_area = demand["area_id"].astype(str).map(counts.counts)
    if per_area.isna().any():
        first = demand.loc[per_area.isna(), "area_id"].iloc[0]
        msg = f"需要点のある地域「{first}」に、対象の人数がありません"
        raise InputDataError(
            msg, en=f"demand point area {first!r} has no target-group count", feature=str(first),
            hint="需要点と対象の人数は、同じいちばん内側の地域から作ってください",
            hint_en="build demand and counts from the same innermost areas",
        )
    with np.errstate(divide="ignore", invalid="ignore"):
        w = np.where(area_pop > 0, pop / area_pop, 0.0) * per_area.to_numpy(dtype=float)
    return w


def nearest_resource(demand: gpd.GeoDataFrame, resources: gpd.GeoDataFrame | None, *,
                     engine: DistanceEngine) -> pd.DataFrame:
    """The nearest resource of ``resources`` to every demand point.

    Returns
    -------
    DataFrame
        Index of ``demand``; ``id``, ``name`` (None when none is reachable) and ``distance_m``
        (NaN when unreachable or ``resources`` is empty, never infinity).
    """
    n = len(demand)
    if resources is None or len(resources) == 0:
        return pd.DataFrame({"id": pd.Series([None] * n, dtype=object), "name": pd.Series([None] * n, dtype=object),
                             "distance_m": np.full(n, np.nan)}, index=demand.index)
    nearest = engine.nearest(demand, resources)
    fac = nearest["facility"].to_numpy()
    dist = nearest["distance_m"].to_numpy(dtype=float)
    dist = np.where(np.isfinite(dist) & (fac >= 0), dist, np.nan)
    ids = resources["resource_id"].astype(str).to_numpy() if "resource_id" in resources.columns \
        else np.arange(len(resources)).astype(str)
    names = resources["name"].astype(str).to_numpy() if "name" in resources.columns else ids
    ok = fac >= 0
    pick = np.clip(fac, 0, None)
    return pd.DataFrame({
        "id": pd.Series(np.where(ok, ids[pick], None), index=demand.index, dtype=object),
        "name": pd.Series(np.where(ok, names[pick], None), index=demand.index, dtype=object),
        "distance_m": dist,
    }, index=demand.index)


def check_kind_thresholds(thresholds_m: Mapping[str, float]) -> dict[str, float]:
    """Validate a threshold per resource kind (known kind, positive finite metres); return them in the given order."""
    if not thresholds_m:
        msg = "対象の種別を1つ以上指定してください"
        raise InputDataError(
            msg,
            en="give at least one kind",
            feature="kinds",
            hint="例: --kinds kodomo_shokudo（種別の一覧は tsunagu kinds）",
            hint_en="e.g. --kinds kodomo_shokudo (tsunagu kinds lists the kinds)",
        )
    known = _kinds.resource_kinds()
    out = {}
    for kind, t in thresholds_m.items():
        if kind not in known:
            msg = f"種別 {kind!r} はありません（種別の一覧は tsunagu kinds）"
            raise InputDataError(msg, en=f"no kind {kind!r} (tsunagu kinds lists the kinds)", feature="kinds")
        out[kind] = check_threshold(t, what=f"{known[kind].label}まで歩く距離", what_en=f"{known[kind].label} walking threshold")
    return out


def activity_coverage(
    demand: gpd.GeoDataFrame,
    resources: gpd.GeoDataFrame,
    *,
    engine: DistanceEngine,
    thresholds_m: Mapping[str, float],
    target: np.ndarray,
) -> gpd.GeoDataFrame:
    """Nearest resource of every kind and whether each demand point is covered.

    Parameters
    ----------
    demand
        Demand points (``gis.demand.demand_points``): ``area_id``, ``population``.
    resources
        Resource points with a ``kind`` column; only the kinds of ``thresholds_m`` count.
    engine
        Distance engine (straight line or road network).
    thresholds_m
        Kind key → walking threshold (m); a point is covered by a kind when its nearest
        resource of that kind is no farther.
    target
        The target group's people on every demand point (:func:`target_weights`).

    Returns
    -------
    GeoDataFrame
        ``demand`` plus ``target``, and per kind ``<kind>_id``, ``<kind>_name``,
        ``<kind>_distance_m``, ``covered_<kind>``; ``covered`` (by at least one kind).
        ``attrs``: ``thresholds_m`` (kind → m), ``notes`` (Japanese), ``engine``.
    """
    thresholds = check_kind_thresholds(thresholds_m)
    for col in ("area_id", "population"):
        if col not in demand.columns:
            raise missing_columns_error(col)
    target = np.asarray(target, dtype=float)
    if target.shape != (len(demand),):
        msg = f"対象の重み（target）の数 {target.shape} が需要点の数 {len(demand)} と合いません"
        raise InputDataError(
            msg, en=f"target has {target.shape} values for {len(demand)} demand points",
            hint="gis.activity_coverage.target_weights で求めてください",
            hint_en="compute it with gis.activity_coverage.target_weights",
        )
    labels = _kinds.resource_labels()
    out = demand.copy()
    out["target"] = target
    notes: list[str] = []
    covered_any = np.zeros(len(out), dtype=bool)
    for kind, t in thresholds.items():
        of_kind = resources[resources["kind"] == kind] if resources is not None and len(resources) else None
        near = nearest_resource(out, of_kind, engine=engine)
        out[f"{kind}_id"] = near["id"]
        out[f"{kind}_name"] = near["name"]
        out[f"{kind}_distance_m"] = near["distance_m"].to_numpy()
        covered = np.nan_to_num(near["distance_m"].to_numpy(), nan=np.inf) <= t
        out[f"covered_{kind}"] = covered
        covered_any |= covered
        if of_kind is None or len(of_kind) == 0:
            notes.append(f"{labels[kind]}が1か所も登録されていないため、{labels[kind]}ではだれもカバーされません")
        elif near["distance_m"].isna().any():
            notes.append(f"道路でつながらず{labels[kind]}に到達できない地点が {int(near['distance_m'].isna().sum())} 点あり、"
                         "未カバーとしました")
    out["covered"] = covered_any
    out.attrs.update(demand.attrs)
    out.attrs["thresholds_m"] = thresholds
    out.attrs["notes"] = notes
    out.attrs["engine"] = getattr(engine, "description", "")
    return out


# --- per tier -----------------------------------------------------------------------------


def innermost_chain(areas: pd.DataFrame, profile: CityProfile) -> dict[str, pd.Series]:
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
            msg = (f"{profile.level(inner).label}のうち {int(bad.sum())} 地域が、どの{profile.level(outer).label}にも"
                   f"入っていません（例: {first}）。このままでは層ごとの合計が合いません")
            raise InputDataError(
                msg, en=f"{int(bad.sum())} {profile.level(inner).label} areas have no parent in "
                f"{profile.level(outer).label} (e.g. {first}); the tier table would not reconcile",
                feature=str(first),
                hint="どの地域にも親の地域があるように、層を作り直してください（tsunagu demo / import tier）",
                hint_en="rebuild the tiers (tsunagu demo / import tier) so every area has a parent",
            )
        cur = mapped.astype(str)
        chain[outer] = cur
    return chain


def tier_sums(area_ids: Sequence[str], values: Mapping[str, np.ndarray], areas: pd.DataFrame, *,
              profile: CityProfile) -> pd.DataFrame:
    """Sums of point values for every area of every tier level (inner → outer).

    Points carry the innermost ``area_id``; outer levels are reached through the areas'
    ``parent_id`` chain, so every parent equals the sum of its children.

    Parameters
    ----------
    area_ids
        The innermost area of every point.
    values
        Column name → one value per point (population, target, covered target …).
    areas
        Areas of every level (``area_id``, ``level``, ``name``, ``parent_id``).
    profile
        The city's tier profile.

    Returns
    -------
    DataFrame
        ``level``, ``level_label``, ``area_id``, ``name``, ``parent_id`` and the ``values`` columns.
    """
    cols = list(values)
    pts = pd.DataFrame({"area_id": pd.Series(area_ids).astype(str).to_numpy(),
                        **{c: np.asarray(v, dtype=float) for c, v in values.items()}})
    chain = innermost_chain(areas, profile)
    base_ids = chain[profile.base.key].index
    unknown = ~pts["area_id"].isin(base_ids)
    if unknown.any():
        example = pts.loc[unknown, "area_id"].iloc[0]
        msg = f"需要点のうち {int(unknown.sum())} 点が、{profile.base.label}ではない地域にあります（例: {example}）"
        raise InputDataError(
            msg, en=f"{int(unknown.sum())} demand points lie in areas that are not {profile.base.label} areas "
            f"(e.g. {example})",
            hint="需要点はワークスペースのいちばん内側の地域から作ってください",
            hint_en="build demand points from the workspace's innermost areas",
        )
    base_sums = pts.groupby("area_id")[cols].sum()
    base_sums = base_sums.reindex(base_ids, fill_value=0.0)
    meta = areas.assign(area_id=areas["area_id"].astype(str)).set_index(["level", "area_id"])
    labels = {lv.key: lv.label for lv in profile.levels}
    frames = []
    for key, mapping in chain.items():
        sums = base_sums.groupby(mapping.reindex(base_sums.index).to_numpy()).sum()
        ids = areas.loc[areas["level"] == key, "area_id"].astype(str)
        sums = sums.reindex(ids.to_numpy(), fill_value=0.0)
        idx = pd.MultiIndex.from_arrays([[key] * len(sums), sums.index])
        frames.append(pd.DataFrame({
            "level": key,
            "level_label": labels[key],
            "area_id": sums.index.to_numpy(),
            "name": meta["name"].reindex(idx).to_numpy(),
            "parent_id": meta["parent_id"].reindex(idx).to_numpy(),
            **{c: sums[c].to_numpy() for c in cols},
        }))
    return pd.concat(frames, ignore_index=True)


def worst_first(table: pd.DataFrame, *, profile: CityProfile, focus_level: str, column: str) -> pd.DataFrame:
    """Rows of the focus level first (``focus_level``, else the profile's second level), then inner → outer, each by ``column`` descending."""
    focus = focus_level if focus_level in profile.keys else profile.keys[1]
    order = [focus] + [k for k in profile.keys if k != focus]
    table = table.assign(_o=table["level"].map({k: i for i, k in enumerate(order)}))
    table = table.sort_values(["_o", column, "area_id"], ascending=[True, False, True], kind="stable")
    return table.drop(columns="_o").reset_index(drop=True)


def uncovered_share(uncovered: pd.Series, total: pd.Series) -> pd.Series:
    """``uncovered / total`` as floats, NaN where ``total`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return (uncovered / total.where(total > 0)).astype(float)


def coverage_labels(thresholds_m: Mapping[str, float], *, group: TargetGroup) -> dict[str, str]:
    """Japanese labels of the :func:`coverage_by_tier` columns for these kinds and this target group."""
    names = _kinds.resource_labels()
    target = f"対象人口（{group.label}）"
    labels = {**{k: v for k, v in _TIER_BASE_LABELS.items() if k != "elderly"}, "target": target}
    if len(thresholds_m) > 1:
        labels.update({f"covered_{k}": f"{names[k]}の徒歩{t:g} m圏内（{group.label}）" for k, t in thresholds_m.items()})
    labels.update({"covered": f"カバー済み（{group.label}）", "uncovered": f"未カバー（{group.label}）",
                   "uncovered_share": "未カバー率"})
    return labels


def coverage_by_tier(
    points: pd.DataFrame,
    areas: pd.DataFrame,
    *,
    profile: CityProfile,
    group: TargetGroup,
    basis: str = "",
    focus_level: str = "kominkan",
) -> pd.DataFrame:
    """Population, target group, covered (per kind and by any) and uncovered people for every area of every level.

    Parameters
    ----------
    points
        Output of :func:`activity_coverage`.
    areas
        Areas of every level (``area_id``, ``level``, ``name``, ``parent_id``).
    profile
        The city's tier profile.
    group
        The target group (labels of the columns).
    basis
        Where the target figures came from (:attr:`TargetCounts.basis`), kept in ``attrs``.
    focus_level
        Level listed first, worst first (e.g. ``kominkan``: 公民館区, 小学校区 where it stands in).

    Returns
    -------
    DataFrame
        Columns of :func:`coverage_labels` (``attrs["labels"]``); ``uncovered_share`` is NaN for
        an area with no target people. ``attrs``: ``thresholds_m``, ``target``, ``basis``, ``notes``.
    """
    thresholds = points.attrs.get("thresholds_m") or {}
    for col in ("area_id", "population", "target", "covered"):
        if col not in points.columns:
            raise missing_columns_error(col, made_by="gis.activity_coverage.activity_coverage")
    target = points["target"].to_numpy(dtype=float)
    values = {"population": points["population"].to_numpy(dtype=float), "target": target}
    if len(thresholds) > 1:
        for kind in thresholds:
            values[f"covered_{kind}"] = np.where(points[f"covered_{kind}"].to_numpy(dtype=bool), target, 0.0)
    values["covered"] = np.where(points["covered"].to_numpy(dtype=bool), target, 0.0)
    table = tier_sums(points["area_id"], values, areas, profile=profile)
    table["uncovered"] = (table["target"] - table["covered"]).clip(lower=0.0)
    table["uncovered_share"] = uncovered_share(table["uncovered"], table["target"])
    labels = coverage_labels(thresholds, group=group)
    table = worst_first(table, profile=profile, focus_level=focus_level, column="uncovered")[list(labels)]
    table.attrs["labels"] = labels
    table.attrs["thresholds_m"] = dict(thresholds)
    table.attrs["target"] = group.key
    table.attrs["basis"] = basis
    table.attrs["notes"] = list(points.attrs.get("notes", []))
    return table


def reconcile(table: pd.DataFrame, *, profile: CityProfile, columns: Sequence[str],
              tolerance: float = 1e-6) -> pd.DataFrame:
    """Parents whose ``columns`` differ from the sum of their children (empty = the table reconciles)."""
    rows = []
    cols = list(columns)
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

