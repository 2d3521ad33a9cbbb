"""The weekly mobile-sales timetable in Japanese (曜日・時刻・停留所名), as printable HTML, CSV, Excel and GPX."""

from __future__ import annotations

import html
from pathlib import Path
from xml.etree import ElementTree as ET

import pandas as pd

from gis.routing import format_hhmm
from gis.weekly import WEEKDAYS, WeeklyPlan, WeeklyProblem

#: Columns of the timetable (one row per event: leave depot, stop visit, lunch, return).
COLUMNS = ["曜日", "車両", "順番", "種別", "停留所ID", "停留所名", "到着", "出発", "滞在（分）", "見込み客数", "経度", "緯度"]


def _place(problem: WeeklyProblem, place: int | None):
    """Where a route starts or ends: the depot, or the vehicle's own place (another partner shop)."""
    return problem.depot if place is None else problem.places[place]


def timetable(problem: WeeklyProblem, plan: WeeklyPlan) -> pd.DataFrame:
    """One row per event of the week, in day and time order: 出発 (depot), 停留所, 休憩, 帰着.

    Returns
    -------
    DataFrame
        :data:`COLUMNS`; times 「H:MM」; ``attrs["notes"]`` repeats the plan's notes.
    """
    stops = {s.stop_id: s for s in problem.stops}
    vnames = {v.vehicle_id: v.name or v.vehicle_id for v in problem.vehicles}
    rows = []
    for day in plan.days:
        for r in sorted(plan.day_plans[day].routes, key=lambda r: r.vehicle_id):
            if not r.visits:
                continue
            vn = vnames.get(r.vehicle_id, r.vehicle_id)
            a, b = _place(problem, r.start_place), _place(problem, r.end_place)
            events = [(r.start_s, 0, {"種別": "出発", "停留所名": a.name or "拠点", "到着": "", "出発": format_hhmm(r.start_s),
                                      "経度": a.lon, "緯度": a.lat})]
            for n, v in enumerate(r.visits, start=1):
                s = stops[v.stop_id]
                events.append((v.start_s, 1, {
                    "順番": n, "種別": "停留所", "停留所ID": s.stop_id, "停留所名": s.name,
                    "到着": format_hhmm(v.arrival_s), "出発": format_hhmm(v.departure_s),
                    "滞在（分）": round((v.departure_s - v.start_s) / 60),
                    "見込み客数": round(float(s.expected_customers), 1), "経度": s.location.lon, "緯度": s.location.lat}))
            for bs, be in r.breaks:
                events.append((bs, 2, {"種別": "休憩", "停留所名": "昼休憩", "到着": format_hhmm(bs), "出発": format_hhmm(be),
                                       "滞在（分）": round((be - bs) / 60)}))
            events.append((r.end_s, 3, {"種別": "帰着", "停留所名": b.name or "拠点", "到着": format_hhmm(r.end_s), "出発": "",
                                        "経度": b.lon, "緯度": b.lat}))
            for _, _, e in sorted(events, key=lambda e: (e[0], e[1])):
                rows.append({"曜日": day, "車両": vn, **e})
    df = pd.DataFrame(rows, columns=COLUMNS)
    df["順番"] = df["順番"].astype("Int64")
    df["滞在（分）"] = df["滞在（分）"].astype("Int64")
    df.attrs["notes"] = list(plan.notes)
    return df


def week_overview(problem: WeeklyProblem, plan: WeeklyPlan) -> pd.DataFrame:
    """One row per stop: its name, expected customers and the arrival time under each service day."""
    arrive: dict[tuple[str, str], str] = {}
    for day in plan.days:
        for r in plan.day_plans[day].routes:
            for v in r.visits:
                arrive[(v.stop_id, day)] = format_hhmm(v.arrival_s)
    un: dict[str, int] = {}
    for sid, _k, _w in plan.unassigned:
        un[sid] = un.get(sid, 0) + 1
    rows = []
    for s in problem.stops:
        row = {"停留所ID": s.stop_id, "停留所名": s.name, "見込み客数": round(float(s.expected_customers), 1),
               "週の訪問回数": int(s.visits_per_week)}
        for day in plan.days:
            row[day] = arrive.get((s.stop_id, day), "")
        row["未割当"] = f"{un[s.stop_id]}回" if s.stop_id in un else ""
        rows.append(row)
    return pd.DataFrame(rows)


def unassigned_table(problem: WeeklyProblem, plan: WeeklyPlan) -> pd.DataFrame:
    """Stop-visits that could not be fitted, with the reason."""
    names = {s.stop_id: s.name for s in problem.stops}
    return pd.DataFrame([{"停留所ID": sid, "停留所名": names.get(sid, ""), "訪問（週の何回目）": k, "理由": why}
                         for sid, k, why in plan.unassigned], columns=["停留所ID", "停留所名", "訪問（週の何回目）", "理由"])


def day_summary(plan: WeeklyPlan) -> pd.DataFrame:
    """Per day: stops visited, vehicles used, driving time, distance, start and end."""
    rows = []
    for d in plan.days:
        routes = [r for r in plan.day_plans[d].routes if r.visits]
        rows.append({"曜日": d, "停留所数": sum(len(r.visits) for r in routes), "車両数": len(routes),
                     "運転時間（分）": round(plan.driving_s(d) / 60), "走行距離（km）": round(plan.distance_m(d) / 1000, 1),
                     "出発": min((format_hhmm(r.start_s) for r in routes), default=""),
                     "帰着": max((format_hhmm(r.end_s) for r in routes), default="")})
    return pd.DataFrame(rows)


# --------------------------------------------------------------------------------------------
# exports


def write_csv(table: pd.DataFrame, path: str | Path) -> Path:
    """CSV in UTF-8 with BOM (opens in Excel with Japanese intact)."""
    path = Path(path)
    table.to_csv(path, index=False, encoding="utf-8-sig")
    return path


def write_excel(problem: WeeklyProblem, plan: WeeklyPlan, path: str | Path, *, title: str = "移動販売 週間時刻表",
                notes: list[str] | None = None) -> Path:
    """Excel workbook: 週間一覧 (stops × days), one sheet per day, 未割当, 注記."""
    path = Path(path)
    table = timetable(problem, plan)
    with pd.ExcelWriter(path, engine="openpyxl") as xw:
        week_overview(problem, plan).to_excel(xw, sheet_name="週間一覧", index=False)
        day_summary(plan).to_excel(xw, sheet_name="曜日別の集計", index=False)
        for d in plan.days:
            part = table[table["曜日"] == d].drop(columns=["曜日"])
            part.to_excel(xw, sheet_name=f"{d}曜日", index=False)
        unassigned_table(problem, plan).to_excel(xw, sheet_name="未割当", index=False)
        pd.DataFrame({"注記": [title, *(notes if notes is not None else plan.notes)]}).to_excel(
            xw, sheet_name="注記", index=False)
        for ws in xw.book.worksheets:
            for col in ws.columns:
                width = max(len(str(c.value or "")) for c in col)
                ws.column_dimensions[col[0].column_letter].width = min(60, max(6, 2 * width))
    return path


_PRINT_CSS = """
@page { size: A4; margin: 12mm; }
body { font-family: "Hiragino Sans", "Noto Sans JP", "Yu Gothic", Meiryo, sans-serif; font-size: 11pt; color: #111; }
h1 { font-size: 16pt; margin: 0 0 4mm; }
h2 { font-size: 14pt; margin: 0 0 3mm; border-bottom: 2px solid #333; }
table { border-collapse: collapse; width: 100%; margin-bottom: 4mm; }
th, td { border: 1px solid #666; padding: 1.5mm 2mm; text-align: left; }
th { background: #eee; }
td.t { font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.sub td { background: #f6f6f6; color: #444; }
.notes { font-size: 9pt; color: #333; }
.sample { color: #b00; font-weight: bold; }
section.day { page-break-before: always; break-before: page; }
@media screen { section.day { border-top: 4px double #999; margin-top: 10mm; padding-top: 4mm; } }
"""


def timetable_html(problem: WeeklyProblem, plan: WeeklyPlan, *, title: str = "移動販売 週間時刻表",
                   notes: list[str] | None = None, sample: str | None = None) -> str:
    """Printable HTML (A4, print CSS): the week table on the first page, then one page per day."""
    e = html.escape
    notes = list(notes if notes is not None else plan.notes)
    table = timetable(problem, plan)
    parts = [f"<!DOCTYPE html><html lang='ja'><head><meta charset='utf-8'><title>{e(title)}</title>",
             f"<style>{_PRINT_CSS}</style></head><body>", f"<h1>{e(title)}</h1>"]
    if sample:
        parts.append(f"<p class='sample'>{e(sample)}</p>")
    ov = week_overview(problem, plan)
    parts.append("<table><thead><tr>" + "".join(f"<th>{e(str(c))}</th>" for c in ov.columns) + "</tr></thead><tbody>")
    for _, row in ov.iterrows():
        parts.append("<tr>" + "".join(f"<td class='t'>{e(str(v))}</td>" for v in row) + "</tr>")
    parts.append("</tbody></table>")
    ds = day_summary(plan)
    parts.append("<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in ds.columns) + "</tr></thead><tbody>")
    for _, row in ds.iterrows():
        parts.append("<tr>" + "".join(f"<td class='t'>{e(str(v))}</td>" for v in row) + "</tr>")
    parts.append("</tbody></table>")
    un = unassigned_table(problem, plan)
    if len(un):
        parts.append("<h2>入らなかった訪問</h2><table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in un.columns)
                     + "</tr></thead><tbody>")
        for _, row in un.iterrows():
            parts.append("<tr>" + "".join(f"<td>{e(str(v))}</td>" for v in row) + "</tr>")
        parts.append("</tbody></table>")
    if notes:
        parts.append("<div class='notes'><b>注記</b><ul>" + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul></div>")
    cols = ["車両", "順番", "停留所名", "到着", "出発", "見込み客数"]
    for d in plan.days:
        part = table[table["曜日"] == d]
        parts.append(f"<section class='day'><h2>{e(d)}曜日</h2>")
        if sample:
            parts.append(f"<p class='sample'>{e(sample)}</p>")
        if part.empty:
            parts.append("<p>運行なし</p></section>")
            continue
        parts.append("<table><thead><tr>" + "".join(f"<th>{e(c)}</th>" for c in cols) + "</tr></thead><tbody>")
        for _, row in part.iterrows():
            cls = "" if row["種別"] == "停留所" else " class='sub'"
            name = row["停留所名"] if row["種別"] == "停留所" else f"{row['種別']}（{row['停留所名']}）"
            vals = [row["車両"], "" if pd.isna(row["順番"]) else row["順番"], name, row["到着"], row["出発"],
                    "" if pd.isna(row["見込み客数"]) else row["見込み客数"]]
            parts.append(f"<tr{cls}>" + "".join(f"<td class='t'>{e(str(v))}</td>" for v in vals) + "</tr>")
        parts.append("</tbody></table></section>")
    parts.append("</body></html>")
    return "".join(parts)


def timetable_gpx(problem: WeeklyProblem, plan: WeeklyPlan, *, creator: str = "Tsunagu") -> str:
    """GPX 1.1: one route (<rte>) per day and vehicle, its points the depot and the stops in order, named."""
    ns = "http://www.topografix.com/GPX/1/1"
    ET.register_namespace("", ns)
    root = ET.Element(f"{{{ns}}}gpx", {"version": "1.1", "creator": creator})
    meta = ET.SubElement(root, f"{{{ns}}}metadata")
    ET.SubElement(meta, f"{{{ns}}}name").text = "移動販売 週間ルート"
    stops = {s.stop_id: s for s in problem.stops}
    vnames = {v.vehicle_id: v.name or v.vehicle_id for v in problem.vehicles}

    def point(parent, tag, lon, lat, name, desc=None):
        p = ET.SubElement(parent, f"{{{ns}}}{tag}", {"lat": f"{lat:.7f}", "lon": f"{lon:.7f}"})
        ET.SubElement(p, f"{{{ns}}}name").text = name
        if desc:
            ET.SubElement(p, f"{{{ns}}}desc").text = desc
        return p

    for day in plan.days:
        routes = [r for r in sorted(plan.day_plans[day].routes, key=lambda r: r.vehicle_id) if r.visits]
        for r in routes:
            rte = ET.SubElement(root, f"{{{ns}}}rte")
            label = f"{day}曜日" + (f" {vnames.get(r.vehicle_id, r.vehicle_id)}" if len(problem.vehicles) > 1 else "")
            ET.SubElement(rte, f"{{{ns}}}name").text = label
            a, b = _place(problem, r.start_place), _place(problem, r.end_place)
            point(rte, "rtept", a.lon, a.lat, f"出発 {a.name or '拠点'}", f"{format_hhmm(r.start_s)} 発")
            for n, v in enumerate(r.visits, start=1):
                s = stops[v.stop_id]
                point(rte, "rtept", s.location.lon, s.location.lat, f"{n}. {s.name}",
                      f"{format_hhmm(v.arrival_s)} 着 / {format_hhmm(v.departure_s)} 発")
            point(rte, "rtept", b.lon, b.lat, f"帰着 {b.name or '拠点'}", f"{format_hhmm(r.end_s)} 着")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode")


def write_all(problem: WeeklyProblem, plan: WeeklyPlan, out_dir: str | Path, *, stem: str = "timetable",
              title: str = "移動販売 週間時刻表", notes: list[str] | None = None, sample: str | None = None) -> dict[str, Path]:
    """Write HTML, CSV (UTF-8 BOM), Excel and GPX into ``out_dir``; return kind → path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {
        "html": out / f"{stem}.html", "csv": out / f"{stem}.csv", "xlsx": out / f"{stem}.xlsx", "gpx": out / f"{stem}.gpx",
    }
    all_notes = list(notes if notes is not None else plan.notes)
    if sample and sample not in all_notes:
        all_notes = [sample, *all_notes]
    paths["html"].write_text(timetable_html(problem, plan, title=title, notes=all_notes, sample=sample), encoding="utf-8")
    write_csv(timetable(problem, plan), paths["csv"])
    write_excel(problem, plan, paths["xlsx"], title=title, notes=all_notes)
    paths["gpx"].write_text(timetable_gpx(problem, plan), encoding="utf-8")
    return paths


__all__ = ["COLUMNS", "timetable", "week_overview", "unassigned_table", "day_summary", "write_csv", "write_excel",
           "timetable_html", "timetable_gpx", "write_all", "WEEKDAYS"]
