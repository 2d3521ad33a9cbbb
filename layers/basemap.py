"""Base maps: 地理院タイル (淡色地図, 標準地図) over a Leaflet build inlined from layers/static, so maps draw offline."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from functools import lru_cache
from importlib import resources

import folium
from branca.element import MacroElement

from folium.template import Template
from layers.style import GSI_ATTRIBUTION, style_css_element

GSI_PALE_URL = "https://cyberjapandata.gsi.go.jp/xyz/pale/{z}/{x}/{y}.png"
GSI_STD_URL = "https://cyberjapandata.gsi.go.jp/xyz/std/{z}/{x}/{y}.png"

#: Centre of 高梁市, used when a map has nothing to fit to.
DEFAULT_CENTRE = (34.79, 133.62)


@lru_cache(maxsize=1)
def _leaflet_assets() -> tuple[str, str]:
    """Return (leaflet.js, leaflet.css) from the vendored copy; CSS images become data URIs."""
    static = resources.files("layers") / "static"
    js = (static / "leaflet.js").read_text(encoding="utf-8")
    css = (static / "leaflet.css").read_text(encoding="utf-8")
    for image in ("layers-2x.png", "layers.png"):
        data = base64.b64encode((static / image).read_bytes()).decode("ascii")
        css = css.replace(f"url(images/{image})", f"url(data:image/png;base64,{data})")
    # Default marker icons are never used (CircleMarker only); drop the dangling reference.
    css = css.replace("url(images/marker-icon.png)", "none")
    return js, css


#: folium renders every ``folium.Popup`` as ``$(`<div>…</div>`)[0]`` (jQuery). jQuery is not loaded
#: (no CDN), so without this the map's script stops at the first popup with "$ is not defined":
#: the layers after it, and the layer control, never appear. The shim builds that one element.
_JQUERY_SHIM = (
    "window.$ = window.$ || function (html) { var t = document.createElement('template');"
    " t.innerHTML = String(html).trim(); return [t.content.firstElementChild]; };"
)


class _InlineLeaflet(MacroElement):
    """Leaflet 1.9.4 JS and CSS inlined into the page header (BSD-2-Clause, see static/LEAFLET_LICENSE)."""

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        <style>{{ this.css }}</style>
        <script>{{ this.js }}</script>
        <script>{{ this.jquery_shim }}</script>
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "InlineLeaflet"
        self.js, self.css = _leaflet_assets()
        self.jquery_shim = _JQUERY_SHIM


class MetricScale(MacroElement):
    """Leaflet's scale bar in metres and kilometres only (folium's ``control_scale`` adds miles and feet).

    Bottom-left, below the shared legend (see ``.tsunagu-legend`` in :mod:`layers.style`).
    """

    _template = Template(
        """
        {% macro script(this, kwargs) %}
        L.control.scale({imperial: false, metric: true, position: "bottomleft", maxWidth: 160})
            .addTo({{ this._parent.get_name() }});
        {% endmacro %}
        """
    )

    def __init__(self) -> None:
        super().__init__()
        self._name = "MetricScale"


def _offline_map(**kwargs) -> folium.Map:
    m = folium.Map(tiles=None, **kwargs)
    # Instance attributes shadow folium's class-level CDN lists (jQuery, Bootstrap, awesome-markers,
    # Leaflet from jsDelivr) without touching other folium maps in the same process.
    m.default_js = []
    m.default_css = []
    # Rendered into the page header, before the map's own script at the end of the page.
    m.add_child(_InlineLeaflet(), name="leaflet")
    return m


def tier_base_map(
    *,
    bounds: Sequence[float] | None = None,
    location: Sequence[float] | None = None,
    zoom_start: int = 11,
    height: str = "100%",
) -> folium.Map:
    """Return an offline-capable Folium map with 地理院タイル 淡色地図 and 標準地図 as base layers.

    Leaflet is inlined (no CDN), so polygons and markers draw without internet; only the tile
    images need the network.

    Parameters
    ----------
    bounds
        ``(minx, miny, maxx, maxy)`` in longitude/latitude to fit the view to.
    location
        ``(lat, lon)`` centre when no bounds are given (default: 高梁市).
    zoom_start
        Initial zoom when no bounds are given.
    height
        CSS height of the map.

    Returns
    -------
    folium.Map
    """
    centre = list(location) if location is not None else list(DEFAULT_CENTRE)
    if bounds is not None and all(b == b for b in bounds):  # no NaN (empty frames)
        minx, miny, maxx, maxy = (float(b) for b in bounds)
        centre = [(miny + maxy) / 2, (minx + maxx) / 2]
    m = _offline_map(location=centre, zoom_start=zoom_start, height=height, control_scale=False)
    m.add_child(MetricScale(), name="metric_scale")
    folium.TileLayer(
        GSI_PALE_URL, attr=GSI_ATTRIBUTION, name="地理院タイル（淡色地図）", max_zoom=18, max_native_zoom=18,
        overlay=False, control=True,
    ).add_to(m)
    folium.TileLayer(
        GSI_STD_URL, attr=GSI_ATTRIBUTION, name="地理院タイル（標準地図）", max_zoom=18, max_native_zoom=18,
        overlay=False, control=True, show=False,
    ).add_to(m)
    if bounds is not None and all(b == b for b in bounds):
        m.fit_bounds([[miny, minx], [maxy, maxx]])
    m.add_child(style_css_element(), name="tsunagu_style")
    return m
