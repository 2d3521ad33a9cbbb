"""The ``tsunagu`` command line: build a workspace, import data, write maps, serve the API."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from api.cli_common import data_dir_or_none as _data_dir_or_none
from api.cli_common import expected_errors as _errors
from api.cli_common import fail as _fail
from api.cli_common import in_language as _in_language
from api.cli_common import open_workspace as _open
from api.cli_common import set_language as _set_language
from api.cli_common import settings as _settings
from api.cli_common import steps as _steps
from api.cli_ja import install as _japanese_click
from api.cli_lazy import LazyGroup
from gis.errors import TsunaguError

_japanese_click()

#: Subcommands kept in their own modules, imported only when they run: (module:attribute, one-line help).
LAZY_COMMANDS = {
    "compare": ("api.cli_scenarios:compare", "二つのジョブ（基準とシナリオなど）の結果を地域ごとに比べます（差の表と地図）。"),
    "scenario": ("api.cli_scenarios:scenario", "シナリオ：資源の追加・移動・削除などの変更を名前を付けて保存します（基本データは変えません）。"),
    "routes": ("api.cli_routes:routes", "ルート計画：移動販売の停留所と週間ルート、CSW の訪問ルート。"),
    "users": ("api.cli_users:users", "アカウント：最初の管理者の作成、ユーザーの追加・一覧・パスワード再設定。"),
    "report": ("api.cli_report:report", "地域カルテ：地域ごとの人口・地域資源・サロン・買い物弱者などを上位の地域・市全域と並べて PDF・HTML・Excel に。"),
    "worker": ("api.cli_worker:worker", "待ち行列の解析ジョブをこのプロセスで実行します（1件ずつ、Ctrl-C か SIGTERM で停止）。"),
}


def _act_as(name) -> None:
    if name:
        from api.acting import act_as

        act_as(name)


def _check_acting(workspace: str) -> None:
    """A name given with --as or TSUNAGU_USER must be an account of the workspace (when it has accounts)."""
    from api.acting import check_acting_user, chosen

    name = chosen()
    if name:
        check_acting_user(name, workspace=workspace)


#: ``--as USER``: who the jobs and imports of this command are credited to.
_as_option = click.option("--as", "acting", default=None, metavar="USER",
                          help="実行者として記録するアカウント名（既定: 環境変数 TSUNAGU_USER、なければ OS のユーザー）")


@click.group(cls=LazyGroup, lazy_subcommands=LAZY_COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@_as_option
@click.option("--lang", type=click.Choice(["ja", "en"]), default=None, is_eager=True, expose_value=False,
              callback=_set_language,
              help="メッセージの言語（ja: 日本語、en: English。既定: 環境変数 TSUNAGU_LANG、なければ ja）")
def main(acting) -> None:
    """つなぐ Tsunagu: 福祉圏域・地域資源のマッピングと分析。"""
    _act_as(acting)


@main.command()
@click.option("--city", default=None, help="市区町村コード（5桁、既定 33209 高梁市）")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="オープンデータのフォルダ（既定: TSUNAGU_DATA_DIR、なければ ../shared/data）")
@click.option("--workspace", default=None, help="ワークスペース（.gpkg ファイルまたは postgresql:// URL）")
@click.option("--map", "map_path", type=click.Path(dir_okay=False), default=None,
              help="地図 HTML の出力先（既定: ワークスペースの隣に tier_map_<code>.html）")
@click.option("--profile", default="default", show_default=True, help="圏域プロファイル（名前または .toml）")
@click.option("--threshold", type=float, default=None, help="入れ子判定の重なり率のしきい値（既定 0.9）")
@click.option("--strict-nesting", is_flag=True, help="2つの親にまたがる地域があればエラーにする")
@click.option("--replace", is_flag=True,
              help="ワークスペースに既にあるデータ（追加した資源・ジョブを含む）を消して作り直す（サーバー稼働中は不可）")
def demo(city, data_dir, workspace, map_path, profile, threshold, strict_nesting, replace) -> None:
    """オープンデータから市区町村のワークスペースを作り、福祉圏域マップを書き出します（既定: 高梁市）。

    1つのワークスペースには1つの市区町村が入ります。既に同じ市区町村があれば作り直さず（--replace で作り直し）、
    別の市区町村があれば隣に tsunagu_<コード>.gpkg を作ります（--workspace を指定したときは作らずに止まります）。
    """
    from api.importing import DEMO_CITY_CODE, build_city_workspace, city_name_of, find_data_dir
    from api.workspace_guard import demo_target
    from gis.nesting import DEFAULT_NESTING_THRESHOLD
    from gis.tiers import load_profile

    settings = _settings(workspace=workspace)
    code = city or DEMO_CITY_CODE
    try:
        folder = find_data_dir(data_dir or settings.data_dir)
        target = demo_target(settings.workspace, city_code=code, city_name=lambda: city_name_of(folder, code),
                             explicit=workspace is not None, replace=replace)
        if target.note:
            click.secho(target.note, fg="yellow")
        if not target.build:
            with _open(target.location, create=False) as store:
                out = Path(map_path) if map_path else _default_map_path(target.location, store.workspace()["city_code"])
                _write_tier_map(store, out)
            click.secho(f"地図: {out}", fg="green")
            return
        say = _steps(7)
        with _open(target.location) as store:
            summary = build_city_workspace(
                store,
                data_dir=folder,
                city_code=code,
                profile=load_profile(profile),
                threshold=threshold if threshold is not None else DEFAULT_NESTING_THRESHOLD,
                strict=strict_nesting,
                progress=say,
            )
            say("福祉圏域マップを作成中")
            out = Path(map_path) if map_path else _default_map_path(target.location, summary["city_code"])
            _write_tier_map(store, out)
    except _errors() as exc:
        _fail(exc)
    _print_summary(summary, target.location, out)


def _default_map_path(workspace: str, code: str) -> Path:
    if "://" in workspace:
        return Path(f"tier_map_{code}.html")
    return Path(workspace).resolve().parent / f"tier_map_{code}.html"


def _write_tier_map(store, out: Path) -> None:
    from api.maps import tier_map_html

    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(tier_map_html(store), encoding="utf-8")


def left_out_lines(left_out: list[dict]) -> list[str]:
    """Lines saying how many rows of each official file were left out, and why (counts only, no names)."""
    lines = []
    for entry in left_out:
        total = sum(entry["skipped"].values())
        if not total:
            lines.append(f"  {entry['file']}（{entry['title']}）: 除いた行はありません")
            continue
        reasons = "、".join(f"{reason} {n:,}件" for reason, n in
                           sorted(entry["skipped"].items(), key=lambda kv: -kv[1]))
        lines.append(f"  {entry['file']}（{entry['title']}）: {total:,}件を除きました（{reasons}）")
    return lines


def _print_summary(summary: dict, workspace: str, map_path: Path) -> None:
    report = summary["report"]
    click.echo("")
    click.secho(f"{summary['city_name']}（{summary['city_code']}）の福祉圏域", bold=True)
    labels = {e["level"]: e for e in report["levels"]}
    for key, n in summary["areas"].items():
        e = labels[key]
        pop = e["population"]
        unc = e.get("uncovered", {}).get("area_km2")
        extra = f"  未カバー {unc:.2f} km²" if unc else ""
        shown = f"{round(pop):,}" if isinstance(pop, (int, float)) else "不明"
        label = e["label"] + " " * max(0, 26 - _width(e["label"]))
        click.echo(f"  {label} {n:>5} 地域  人口 {shown:>8}{extra}")
    r = report["rollup"]
    total = f"{round(r['census_total']):,}" if isinstance(r["census_total"], (int, float)) else r["census_total"]
    click.echo(f"  国勢調査人口 {total}人: 各層の合計 {'一致' if r['ok'] else '不一致: ' + '; '.join(r['problems'])}")
    for p in report["pairs"]:
        if p["issues"]:
            click.echo(
                f"  {labels[p['child_level']]['label']} → {labels[p['parent_level']]['label']}: またがり {p['straddling']}, 境界越え {p.get('crossing', 0)}, "
                f"一部未カバー {p['partly_uncovered']}, 圏域外 {p['outside']}（詳細: tsunagu nesting）"
            )
    from gis.schema import RESOURCE_KINDS

    kinds = sorted(summary["resources"].items(), key=lambda kv: -kv[1])
    click.echo(f"  地域資源: {'、'.join(f'{RESOURCE_KINDS.get(k, k)} {v}' for k, v in kinds)}")
    click.echo(f"  拠点（サンプル）: {summary['stations']}")
    for line in left_out_lines(summary.get("left_out", [])):
        click.echo(line)
    for text in summary.get("missing", []):
        click.secho(f"  任意のファイルなし: {text}", fg="yellow")
    click.echo(f"ワークスペース: {workspace}")
    click.secho(f"地図: {map_path}", fg="green")
    click.echo("ブラウザで使うには: tsunagu users create-admin admin（パスワードを決める）→ tsunagu serve "
               "→ http://127.0.0.1:8000/web/ でログイン")


@main.command()
@click.option("--workspace", default=None, help="ワークスペース（.gpkg または postgresql:// URL）")
@click.option("--host", default=None)
@click.option("--port", type=int, default=None)
def serve(workspace, host, port) -> None:
    """ワークスペースの API とウェブ画面を起動します（FastAPI）。"""
    from api.app import serve as run

    run(_settings(workspace=workspace, host=host, port=port))


@main.command(name="jobs")
@click.option("--analysis", default=None, help="この解析のジョブだけ（例 salon-gaps）")
@click.option("--limit", type=click.IntRange(min=1), default=20, show_default=True, help="新しい順に何件まで")
@click.option("--workspace", default=None)
def jobs_(analysis, limit, workspace) -> None:
    """ジョブの一覧（新しい順）：ID・解析・シナリオ・状態・実行者・日時。ID は先頭 8 文字だけでも比較（二つのジョブの比べ合わせ）などに使えます。"""
    from api.analysis_registry import load_analyses
    from api.clock import japan_text
    from api.jobs import STATUS_LABELS
    from api.scenarios import scenario_label

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            city = store.workspace()["city_name"]
            records = store.list_jobs(analysis=analysis, limit=limit)
    except _errors() as exc:
        _fail(exc)
    registry = load_analyses()
    click.secho(f"{city} のジョブ（{len(records)} 件、新しい順）", bold=True)
    if not records:
        click.echo("  まだありません: tsunagu analyse salon-gaps などで解析を実行してください")
        return
    for r in records:
        spec = registry.get(r["analysis"])
        label = spec.label if spec else r["analysis"]
        click.echo(f"  {r['job_id'][:8]}  {label}  {scenario_label(r)}  "
                   f"{STATUS_LABELS.get(r['status'], r['status'])}  {r['created_by']}  {japan_text(r['created_at'])}")


@main.command(name="map")
@click.option("--workspace", default=None)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="出力 HTML")
def map_(workspace, out) -> None:
    """ワークスペースの福祉圏域マップを HTML に書き出します。"""

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            code = store.workspace()["city_code"]
            path = Path(out) if out else _default_map_path(settings.workspace, code)
            _write_tier_map(store, path)
    except _errors() as exc:
        _fail(exc)
    click.echo(f"地図: {path}")


@main.command()
@click.option("--workspace", default=None)
@click.option("--json", "as_json", is_flag=True, help="JSON で出力")
def nesting(workspace, as_json) -> None:
    """入れ子レポート：上の層にまたがる地域と、どの地区にも入らない部分を示します。"""

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            report = store.nesting_report()
    except _errors() as exc:
        _fail(exc)
    if report is None:
        _fail(TsunaguError("入れ子レポートがありません: 先に tsunagu demo を実行してください",
                           en="no nesting report: run tsunagu demo first"))
    if as_json:
        click.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    status_ja = {"straddles": "またがり", "crosses_boundary": "境界越え", "partly_uncovered": "一部未カバー", "outside": "圏域外"}
    for p in report["pairs"]:
        label = {e["level"]: e["label"] for e in report["levels"]}
        click.secho(f"{label[p['child_level']]} → {label[p['parent_level']]}（{p['children']} 地域）", bold=True)
        for i in p["issues"]:
            second = f", {i['second_parent_name']} {i['second_share']:.0%}" if i.get("second_parent_name") else ""
            click.echo(f"  {status_ja[i['status']]:<6} {i['name']}（{i['area_id']}）: {i['parent_name']} {i['share']:.0%}{second}")
    for e in report["levels"]:
        u = e.get("uncovered")
        if u and u["area_km2"]:
            click.secho(f"{e['label']} がカバーしない部分: {u['area_km2']} km²", bold=True)
            for part in u["parts"]:
                names = "、".join(s["name"] for s in part.get("small_areas", [])[:6])
                click.echo(f"  {part['area_km2']} km² ({part['lat']}, {part['lon']}) {names}")


@main.command(name="data")
@click.option("--city", default=None, help="市区町村コード（5桁、既定 33209 高梁市）")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="データフォルダ（既定: TSUNAGU_DATA_DIR、なければ ../shared/data）")
def data_files(city, data_dir) -> None:
    """市区町村に必要なオープンデータのファイル、その版と入手先、あるもの・ないものを一覧します。"""
    import os

    from api.datafiles import city_files, describe
    from api.importing import DEMO_CITY_CODE

    code = (city or DEMO_CITY_CODE).strip()
    if not (len(code) in (5, 6) and code.isdigit()):
        _fail_text(f"市区町村コード「{code}」は5桁の数字ではありません（例: 33209 高梁市）")
    code = code[:5]
    folder = Path(data_dir or os.environ.get("TSUNAGU_DATA_DIR") or _default_data_dir())
    name = None
    try:
        from api.importing import city_name_of

        name = city_name_of(folder, code)
    except Exception:  # noqa: BLE001 - without N03 the city is named by its code only
        pass
    statuses = city_files(folder, city_code=code, city_name=name)
    click.echo(f"{code} {name or ''}".rstrip() + " に必要なファイル")
    click.echo(describe(folder, statuses, city_code=code))
    if any(st.required and not st.present for st in statuses):
        raise SystemExit(1)
    from gis import opendata

    small = next(st for st in statuses if st.key == "small_areas").found[0]
    present = opendata.census_municipalities(small)
    if code not in set(present["code"]):
        listing = "、".join(f"{c} {n}" for c, n in zip(present["code"], present["name"]))
        click.secho(f"ただし {small.name} には {code} の小地域がありません（ある市区町村: {listing}）。"
                    f"{code} を含む小地域のファイルを置いてください", fg="red")
        raise SystemExit(1)


def _default_data_dir() -> Path:
    settings = _settings()
    if settings.data_dir:
        return Path(settings.data_dir)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _fail_text(text: str) -> None:
    click.secho(text, fg="red", err=True)
    raise SystemExit(2)


@main.command()
@click.option("--data-dir", type=click.Path(file_okay=False), default=None)
def municipalities(data_dir) -> None:
    """オープンデータのフォルダにある市区町村を一覧します。"""
    from api.importing import find_data_dir, list_municipalities

    try:
        table = list_municipalities(find_data_dir(data_dir or _settings().data_dir))
    except _errors() as exc:
        _fail(exc)
    for row in table.itertuples():
        click.echo(f"{row.code} {row.name}: {row.key_codes} 小地域, 人口 {row.population}")


@main.command()
def kinds() -> None:
    """地域資源と拠点の種別（日本語名・キー・分類・取り込みで使える別名）を一覧します。"""
    from gis import kinds as vocabulary

    groups = vocabulary.groups()
    for title, table in (("地域資源", vocabulary.resource_kinds()), ("拠点", vocabulary.station_kinds())):
        click.echo(f"{title}:")
        for kind in table.values():
            other = f"　別名: {'、'.join(kind.synonyms)}" if kind.synonyms else ""
            click.echo(f"  {kind.label}（{kind.key}）［{groups[kind.group]}］{other}")


@main.group(name="import")
def import_() -> None:
    """ワークスペースにデータを取り込みます（すべて取り込むか、何も取り込まないか）。"""


@import_.command(name="resources")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", default=None,
              help="種別（ファイルに種別列がないとき）: キーまたは日本語名（例: サロン、公民館、子ども食堂）。一覧は tsunagu kinds")
@click.option("--replace", is_flag=True, help="同じ種別の既存データを置き換える")
@click.option("--skip-unmatched", is_flag=True,
              help="住所だけの表で、町丁・字と照合できなかった行を除いて取り込む（除いた行数を表示）")
@click.option("--workspace", default=None)
@_as_option
def import_resources(path, kind, replace, skip_unmatched, workspace, acting) -> None:
    """地域資源の地点を取り込みます（CSV・Excel・GeoJSON・GeoPackage・ZIP の Shapefile）。

    緯度・経度がなく住所（住所・所在地・address）の列がある表は、住所から位置を求めます
    （jageocoder と住所辞書があればそれで、なければ町丁・字名との照合で町丁・字の代表点に）。
    """
    from api.analyses._words import kind_counts
    from api.importing import import_resource_file

    _act_as(acting)
    settings = _settings(workspace=workspace)
    try:
        _check_acting(settings.workspace)
        with _open(settings.workspace) as store:
            result = import_resource_file(store, path, kind=kind, replace=replace, skip_unmatched=skip_unmatched)
    except _errors() as exc:
        _fail(exc)
    if result.get("located"):
        click.echo(result["message"])
    for key, n in result["kinds"].items():
        click.echo(f"{kind_counts({key: n})}を取り込みました")
    if len(result["kinds"]) != 1:
        click.echo(f"合計 {result['imported']:,}件を取り込みました")


@import_.command(name="tier")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--level", required=True, help="置き換える層（例: kominkan）")
@click.option("--id-column", default=None, help="地区コードの列（ポリゴンの場合）")
@click.option("--name-column", default=None, help="地区名の列（ポリゴンの場合）")
@click.option("--strict-nesting", is_flag=True, help="2つの親にまたがる地域があればエラーにする")
@click.option("--repair-geometry", is_flag=True, help="不正なポリゴン（自己交差など）を修復して取り込む")
@click.option("--workspace", default=None)
def import_tier(path, level, id_column, name_column, strict_nesting, repair_geometry, workspace) -> None:
    """圏域の1つの層を、手元のポリゴンか「小地域 → 地区」の対応表（CSV・Excel）で置き換えます。"""
    from api.importing import import_tier_file

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace) as store:
            result = import_tier_file(store, path, level=level, id_column=id_column, name_column=name_column,
                                      strict=strict_nesting, repair=repair_geometry)
    except _errors() as exc:
        _fail(exc)
    issues = sum(len(p["issues"]) for p in result["report"]["pairs"])
    click.echo(f"{result['level']}: {result['areas']} 地域を取り込みました（入れ子の指摘 {issues} 件: tsunagu nesting）")


@import_.command(name="age-table")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--workspace", default=None)
def import_age(path, workspace) -> None:
    """e-Stat の小地域 年齢（5歳階級）別人口 CSV（Shift_JIS）を KEY_CODE で結合し、各層の 65歳以上・75歳以上を求めます。"""
    from api.importing import import_age_table

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace) as store:
            r = import_age_table(store, path)
    except _errors() as exc:
        _fail(exc)
    click.echo(f"65歳以上: {r['pop_65plus']} 人（{r['matched']} 小地域に結合、未結合 {len(r['unmatched'])}、秘匿 {len(r['suppressed'])}）")
    if r["rollup_problems"]:
        click.echo("集計の不一致: " + "; ".join(r["rollup_problems"]))


@import_.command(name="stations")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--kind", default=None, help="拠点の種別（ファイルに種別列がないとき）: キーまたは日本語名（例: 社協地域ステーション）")
@click.option("--workspace", default=None)
def import_stations(path, kind, workspace) -> None:
    """拠点（社協地域ステーション・地域包括支援センターなど）を取り込み、それまでの拠点（サンプルを含む）と置き換えます。

    CSV・Excel（緯度・経度の列）または GeoJSON・GeoPackage（点）。列: ID、名称、種別、住所、
    担当地域（地域IDか地域名を「、」区切りで。どの層の地域でも可）。1行でも問題があれば何も書き込みません。
    """
    from api.station_import import import_station_file

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace) as store:
            result = import_station_file(store, path, kind=kind)
    except _errors() as exc:
        _fail(exc)
    click.echo(result["message"])
    from gis.kinds import station_labels

    labels = station_labels()
    click.echo("種別: " + "、".join(f"{labels.get(k, k)} {n} か所" for k, n in result["kinds"].items()))


@import_.command(name="station-areas")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--workspace", default=None)
def import_station_areas_cmd(path, workspace) -> None:
    """拠点に担当地域を割り当てます（CSV・Excel）。列: 拠点（ID か名称）、担当地域（地域ID か地域名、「、」区切り可）。

    表に挙げた拠点は表の地域だけを担当し、挙げていない拠点はそのままです。1行でも問題があれば何も書き込みません。
    """
    from api.station_import import import_station_areas

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace) as store:
            result = import_station_areas(store, path)
    except _errors() as exc:
        _fail(exc)
    click.echo(result["message"])


# ---------------------------------------------------------------------- analyse


class _AnalysisGroup(click.Group):
    """``tsunagu analyse <name>``: one subcommand per registered analysis (api.analyses REGISTRY).

    ``tsunagu analyse --help`` lists them from :data:`api.analysis_catalogue.CATALOGUE` without
    importing one (they pull in geopandas, OR-Tools and PyVRP); an analysis's module is imported
    when it runs or shows its own help (its parameters).
    """

    def list_commands(self, ctx):
        from api.analysis_registry import listed_analyses

        return list(listed_analyses())

    def get_command(self, ctx, name):
        from api.analysis_registry import load_analysis

        spec = load_analysis(name)
        return None if spec is None else _analysis_command(spec)

    def format_commands(self, ctx, formatter):
        import click.core

        from api.analysis_registry import listed_analyses

        rows = list(listed_analyses().items())  # (name, Japanese name): the short help each command gives
        if rows:
            with formatter.section(click.core._("Commands")):  # click's word, in the language api.cli_ja set
                formatter.write_dl(rows)


def _param_help(spec) -> str:
    lines = []
    for key, prop in spec.params.model_json_schema().get("properties", {}).items():
        f = spec.params.model_fields[key]
        default = "" if f.is_required() else f"（既定 {f.get_default(call_default_factory=True)!r}）"
        lines.append(f"  {key}: {prop.get('description') or prop.get('title') or ''}{default}")
    return "\n".join(lines) or "  （なし）"


def _analysis_command(spec) -> click.Command:
    from api.analysis_registry import analysis_name

    name = analysis_name(spec.name, spec.label)
    title = name if name == spec.label else f"{name}：{spec.label}"
    @click.command(
        name=spec.name,
        help=f"{title}\n\nパラメータ（--param key=value、複数可）:\n\n\b\n{_param_help(spec)}",
        short_help=name,
    )
    @click.option("--param", "-p", "pairs", multiple=True, metavar="KEY=VALUE", help="解析のパラメータ（繰り返し可）")
    @click.option("--workspace", default=None, help="ワークスペース（.gpkg または postgresql:// URL）")
    @click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="オープンデータのフォルダ")
    @click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
                  help="出力フォルダ（既定: ワークスペースの隣の jobs/<名前>-<ID>/）")
    @click.option("--all-municipalities", is_flag=True, help="データフォルダの全市区町村で実行し、1つの表にまとめる（Dask）")
    @click.option("--only", default=None, help="--all-municipalities の対象を市区町村コードで絞る（カンマ区切り）")
    @click.option("--scheduler", default=None, metavar="ADDRESS", help="Dask スケジューラのアドレス（tcp://host:8786）")
    @click.option("--workers", type=click.IntRange(min=1), default=2, show_default=True,
                  help="LocalCluster のワーカー数（プロセス）")
    @click.option("--scenario", default=None, help="保存したシナリオの上で実行（tsunagu scenario list）")
    @click.option("--json", "as_json", is_flag=True, help="結果を JSON で出力（集計値は丸める前の値のまま）")
    @_as_option
    def command(pairs, workspace, data_dir, out_dir, all_municipalities, only, scheduler, workers, scenario, as_json,
                acting, **options):
        from api.jobs import parse_param_pairs

        _act_as(acting)
        try:
            params = parse_param_pairs(spec, pairs)
            for name, (_, to_params) in _cli_options(spec).items():
                params.update(to_params(options[name.replace("-", "_")]))
            if scenario:
                if all_municipalities:
                    raise click.UsageError(_in_language("--scenario と --all-municipalities は同時に使えません", en="--scenario and --all-municipalities cannot be used together"))
                params["scenario"] = scenario
            if all_municipalities:
                _analyse_all(spec, params, data_dir=data_dir, out_dir=out_dir, workspace=workspace,
                             scheduler=scheduler, workers=workers, only=only)
            else:
                _analyse_one(spec, params, data_dir=data_dir, out_dir=out_dir, workspace=workspace, as_json=as_json)
        except _errors() as exc:
            _fail(exc)

    for name, (settings, _) in _cli_options(spec).items():
        command = click.option(f"--{name}", **{k: v for k, v in settings.items() if v is not None})(command)
    return command


def _cli_options(spec) -> dict:
    """Options an analysis adds to ``--param`` (``cli_options`` of its parameter model: name → (click settings, to params))."""
    return dict(getattr(spec.params, "cli_options", None) or {})


def _jobs_root(workspace: str) -> Path:
    return Path("jobs") if "://" in workspace else Path(workspace).resolve().parent / "jobs"


def _analyse_one(spec, params: dict, *, data_dir, out_dir, workspace, as_json: bool = False) -> None:
    from tqdm import tqdm

    from api.jobs import job_words, run_job, who, write_job_outputs

    settings = _settings(workspace=workspace)
    _check_acting(settings.workspace)
    folder = _data_dir_or_none(data_dir)
    with _open(settings.workspace, create=False) as store, \
            tqdm(total=100, desc=spec.label, unit="%", bar_format="{desc}: {percentage:3.0f}%|{bar}| {postfix}") as bar:
        def progress(fraction: float, message: str) -> None:
            bar.n = round(100 * fraction)
            bar.set_postfix_str(message, refresh=False)
            bar.refresh()

        job_id = run_job(store, spec.name, params, data_dir=folder, created_by=who(), progress_cb=progress)
        record = store.get_job(job_id)
        if record["status"] != "done":
            bar.close()
            _fail(TsunaguError(f"{spec.label}（ジョブ {job_id[:8]}）は失敗しました: {record['error']}",
                               en=f"{spec.name} (job {job_id[:8]}) failed: {record['error']}"))
        out = Path(out_dir) if out_dir else _jobs_root(settings.workspace) / f"{spec.name}-{job_id[:8]}"
        written = write_job_outputs(store, record, out)
        workspace_row = store.workspace()
    if as_json:
        click.echo(json.dumps({**record, **job_words(record), "outputs": {k: str(p) for k, p in written.items()}},
                              ensure_ascii=False, indent=2, default=str))
        return
    _print_job(spec, {**record, "_workspace": workspace_row}, written, out)


def _width(text: str) -> int:
    import unicodedata

    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in text)


def figure_table(figures: list[dict]) -> list[str]:
    """The 集計値 rows: Japanese label padded to one column, value right-aligned with its unit."""
    from api.analyses._words import format_value

    if not figures:
        return []
    left = max(_width(f["label"]) for f in figures)
    values = [format_value(f) for f in figures]
    right = max(_width(v) for v in values)
    return [f"  {f['label']}{' ' * (left - _width(f['label']))}  {' ' * (right - _width(v))}{v}"
            for f, v in zip(figures, values)]


def _print_job(spec, record: dict, written: dict, out: Path) -> None:
    from api.clock import japan_text
    from api.jobs import job_city, job_words
    from api.scenarios import scenario_label

    words = job_words(record)
    city = job_city(record, record.get("_workspace"))
    click.echo("")
    click.secho(f"{spec.label}（ジョブ {record['job_id'][:8]}）", bold=True)
    where = f"{city['city_name']}（{city['city_code']}）" if city["city_name"] != city["city_code"] else city["city_code"]
    click.echo(f"  {where}、{scenario_label(record)}、実行者 {record['created_by']}、"
               f"{japan_text(record['finished_at'])}、データ版 {record['data_version']}")
    click.echo("")
    click.secho(words["headline"], bold=True)
    if words["figures"]:
        click.echo("集計値:")
        for line in figure_table(words["figures"]):
            click.echo(line)
    if record["notes"]:
        click.echo("注記:")
        for note in record["notes"]:
            click.echo(f"  ・{note}")
    click.echo(f"表: {', '.join(str(p.name) for k, p in written.items() if k not in ('map', 'job'))}")
    if "map" in written:
        click.secho(f"地図: {written['map']}", fg="green")
    click.secho(f"出力: {out}", fg="green")


def _analyse_all(spec, params: dict, *, data_dir, out_dir, workspace, scheduler, workers, only) -> None:
    from api.clock import now_japan
    from api.fanout import run_all_municipalities
    from api.importing import find_data_dir
    from api.opendata_cache import default_folder

    settings = _settings(workspace=workspace)
    folder = find_data_dir(data_dir or settings.data_dir)
    stamp = now_japan().strftime("%Y%m%d-%H%M%S")
    out = Path(out_dir) if out_dir else _jobs_root(settings.workspace) / f"{spec.name}-all-{stamp}"
    codes = [c.strip() for c in only.split(",") if c.strip()] if only else None
    where = f"スケジューラ {scheduler}" if scheduler else f"LocalCluster {workers} ワーカー"
    click.echo(f"{spec.label}: 全市区町村で実行します（{where}）")
    result = run_all_municipalities(spec.name, params, data_dir=folder, out_dir=out, workers=workers,
                                    scheduler=scheduler, codes=codes,
                                    cache_dir=settings.opendata_cache or default_folder())
    click.echo("")
    for row in result.runs.itertuples(index=False):
        err = f"  {row[6]}" if row[6] else ""
        click.echo(f"  {row[0]} {row[1]:<10} {row[2]}  {row[5]} 秒{err}")
    for note in result.notes:
        click.echo(f"  ・{note}")
    click.echo(f"所要時間 {result.wall_seconds:.1f} 秒")
    click.secho(f"結合表: {result.paths['csv']}  {result.paths['xlsx']}", fg="green")
    if (result.runs["状態"] != "完了").any():
        sys.exit(1)


@main.group(name="analyse", cls=_AnalysisGroup)
def analyse() -> None:
    """解析をジョブとして実行し保存します（表は CSV と Excel、地図は HTML）。--all-municipalities で全市区町村を並列に実行（Dask）。"""


if __name__ == "__main__":
    main()
