"""The map of a comparison: areas that gained or lost on the main indicator, and what the scenario changed."""

from __future__ import annotations

import html

import folium
import geopandas as gpd
import pandas as pd

from gis.comparison import GAINED, GONE, LOST, NEW, SAME
from layers.basemap import tier_base_map
from layers.maps import render_html
from layers.style import DATA_ATTRIBUTIONS, HtmlBox, attribution_box, fmt_float, popup_table

#: Fill colour per outcome (colour-blind safe: blue for better, orange for worse, grey unchanged).
OUTCOME_COLOURS = {GAINED: "#0072B2", LOST: "#E69F00", SAME: "#BBBBBB", NEW: "#56B4E9", GONE: "#999999"}
#: Marker colour per change action of the scenario.
ACTION_COLOURS = {"add": "#009E73", "move": "#0072B2", "remove": "#D55E00", "change": "#CC79A7"}


def comparison_map(*, areas: gpd.GeoDataFrame, changes: pd.DataFrame, scenario_changes: gpd.GeoDataFrame | None,
                   title: str, attributions=DATA_ATTRIBUTIONS) -> folium.Map:
    """Areas coloured by 改善 / 悪化 / 変化なし, with their delta in the tooltip, and the scenario's changes.

    Parameters
    ----------
    areas
        Areas with ``area_id`` and geometry (any level; those in ``changes`` are drawn).
    changes
        :func:`gis.comparison.area_changes` of one table (``地域ID``, ``指標``, ``基準``, ``比較``, ``差``, ``変化``).
    scenario_changes
        :func:`gis.scenarios.scenario_changes_table`, or None.
    title
        Map title.
    """
    shown = areas[["area_id", "name", "geometry"]].copy()
    shown["area_id"] = shown["area_id"].astype(str)
    merged = shown.merge(changes.assign(地域ID=changes["地域ID"].astype(str)), left_on="area_id", right_on="地域ID")
    merged = gpd.GeoDataFrame(merged, geometry="geometry", crs=areas.crs).to_crs("EPSG:4326")
    bounds = merged.total_bounds if len(merged) else None
    m = tier_base_map(bounds=None if bounds is None else list(bounds))
    m.get_root().title = title
    indicator = str(changes["指標"].iloc[0]) if len(changes) else ""
    group = folium.FeatureGroup(name=f"地域ごとの増減（{indicator}）", show=True)
    for row in merged.itertuples(index=False):
        colour = OUTCOME_COLOURS.get(row.変化, "#BBBBBB")
        tip = (f"{row.name}: {row.変化}（{fmt_float(row.基準)} → {fmt_float(row.比較)}、"
               f"差 {row.差:+,.1f}）" if pd.notna(row.差) else f"{row.name}: {row.変化}")
        folium.GeoJson(
            row.geometry.__geo_interface__,
            style_function=lambda _f, c=colour: {"fillColor": c, "color": "#555555", "weight": 1, "fillOpacity": 0.55},
            tooltip=html.escape(tip),
        ).add_to(group)
    group.add_to(m)
    if scenario_changes is not None and len(scenario_changes):
        marks = folium.FeatureGroup(name="シナリオの変更", show=True)
        for row in scenario_changes.itertuples(index=False):
            if row.geometry is None:
                continue
            colour = ACTION_COLOURS.get(row.action, "#333333")
            popup = popup_table(f"{row.操作}: {row.名称 or row.地域資源ID}",
                                [("種類", row.種類 or ""), ("地域資源ID", row.地域資源ID)])
            folium.CircleMarker([row.geometry.y, row.geometry.x], radius=8, color=colour, fill=True,
                                fill_color=colour, fill_opacity=0.9 if row.action != "remove" else 0.2,
                                weight=3, popup=folium.Popup(popup, max_width=320),
                                tooltip=html.escape(f"{row.操作}: {row.名称 or row.地域資源ID}")).add_to(marks)
        marks.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(HtmlBox(html.escape(title), css_class="tsunagu-title"), name="tsunagu_title")
    items = "".join(
        f'<div><span style="display:inline-block;width:14px;height:14px;background:{c};margin-right:4px"></span>'
        f"{html.escape(label)}</div>" for label, c in OUTCOME_COLOURS.items() if label in set(changes.get("変化", [])))
    acts = ""
    if scenario_changes is not None and len(scenario_changes):
        labels = dict(zip(scenario_changes["action"], scenario_changes["操作"]))
        acts = "".join(f'<div><span style="color:{ACTION_COLOURS[a]}">●</span> {html.escape(labels[a])}</div>'
                       for a in ACTION_COLOURS if a in labels)
    legend = (f"<div><b>{html.escape(indicator)}の増減</b></div>{items}"
              + (f"<div><b>シナリオの変更</b></div>{acts}" if acts else ""))
    m.add_child(HtmlBox(legend, css_class="tsunagu-legend"), name="tsunagu_legend")
    m.add_child(attribution_box(attributions), name="tsunagu_attribution")
    return m


def comparison_map_html(**kwargs) -> str:
    """:func:`comparison_map` as HTML."""
    return render_html(comparison_map(**kwargs))


__all__ = ["ACTION_COLOURS", "OUTCOME_COLOURS", "comparison_map", "comparison_map_html"]
