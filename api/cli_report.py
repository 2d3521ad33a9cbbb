"""`tsunagu report`: area reports (地域カルテ) of one area or every area of a tier, as PDF, HTML or Excel."""

from __future__ import annotations

from pathlib import Path

import click

from api.cli_common import data_dir_or_none, expected_errors, fail, open_workspace, settings


@click.command(name="report")
@click.option("--level", required=True,
              help="階層（例: junior_high 中学校区、kominkan 公民館区）。catchment は拠点ごとの担当圏域")
@click.option("--area", "area_id", default=None,
              help="1つの地域だけ（地域ID、catchment では拠点ID）。省略すると階層のすべての地域を1つのファイルに")
@click.option("--format", "fmt", type=click.Choice(["pdf", "html", "xlsx"]), default="pdf", show_default=True,
              help="出力形式（PDF・印刷用 HTML・Excel は地域ごとに1シート）")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="出力ファイル（既定: 地域カルテ_<市>_<階層>.<形式> を今のフォルダに）")
@click.option("--workspace", default=None, help="ワークスペース（.gpkg または postgresql:// URL）")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None, help="オープンデータのフォルダ")
@click.option("--scenario", default=None, help="保存したシナリオ: 各指標にシナリオの値と差を並べる（tsunagu scenario list）")
def report(level, area_id, fmt, out, workspace, data_dir, scenario) -> None:
    """地域カルテ：地域ごとの人口・地域資源・サロン・買い物弱者などを上位の地域・市全域と並べて PDF・HTML・Excel に。

    人口・世帯、65歳以上・75歳以上（出典か推計かを明記）、種別ごとの地域資源、サロンの徒歩圏、買い物弱者、
    移動販売の停留所と週あたりの訪問回数、訪問先の世帯数（少数は秘匿）を載せます。
    数値はサロンの空白地域・買い物弱者のジョブ（既定のパラメータ）と同じ計算です。
    """
    from api.jobs import who
    from api.private import Viewer
    from api.reports import build_reports, file_name, render

    conf = settings(workspace=workspace)
    try:
        with open_workspace(conf.workspace, create=False) as store:
            reports = build_reports(store, level=level, area_id=area_id,
                                    data_dir=data_dir_or_none(data_dir), viewer=Viewer(f"cli:{who()}", "viewer"),
                                    k=int(conf.small_cell_k), scenario=scenario)
            body = render(reports, fmt)
    except expected_errors() as exc:
        fail(exc)
    path = Path(out) if out else Path(file_name(reports, fmt))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    what = reports[0].name if len(reports) == 1 else f"{reports[0].level_label} {len(reports)} 地域"
    click.secho(f"地域カルテ（{what}）: {path}", fg="green")
