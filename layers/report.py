"""Area reports (地域カルテ) as printable A4 HTML with a small inline SVG map, as PDF (WeasyPrint) and as Excel (one sheet per area)."""

from __future__ import annotations

import datetime as _dt
import io
import math
import re
from collections.abc import Sequence

import pandas as pd
from jinja2 import Environment, select_autoescape
from shapely.geometry import MultiPolygon, Polygon

from gis.area_report import INDICATOR_LABELS, NOT_APPLICABLE, UNKNOWN, AreaReport
from gis.schema import RESOURCE_KINDS
from layers.style import DATA_ATTRIBUTIONS, resource_colour

#: Resources listed on the printed page (the Excel sheet lists all).
MAX_PRINTED_RESOURCES = 40
#: Size of the small map (px in the SVG's own units).
MAP_WIDTH, MAP_HEIGHT = 320, 240

_CSS = """
@page { size: A4; margin: 12mm 11mm 14mm 11mm;
        @bottom-center { content: "地域カルテ " counter(page) " / " counter(pages); font-size: 8pt; color: #555; } }
* { box-sizing: border-box; }
body { font-family: "Noto Sans CJK JP", "Noto Sans JP", "Hiragino Sans", "Yu Gothic", "Meiryo", sans-serif;
       font-size: 9pt; color: #222; margin: 0; line-height: 1.35; }
.page { page-break-after: always; break-after: page; }
.page:last-child { page-break-after: auto; break-after: auto; }
h1 { font-size: 15pt; margin: 0 0 1mm 0; }
.sub { color: #555; margin: 0 0 3mm 0; }
h2 { font-size: 10.5pt; margin: 3mm 0 1mm 0; border-left: 3pt solid #1f6f8b; padding-left: 2mm; }
.top { display: flex; gap: 4mm; align-items: flex-start; }
.map { flex: 0 0 86mm; }
.map svg { width: 86mm; height: auto; border: 0.4pt solid #bbb; background: #fafafa; }
.legend { font-size: 7.5pt; color: #444; }
.legend span.dot { display: inline-block; width: 7pt; height: 7pt; border-radius: 50%; margin: 0 1mm 0 2mm; vertical-align: -1pt; }
.key { flex: 1; }
table { border-collapse: collapse; width: 100%; }
table.ind { table-layout: fixed; }
th, td { border: 0.4pt solid #bbb; padding: 0.6mm 1.2mm; vertical-align: top; }
th { background: #e8f1f4; font-weight: bold; text-align: left; }
td.n { text-align: right; white-space: nowrap; }
td.sec { background: #f5f5f5; font-weight: bold; }
td.note { font-size: 7.5pt; color: #555; }
.small td, .small th { font-size: 8pt; }
ul.notes { margin: 1mm 0 0 4mm; padding: 0; font-size: 7.5pt; color: #444; }
.foot { font-size: 7pt; color: #666; margin-top: 2mm; }
@media screen { body { background: #ddd; } .page { background: #fff; width: 210mm; min-height: 297mm; margin: 6mm auto;
                padding: 12mm 11mm; box-shadow: 0 0 3mm #999; } }
"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="ja"><head><meta charset="utf-8"><title>{{ title }}</title><style>{{ css | safe }}</style></head>
<body>
{% for r in reports %}
<section class="page" id="area-{{ r.level }}-{{ r.area_id }}">
  <h1>地域カルテ　{{ r.name }}</h1>
  <p class="sub">{{ r.city_name }}・{{ r.level_label }}（地域ID {{ r.area_id }}）{% if r.parent %}　上位の地域：{{ r.parent.level_label }} {{ r.parent.name }}{% endif %}　作成日 {{ today }}</p>
  <div class="top">
    <div class="map">{{ r.svg | safe }}
      <div class="legend">{% for kind, colour in r.legend %}<span class="dot" style="background: {{ colour }}"></span>{{ kind }}{% endfor %}</div>
    </div>
    <div class="key">
      <table class="small">
        <tr><th>主な指標</th><th>この地域</th>{% if r.scenario %}<th>シナリオ「{{ r.scenario }}」</th><th>{{ labels.delta }}</th>{% endif %}{% if r.show_parent %}<th>{{ r.parent_header }}</th>{% endif %}<th>市全域</th></tr>
        {% for row in r.key_rows %}<tr><td>{{ row.label }}</td><td class="n">{{ row.value }}</td>{% if r.scenario %}<td class="n">{{ row.scenario }}</td><td class="n">{{ row.delta }}</td>{% endif %}{% if r.show_parent %}<td class="n">{{ row.parent }}</td>{% endif %}<td class="n">{{ row.city }}</td></tr>{% endfor %}
      </table>
    </div>
  </div>
  <h2>指標（この地域・{% if r.show_parent %}{{ r.parent_header }}・{% endif %}市全域）</h2>
  <table class="ind"><colgroup><col style="width: 40mm"><col style="width: 22mm">{% if r.scenario %}<col style="width: 22mm"><col style="width: 18mm">{% endif %}{% if r.show_parent %}<col style="width: 22mm">{% endif %}<col style="width: 22mm"><col></colgroup>
    <tr><th>{{ labels.label }}</th><th>{{ labels.value }}</th>{% if r.scenario %}<th>{{ labels.scenario }}</th><th>{{ labels.delta }}</th>{% endif %}{% if r.show_parent %}<th>{{ r.parent_header }}</th>{% endif %}<th>{{ labels.city }}</th><th>{{ labels.note }}</th></tr>
    {% for section, rows in r.sections %}
    <tr><td class="sec" colspan="{{ (5 if r.show_parent else 4) + (2 if r.scenario else 0) }}">{{ section }}</td></tr>
    {% for row in rows %}<tr><td>{{ row.label }}</td><td class="n">{{ row.value }}</td>{% if r.scenario %}<td class="n">{{ row.scenario }}</td><td class="n">{{ row.delta }}</td>{% endif %}{% if r.show_parent %}<td class="n">{{ row.parent }}</td>{% endif %}<td class="n">{{ row.city }}</td><td class="note">{{ row.note }}</td></tr>{% endfor %}
    {% endfor %}
  </table>
  {% if r.children_rows %}
  <h2>含まれる地域（{{ r.children_rows | length }}）</h2>
  <table class="small"><tr>{% for c in r.children_columns %}<th>{{ c }}</th>{% endfor %}</tr>
    {% for row in r.children_rows %}<tr>{% for v in row %}<td{% if loop.index > 3 %} class="n"{% endif %}>{{ v }}</td>{% endfor %}</tr>{% endfor %}
  </table>
  {% endif %}
  <h2>地域資源の一覧（{{ r.n_resources }} か所）</h2>
  {% if r.resource_rows %}
  <table class="small"><tr><th>種別</th><th>名称</th><th>住所</th><th></th></tr>
    {% for row in r.resource_rows %}<tr><td>{{ row[0] }}</td><td>{{ row[1] }}</td><td>{{ row[2] }}</td><td>{{ row[3] }}</td></tr>{% endfor %}
  </table>
  {% if r.more_resources %}<p class="foot">ほか {{ r.more_resources }} か所（Excel 版にすべて載っています）</p>{% endif %}
  {% else %}<p>この地域に登録された地域資源はありません。</p>{% endif %}
  <h2>注記</h2>
  <ul class="notes">{% for n in r.notes %}<li>{{ n }}</li>{% endfor %}</ul>
  <p class="foot">数値はサロンの空白地域・買い物弱者のジョブの表と同じ計算です（人数は小数第1位まで、割合は %）。訪問先の世帯は件数のみで、少数は秘匿しています。出典：{{ sources }}</p>
</section>
{% endfor %}
</body></html>
"""

#: Figures shown in the box beside the map.
KEY_FIGURES = ("population", "elderly", "aging_rate", "uncovered_share", "share_straight", "client_households")

_env = Environment(autoescape=select_autoescape(default=True, default_for_string=True))
_template = _env.from_string(_TEMPLATE)


def show(value, unit: str = "") -> str:
    """A figure as printed: thousands separators, whole counts without decimals, estimates with one, 「不明」 when unknown."""
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return UNKNOWN
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "はい" if value else "いいえ"
    if isinstance(value, int) or (isinstance(value, float) and float(value).is_integer() and unit in ("人", "世帯", "か所", "回／週")):
        return f"{int(value):,}"
    return f"{float(value):,.1f}"


def _with_unit(value, unit: str) -> str:
    text = show(value, unit)
    if text in (UNKNOWN, NOT_APPLICABLE) or not unit or not any(ch.isdigit() for ch in text):
        return text
    return f"{text} {unit}" if unit != "%" else f"{text}%"


# --- the small map -------------------------------------------------------------------------


def _rings(geom) -> list:
    if isinstance(geom, Polygon):
        return [geom.exterior, *geom.interiors]
    if isinstance(geom, MultiPolygon):
        return [r for g in geom.geoms for r in (g.exterior, *g.interiors)]
    if hasattr(geom, "geoms"):
        return [r for g in geom.geoms for r in _rings(g)]
    return []


def map_svg(report: AreaReport) -> str:
    """The small map of a report as inline SVG: the sibling areas, the area itself, its resources (no tiles)."""
    context = report.context.to_crs(report.crs)
    here = context[context["highlight"]] if "highlight" in context else context
    points = report.points.to_crs(report.crs)
    if context.empty:
        return f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MAP_WIDTH} {MAP_HEIGHT}"></svg>'
    minx, miny, maxx, maxy = context.total_bounds
    span = max(maxx - minx, maxy - miny, 1.0)
    pad = 8
    scale = min((MAP_WIDTH - 2 * pad) / max(maxx - minx, 1e-9), (MAP_HEIGHT - 2 * pad) / max(maxy - miny, 1e-9))
    ox = pad + ((MAP_WIDTH - 2 * pad) - (maxx - minx) * scale) / 2
    oy = pad + ((MAP_HEIGHT - 2 * pad) - (maxy - miny) * scale) / 2

    def xy(x, y):
        return f"{ox + (x - minx) * scale:.1f},{oy + (maxy - y) * scale:.1f}"

    def path(geom) -> str:
        geom = geom.simplify(span / 600, preserve_topology=True)
        parts = []
        for ring in _rings(geom):
            coords = list(ring.coords)
            if len(coords) >= 3:
                parts.append("M" + " L".join(xy(x, y) for x, y in coords) + " Z")
        return " ".join(parts)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {MAP_WIDTH} {MAP_HEIGHT}" role="img" '
           f'aria-label="{_esc(report.name)}の位置">']
    for row in context.itertuples():
        on = bool(getattr(row, "highlight", False))
        fill, stroke, width = ("#f6c28b", "#b5651d", 1.2) if on else ("#e6e6e6", "#999999", 0.6)
        out.append(f'<path d="{path(row.geometry)}" fill="{fill}" stroke="{stroke}" stroke-width="{width}" '
                   f'fill-rule="evenodd"><title>{_esc(row.name)}</title></path>')
    if len(here) and len(context) > 1:
        for row in here.itertuples():
            c = row.geometry.representative_point()
            out.append(f'<text x="{xy(c.x, c.y).split(",")[0]}" y="{xy(c.x, c.y).split(",")[1]}" font-size="9" '
                       f'text-anchor="middle" fill="#5a3000">{_esc(row.name)}</text>')
    for row in points.itertuples():
        if row.geometry is None or row.geometry.is_empty:
            continue
        x, y = xy(row.geometry.x, row.geometry.y).split(",")
        out.append(f'<circle cx="{x}" cy="{y}" r="2.6" fill="{resource_colour(row.kind)}" stroke="#333" stroke-width="0.4"/>')
    km = _scale_bar_km(span)
    bar = km * 1000 * scale
    out.append(f'<g font-size="8" fill="#333"><line x1="{pad}" y1="{MAP_HEIGHT - 6}" x2="{pad + bar:.1f}" '
               f'y2="{MAP_HEIGHT - 6}" stroke="#333" stroke-width="1.5"/>'
               f'<text x="{pad}" y="{MAP_HEIGHT - 9}">{km:g} km</text></g>')
    out.append("</svg>")
    return "".join(out)


def _scale_bar_km(span_m: float) -> float:
    target = span_m / 4 / 1000
    for step in (0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50):
        if step >= target:
            return step
    return 10 ** math.ceil(math.log10(target))


def _esc(text) -> str:
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;"))


# --- HTML and PDF --------------------------------------------------------------------------


def _scenario_cells(row, has_scenario: bool) -> dict:
    if not has_scenario:
        return {}
    delta = row.delta
    shown = "" if delta is None or (isinstance(delta, float) and math.isnan(delta)) else f"{delta:+,.1f}"
    return {"scenario": _with_unit(row.scenario, row.unit), "delta": shown}


def _view(report: AreaReport) -> dict:
    ind = report.indicators
    has_scenario = "scenario" in ind.columns
    sections = []
    for section, rows in ind.groupby("section", sort=False):
        sections.append((section, [{"label": r.label, "value": _with_unit(r.value, r.unit), "parent": _with_unit(r.parent, r.unit),
                                    "city": _with_unit(r.city, r.unit), "note": r.note,
                                    **_scenario_cells(r, has_scenario)} for r in rows.itertuples()]))
    key_rows = []
    by_key = {r.key: r for r in ind.itertuples()}
    first_share = next((k for k in by_key if k.startswith("uncovered_share_")), None)
    for key in KEY_FIGURES:
        key = first_share if key == "uncovered_share" else key
        r = by_key.get(key) if key else None
        if r is not None:
            label = f"サロン{r.section[len('サロンの'):]}の{r.label}" if key == first_share else r.label
            key_rows.append({"label": label, "value": _with_unit(r.value, r.unit), "parent": _with_unit(r.parent, r.unit),
                             "city": _with_unit(r.city, r.unit), **_scenario_cells(r, has_scenario)})
    kinds = list(dict.fromkeys(report.points["kind"])) if len(report.points) else []
    res = report.resources
    children = report.children
    return {
        "level": report.level, "area_id": report.area_id, "name": report.name, "city_name": report.city_name,
        "level_label": report.level_label, "parent": report.parent,
        "parent_header": f"上位：{report.parent['name']}" if report.parent else "上位の地域",
        # the parent column only when the parent is not the city itself (else it repeats the city column)
        "show_parent": bool(report.parent) and report.parent["level"] != report.indicators.attrs.get("top_level"),
        "svg": map_svg(report),
        "legend": [(RESOURCE_KINDS.get(k, k), resource_colour(k)) for k in kinds],
        "key_rows": key_rows, "sections": sections,
        "children_columns": list(children.columns),
        "children_rows": [[show(v) for v in row] for row in children.itertuples(index=False)],
        "n_resources": len(res),
        "resource_rows": [list(r) for r in res.head(MAX_PRINTED_RESOURCES).itertuples(index=False)],
        "more_resources": max(0, len(res) - MAX_PRINTED_RESOURCES),
        "notes": report.notes,
        "scenario": ind.attrs.get("scenario") if has_scenario else None,
    }


def report_html(reports: Sequence[AreaReport], *, title: str | None = None) -> str:
    """One printable A4 HTML document of the reports (one page or more each; print CSS, Japanese)."""
    if not reports:
        msg = "地域カルテにする地域がありません"
        raise ValueError(msg)
    first = reports[0]
    title = title or (f"地域カルテ {first.city_name} {first.name}" if len(reports) == 1
                      else f"地域カルテ {first.city_name} {first.level_label}（{len(reports)} 地域）")
    return _template.render(title=title, css=_CSS, reports=[_view(r) for r in reports], labels=INDICATOR_LABELS,
                            today=_dt.date.today().isoformat(), sources="、".join(_plain(a) for a in DATA_ATTRIBUTIONS))


def _plain(html_text: str) -> str:
    return re.sub(r"<[^>]+>", "", html_text)


def report_pdf(reports: Sequence[AreaReport], *, title: str | None = None) -> bytes:
    """The reports as a PDF (WeasyPrint renders :func:`report_html`; Japanese needs a CJK font such as fonts-noto-cjk)."""
    from weasyprint import HTML

    return HTML(string=report_html(reports, title=title)).write_pdf()


# --- Excel ---------------------------------------------------------------------------------


def sheet_names(reports: Sequence[AreaReport]) -> list[str]:
    """One Excel sheet name per report: the area's name, made valid (≤ 31 characters, no []:*?/\\) and unique."""
    names, seen = [], set()
    for r in reports:
        base = re.sub(r"[\[\]:*?/\\]", "・", str(r.name))[:28] or str(r.area_id)[:28]
        name, i = base, 2
        while name.lower() in seen:
            name = f"{base[:26]}_{i}"
            i += 1
        seen.add(name.lower())
        names.append(name)
    return names


def report_xlsx(reports: Sequence[AreaReport]) -> bytes:
    """The reports as one Excel workbook, one sheet per area: the indicators, the areas it contains, its resources, the notes."""
    from openpyxl.styles import Font

    buf = io.BytesIO()
    with pd.ExcelWriter(buf, engine="openpyxl") as writer:
        for report, sheet in zip(reports, sheet_names(reports)):
            head = pd.DataFrame({"項目": ["地域カルテ", "市区町村", "階層", "地域ID", "上位の地域"],
                                 "内容": [report.name, report.city_name, report.level_label, report.area_id,
                                        "" if report.parent is None else f"{report.parent['level_label']} {report.parent['name']}"]})
            head.to_excel(writer, sheet_name=sheet, index=False, startrow=0)
            row = len(head) + 2
            ind = report.indicators.drop(columns=["key"]).rename(columns=INDICATOR_LABELS)
            if report.parent:
                ind = ind.rename(columns={INDICATOR_LABELS["parent"]: f"上位の地域（{report.parent['name']}）"})
            ind = ind.astype(object).where(ind.notna(), UNKNOWN)
            ind.to_excel(writer, sheet_name=sheet, index=False, startrow=row)
            row += len(ind) + 2
            blocks = [("含まれる地域", report.children), ("地域資源の一覧", report.resources),
                      ("注記", pd.DataFrame({"注記": report.notes}))]
            ws = writer.sheets[sheet]
            for title, frame in blocks:
                ws.cell(row=row + 1, column=1, value=title).font = Font(bold=True)
                frame.to_excel(writer, sheet_name=sheet, index=False, startrow=row + 1)
                row += len(frame) + 3
            ws.column_dimensions["A"].width = 22
            ws.column_dimensions["B"].width = 30
            for col in "CDE":
                ws.column_dimensions[col].width = 16
            ws.column_dimensions["G"].width = 50
    return buf.getvalue()


__all__ = ["map_svg", "report_html", "report_pdf", "report_xlsx", "sheet_names", "show"]
