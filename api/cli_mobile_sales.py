"""`tsunagu routes mobile-sales`: stops from the shopping refugees, the weekly plan, timetable (HTML/CSV/Excel/GPX) and map."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from api.analyses.mobile_sales import (  # the planning is shared with the mobile-sales job
    DEFAULT_CIRCUITY,
    DEFAULT_SPEED_KMH,
    SAMPLE_DEPOT_NOTE,
    STEPS,
    default_depot,
    plan_mobile_sales,
    route_map_html,
    stop_wishes,
    stops_output,
    timetable_title,
)
from gis.errors import TsunaguError

#: Kept for callers of the earlier private name.
_stop_wishes = stop_wishes


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
@click.option("--travel-matrix", "travel_matrix_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="所要時間行列（秒）: 先頭の行と列が「拠点」と停留所 ID の CSV・Excel、または OSRM の table JSON"
                   "（拠点、停留所の順）。--stops と --no-new-stops と一緒に使います")
@click.option("--keep-slots", "keep_slots_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="前週の timetable.csv：載っている停留所は曜日・車両・時刻（±5分）をそのまま引き継ぎます"
                   "（--stops に前週の stops.csv を使うと停留所IDが揃います）")
@click.option("--free", "free_text", default=None,
              help="--keep-slots で引き継がない停留所ID（カンマ区切り、例 S003,S007）：曜日・時刻を組み直します")
def mobile_sales(workspace, data_dir, depot, depot_resource, vehicles, capacity, hours, lunch, days, walk_m, min_customers,
                 adoption, twice_weekly_min_customers, service_fixed_min, service_per_customer_min, speed_kmh,
                 time_limit, seed, out_dir, stops_file, no_new_stops, travel_matrix_file, keep_slots_file,
                 free_text) -> None:
    """移動販売：買い物弱者から停留所を提案し、週間ルート・時刻表（HTML/CSV/Excel/GPX）・地図を作ります。"""
    from api.cli_common import data_dir_or_none as _data_dir_or_none
    from api.cli_common import in_language as _in_language
    from api.cli_common import open_workspace as _open
    from api.cli_common import settings as _settings
    from api.store.errors import StoreError

    settings = _settings(workspace=workspace)
    if free_text and not keep_slots_file:
        raise click.UsageError(_in_language("--free は --keep-slots と一緒に使います", en="--free goes with --keep-slots"))
    free = [t.strip() for t in (free_text or "").replace("、", ",").split(",") if t.strip()]
    try:
        with _open(settings.workspace, create=False) as store:
            result = run_mobile_sales(
                store, data_dir=_data_dir_or_none(data_dir), depot=depot, depot_resource=depot_resource,
                vehicles=vehicles, capacity=capacity, hours=hours, lunch=lunch, days=days, walk_m=walk_m,
                min_customers=min_customers, adoption=adoption, twice_weekly_min_customers=twice_weekly_min_customers,
                service_fixed_s=int(service_fixed_min * 60), service_per_customer_s=int(service_per_customer_min * 60),
                speed_kmh=speed_kmh, time_limit_s=time_limit, seed=seed,
                out_dir=Path(out_dir) if out_dir else Path(settings.workspace).resolve().parent / "mobile_sales",
                stops_file=stops_file, no_new_stops=no_new_stops, echo=click.echo,
                travel_matrix_file=Path(travel_matrix_file) if travel_matrix_file else None,
                keep_slots_file=Path(keep_slots_file) if keep_slots_file else None, free_stops=free)
    except (TsunaguError, StoreError) as exc:
        click.secho(f"エラー: {exc}", fg="red", err=True)
        sys.exit(2)
    _print_summary(result)


def run_mobile_sales(store, *, data_dir=None, depot=None, depot_resource=None, vehicles=1, capacity=None,
                     hours="9:00-16:00", lunch="12:00-13:00/45", days="月,火,水,木,金", walk_m=300.0, min_customers=None,
                     adoption=None, twice_weekly_min_customers=15.0, service_fixed_s=600, service_per_customer_s=180,
                     speed_kmh=DEFAULT_SPEED_KMH, time_limit_s=30.0, seed=0, out_dir: Path, stops_file=None,
                     no_new_stops=False, cell_size_m=100.0, echo=lambda s: None, travel_matrix_file=None,
                     keep_slots_file=None, free_stops=()) -> dict:
    """Everything the command does, returning the figures it prints (used by tests and the benchmark).

    Plans with :func:`api.analyses.mobile_sales.plan_mobile_sales` (the same code the
    ``mobile-sales`` job runs) and writes stops.csv, the timetable (HTML/CSV/Excel/GPX) and the map.
    """
    from gis.mobile_sales import read_stops_table
    from gis.timetable import write_all

    step = [0]

    def say(_fraction: float, message: str) -> None:
        step[0] += 1
        echo(f"[{step[0]}/{len(STEPS)}] {message}")

    existing = read_stops_table(stops_file) if stops_file else None
    previous = _read_timetable(keep_slots_file) if keep_slots_file else None
    result = plan_mobile_sales(
        store, data_dir=data_dir, depot=depot, depot_resource=depot_resource, vehicles=vehicles, capacity=capacity,
        hours=hours, lunch=lunch, days=days, walk_m=walk_m, min_customers=min_customers, adoption=adoption,
        twice_weekly_min_customers=twice_weekly_min_customers, service_fixed_s=service_fixed_s,
        service_per_customer_s=service_per_customer_s, speed_kmh=speed_kmh, time_limit_s=time_limit_s, seed=seed,
        existing=existing, no_new_stops=no_new_stops, cell_size_m=cell_size_m, progress=say,
        travel_matrix_file=travel_matrix_file, previous_timetable=previous, free_stops=tuple(free_stops))

    say(0.9, STEPS[4])
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    stops_path = out_dir / "stops.csv"
    stops_output(result).to_csv(stops_path, index=False, encoding="utf-8-sig")
    sample = SAMPLE_DEPOT_NOTE if result.depot_sample else None
    paths = write_all(result.problem, result.plan, out_dir, title=timetable_title(result), notes=result.notes, sample=sample)
    say(0.95, STEPS[5])
    map_path = out_dir / "route_map.html"
    map_path.write_text(route_map_html(result), encoding="utf-8")
    paths.update({"stops": stops_path, "map": map_path})
    return {**result.as_dict(), "paths": paths}


def _read_timetable(path: Path):
    """Last week's timetable.csv (or the Excel timetable's first sheet) as a DataFrame of strings."""
    import pandas as pd

    from gis.errors import InputDataError

    path = Path(path)
    try:
        if path.suffix.lower() in (".xlsx", ".xls"):
            return pd.read_excel(path, dtype=str)
        return pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise InputDataError(f"前週の時刻表 {path.name} を読めません（{exc}）", source=str(path),
                             hint="前週の mobile-sales が出力した timetable.csv を指定してください",
                             en=f"cannot read last week's timetable {path.name} ({exc})",
                             hint_en="give the timetable.csv that last week's mobile-sales wrote") from exc


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


__all__ = ["mobile_sales", "run_mobile_sales", "default_depot", "DEFAULT_CIRCUITY", "DEFAULT_SPEED_KMH"]

