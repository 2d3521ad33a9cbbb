"""Whole maps: the 福祉圏域マップ of a city (every tier level, stations, resources, legend) and its HTML."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence

import folium
import geopandas as gpd
import pandas as pd

from gis.tiers import CityProfile
from layers.basemap import tier_base_map
from layers.geojson import DISPLAY_TOLERANCE_M
from layers.points import resource_layers, station_layers
from layers.style import DATA_ATTRIBUTIONS, HtmlBox, attribution_box, legend
from layers.tiers import ReportLinks, area_density, tier_choropleth


def _bounds(*frames: gpd.GeoDataFrame | None) -> list[float] | None:
    boxes = [f.to_crs("EPSG:4326").total_bounds for f in frames if f is not None and len(f) and f.crs is not None]
    boxes = [b for b in boxes if all(v == v for v in b)]
    if not boxes:
        return None
    return [min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes), max(b[3] for b in boxes)]


def _note_html(profile: CityProfile, notes: Mapping[str, str]) -> str:
    labels = {lv.key: lv.label for lv in profile.levels}
    items = [
        f"<div><b>{html.escape(labels.get(key, key))}</b>：{html.escape(text)}</div>"
        for key, text in notes.items()
        if text
    ]
    return "<div><b>注記</b></div>" + "".join(items) if items else ""


def tier_map(
    *,
    areas: gpd.GeoDataFrame,
    stations: gpd.GeoDataFrame | None,
    resources: gpd.GeoDataFrame | None,
    profile: CityProfile,
    city_name: str,
    notes: Mapping[str, str] | None = None,
    municipality_code: str | None = None,
    attributions: Sequence[str] = DATA_ATTRIBUTIONS,
    simplify_m: float | None = DISPLAY_TOLERANCE_M,
    report_links: bool = False,
) -> folium.Map:
    """Return the 福祉圏域マップ of a city: one density layer per tier level, points, legend and notes.

    Parameters
    ----------
    areas
        Areas of every level (columns of :data:`gis.schema.AREA_COLUMNS`); ``level`` holds profile keys.
    stations
        Stations (or None / empty).
    resources
        Resources (or None / empty).
    profile
        The city's tier profile; its labels name the layers, its ``notes`` say which tier stands in
        for another (e.g. 「公民館区は小学校区（国土数値情報 A27）で代用」).
    city_name
        Japanese city name; the title reads 「{city_name} 福祉圏域マップ」.
    notes
        Extra notes per level key, shown with (and overriding) ``profile.notes``.
    municipality_code
        JIS code choosing the measuring zone for areas.
    attributions
        Data attributions listed under the map (地理院タイル is always shown).
    simplify_m
        Display simplification of polygons in metres (neighbours keep one boundary); None keeps
        full detail.
    report_links
        Each area's popup links to its 地域カルテ (``/reports/{level}/{area_id}``): for maps the
        API serves; a file opened from disk has no server to answer the link.

    Returns
    -------
    folium.Map
        Leaflet inlined; render with :func:`render_html`.
    """
    m = tier_base_map(bounds=_bounds(areas, stations, resources))
    title = f"{city_name} 福祉圏域マップ"
    m.get_root().title = title

    has_unknown = False
    shown = False
    for lv in profile.levels:
        part = areas[areas["level"] == lv.key] if len(areas) else areas
        if len(part):
            has_unknown |= bool(area_density(part, municipality_code=municipality_code)["density"].isna().any())
        # Only the innermost level with areas is on at first; the others are one click away.
        show = bool(len(part)) and not shown
        shown |= show
        tier_choropleth(
            part, level_label=lv.label, show=show, municipality_code=municipality_code,
            simplify_m=simplify_m, report_level=lv.key if report_links else None,
        ).add_to(m)
    if report_links:
        ReportLinks().add_to(m)

    station_kinds: list[str] = []
    resource_kinds: list[str] = []
    has_sample = False
    if stations is not None and len(stations):
        for group in station_layers(stations):
            group.add_to(m)
        station_kinds = list(dict.fromkeys(stations["kind"]))
        has_sample |= bool(stations.get("is_sample", pd.Series(dtype=bool)).fillna(False).astype(bool).any())
    if resources is not None and len(resources):
        for group in resource_layers(resources):
            group.add_to(m)
        resource_kinds = list(dict.fromkeys(resources["kind"]))
        has_sample |= bool(resources.get("is_sample", pd.Series(dtype=bool)).fillna(False).astype(bool).any())

    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(HtmlBox(html.escape(title), css_class="tsunagu-title"), name="tsunagu_title")
    m.add_child(
        legend(
            density=True, has_unknown=has_unknown, station_kinds=station_kinds,
            resource_kinds=resource_kinds, has_sample=has_sample,
        ),
        name="tsunagu_legend",
    )
    note = _note_html(profile, {**profile.notes, **dict(notes or {})})
    if note:
        m.add_child(HtmlBox(note, css_class="tsunagu-note"), name="tsunagu_note")
    m.add_child(attribution_box(attributions), name="tsunagu_attribution")
    return m


def render_html(m: folium.Map) -> str:
    """Return the map as one self-contained HTML page (Leaflet inlined; only tiles need the network)."""
    return m.get_root().render()
