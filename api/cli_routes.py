"""`tsunagu routes …`: mobile-sales stops and weekly routes, CSW outreach routes."""

from __future__ import annotations

import click

from api.cli_lazy import LazyGroup

#: Each planner lives in its own module, imported when it runs: (module:attribute, one-line help).
PLANNERS = {
    "mobile-sales": ("api.cli_mobile_sales:mobile_sales",
                     "移動販売：買い物弱者から停留所を提案し、週間ルート・時刻表（HTML/CSV/Excel/GPX）・地図を作ります。"),
    "outreach": ("api.cli_outreach:outreach",
                 "CSW の訪問ルート：拠点から各 CSW の1日の訪問順・時刻を計画（訪問先は要配慮個人情報として別保管）。"),
}


@click.group(cls=LazyGroup, lazy_subcommands=PLANNERS)
def routes() -> None:
    """ルート計画：移動販売の停留所と週間ルート、CSW の訪問ルート。"""
