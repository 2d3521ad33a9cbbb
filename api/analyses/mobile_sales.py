"""Mobile-sales job (mobile-sales): stops from the shopping refugees, the weekly plan, its timetable tables and map.

The planning itself (:func:`plan_mobile_sales`) is shared with ``tsunagu routes mobile-sales``
(:mod:`api.cli_mobile_sales`), which writes the same plan as files (HTML/CSV/Excel/GPX); the job
stores it as tables and a map. Stops come from census demand and food shops only: no client
data is read.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import Field, field_validator

from api.analyses.base import (
    AnalysisParams,
    AnalysisResult,
    CellSize,
    Progress,
    choose_engine,
    register,
    workspace_demand,
)
from api.store.base import Store
from gis.errors import InputDataError
from gis.schema import RESOURCE_KINDS

NAME = "mobile-sales"
#: Travel speed of the truck when no road network gives better (km/h, rural roads incl. stops at junctions).
DEFAULT_SPEED_KMH = 30.0
DEFAULT_CIRCUITY = 1.3
SAMPLE_DEPOT_NOTE = "拠点の店は例示（サンプル）です：実際の連携先の店ではありません"
#: The steps of a plan, as progress messages (the CLI prints them as [n/6]).
STEPS = ("買い物弱者を計算中（人口メッシュ・食料品店）…", "停留所を提案中（集合被覆・HiGHS）…", "拠点と移動時間を準備中…",
         "週間ルートを計画中…", "時刻表・停留所一覧を作成中…", "地図を作成中…")


# --------------------------------------------------------------------------- reading options


def parse_lonlat(text: str, what: str, *, what_en: str = "the depot") -> tuple[float, float]:
    """``"133.62,34.79"`` → (lon, lat), checked to lie in Japan."""
    try:
        lon, lat = (float(v) for v in str(text).replace("，", ",").split(","))
    except ValueError as exc:
        raise InputDataError(f"{what}「{text}」が読めません", hint="経度,緯度 の順に指定してください（例 133.62,34.79）",
                             en=f"cannot read {what_en} {text!r}",
                             hint_en="give longitude,latitude (e.g. 133.62,34.79)") from exc
    from gis.crs import in_japan

    if not in_japan(lon, lat):
        raise InputDataError(f"{what}（経度 {lon}, 緯度 {lat}）が日本の範囲外です", hint="経度,緯度 の順か確認してください",
                             en=f"{what_en} (lon {lon}, lat {lat}) is outside Japan",
                             hint_en="check the order is longitude,latitude")
    return lon, lat


def parse_hours(text: str) -> tuple[int, int]:
    """``"9:00-16:00"`` → (start_s, end_s)."""
    from gis.weekly import parse_hhmm

    m = re.fullmatch(r"\s*([0-9:：]+)\s*[-–〜~]\s*([0-9:：]+)\s*", str(text))
    if not m:
        raise InputDataError(f"勤務時間「{text}」が読めません", hint="9:00-16:00 のように指定してください",
                             en=f"cannot read the working hours {text!r}",
                             hint_en="give them like 9:00-16:00")
    return parse_hhmm(m.group(1)), parse_hhmm(m.group(2))


def parse_lunch(text: str | None):
    """``"12:00-13:00/45"`` → a :class:`gis.routing.Break`; 「なし」/none/empty → None."""
    from gis.routing import Break

    if not text or str(text).strip() in ("", "なし", "none"):
        return None
    window, _, minutes = str(text).partition("/")
    a, b = parse_hours(window)
    try:
        dur = int(minutes) * 60 if minutes else b - a
    except ValueError as exc:
        raise InputDataError(f"昼休憩「{text}」の分数が読めません", hint="12:00-13:00/45 のように指定してください",
                             en=f"cannot read the minutes of the lunch break {text!r}",
                             hint_en="give it like 12:00-13:00/45") from exc
    return Break((a, b), dur)


def parse_day_list(days: str) -> tuple[str, ...]:
    """``"月,火,水"`` (also 、・ or spaces) → checked weekdays."""
    from gis.weekly import _check_days

    return _check_days([d for d in re.split(r"[,、・\s]+", str(days)) if d])


def default_depot(resources) -> tuple[dict, str]:
    """The largest food shop as the demo depot: 百貨店・総合スーパー before スーパー, then most licensed trades."""
    shops = resources[resources["kind"].isin(["department_store", "supermarket"])]
    if shops.empty:
        raise InputDataError("拠点にできるスーパー・総合スーパーがワークスペースにありません",
                             hint="拠点を 経度,緯度（--depot / depot）か地域資源の ID（--depot-resource / depot_resource）で指定してください",
                             en="the workspace has no supermarket or general merchandise store to start from",
                             hint_en="give the depot as longitude,latitude (--depot / depot) or a resource id (--depot-resource / depot_resource)")

    def size(row):
        attrs = row["attributes"] if isinstance(row["attributes"], dict) else {}
        return (0 if row["kind"] == "department_store" else 1, -len(attrs.get("business_types") or []), str(row["resource_id"]))

    best = min((row for _, row in shops.iterrows()), key=size)
    why = (RESOURCE_KINDS[best["kind"]] if best["kind"] == "department_store" else "スーパー") + \
        "のうち営業許可の業種数が最も多い店（規模の目安）"
    return best, why


def stop_wishes(existing) -> dict:
    """stop id → (allowed days, time windows, visits per week) from the optional columns of a stops file.

    Columns (gis.mobile_sales.WISH_COLUMNS): 運行曜日 (e.g. 火,金), 時間帯 (start of service, e.g.
    9:00-12:00, several separated by commas), 週回数 (1 or 2).
    """
    from gis.shopping import parse_days
    from gis.weekly import parse_hhmm

    if existing is None or not len(existing):
        return {}
    out = {}
    for r in existing.to_dict("records"):
        sid = str(r["stop_id"])
        days = r.get("運行曜日")
        parsed = parse_days(days) if isinstance(days, str) and days.strip() else None
        allowed = tuple(sorted(parsed)) if parsed else None
        if isinstance(days, str) and days.strip() and not parsed:
            raise InputDataError(f"停留所 {sid} の運行曜日 {days!r} を読めません", hint="例: 火,金 / 毎週水曜",
                                 en=f"cannot read the service days {days!r} of stop {sid}",
                                 hint_en="e.g. 火,金 / 毎週水曜 (Tuesday, Friday / every Wednesday)")
        windows = []
        span = r.get("時間帯")
        if isinstance(span, str) and span.strip():
            for part in span.replace("、", ",").split(","):
                try:
                    a, b = (parse_hhmm(x.strip()) for x in part.replace("〜", "-").replace("～", "-").split("-"))
                except (ValueError, InputDataError) as exc:
                    raise InputDataError(f"停留所 {sid} の時間帯 {part!r} を読めません", hint="例: 9:00-12:00",
                                         en=f"cannot read the time window {part!r} of stop {sid}",
                                         hint_en="e.g. 9:00-12:00") from exc
                windows.append((a, b))
        per_week = r.get("週回数")
        per_week = None if per_week is None or pd.isna(per_week) else int(per_week)
        out[sid] = (allowed, windows, per_week)
    return out


# --------------------------------------------------------------------------- planning


@dataclass
class MobileSalesPlan:
    """A planned week of mobile sales: the problem, the plan, the stops and what every output repeats."""

    problem: Any  # gis.weekly.WeeklyProblem
    plan: Any  # gis.weekly.WeeklyPlan
    stops: Any  # GeoDataFrame of gis.mobile_sales.propose_stops
    notes: list[str]
    depot: str
    depot_sample: bool
    city: str
    walk_engine: Any
    walk_m: float
    extra: dict = field(default_factory=dict)
    #: How the driving times were obtained (``gis.travel_times.SOURCE_*``).
    travel_time_source: str = "average_speed"

    def as_dict(self) -> dict:
        """The figures the CLI returns (``run_mobile_sales``)."""
        return {"problem": self.problem, "plan": self.plan, "stops": self.stops, "notes": self.notes,
                "depot": self.depot, "depot_sample": self.depot_sample, "city": self.city, "walk_engine": self.walk_engine,
                "travel_time_source": self.travel_time_source}


def plan_mobile_sales(
    store: Store,
    *,
    data_dir: Path | None = None,
    depot: str | None = None,
    depot_resource: str | None = None,
    vehicles: int = 1,
    capacity: int | None = None,
    hours: str = "9:00-16:00",
    lunch: str | None = "12:00-13:00/45",
    days: str = "月,火,水,木,金",
    walk_m: float = 300.0,
    min_customers: float | None = None,
    adoption: float | None = None,
    twice_weekly_min_customers: float = 15.0,
    service_fixed_s: int = 600,
    service_per_customer_s: int = 180,
    speed_kmh: float = DEFAULT_SPEED_KMH,
    time_limit_s: float = 30.0,
    seed: int = 0,
    existing=None,
    no_new_stops: bool = False,
    cell_size_m: float = 100.0,
    travel_matrix_file: Path | None = None,
    previous_timetable=None,
    free_stops=(),
    progress: Callable[[float, str], None] | None = None,
) -> MobileSalesPlan:
    """Stops from the shopping refugees (set covering, HiGHS), then the weekly routes over them.

    Parameters
    ----------
    store
        The workspace (census areas, food shops).
    depot, depot_resource
        The partner shop the truck leaves from: ``"lon,lat"`` or a resource id; default the
        largest food shop of the workspace (a sample choice, said in the notes).
    existing
        Stops edited by the planner (:func:`gis.mobile_sales.read_stops_table`): kept, with new
        ones only where they no longer cover (none with ``no_new_stops``).
    travel_matrix_file
        Driving times computed elsewhere: CSV/Excel with the depot (「拠点」) and the stop ids
        as row and column names, or an OSRM table JSON (depot first, then the stops in order);
        see :func:`gis.travel_times.read_travel_matrix`. Default: the road graph's speeds when
        a road file is in the data folder, else the average speed.
    previous_timetable
        Last week's timetable (a DataFrame read from its timetable.csv): every stop in it keeps
        its weekday, vehicle and time (:func:`gis.weekly.keep_slots`) except ``free_stops``.
    free_stops
        Stop ids the planner frees from last week's slots.
    progress
        ``progress(fraction, message)`` at each of the six :data:`STEPS`.

    Returns
    -------
    MobileSalesPlan
    """
    from gis.mobile_sales import DEFAULT_ADOPTION, DEFAULT_MIN_CUSTOMERS, propose_stops
    from gis.routing import Location, Vehicle, travel_matrix
    from gis.shopping import food_shops, require_shops, shopping_access
    from gis.weekly import WeeklyProblem, WeeklyStop, keep_slots, plan_week

    say = progress or (lambda fraction, message: None)
    if vehicles is None or vehicles < 1:
        raise InputDataError(f"車両の台数は1以上です: {vehicles}", hint="車両の台数（--vehicles / vehicles）に 1 以上を指定してください",
                             en=f"the number of vehicles must be at least 1: {vehicles}",
                             hint_en="give at least 1 vehicle (--vehicles / vehicles)")
    if capacity is not None and capacity <= 0:
        raise InputDataError(f"積載量は正の数です: {capacity}",
                             en=f"the capacity must be a positive number: {capacity}")
    day_list = parse_day_list(days)
    shift = parse_hours(hours)
    brk = parse_lunch(lunch)
    depot_xy = parse_lonlat(depot, "拠点") if depot else None
    ws = store.workspace()
    code = ws["city_code"]
    notes: list[str] = []
    say(0.02, STEPS[0])
    demand, age_notes = workspace_demand(store, cell_size_m=cell_size_m)
    resources = store.resources()
    shops = food_shops(resources)
    require_shops(shops, city_name=ws["city_name"])
    walk_engine, engine_notes = choose_engine(code, data_dir=data_dir, mode="walk")
    access = shopping_access(demand, shops, engine=walk_engine)
    notes += engine_notes + age_notes
    areas = store.areas(level=ws["profile"].base.key)

    say(0.2, STEPS[1])
    mc = DEFAULT_MIN_CUSTOMERS if min_customers is None else float(min_customers)
    ad = DEFAULT_ADOPTION if adoption is None else float(adoption)
    if existing is not None and no_new_stops:
        stops = propose_stops(access, engine=walk_engine, walk_m=walk_m, min_customers=mc,
                              adoption=ad, areas=areas, existing=existing, candidates=existing.iloc[:0])
    else:
        stops = propose_stops(access, engine=walk_engine, walk_m=walk_m, min_customers=mc, adoption=ad, areas=areas,
                              existing=existing)
    notes += stops.attrs["notes"]
    if stops.empty:
        raise InputDataError("停留所がひとつもありません（買い物弱者が少ないか、見込み客数の下限が高すぎます）",
                             hint="見込み客数の下限（--min-customers / min_customers）を下げてください",
                             en="no stops at all (few shopping refugees, or the minimum of expected customers is too high)",
                             hint_en="lower the minimum of expected customers (--min-customers / min_customers)")

    say(0.35, STEPS[2])
    depot_sample = False
    if depot:
        lon, lat = depot_xy
        depot_loc = Location(lon, lat, "拠点")
        depot_desc = f"指定の拠点（{lon:.5f}, {lat:.5f}）"
    elif depot_resource:
        hit = resources[resources["resource_id"].astype(str) == str(depot_resource)]
        if hit.empty:
            raise InputDataError(f"地域資源 {depot_resource} がワークスペースにありません", feature=str(depot_resource),
                                 en=f"no resource {depot_resource} in the workspace")
        row = hit.iloc[0]
        depot_loc = Location(float(row.geometry.x), float(row.geometry.y), str(row["name"]))
        depot_desc = f"{row['name']}（{row['resource_id']}）"
        depot_sample = bool(row.get("is_sample", False))
    else:
        row, why = default_depot(resources)
        depot_loc = Location(float(row.geometry.x), float(row.geometry.y), str(row["name"]))
        depot_desc = f"{row['name']}（{row['resource_id']}、{why}）"
        depot_sample = True
        notes.append(f"{SAMPLE_DEPOT_NOTE}。{depot_desc}を仮に使っています")
    drive_engine, _drive_notes = choose_engine(code, data_dir=data_dir, mode="drive")
    wishes = stop_wishes(existing)
    wstops = []
    for r in stops.itertuples():
        cust = float(r.expected_customers)
        allowed, windows, per_week = wishes.get(str(r.stop_id), (None, [], None))
        wstops.append(WeeklyStop(stop_id=str(r.stop_id), name=str(r.name), location=Location(r.geometry.x, r.geometry.y, str(r.name)),
                                 expected_customers=cust,
                                 visits_per_week=per_week or (2 if cust >= twice_weekly_min_customers else 1),
                                 allowed_days=allowed, time_windows=windows))
    times = travel_matrix(drive_engine, [depot_loc] + [s.location for s in wstops], speed_kmh=speed_kmh,
                          circuity=DEFAULT_CIRCUITY, matrix=_stop_matrix(travel_matrix_file, depot_loc, wstops))
    D, X, tnote = times.durations_s, times.distances_m, times.note
    fleet = [Vehicle(vehicle_id=f"v{k + 1}", name=f"{k + 1}号車", shift=shift, capacity=capacity,
                     breaks=[brk] if brk else []) for k in range(vehicles)]
    problem = WeeklyProblem(depot=depot_loc, stops=wstops, vehicles=fleet, durations_s=D, distances_m=X, days=day_list,
                            service_fixed_s=service_fixed_s, service_per_customer_s=service_per_customer_s, note=tnote)
    if previous_timetable is not None:
        problem = keep_slots(problem, previous_timetable, free=free_stops)
        n_kept = sum(1 for s in problem.stops if s.slots)
        notes.append(f"前週の時刻表から {n_kept} か所の停留所の曜日・車両・時刻（±5分）を引き継ぎました"
                     + (f"（固定を外した停留所: {'、'.join(sorted(free_stops))}）" if free_stops else ""))

    say(0.45, f"{STEPS[3]}（上限 {time_limit_s:g} 秒）")
    plan = plan_week(problem, time_limit_s=time_limit_s, seed=seed)
    notes = [tnote] + [n for n in notes if n != tnote] + [n for n in plan.notes if n != tnote]
    return MobileSalesPlan(problem=problem, plan=plan, stops=stops, notes=notes, depot=depot_desc,
                           depot_sample=depot_sample, city=ws["city_name"], walk_engine=walk_engine, walk_m=float(walk_m),
                           travel_time_source=times.source)


def _stop_matrix(path: Path | None, depot_loc, wstops):
    """The external travel matrix for the depot and these stops, or None."""
    if path is None:
        return None
    from gis.travel_times import read_travel_matrix

    return read_travel_matrix(path, labels=["拠点"] + [s.stop_id for s in wstops],
                              locations=[(depot_loc.lon, depot_loc.lat)] + [(s.location.lon, s.location.lat) for s in wstops])


def stops_output(result: MobileSalesPlan) -> pd.DataFrame:
    """The stops as written for the planner (Japanese headers, 経度・緯度), with visits per week and days."""
    from gis.mobile_sales import stops_table

    st = stops_table(result.stops)
    st["週の訪問回数"] = [s.visits_per_week for s in result.problem.stops]
    st["曜日"] = ["・".join(result.plan.assignment.get(s.stop_id, ())) for s in result.problem.stops]
    return st


def timetable_title(result: MobileSalesPlan) -> str:
    return f"{result.city} 移動販売 週間時刻表"


def route_map_html(result: MobileSalesPlan) -> str:
    """The week on one map (a layer per weekday), as standalone HTML."""
    from layers.maps import render_html
    from layers.routes import route_map

    fmap = route_map(result.problem, result.plan, title=f"{result.city} 移動販売 週間ルート", notes=result.notes,
                     depot_sample=result.depot_sample, walk_m=result.walk_m, straight_segments=True)
    return render_html(fmap)


def result_tables(result: MobileSalesPlan) -> dict[str, pd.DataFrame]:
    """The job's tables: stops, the week's timetable, stops × days, the days' figures, visits not fitted."""
    from gis.timetable import day_summary, timetable, unassigned_table, week_overview

    tt = timetable(result.problem, result.plan)
    tt.attrs = {}
    return {
        "停留所": stops_output(result),
        "週間時刻表": tt,
        "週間一覧": week_overview(result.problem, result.plan),
        "曜日別の集計": day_summary(result.plan),
        "未割当": unassigned_table(result.problem, result.plan),
    }


# --------------------------------------------------------------------------- the job


class MobileSalesParams(AnalysisParams):
    """Parameters of mobile-sales."""

    depot: str | None = Field(None, description="拠点（連携先の店）の 経度,緯度（例 133.62,34.79）")
    depot_resource: str | None = Field(None, description="拠点にする地域資源の resource_id（既定: 最大の食料品店、サンプル）")
    vehicles: int = Field(1, ge=1, le=20, description="車両の台数")
    capacity: int | None = Field(None, gt=0, description="1台の積載量（見込み客数で何人分、既定は制限なし）")
    hours: str = Field("9:00-16:00", description="勤務時間（拠点の出発〜帰着）")
    lunch: str = Field("12:00-13:00/45", description="昼休憩 時間帯/分（「なし」で休憩なし）")
    days: str = Field("月,火,水,木,金", description="運行曜日")
    walk_m: float = Field(300.0, gt=0, le=3000, description="停留所まで歩ける距離（m）")
    min_customers: float | None = Field(None, ge=0, description="停留所を置く最小の見込み客数（既定 5）")
    adoption: float | None = Field(None, gt=0, le=1, description="徒歩圏の買い物弱者のうち利用する割合（既定 0.3、仮定値）")
    twice_weekly_min_customers: float = Field(15.0, ge=0, description="見込み客数がこれ以上の停留所は週2回（連続しない曜日）")
    service_fixed_min: float = Field(10.0, ge=0, le=240, description="停留所での固定の滞在時間（分）")
    service_per_customer_min: float = Field(3.0, ge=0, le=60, description="見込み客1人あたりの滞在時間（分）")
    speed_kmh: float = Field(DEFAULT_SPEED_KMH, gt=0, le=120, description="平均走行速度（km/h）")
    time_limit_s: float = Field(30.0, gt=0, le=600, description="週間計画の計算時間の上限（秒）")
    seed: int = Field(0, ge=0, description="乱数の種（同じ種なら同じ計画）")
    cell_size_m: CellSize = 100.0

    @field_validator("hours")
    @classmethod
    def _hours(cls, value: str) -> str:
        parse_hours(value)
        return value

    @field_validator("lunch")
    @classmethod
    def _lunch(cls, value: str) -> str:
        parse_lunch(value)
        return value

    @field_validator("days")
    @classmethod
    def _days(cls, value: str) -> str:
        parse_day_list(value)
        return value

    @field_validator("depot")
    @classmethod
    def _depot(cls, value: str | None) -> str | None:
        if value is not None and str(value).strip():
            parse_lonlat(value, "拠点")
            return value
        return None


@register(NAME, params=MobileSalesParams)
def run_mobile_sales_job(store: Store, params: MobileSalesParams, *, progress: Progress, data_dir=None) -> AnalysisResult:
    """Stops from the shopping refugees, the weekly plan, its timetable as tables and the route map."""
    result = plan_mobile_sales(
        store, data_dir=Path(data_dir) if data_dir else None, depot=params.depot, depot_resource=params.depot_resource,
        vehicles=params.vehicles, capacity=params.capacity, hours=params.hours, lunch=params.lunch, days=params.days,
        walk_m=params.walk_m, min_customers=params.min_customers, adoption=params.adoption,
        twice_weekly_min_customers=params.twice_weekly_min_customers,
        service_fixed_s=int(params.service_fixed_min * 60), service_per_customer_s=int(params.service_per_customer_min * 60),
        speed_kmh=params.speed_kmh, time_limit_s=params.time_limit_s, seed=params.seed, cell_size_m=params.cell_size_m,
        progress=lambda f, m: progress(0.9 * f, m))
    progress(0.9, STEPS[4])
    tables = result_tables(result)
    progress(0.95, STEPS[5])
    map_html = route_map_html(result)
    plan, problem, stops = result.plan, result.problem, result.stops
    a = stops.attrs
    summary = {
        "depot": result.depot,
        "depot_sample": result.depot_sample,
        "stops": int(len(stops)),
        "twice_weekly_stops": int(sum(1 for s in problem.stops if s.visits_per_week == 2)),
        "covered_refugees": round(float(a.get("covered_refugees", 0.0)), 1),
        "total_refugees": round(float(a.get("total_refugees", 0.0)), 1),
        "walk_m": float(params.walk_m),
        "travel_time_source": result.travel_time_source,
        **plan.summary(),
    }
    notes = list(result.notes)
    if result.depot_sample and SAMPLE_DEPOT_NOTE not in " ".join(notes):
        notes.insert(0, SAMPLE_DEPOT_NOTE)
    progress(1.0, "完了")
    return AnalysisResult(tables=tables, map_html=map_html, summary=summary, notes=notes)


__all__ = ["DEFAULT_CIRCUITY", "DEFAULT_SPEED_KMH", "MobileSalesParams", "MobileSalesPlan", "NAME", "SAMPLE_DEPOT_NOTE",
           "STEPS", "default_depot", "parse_hours", "parse_lonlat", "parse_lunch", "plan_mobile_sales", "result_tables",
           "route_map_html", "run_mobile_sales_job", "stop_wishes", "stops_output", "timetable_title"]
