"""Salon map layers: uncovered-elderly choropleth per tier, salons with walking catchments, new sites ranked."""

from __future__ import annotations

import html
from collections.abc import Sequence

import folium
import geopandas as gpd
import pandas as pd

from gis.crs import STORAGE_CRS
from gis.kinds import SALON_KIND
from gis.schema import RESOURCE_KINDS
from gis.tiers import CityProfile
from layers.basemap import tier_base_map
from layers.geojson import DISPLAY_TOLERANCE_M, display_areas, point_geojson, polygon_geojson
from layers.points import marker_style
from layers.style import (
    DATA_ATTRIBUTIONS,
    DENSITY_COLOURS,
    NO_DATA_COLOUR,
    NO_DATA_LABEL,
    SAMPLE_DASH,
    SAMPLE_LABEL,
    HtmlBox,
    attribution_box,
    esc,
    fmt_float,
    popup_table,
    resource_colour,
)

UNCOVERED_LABEL = "未カバー高齢者（人）"
#: Class breaks (uncovered elderly per area) of the choropleth; YlOrRd colours of the density ramp.
UNCOVERED_BREAKS: tuple[float, ...] = (0, 1, 10, 25, 50, 100, 250, 500, 1000)
NEW_SITE_COLOUR = "#d62728"
CATCHMENT_COLOUR = resource_colour(SALON_KIND)
SALON_LABEL = RESOURCE_KINDS[SALON_KIND]


def _bounds(*frames) -> list[float] | None:
    boxes = [f.to_crs(STORAGE_CRS).total_bounds for f in frames if f is not None and len(f) and f.crs is not None]
    boxes = [b for b in boxes if all(v == v for v in b)]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def uncovered_colour(value) -> str:
    """Fill colour for an uncovered-elderly count (grey when unknown)."""
    if value is None or pd.isna(value):
        return NO_DATA_COLOUR
    i = 0
    for k, lower in enumerate(UNCOVERED_BREAKS):
        if float(value) >= lower:
            i = k
    return DENSITY_COLOURS[i]


def uncovered_classes() -> list[tuple[str, str]]:
    """``(colour, Japanese label)`` per class, low to high."""
    out = []
    for k, lower in enumerate(UNCOVERED_BREAKS):
        if k == 0:
            label = "0（全員カバー）"
        elif k + 1 < len(UNCOVERED_BREAKS):
            label = f"{lower:,.0f}〜{UNCOVERED_BREAKS[k + 1]:,.0f}"
        else:
            label = f"{lower:,.0f} 以上"
        out.append((DENSITY_COLOURS[k], label))
    return out


def _share(v) -> str:
    return "―（高齢者なし）" if v is None or pd.isna(v) else f"{float(v):.1%}"


def uncovered_choropleth(
    areas: gpd.GeoDataFrame,
    table: pd.DataFrame,
    *,
    level: str,
    level_label: str,
    show: bool = True,
    simplify_m: float | None = DISPLAY_TOLERANCE_M,
) -> folium.FeatureGroup:
    """Choropleth of uncovered elderly for one tier level (from ``gis.salons.coverage_by_tier``).

    ``simplify_m``: display simplification in metres (None when ``areas`` come from
    :func:`layers.geojson.display_areas`).
    """
    group = folium.FeatureGroup(name=f"{level_label}：{UNCOVERED_LABEL}", show=show)
    part = areas[areas["level"] == level]
    if len(part) == 0:
        return group
    rows = table[table["level"] == level].set_index("area_id")
    ids = part["area_id"].astype(str)
    unc = rows["uncovered_elderly"].reindex(ids).to_numpy()
    frame = gpd.GeoDataFrame({
        "名称": part["name"].map(esc).to_numpy(),
        "人口": rows["population"].reindex(ids).map(lambda v: fmt_float(v, 0)).to_numpy(),
        "65歳以上": rows["elderly"].reindex(ids).map(lambda v: fmt_float(v, 0)).to_numpy(),
        "未カバー高齢者": [fmt_float(v, 0) for v in unc],
        "未カバー率": rows["uncovered_share"].reindex(ids).map(_share).to_numpy(),
        "_fill": [uncovered_colour(v) for v in unc],
    }, geometry=part.geometry.values, crs=part.crs or STORAGE_CRS)
    polygon_geojson(
        frame,
        popup_fields=["名称", "人口", "65歳以上", "未カバー高齢者", "未カバー率"],
        tooltip_fields=["名称", "未カバー高齢者"],
        style=lambda r: {"fillColor": r["_fill"], "fillOpacity": 0.6, "color": "#555555", "weight": 1},
        highlight={"weight": 3, "color": "#000000"},
        simplify_m=simplify_m,
    ).add_to(group)
    return group


def salon_layer(
    salons: gpd.GeoDataFrame, catchments: gpd.GeoDataFrame | None, *, threshold_m: float, show: bool = True
) -> folium.FeatureGroup:
    """Salons as markers (sample salons dashed and labelled) with their walking catchments."""
    salons = salons.to_crs(STORAGE_CRS) if len(salons) else salons
    n_sample = int(salons["is_sample"].fillna(False).astype(bool).sum()) if "is_sample" in salons.columns else 0
    name = f"サロンと徒歩{threshold_m:g} m圏（{len(salons)}件）"
    if n_sample:
        name += f"［{SAMPLE_LABEL}{'' if n_sample == len(salons) else f' {n_sample}件'}］"
    group = folium.FeatureGroup(name=name, show=show)
    if catchments is not None and len(catchments):
        walk = gpd.GeoDataFrame({
            "徒歩圏": [f"{esc(n)} の徒歩圏（{esc(m)}）" for n, m in zip(catchments["name"], catchments["method"])],
            "_sample": catchments["is_sample"].fillna(False).astype(bool).to_numpy()
            if "is_sample" in catchments.columns else False,
        }, geometry=catchments.geometry.values, crs=catchments.crs or STORAGE_CRS)
        polygon_geojson(  # walking catchments overlap: each is simplified on its own
            walk, tooltip_fields=["徒歩圏"], coverage=False,
            style=lambda r: {"fillColor": CATCHMENT_COLOUR, "fillOpacity": 0.12, "color": CATCHMENT_COLOUR,
                             "weight": 1, "dashArray": SAMPLE_DASH if r["_sample"] else None},
        ).add_to(group)
    if len(salons) == 0:
        return group
    samples = salons["is_sample"].fillna(False).astype(bool) if "is_sample" in salons.columns \
        else pd.Series(False, index=salons.index)
    points = gpd.GeoDataFrame({
        "名称": salons["name"].map(esc),
        "種別": esc(SALON_LABEL),
        "住所": salons["address"].map(esc).replace("", "不明") if "address" in salons.columns else "不明",
        "データ": samples.map(lambda s: f"{SAMPLE_LABEL}（デモ用の例示データ）" if s else ""),
        "_sample": samples,
    }, geometry=salons.geometry.values, crs=STORAGE_CRS)
    layer = point_geojson(points, popup_fields=["名称", "種別", "住所", "データ"], style=marker_style(CATCHMENT_COLOUR))
    if layer is not None:
        layer.add_to(group)
    return group


def candidate_layer(candidates: gpd.GeoDataFrame, *, show: bool = False) -> folium.FeatureGroup:
    """All candidate sites as small grey-outlined markers (off by default)."""
    gdf = candidates.to_crs(STORAGE_CRS)
    points = gpd.GeoDataFrame({
        "名称": [f"候補地：{esc(n)}（{esc(k)}）" for n, k in zip(gdf["name"], gdf["kind_label"])],
        "_fill": [resource_colour(k) if k != "user" else "#ffffff" for k in gdf["kind"]],
    }, geometry=gdf.geometry.values, crs=STORAGE_CRS)
    group = folium.FeatureGroup(name=f"候補地（{len(candidates)}か所）", show=show)
    layer = point_geojson(points, popup_fields=["名称"], radius=4, style=lambda f: {
        "fillColor": f["properties"]["_fill"], "color": "#555555", "weight": 1, "fillOpacity": 0.8})
    if layer is not None:
        layer.add_to(group)
    return group


def new_site_layer(sites: gpd.GeoDataFrame, *, threshold_m: float, show: bool = True) -> folium.FeatureGroup:
    """Chosen new sites: red numbered markers (rank) with their threshold circle.

    ``sites`` columns: ``rank``, ``name``, ``kind_label``, ``gain`` (newly covered elderly), geometry.
    """
    group = folium.FeatureGroup(name=f"新しいサロンの候補（上位{len(sites)}か所）", show=show)
    for row in sites.to_crs(STORAGE_CRS).itertuples():
        folium.Circle(location=[row.geometry.y, row.geometry.x], radius=float(threshold_m), color=NEW_SITE_COLOUR,
                      weight=2, fill=False, dash_array="6 4").add_to(group)
        icon = folium.DivIcon(
            html=(f"<div style='background:{NEW_SITE_COLOUR};color:#fff;border:2px solid #fff;border-radius:50%;"
                  f"width:24px;height:24px;line-height:20px;text-align:center;font-weight:bold;font-size:13px;"
                  f"box-shadow:0 1px 3px rgba(0,0,0,.5)'>{int(row.rank)}</div>"),
            icon_size=(24, 24), icon_anchor=(12, 12),
        )
        rows = [("順位", str(int(row.rank))), ("種別", esc(row.kind_label)),
                ("新たにカバーする高齢者", f"{fmt_float(row.gain, 1)} 人")]
        folium.Marker(
            location=[row.geometry.y, row.geometry.x], icon=icon,
            popup=folium.Popup(popup_table(f"{int(row.rank)}. {row.name}", rows), max_width=320),
            tooltip=f"{int(row.rank)}. {esc(row.name)}",
        ).add_to(group)
    return group


def _legend(*, threshold_m: float, has_sample: bool, has_sites: bool) -> HtmlBox:
    parts = [f"<h4>{html.escape(UNCOVERED_LABEL)}（徒歩{threshold_m:g} m圏外）</h4>"]
    for colour, label in uncovered_classes():
        parts.append(f"<div><span class='sw' style='background:{colour}'></span>{html.escape(label)}</div>")
    parts.append(f"<div><span class='sw hatch'></span>{NO_DATA_LABEL}</div>")
    parts.append("<h4>サロン</h4>")
    parts.append(f"<div><span class='dot' style='background:{CATCHMENT_COLOUR}'></span>{html.escape(SALON_LABEL)}</div>")
    parts.append(f"<div><span class='sw' style='background:{CATCHMENT_COLOUR};opacity:.35'></span>徒歩圏（{threshold_m:g} m）</div>")
    if has_sample:
        parts.append(f"<div><span class='dot sample'></span>{SAMPLE_LABEL}（点線の枠・デモ用の例示）</div>")
    if has_sites:
        parts.append(f"<div><span class='dot' style='background:{NEW_SITE_COLOUR}'></span>新しいサロンの候補地（番号＝優先順位）</div>")
    return HtmlBox("<div class='tsunagu-legend-body'>" + "".join(parts) + "</div>", css_class="tsunagu-legend")


def salon_map(
    *,
    areas: gpd.GeoDataFrame,
    table: pd.DataFrame,
    profile: CityProfile,
    salons: gpd.GeoDataFrame,
    catchments: gpd.GeoDataFrame | None,
    threshold_m: float,
    title: str,
    notes: Sequence[str] = (),
    candidates: gpd.GeoDataFrame | None = None,
    new_sites: gpd.GeoDataFrame | None = None,
    attributions: Sequence[str] = DATA_ATTRIBUTIONS,
) -> folium.Map:
    """The salon map: uncovered elderly per tier (公民館区 shown first), salons, catchments, new sites.

    Render with :func:`layers.maps.render_html`.
    """
    m = tier_base_map(bounds=_bounds(areas, salons))
    m.get_root().title = title
    areas = display_areas(areas)
    first = "kominkan" if "kominkan" in profile.keys else profile.keys[1]
    for lv in profile.levels:
        uncovered_choropleth(areas, table, level=lv.key, level_label=lv.label, show=lv.key == first,
                             simplify_m=None).add_to(m)
    salon_layer(salons, catchments, threshold_m=threshold_m).add_to(m)
    if candidates is not None and len(candidates):
        candidate_layer(candidates).add_to(m)
    if new_sites is not None and len(new_sites):
        new_site_layer(new_sites, threshold_m=threshold_m).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(HtmlBox(html.escape(title), css_class="tsunagu-title"), name="tsunagu_title")
    has_sample = bool(len(salons)) and "is_sample" in salons.columns and bool(salons["is_sample"].fillna(False).any())
    m.add_child(_legend(threshold_m=threshold_m, has_sample=has_sample, has_sites=new_sites is not None and len(new_sites) > 0),
                name="tsunagu_legend")
    if notes:
        body = "<div><b>注記</b></div>" + "".join(f"<div>・{html.escape(n)}</div>" for n in notes if n)
        m.add_child(HtmlBox(body, css_class="tsunagu-note"), name="tsunagu_note")
    m.add_child(attribution_box(attributions), name="tsunagu_attribution")
    return m
