"""Area report (地域カルテ): the figures of one area of a tier, or of a station's catchment, beside its parent area and the city.

Nothing here computes a figure of its own that a job also computes: population, 65+, salon
coverage and shopping refugees are read from the tables the jobs write
(:func:`gis.salons.coverage_by_tier`, :func:`gis.shopping.refugees_by_tier`) and rounded the way
the jobs round them, so a report and the job tables always agree. What no job counts (resources
by kind, mobile-sales stops and their weekly visits) is counted here, in the innermost areas and
summed up the tiers, so every parent is the sum of its children as in the job tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

import geopandas as gpd
import numpy as np
import pandas as pd
from shapely.geometry.base import BaseGeometry

from gis.crs import STORAGE_CRS, plane_rectangular_crs
from gis.errors import InputDataError
from gis.kinds import MOBILE_STOP_KIND
from gis.schema import RESOURCE_KINDS
from gis.shopping import TIER_LABELS as SHOPPING_LABELS
from gis.shopping import parse_days, roll_up_sums
from gis.tiers import CityProfile

#: Columns of :attr:`AreaReport.indicators`.
INDICATOR_COLUMNS = ["key", "section", "label", "value", "parent", "city", "unit", "note"]
#: Japanese headers of the indicator table (``parent`` is named after the parent area when there is one).
INDICATOR_LABELS = {"section": "区分", "label": "指標", "value": "この地域", "parent": "上位の地域", "city": "市全域",
                    "unit": "単位", "note": "出典・注記", "scenario": "シナリオ", "delta": "差（シナリオ − 現状）"}
#: What a suppressed household count shows (as everywhere else: /clients/counts).
SUPPRESSED = "秘匿"
#: What an unknown figure shows.
UNKNOWN = "不明"
#: A figure that does not apply (no parent above the city).
NOT_APPLICABLE = "—"
#: Pseudo-level of a station's catchment.
CATCHMENT_LEVEL = "catchment"
CATCHMENT_LABEL = "拠点の担当圏域"


@dataclass
class AreaReport:
    """One area's report.

    Attributes
    ----------
    level, level_label, area_id, name
        The area (``level`` is :data:`CATCHMENT_LEVEL` for a station's catchment).
    parent
        ``{"level", "level_label", "area_id", "name"}`` of the area it lies in, or None (the city).
    city_name
        The municipality.
    indicators
        One row per figure (:data:`INDICATOR_COLUMNS`): the value here, in the parent area and in
        the city; people rounded to 0.1 and shares in % to 0.1 exactly as in the job tables.
    resources
        The resources inside the area: 種別, 名称, 住所, サンプル.
    children
        The areas of the next level in (or a catchment's member areas) with their main figures.
    geometry
        The area (EPSG:4326).
    context
        The areas drawn around it on the small map: its siblings in the parent area (EPSG:4326).
    points
        Resource points inside the area (``kind``, ``name``; EPSG:4326).
    crs
        The projected CRS to draw the map in.
    notes
        Japanese notes the report repeats (estimates, sample data, method).
    """

    level: str
    level_label: str
    area_id: str
    name: str
    parent: dict | None
    city_name: str
    indicators: pd.DataFrame
    resources: pd.DataFrame
    children: pd.DataFrame
    geometry: BaseGeometry
    context: gpd.GeoDataFrame
    points: gpd.GeoDataFrame
    crs: str
    notes: list[str] = field(default_factory=list)

    def figure(self, key: str, column: str = "value"):
        """The figure ``key`` (an ``indicators["key"]``) in ``column`` (value, parent or city)."""
        rows = self.indicators[self.indicators["key"] == key]
        if rows.empty:
            msg = f"the report of {self.name} has no figure {key!r}"
            raise KeyError(msg)
        return rows.iloc[0][column]


def people(value) -> float | None:
    """People as the job tables show them: rounded to 0.1 (None when unknown)."""
    if value is None or pd.isna(value):
        return None
    return round(float(value), 1)


def percent(share) -> float | None:
    """A share as the job tables show it: per cent rounded to 0.1 (None when there is no denominator)."""
    if share is None or pd.isna(share):
        return None
    return round(float(share) * 100, 1)


# --- membership of points in areas ---------------------------------------------------------


def _chain(areas: pd.DataFrame, profile: CityProfile) -> dict[str, pd.Series]:
    """For every level: innermost area id → the id of the area at that level containing it (NaN when none)."""
    base = areas.loc[areas["level"] == profile.base.key, "area_id"].astype(str)
    cur = pd.Series(base.to_numpy(), index=base.to_numpy(), dtype=object)
    out = {profile.base.key: cur}
    for inner, outer in zip(profile.keys[:-1], profile.keys[1:]):
        part = areas[areas["level"] == inner]
        parent = pd.Series(part["parent_id"].to_numpy(), index=part["area_id"].astype(str).to_numpy())
        known = set(areas.loc[areas["level"] == outer, "area_id"].astype(str))
        cur = cur.map(lambda a: None if a is None or pd.isna(a) else parent.get(a))
        cur = cur.map(lambda p: str(p) if p is not None and not pd.isna(p) and str(p) in known else None)
        out[outer] = cur
    return out


def _base_area_of(points: gpd.GeoDataFrame, base: gpd.GeoDataFrame) -> np.ndarray:
    """Innermost area id of every point (None outside every area; on a shared border: the first area)."""
    if len(points) == 0:
        return np.array([], dtype=object)
    pts = points[["geometry"]].to_crs(STORAGE_CRS).reset_index(drop=True)
    zones = base[["area_id", "geometry"]].to_crs(STORAGE_CRS).reset_index(drop=True)
    hit = gpd.sjoin(pts, zones, how="left", predicate="intersects")
    hit = hit[~hit.index.duplicated(keep="first")].reindex(pts.index)
    return np.array([None if pd.isna(a) else str(a) for a in hit["area_id"]], dtype=object)


def _weekly_visits(resources: gpd.GeoDataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Visits per week of every mobile-sales stop (days it is served) and whether its days are known."""
    visits, known = [], []
    for attrs in resources.get("attributes", pd.Series([None] * len(resources))):
        days = parse_days(attrs.get("days")) if isinstance(attrs, Mapping) else None
        visits.append(len(days) if days else 0)
        known.append(days is not None)
    return np.asarray(visits, dtype=float), np.asarray(known, dtype=bool)


def resource_counts(resources: gpd.GeoDataFrame, areas: gpd.GeoDataFrame, *, profile: CityProfile) -> pd.DataFrame:
    """Resources by kind, mobile-sales stops and their weekly visits, per area of every level.

    Points are placed in the innermost areas and summed up the tiers (:func:`gis.shopping.roll_up_sums`),
    so a parent is the sum of its children.

    Returns
    -------
    DataFrame
        ``level``, ``area_id`` and a column ``kind:<key>`` per resource kind present, plus
        ``mobile_stops``, ``weekly_visits`` and ``stops_days_unknown``.
    """
    base = areas[areas["level"] == profile.base.key]
    where = _base_area_of(resources, base)
    kinds = list(dict.fromkeys(resources["kind"].astype(str))) if len(resources) else []
    frame = pd.DataFrame({"area_id": where})
    for kind in kinds:
        frame[f"kind:{kind}"] = (resources["kind"].astype(str).to_numpy() == kind).astype(float)
    is_stop = resources["kind"].astype(str).to_numpy() == MOBILE_STOP_KIND if len(resources) else np.array([], bool)
    visits, known = _weekly_visits(resources) if len(resources) else (np.array([]), np.array([], bool))
    frame["mobile_stops"] = is_stop.astype(float)
    frame["weekly_visits"] = np.where(is_stop, visits, 0.0)
    frame["stops_days_unknown"] = (is_stop & ~known).astype(float)
    sums = frame.dropna(subset=["area_id"]).groupby("area_id").sum()
    table = roll_up_sums(sums, areas, profile=profile)
    return table.drop(columns=["level_label", "name", "parent_id"])


# --- the report ----------------------------------------------------------------------------


def _index(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(area_id=table["area_id"].astype(str)).set_index(["level", "area_id"])


def _census(areas: pd.DataFrame) -> pd.DataFrame:
    cols = [c for c in ("population", "households", "pop_65plus", "pop_75plus", "single_elderly_households")
            if c in areas.columns]
    return _index(areas[["level", "area_id", *cols]])


def _value(frame: pd.DataFrame, cell, column: str):
    if cell is None or column not in frame.columns or cell not in frame.index:
        return None
    v = frame.at[cell, column]
    return None if v is None or pd.isna(v) else v


def area_reports(
    *,
    areas: gpd.GeoDataFrame,
    profile: CityProfile,
    level: str,
    city_code: str,
    city_name: str,
    salon_tables: Mapping[float, pd.DataFrame],
    resources: gpd.GeoDataFrame,
    area_ids: Sequence[str] | None = None,
    shopping_table: pd.DataFrame | None = None,
    shopping_method: str | None = None,
    shopping_missing: str | None = None,
    households: Mapping[str, Mapping[str, int | None]] | None = None,
    household_k: int | None = None,
    age_notes: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> list[AreaReport]:
    """The report of every area of ``level`` (or of ``area_ids`` only), in area id order.

    Parameters
    ----------
    areas
        Areas of every level (the store's ``areas()``), with geometry.
    profile
        The city's tiers.
    level
        The tier level of the reports (a key of ``profile``).
    city_code, city_name
        The municipality (the code chooses the projected CRS of the map).
    salon_tables
        Walking threshold (m) → :func:`gis.salons.coverage_by_tier` table (the salon-gaps job's figures).
    resources
        The workspace's resources (``kind``, ``name``, ``address``, ``attributes``, ``is_sample``).
    area_ids
        Only these areas of ``level`` (an unknown id is an :class:`InputDataError` listing the known ones).
    shopping_table
        :func:`gis.shopping.refugees_by_tier` (the shopping-refugees job's figures), or None.
    shopping_method
        How the straight-line figure is named (:func:`gis.shopping.maff_label`).
    shopping_missing
        Why there is no shopping table (shown instead of the figures), e.g. no food shop.
    households
        Client households per area after small-cell suppression: level → area id → published
        count, None when hidden (and ``"__total__"`` under the top level key for the city when
        it differs from the city cell). None when the workspace keeps no client households.
    household_k
        The suppression threshold, for the note.
    age_notes
        How 65+ was estimated where the census gives no figure (the jobs' notes).
    notes
        More notes every report repeats (sample data, distance method).

    Returns
    -------
    list of AreaReport
    """
    if level not in profile.keys:
        known = "、".join(f"{lv.key}（{lv.label}）" for lv in profile.levels)
        msg = f"階層 {level!r} はこの市区町村の圏域にありません（あるもの: {known}）"
        raise InputDataError(
            msg,
            en=f"the city has no tier level {level!r} (levels: {known})",
            feature=level,
            hint=f"--level {profile.keys[1]} のように指定してください",
            hint_en=f"e.g. --level {profile.keys[1]}",
        )
    if not salon_tables:
        msg = "サロンの徒歩圏の表がありません"
        raise InputDataError(
            msg,
            en="no salon walking-coverage table",
            hint="gis.salons.coverage_by_tier の結果を1つ以上渡してください",
            hint_en="pass one or more results of gis.salons.coverage_by_tier",
        )
    lv = profile.level(level)
    mine = areas[areas["level"] == level].copy()
    mine["area_id"] = mine["area_id"].astype(str)
    mine = mine.sort_values("area_id", kind="stable")
    if area_ids is not None:
        wanted = [str(a) for a in area_ids]
        missing = [a for a in wanted if a not in set(mine["area_id"])]
        if missing:
            listing = "、".join(f"{a}（{n}）" for a, n in list(zip(mine["area_id"], mine["name"]))[:20])
            listing += "…" if len(mine) > 20 else ""
            msg = f"{lv.label}に地域ID {missing[0]!r} はありません（あるもの: {listing}）"
            raise InputDataError(
                msg,
                en=f"no area ID {missing[0]!r} in {lv.key} (IDs: {listing})",
                feature=missing[0],
                hint="地域IDは tsunagu report --level でも一覧できます",
                hint_en="tsunagu report --level lists the area IDs too",
            )
        mine = mine.set_index("area_id").loc[wanted].reset_index()
    ctx = _Context(areas=areas, profile=profile, city_code=city_code, city_name=city_name, salon_tables=salon_tables,
                   resources=resources, shopping_table=shopping_table, shopping_method=shopping_method,
                   shopping_missing=shopping_missing, households=households, household_k=household_k,
                   age_notes=list(age_notes), notes=list(notes))
    return [ctx.report(level, row) for row in mine.to_dict("records")]


def catchment_report(
    *,
    station: Mapping,
    areas: gpd.GeoDataFrame,
    profile: CityProfile,
    city_code: str,
    city_name: str,
    salon_tables: Mapping[float, pd.DataFrame],
    resources: gpd.GeoDataFrame,
    shopping_table: pd.DataFrame | None = None,
    shopping_method: str | None = None,
    shopping_missing: str | None = None,
    households: Mapping[str, Mapping[str, int | None]] | None = None,
    household_k: int | None = None,
    age_notes: Sequence[str] = (),
    notes: Sequence[str] = (),
) -> AreaReport:
    """The report of a station's catchment: the sum of the areas assigned to it (``station["area_ids"]``).

    The member areas may be of any one level. A household count is shown only when every member's
    count is published (a sum over hidden cells would be a new figure a reader could subtract from).
    Other parameters as :func:`area_reports`.
    """
    ids = [str(a) for a in (station.get("area_ids") or [])]
    if not ids:
        msg = f"拠点 {station.get('name')} に担当する地域が割り当てられていません"
        raise InputDataError(
            msg,
            en=f"station {station.get('name')} has no areas assigned",
            feature=str(station.get("station_id")),
            hint="拠点に担当地域（area_ids）を割り当ててください",
            hint_en="assign the station its areas (area_ids)",
        )
    levels = areas.assign(area_id=areas["area_id"].astype(str))
    found = levels[levels["area_id"].isin(ids)]
    keys = list(dict.fromkeys(found["level"]))
    if len(keys) != 1 or len(found) != len(set(ids)):
        msg = f"拠点 {station.get('name')} の担当地域は1つの階層の地域IDでなければなりません（{'、'.join(ids[:5])}…）"
        raise InputDataError(
            msg,
            en=f"the areas of station {station.get('name')} must be area IDs of one tier level ({', '.join(ids[:5])} ...)",
            feature=str(station.get("station_id")),
            hint="担当地域を同じ階層の地域で指定してください",
            hint_en="give areas of one level",
        )
    ctx = _Context(areas=areas, profile=profile, city_code=city_code, city_name=city_name, salon_tables=salon_tables,
                   resources=resources, shopping_table=shopping_table, shopping_method=shopping_method,
                   shopping_missing=shopping_missing, households=households, household_k=household_k,
                   age_notes=list(age_notes), notes=list(notes))
    return ctx.catchment(station, keys[0], found)


@dataclass
class _Context:
    areas: gpd.GeoDataFrame
    profile: CityProfile
    city_code: str
    city_name: str
    salon_tables: Mapping[float, pd.DataFrame]
    resources: gpd.GeoDataFrame
    shopping_table: pd.DataFrame | None
    shopping_method: str | None
    shopping_missing: str | None
    households: Mapping[str, Mapping[str, int | None]] | None
    household_k: int | None
    age_notes: list[str]
    notes: list[str]

    def __post_init__(self) -> None:
        self.thresholds = sorted(float(t) for t in self.salon_tables)
        self.salon = {t: _index(self.salon_tables[t]) for t in self.thresholds}
        self.shop = None if self.shopping_table is None else _index(self.shopping_table)
        self.census = _census(self.areas)
        self.counts = _index(resource_counts(self.resources, self.areas, profile=self.profile))
        top = self.areas[self.areas["level"] == self.profile.top.key]
        self.city_cell = (self.profile.top.key, str(top["area_id"].iloc[0])) if len(top) else None
        base = self.areas[self.areas["level"] == self.profile.base.key]
        self.where = _base_area_of(self.resources, base)
        self.chain = _chain(self.areas, self.profile)
        self.meta = _index(self.areas[["level", "area_id", "name", "parent_id", "geometry"]])
        self.labels = {lv.key: lv.label for lv in self.profile.levels}
        self.crs = plane_rectangular_crs(self.city_code)

    # -- one area of a tier

    def parent_cell(self, level: str, row: Mapping):
        i = self.profile.keys.index(level)
        if i + 1 >= len(self.profile.keys) or row.get("parent_id") is None or pd.isna(row.get("parent_id")):
            return None
        cell = (self.profile.keys[i + 1], str(row["parent_id"]))
        return cell if cell in self.meta.index else None

    def report(self, level: str, row: Mapping) -> AreaReport:
        cell = (level, str(row["area_id"]))
        parent = self.parent_cell(level, row)
        is_city = level == self.profile.top.key
        rows = self.indicators(lambda col, table: _value(table, cell, col), parent, cell, is_city=is_city)
        members = self.chain[level]
        inside = np.array([a is not None and members.get(a) == cell[1] for a in self.where], dtype=bool)
        resources, points = self.resource_list(inside)
        siblings = self.siblings(level, parent, cell)
        children = self.children(level, cell[1])
        return AreaReport(
            level=level, level_label=self.labels[level], area_id=cell[1], name=str(row["name"]),
            parent=None if parent is None else {"level": parent[0], "level_label": self.labels[parent[0]],
                                                "area_id": parent[1], "name": str(self.meta.at[parent, "name"])},
            city_name=self.city_name, indicators=rows, resources=resources, children=children,
            geometry=row["geometry"], context=siblings, points=points, crs=self.crs, notes=self.all_notes(rows),
        )

    # -- a station's catchment

    def catchment(self, station: Mapping, level: str, members: pd.DataFrame) -> AreaReport:
        cells = [(level, a) for a in members["area_id"].astype(str)]

        def summed(col, table):
            vals = [_value(table, c, col) for c in cells]
            if any(v is None for v in vals):
                return None
            return float(sum(float(v) for v in vals))

        rows = self.indicators(summed, None, None, is_city=False, member_cells=cells)
        chain = self.chain[level]
        ids = {c[1] for c in cells}
        inside = np.array([a is not None and chain.get(a) in ids for a in self.where], dtype=bool)
        resources, points = self.resource_list(inside)
        geometry = members.geometry.union_all()
        context = gpd.GeoDataFrame({"area_id": members["area_id"].astype(str), "name": members["name"].astype(str),
                                    "highlight": True}, geometry=members.geometry.values, crs=STORAGE_CRS)
        children = self.child_rows(cells)
        return AreaReport(
            level=CATCHMENT_LEVEL, level_label=CATCHMENT_LABEL, area_id=str(station["station_id"]),
            name=f"{station['name']}（{self.labels[level]} {len(cells)} 地域）", parent=None, city_name=self.city_name,
            indicators=rows, resources=resources, children=children, geometry=geometry, context=context,
            points=points, crs=self.crs, notes=self.all_notes(rows),
        )

    # -- the figures

    def indicators(self, here, parent, cell, *, is_city: bool, member_cells=None) -> pd.DataFrame:
        city = self.city_cell
        rows: list[dict] = []

        def at(c, col, table):
            return None if c is None else _value(table, c, col)

        def add(key, section, label, col, table, *, unit, fmt=people, note=""):
            rows.append({"key": key, "section": section, "label": label, "value": fmt(here(col, table)),
                         "parent": NOT_APPLICABLE if parent is None else fmt(at(parent, col, table)),
                         "city": fmt(at(city, col, table)), "unit": unit, "note": note})

        t0 = self.salon[self.thresholds[0]]
        sec = "人口・世帯"
        add("population", sec, "人口", "population", t0, unit="人", note="国勢調査の人口（メッシュ配分の合計・ジョブの表と同じ）")
        add("households", sec, "世帯数（国勢調査）", "households", self.census, unit="世帯", fmt=_count)
        known65 = self.known_65(cell, member_cells)
        age_note = "国勢調査（年齢別集計）" if known65 else ("推計：" + "／".join(self.age_notes) if self.age_notes else "推計")
        add("elderly", sec, "65歳以上人口", "elderly", t0, unit="人", note=age_note)
        rows.append({"key": "aging_rate", "section": sec, "label": "高齢化率（65歳以上の割合）",
                     "value": _rate(here("elderly", t0), here("population", t0)),
                     "parent": NOT_APPLICABLE if parent is None else _rate(at(parent, "elderly", t0), at(parent, "population", t0)),
                     "city": _rate(at(city, "elderly", t0), at(city, "population", t0)), "unit": "%",
                     "note": "65歳以上人口 ÷ 人口（65歳以上人口と同じ出典）"})
        add("pop_75plus", sec, "75歳以上人口", "pop_75plus", self.census, unit="人", fmt=_count,
            note="国勢調査（年齢別集計）" if here("pop_75plus", self.census) is not None
            else "年齢別集計がないため不明（tsunagu import age-table で取り込めます）")
        add("single_elderly_households", sec, "高齢単身世帯数", "single_elderly_households", self.census, unit="世帯",
            fmt=_count, note="国勢調査" if here("single_elderly_households", self.census) is not None else "データなし")

        sec = "地域資源"
        kinds = [c for c in self.counts.columns if c.startswith("kind:")]
        kinds.sort(key=lambda c: list(RESOURCE_KINDS).index(c[5:]) if c[5:] in RESOURCE_KINDS else len(RESOURCE_KINDS))
        for col in kinds:
            kind = col[5:]
            add(f"kind:{kind}", sec, RESOURCE_KINDS.get(kind, kind), col, self.counts, unit="か所", fmt=_count)

        for t in self.thresholds:
            table = self.salon[t]
            sec = f"サロンの徒歩圏（{t:g} m）"
            add(f"covered_elderly_{t:g}", sec, "徒歩圏内の高齢者", "covered_elderly", table, unit="人")
            add(f"uncovered_elderly_{t:g}", sec, "徒歩圏外の高齢者（未カバー）", "uncovered_elderly", table, unit="人")
            rows.append({"key": f"uncovered_share_{t:g}", "section": sec, "label": "未カバー率",
                         "value": self.share(here, "uncovered_elderly", "elderly", table, member_cells),
                         "parent": NOT_APPLICABLE if parent is None else percent(at(parent, "uncovered_share", table)),
                         "city": percent(at(city, "uncovered_share", table)), "unit": "%",
                         "note": "65歳以上人口に対する割合（サロンの空白地域ジョブと同じ）"})

        sec = "買い物弱者"
        if self.shop is None:
            rows.append({"key": "refugees_straight", "section": sec, "label": "買い物弱者",
                         "value": self.shopping_missing or UNKNOWN, "parent": NOT_APPLICABLE, "city": NOT_APPLICABLE,
                         "unit": "", "note": "食料品店のデータがないため計算していません"})
        else:
            methods = ["straight"] + (["network"] if "refugees_network" in self.shop.columns else [])
            for m in methods:
                note = (self.shopping_method or "") if m == "straight" else "道路網上の距離"
                add(f"refugees_{m}", sec, SHOPPING_LABELS[f"refugees_{m}"], f"refugees_{m}", self.shop, unit="人", note=note)
                rows.append({"key": f"share_{m}", "section": sec, "label": SHOPPING_LABELS[f"share_{m}"],
                             "value": self.share(here, f"refugees_{m}", "elderly", self.shop, member_cells, col=f"share_{m}"),
                             "parent": NOT_APPLICABLE if parent is None else percent(at(parent, f"share_{m}", self.shop)),
                             "city": percent(at(city, f"share_{m}", self.shop)), "unit": "%", "note": "65歳以上人口に対する割合"})
                add(f"served_{m}", sec, SHOPPING_LABELS[f"served_{m}"], f"served_{m}", self.shop, unit="人")
                add(f"remaining_{m}", sec, SHOPPING_LABELS[f"remaining_{m}"], f"remaining_{m}", self.shop, unit="人")

        sec = "移動販売"
        add("mobile_stops", sec, "移動販売の停留所", "mobile_stops", self.counts, unit="か所", fmt=_count)
        add("weekly_visits", sec, "停留所への週あたりの訪問回数", "weekly_visits", self.counts, unit="回／週", fmt=_count,
            note="各停留所の曜日（毎週火・金 → 2回）の合計")
        if any(_value(self.counts, c, "stops_days_unknown") for c in ([cell] if cell else member_cells or [])):
            rows[-1]["note"] += "。曜日が分からない停留所は数えていません"

        sec = "訪問先の世帯（CSW）"
        if self.households is None:
            rows.append({"key": "client_households", "section": sec, "label": "訪問先の世帯数", "value": NOT_APPLICABLE,
                         "parent": NOT_APPLICABLE, "city": NOT_APPLICABLE, "unit": "世帯",
                         "note": "訪問先の世帯が登録されていません"})
        else:
            k = self.household_k
            hh = self.households

            def published(c):
                if c is None:
                    return NOT_APPLICABLE
                v = hh.get(c[0], {}).get(c[1])
                return SUPPRESSED if v is None else int(v)

            if member_cells is not None:
                vals = [published(c) for c in member_cells]
                value = SUPPRESSED if any(v == SUPPRESSED for v in vals) else int(sum(vals))
            else:
                value = published(cell)
            rows.append({"key": "client_households", "section": sec, "label": "訪問先の世帯数", "value": value,
                         "parent": NOT_APPLICABLE if parent is None else published(parent),
                         "city": published(city), "unit": "世帯",
                         "note": f"{k}世帯未満の地域と、そこから逆算できる地域は「{SUPPRESSED}」（件数のみ・個人の情報は載せません）"})
        out = pd.DataFrame(rows, columns=INDICATOR_COLUMNS)
        out.attrs["top_level"] = self.profile.top.key
        return out

    def share(self, here, num: str, den: str, table, member_cells, *, col: str | None = None):
        """A share here: the table's own share for one area, the ratio of the sums for a catchment."""
        if member_cells is None:
            return percent(here(col or {"uncovered_elderly": "uncovered_share"}.get(num, num), table))
        n, d = here(num, table), here(den, table)
        return None if n is None or d is None or d <= 0 else percent(n / d)

    def known_65(self, cell, member_cells) -> bool:
        cells = [cell] if cell is not None else (member_cells or [])
        return bool(cells) and all(_value(self.census, c, "pop_65plus") is not None for c in cells)

    def all_notes(self, rows: pd.DataFrame) -> list[str]:
        out = list(dict.fromkeys([*self.notes, *self.age_notes]))
        if "is_sample" in self.resources.columns and self.resources["is_sample"].fillna(False).astype(bool).any():
            note = "サンプルデータを含みます（サロン・拠点の位置は実在のものではありません）"
            if note not in out:
                out.append(note)
        return out

    # -- lists and map

    def resource_list(self, inside: np.ndarray) -> tuple[pd.DataFrame, gpd.GeoDataFrame]:
        res = self.resources[inside] if len(self.resources) else self.resources
        kinds = res["kind"].astype(str) if len(res) else pd.Series([], dtype=str)
        order = {k: i for i, k in enumerate(RESOURCE_KINDS)}
        table = pd.DataFrame({
            "種別": kinds.map(lambda k: RESOURCE_KINDS.get(k, k)).to_numpy(),
            "名称": res["name"].astype(str).to_numpy() if len(res) else [],
            "住所": res["address"].fillna("").astype(str).to_numpy() if len(res) and "address" in res else [""] * len(res),
            "サンプル": (res["is_sample"].fillna(False).astype(bool).map({True: "サンプル", False: ""}).to_numpy()
                      if len(res) and "is_sample" in res else [""] * len(res)),
            "_o": kinds.map(lambda k: order.get(k, len(order))).to_numpy(),
        }).sort_values(["_o", "名称"], kind="stable").drop(columns="_o").reset_index(drop=True)
        points = gpd.GeoDataFrame({"kind": kinds.to_numpy(), "name": res["name"].astype(str).to_numpy() if len(res) else []},
                                  geometry=res.geometry.to_crs(STORAGE_CRS).values if len(res) else [], crs=STORAGE_CRS)
        return table, points

    def siblings(self, level: str, parent, cell) -> gpd.GeoDataFrame:
        part = self.areas[self.areas["level"] == level]
        if parent is not None:
            part = part[part["parent_id"].astype(str) == parent[1]]
        part = part.to_crs(STORAGE_CRS)
        return gpd.GeoDataFrame({"area_id": part["area_id"].astype(str).to_numpy(), "name": part["name"].astype(str).to_numpy(),
                                 "highlight": (part["area_id"].astype(str) == cell[1]).to_numpy()},
                                geometry=part.geometry.values, crs=STORAGE_CRS)

    def children(self, level: str, area_id: str) -> pd.DataFrame:
        i = self.profile.keys.index(level)
        if i == 0:
            return self.child_rows([])
        inner = self.profile.keys[i - 1]
        kids = self.areas[(self.areas["level"] == inner) & (self.areas["parent_id"].astype(str) == area_id)]
        return self.child_rows([(inner, a) for a in sorted(kids["area_id"].astype(str))])

    def child_rows(self, cells) -> pd.DataFrame:
        t0 = self.thresholds[0]
        rows = []
        for c in cells:
            row = {"階層": self.labels[c[0]], "地域ID": c[1], "名称": str(self.meta.at[c, "name"]),
                   "人口": people(_value(self.salon[t0], c, "population")),
                   "65歳以上人口": people(_value(self.salon[t0], c, "elderly")),
                   f"未カバー率（徒歩{t0:g} m）（%）": percent(_value(self.salon[t0], c, "uncovered_share"))}
            if self.shop is not None:
                row["買い物弱者（直線）"] = people(_value(self.shop, c, "refugees_straight"))
                row["割合（直線）（%）"] = percent(_value(self.shop, c, "share_straight"))
            rows.append(row)
        columns = ["階層", "地域ID", "名称", "人口", "65歳以上人口", f"未カバー率（徒歩{t0:g} m）（%）"]
        if self.shop is not None:
            columns += ["買い物弱者（直線）", "割合（直線）（%）"]
        return pd.DataFrame(rows, columns=columns)


def _count(value) -> int | None:
    if value is None or pd.isna(value):
        return None
    return int(round(float(value)))


def _rate(num, den) -> float | None:
    if num is None or den is None or pd.isna(num) or pd.isna(den) or float(den) <= 0:
        return None
    return percent(float(num) / float(den))


def with_scenario(reports: list[AreaReport], scenario_reports: list[AreaReport], *, name: str,
                  changes: list[str] = ()) -> list[AreaReport]:
    """The reports with each figure under a scenario beside it and the difference (scenario − now).

    ``scenario_reports`` are the same areas' reports computed on the scenario's data
    (``api.scenarios.ScenarioView``); their ``value`` becomes the column ``scenario`` and
    ``delta`` the difference where both are numbers (rounded as the figures are). The notes say
    which scenario and what it changes.
    """
    by_area = {(r.level, str(r.area_id)): r for r in scenario_reports}
    out = []
    for r in reports:
        other = by_area.get((r.level, str(r.area_id)))
        if other is None:
            out.append(r)
            continue
        ind = r.indicators.copy()
        theirs = other.indicators.set_index("key")["value"]
        ind["scenario"] = [theirs.get(k) for k in ind["key"]]
        ind["delta"] = [_delta(a, b) for a, b in zip(ind["value"], ind["scenario"])]
        ind.attrs = dict(r.indicators.attrs)
        ind.attrs["scenario"] = name
        notes = [f"シナリオ「{name}」の値と差（シナリオ − 現状）を並べています。シナリオは基本データを変更しません"]
        notes += [f"シナリオの変更: {c}" for c in changes]
        out.append(replace(r, indicators=ind, notes=[*r.notes, *notes]))
    return out


def _delta(now, then):
    if isinstance(now, bool) or isinstance(then, bool):
        return None
    if isinstance(now, (int, float, np.integer, np.floating)) and isinstance(then, (int, float, np.integer, np.floating)):
        if pd.isna(now) or pd.isna(then):
            return None
        return round(float(then) - float(now), 1)
    return None


__all__ = ["AreaReport", "CATCHMENT_LEVEL", "INDICATOR_COLUMNS", "INDICATOR_LABELS", "SUPPRESSED", "UNKNOWN",
           "area_reports", "catchment_report", "people", "percent", "resource_counts", "with_scenario"]
