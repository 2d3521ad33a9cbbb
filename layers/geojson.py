"""Light GeoJSON for maps: coordinates to ~1 m, polygons simplified without gaps, points as one layer per kind.

Every map embeds its layers as GeoJSON in the page, so their size is the page's size. Three
things keep it small without changing what a planner sees:

* coordinates are rounded to :data:`gis.crs.COORD_DECIMALS` decimals of a degree (~1 m);
* display polygons are simplified in the JGD2011 plane-rectangular zone (:mod:`gis.crs`) with
  ``shapely.coverage_simplify``, which moves shared edges together, so neighbours keep one
  boundary (no slivers, no gaps) — analysis geometries are never touched;
* points are one ``L.geoJson`` layer per kind, each drawn as a circle marker with a popup
  built in the browser from the feature's properties, instead of one marker and one popup
  element per point.

Folium embeds GeoJSON with Jinja's ``tojson``; its dumps options are set once here to compact
separators and UTF-8 text (the output is the same JSON, still HTML-safe: ``<``, ``>``, ``&`` and
``'`` stay escaped), which roughly halves the bytes of Japanese properties.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import folium
import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from branca.element import MacroElement
from folium.template import Template
from shapely.geometry import mapping

from gis.crs import COORD_DECIMALS, STORAGE_CRS, measuring_crs, round_coordinates
from gis.errors import InputDataError

#: Display simplification of polygons (metres in the plane CRS): about a pixel at the zoom a whole
#: city is viewed at (z11–12), well inside a small area; keeps 高梁市 tier map under 0.9 MB.
DISPLAY_TOLERANCE_M = 30.0

# folium's templates share one Jinja environment; make its ``tojson`` compact and UTF-8.
folium.GeoJson._template.environment.policies["json.dumps_kwargs"] = {
    "sort_keys": True, "ensure_ascii": False, "separators": (",", ":"),
}


def display_polygons(
    gdf: gpd.GeoDataFrame,
    *,
    municipality_code: str | None = None,
    tolerance_m: float | None = DISPLAY_TOLERANCE_M,
    coverage: bool = True,
) -> gpd.GeoDataFrame:
    """Return a copy of ``gdf`` whose polygons are simplified for display, in EPSG:4326, rounded to ~1 m.

    Parameters
    ----------
    gdf
        Polygons with a CRS (any); other columns are kept.
    municipality_code
        JIS code choosing the plane-rectangular zone (else the zone nearest the layer).
    tolerance_m
        Simplification in metres; None or 0 only reprojects and rounds.
    coverage
        The polygons tile an area (tiers, catchments): simplify them together with
        ``shapely.coverage_simplify`` so neighbours keep one shared boundary. Where the source
        polygons overlap (e.g. 通学区域 accepted by two schools) they are first made a clean
        coverage (``shapely.coverage_clean``; each overlap drawn in one of its polygons). Give
        False for polygons that may overlap on purpose (walking catchments): each is simplified
        on its own.

    Returns
    -------
    geopandas.GeoDataFrame
        Same index and columns, geometry in EPSG:4326.
    """
    if gdf.crs is None:
        msg = "表示する図形に座標系（CRS）がありません。先に設定してください（経度・緯度なら EPSG:4326）"
        en = "display polygons need a CRS; set one (EPSG:4326 for longitude/latitude) first"
        raise InputDataError(msg, en=en)
    out = gdf.copy()
    geoms = np.asarray(gdf.geometry.values, dtype=object)
    if tolerance_m and len(gdf):
        plane = gpd.GeoSeries(geoms, crs=gdf.crs).to_crs(measuring_crs(gdf, municipality_code=municipality_code))
        projected = np.asarray(plane.values, dtype=object)
        polygonal = ~shapely.is_missing(projected) & ~shapely.is_empty(projected) & np.isin(
            shapely.get_type_id(projected), (3, 6))
        part = projected[polygonal]
        if coverage and len(part) > 1:
            if not shapely.coverage_is_valid(part) and hasattr(shapely, "coverage_clean"):
                part = shapely.coverage_clean(part)
            part = shapely.coverage_simplify(part, tolerance_m)
        else:
            part = shapely.simplify(part, tolerance_m, preserve_topology=True)
        projected = projected.copy()
        projected[polygonal] = part
        geoms = np.asarray(gpd.GeoSeries(projected, crs=plane.crs).to_crs(STORAGE_CRS).values, dtype=object)
    elif gdf.crs.to_epsg() != 4326:
        geoms = np.asarray(gdf.geometry.to_crs(STORAGE_CRS).values, dtype=object)
    out = out.set_geometry(gpd.GeoSeries(round_coordinates(geoms), index=gdf.index, crs=STORAGE_CRS).values)
    return out.set_crs(STORAGE_CRS, allow_override=True)


def display_areas(
    areas: gpd.GeoDataFrame,
    *,
    municipality_code: str | None = None,
    tolerance_m: float | None = DISPLAY_TOLERANCE_M,
) -> gpd.GeoDataFrame:
    """Return tier areas of every level simplified for display, each level as one coverage.

    For maps that draw the same areas in several layers (one per method or measure): simplify
    once, then give the result to the layers with ``simplify_m=None``.

    Parameters
    ----------
    areas
        Areas (columns of :data:`gis.schema.AREA_COLUMNS`), ``level`` telling the levels apart.
    municipality_code, tolerance_m
        As :func:`display_polygons`.
    """
    if len(areas) == 0:
        return areas.to_crs(STORAGE_CRS) if areas.crs is not None else areas
    parts = [display_polygons(part, municipality_code=municipality_code, tolerance_m=tolerance_m)
             for _, part in areas.groupby("level", sort=False)]
    return gpd.GeoDataFrame(pd.concat(parts).loc[areas.index], crs=STORAGE_CRS)


def feature_collection(gdf: gpd.GeoDataFrame, *, properties: Sequence[str] | None = None) -> dict:
    """Return ``gdf`` as a GeoJSON FeatureCollection mapping with coordinates rounded to ~1 m.

    Parameters
    ----------
    gdf
        Frame in EPSG:4326 (reprojected if not); values must be JSON-ready (str, int, float, bool, None).
    properties
        Columns written as properties (default: every non-geometry column).
    """
    if gdf.crs is not None and gdf.crs.to_epsg() != 4326:
        gdf = gdf.to_crs(STORAGE_CRS)
    columns = list(properties) if properties is not None else [c for c in gdf.columns if c != gdf.geometry.name]
    records = gdf[columns].astype(object).where(gdf[columns].notna(), None).to_dict("records")
    features = []
    for record, geom in zip(records, round_coordinates(gdf.geometry.values)):
        if geom is None or geom.is_empty:
            continue
        features.append({"type": "Feature", "geometry": mapping(geom), "properties": record})
    return {"type": "FeatureCollection", "features": features}


def polygon_geojson(
    frame: gpd.GeoDataFrame,
    *,
    popup_fields: Sequence[str] = (),
    tooltip_fields: Sequence[str] = (),
    style: Callable[[dict], dict],
    highlight: dict | None = None,
    municipality_code: str | None = None,
    simplify_m: float | None = DISPLAY_TOLERANCE_M,
    coverage: bool = True,
) -> folium.GeoJson:
    """Return one ``folium.GeoJson`` of display polygons, styled per feature, with popups and tooltips.

    The polygons are simplified for display (:func:`display_polygons`); only the popup and
    tooltip fields are written as properties (the style is worked out here, once per feature).

    Parameters
    ----------
    frame
        Polygons with a CRS; display columns (Japanese names, values already escaped) and any
        columns the style reads.
    popup_fields, tooltip_fields
        Columns shown in the popup (with labels) and on hover.
    style
        Row (a dict of the frame's columns) → Leaflet path options.
    highlight
        Path options while the pointer is over a polygon (None: no highlight).
    municipality_code, simplify_m, coverage
        As :func:`display_polygons` (``simplify_m`` is its ``tolerance_m``).
    """
    disp = display_polygons(frame, municipality_code=municipality_code, tolerance_m=simplify_m, coverage=coverage)
    disp = disp[disp.geometry.notna() & ~disp.geometry.is_empty]
    records = disp.drop(columns=[disp.geometry.name]).to_dict("records")
    styles = [style(r) for r in records]
    fields = list(dict.fromkeys([*popup_fields, *tooltip_fields]))
    # properties under short keys (the Japanese names are the popup's labels, written once)
    keys = {f: f"p{i}" for i, f in enumerate(fields)}
    data = feature_collection(disp[[*fields, disp.geometry.name]].rename(columns=keys), properties=list(keys.values()))
    for i, feature in enumerate(data["features"]):
        feature["id"] = i
    return folium.GeoJson(
        data,
        style_function=lambda f: styles[f["id"]],
        highlight_function=(lambda f: highlight) if highlight else None,
        tooltip=folium.GeoJsonTooltip(fields=[keys[f] for f in tooltip_fields], aliases=list(tooltip_fields),
                                      sticky=True) if tooltip_fields else None,
        popup=folium.GeoJsonPopup(fields=[keys[f] for f in popup_fields], aliases=list(popup_fields), labels=True)
        if popup_fields else None,
        control=False,
    )


class PropertyPopup(folium.GeoJsonPopup):
    """A ``GeoJsonPopup`` whose table skips empty values and takes per-layer constants once.

    Values the same for every point of a layer (its 種別, a shared 出典) are written once for the
    layer instead of once per point; the first field is the popup's bold title.

    Parameters
    ----------
    fields
        Property names shown, in order (the first is the title).
    constants
        Field → value shared by every feature (a feature's own property wins).
    max_width
        Popup width in pixels.
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        {{ this._parent.get_name() }}.bindPopup(function (layer) {
            var p = Object.assign({}, {{ this.constants|tojson }}, layer.feature.properties);
            var fields = {{ this.fields|tojson }};
            var empty = function (v) { return v === null || v === undefined || v === ""; };
            var rows = fields.slice(1).map(function (f) {
                return empty(p[f]) ? "" : "<tr><th>" + f + "</th><td>" + p[f] + "</td></tr>";
            });
            return "<div class='tsunagu-popup'><b>" + (empty(p[fields[0]]) ? "" : p[fields[0]]) + "</b><table>"
                + rows.join("") + "</table></div>";
        }, {{ this.popup_options|tojavascript }});
        {% endmacro %}
        """
    )

    def __init__(self, fields: Sequence[str], *, constants: dict | None = None, max_width: int = 320) -> None:
        super().__init__(fields=list(fields), labels=True, localize=False, max_width=max_width)
        self._name = "PropertyPopup"
        self.constants = dict(constants or {})

    def render(self, **kwargs) -> None:
        # GeoJsonPopup checks every field against the first feature's properties; here a field may
        # be a layer constant or missing on some points, and the page's own CSS styles the table.
        MacroElement.render(self, **kwargs)


def point_geojson(
    points: gpd.GeoDataFrame,
    *,
    popup_fields: Sequence[str],
    style: Callable[[dict], dict],
    radius: float = 6,
    tooltip_field: str = "名称",
) -> folium.GeoJson | None:
    """Return one ``folium.GeoJson`` drawing every point as a circle marker (None when there is none).

    Popups are tables of ``popup_fields`` built in the browser from each feature's properties
    (:class:`PropertyPopup`); the browser puts the values into the page as HTML, so give values
    already escaped (:func:`layers.style.esc`).

    Parameters
    ----------
    points
        Point frame with the popup fields (Japanese column names), any extra ``_``-prefixed
        columns the style reads, and a geometry.
    popup_fields
        Columns shown in the popup, in order, the first as its title (empty values are left out).
    style
        Feature → Leaflet path options (``fillColor``, ``color``, ``weight``, ``dashArray``…).
    radius
        Marker radius in pixels.
    tooltip_field
        Column shown on hover.
    """
    keep = points.geometry.notna() & ~points.geometry.is_empty & (points.geometry.geom_type == "Point")
    points = points[keep]
    if len(points) == 0:
        return None
    fields = list(dict.fromkeys([tooltip_field, *popup_fields]))
    # a value every point shares is written once for the layer; a flag no point has, not at all
    constants = {f: points[f].iloc[0] for f in fields if f != tooltip_field and points[f].nunique(dropna=False) == 1}
    extra = [c for c in points.columns if c.startswith("_") and points[c].astype(bool).any()]
    data = feature_collection(points, properties=[*(f for f in fields if f not in constants), *extra])
    for i, feature in enumerate(data["features"]):
        feature["id"] = i
    return folium.GeoJson(
        data,
        marker=folium.CircleMarker(radius=radius, fill=True),
        style_function=style,
        tooltip=folium.GeoJsonTooltip(fields=[tooltip_field], labels=False, sticky=True),
        popup=PropertyPopup(popup_fields, constants=constants),
        control=False,
    )


def point_layer(
    points: gpd.GeoDataFrame,
    *,
    name: str,
    popup_fields: Sequence[str],
    style: Callable[[dict], dict],
    radius: float = 6,
    tooltip_field: str = "名称",
    show: bool = True,
) -> folium.FeatureGroup:
    """Return one toggleable layer of circle markers, one ``L.geoJson`` for all its points.

    ``name`` is the layer's name in the layer control, ``show`` whether it is on when the map
    opens; the other parameters as :func:`point_geojson`.
    """
    group = folium.FeatureGroup(name=name, show=show)
    layer = point_geojson(points, popup_fields=popup_fields, style=style, radius=radius, tooltip_field=tooltip_field)
    if layer is not None:
        layer.add_to(group)
    return group


__all__ = [
    "COORD_DECIMALS", "DISPLAY_TOLERANCE_M", "display_areas", "display_polygons", "feature_collection",
    "PropertyPopup", "point_geojson", "point_layer", "polygon_geojson", "round_coordinates",
]
