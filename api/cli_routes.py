"""`tsunagu routes …`: mobile-sales stops and weekly routes, CSW outreach routes."""

from __future__ import annotations

import click


@click.group()
def routes() -> None:
    """ルート計画：移動販売の停留所と週間ルート、CSW の訪問ルート。"""


def _attach() -> None:
    # Each planner lives in its own module; a missing one simply has no subcommand.
    for module, name in (("api.cli_mobile_sales", "mobile_sales"), ("api.cli_outreach", "outreach")):
        try:
            mod = __import__(module, fromlist=[name])
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            continue
        routes.add_command(getattr(mod, name))


_attach()
