"""Point layers: stations and resources as circle markers, one toggleable GeoJSON layer per kind."""

from __future__ import annotations

from collections.abc import Callable

import geopandas as gpd
import pandas as pd

from gis import kinds as _kinds
from gis.crs import STORAGE_CRS
from gis.schema import RESOURCE_KINDS, STATION_KINDS
from layers.geojson import point_layer
from layers.style import (
    SAMPLE_DASH,
    SAMPLE_LABEL,
    SAMPLE_STROKE,
    esc,
    resource_colour,
    station_colour,
)

#: Popup fields of a station and of a resource, in display order.
STATION_FIELDS = ["名称", "種別", "住所", "担当区域数", "データ"]
RESOURCE_FIELDS = ["名称", "種別", "住所", "位置", "出典", "データ"]


def _points(gdf: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    gdf = gdf if gdf.crs is None else gdf.to_crs(STORAGE_CRS)
    keep = gdf.geometry.notna() & ~gdf.geometry.is_empty & (gdf.geometry.geom_type == "Point")
    return gdf[keep]


def _samples(gdf: gpd.GeoDataFrame) -> pd.Series:
    if "is_sample" not in gdf.columns:
        return pd.Series(False, index=gdf.index)
    return gdf["is_sample"].astype(object).where(gdf["is_sample"].notna(), False).astype(bool)


def _present(disp: gpd.GeoDataFrame, fields: list[str], *, always: tuple[str, ...]) -> list[str]:
    """The popup fields worth a row: ``always`` and those with a value on at least one point."""
    return [f for f in fields if f in always or (disp[f] != "").any()]


def _kind_label(label: str, n: int, n_sample: int) -> str:
    text = f"{label}（{n}件）"
    if n_sample:
        text += f"［{SAMPLE_LABEL}{'' if n_sample == n else f' {n_sample}件'}］"
    return text


def marker_style(colour: str, *, outline: str = "#222222", weight: float = 1,
                 fill_opacity: float = 0.9) -> Callable[[dict], dict]:
    """Return a style function: ``colour`` fill, dashed pale outline where ``_sample`` is true."""

    def style(feature: dict) -> dict:
        if feature["properties"].get("_sample"):
            return {"fillColor": colour, "color": SAMPLE_STROKE, "weight": weight + 1, "dashArray": SAMPLE_DASH,
                    "fillOpacity": 0.45}
        return {"fillColor": colour, "color": outline, "weight": weight, "fillOpacity": fill_opacity}

    return style


def station_layers(stations: gpd.GeoDataFrame, *, show: bool = True) -> list:
    """Return one toggleable layer of circle markers per station kind.

    Popups show 名称, 種別, 住所, 担当区域数 (and 「サンプルデータ」 for sample points).

    Parameters
    ----------
    stations
        Stations (columns of :data:`gis.schema.STATION_COLUMNS`).
    show
        Whether the layers are switched on when the map opens.
    """
    gdf = _points(stations)
    layers = []
    for kind, part in gdf.groupby("kind", sort=False):
        label = STATION_KINDS.get(kind, str(kind))
        samples = _samples(part)
        area_ids = part["area_ids"] if "area_ids" in part.columns else pd.Series(None, index=part.index)
        disp = gpd.GeoDataFrame({
            "名称": part["name"].map(esc),
            "種別": esc(label),
            "住所": part["address"].map(esc).replace("", "不明") if "address" in part.columns else "不明",
            "担当区域数": area_ids.map(lambda v: f"{len(v)}" if isinstance(v, (list, tuple)) else ""),
            "データ": samples.map(lambda s: SAMPLE_LABEL if s else ""),
            "_sample": samples,
        }, geometry=part.geometry, crs=STORAGE_CRS)
        fields = _present(disp, STATION_FIELDS, always=("名称", "種別", "住所"))
        layers.append(point_layer(
            disp, name=_kind_label(label, len(part), int(samples.sum())), popup_fields=fields,
            style=marker_style(station_colour(kind)), radius=9, show=show))
    return layers


def _precision(attributes) -> str:
    value = attributes.get("location_precision") if isinstance(attributes, dict) else None
    return esc(value) if value else ""  # placed from an address, e.g. 「位置は町丁・字の代表点（概略）」


def resource_layers(resources: gpd.GeoDataFrame, *, show: bool | None = None) -> list:
    """Return one toggleable layer of circle markers per resource kind, in the order of RESOURCE_KINDS.

    Popups show 名称, 種別, 住所 (位置 when placed from an address, 出典) and, for sample data,
    「サンプルデータ」; sample markers have a dashed outline and a pale fill, and their layer name
    says 「サンプルデータ」.

    Parameters
    ----------
    resources
        Resources (columns of :data:`gis.schema.RESOURCE_COLUMNS`).
    show
        Whether the layers are switched on when the map opens; None (default) switches on the
        main kinds only (``shown`` in gis/kinds.toml), the others stay one click away in the
        layer control.
    """
    gdf = _points(resources)
    shown = set(_kinds.shown_kinds())
    order = {k: i for i, k in enumerate(RESOURCE_KINDS)}
    layers = []
    for kind in sorted(gdf["kind"].unique(), key=lambda k: order.get(k, len(order))):
        part = gdf[gdf["kind"] == kind]
        label = RESOURCE_KINDS.get(kind, str(kind))
        samples = _samples(part)
        column = lambda name: part[name] if name in part.columns else pd.Series(None, index=part.index)  # noqa: E731
        disp = gpd.GeoDataFrame({
            "名称": part["name"].map(esc),
            "種別": esc(label),
            "住所": column("address").map(esc).replace("", "不明"),
            "位置": column("attributes").map(_precision),
            "出典": column("source").map(esc),
            "データ": samples.map(lambda s: f"{SAMPLE_LABEL}（デモ用の例示データ）" if s else ""),
            "_sample": samples,
        }, geometry=part.geometry, crs=STORAGE_CRS)
        fields = _present(disp, RESOURCE_FIELDS, always=("名称", "種別", "住所"))
        layers.append(point_layer(
            disp, name=_kind_label(label, len(part), int(samples.sum())), popup_fields=fields,
            style=marker_style(resource_colour(kind)), radius=6,
            show=kind in shown if show is None else show))
    return layers
