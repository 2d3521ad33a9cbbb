"""Activity-coverage map: uncovered people of the target group per tier, the activities' points."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import folium
import geopandas as gpd
import pandas as pd

from gis.crs import STORAGE_CRS
from gis.kinds import resource_labels
from gis.tiers import CityProfile
from layers.basemap import tier_base_map
from layers.points import resource_layers
from layers.salons import _bounds, uncovered_classes, uncovered_colour
from layers.style import DATA_ATTRIBUTIONS, NO_DATA_LABEL, HtmlBox, attribution_box, fmt_float, resource_colour


def _share(v) -> str:
    return "―（対象者なし）" if v is None or pd.isna(v) else f"{float(v):.1%}"


def uncovered_target_choropleth(areas: gpd.GeoDataFrame, table: pd.DataFrame, *, level: str, level_label: str,
                                group_label: str, show: bool = True,
                                simplify_tolerance: float | None = 0.0001) -> folium.FeatureGroup:
    """Choropleth of the uncovered target group for one tier level (from ``gis.activity_coverage.coverage_by_tier``)."""
    title = f"未カバー（{group_label}）"
    group = folium.FeatureGroup(name=f"{level_label}：{title}", show=show)
    part = areas[areas["level"] == level]
    if len(part) == 0:
        return group
    rows = table[table["level"] == level].set_index("area_id")
    ids = part["area_id"].astype(str)
    unc = rows["uncovered"].reindex(ids).to_numpy()
    fields = ["名称", "人口", group_label, title, "未カバー率"]
    frame = gpd.GeoDataFrame({
        "名称": part["name"].astype(str).to_numpy(),
        "人口": rows["population"].reindex(ids).map(lambda v: fmt_float(v, 0)).to_numpy(),
        group_label: rows["target"].reindex(ids).map(lambda v: fmt_float(v, 0)).to_numpy(),
        title: [fmt_float(v, 0) for v in unc],
        "未カバー率": rows["uncovered_share"].reindex(ids).map(_share).to_numpy(),
        "_fill": [uncovered_colour(v) for v in unc],
    }, geometry=part.geometry.to_crs(STORAGE_CRS).values, crs=STORAGE_CRS)
    if simplify_tolerance:
        frame["geometry"] = frame.geometry.simplify(simplify_tolerance, preserve_topology=True)
    folium.GeoJson(
        frame.to_json(drop_id=True),
        style_function=lambda f: {"fillColor": f["properties"]["_fill"], "fillOpacity": 0.6, "color": "#555555", "weight": 1},
        highlight_function=lambda f: {"weight": 3, "color": "#000000"},
        tooltip=folium.GeoJsonTooltip(fields=["名称", title], aliases=["名称", title], sticky=True),
        popup=folium.GeoJsonPopup(fields=fields, aliases=fields, labels=True),
        control=False,
    ).add_to(group)
    return group


def coverage_map(*, areas: gpd.GeoDataFrame, table: pd.DataFrame, profile: CityProfile, resources: gpd.GeoDataFrame,
                 thresholds_m: Mapping[str, float], group_label: str, title: str, focus_level: str,
                 notes: Sequence[str] = (), attributions: Sequence[str] = DATA_ATTRIBUTIONS) -> folium.Map:
    """The activity-coverage map; render with :func:`layers.maps.render_html`."""
    m = tier_base_map(bounds=_bounds(areas, resources))
    m.get_root().title = title
    first = focus_level if focus_level in profile.keys else profile.keys[1]
    for lv in profile.levels:
        uncovered_target_choropleth(areas, table, level=lv.key, level_label=lv.label, group_label=group_label,
                                    show=lv.key == first).add_to(m)
    for layer in resource_layers(resources):
        layer.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(HtmlBox(html.escape(title), css_class="tsunagu-title"), name="tsunagu_title")
    labels = resource_labels()
    parts = [f"<h4>未カバー（{html.escape(group_label)}・人）</h4>"]
    parts += [f"<div><span class='sw' style='background:{c}'></span>{html.escape(t)}</div>" for c, t in uncovered_classes()]
    parts.append(f"<div><span class='sw hatch'></span>{NO_DATA_LABEL}</div>")
    parts.append("<h4>活動（徒歩圏）</h4>")
    parts += [f"<div><span class='dot' style='background:{resource_colour(k)}'></span>{html.escape(labels[k])}（{t:g} m）</div>"
              for k, t in thresholds_m.items()]
    m.add_child(HtmlBox("<div class='tsunagu-legend-body'>" + "".join(parts) + "</div>", css_class="tsunagu-legend"),
                name="tsunagu_legend")
    if notes:
        body = "<div><b>注記</b></div>" + "".join(f"<div>・{html.escape(n)}</div>" for n in notes if n)
        m.add_child(HtmlBox(body, css_class="tsunagu-note"), name="tsunagu_note")
    m.add_child(attribution_box(attributions), name="tsunagu_attribution")
    return m
