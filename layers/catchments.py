"""Catchment layers: station catchment polygons coloured per station, station markers with workload popups."""

from __future__ import annotations

import html
from collections.abc import Sequence

import folium
import geopandas as gpd
import pandas as pd

from gis.crs import STORAGE_CRS
from gis.schema import STATION_KINDS
from layers.basemap import tier_base_map
from layers.geojson import DISPLAY_TOLERANCE_M, point_geojson, polygon_geojson
from layers.style import (
    DATA_ATTRIBUTIONS,
    NO_DATA_COLOUR,
    SAMPLE_DASH,
    SAMPLE_LABEL,
    SAMPLE_STROKE,
    HtmlBox,
    attribution_box,
    esc,
    fmt_float,
)

#: Qualitative colours for catchments (ColorBrewer Set3 + Paired), cycled when there are more stations.
CATCHMENT_COLOURS: tuple[str, ...] = (
    "#8dd3c7", "#fb8072", "#80b1d3", "#fdb462", "#b3de69", "#bc80bd", "#fccde5", "#ffed6f",
    "#1f78b4", "#33a02c", "#e31a1c", "#ff7f00", "#6a3d9a", "#b15928", "#a6cee3", "#b2df8a",
)


def station_colours(station_ids: Sequence[str]) -> dict[str, str]:
    """One colour per station id, in the order given."""
    return {str(s): CATCHMENT_COLOURS[i % len(CATCHMENT_COLOURS)] for i, s in enumerate(station_ids)}


def _num(v, digits: int = 0, unit: str = "") -> str:
    if v is None or pd.isna(v):
        return "不明"
    return fmt_float(v, digits) + unit


def _workload_rows(w: pd.Series) -> list[tuple[str, str]]:
    return [
        ("担当する町丁・字", f"{int(w['n_areas'])}"),
        ("人口", _num(w["population"], 0, " 人")),
        ("65歳以上人口", _num(w["elderly"], 0, " 人")),
        ("高齢単身世帯数", _num(w["single_elderly_households"], 0, " 世帯")),
        ("未カバーの高齢者", _num(w["uncovered_elderly"], 0, " 人") if w["uncovered_elderly"] is not None
         and not pd.isna(w["uncovered_elderly"]) else "—"),
        ("面積", _num(w["area_km2"], 1, " km²")),
        ("最も遠い世帯まで", _num(None if w["farthest_m"] is None or pd.isna(w["farthest_m"]) else w["farthest_m"] / 1000, 1, " km")),
    ]


def catchment_layer(polygons: gpd.GeoDataFrame, workload: pd.DataFrame, *, colours: dict[str, str],
                    name: str = "拠点の担当圏域", show: bool = True, simplify_m: float | None = DISPLAY_TOLERANCE_M,
                    unassigned: gpd.GeoDataFrame | None = None,
                    municipality_code: str | None = None) -> folium.FeatureGroup:
    """Catchment polygons, one colour per station, with the workload in the popup.

    The catchments tile the city, so they are simplified together (neighbours keep one
    boundary, :func:`layers.geojson.display_polygons`), ``simplify_m`` metres.
    """
    group = folium.FeatureGroup(name=name, show=show)
    if polygons is None or len(polygons) == 0:
        return group
    w = workload.set_index("station_id")
    gdf = polygons if polygons.crs is not None else polygons.set_crs(STORAGE_CRS)
    props = []
    for sid in gdf["station_id"].astype(str):
        row = w.loc[sid] if sid in w.index else None
        d = {"拠点": esc(gdf.loc[gdf["station_id"].astype(str) == sid, "name"].iloc[0]),
             "_fill": colours.get(sid, NO_DATA_COLOUR)}
        if row is not None:
            d.update({k: v for k, v in _workload_rows(row)})
        props.append(d)
    disp = gpd.GeoDataFrame(pd.DataFrame(props), geometry=gdf.geometry.values, crs=gdf.crs)
    fields = [c for c in disp.columns if c not in ("_fill", "geometry")]
    for c in fields:
        disp[c] = disp[c].fillna("")
    polygon_geojson(
        disp, popup_fields=fields, tooltip_fields=["拠点"],
        style=lambda r: {"fillColor": r["_fill"], "fillOpacity": 0.5, "color": "#333333", "weight": 2},
        highlight={"weight": 4, "color": "#000000"}, municipality_code=municipality_code, simplify_m=simplify_m,
    ).add_to(group)
    if unassigned is not None and len(unassigned):
        ua = gpd.GeoDataFrame({"担当拠点なし": unassigned["name"].map(esc)}, geometry=unassigned.geometry.values,
                              crs=unassigned.crs or STORAGE_CRS)
        polygon_geojson(
            ua, tooltip_fields=["担当拠点なし"],
            style=lambda r: {"fillColor": NO_DATA_COLOUR, "fillOpacity": 0.5, "color": "#555555", "weight": 1,
                             "dashArray": "4 3"},
            municipality_code=municipality_code, simplify_m=simplify_m,
        ).add_to(group)
    return group


def station_workload_layer(stations: gpd.GeoDataFrame, workload: pd.DataFrame, *, colours: dict[str, str],
                           show: bool = True) -> folium.FeatureGroup:
    """Station markers (in their catchment colour) whose popups list the workload; sample stations dashed."""
    samples = stations.get("is_sample", pd.Series(False, index=stations.index)).fillna(False).astype(bool)
    label = f"拠点（{len(stations)}か所）" + (f"［{SAMPLE_LABEL}］" if int(samples.sum()) else "")
    group = folium.FeatureGroup(name=label, show=show)
    w = workload.set_index("station_id")
    gdf = stations.to_crs(STORAGE_CRS)
    records = []
    for (_, row), sample in zip(gdf.iterrows(), samples):
        sid = str(row["station_id"])
        rows = [("種別", esc(STATION_KINDS.get(row.get("kind"), row.get("kind"))))]
        if sid in w.index:
            rows += _workload_rows(w.loc[sid])
        if sample:
            rows.append(("データ", f"{SAMPLE_LABEL}（実在の施設ではありません）"))
        records.append({"名称": esc(row["name"]), **dict(rows), "_fill": colours.get(sid, NO_DATA_COLOUR),
                        "_sample": bool(sample)})
    disp = gpd.GeoDataFrame(pd.DataFrame(records, index=gdf.index).fillna(""), geometry=gdf.geometry.values,
                            crs=STORAGE_CRS)
    fields = [c for c in disp.columns if not c.startswith("_") and c != "geometry"]

    def style(feature: dict) -> dict:
        p = feature["properties"]
        if p.get("_sample"):
            return {"fillColor": p["_fill"], "color": SAMPLE_STROKE, "weight": 3, "dashArray": SAMPLE_DASH,
                    "fillOpacity": 0.95}
        return {"fillColor": p["_fill"], "color": "#111111", "weight": 2, "fillOpacity": 0.95}

    layer = point_geojson(disp, popup_fields=fields, style=style, radius=10)
    if layer is not None:
        layer.add_to(group)
    return group


def catchment_map(
    *,
    polygons: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame,
    workload: pd.DataFrame,
    city_name: str,
    by: str,
    unassigned: gpd.GeoDataFrame | None = None,
    notes: Sequence[str] = (),
    attributions: Sequence[str] = DATA_ATTRIBUTIONS,
) -> folium.Map:
    """The 拠点の担当圏域マップ: catchments coloured per station, station markers, legend and notes."""
    from layers.maps import _bounds

    m = tier_base_map(bounds=_bounds(polygons, stations, unassigned))
    how = "担当地域の指定" if by == "given" else "最寄り（移動距離）"
    title = f"{city_name} 拠点の担当圏域（{how}）"
    m.get_root().title = title
    colours = station_colours(stations["station_id"].astype(str))
    catchment_layer(polygons, workload, colours=colours, unassigned=unassigned).add_to(m)
    station_workload_layer(stations, workload, colours=colours).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(HtmlBox(html.escape(title), css_class="tsunagu-title"), name="tsunagu_title")
    parts = ["<h4>拠点と担当圏域</h4>"]
    for _, row in stations.iterrows():
        sample = bool(row.get("is_sample", False))
        parts.append(f"<div><span class='sw' style='background:{colours[str(row['station_id'])]}'></span>"
                     f"{html.escape(str(row['name']))}{'（サンプル）' if sample and 'サンプル' not in str(row['name']) else ''}</div>")
    if unassigned is not None and len(unassigned):
        parts.append("<div><span class='sw hatch'></span>担当拠点なし</div>")
    if bool(stations.get("is_sample", pd.Series(dtype=bool)).fillna(False).astype(bool).any()):
        parts.append(f"<div><span class='dot sample'></span>{SAMPLE_LABEL}（点線の枠・デモ用の例示）</div>")
    m.add_child(HtmlBox("".join(parts), css_class="tsunagu-legend"), name="tsunagu_legend")
    items = [n for n in notes if n]
    if items:
        body = "<div><b>注記</b></div>" + "".join(f"<div>・{html.escape(n)}</div>" for n in items)
        m.add_child(HtmlBox(body, css_class="tsunagu-note"), name="tsunagu_note")
    m.add_child(attribution_box(attributions), name="tsunagu_attribution")
    return m
