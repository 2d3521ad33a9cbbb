"""CSW outreach job (outreach): a station's CSW day planned as a job, the plan itself kept private.

Client households are 要配慮個人情報. The job reads them from the private client store
(:mod:`api.private`) as a station-bound viewer, plans the day with :func:`gis.outreach.plan_outreach`
and writes the plan — routes naming households, their points — to the private store
(``outreach_plans``, keyed by a plan id). The public job record gets only what identifies no one:
the station, the number of CSWs, how many visits were planned and how many could not be (small
counts suppressed like every public aggregate, :func:`public_counts`), the solver and the notes. No table, map, summary, note or error message of the public job names a
household: when planning fails on a household's data, the detail (by household label) is kept
privately and the public error says only that the private record has it.

The same plan document feeds the CLI's route sheets (``tsunagu routes outreach``) and the
service's private views (``GET /outreach/plans/{job_id}`` and its map and downloads):
:func:`plan_document`, :func:`route_sheet`, :func:`plan_sheet` and :func:`plan_map_html`.
"""

from __future__ import annotations

import datetime as dt
import html
import uuid
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd
from pydantic import Field, field_validator

from api.analyses.base import AnalysisParams, AnalysisResult, Progress, choose_engine, register
from api.store.base import Store
from gis.errors import InputDataError, TsunaguError
from gis.outreach import (
    MODE_LABELS,
    PRIORITY_LABELS,
    OutreachPlan,
    format_hhmm,
    format_windows,
    make_csws,
    parse_break,
    parse_span,
    plan_outreach,
    visits_from_table,
)

NAME = "outreach"
SAMPLE_NOTE = "サンプルデータ（実在の世帯ではありません）"
#: Where the private plan is (said in the public job's notes).
PRIVATE_NOTE = ("訪問ルート（訪問先・時刻・地図）は非公開です。拠点の CSW と管理者だけが"
                "「訪問ルート」（GET /outreach/plans/{ジョブID}）で見られます")
#: The public error of a job whose planning failed on the households' data.
PUBLIC_FAILURE = "訪問先のデータに問題があるため、訪問ルートを計画できませんでした"
PUBLIC_FAILURE_HINT = "詳細は非公開の記録にあります：拠点の CSW か管理者が GET /outreach/plans/{ジョブID} で確認してください"
PUBLIC_FAILURE_EN = "the outreach route could not be planned because of a problem in the households' data"
PUBLIC_FAILURE_HINT_EN = "the details are in the private record: a CSW of the station or an admin can read them at GET /outreach/plans/{job id}"
#: Columns of a CSW's route sheet (private).
SHEET_COLUMNS = ["順番", "到着", "開始", "終了", "訪問先", "氏名", "住所", "希望時間帯", "優先度", "移動（分）", "待ち（分）", "メモ"]
CSW_COLOURS = ("#1f5fa8", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b7950b")


class PrivatePlanError(TsunaguError):
    """Planning failed; the detail naming households is in the private store, this message names none."""

    def __init__(self, message: str = PUBLIC_FAILURE, *, hint: str | None = PUBLIC_FAILURE_HINT,
                 en: str | None = None, hint_en: str | None = None) -> None:
        if message == PUBLIC_FAILURE and en is None:
            en = PUBLIC_FAILURE_EN
        if hint == PUBLIC_FAILURE_HINT and hint_en is None:
            hint_en = PUBLIC_FAILURE_HINT_EN
        self.hint = hint
        english = en or message
        if hint_en or hint:
            english = f"{english} — {hint_en or hint}"
        super().__init__(f"{message} — {hint}" if hint else message, en=english)


class OutreachParams(AnalysisParams):
    """Parameters of outreach (no household appears here: the job reads them from the private store)."""

    station_id: str = Field(min_length=1, max_length=200, description="拠点ID（GET /stations）")
    csws: int = Field(2, ge=1, le=20, description="この日に訪問する CSW の人数")
    hours: str = Field("8:30-17:15", description="勤務時間（例 8:30-17:15）")
    break_time: str = Field("12:00-13:00/45", description="休憩（時間帯/分、例 12:00-13:00/45。なし = none）")
    mode: Literal["car", "walk"] = Field("car", description="移動手段（car 車・walk 徒歩）")
    speed_kmh: float | None = Field(None, gt=0, le=100, description="平均時速（既定: 車 30、徒歩 4）")
    circuity: float = Field(1.3, ge=1.0, le=5.0, description="道路網がないときの迂回係数")
    date: dt.date | None = Field(None, description="訪問日（既定: 今日）")
    time_limit_s: float = Field(5.0, gt=0, le=120, description="計算時間の上限（秒）")
    seed: int = Field(0, ge=0, description="乱数の種")
    sample_visits: int | None = Field(None, ge=1, le=200,
                                      description="デモ用：サンプルの訪問先を N 件作って登録してから計画する（サンプルデータ）")
    plan_id: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                                description="非公開の計画の ID（POST /outreach/plans が付けます）")
    requested_by: str | None = Field(None, max_length=200, description="依頼した利用者（アクセス記録用）")
    csw_skills: dict[str, list[str]] = Field(
        default_factory=dict,
        description="CSW ごとの資格（例 {\"csw-2\": [\"看護師\"]}）。訪問先の「資格」が必要な訪問はその資格のある CSW が担当")

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        a, b = parse_span(value)
        if b <= a:
            msg = f"勤務時間 {value} は終了が開始より前です（例 8:30-17:15）"
            raise ValueError(msg)
        return value

    @field_validator("break_time")
    @classmethod
    def _break(cls, value: str) -> str:
        parse_break(value)
        return value


def with_skills(csws: list, skills: dict[str, list[str]] | None) -> list:
    """The CSWs with their qualifications (CSW id → words); an unknown CSW id is an error naming the known ones."""
    from dataclasses import replace

    by_id = {c.csw_id: c for c in csws}
    for who, words in (skills or {}).items():
        if who not in by_id:
            msg = f"資格を付ける CSW「{who}」がいません（この日の CSW: {'、'.join(by_id)}）"
            raise InputDataError(msg, feature="csw_skills", hint="CSW の ID は csw-1, csw-2 … です",
                                 en=f"no CSW {who!r} to give skills to (this day's CSWs: {', '.join(by_id)})",
                                 hint_en="CSW ids are csw-1, csw-2, ...")
        by_id[who] = replace(by_id[who], skills=frozenset(by_id[who].skills) | {str(w).strip() for w in words if str(w).strip()})
    return [by_id[c.csw_id] for c in csws]


# --------------------------------------------------------------------------- sample visits


def sample_households(store: Store, station_id: str, n: int, *, seed: int = 0, cell_size_m: float = 200.0) -> pd.DataFrame:
    """A SAMPLE visit list for the demo: ``n`` made-up households in the station's catchment.

    Households sit at demand points (census population on a mesh) of the station's areas,
    drawn with probability proportional to their 65+ population and moved a few tens of metres;
    they are named 「サンプル世帯 01」…, addressed 「（サンプルデータ）<町丁・字>付近」, labelled
    ``S-01``… (ids ``<station>:S-01``…), flagged ``is_sample`` and noted as sample data. About 60 % have an appointment
    window (60–90 minutes between 9:00 and 16:00); visits last 30–60 minutes; priorities
    高:中:低 ≈ 1:2:1. Deterministic given ``seed``.

    Returns
    -------
    DataFrame
        :data:`api.private.HOUSEHOLD_COLUMNS`.
    """
    from api.analyses.base import workspace_demand
    from api.private import HOUSEHOLD_COLUMNS
    from gis.catchments import assign_catchments

    if n is None or int(n) < 1:
        msg = "サンプルの訪問先の件数には1以上を指定してください"
        raise InputDataError(msg,
                             en="give at least 1 as the number of sample households")
    ws = store.workspace()
    stations = store.stations()
    assigned = assign_catchments(store.areas(), stations, profile=ws["profile"], by="given")
    mine = assigned[assigned["station_id"] == station_id]
    points, _notes = workspace_demand(store, cell_size_m=cell_size_m)
    points = points.to_crs("EPSG:4326")
    if len(mine):
        points = points[points["area_id"].astype(str).isin(mine["area_id"].astype(str))]
        area_names = dict(zip(mine["area_id"].astype(str), mine["name"]))
    else:  # a station without a catchment: the demand points nearest to it
        st = stations[stations["station_id"] == station_id].to_crs("EPSG:4326").geometry.iloc[0]
        d = points.geometry.distance(st)
        points = points.loc[d.nsmallest(max(50, 5 * int(n))).index]
        area_names = {}
    weights = points["elderly"].astype(float).fillna(0).to_numpy()
    if len(points) == 0 or weights.sum() <= 0:
        msg = f"拠点 {station_id} の担当圏域に人口のある地点がないため、サンプルの訪問先を作れません"
        raise InputDataError(msg, hint="担当圏域（area_ids）のある拠点を指定してください",
                             en=f"the area of station {station_id} has no populated points, so no sample households can be made",
                             hint_en="give a station with served areas (area_ids)")
    rng = np.random.default_rng(seed)
    k = min(int(n), int((weights > 0).sum()))
    pick = rng.choice(len(points), size=k, replace=False, p=weights / weights.sum())
    rows = []
    for j, p in enumerate(pick, start=1):
        pt = points.iloc[int(p)]
        lat = pt.geometry.y + rng.uniform(-0.0003, 0.0003)
        lon = pt.geometry.x + rng.uniform(-0.0004, 0.0004)
        windows = []
        if rng.random() < 0.6:
            start = 9 * 3600 + int(rng.integers(0, 13)) * 1800  # 9:00 … 15:00
            windows = [[start, start + int(rng.choice([3600, 5400]))]]
        rows.append({
            "household_id": f"{station_id}:S-{j:02d}",
            "station_id": station_id,
            "label": f"S-{j:02d}",
            "name": f"サンプル世帯 {j:02d}",
            "address": f"（サンプルデータ）{area_names.get(str(pt['area_id']), '')}付近",
            "lon": float(lon),
            "lat": float(lat),
            "notes": SAMPLE_NOTE,
            "visit_min": int(rng.choice([30, 45, 60])),
            "windows": windows,
            "priority": int(rng.choice([1, 2, 2, 3])),
            "is_sample": True,
            "skills": [],
        })
    return pd.DataFrame(rows, columns=HOUSEHOLD_COLUMNS)


# --------------------------------------------------------------------------- the plan document


def plan_document(plan: OutreachPlan, households: pd.DataFrame, *, sample: bool = False) -> dict:
    """The plan as JSON-ready data for the private store: routes by household id and label, with the points planned.

    Names, addresses and notes are not copied: views join them from the current household
    table, so a deleted household leaves nothing behind once its rows are scrubbed
    (:func:`api.private.scrub_plan_document`).
    """
    by_label = {str(r["label"]): r for r in households.to_dict("records")}
    st = plan.checks[0][0].depot if plan.checks else None

    def visit(v) -> dict:
        h = by_label.get(str(v.visit_id), {})
        return {"order": v.order, "household_id": str(h.get("household_id", v.visit_id)), "label": str(v.visit_id),
                "lon": float(h["lon"]) if "lon" in h else None, "lat": float(h["lat"]) if "lat" in h else None,
                "arrival_s": int(v.arrival_s), "start_s": int(v.start_s), "end_s": int(v.end_s),
                "travel_s": int(v.travel_s), "wait_s": int(v.wait_s), "priority": int(v.priority),
                "windows": [list(w) for w in v.windows]}

    return {
        "version": 1,
        "station_id": plan.station_id,
        "station_name": plan.station_name,
        "station_lon": float(st.lon) if st is not None else None,
        "station_lat": float(st.lat) if st is not None else None,
        "date": plan.date.isoformat() if plan.date else None,
        "solver": plan.solver,
        "runtime_s": plan.runtime_s,
        "seed": plan.seed,
        "sample": bool(sample),
        "notes": list(plan.notes),
        "csws": [{"csw_id": r.csw.csw_id, "name": r.csw.name, "mode": r.csw.mode,
                  "leave_s": r.leave_s, "return_s": r.return_s, "breaks": [list(b) for b in r.breaks],
                  "travel_s": int(r.travel_s), "distance_m": int(r.distance_m),
                  "start_name": r.start_name, "end_name": r.end_name,
                  "visits": [visit(v) for v in r.visits]} for r in plan.routes],
        "unfitted": [{"household_id": str(by_label.get(str(label), {}).get("household_id", label)), "label": str(label),
                      "reason": why} for label, why in plan.unfitted],
        "removed": 0,
    }


def document_household_ids(doc: dict) -> list[str]:
    """Every household id a plan document names (visits and unfitted)."""
    ids = [v["household_id"] for c in doc.get("csws", []) for v in c.get("visits", [])]
    ids += [u["household_id"] for u in doc.get("unfitted", [])]
    return sorted(set(map(str, ids)))


def _info(households: pd.DataFrame) -> dict[str, dict]:
    return {str(r["household_id"]): r for r in households.to_dict("records")} if len(households) else {}


def _text(value) -> str:
    return "" if value is None or (isinstance(value, float) and np.isnan(value)) else str(value)


def route_sheet(doc: dict, csw: dict, households: pd.DataFrame) -> pd.DataFrame:
    """One CSW's day as a route sheet (:data:`SHEET_COLUMNS`): leave, visits with names and addresses, break, return."""
    info = _info(households)
    events = []
    if csw.get("leave_s") is not None:
        events.append((csw["leave_s"], 0, "出発", None))
    events += [(v["start_s"], 1, "訪問", v) for v in csw.get("visits", [])]
    events += [(b[0], 2, "休憩", b) for b in csw.get("breaks", [])]
    if csw.get("return_s") is not None:
        events.append((csw["return_s"], 3, "帰着", None))
    blank = dict.fromkeys(SHEET_COLUMNS, "")
    rows = []
    for t, _k, kind, obj in sorted(events, key=lambda e: (e[0], e[1])):
        if kind == "訪問":
            h = info.get(str(obj["household_id"]), {})
            rows.append({"順番": obj["order"], "到着": format_hhmm(obj["arrival_s"]), "開始": format_hhmm(obj["start_s"]),
                         "終了": format_hhmm(obj["end_s"]), "訪問先": obj["label"], "氏名": _text(h.get("name")),
                         "住所": _text(h.get("address")), "希望時間帯": format_windows(obj["windows"]),
                         "優先度": PRIORITY_LABELS.get(obj["priority"], ""), "移動（分）": round(obj["travel_s"] / 60),
                         "待ち（分）": round(obj["wait_s"] / 60), "メモ": _text(h.get("notes"))})
        elif kind == "休憩":
            rows.append({**blank, "開始": format_hhmm(obj[0]), "終了": format_hhmm(obj[1]), "訪問先": "休憩"})
        else:  # leave / return: the station, or the CSW's own place (home, another centre; never its address)
            own = csw.get("start_name" if kind == "出発" else "end_name", "拠点")
            where = doc.get("station_name", "") if own in (None, "拠点") else own
            rows.append({**blank, "開始": format_hhmm(t), "訪問先": f"{kind}（{where}）"})
    return pd.DataFrame(rows, columns=SHEET_COLUMNS)


def plan_sheet(doc: dict, households: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Every CSW's route sheet in one table (CSW column first) and the unfitted visits with reasons."""
    parts = []
    for c in doc.get("csws", []):
        sheet = route_sheet(doc, c, households)
        sheet.insert(0, "移動手段", MODE_LABELS.get(c.get("mode"), c.get("mode")))
        sheet.insert(0, "CSW", c.get("name", c.get("csw_id")))
        parts.append(sheet)
    routes = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["CSW", "移動手段", *SHEET_COLUMNS])
    info = _info(households)
    unfitted = pd.DataFrame([{"訪問先": u["label"], "氏名": _text(info.get(str(u["household_id"]), {}).get("name")),
                              "理由": u["reason"]} for u in doc.get("unfitted", [])], columns=["訪問先", "氏名", "理由"])
    return {"訪問ルート": routes, "訪問できなかった世帯": unfitted}


def plan_marks(doc: dict) -> list[str]:
    """The markings every private output of the plan carries."""
    from api.private import SENSITIVE_MARK

    return [SENSITIVE_MARK] + ([SAMPLE_NOTE] if doc.get("sample") else [])


def plan_map_html(doc: dict, households: pd.DataFrame, *, csw_ids: list[str] | None = None,
                  marks: list[str] | None = None) -> str:
    """The CSWs' route map (private): numbered visits joined in order from the station, a layer per CSW.

    Legs are drawn as straight lines between stops (the order, not the road taken).
    """
    import folium

    from layers.basemap import tier_base_map
    from layers.maps import render_html
    from layers.style import HtmlBox

    marks = plan_marks(doc) if marks is None else marks
    info = _info(households)
    csws = [c for c in doc.get("csws", []) if csw_ids is None or c.get("csw_id") in csw_ids]
    home = ([(doc["station_lat"], doc["station_lon"])] if doc.get("station_lat") is not None else [])
    pts_all = [(v["lat"], v["lon"]) for c in csws for v in c.get("visits", []) if v.get("lat") is not None]
    lats = [p[0] for p in pts_all + home] or [35.0]
    lons = [p[1] for p in pts_all + home] or [135.0]
    m = tier_base_map(bounds=(min(lons) - 0.002, min(lats) - 0.002, max(lons) + 0.002, max(lats) + 0.002))
    for n, c in enumerate(csws):
        visits = [v for v in c.get("visits", []) if v.get("lat") is not None]
        if not visits:
            continue
        colour = CSW_COLOURS[n % len(CSW_COLOURS)]
        layer = folium.FeatureGroup(name=html.escape(f"{c.get('name')}（{len(visits)} 件）"))
        pts = [(v["lat"], v["lon"]) for v in visits]
        folium.PolyLine(home + pts + home, color=colour, weight=3, opacity=0.8).add_to(layer)
        for v, (lat, lon) in zip(visits, pts):
            name = _text(info.get(str(v["household_id"]), {}).get("name"))
            tip = f"{c.get('name')} {v['order']}. {v['label']} {name} {format_hhmm(v['start_s'])}-{format_hhmm(v['end_s'])}"
            folium.Marker((lat, lon), tooltip=html.escape(tip), icon=folium.DivIcon(
                html=f'<div style="background:{colour};color:#fff;border-radius:50%;width:22px;height:22px;'
                     f'text-align:center;line-height:22px;font-weight:bold">{v["order"]}</div>',
                icon_size=(22, 22), icon_anchor=(11, 11))).add_to(layer)
        layer.add_to(m)
    if home:
        folium.CircleMarker(home[0], radius=9, color="#000", fill=True, fill_color="#ffd400", fill_opacity=1,
                            tooltip=html.escape(f"拠点: {doc.get('station_name', '')}")).add_to(m)
    if len(csws) > 1:
        folium.LayerControl(collapsed=False).add_to(m)
    names = "・".join(str(c.get("name")) for c in csws)
    title = f"訪問ルート {names} {doc.get('date') or ''}"
    m.add_child(HtmlBox(html.escape(title) + "<br><b style='color:#c00'>" + " ／ ".join(html.escape(x) for x in marks)
                        + "</b>", css_class="tsunagu-title"), name="tsunagu_title")
    note = "線は訪問の順番を結んだもので、実際の道順ではありません。" + " ".join(doc.get("notes", []))
    m.add_child(HtmlBox(html.escape(note), css_class="tsunagu-note"), name="tsunagu_note")
    return render_html(m)


# --------------------------------------------------------------------------- the job


#: How a suppressed count shows in the public table.
SUPPRESSED = "秘匿"


def public_counts(visits: int, planned: int, unfitted: int, *, k: int) -> dict:
    """The plan's counts as the public job shows them: small cells suppressed like every public aggregate.

    A station's number of client households is an aggregate everyone may see, so counts from 1
    to k-1 are hidden (None), and a second one when the first could be worked out from
    visits = planned + unfitted (:func:`gis.disclosure.suppress_small_cells`).
    """
    from gis.disclosure import suppress_small_cells

    s = suppress_small_cells({"visits": int(visits), "visits_planned": int(planned), "visits_unfitted": int(unfitted)},
                             k=k, constraints=[("visits", ["visits_planned", "visits_unfitted"])])
    return {**s.values, "suppressed": sorted(s.hidden), "small_cell_k": s.k}


def _public_table(summary: dict) -> pd.DataFrame:
    def count(key: str) -> str:
        return SUPPRESSED if summary[key] is None else str(summary[key])

    rows = [("拠点", f"{summary['station_name']}（{summary['station_id']}）"), ("訪問日", summary["date"] or ""),
            ("CSW の人数", summary["csws"]), ("訪問先", count("visits")),
            ("計画できた訪問", count("visits_planned")), ("計画できなかった訪問", count("visits_unfitted")),
            ("非公開の計画", "拠点の CSW と管理者だけが閲覧できます")]
    return pd.DataFrame({"項目": [r[0] for r in rows], "値": [str(r[1]) for r in rows]})


@register(NAME, params=OutreachParams)
def run_outreach(store: Store, params: OutreachParams, *, progress: Progress, data_dir=None) -> AnalysisResult:
    """Plan a station's CSW day from its private households; the plan goes to the private store only.

    The public result holds the station, the number of CSWs, counts (small ones suppressed,
    :func:`public_counts`, with ``small_cell_k`` from the settings) and notes; the plan id in its
    summary leads to the private plan (``GET /outreach/plans/{job_id}``).
    """
    from api.private import Viewer, client_store_for
    from api.settings import Settings

    plan_id = params.plan_id or uuid.uuid4().hex
    station_id = str(params.station_id)
    viewer = Viewer(user=params.requested_by or "outreach-job", role="job", station_id=station_id)
    ws = store.workspace()
    stations = store.stations()
    match = stations[stations["station_id"].astype(str) == station_id]
    if match.empty:
        known = "、".join(stations["station_id"].astype(str).tolist()) or "（なし）"
        msg = f"拠点 {station_id} がワークスペースにありません（登録済み: {known}）"
        raise InputDataError(msg, hint="拠点一覧（GET /stations）の拠点IDを指定してください",
                             en=f"no station {station_id} in the workspace (registered: {known})",
                             hint_en="give a station id from the station list (GET /stations)")
    station = match.to_crs("EPSG:4326").iloc[0]
    brk_window, brk_s = parse_break(params.break_time)
    csws = make_csws(params.csws, hours=parse_span(params.hours), break_window=brk_window, break_s=brk_s, mode=params.mode)
    csws = with_skills(csws, params.csw_skills)
    day = params.date or dt.date.today()
    progress(0.05, "訪問先を非公開の記録から読み込み中")
    with client_store_for(store) as clients:
        if params.sample_visits:
            progress(0.1, "サンプルの訪問先を作成中（サンプルデータ）")
            table = sample_households(store, station_id, params.sample_visits, seed=params.seed)
            clients.import_households(viewer, table, station_id=station_id)
        households = clients.households(viewer, station_id=station_id)
        if households.empty:
            msg = f"拠点 {station_id} の訪問先が登録されていません"
            raise InputDataError(msg, hint="訪問先を登録してください（POST /clients または POST /clients/import）",
                                 en=f"station {station_id} has no households registered",
                                 hint_en="register households (POST /clients or POST /clients/import)")
        sample = bool(households["is_sample"].any())
        progress(0.2, "移動時間を準備中")
        engine, _ = choose_engine(ws["city_code"], data_dir=Path(data_dir) if data_dir else None,
                                  mode="walk" if params.mode == "walk" else "drive")
        progress(0.3, f"{params.csws} 人の CSW の訪問ルートを計画中")
        try:
            plan = plan_outreach(station, visits_from_table(households), csws, engine=engine, date=day,
                                 speed_kmh={params.mode: params.speed_kmh} if params.speed_kmh else None,
                                 circuity=params.circuity, time_limit_s=params.time_limit_s, seed=params.seed)
        except Exception as exc:  # noqa: BLE001 - the detail may name households: it stays private
            detail = str(exc) if isinstance(exc, TsunaguError) else f"内部エラー（{type(exc).__name__}）: {exc}"
            clients.save_outreach_plan(viewer, plan_id=plan_id, station_id=station_id, document=None,
                                       household_ids=households["household_id"], error=detail,
                                       created_by=params.requested_by)
            raise PrivatePlanError() from None
        progress(0.85, "計画を非公開の記録に保存中")
        doc = plan_document(plan, households, sample=sample)
        clients.save_outreach_plan(viewer, plan_id=plan_id, station_id=station_id, document=doc,
                                   household_ids=document_household_ids(doc), created_by=params.requested_by)
    summary = {
        "plan_id": plan_id,
        "station_id": station_id,
        "station_name": str(station.get("name", station_id)),
        "date": day.isoformat(),
        "csws": len(csws),
        **public_counts(len(households), plan.n_visits, len(plan.unfitted), k=Settings().small_cell_k),
        "sample": sample,
        "solver": plan.solver,
        "runtime_s": plan.runtime_s,
    }
    notes = [*plan.notes, PRIVATE_NOTE] + ([SAMPLE_NOTE] if sample else [])
    if summary["suppressed"]:
        notes.append(f"{summary['small_cell_k']}件未満の件数（と、そこから逆算できる件数）は「{SUPPRESSED}」と表示しています")
    progress(1.0, "完了")
    return AnalysisResult(tables={"訪問計画の概要": _public_table(summary)}, map_html=None, summary=summary, notes=notes)


__all__ = ["NAME", "OutreachParams", "PrivatePlanError", "document_household_ids", "plan_document", "plan_map_html",
           "plan_marks", "plan_sheet", "route_sheet", "run_outreach", "sample_households"]
