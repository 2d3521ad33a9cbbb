"""`tsunagu routes outreach`: plan a station's CSW outreach day; route sheets go to a private folder only.

Client households are 要配慮個人情報. This command keeps them in the private client store
(:mod:`api.private`), writes the CSWs' route sheets (with names and addresses) only to a
private output folder (mode 0700, files 0600) marked 「要配慮個人情報・取扱注意」, and prints a
summary with household labels, counts and times — never a name, an address or a coordinate.
Nothing is written to the public workspace, its maps or its job results.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from pathlib import Path

import click
import pandas as pd

from api.analyses.outreach import (  # shared with the outreach job
    SAMPLE_NOTE,
    plan_document,
    plan_map_html,
    plan_sheet,
    route_sheet,
    sample_households,
)
from api.cli_common import in_language as _in_language
from gis.errors import InputDataError
from gis.outreach import (
    MODE_LABELS,
    OutreachPlan,
    format_hhmm,
    make_csws,
    parse_break,
    parse_hhmm,
    parse_span,
    place_labels,
    plan_outreach,
    visits_from_table,
)

__all__ = ["outreach", "sample_households", "write_route_sheets", "SAMPLE_NOTE"]

# --------------------------------------------------------------------------- private output


def _private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) owner-only (0700)."""
    missing = []
    p = path
    while not p.exists():
        missing.append(p)
        p = p.parent
    for d in reversed(missing):
        d.mkdir(mode=0o700)
        os.chmod(d, 0o700)
    os.chmod(path, 0o700)
    return path


def _write_private(path: Path, text: str, *, encoding: str = "utf-8") -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding=encoding, newline="") as f:
        f.write(text)
    os.chmod(path, 0o600)


def write_route_sheets(plan: OutreachPlan, households: pd.DataFrame, out_dir: Path, *, sample: bool) -> list[Path]:
    """Each CSW's route sheet (printable HTML + CSV) and the unfitted list, in the private folder ``out_dir``.

    Every file is marked 「要配慮個人情報・取扱注意」 (and サンプルデータ for sample visits) and
    written owner-only (0600) in a folder created 0700. Built from the same plan document as
    the service's private views (:func:`api.analyses.outreach.plan_document`).
    """
    from api.analyses.outreach import plan_marks

    out_dir = _private_dir(Path(out_dir))
    doc = plan_document(plan, households, sample=sample)
    day = plan.date.isoformat() if plan.date else ""
    wd = "月火水木金土日"[plan.date.weekday()] if plan.date else ""
    marks = plan_marks(doc)
    written = []
    for r, c in zip(plan.routes, doc["csws"]):
        table = route_sheet(doc, c, households)
        stem = f"訪問ルート_{r.csw.csw_id}"
        csv_text = "".join(f"# {m}\n" for m in marks) + table.to_csv(index=False)
        p = out_dir / f"{stem}.csv"
        _write_private(p, "\ufeff" + csv_text)
        written.append(p)
        title = f"訪問ルート {r.csw.name}（{MODE_LABELS.get(r.csw.mode, r.csw.mode)}）{day}（{wd}）"
        body = table.to_html(index=False, escape=True, border=0, classes="sheet")
        extra = (f"<p>出発 {format_hhmm(r.leave_s)}・帰着 {format_hhmm(r.return_s)}・移動 {round(r.travel_s / 60)} 分"
                 f"・{len(r.visits)} 件</p>" if r.visits else "<p>本日の訪問はありません</p>")
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in plan.notes)
        page = f"""<!doctype html><html lang="ja"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body{{font-family:sans-serif;margin:1.5em}} .mark{{border:3px solid #c00;color:#c00;font-weight:bold;padding:.4em;display:inline-block}}
table.sheet{{border-collapse:collapse;width:100%}} table.sheet th,table.sheet td{{border:1px solid #666;padding:.3em .5em;text-align:left}}
@media print{{@page{{size:A4 landscape;margin:12mm}} body{{margin:0}}}}
</style></head><body>
<div class="mark">{" ／ ".join(html.escape(m) for m in marks)}</div>
<h1>{html.escape(title)}</h1><p>拠点: {html.escape(plan.station_name)}</p>{extra}{body}
<ul>{notes}</ul><p class="mark">{html.escape(SENSITIVE_MARK_TEXT)}</p>
</body></html>"""
        p = out_dir / f"{stem}.html"
        _write_private(p, page)
        written.append(p)
    for r in plan.routes:
        if r.visits:
            p = out_dir / f"訪問ルート地図_{r.csw.csw_id}.html"
            _write_private(p, plan_map_html(doc, households, csw_ids=[r.csw.csw_id], marks=marks))
            written.append(p)
    un = plan_sheet(doc, households)["訪問できなかった世帯"]
    p = out_dir / "訪問できなかった世帯.csv"
    _write_private(p, "\ufeff" + "".join(f"# {m}\n" for m in marks) + un.to_csv(index=False))
    written.append(p)
    return written


#: The closing line of a printed route sheet.
SENSITIVE_MARK_TEXT = "要配慮個人情報・取扱注意：この用紙を共有・掲示しないでください。訪問後は所定の方法で廃棄してください。"


# --------------------------------------------------------------------------- the command


def _span_option(text: str, what: str) -> tuple[int, int]:
    try:
        return parse_span(text)
    except ValueError as exc:
        raise click.BadParameter(f"{what} {exc}") from None


@click.command("outreach")
@click.option("--station", "station_id", required=True, help="拠点ID（tsunagu の stations、例 sample-station-01）")
@click.option("--workspace", default=None, help="ワークスペース（.gpkg または postgresql:// URL）")
@click.option("--visits", "visits_file", type=click.Path(dir_okay=False), default=None,
              help="訪問先の表（CSV/Excel: id, 氏名, 住所, 緯度, 経度, 訪問時間(分), 希望時間帯 例 10:00-11:00, 優先度 1高/2中/3低）")
@click.option("--csws", "n_csws", type=int, default=2, show_default=True, help="この日に訪問する CSW の人数")
@click.option("--hours", default="8:30-17:15", show_default=True, help="勤務時間")
@click.option("--break", "break_text", default="12:00-13:00/45", show_default=True,
              help="休憩（時間帯/分、例 12:00-13:00/45; なし = none）")
@click.option("--mode", type=click.Choice(["car", "walk"]), default="car", show_default=True, help="移動手段")
@click.option("--speed-kmh", type=float, default=None, help="平均時速（既定: 車 30、徒歩 4）")
@click.option("--circuity", type=float, default=1.3, show_default=True, help="道路網がないときの迂回係数")
@click.option("--sample-visits", type=int, default=None, help="デモ用のサンプル訪問先を N 件作る（サンプルデータ）")
@click.option("--seed", type=int, default=0, show_default=True, help="乱数の種（サンプル作成と計画）")
@click.option("--date", "date_text", default=None, help="訪問日（YYYY-MM-DD、既定: 今日）")
@click.option("--role", type=click.Choice(["csw", "admin", "planner"]), default="csw", show_default=True,
              help="あなたの役割（CSW は自分の拠点の訪問先だけを扱えます）")
@click.option("--as-station", default=None, help="CSW の所属拠点（既定: --station）")
@click.option("--user", default=None, help="アクセス記録に残す利用者名（既定: ログインユーザー）")
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="非公開の出力フォルダ（既定: ワークスペースの隣の <名前>.private/outreach/<拠点>_<日付>）")
@click.option("--time-limit", type=float, default=5.0, show_default=True, help="計算時間の上限（秒）")
@click.option("--cancel", "cancel_text", default=None,
              help="組み直し: 取り消しになった訪問のラベル（カンマ区切り、例 H-001,H-004）")
@click.option("--pin", "pin_texts", multiple=True,
              help="組み直し: 予約どおり残す訪問「ラベル=CSW@時刻」（例 H-003=csw-1@10:30、複数可）")
@click.option("--pin-tolerance", type=int, default=5, show_default=True, help="固定した予約時刻の許容幅（分）")
@click.option("--csw-start", "start_texts", multiple=True,
              help="CSW の出発地（拠点以外、自宅など）「CSW=経度,緯度」（例 csw-1=133.66,34.79、複数可）")
@click.option("--csw-end", "end_texts", multiple=True,
              help="CSW の帰着地（拠点以外）「CSW=経度,緯度」（複数可）")
@click.option("--csw-skills", "skill_texts", multiple=True,
              help="CSW の資格「CSW=資格,資格」（例 csw-2=看護師、複数可）。訪問先の表の「資格」列の訪問はその資格のある CSW が担当")
@click.option("--travel-matrix", "travel_matrix_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="車の所要時間行列（秒）: 先頭の行と列が「拠点」と訪問先ラベルの CSV・Excel、"
                   "または OSRM の table JSON（拠点、訪問先の順）")
def outreach(station_id, workspace, visits_file, n_csws, hours, break_text, mode, speed_kmh, circuity, sample_visits,
             seed, date_text, role, as_station, user, out_dir, time_limit, cancel_text, pin_texts, pin_tolerance,
             start_texts, end_texts, skill_texts, travel_matrix_file) -> None:
    """CSW の訪問ルート：拠点から各 CSW の1日の訪問順・時刻を計画（訪問先は要配慮個人情報として別保管）。"""
    from api.analyses.base import choose_engine
    from api.cli_common import expected_errors as _errors
    from api.cli_common import fail as _fail
    from api.cli_common import open_workspace as _open
    from api.cli_common import settings as _settings
    from api.private import ClientStore, PrivateAccessError, Viewer, read_households

    settings = _settings(workspace=workspace)
    ws_location = settings.workspace
    work_hours = _span_option(hours, "--hours")
    try:
        brk_window, brk_s = parse_break(break_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--break") from None
    try:
        day = dt.date.fromisoformat(date_text) if date_text else dt.date.today()
    except ValueError:
        raise click.BadParameter(_in_language(f"{date_text!r} は YYYY-MM-DD ではありません", en=f"{date_text!r} is not YYYY-MM-DD"), param_hint="--date") from None
    if visits_file and sample_visits:
        raise click.UsageError(_in_language("--visits と --sample-visits は同時に使えません", en="--visits and --sample-visits cannot be used together"))
    cancelled = {t.strip() for t in (cancel_text or "").replace("、", ",").split(",") if t.strip()}
    pinned = _pin_options(pin_texts)
    viewer = Viewer(user=user or os.environ.get("USER") or "cli", role=role,
                    station_id=(as_station or station_id) if role == "csw" else as_station)
    try:
        csws = make_csws(n_csws, hours=work_hours, break_window=brk_window, break_s=brk_s, mode=mode)
        csws = _csw_options(csws, start_texts, end_texts, skill_texts)
        with _open(ws_location, create=False) as store, ClientStore(ws_location) as clients:
            ws = store.workspace()
            stations = store.stations()
            match = stations[stations["station_id"].astype(str) == str(station_id)]
            if match.empty:
                known = "、".join(stations["station_id"].astype(str).tolist()) or "（なし）"
                msg = f"拠点 {station_id} がワークスペースにありません（登録済み: {known}）"
                raise InputDataError(msg, hint="tsunagu の拠点一覧（GET /stations）の拠点IDを指定してください",
                                     en=f"no station {station_id} in the workspace (registered: {known})",
                                     hint_en="give a station id from tsunagu's station list (GET /stations)")
            station = match.to_crs("EPSG:4326").iloc[0]
            clients.check_access(viewer, str(station_id))
            ids = None
            sample = False
            if sample_visits:
                table = sample_households(store, str(station_id), sample_visits, seed=seed)
                sample = True
            elif visits_file:
                table = read_households(visits_file, station_id=str(station_id))
            else:
                table = None
            if table is not None:
                clients.import_households(viewer, table, station_id=str(station_id))
                ids = table["household_id"].tolist()
            households = clients.households(viewer, station_id=str(station_id), ids=ids)
            if households.empty:
                msg = f"拠点 {station_id} の訪問先が登録されていません"
                raise InputDataError(msg, hint="--visits で訪問先の表を取り込むか、デモでは --sample-visits 12 を付けてください",
                                     en=f"station {station_id} has no households registered",
                                     hint_en="import a visit list with --visits, or for the demo add --sample-visits 12")
            sample = sample or bool(households["is_sample"].any())
            engine, _engine_notes = choose_engine(ws["city_code"], data_dir=settings.data_dir,
                                                  mode="walk" if mode == "walk" else "drive")
            visits = visits_from_table(households)
            unknown = sorted(cancelled - {v.visit_id for v in visits})
            if unknown:
                msg = f"取り消す訪問 {'、'.join(unknown)} が訪問先にありません"
                raise InputDataError(msg, hint="--cancel には訪問先のラベル（例 H-001）を指定してください",
                                     en=f"visits to cancel not among the households: {', '.join(unknown)}",
                                     hint_en="give --cancel the household labels (e.g. H-001)")
            visits = [v for v in visits if v.visit_id not in cancelled]
            matrix = None
            if travel_matrix_file:
                from gis.travel_times import read_travel_matrix

                matrix = read_travel_matrix(
                    travel_matrix_file, labels=["拠点"] + [v.visit_id for v in visits] + place_labels(csws),
                    locations=[(float(station.geometry.x), float(station.geometry.y))] + [(v.lon, v.lat) for v in visits])
            plan = plan_outreach(station, visits, csws, engine=engine, date=day, pinned=pinned,
                                 pin_tolerance_s=int(pin_tolerance) * 60,
                                 speed_kmh={mode: speed_kmh} if speed_kmh else None, circuity=circuity,
                                 time_limit_s=time_limit, seed=seed, travel_matrix=matrix)
            folder = Path(out_dir) if out_dir else _default_out(ws_location, str(station_id), day)
            written = write_route_sheets(plan, households, folder, sample=sample)
    except PrivateAccessError as exc:
        _fail(exc)
    except _errors() as exc:
        _fail(exc)
    _print_plan(plan, folder, written, sample=sample)


def _csw_options(csws, start_texts, end_texts, skill_texts):
    """The CSWs with ``--csw-start``/``--csw-end`` (「csw-1=経度,緯度」) and ``--csw-skills`` (「csw-2=看護師」) applied."""
    from dataclasses import replace

    by_id = {c.csw_id: c for c in csws}

    def split(text: str, hint: str, example: str, example_en: str) -> tuple[str, str]:
        who, _, rest = str(text).partition("=")
        who = who.strip()
        if not who or not rest.strip():
            raise click.BadParameter(_in_language(f"「{text}」は {example} の形ではありません", en=f"{text!r} is not of the form {example_en}"), param_hint=hint)
        if who not in by_id:
            raise click.BadParameter(_in_language(f"CSW「{who}」がいません（この日の CSW: {'、'.join(by_id)}）", en=f"no CSW {who!r} (this day's CSWs: {', '.join(by_id)})"), param_hint=hint)
        return who, rest.strip()

    for hint, key, texts in (("--csw-start", "start", start_texts), ("--csw-end", "end", end_texts)):
        for text in texts or ():
            who, rest = split(text, hint, "CSW=経度,緯度（例 csw-1=133.66,34.79）",
                              "CSW=longitude,latitude (e.g. csw-1=133.66,34.79)")
            try:
                lon, lat = (float(x) for x in rest.replace("、", ",").split(","))
            except ValueError:
                raise click.BadParameter(_in_language(f"「{text}」の経度,緯度が読めません（例 csw-1=133.66,34.79）", en=f"cannot read the longitude,latitude in {text!r} (e.g. csw-1=133.66,34.79)"),
                                         param_hint=hint) from None
            by_id[who] = replace(by_id[who], **{key: (lon, lat)})
    for text in skill_texts or ():
        from api.private import parse_skills

        who, rest = split(text, "--csw-skills", "CSW=資格,資格（例 csw-2=看護師）", "CSW=skill,skill (e.g. csw-2=看護師)")
        by_id[who] = replace(by_id[who], skills=frozenset(by_id[who].skills) | set(parse_skills(rest)))
    return [by_id[c.csw_id] for c in csws]


def _pin_options(texts) -> dict[str, tuple[str, int]]:
    """``("H-003=csw-1@10:30", …)`` → {"H-003": ("csw-1", 37800)}."""
    out = {}
    for text in texts or ():
        label, _, rest = str(text).partition("=")
        csw, _, at = rest.partition("@")
        if not (label.strip() and csw.strip() and at.strip()):
            raise click.BadParameter(_in_language(f"「{text}」は ラベル=CSW@時刻（例 H-003=csw-1@10:30）の形ではありません", en=f"{text!r} is not of the form label=CSW@time (e.g. H-003=csw-1@10:30)"),
                                     param_hint="--pin")
        try:
            out[label.strip()] = (csw.strip(), parse_hhmm(at.strip()))
        except (InputDataError, ValueError) as exc:
            raise click.BadParameter(_in_language(f"「{text}」の時刻が読めません（{exc}）", en=f"cannot read the time in {text!r} ({exc})"), param_hint="--pin") from None
    return out


def _default_out(workspace: str, station_id: str, day: dt.date) -> Path:
    safe = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in station_id)
    if "://" in workspace:
        base = Path("tsunagu.private")
    else:
        p = Path(workspace).expanduser().resolve()
        base = p.with_name(p.stem + ".private")
    return base / "outreach" / f"{safe}_{day.isoformat()}"


def _print_plan(plan: OutreachPlan, folder: Path, written: list[Path], *, sample: bool) -> None:
    """The summary on stdout: labels, counts and times only (no names, addresses or coordinates)."""
    day = plan.date.isoformat() if plan.date else ""
    click.secho(f"{plan.station_name}（{plan.station_id}）の訪問ルート {day}", bold=True)
    if sample:
        click.echo(f"  ※ {SAMPLE_NOTE}")
    total = plan.n_visits + len(plan.unfitted)
    click.echo(f"  訪問 {plan.n_visits}/{total} 件を {len(plan.routes)} 人の CSW に割り当てました"
               f"（計算 {plan.runtime_s:.1f} 秒、{plan.solver}）")
    for r in plan.routes:
        if not r.visits:
            click.echo(f"  {r.csw.name}: 訪問なし")
            continue
        brk = "、".join(f"{format_hhmm(a)}-{format_hhmm(b)}" for a, b in r.breaks) or "なし"
        order = " → ".join(v.visit_id for v in r.visits)
        click.echo(f"  {r.csw.name}（{MODE_LABELS.get(r.csw.mode, r.csw.mode)}）: {len(r.visits)} 件 "
                   f"出発 {format_hhmm(r.leave_s)} 帰着 {format_hhmm(r.return_s)} 移動 {round(r.travel_s / 60)} 分 "
                   f"休憩 {brk}")
        click.echo(f"    順番: {order}")
    if plan.unfitted:
        click.echo(f"  訪問できなかった訪問先 {len(plan.unfitted)} 件:")
        for v, why in plan.unfitted:
            click.echo(f"    {v}: {why}")
    for n in plan.notes:
        click.echo(f"  注: {n}")
    click.echo(f"  訪問ルート表（要配慮個人情報・取扱注意、本人のみ閲覧可）: {folder}（{len(written)} ファイル）")
