"""The weekly mobile-sales route map: numbered stops, one colour per weekday, day routes, the depot, a Japanese legend."""

from __future__ import annotations

import html
from collections.abc import Sequence

import folium
import geopandas as gpd
from shapely.geometry import Point

from gis.routing import format_hhmm
from gis.weekly import WEEKDAYS, WeeklyPlan, WeeklyProblem
from gis.crs import STORAGE_CRS
from layers.basemap import tier_base_map
from layers.geojson import point_geojson
from layers.style import DATA_ATTRIBUTIONS, SAMPLE_LABEL, HtmlBox, attribution_box, esc, popup_table

#: One colour per weekday (colour-blind-safe Okabe–Ito order), used by the map and its legend.
DAY_COLOURS = {"月": "#0072B2", "火": "#D55E00", "水": "#009E73", "木": "#CC79A7", "金": "#E69F00",
               "土": "#56B4E9", "日": "#999933"}
UNASSIGNED_COLOUR = "#555555"
DEPOT_COLOUR = "#111111"


def _numbered_icon(number: str, colour: str, *, sample: bool = False) -> folium.DivIcon:
    border = "2px dashed #333" if sample else "2px solid #fff"
    return folium.DivIcon(
        icon_size=(24, 24), icon_anchor=(12, 12),
        html=(f"<div style='background:{colour};color:#fff;border-radius:50%;width:22px;height:22px;"
              f"border:{border};box-shadow:0 0 2px #000;font:bold 11px sans-serif;display:flex;"
              f"align-items:center;justify-content:center'>{html.escape(number)}</div>"))


def route_map(problem: WeeklyProblem, plan: WeeklyPlan, *, title: str = "移動販売 週間ルート", straight_segments: bool = True,
              notes: Sequence[str] = (), depot_sample: bool = False, walk_m: float | None = None,
              attributions: Sequence[str] = DATA_ATTRIBUTIONS) -> folium.Map:
    """The week on one map: a layer per weekday (route line + numbered stops in visiting order), depot, unassigned.

    Parameters
    ----------
    straight_segments
        Route lines are straight segments between stops (no road geometry); the legend says so.
    depot_sample
        The depot is a sample choice (marked 「サンプル」).
    walk_m
        Draw each stop's walking radius (m).

    Returns
    -------
    folium.Map
        Leaflet inlined (offline); render with :func:`layers.maps.render_html`.
    """
    lons = [problem.depot.lon] + [s.location.lon for s in problem.stops]
    lats = [problem.depot.lat] + [s.location.lat for s in problem.stops]
    m = tier_base_map(bounds=[min(lons), min(lats), max(lons), max(lats)])
    m.get_root().title = title
    stops = {s.stop_id: s for s in problem.stops}
    vnames = {v.vehicle_id: v.name or v.vehicle_id for v in problem.vehicles}
    d0 = problem.depot
    visited = set()
    first = True
    for day in plan.days:
        colour = DAY_COLOURS.get(day, "#333333")
        routes = [r for r in sorted(plan.day_plans[day].routes, key=lambda r: r.vehicle_id) if r.visits]
        n_visits = sum(len(r.visits) for r in routes)
        group = folium.FeatureGroup(name=f"<span style='color:{colour}'>■</span> {day}曜日（{n_visits} か所）", show=True)
        for k, r in enumerate(routes):
            pts = [(d0.lat, d0.lon)] + [(stops[v.stop_id].location.lat, stops[v.stop_id].location.lon) for v in r.visits] \
                + [(d0.lat, d0.lon)]
            label = f"{day}曜日 {vnames.get(r.vehicle_id, r.vehicle_id)} {format_hhmm(r.start_s)}–{format_hhmm(r.end_s)}"
            folium.PolyLine(pts, color=colour, weight=4, opacity=0.8, dash_array="8 6" if k else None,
                            tooltip=esc(label)).add_to(group)
            for n, v in enumerate(r.visits, start=1):
                s = stops[v.stop_id]
                visited.add(s.stop_id)
                rows = [("曜日", esc(day)), ("車両", esc(vnames.get(r.vehicle_id, r.vehicle_id))), ("順番", str(n)),
                        ("到着", format_hhmm(v.arrival_s)), ("出発", format_hhmm(v.departure_s)),
                        ("見込み客数", f"{s.expected_customers:.1f} 人"),
                        ("週の訪問", "・".join(plan.assignment.get(s.stop_id, ())) or "なし")]
                if walk_m:
                    folium.Circle([s.location.lat, s.location.lon], radius=float(walk_m), color=colour, weight=1,
                                  fill=True, fill_opacity=0.06).add_to(group)
                folium.Marker([s.location.lat, s.location.lon], icon=_numbered_icon(str(n), colour),
                              tooltip=esc(f"{day} {n}. {s.name} {format_hhmm(v.arrival_s)}"),
                              popup=folium.Popup(popup_table(s.name, rows), max_width=320)).add_to(group)
        group.add_to(m)
        first = False
    missing = [s for s in problem.stops if s.stop_id not in visited]
    if missing:
        reasons: dict[str, list[str]] = {}
        for sid, k, why in plan.unassigned:
            reasons.setdefault(sid, []).append(f"{k}回目: {why}")
        # often hundreds of stops: one GeoJSON layer, off at first (the week's routes are the map)
        points = gpd.GeoDataFrame(
            {"名称": [esc(f"{s.name}（訪問なし）") for s in missing],
             "理由": ["<br>".join(esc(x) for x in reasons.get(s.stop_id, ["—"])) for s in missing]},
            geometry=[Point(s.location.lon, s.location.lat) for s in missing], crs=STORAGE_CRS)
        g = folium.FeatureGroup(name=f"訪問できない停留所（{len(missing)} か所）", show=False)
        point_geojson(points, popup_fields=["名称", "理由"], radius=6, style=lambda f: {
            "fillColor": UNASSIGNED_COLOUR, "color": "#ffffff", "weight": 1, "fillOpacity": 0.85}).add_to(g)
        g.add_to(m)
    dg = folium.FeatureGroup(name="拠点（出発・帰着）", show=True)
    rows = [("役割", "移動販売の出発・帰着地")] + ([("データ", SAMPLE_LABEL + "（仮の拠点）")] if depot_sample else [])
    folium.Marker([d0.lat, d0.lon], icon=_numbered_icon("店", DEPOT_COLOUR, sample=depot_sample),
                  tooltip=esc(d0.name or "拠点"), popup=folium.Popup(popup_table(d0.name or "拠点", rows,
                                                                                   badge=SAMPLE_LABEL if depot_sample else None),
                                                                       max_width=320)).add_to(dg)
    dg.add_to(m)
    folium.LayerControl(collapsed=False, position="topright").add_to(m)
    m.add_child(HtmlBox(html.escape(title), css_class="tsunagu-title"), name="tsunagu_title")
    legend = ["<div class='tsunagu-legend-body'><h4>曜日の色</h4>"]
    for day in plan.days:
        legend.append(f"<div><span class='sw' style='background:{DAY_COLOURS.get(day, '#333')}'></span>{day}曜日</div>")
    legend.append("<h4>記号</h4><div>①②… 停留所（数字は訪問順）</div>")
    legend.append(f"<div><span class='dot' style='background:{DEPOT_COLOUR}'></span>拠点（店）"
                  + ("・サンプル" if depot_sample else "") + "</div>")
    if missing:
        legend.append(f"<div><span class='dot' style='background:{UNASSIGNED_COLOUR}'></span>訪問できない停留所</div>")
    if len(problem.vehicles) > 1:
        legend.append("<div>点線：2台目以降の車両</div>")
    if straight_segments:
        legend.append("<div>線は停留所間を直線で結んだもの（実際の道順ではありません）</div>")
    legend.append("</div>")
    m.add_child(HtmlBox("".join(legend), css_class="tsunagu-legend"), name="tsunagu_legend")
    items = [n for n in notes if n]
    if items:
        body = "<div><b>注記</b></div>" + "".join(f"<div>・{html.escape(n)}</div>" for n in items)
        m.add_child(HtmlBox(body, css_class="tsunagu-note"), name="tsunagu_note")
    m.add_child(attribution_box(attributions), name="tsunagu_attribution")
    return m


__all__ = ["DAY_COLOURS", "route_map", "WEEKDAYS"]
