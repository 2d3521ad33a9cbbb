"""Tier layers: a population-density choropleth of one welfare-tier level, with Japanese popups."""

from __future__ import annotations

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
from branca.element import MacroElement
from folium.template import Template

from gis.crs import STORAGE_CRS, measuring_crs
from layers.geojson import DISPLAY_TOLERANCE_M, display_polygons, polygon_geojson
from layers.style import (
    DENSITY_LABEL,
    NO_DATA_COLOUR,
    NO_DATA_LABEL,
    density_colour,
    esc,
    fmt_float,
    fmt_int,
)

#: Popup fields (property name = Japanese label shown to the user), in display order.
POPUP_FIELDS = ["名称", "人口", "世帯数", "65歳以上", "面積 km²", DENSITY_LABEL]

#: Popup field linking an area to its 地域カルテ (served maps only: ``GET /reports/{level}/{area_id}``).
#: The feature carries only ``level/area_id``; :class:`ReportLinks` turns it into the link when a
#: popup opens (about 65 bytes less per area than an ``<a>`` element in every feature).
REPORT_LINK = "地域カルテ"


def _report_path(level: str, area_id: str) -> str:
    from urllib.parse import quote

    return f"{quote(level)}/{quote(area_id)}"


class ReportLinks(MacroElement):
    """Turns the 「地域カルテ」 row of any popup on the map into a link to ``/reports/{level}/{area_id}``."""

    _template = Template("""
{% macro script(this, kwargs) %}
{{ this._parent.get_name() }}.on('popupopen', function (e) {
  var el = e.popup.getElement();
  if (!el) { return; }
  el.querySelectorAll('th').forEach(function (th) {
    var td = th.nextElementSibling;
    if (th.textContent.trim() !== {{ this.label|tojson }} || !td || td.querySelector('a')) { return; }
    var a = document.createElement('a');
    a.href = '/reports/' + td.textContent.trim();
    a.target = '_blank';
    a.rel = 'noopener';
    a.textContent = '開く';
    td.textContent = '';
    td.appendChild(a);
  });
});
{% endmacro %}
""")

    def __init__(self) -> None:
        super().__init__()
        self._name = "ReportLinks"
        self.label = REPORT_LINK


def area_density(areas: gpd.GeoDataFrame, *, municipality_code: str | None = None) -> pd.DataFrame:
    """Return area (km²) and population density (people per km²) of every area.

    Areas are measured in the JGD2011 plane-rectangular zone of the municipality (or the zone
    nearest the layer when no code is given); density is <NA> where population is unknown.

    Parameters
    ----------
    areas
        Areas frame (columns of :data:`gis.schema.AREA_COLUMNS`).
    municipality_code
        JIS code choosing the measuring zone, e.g. ``"33209"``.

    Returns
    -------
    pandas.DataFrame
        Columns ``area_km2`` (float) and ``density`` (Float64, <NA> when unknown), same index.
    """
    if len(areas) == 0:
        return pd.DataFrame({"area_km2": pd.Series(dtype=float), "density": pd.Series(dtype="Float64")})
    gdf = areas if areas.crs is not None else areas.set_crs(STORAGE_CRS)
    crs = measuring_crs(gdf, municipality_code=municipality_code)
    area_km2 = gdf.geometry.to_crs(crs).area.to_numpy() / 1e6
    pop = pd.to_numeric(gdf["population"], errors="coerce").astype("Float64")
    with np.errstate(divide="ignore", invalid="ignore"):
        density = pop / pd.Series(area_km2, index=gdf.index)
    density = density.where(pd.Series(area_km2 > 0, index=gdf.index))
    return pd.DataFrame({"area_km2": area_km2, "density": density.astype("Float64")}, index=gdf.index)


def _style(feature: dict) -> dict:
    props = feature["properties"]
    if props.get("_unknown"):
        return {
            "fillColor": NO_DATA_COLOUR,
            "fillOpacity": 0.45,
            "color": "#555555",
            "weight": 1,
            "dashArray": "4 3",
        }
    return {"fillColor": props["_fill"], "fillOpacity": 0.6, "color": "#555555", "weight": 1}


def _highlight(feature: dict) -> dict:
    return {"weight": 3, "color": "#000000"}


def tier_frame(
    areas: gpd.GeoDataFrame,
    *,
    municipality_code: str | None = None,
    simplify_m: float | None = DISPLAY_TOLERANCE_M,
) -> gpd.GeoDataFrame:
    """Return the areas as a display frame: Japanese popup fields, fill colour, simplified geometry.

    Parameters
    ----------
    areas
        Areas of one level (columns of :data:`gis.schema.AREA_COLUMNS`).
    municipality_code
        JIS code choosing the measuring zone.
    simplify_m
        Display simplification in metres, neighbours keeping one boundary
        (:func:`layers.geojson.display_polygons`); None keeps the detail. Coordinates are
        rounded to ~1 m then. Areas and densities are measured on the full geometry.
    """
    stats = area_density(areas, municipality_code=municipality_code)
    pop65 = areas["pop_65plus"] if "pop_65plus" in areas.columns else pd.Series(pd.NA, index=areas.index)
    out = gpd.GeoDataFrame(
        {
            "area_id": areas["area_id"].astype(str),
            "名称": areas["name"].fillna("").astype(str).where(areas["name"].fillna("") != "", areas["area_id"].astype(str)).map(esc),
            "人口": areas["population"].map(fmt_int),
            "世帯数": areas["households"].map(fmt_int),
            "65歳以上": pop65.map(fmt_int),
            "面積 km²": stats["area_km2"].map(lambda v: fmt_float(v, 2)),
            DENSITY_LABEL: stats["density"].map(lambda v: fmt_float(v, 1)),
            "_fill": stats["density"].map(density_colour),
            "_unknown": stats["density"].isna().astype(bool),
        },
        geometry=areas.geometry.values,
        crs=areas.crs or STORAGE_CRS,
    )
    if simplify_m is None and out.crs is not None and out.crs.to_epsg() == 4326:
        return out  # geometry as given (tier_choropleth simplifies it once, in the plane CRS)
    return display_polygons(out, municipality_code=municipality_code, tolerance_m=simplify_m)


def tier_choropleth(
    areas: gpd.GeoDataFrame,
    *,
    level_label: str,
    show: bool = True,
    municipality_code: str | None = None,
    simplify_m: float | None = DISPLAY_TOLERANCE_M,
    report_level: str | None = None,
) -> folium.FeatureGroup:
    """Return a toggleable population-density choropleth of one tier level.

    Areas with unknown population are drawn grey with a dashed outline (「データなし」 in the
    shared legend, :func:`layers.style.legend`).

    Parameters
    ----------
    areas
        Areas of one level (columns of :data:`gis.schema.AREA_COLUMNS`).
    level_label
        Japanese label of the level, the layer's name in the layer control (e.g. ``"公民館区"``).
    show
        Whether the layer is switched on when the map opens.
    municipality_code
        JIS code choosing the measuring zone.
    simplify_m
        Display simplification in metres; None keeps full detail.
    report_level
        Level key for the popups' 「地域カルテ」 row, ``{report_level}/{area_id}``, which
        :class:`ReportLinks` on the map turns into a link to ``/reports/...`` (maps served by the
        API); None (files opened from disk, where no server answers) has no such row.

    Returns
    -------
    folium.FeatureGroup
    """
    group = folium.FeatureGroup(name=level_label, overlay=True, control=True, show=show)
    if len(areas) == 0:
        return group
    frame = tier_frame(areas, municipality_code=municipality_code, simplify_m=None)
    popup_fields = list(POPUP_FIELDS)
    if report_level is not None:
        frame[REPORT_LINK] = [_report_path(report_level, a) for a in frame["area_id"]]
        popup_fields.append(REPORT_LINK)
    polygon_geojson(
        frame.drop(columns=["area_id"]),
        popup_fields=popup_fields,
        tooltip_fields=["名称", DENSITY_LABEL],
        style=lambda row: _style({"properties": row}),
        highlight=_highlight({}),
        municipality_code=municipality_code,
        simplify_m=simplify_m,
    ).add_to(group)
    return group


__all__ = ["NO_DATA_LABEL", "POPUP_FIELDS", "REPORT_LINK", "ReportLinks", "area_density", "tier_choropleth", "tier_frame"]
