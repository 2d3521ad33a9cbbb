"""Point layers: stations and resources as circle markers, one toggleable group per kind."""

from __future__ import annotations

import folium
import geopandas as gpd
import pandas as pd

from gis.crs import STORAGE_CRS
from gis.schema import RESOURCE_KINDS, STATION_KINDS
from layers.style import (
    SAMPLE_DASH,
    SAMPLE_LABEL,
    SAMPLE_STROKE,
    esc,
    popup_table,
    resource_colour,
    station_colour,
)


def _points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = gdf if gdf.crs is None else gdf.to_crs(STORAGE_CRS)
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty & (gdf.geometry.geom_type == "Point")
    return gdf[keep]


def _is_sample(row) -> bool:
    value = row.get("is_sample", False)
    return bool(value) if value is not None and not pd.isna(value) else False


def _marker(row, *, colour: str, radius: float, popup: str, tooltip: str, sample: bool) -> folium.CircleMarker:
    return folium.CircleMarker(
        location=[row.geometry.y, row.geometry.x],
        radius=radius,
        color=SAMPLE_STROKE if sample else "#222222",
        weight=2 if sample else 1,
        dash_array=SAMPLE_DASH if sample else None,
        fill=True,
        fill_color=colour,
        fill_opacity=0.45 if sample else 0.9,
        popup=folium.Popup(popup, max_width=320),
        tooltip=tooltip,
    )


def _kind_label(label: str, n: int, n_sample: int) -> str:
    text = f"{label}（{n}件）"
    if n_sample:
        text += f"［{SAMPLE_LABEL}{'' if n_sample == n else f' {n_sample}件'}］"
    return text


def station_layers(stations: gpd.GeoDataFrame, *, show: bool = True) -> list[folium.FeatureGroup]:
    """Return one toggleable group of circle markers per station kind.

    Popups show 名称, 種別, 住所, 担当区域数 (and 「サンプルデータ」 for sample points).

    Parameters
    ----------
    stations
        Stations (columns of :data:`gis.schema.STATION_COLUMNS`).
    show
        Whether the groups are switched on when the map opens.
    """
    gdf = _points(stations)
    groups = []
    for kind, part in gdf.groupby("kind", sort=False):
        label = STATION_KINDS.get(kind, str(kind))
        samples = part.apply(_is_sample, axis=1) if len(part) else pd.Series(dtype=bool)
        group = folium.FeatureGroup(name=_kind_label(label, len(part), int(samples.sum())), show=show)
        for (_, row), sample in zip(part.iterrows(), samples):
            area_ids = row.get("area_ids")
            rows = [("種別", esc(label)), ("住所", esc(row.get("address")) or "不明")]
            if isinstance(area_ids, (list, tuple)):
                rows.append(("担当区域数", f"{len(area_ids)}"))
            if sample:
                rows.append(("データ", SAMPLE_LABEL))
            popup = popup_table(str(row["name"]), rows, badge=SAMPLE_LABEL if sample else None)
            _marker(row, colour=station_colour(kind), radius=9, popup=popup, tooltip=esc(row["name"]),
                    sample=sample).add_to(group)
        groups.append(group)
    return groups


def resource_layers(resources: gpd.GeoDataFrame, *, show: bool = True) -> list[folium.FeatureGroup]:
    """Return one toggleable group of circle markers per resource kind, in the order of RESOURCE_KINDS.

    Popups show 名称, 種別, 住所 and, for sample data, a 「サンプルデータ」 badge; sample markers
    have a dashed outline and a pale fill, and their group name says 「サンプルデータ」.

    Parameters
    ----------
    resources
        Resources (columns of :data:`gis.schema.RESOURCE_COLUMNS`).
    show
        Whether the groups are switched on when the map opens.
    """
    gdf = _points(resources)
    order = {k: i for i, k in enumerate(RESOURCE_KINDS)}
    groups = []
    for kind in sorted(gdf["kind"].unique(), key=lambda k: order.get(k, len(order))):
        part = gdf[gdf["kind"] == kind]
        label = RESOURCE_KINDS.get(kind, str(kind))
        samples = part.apply(_is_sample, axis=1)
        group = folium.FeatureGroup(name=_kind_label(label, len(part), int(samples.sum())), show=show)
        for (_, row), sample in zip(part.iterrows(), samples):
            rows = [("種別", esc(label)), ("住所", esc(row.get("address")) or "不明")]
            attributes = row.get("attributes")
            precision = attributes.get("location_precision") if isinstance(attributes, dict) else None
            if precision:  # placed from an address, e.g. 「位置は町丁・字の代表点（概略）」
                rows.append(("位置", esc(precision)))
            source = esc(row.get("source"))
            if source:
                rows.append(("出典", source))
            if sample:
                rows.append(("データ", f"{SAMPLE_LABEL}（デモ用の例示データ）"))
            popup = popup_table(str(row["name"]), rows, badge=SAMPLE_LABEL if sample else None)
            _marker(row, colour=resource_colour(kind), radius=6, popup=popup, tooltip=esc(row["name"]),
                    sample=sample).add_to(group)
        groups.append(group)
    return groups
