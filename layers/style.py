"""One style vocabulary for every map: colour ramps, marker colours, Japanese labels, legends, attributions."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

import pandas as pd
from branca.element import MacroElement

from folium.template import Template
from gis import kinds as _kinds
from gis.schema import RESOURCE_KINDS, STATION_KINDS

# --- attributions -------------------------------------------------------------------------

from data import manifest as _manifest

GSI_TILES_URL = _manifest()["basemap"]["download"]
#: 地理院タイル attribution (HTML, as Leaflet shows it).
GSI_ATTRIBUTION = f'<a href="{GSI_TILES_URL}" target="_blank" rel="noopener">地理院タイル</a>「出典：国土地理院」'
#: Attributions come from the source manifest (data/sources.toml), the one place they live.
ESTAT_ATTRIBUTION = _manifest()["small_areas"]["attribution"]
KSJ_ATTRIBUTION = _manifest()["municipalities"]["attribution"]
FOOD_PERMITS_ATTRIBUTION = _manifest()["food_permits"]["attribution"]
SHELTERS_ATTRIBUTION = _manifest()["shelters"]["attribution"]

#: Data attributions shown on every map built from the bundled sources.
DATA_ATTRIBUTIONS = (
    ESTAT_ATTRIBUTION,
    KSJ_ATTRIBUTION,
    FOOD_PERMITS_ATTRIBUTION,
    SHELTERS_ATTRIBUTION,
)

# --- labels -------------------------------------------------------------------------------

DENSITY_LABEL = "人口密度（人/km²）"
NO_DATA_LABEL = "データなし"
UNKNOWN = "不明"
SAMPLE_LABEL = "サンプルデータ"

# --- population density ramp ----------------------------------------------------------------

#: Class breaks (people per km²) of the density ramp; suits rural and urban Japanese cities.
DENSITY_BREAKS: tuple[float, ...] = (0, 10, 50, 100, 250, 500, 1000, 2500, 5000)
#: Sequential YlOrRd colours, one per class (len(DENSITY_BREAKS) classes, the last open-ended).
DENSITY_COLOURS: tuple[str, ...] = (
    "#ffffcc", "#ffeda0", "#fed976", "#feb24c", "#fd8d3c",
    "#fc4e2a", "#e31a1c", "#bd0026", "#800026",
)
NO_DATA_COLOUR = "#9e9e9e"

# --- point colours ------------------------------------------------------------------------

#: Marker colour per resource kind (the colour-blind-safe palette of gis/kinds.toml).
RESOURCE_COLOURS: dict[str, str] = _kinds.resource_colours()
#: Marker colour per station kind (gis/kinds.toml).
STATION_COLOURS: dict[str, str] = _kinds.station_colours()
#: Outline of markers for sample (invented) data: dashed and grey, so they read as "not real".
SAMPLE_STROKE = "#333333"
SAMPLE_DASH = "3 3"

assert set(RESOURCE_COLOURS) == set(RESOURCE_KINDS), "every resource kind needs a colour"
assert set(STATION_COLOURS) == set(STATION_KINDS), "every station kind needs a colour"


def resource_colour(kind: str) -> str:
    """Return the marker colour of a resource kind (grey for an unknown kind)."""
    return RESOURCE_COLOURS.get(kind, RESOURCE_COLOURS[_kinds.OTHER_KIND])


def station_colour(kind: str) -> str:
    """Return the marker colour of a station kind (grey for an unknown kind)."""
    return STATION_COLOURS.get(kind, RESOURCE_COLOURS[_kinds.OTHER_KIND])


def kinds_css() -> str:
    """Return the CSS of the kind colours for web pages: ``.k-<key>`` sets the background.

    Rendered from gis/kinds.toml (served as ``/web/kinds.css``), so pages carry no copy of the palette.
    """
    rules = [f".k-{key} {{ background: {colour}; }}" for key, colour in {**RESOURCE_COLOURS, **STATION_COLOURS}.items()]
    return "/* kind colours, rendered from gis/kinds.toml */\n" + "\n".join(rules) + "\n"


def density_colour(density) -> str:
    """Return the fill colour for a population density (people per km²); grey when unknown."""
    if density is None or pd.isna(density) or not math.isfinite(float(density)):
        return NO_DATA_COLOUR
    i = 0
    for k, lower in enumerate(DENSITY_BREAKS):
        if float(density) >= lower:
            i = k
    return DENSITY_COLOURS[i]


def density_classes() -> list[tuple[str, str]]:
    """Return ``(colour, Japanese range label)`` for every density class, low to high."""
    out = []
    for k, lower in enumerate(DENSITY_BREAKS):
        if k + 1 < len(DENSITY_BREAKS):
            label = f"{lower:,.0f}〜{DENSITY_BREAKS[k + 1]:,.0f}"
        else:
            label = f"{lower:,.0f} 以上"
        out.append((DENSITY_COLOURS[k], label))
    return out


# --- formatting ---------------------------------------------------------------------------


def fmt_int(value) -> str:
    """Format a count with thousands separators, or 「不明」 when unknown (<NA>)."""
    if value is None or pd.isna(value):
        return UNKNOWN
    return f"{int(value):,}"


def fmt_float(value, digits: int = 1) -> str:
    """Format a number with ``digits`` decimals, or 「不明」 when unknown."""
    if value is None or pd.isna(value) or not math.isfinite(float(value)):
        return UNKNOWN
    return f"{float(value):,.{digits}f}"


def esc(value) -> str:
    """HTML-escape a value for popups (None and <NA> give an empty string)."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return html.escape(str(value))


def popup_table(title: str, rows: Sequence[tuple[str, str]], *, badge: str | None = None) -> str:
    """Return popup HTML: a bold title, an optional badge and a two-column table (values pre-escaped)."""
    badge_html = f' <span class="tsunagu-badge">{html.escape(badge)}</span>' if badge else ""
    body = "".join(
        f"<tr><th style='text-align:left;padding-right:8px;white-space:nowrap'>{html.escape(k)}</th><td>{v}</td></tr>"
        for k, v in rows
    )
    return f"<div class='tsunagu-popup'><b>{html.escape(title)}</b>{badge_html}<table>{body}</table></div>"


# --- legend -------------------------------------------------------------------------------


_LEGEND_CSS = """
.tsunagu-legend, .tsunagu-note, .tsunagu-title, .tsunagu-attrib {
  position: absolute; z-index: 1000; background: rgba(255,255,255,0.92);
  font-family: "Hiragino Sans", "Noto Sans JP", "Yu Gothic", Meiryo, sans-serif;
  font-size: 12px; line-height: 1.4; border-radius: 4px; box-shadow: 0 1px 4px rgba(0,0,0,0.35);
  padding: 6px 8px; color: #222;
}
/* bottom-left, above Leaflet's metric scale (bottom-left, ~30 px high): the two never overlap */
.tsunagu-legend { bottom: 44px; left: 10px; max-height: calc(100% - 150px); overflow-y: auto; }
.tsunagu-legend h4 { margin: 4px 0 2px; font-size: 12px; }
.tsunagu-legend .grp { margin: 3px 0 1px; font-size: 11px; color: #555; }
.tsunagu-legend .sw { display: inline-block; width: 14px; height: 12px; margin-right: 5px;
  vertical-align: middle; border: 1px solid #555; }
.tsunagu-legend .dot { display: inline-block; width: 10px; height: 10px; border-radius: 50%;
  margin: 0 7px 0 2px; vertical-align: middle; border: 1px solid #333; }
.tsunagu-legend .dot.sample { border: 2px dashed #333; background: #ddd; }
.tsunagu-legend .hatch { background: rgba(158,158,158,0.55); border: 1px dashed #555; }
.tsunagu-title { top: 10px; left: 50%; transform: translateX(-50%); font-size: 16px; font-weight: bold; }
.tsunagu-note { top: 52px; left: 50px; max-width: 340px; border-left: 4px solid #ff9800; }
.tsunagu-attrib { bottom: 22px; right: 10px; max-width: 45%; font-size: 10px; }
.tsunagu-badge { background: #ff9800; color: #fff; border-radius: 3px; padding: 0 4px; font-size: 11px; }
.tsunagu-popup table { border-collapse: collapse; margin-top: 4px; }
.tsunagu-popup th { text-align: left; padding-right: 8px; white-space: nowrap; }
"""


class HtmlBox(MacroElement):
    """A fixed HTML box over the map (legend, title, note), plain HTML/CSS with no external JS.

    Parameters
    ----------
    html_text
        Inner HTML of the box (already escaped).
    css_class
        One of ``tsunagu-legend``, ``tsunagu-title``, ``tsunagu-note``, ``tsunagu-attrib``.
    """

    _template = Template(
        """
        {% macro header(this, kwargs) %}
        {% if this.with_css %}<style>{{ this.css }}</style>{% endif %}
        {% endmacro %}
        {% macro html(this, kwargs) %}
        <div id="{{ this.get_name() }}" class="{{ this.css_class }}">{{ this.html_text }}</div>
        {% endmacro %}
        """
    )

    def __init__(self, html_text: str, *, css_class: str, with_css: bool = False) -> None:
        super().__init__()
        self._name = "HtmlBox"
        self.html_text = html_text
        self.css_class = css_class
        self.with_css = with_css
        self.css = _LEGEND_CSS


def style_css_element() -> HtmlBox:
    """Return an element that only carries the shared CSS (add once per map)."""
    return HtmlBox("", css_class="tsunagu-style", with_css=True)


def legend_html(
    *,
    density: bool = True,
    has_unknown: bool = True,
    station_kinds: Sequence[str] = (),
    resource_kinds: Sequence[str] = (),
    has_sample: bool = False,
) -> str:
    """Return the shared Japanese legend as HTML.

    Parameters
    ----------
    density
        Include the population-density ramp (人口密度（人/km²）).
    has_unknown
        Include the 「データなし」 entry (grey fill, dashed outline).
    station_kinds, resource_kinds
        Point kinds present on the map, each shown with its colour and Japanese label.
    has_sample
        Include the 「サンプルデータ」 marker entry.
    """
    parts = ["<div class='tsunagu-legend-body'>"]
    if density:
        parts.append(f"<h4>{html.escape(DENSITY_LABEL)}</h4>")
        for colour, label in density_classes():
            parts.append(f"<div><span class='sw' style='background:{colour}'></span>{html.escape(label)}</div>")
        if has_unknown:
            parts.append(f"<div><span class='sw hatch'></span>{NO_DATA_LABEL}</div>")
    if station_kinds:
        parts.append("<h4>拠点</h4>")
        for kind in station_kinds:
            label = STATION_KINDS.get(kind, kind)
            parts.append(
                f"<div><span class='dot' style='background:{station_colour(kind)};width:13px;height:13px'></span>"
                f"{html.escape(label)}</div>"
            )
    if resource_kinds:
        parts.append("<h4>地域資源</h4>")
        vocabulary = _kinds.resource_kinds()
        group_labels = _kinds.groups()
        order = {k: i for i, k in enumerate(vocabulary)}
        shown_group = None
        # in the vocabulary's order, under the group's name: kinds of one group share a hue family
        for kind in sorted(dict.fromkeys(resource_kinds), key=lambda k: order.get(k, len(order))):
            group = vocabulary[kind].group if kind in vocabulary else _kinds.OTHER_KIND
            if group != shown_group and len({vocabulary[k].group for k in resource_kinds if k in vocabulary}) > 1:
                parts.append(f"<div class='grp'>{html.escape(group_labels.get(group, group))}</div>")
            shown_group = group
            label = RESOURCE_KINDS.get(kind, kind)
            parts.append(
                f"<div><span class='dot' style='background:{resource_colour(kind)}'></span>{html.escape(label)}</div>"
            )
    if has_sample:
        parts.append(f"<div><span class='dot sample'></span>{SAMPLE_LABEL}（点線の枠・デモ用の例示）</div>")
    parts.append("</div>")
    return "".join(parts)


def legend(**kwargs) -> HtmlBox:
    """Return the shared legend as a map element; keyword arguments as :func:`legend_html`."""
    return HtmlBox(legend_html(**kwargs), css_class="tsunagu-legend")


def attribution_box(attributions: Sequence[str]) -> HtmlBox:
    """Return a box listing data attributions (one per line, 地理院タイル first)."""
    lines = [GSI_ATTRIBUTION] + [html.escape(a) for a in attributions]
    return HtmlBox("<br>".join(lines), css_class="tsunagu-attrib")
