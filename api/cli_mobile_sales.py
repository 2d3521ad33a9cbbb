"""`tsunagu routes mobile-sales`: stops from the shopping refugees, the weekly plan, timetable (HTML/CSV/Excel/GPX) and map."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import click
import pandas as pd

from gis.errors import InputDataError, TsunaguError

#: Travel speed of the truck when no road network gives better (km/h, rural roads incl. stops at junctions).
DEFAULT_SPEED_KMH = 30.0
DEFAULT_CIRCUITY = 1.3
SAMPLE_DEPOT_NOTE = "拠点の店は例示（サンプル）です：実際の連携先の店ではありません"


def _lonlat(text: str, what: str) -> tuple[float, float]:
    try:
        lon, lat = (float(v) for v in str(text).replace("，", ",").split(","))
    except ValueError as exc:
        raise InputDataError(f"{what}「{text}」が読めません", hint="経度,緯度 の順に指定してください（例 133.62,34.79）") from exc
    from gis.crs import JAPAN_LAT, JAPAN_LON

    if not (JAPAN_LON[0] <= lon <= JAPAN_LON[1] and JAPAN_LAT[0] <= lat <= JAPAN_LAT[1]):
        raise InputDataError(f"{what}（経度 {lon}, 緯度 {lat}）が日本の範囲外です", hint="経度,緯度 の順か確認してください")
    return lon, lat


def _hours(text: str) -> tuple[int, int]:
    from gis.weekly import parse_hhmm

    m = re.fullmatch(r"\s*([0-9:：]+)\s*[-–〜~]\s*([0-9:：]+)\s*", str(text))
    if not m:
        raise InputDataError(f"勤務時間「{text}」が読めません", hint="9:00-16:00 のように指定してください")
    return parse_hhmm(m.group(1)), parse_hhmm(m.group(2))


def _lunch(text: str | None):
    from gis.routing import Break

    if not text or str(text).strip() in ("", "なし", "none"):
        return None
    window, _, minutes = str(text).partition("/")
    a, b = _hours(window)
    try:
        dur = int(minutes) * 60 if minutes else b - a
    except ValueError as exc:
        raise InputDataError(f"昼休憩「{text}」の分数が読めません", hint="12:00-13:00/45 のように指定してください") from exc
    return Break((a, b), dur)


def default_depot(resources) -> tuple[dict, str]:
    """The largest food shop as the demo depot: 百貨店・総合スーパー before スーパー, then most licensed trades."""
    shops = resources[resources["kind"].isin(["department_store", "supermarket"])]
    if shops.empty:
        raise InputDataError("拠点にできるスーパー・総合スーパーがワークスペースにありません",
                             hint="--depot 経度,緯度 か --depot-resource で拠点を指定してください")
    def size(row):
        attrs = row["attributes"] if isinstance(row["attributes"], dict) else {}
        return (0 if row["kind"] == "department_store" else 1, -len(attrs.get("business_types") or []), str(row["resource_id"]))
    best = min((row for _, row in shops.iterrows()), key=size)
    why = ("百貨店・総合スーパー" if best["kind"] == "department_store" else "スーパー") + \
        "のうち営業許可の業種数が最も多い店（規模の目安）"
    return best, why


@click.command(name="mobile-sales")
@click.option("--workspace", default=None, help="ワークスペース（.gpkg または postgresql:// URL）")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="オープンデータのフォルダ（道路網を探す）")
@click.option("--depot", default=None, help="拠点（連携先の店）の 経度,緯度")
@click.option("--depot-resource", default=None, help="拠点にする地域資源の resource_id")
@click.option("--vehicles", type=int, default=1, show_default=True, help="車両の台数")
@click.option("--capacity", type=int, default=None, help="1台の積載量（見込み客数で何人分、既定は制限なし）")
@click.option("--hours", default="9:00-16:00", show_default=True, help="勤務時間（拠点の出発〜帰着）")
@click.option("--lunch", default="12:00-13:00/45", show_default=True, help="昼休憩 時間帯/分（「なし」で休憩なし）")
@click.option("--days", default="月,火,水,木,金", show_default=True, help="運行曜日")
@click.option("--walk-m", type=float, default=300.0, show_default=True, help="停留所まで歩ける距離（m）")
@click.option("--min-customers", type=float, default=None, help="停留所を置く最小の見込み客数（既定 5）")
@click.option("--adoption", type=float, default=None, help="徒歩圏の買い物弱者のうち利用する割合（既定 0.3、仮定値）")
@click.option("--twice-weekly-min-customers", type=float, default=15.0, show_default=True,
              help="見込み客数がこれ以上の停留所は週2回（連続しない曜日）")
@click.option("--service-fixed-min", type=float, default=10.0, show_default=True, help="停留所での固定の滞在時間（分）")
@click.option("--service-per-customer-min", type=float, default=3.0, show_default=True, help="見込み客1人あたりの滞在時間（分）")
@click.option("--speed-kmh", type=float, default=DEFAULT_SPEED_KMH, show_default=True, help="平均走行速度（km/h）")
@click.option("--time-limit", type=float, default=30.0, show_default=True, help="週間計画の計算時間の上限（秒）")
@click.option("--seed", type=int, default=0, show_default=True, help="乱数の種（同じ種なら同じ計画）")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None, help="出力フォルダ")
@click.option("--stops", "stops_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="停留所 CSV（前回の出力を編集したもの：行の削除・座標の変更・「固定」）。残した停留所を使い、カバーされなくなった所にだけ新しい停留所を足します")
@click.option("--no-new-stops", is_flag=True, help="--stops の停留所だけで計画する（新しい停留所を足さない）")
def mobile_sales(workspace, data_dir, depot, depot_resource, vehicles, capacity, hours, lunch, days, walk_m, min_customers,
                 adoption, twice_weekly_min_customers, service_fixed_min, service_per_customer_min, speed_kmh,
                 time_limit, seed, out_dir, stops_file, no_new_stops) -> None:
    """移動販売：買い物弱者から停留所を提案し、週間ルート・時刻表（HTML/CSV/Excel/GPX）・地図を作ります。"""
    from api.cli import _data_dir_or_none, _open, _settings
    from api.store.base import StoreError

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            result = run_mobile_sales(
                store, data_dir=_data_dir_or_none(data_dir), depot=depot, depot_resource=depot_resource,
                vehicles=vehicles, capacity=capacity, hours=hours, lunch=lunch, days=days, walk_m=walk_m,
                min_customers=min_customers, adoption=adoption, twice_weekly_min_customers=twice_weekly_min_customers,
                service_fixed_s=int(service_fixed_min * 60), service_per_customer_s=int(service_per_customer_min * 60),
                speed_kmh=speed_kmh, time_limit_s=time_limit, seed=seed,
                out_dir=Path(out_dir) if out_dir else Path(settings.workspace).resolve().parent / "mobile_sales",
                stops_file=stops_file, no_new_stops=no_new_stops, echo=click.echo)
    except (TsunaguError, StoreError) as exc:
        click.secho(f"エラー: {exc}", fg="red", err=True)
        sys.exit(2)
    _print_summary(result)


def run_mobile_sales(store, *, data_dir=None, depot=None, depot_resource=None, vehicles=1, capacity=None,
                     hours="9:00-16:00", lunch="12:00-13:00/45", days="月,火,水,木,金", walk_m=300.0, min_customers=None,
                     adoption=None, twice_weekly_min_customers=15.0, service_fixed_s=600, service_per_customer_s=180,
                     speed_kmh=DEFAULT_SPEED_KMH, time_limit_s=30.0, seed=0, out_dir: Path, stops_file=None,
                     no_new_stops=False, echo=lambda s: None) -> dict:
    """Everything the command does, returning the figures it prints (used by tests and the benchmark)."""
    import pandas as pd

    from api.analyses.base import choose_engine, workspace_demand
    from gis.mobile_sales import DEFAULT_ADOPTION, DEFAULT_MIN_CUSTOMERS, propose_stops, read_stops_table, stops_table
    from gis.routing import Location, Vehicle, travel_matrix
    from gis.shopping import food_shops, shopping_access
    from gis.timetable import write_all
    from gis.weekly import WeeklyProblem, WeeklyStop, _check_days, plan_week
    from layers.maps import render_html
    from layers.routes import route_map

    if vehicles is None or vehicles < 1:
        raise InputDataError(f"車両の台数は1以上です: {vehicles}", hint="--vehicles 1")
    if capacity is not None and capacity <= 0:
        raise InputDataError(f"積載量は正の数です: {capacity}")
    day_list = _check_days([d for d in re.split(r"[,、・\s]+", str(days)) if d])
    shift = _hours(hours)
    brk = _lunch(lunch)
    depot_xy = _lonlat(depot, "拠点") if depot else None
    ws = store.workspace()
    code = ws["city_code"]
    notes: list[str] = []
    echo("[1/6] 買い物弱者を計算中（人口メッシュ・食料品店）…")
    demand, age_notes = workspace_demand(store)
    resources = store.resources()
    shops = food_shops(resources)
    walk_engine, engine_notes = choose_engine(code, data_dir=data_dir, mode="walk")
    access = shopping_access(demand, shops, engine=walk_engine)
    notes += engine_notes + age_notes
    areas = store.areas(level=ws["profile"].base.key)

    echo("[2/6] 停留所を提案中（集合被覆・HiGHS）…")
    mc = DEFAULT_MIN_CUSTOMERS if min_customers is None else float(min_customers)
    ad = DEFAULT_ADOPTION if adoption is None else float(adoption)
    existing = read_stops_table(stops_file) if stops_file else None
    if existing is not None and no_new_stops:
        stops = propose_stops(access, engine=walk_engine, walk_m=walk_m, min_customers=mc,
                              adoption=ad, areas=areas, existing=existing, candidates=existing.iloc[:0])
    else:
        stops = propose_stops(access, engine=walk_engine, walk_m=walk_m, min_customers=mc, adoption=ad, areas=areas,
                              existing=existing)
    notes += stops.attrs["notes"]
    if stops.empty:
        raise InputDataError("停留所がひとつもありません（買い物弱者が少ないか、見込み客数の下限が高すぎます）",
                             hint="--min-customers を下げてください")

    echo("[3/6] 拠点と移動時間を準備中…")
    depot_sample = False
    if depot:
        lon, lat = depot_xy
        depot_loc = Location(lon, lat, "拠点")
        depot_desc = f"指定の拠点（{lon:.5f}, {lat:.5f}）"
    elif depot_resource:
        hit = resources[resources["resource_id"].astype(str) == str(depot_resource)]
        if hit.empty:
            raise InputDataError(f"地域資源 {depot_resource} がワークスペースにありません", feature=str(depot_resource))
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
    drive_engine, drive_notes = choose_engine(code, data_dir=data_dir, mode="drive")
    wishes = _stop_wishes(existing)
    wstops = []
    for r in stops.itertuples():
        cust = float(r.expected_customers)
        days, windows, per_week = wishes.get(str(r.stop_id), (None, [], None))
        wstops.append(WeeklyStop(stop_id=str(r.stop_id), name=str(r.name), location=Location(r.geometry.x, r.geometry.y, str(r.name)),
                                 expected_customers=cust,
                                 visits_per_week=per_week or (2 if cust >= twice_weekly_min_customers else 1),
                                 allowed_days=days, time_windows=windows))
    D, X, tnote = travel_matrix(drive_engine, [depot_loc] + [s.location for s in wstops], speed_kmh=speed_kmh,
                                circuity=DEFAULT_CIRCUITY)
    fleet = [Vehicle(vehicle_id=f"v{k + 1}", name=f"{k + 1}号車", shift=shift, capacity=capacity,
                     breaks=[brk] if brk else []) for k in range(vehicles)]
    problem = WeeklyProblem(depot=depot_loc, stops=wstops, vehicles=fleet, durations_s=D, distances_m=X, days=day_list,
                            service_fixed_s=service_fixed_s, service_per_customer_s=service_per_customer_s, note=tnote)

    echo(f"[4/6] 週間ルートを計画中（上限 {time_limit_s:g} 秒）…")
    plan = plan_week(problem, time_limit_s=time_limit_s, seed=seed)
    notes = [tnote] + [n for n in notes if n != tnote] + [n for n in plan.notes if n != tnote]

    echo("[5/6] 時刻表・停留所一覧を書き出し中…")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    st = stops_table(stops)
    st["週の訪問回数"] = [s.visits_per_week for s in wstops]
    st["曜日"] = ["・".join(plan.assignment.get(s.stop_id, ())) for s in wstops]
    stops_path = out_dir / "stops.csv"
    st.to_csv(stops_path, index=False, encoding="utf-8-sig")
    sample = SAMPLE_DEPOT_NOTE if depot_sample else None
    title = f"{ws['city_name']} 移動販売 週間時刻表"
    paths = write_all(problem, plan, out_dir, title=title, notes=notes, sample=sample)
    echo("[6/6] 地図を作成中…")
    fmap = route_map(problem, plan, title=f"{ws['city_name']} 移動販売 週間ルート", notes=notes, depot_sample=depot_sample,
                     walk_m=walk_m, straight_segments=True)
    map_path = out_dir / "route_map.html"
    map_path.write_text(render_html(fmap), encoding="utf-8")
    paths.update({"stops": stops_path, "map": map_path})
    return {"problem": problem, "plan": plan, "stops": stops, "paths": paths, "notes": notes, "depot": depot_desc,
            "depot_sample": depot_sample, "city": ws["city_name"], "walk_engine": walk_engine}


def _print_summary(res: dict) -> None:
    from gis.routing import format_hhmm

    plan, problem, stops = res["plan"], res["problem"], res["stops"]
    click.echo("")
    click.secho(f"{res['city']} 移動販売の週間計画", bold=True)
    click.echo(f"  拠点: {res['depot']}" + ("  ※サンプル" if res["depot_sample"] else ""))
    a = stops.attrs
    click.echo(f"  停留所: {len(stops)} か所（徒歩 {a['walk_m']:g} m、見込み客数 {a['min_customers']:g} 人以上）"
               f"  カバーする買い物弱者 {a['covered_refugees']:,.0f} / {a['total_refugees']:,.0f} 人")
    click.echo(f"  訪問: {plan.visits_served} / {plan.visits_required} 回（週2回の停留所 "
               f"{sum(1 for s in problem.stops if s.visits_per_week == 2)} か所）、車両・日 {plan.vehicle_days}")
    for d in plan.days:
        dp = plan.day_plans[d]
        n = sum(len(r.visits) for r in dp.routes)
        span = "、".join(f"{format_hhmm(r.start_s)}–{format_hhmm(r.end_s)}" for r in dp.routes if r.visits) or "運行なし"
        click.echo(f"  {d}曜日: 停留所 {n:>2} か所  運転 {plan.driving_s(d) // 60:>4} 分  {plan.distance_m(d) / 1000:6.1f} km  {span}")
    click.echo(f"  運転時間の合計: {plan.total_driving_s // 60} 分")
    if plan.unassigned:
        names = {s.stop_id: s.name for s in problem.stops}
        click.secho(f"  入らなかった訪問 {len(plan.unassigned)} 件:", fg="yellow")
        for sid, k, why in plan.unassigned[:30]:
            click.echo(f"    {names.get(sid, sid)}（{sid}）{k}回目: {why}")
        if len(plan.unassigned) > 30:
            click.echo(f"    …ほか {len(plan.unassigned) - 30} 件（時刻表の「未割当」）")
    click.echo("注記:")
    for n in res["notes"]:
        click.echo(f"  ・{n}")
    p = res["paths"]
    click.secho(f"停留所: {p['stops']}", fg="green")
    click.secho(f"時刻表: {p['html']}  {p['csv']}  {p['xlsx']}  {p['gpx']}", fg="green")
    click.secho(f"地図: {p['map']}", fg="green")


__all__ = ["mobile_sales", "run_mobile_sales", "default_depot"]


def _stop_wishes(existing) -> dict:
    """stop id → (allowed days, time windows, visits per week) from the optional columns of a stops file.

    Columns (gis.mobile_sales.WISH_COLUMNS): 運行曜日 (e.g. 火,金), 時間帯 (start of service, e.g.
    9:00-12:00, several separated by commas), 週回数 (1 or 2).
    """
    from gis.errors import InputDataError
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
            raise InputDataError(f"停留所 {sid} の運行曜日 {days!r} を読めません", hint="例: 火,金 / 毎週水曜")
        windows = []
        span = r.get("時間帯")
        if isinstance(span, str) and span.strip():
            for part in span.replace("、", ",").split(","):
                try:
                    a, b = (parse_hhmm(x.strip()) for x in part.replace("〜", "-").replace("～", "-").split("-"))
                except (ValueError, InputDataError) as exc:
                    raise InputDataError(f"停留所 {sid} の時間帯 {part!r} を読めません", hint="例: 9:00-12:00") from exc
                windows.append((a, b))
        per_week = r.get("週回数")
        per_week = None if per_week is None or pd.isna(per_week) else int(per_week)
        out[sid] = (allowed, windows, per_week)
    return out
