"""The data model: columns and kinds of areas, stations and resources (one source of truth for both stores)."""

from __future__ import annotations

import json
import re

import geopandas as gpd
import pandas as pd
from shapely.geometry import MultiPolygon, Polygon

from gis import kinds as _kinds
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError

#: Population attributes of an area. Nullable integers: <NA> means "not known", never 0.
POPULATION_COLUMNS = [
    "population",
    "households",
    "pop_65plus",
    "pop_75plus",
    "single_elderly_households",
]

POPULATION_LABELS = {
    "population": "人口",
    "households": "世帯数",
    "pop_65plus": "65歳以上人口",
    "pop_75plus": "75歳以上人口",
    "single_elderly_households": "高齢単身世帯数",
}

#: Japanese labels of the columns every per-tier result table starts with.
TIER_TABLE_LABELS = {
    "level": "階層キー",
    "level_label": "階層",
    "area_id": "地域ID",
    "name": "名称",
    "parent_id": "上位地域ID",
    "population": "人口",
    "elderly": "65歳以上人口",
}

#: Areas of every tier level. ``parent_id`` points to the area of the next level out.
AREA_COLUMNS = ["area_id", "level", "name", "parent_id", *POPULATION_COLUMNS, "source", "geometry"]

#: Station kinds and their Japanese labels (from the one vocabulary, gis/kinds.toml).
STATION_KINDS: dict[str, str] = _kinds.station_labels()

#: Stations; ``area_ids`` is the catchment: the areas assigned to the station.
STATION_COLUMNS = ["station_id", "name", "kind", "address", "area_ids", "source", "is_sample", "geometry"]

#: Resource kinds and their Japanese labels (from the one vocabulary, gis/kinds.toml).
RESOURCE_KINDS: dict[str, str] = _kinds.resource_labels()

#: Attributes each kind usually carries (free-form otherwise), documented for importers.
KIND_ATTRIBUTES: dict[str, list[str]] = _kinds.kind_attributes()

RESOURCE_COLUMNS = ["resource_id", "kind", "name", "address", "attributes", "source", "is_sample", "geometry"]


def _multipolygon(geom):
    if isinstance(geom, Polygon):
        return MultiPolygon([geom])
    return geom


#: What each table holds, in the words of messages.
_WHAT_JA = {"areas": "地域", "stations": "拠点", "resources": "地域資源"}


def _require_columns(df: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        msg = f"{_WHAT_JA.get(what, what)}の表に列 {'、'.join(missing)} がありません（必要な列: {'、'.join(columns)}）"
        raise InputDataError(msg, en=f"{what} lack columns {missing}; expected {columns}")


def _check_unique(df: pd.DataFrame, column: str, what: str) -> None:
    dup = df[column][df[column].duplicated(keep=False)]
    if len(dup):
        rows = ", ".join(f"{v!r} (rows {', '.join(str(i + 1) for i in sorted(df.index[df[column] == v].map(df.index.get_loc)))})"
                         for v in list(dict.fromkeys(dup))[:10])
        rows_ja = "、".join(f"「{v}」（{'・'.join(str(i + 1) for i in sorted(df.index[df[column] == v].map(df.index.get_loc)))}行目）"
                            for v in list(dict.fromkeys(dup))[:10])
        msg = f"{_WHAT_JA.get(what, what)}の {column} が重複しています: {rows_ja}"
        raise InputDataError(
            msg, en=f"duplicate {column} in {what}: {rows}",
            hint=f"{_WHAT_JA.get(what, what)}ごとに別の {column} を付けてください",
            hint_en=f"give every {what[:-1] if what.endswith('s') else what} its own {column}",
        )


def empty_areas() -> gpd.GeoDataFrame:
    """Return an empty, correctly typed areas frame."""
    return coerce_areas(gpd.GeoDataFrame({c: [] for c in AREA_COLUMNS}, geometry="geometry", crs=STORAGE_CRS))


def coerce_areas(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` with exactly :data:`AREA_COLUMNS`, typed, MultiPolygons in EPSG:4326.

    Missing population columns are added as unknown (<NA>). Raises :class:`InputDataError`
    on missing ids, duplicates within a level or non-polygon geometry.
    """
    gdf = gdf.copy()
    for col in POPULATION_COLUMNS:
        if col not in gdf.columns:
            gdf[col] = pd.NA
    for col in ("parent_id", "source"):
        if col not in gdf.columns:
            gdf[col] = None
    _require_columns(gdf, ["area_id", "level", "name", "geometry"], "areas")
    if gdf.crs is None:
        gdf = gdf.set_crs(STORAGE_CRS)
    gdf = gdf.to_crs(STORAGE_CRS)
    out = gpd.GeoDataFrame(
        {
            "area_id": gdf["area_id"].astype(str),
            "level": gdf["level"].astype(str),
            "name": gdf["name"].fillna("").astype(str),
            "parent_id": pd.Series([None if v is None or pd.isna(v) else str(v) for v in gdf["parent_id"]],
                                   index=gdf.index, dtype=object),
            **{c: pd.to_numeric(gdf[c], errors="raise").round().astype("Int64") for c in POPULATION_COLUMNS},
            "source": gdf["source"].map(lambda v: "" if v is None or pd.isna(v) else str(v)).astype(object),
        },
        geometry=gdf.geometry.map(_multipolygon).values,
        crs=STORAGE_CRS,
    ).reset_index(drop=True)
    out = out.rename_geometry("geometry") if out.geometry.name != "geometry" else out
    bad = ~out.geometry.geom_type.isin(["MultiPolygon"]) & out.geometry.notna()
    if bad.any():
        i = int(bad.idxmax())
        msg = f"地域「{out.area_id[i]}」の図形が {out.geometry.geom_type[i]} です。地域は面（ポリゴン）で表してください"
        raise InputDataError(
            msg, en=f"area {out.area_id[i]!r} is a {out.geometry.geom_type[i]}, not a polygon", feature=out.area_id[i]
        )
    for level, part in out.groupby("level"):
        dup = part["area_id"][part["area_id"].duplicated()]
        if len(dup):
            msg = f"層「{level}」の中で area_id が重複しています: {'、'.join(map(str, dup.unique()[:10]))}"
            raise InputDataError(
                msg, en=f"duplicate area_id in level {level!r}: {', '.join(map(repr, dup.unique()[:10]))}",
                hint="同じ層の地域には、それぞれ別の ID を付けてください",
                hint_en="every area of a level needs its own id",
            )
    return out[AREA_COLUMNS]


def _coerce_points(
    gdf: gpd.GeoDataFrame, *, id_column: str, kinds: dict[str, str], what: str, extra: dict
) -> gpd.GeoDataFrame:
    """Shared normalisation of stations and resources: defaults, kind check, unique ids, CRS, types.

    ``extra`` maps each kind-specific column to (default, converter).
    """
    gdf = gdf.copy()
    defaults = {"address": "", "source": "", "is_sample": False, **{c: d for c, (d, _f) in extra.items()}}
    for col, default in defaults.items():
        if col not in gdf.columns:
            gdf[col] = default
    _require_columns(gdf, [id_column, "name", "kind", "geometry"], what)
    unknown = sorted(set(gdf["kind"].astype(str)) - set(kinds))
    if unknown:
        msg = f"{_WHAT_JA.get(what, what)}の種別「{unknown[0]}」はありません（使える種別: {'、'.join(kinds)}）"
        raise InputDataError(
            msg, en=f"unknown {what[:-1]} kind {unknown[0]!r}; known kinds: {', '.join(kinds)}",
            hint="種別の一覧は tsunagu kinds で確かめられます", hint_en="tsunagu kinds lists the kinds",
        )
    _check_unique(gdf.reset_index(drop=True), id_column, what)
    if gdf.crs is None:
        gdf = gdf.set_crs(STORAGE_CRS)
    gdf = gdf.to_crs(STORAGE_CRS)
    columns = {
        id_column: gdf[id_column].astype(str),
        "name": gdf["name"].fillna("").astype(str),
        "kind": gdf["kind"].astype(str),
        "address": gdf["address"].fillna("").astype(str),
        **{c: gdf[c].map(f).astype(object) for c, (_d, f) in extra.items()},
        "source": gdf["source"].fillna("").astype(str),
        "is_sample": gdf["is_sample"].fillna(False).astype(bool),
    }
    out = gpd.GeoDataFrame(columns, geometry=gdf.geometry.values, crs=STORAGE_CRS).reset_index(drop=True)
    bad = out.geometry.geom_type != "Point"
    if bad.any():
        i = int(bad.idxmax())
        msg = f"{_WHAT_JA.get(what, what)}「{out[id_column][i]}」の図形が {out.geometry.geom_type[i]} です。点で表してください"
        raise InputDataError(
            msg, en=f"{what[:-1]} {out[id_column][i]!r} is a {out.geometry.geom_type[i]}, not a point",
            feature=out[id_column][i],
        )
    return out


def coerce_stations(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` with exactly :data:`STATION_COLUMNS`; ``area_ids`` is a list of area ids."""
    out = _coerce_points(gdf, id_column="station_id", kinds=STATION_KINDS, what="stations",
                         extra={"area_ids": (None, _as_id_list)})
    return out[STATION_COLUMNS]


def coerce_resources(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Return ``gdf`` with exactly :data:`RESOURCE_COLUMNS`; ``attributes`` is a dict."""
    out = _coerce_points(gdf, id_column="resource_id", kinds=RESOURCE_KINDS, what="resources",
                         extra={"attributes": (None, _as_dict)})
    return out[RESOURCE_COLUMNS]


def _as_id_list(value) -> list[str]:
    if value is None or (not isinstance(value, (list, tuple, str)) and pd.isna(value)):
        return []
    if isinstance(value, str):
        value = value.strip()
        if value.startswith("["):
            return [str(v) for v in json.loads(value)]
        return [v.strip() for v in re.split(r"[,、，;；\n]", value) if v.strip()]
    return [str(v) for v in value]


def _as_dict(value) -> dict:
    if value is None or (not isinstance(value, (dict, str)) and pd.isna(value)):
        return {}
    if isinstance(value, str):
        return json.loads(value) if value.strip() else {}
    return dict(value)
