"""Nesting of welfare tiers: assign areas to parents by overlap, report what does not nest, roll population up."""

from __future__ import annotations

from dataclasses import dataclass, field

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from gis.crs import STORAGE_CRS
from gis.errors import InputDataError, NestingError
from gis.schema import AREA_COLUMNS, POPULATION_COLUMNS, coerce_areas
from gis.tiers import CityProfile

#: An area whose largest overlap with one parent is below this share is reported.
DEFAULT_NESTING_THRESHOLD = 0.9
#: When the second-largest overlap is at least this share, the area straddles two parents
#: (split nearly in half: 4 small areas of 高梁市 against the elementary districts).
DEFAULT_STRADDLE_SHARE = 0.4
#: A second overlap above this (but below the straddle share) is a boundary crossing.
_CROSSING_SHARE = 0.05
#: Uncovered parts of the city smaller than this are boundary noise and not listed one by one.
MIN_UNCOVERED_KM2 = 0.05


@dataclass
class TierSource:
    """Where an outer tier level's areas come from.

    Give either ``polygons`` (``area_id``, ``name``, ``geometry``: the level's own polygons or
    a stand-in source's) or ``table`` (columns ``small_area_id``, ``area_id``, ``name``: which
    census small area belongs to which district; the level's polygons are then dissolved from
    the small areas).
    """

    polygons: gpd.GeoDataFrame | None = None
    table: pd.DataFrame | None = None
    source: str = ""
    note: str = ""

    def __post_init__(self) -> None:
        if (self.polygons is None) == (self.table is None):
            msg = "層の元データは、境界のポリゴンか「小地域→地区」の対応表のどちらか一方にしてください（両方は指定できません）"
            raise InputDataError(
                msg,
                en="a tier source needs either polygons or a small-area → district table (not both)",
            )


@dataclass
class TierBuild:
    """Areas of every level (columns :data:`gis.schema.AREA_COLUMNS`) and the nesting report."""

    areas: gpd.GeoDataFrame
    report: dict = field(default_factory=dict)


def parent_overlaps(
    children: gpd.GeoDataFrame, parents: gpd.GeoDataFrame, *, crs: str
) -> pd.DataFrame:
    """Share of each child's area that lies in each parent it intersects.

    Parameters
    ----------
    children, parents
        Frames with ``area_id`` and polygon geometry (any CRS).
    crs
        Projected CRS to measure areas in (a JGD2011 plane-rectangular zone).

    Returns
    -------
    DataFrame
        ``child_id``, ``parent_id``, ``share`` (0–1) for every intersecting pair.
    """
    c = children[["area_id", "geometry"]].to_crs(crs).reset_index(drop=True)
    p = parents[["area_id", "geometry"]].to_crs(crs).reset_index(drop=True)
    left, right = p.sindex.query(c.geometry.values, predicate="intersects")
    if len(left) == 0:
        return pd.DataFrame({"child_id": [], "parent_id": [], "share": []})
    inter = shapely.area(shapely.intersection(c.geometry.values[left], p.geometry.values[right]))
    child_area = shapely.area(c.geometry.values[left])
    share = np.divide(inter, child_area, out=np.zeros_like(inter), where=child_area > 0)
    out = pd.DataFrame(
        {"child_id": c["area_id"].values[left], "parent_id": p["area_id"].values[right], "share": share}
    )
    return out[out["share"] > 0].groupby(["child_id", "parent_id"], as_index=False)["share"].sum()


def assign_parents(
    children: gpd.GeoDataFrame,
    parents: gpd.GeoDataFrame,
    *,
    crs: str,
    threshold: float = DEFAULT_NESTING_THRESHOLD,
    straddle_share: float = DEFAULT_STRADDLE_SHARE,
) -> tuple[pd.Series, list[dict]]:
    """Assign each child area to the parent it overlaps most (area-weighted).

    A child that overlaps no parent goes to the nearest one. Every child whose best share is
    below ``threshold`` is returned as an issue, with status ``straddles`` (a second parent
    holds at least ``straddle_share``), ``crosses_boundary`` (a smaller part lies in another
    parent), ``partly_uncovered`` (the rest lies outside every parent) or ``outside`` (no
    overlap at all: assigned to the nearest parent).

    Returns
    -------
    (Series, list of dict)
        ``child area_id → parent area_id``, and the issues (id, name, parent, share...).
    """
    if not 0 < threshold <= 1:
        msg = f"入れ子の判定の割合は 0 より大きく 1 以下にしてください（指定は {threshold}）"
        raise InputDataError(msg, en=f"nesting threshold must be in (0, 1], got {threshold}")
    ov = parent_overlaps(children, parents, crs=crs).sort_values(
        ["child_id", "share"], ascending=[True, False], kind="stable"
    )
    ranked = ov.groupby("child_id", sort=False)
    best = ranked.nth(0).set_index("child_id")
    second = ranked.nth(1).set_index("child_id")
    assignment = best["parent_id"].reindex(children["area_id"].values)
    names = dict(zip(children["area_id"], children["name"]))
    parent_names = dict(zip(parents["area_id"], parents["name"]))

    outside = assignment[assignment.isna()].index.tolist()
    if outside:
        lone = children[children["area_id"].isin(outside)][["area_id", "geometry"]].to_crs(crs)
        near = gpd.sjoin_nearest(
            lone, parents[["area_id", "geometry"]].to_crs(crs).rename(columns={"area_id": "pid"}),
            distance_col="dist",
        ).drop_duplicates("area_id")
        for aid, pid in zip(near["area_id"], near["pid"]):
            assignment[aid] = pid

    issues = []
    for aid in children["area_id"]:
        share = float(best["share"].get(aid, 0.0))
        if share >= threshold:
            continue
        second_share = float(second["share"].get(aid, 0.0)) if aid in second.index else 0.0
        if aid in outside:
            status = "outside"
        elif second_share >= straddle_share:
            status = "straddles"
        elif second_share >= _CROSSING_SHARE:
            status = "crosses_boundary"
        else:
            status = "partly_uncovered"
        issue = {
            "area_id": aid,
            "name": names.get(aid, ""),
            "parent_id": assignment[aid],
            "parent_name": parent_names.get(assignment[aid], ""),
            "share": round(share, 4),
            "status": status,
        }
        if aid in second.index:
            sid = second.loc[aid, "parent_id"]
            issue.update(second_parent_id=sid, second_parent_name=parent_names.get(sid, ""),
                         second_share=round(second_share, 4))
        issues.append(issue)
    return assignment.rename("parent_id"), issues


def uncovered_parts(
    city: gpd.GeoDataFrame,
    level_areas: gpd.GeoDataFrame,
    *,
    crs: str,
    base: gpd.GeoDataFrame | None = None,
    min_area_km2: float = MIN_UNCOVERED_KM2,
) -> dict:
    """Parts of the city that no area of a level covers.

    Returns
    -------
    dict
        ``area_km2`` (all uncovered parts), ``parts`` (each part of at least ``min_area_km2``
        with its area, a representative point and, when ``base`` small areas are given, the
        small areas it lies in with their estimated population inside, area-weighted).
    """
    city_geom = city.to_crs(crs).union_all()
    covered = level_areas.to_crs(crs).union_all()
    rest = shapely.difference(city_geom, covered)
    total = float(shapely.area(rest)) / 1e6
    parts = []
    pieces = [g for g in getattr(rest, "geoms", [rest]) if not g.is_empty and g.area / 1e6 >= min_area_km2]
    if base is not None and pieces:
        b = base.to_crs(crs).reset_index(drop=True)
    for piece in sorted(pieces, key=lambda g: -g.area):
        rp = gpd.GeoSeries([piece.representative_point()], crs=crs).to_crs(STORAGE_CRS).iloc[0]
        part = {"area_km2": round(piece.area / 1e6, 3), "lon": round(rp.x, 5), "lat": round(rp.y, 5)}
        if base is not None:
            idx = b.sindex.query(piece, predicate="intersects")
            inside = []
            for i in idx:
                geom = b.geometry.iloc[i]
                share = shapely.area(shapely.intersection(geom, piece)) / geom.area if geom.area else 0.0
                if share < 0.01:
                    continue
                pop = b["population"].iloc[i]
                inside.append({
                    "area_id": b["area_id"].iloc[i],
                    "name": b["name"].iloc[i],
                    "share": round(float(share), 3),
                    "population_estimate": None if pd.isna(pop) else round(float(pop) * share, 1),
                })
            part["small_areas"] = sorted(inside, key=lambda d: -d["share"])
        parts.append(part)
    return {"area_km2": round(total, 3), "parts": parts}


def roll_up(
    areas: gpd.GeoDataFrame, profile: CityProfile, *, absorbed: dict[str, str] | None = None
) -> gpd.GeoDataFrame:
    """Recompute every outer level's population attributes as the sum of its children.

    The innermost level's values are kept. A parent is unknown (<NA>) for an attribute when any
    of its children is unknown, so partial sums never pass as totals — except for innermost
    areas whose figures e-Stat suppressed and counted in another small area (``absorbed``:
    suppressed area id → the area holding its people): those add nothing, as published.
    """
    areas = areas.copy()
    absorbed = absorbed or {}
    for child, parent in zip(profile.levels[:-1], profile.levels[1:]):
        kids = areas[areas["level"] == child.key]
        is_parent = areas["level"] == parent.key
        counted_elsewhere = kids["area_id"].isin(absorbed) if child.key == profile.base.key else False
        for col in POPULATION_COLUMNS:
            vals = kids[col].where(~(kids[col].isna() & counted_elsewhere), 0)
            values = vals.groupby(kids["parent_id"]).agg(lambda s: s.sum() if s.notna().all() else pd.NA)
            summed = areas.loc[is_parent, "area_id"].map(values)
            # Parents without children hold nobody.
            has_kids = areas.loc[is_parent, "area_id"].isin(kids["parent_id"])
            summed = summed.where(has_kids, 0)
            areas.loc[is_parent, col] = pd.array(summed, dtype="Int64")
    return areas


def check_rollup(areas: gpd.GeoDataFrame, profile: CityProfile) -> list[str]:
    """Return discrepancies, in Japanese: each level's total must equal the innermost level's (empty = reconciles).

    Attributes unknown on every innermost area are skipped; unknown on some is a discrepancy
    unless every outer level still reconciles (suppressed areas counted elsewhere).
    """
    problems = []
    base = areas[areas["level"] == profile.base.key]
    for col in POPULATION_COLUMNS:
        if base[col].isna().all():
            continue
        want = int(base[col].sum())
        for lv in profile.levels[1:]:
            got = areas.loc[areas["level"] == lv.key, col]
            if got.isna().any() or int(got.sum()) != want:
                problems.append(f"{lv.label}の {col}: 合計 {got.sum()} ≠ {profile.base.label}の合計 {want}")
    orphans = areas[(areas["level"] != profile.top.key) & areas["parent_id"].isna()]
    if len(orphans):
        problems.append(f"親の地域がない地域が {len(orphans)} あります: {'、'.join(orphans['area_id'][:10])}")
    return problems


def build_tiers(
    small_areas: gpd.GeoDataFrame,
    *,
    profile: CityProfile,
    city: gpd.GeoDataFrame,
    city_code: str,
    city_name: str,
    sources: dict[str, TierSource],
    crs: str,
    base_source: str = "",
    threshold: float = DEFAULT_NESTING_THRESHOLD,
    straddle_share: float = DEFAULT_STRADDLE_SHARE,
    strict: bool = False,
    absorbed: dict[str, str] | None = None,
) -> TierBuild:
    """Build all tier levels of a city from census small areas and a source per outer level.

    Parameters
    ----------
    small_areas
        The innermost level: ``area_id``, ``name``, ``population``, ``households`` (optional
        ``pop_65plus``... columns) and polygons.
    profile
        The city's tier levels, inner to outer.
    city
        The municipal boundary (one or more polygons): the outermost level.
    sources
        One :class:`TierSource` per level between the innermost and the city.
    crs
        Projected CRS to measure in.
    strict
        Raise :class:`NestingError` when any area straddles two parents, instead of reporting it.
    absorbed
        Small areas whose age figures e-Stat suppressed, mapped to the area holding their people.

    Returns
    -------
    TierBuild
        Areas of every level with ``parent_id`` and rolled-up population, and a JSON-ready
        nesting report.
    """
    middle = [lv.key for lv in profile.levels[1:-1]]
    missing = [k for k in middle if k not in sources]
    extra = [k for k in sources if k not in middle]
    if missing or extra:
        msg = (f"層の元データが市のプロファイルと合いません（足りない層: {'、'.join(missing) or 'なし'}、"
               f"プロファイルにない層: {'、'.join(extra) or 'なし'}）")
        raise InputDataError(
            msg, en=f"tier sources do not match the profile: missing {missing}, unknown {extra}",
            hint=f"このプロファイルの外側の層は {'、'.join(middle)} です（市全体の層は行政区域の境界から作ります）",
            hint_en=f"this profile's outer levels are {middle} (the city level comes from the boundary)",
        )
    base = small_areas.copy()
    base["level"] = profile.base.key
    base["source"] = base_source
    levels: dict[str, gpd.GeoDataFrame] = {profile.base.key: base}
    for key in middle:
        src = sources[key]
        if src.polygons is not None:
            poly = src.polygons.copy()
        else:
            poly = _dissolve_by_table(base, src.table, level_label=profile.level(key).label)
        poly["level"] = key
        poly["source"] = src.source
        levels[key] = poly
    top = city[["geometry"]].dissolve().reset_index(drop=True)
    top["area_id"] = city_code
    top["name"] = city_name
    top["level"] = profile.top.key
    top["source"] = "国土数値情報 N03 行政区域"
    levels[profile.top.key] = top

    pairs = []
    for child, parent in zip(profile.levels[:-1], profile.levels[1:]):
        kids, mums = levels[child.key], levels[parent.key]
        assignment, issues = assign_parents(kids, mums, crs=crs, threshold=threshold, straddle_share=straddle_share)
        kids["parent_id"] = kids["area_id"].map(assignment)
        childless = sorted(set(mums["area_id"]) - set(kids["parent_id"]))
        pairs.append({
            "child_level": child.key,
            "parent_level": parent.key,
            "children": int(len(kids)),
            "issues": issues,
            "straddling": sum(i["status"] == "straddles" for i in issues),
            "outside": sum(i["status"] == "outside" for i in issues),
            "crossing": sum(i["status"] == "crosses_boundary" for i in issues),
            "partly_uncovered": sum(i["status"] == "partly_uncovered" for i in issues),
            "parents_without_children": [
                {"area_id": a, "name": str(mums.loc[mums["area_id"] == a, "name"].iloc[0])} for a in childless
            ],
        })
        if strict:
            straddlers = [i for i in issues if i["status"] == "straddles"]
            if straddlers:
                first = straddlers[0]
                listing = "; ".join(
                    f"{i['name']} ({i['area_id']}): {i['parent_name']} {i['share']:.0%} / "
                    f"{i.get('second_parent_name', '')} {i.get('second_share', 0):.0%}" for i in straddlers[:10]
                )
                listing_ja = "、".join(
                    f"{i['name']}（{i['area_id']}）: {i['parent_name']} {i['share']:.0%}・"
                    f"{i.get('second_parent_name', '')} {i.get('second_share', 0):.0%}" for i in straddlers[:10]
                )
                msg = f"{child.label}のうち {len(straddlers)} 地域が、2つの{parent.label}にまたがっています: {listing_ja}"
                raise NestingError(
                    msg, en=f"{len(straddlers)} {child.label} areas straddle two {parent.label} areas: {listing}",
                    feature=f"{first['name']} ({first['area_id']})",
                    hint="境界を直すか、「小地域→地区」の対応表を使うか、入れ子を厳密に求めずに取り込んでください",
                    hint_en="fix the boundaries, supply a small-area → district table, or import without strict nesting",
                )

    frame = pd.concat([levels[lv.key] for lv in profile.levels], ignore_index=True)
    for col in POPULATION_COLUMNS:
        if col not in frame.columns:
            frame[col] = pd.NA
    frame.loc[frame["level"] != profile.base.key, POPULATION_COLUMNS] = pd.NA
    areas = coerce_areas(gpd.GeoDataFrame(frame, geometry="geometry", crs=STORAGE_CRS))
    areas = roll_up(areas, profile, absorbed=absorbed)
    problems = check_rollup(areas, profile)

    report_levels = []
    for lv in profile.levels:
        part = areas[areas["level"] == lv.key]
        entry = {
            "level": lv.key,
            "label": lv.label,
            "count": int(len(part)),
            "population": None if part["population"].isna().any() else int(part["population"].sum()),
            "pop_65plus": None if part["pop_65plus"].isna().any() else int(part["pop_65plus"].sum()),
            "source": str(part["source"].iloc[0]) if len(part) else "",
            "note": profile.notes.get(lv.key, ""),
        }
        if lv.key != profile.top.key:
            entry["uncovered"] = uncovered_parts(city, part, crs=crs, base=levels[profile.base.key])
        report_levels.append(entry)
    census_total = None if base["population"].isna().any() else int(base["population"].sum())
    report = {
        "city": {"code": city_code, "name": city_name},
        "threshold": threshold,
        "straddle_share": straddle_share,
        "crs": crs,
        "levels": report_levels,
        "pairs": pairs,
        "rollup": {
            "ok": not problems,
            "census_total": census_total,
            "totals": {e["level"]: e["population"] for e in report_levels},
            "problems": problems,
        },
    }
    return TierBuild(areas=areas[AREA_COLUMNS], report=report)


def _dissolve_by_table(base: gpd.GeoDataFrame, table: pd.DataFrame, *, level_label: str) -> gpd.GeoDataFrame:
    need = {"small_area_id", "area_id", "name"}
    if not need <= set(table.columns):
        msg = (f"「小地域→{level_label}」の対応表には列 {'、'.join(sorted(need))} が必要です"
               f"（ある列: {'、'.join(map(str, table.columns))}）")
        raise InputDataError(
            msg, en=f"the small-area → {level_label} table needs columns {sorted(need)}; it has {list(table.columns)}"
        )
    table = table.assign(small_area_id=table["small_area_id"].astype(str), area_id=table["area_id"].astype(str))
    dup = table[table["small_area_id"].duplicated(keep=False)]
    if len(dup):
        row = int(dup.index[0]) + 1
        msg = f"小地域 {dup['small_area_id'].iloc[0]} が2つ以上の{level_label}に割り当てられています"
        raise InputDataError(
            msg, en=f"small area {dup['small_area_id'].iloc[0]} is assigned to more than one {level_label}", row=row,
            hint="1つの小地域は1つの地区にだけ割り当ててください", hint_en="assign each small area to one district only",
        )
    unknown = table[~table["small_area_id"].isin(base["area_id"])]
    if len(unknown):
        msg = f"小地域 {unknown['small_area_id'].iloc[0]} はこの市の国勢調査の小地域にありません"
        raise InputDataError(
            msg, en=f"small area {unknown['small_area_id'].iloc[0]} is not a census small area of this city",
            row=int(unknown.index[0]) + 1,
            hint="KEY_CODE（11桁または9桁）の打ち間違いがないか確かめてください",
            hint_en="check the KEY_CODE for typos",
        )
    unmapped = base[~base["area_id"].isin(table["small_area_id"])]
    if len(unmapped):
        listing = ", ".join(f"{n} ({a})" for a, n in zip(unmapped["area_id"][:10], unmapped["name"][:10]))
        listing_ja = "、".join(f"{n}（{a}）" for a, n in zip(unmapped["area_id"][:10], unmapped["name"][:10]))
        msg = f"どの{level_label}にも入っていない小地域が {len(unmapped)} あります: {listing_ja}"
        raise InputDataError(
            msg, en=f"{len(unmapped)} small areas are in no {level_label}: {listing}",
            hint="対応表に、小地域ごとに1行を加えてください", hint_en="add a row for each small area",
        )
    merged = base[["area_id", "geometry"]].merge(
        table.rename(columns={"area_id": "district_id", "name": "district_name"}),
        left_on="area_id", right_on="small_area_id",
    )
    out = merged.dissolve("district_id", aggfunc={"district_name": "first"}).reset_index()
    return gpd.GeoDataFrame(
        {"area_id": out["district_id"], "name": out["district_name"]}, geometry=out.geometry.values, crs=base.crs
    )
