"""Shopping-refugee layers: refugee-share choropleths per tier (MAFF straight line and network), shops, mobile-sales stops, scenario changes."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import folium
import geopandas as gpd
import pandas as pd

from gis.crs import STORAGE_CRS
from gis.schema import RESOURCE_KINDS
from gis.shopping import MOBILE_STOP_KIND, STATUS_MOBILE, STATUS_OK, STATUS_REFUGEE
from gis.tiers import CityProfile
from layers.basemap import tier_base_map
from layers.geojson import DISPLAY_TOLERANCE_M, display_areas, feature_collection, polygon_geojson
from layers.points import resource_layers
from layers.style import (
    DATA_ATTRIBUTIONS,
    NO_DATA_COLOUR,
    SAMPLE_LABEL,
    HtmlBox,
    attribution_box,
    esc,
    fmt_float,
    legend_html,
    popup_table,
    resource_colour,
)

#: Class breaks of the refugee share (of people aged 65+) and their colours (light → dark purple).
SHARE_BREAKS: tuple[float, ...] = (0.0, 0.1, 0.2, 0.3, 0.4, 0.6, 0.8)
SHARE_COLOURS: tuple[str, ...] = ("#f2f0f7", "#dadaeb", "#bcbddc", "#9e9ac8", "#807dba", "#6a51a3", "#4a1486")
SHARE_LABEL = "買い物弱者の割合（65歳以上に占める）"
METHOD_LABELS = {"straight": "直線", "network": "道路網"}
#: Colours of scenario changes.
CHANGE_COLOURS = {"worse": "#d7301f", "better": "#1a9850"}
_RANK = {STATUS_OK: 0, STATUS_MOBILE: 1, STATUS_REFUGEE: 2}


def share_colour(share) -> str:
    """Fill colour of a refugee share (0–1); grey when unknown (nobody aged 65+)."""
    if share is None or pd.isna(share) or not math.isfinite(float(share)):
        return NO_DATA_COLOUR
    i = 0
    for k, lower in enumerate(SHARE_BREAKS):
        if float(share) >= lower:
            i = k
    return SHARE_COLOURS[i]


def share_legend_html(*, title: str = SHARE_LABEL) -> str:
    """Legend HTML of the refugee-share ramp."""
    parts = [f"<h4>{html.escape(title)}</h4>"]
    for k, lower in enumerate(SHARE_BREAKS):
        upper = SHARE_BREAKS[k + 1] if k + 1 < len(SHARE_BREAKS) else None
        label = f"{lower:.0%}〜{upper:.0%}" if upper is not None else f"{lower:.0%} 以上"
        parts.append(f"<div><span class='sw' style='background:{SHARE_COLOURS[k]}'></span>{label}</div>")
    parts.append(f"<div><span class='sw hatch'></span>65歳以上なし</div>")
    return "".join(parts)


def _fmt_people(v) -> str:
    return fmt_float(v, 0) + " 人" if v is not None and not pd.isna(v) else "不明"


def _fmt_share(v) -> str:
    return "—" if v is None or pd.isna(v) else f"{float(v):.1%}"


def refugee_choropleth(
    tier_table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    *,
    level_key: str,
    level_label: str,
    method: str = "straight",
    show: bool = True,
    simplify_m: float | None = DISPLAY_TOLERANCE_M,
) -> folium.FeatureGroup:
    """A toggleable choropleth of the refugee share of one tier level, by one method.

    Parameters
    ----------
    tier_table
        :func:`gis.shopping.refugees_by_tier` result.
    areas
        Areas of every level (for the polygons).
    level_key, level_label
        The level drawn and its Japanese label.
    method
        ``"straight"`` (MAFF) or ``"network"``.
    show
        Switched on when the map opens.
    simplify_m
        Display simplification in metres (:func:`layers.geojson.display_polygons`); None when
        ``areas`` are already simplified (:func:`layers.geojson.display_areas`).
    """
    name = f"買い物弱者の割合：{level_label}（{METHOD_LABELS[method]}）"
    group = folium.FeatureGroup(name=name, show=show)
    rows = tier_table[tier_table["level"] == level_key]
    part = areas[areas["level"] == level_key][["area_id", "geometry"]]
    if len(rows) == 0 or len(part) == 0 or f"refugees_{method}" not in rows.columns:
        return group
    frame = part.merge(rows, on="area_id", how="inner")
    frame = gpd.GeoDataFrame(frame, geometry="geometry", crs=areas.crs or STORAGE_CRS).to_crs(STORAGE_CRS)
    has_net = "refugees_network" in frame.columns
    disp = gpd.GeoDataFrame(
        {
            "名称": frame["name"].map(esc),
            "65歳以上": frame["elderly"].map(_fmt_people),
            "買い物弱者（直線）": frame["refugees_straight"].map(_fmt_people),
            "割合（直線）": frame["share_straight"].map(_fmt_share),
            "買い物弱者（道路網）": frame["refugees_network"].map(_fmt_people) if has_net else "道路網なし",
            "割合（道路網）": frame["share_network"].map(_fmt_share) if has_net else "道路網なし",
            "移動販売でカバー": frame[f"served_{method}"].map(_fmt_people),
            "残る買い物弱者": frame[f"remaining_{method}"].map(_fmt_people),
            "_fill": frame[f"share_{method}"].map(share_colour),
            "_unknown": frame[f"share_{method}"].isna(),
        },
        geometry=frame.geometry.values,
        crs=STORAGE_CRS,
    )
    fields = ["名称", "65歳以上", "買い物弱者（直線）", "割合（直線）", "買い物弱者（道路網）", "割合（道路網）",
              "移動販売でカバー", "残る買い物弱者"]
    share_field = "割合（直線）" if method == "straight" else "割合（道路網）"
    polygon_geojson(
        disp,
        popup_fields=fields,
        tooltip_fields=["名称", share_field],
        style=lambda row: _style({"properties": row}),
        highlight={"weight": 3, "color": "#000000"},
        simplify_m=simplify_m,
    ).add_to(group)
    return group


def _style(feature: dict) -> dict:
    p = feature["properties"]
    if p.get("_unknown"):
        return {"fillColor": NO_DATA_COLOUR, "fillOpacity": 0.4, "color": "#555555", "weight": 1, "dashArray": "4 3"}
    return {"fillColor": p["_fill"], "fillOpacity": 0.65, "color": "#555555", "weight": 1}


def mobile_stop_layer(stops: gpd.GeoDataFrame, *, walk_m: float, name: str = RESOURCE_KINDS[MOBILE_STOP_KIND], show: bool = True,
                      new: bool = False) -> folium.FeatureGroup:
    """Mobile-sales stops with a circle of ``walk_m`` (the walk counted as served; straight-line guide)."""
    label = f"{name}（徒歩 {walk_m:,.0f} m の目安円）"
    group = folium.FeatureGroup(name=label, show=show)
    if stops is None or len(stops) == 0:
        return group
    gdf = stops.to_crs(STORAGE_CRS)
    colour = resource_colour(MOBILE_STOP_KIND)
    for _, row in gdf.iterrows():
        days = row.get("days")
        if days is None and isinstance(row.get("attributes"), dict):
            days = row["attributes"].get("days")
        if isinstance(days, (list, tuple, set, frozenset)):
            days = "・".join(days)
        sample = bool(row.get("is_sample", False)) if not pd.isna(row.get("is_sample", False)) else False
        rows = [("運行日", esc(days) or "不明"), ("カバーする徒歩距離", f"{walk_m:,.0f} m")]
        if new:
            rows.append(("シナリオ", "追加する停留所"))
        if sample:
            rows.append(("データ", SAMPLE_LABEL))
        popup = popup_table(str(row.get("name") or RESOURCE_KINDS[MOBILE_STOP_KIND]), rows, badge="追加" if new else (SAMPLE_LABEL if sample else None))
        folium.Circle(location=[row.geometry.y, row.geometry.x], radius=float(walk_m), color=colour, weight=1,
                      fill=True, fill_opacity=0.12, dash_array="6 4" if new else None).add_to(group)
        folium.CircleMarker(location=[row.geometry.y, row.geometry.x], radius=7, color="#222222",
                            weight=3 if new else 1, fill=True, fill_color=colour, fill_opacity=0.95,
                            popup=folium.Popup(popup, max_width=320), tooltip=esc(row.get("name"))).add_to(group)
    return group


def scenario_change_layer(changed: gpd.GeoDataFrame, *, show: bool = True, max_points: int = 20000) -> folium.FeatureGroup:
    """Demand points whose status changes in a scenario: red got worse, green got better."""
    n = 0 if changed is None else len(changed)
    group = folium.FeatureGroup(name=f"シナリオで変わる地点（{n:,} 地点）", show=show)
    if n == 0:
        return group
    gdf = changed.to_crs(STORAGE_CRS).head(max_points)
    worse = gdf["status_after"].map(_RANK) > gdf["status_before"].map(_RANK)
    disp = gpd.GeoDataFrame(
        {
            "変更前": gdf["status_before"].astype(str),
            "変更後": gdf["status_after"].astype(str),
            "65歳以上": gdf["elderly"].map(lambda v: fmt_float(v, 1)),
            "_colour": worse.map({True: CHANGE_COLOURS["worse"], False: CHANGE_COLOURS["better"]}),
        },
        geometry=gdf.geometry.values,
        crs=STORAGE_CRS,
    )
    folium.GeoJson(
        feature_collection(disp),
        marker=folium.CircleMarker(radius=4, weight=0, fill=True, fill_opacity=0.85),
        style_function=lambda f: {"fillColor": f["properties"]["_colour"], "color": f["properties"]["_colour"]},
        tooltip=folium.GeoJsonTooltip(fields=["変更前", "変更後", "65歳以上"], aliases=["変更前", "変更後", "65歳以上"]),
        control=False,
    ).add_to(group)
    return group


def shopping_map(
    *,
    tier_table: pd.DataFrame,
    areas: gpd.GeoDataFrame,
    profile: CityProfile,
    shops: gpd.GeoDataFrame,
    city_name: str,
    threshold_m: float,
    mobile_stops: gpd.GeoDataFrame | None = None,
    stop_walk_m: float = 300.0,
    added_stops: gpd.GeoDataFrame | None = None,
    changed: gpd.GeoDataFrame | None = None,
    notes: Sequence[str] = (),
    attributions: Sequence[str] = DATA_ATTRIBUTIONS,
) -> folium.Map:
    """The 買い物弱者マップ: refugee share per tier (MAFF and network as separate layers), shops, stops, changes.

    Returns
    -------
    folium.Map
        Leaflet inlined (render with :func:`layers.maps.render_html`).
    """
    from layers.maps import _bounds

    m = tier_base_map(bounds=_bounds(areas))
    areas = display_areas(areas)  # once for the 2 × levels layers drawing the same polygons
    title = f"{city_name} 買い物弱者マップ（食料品店から {threshold_m:,.0f} m 以上）"
    m.get_root().title = title
    methods = ["straight"] + (["network"] if "refugees_network" in tier_table.columns else [])
    first = True
    for method in methods:
        for lv in profile.levels[1:] + profile.levels[:1]:  # 公民館区 first on; innermost is detailed
            refugee_choropleth(tier_table, areas, level_key=lv.key, level_label=lv.short, method=method,
                               show=first, simplify_m=None).add_to(m)
            first = False
    kinds: list[str] = []
    has_sample = False
    if shops is not None and len(shops):
        for g in resource_layers(shops, show=True):  # the shops are what this map is about
            g.add_to(m)
        kinds = list(dict.fromkeys(shops["kind"]))
        has_sample |= bool(shops.get("is_sample", pd.Series(dtype=bool)).fillna(False).astype(bool).any())
    if mobile_stops is not None and len(mobile_stops):
        mobile_stop_layer(mobile_stops, walk_m=stop_walk_m).add_to(m)
        kinds.append(MOBILE_STOP_KIND)
        has_sample |= bool(mobile_stops.get("is_sample", pd.Series(dtype=bool)).fillna(False).astype(bool).any())
    if added_stops is not None and len(added_stops):
        mobile_stop_layer(added_stops, walk_m=stop_walk_m, name="追加する移動販売停留所（シナリオ）", new=True).add_to(m)
        if MOBILE_STOP_KIND not in kinds:
            kinds.append(MOBILE_STOP_KIND)
    if changed is not None:
        scenario_change_layer(changed).add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(HtmlBox(html.escape(title), css_class="tsunagu-title"), name="tsunagu_title")
    legend = share_legend_html() + legend_html(density=False, resource_kinds=kinds, has_sample=has_sample)
    if changed is not None:
        legend += ("<h4>シナリオ</h4>"
                   f"<div><span class='dot' style='background:{CHANGE_COLOURS['worse']}'></span>悪化（買い物弱者になる）</div>"
                   f"<div><span class='dot' style='background:{CHANGE_COLOURS['better']}'></span>改善</div>")
    m.add_child(HtmlBox(legend, css_class="tsunagu-legend"), name="tsunagu_legend")
    note_items = [n for n in notes if n]
    if note_items:
        body = "<div><b>注記</b></div>" + "".join(f"<div>・{html.escape(n)}</div>" for n in note_items)
        m.add_child(HtmlBox(body, css_class="tsunagu-note"), name="tsunagu_note")
    m.add_child(attribution_box(attributions), name="tsunagu_attribution")
    return m
