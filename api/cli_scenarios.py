"""`tsunagu scenario create|list|show|delete` and `tsunagu compare A B`."""

from __future__ import annotations

import json
from pathlib import Path

import click

from api.cli_common import expected_errors as _errors
from api.cli_common import fail as _fail
from api.cli_common import in_language as _in_language
from api.cli_common import open_workspace as _open
from api.cli_common import settings as _settings


@click.group(name="scenario")
def scenario() -> None:
    """シナリオ：資源の追加・移動・削除などの変更を名前を付けて保存します（基本データは変えません）。

    \b
    例:
      tsunagu scenario create サロン3か所 --add "salon,新サロン1,133.61,34.79" --remove shop-0012
      tsunagu analyse salon-gaps --scenario サロン3か所
      tsunagu compare <基準のジョブID> <シナリオのジョブID>
    """


def _lonlat(text: str, option: str) -> tuple[float, float]:
    try:
        lon, lat = (float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(_in_language(f"「{text}」は 経度,緯度 の形ではありません（例 133.61,34.79）", en=f"{text!r} is not of the form longitude,latitude (e.g. 133.61,34.79)"), param_hint=option) from None
    return lon, lat


@scenario.command(name="create")
@click.argument("name")
@click.option("--file", "json_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="変更を書いた JSON（{\"changes\": [...], \"params\": {...}}）")
@click.option("--add", "adds", multiple=True, metavar="種類,名前,経度,緯度",
              help="資源を追加（例 salon,新サロン,133.61,34.79、複数可）")
@click.option("--move", "moves", multiple=True, metavar="ID=経度,緯度", help="資源を移動（複数可）")
@click.option("--remove", "removes", multiple=True, metavar="ID", help="資源を削除（閉店・閉所、複数可）")
@click.option("--param", "-p", "pairs", multiple=True, metavar="KEY=VALUE",
              help="解析のパラメータを変える（例 elderly_share=0.4、threshold_m=800）")
@click.option("--description", default="", help="説明")
@click.option("--replace", is_flag=True, help="同じ名前のシナリオを置き換える")
@click.option("--workspace", default=None, help="ワークスペース（.gpkg または postgresql:// URL）")
def create(name, json_file, adds, moves, removes, pairs, description, replace, workspace) -> None:
    """シナリオを作って保存します。"""
    from api.jobs import who
    from api.scenarios import new_scenario

    data: dict = {"name": name, "description": description, "changes": [], "params": {}}
    if json_file:
        try:
            loaded = json.loads(Path(json_file).read_text(encoding="utf-8-sig"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise click.BadParameter(_in_language(f"JSON を読めません（{exc}）", en=f"cannot read the JSON ({exc})"), param_hint="--file") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter(_in_language("JSON は {\"changes\": [...]} の形にしてください", en='give the JSON in the form {"changes": [...]}'), param_hint="--file")
        data["changes"] += list(loaded.get("changes") or [])
        data["params"].update(loaded.get("params") or {})
        data["description"] = description or str(loaded.get("description") or "")
    for text in adds:
        parts = [p.strip() for p in text.split(",")]
        if len(parts) != 4:
            raise click.BadParameter(_in_language(f"「{text}」は 種類,名前,経度,緯度 の形ではありません", en=f"{text!r} is not of the form kind,name,longitude,latitude"), param_hint="--add")
        lon, lat = _lonlat(",".join(parts[2:]), "--add")
        data["changes"].append({"action": "add", "kind": parts[0], "name": parts[1], "lon": lon, "lat": lat})
    for text in moves:
        rid, _, where = text.partition("=")
        lon, lat = _lonlat(where, "--move")
        data["changes"].append({"action": "move", "resource_id": rid.strip(), "lon": lon, "lat": lat})
    for rid in removes:
        data["changes"].append({"action": "remove", "resource_id": rid.strip()})
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(_in_language(f"「{pair}」は KEY=VALUE の形ではありません", en=f"{pair!r} is not of the form KEY=VALUE"), param_hint="--param")
        try:
            data["params"][key.strip()] = json.loads(value)
        except json.JSONDecodeError:
            data["params"][key.strip()] = value
    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            record = new_scenario(store, data, created_by=who(), replace=replace)
    except _errors() as exc:
        _fail(exc)
    click.secho(f"シナリオ「{record['name']}」を保存しました（変更 {len(record['changes'])} 件）", fg="green")
    click.echo(f"  実行: tsunagu analyse salon-gaps --scenario {record['name']}")


@scenario.command(name="list")
@click.option("--workspace", default=None)
def list_(workspace) -> None:
    """保存したシナリオの一覧。"""
    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            rows = store.scenarios()
    except _errors() as exc:
        _fail(exc)
    if not rows:
        click.echo("シナリオはまだありません（tsunagu scenario create で作れます）")
        return
    for r in rows:
        click.echo(f"  {r['name']}  変更 {len(r.get('changes') or [])} 件  作成 {r.get('created_by') or '-'}"
                   f"  {r.get('description') or ''}")


@scenario.command(name="show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="JSON で出力")
@click.option("--workspace", default=None)
def show(name, as_json, workspace) -> None:
    """シナリオの内容。"""
    from api.scenarios import scenario_record
    from gis.scenarios import PARAMETERS, scenario_changes_table, scenario_from_dict

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            record = scenario_record(store, name)
            table = scenario_changes_table(store.resources(), scenario_from_dict(record))
    except _errors() as exc:
        _fail(exc)
    if as_json:
        click.echo(json.dumps(record, ensure_ascii=False, indent=2))
        return
    click.secho(f"シナリオ「{record['name']}」", bold=True)
    if record.get("description"):
        click.echo(f"  {record['description']}")
    for row in table.itertuples(index=False):
        place = f"（{row.経度}, {row.緯度}）" if row.経度 is not None else ""
        click.echo(f"  {row.番号}. {row.操作} {row.種類 or ''} {row.名称 or ''} [{row.地域資源ID}] {place}")
    for key, value in (record.get("params") or {}).items():
        click.echo(f"  パラメータ {PARAMETERS.get(key, key)}: {value}")


@scenario.command(name="delete")
@click.argument("name")
@click.option("--workspace", default=None)
def delete(name, workspace) -> None:
    """シナリオを削除します（そのシナリオで実行したジョブの結果は残ります）。"""
    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            gone = store.delete_scenario(name)
    except _errors() as exc:
        _fail(exc)
    if not gone:
        from gis.errors import TsunaguError

        _fail(TsunaguError(f"シナリオ「{name}」はありません", en=f"no scenario {name!r}"))
    click.secho(f"シナリオ「{name}」を削除しました", fg="green")


@click.command(name="compare")
@click.argument("job_a")
@click.argument("job_b")
@click.option("--out", "out_path", type=click.Path(dir_okay=False), default=None,
              help="差の表（Excel、既定: ワークスペースの隣の jobs/compare-<A>-<B>.xlsx）")
@click.option("--workspace", default=None)
def compare(job_a, job_b, out_path, workspace) -> None:
    """二つのジョブ（基準とシナリオなど）の結果を地域ごとに比べます（差の表と地図）。

    JOB_A が基準、JOB_B が比較（差 = B − A）。
    """
    from api.comparisons import compare_jobs, comparison_excel
    from api.scenarios import job_scenario_name
    from gis.comparison import GAINED, LOST

    settings = _settings(workspace=workspace)
    try:
        with _open(settings.workspace, create=False) as store:
            result = compare_jobs(store, job_a, job_b)
    except _errors() as exc:
        _fail(exc)
    a, b = result["base"], result["other"]
    click.secho(f"比較: {a['analysis']}", bold=True)
    click.echo(f"  基準 A: ジョブ {a['job_id'][:8]}（{job_scenario_name(a) or '基本データ'}）")
    click.echo(f"  比較 B: ジョブ {b['job_id'][:8]}（{job_scenario_name(b) or '基本データ'}）")
    for name, table in result["changes"].items():
        counts = table["変化"].value_counts()
        click.echo(f"  {name}: 指標「{table['指標'].iloc[0]}」 改善 {int(counts.get(GAINED, 0))} 地域、"
                   f"悪化 {int(counts.get(LOST, 0))} 地域")
        moved = table[table["変化"].isin([GAINED, LOST])].sort_values("差")
        for row in moved.head(8).itertuples(index=False):
            label = getattr(row, "名称", None) or getattr(row, "地域ID", "")
            level = getattr(row, "階層", None)
            label = f"{level} {label}" if level else label  # names repeat across tiers (中学校区 and 公民館区)
            click.echo(f"    {label}: {row.基準:,.1f} → {row.比較:,.1f}（{row.差:+,.1f}、{row.変化}）")
    if out_path is None:
        root = Path("jobs") if "://" in settings.workspace else Path(settings.workspace).resolve().parent / "jobs"
        out_path = root / f"compare-{a['job_id'][:8]}-{b['job_id'][:8]}.xlsx"
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    out_path.write_bytes(comparison_excel(result))
    click.secho(f"差の表: {out_path}", fg="green")


__all__ = ["compare", "scenario"]
