"""A click group whose subcommands are imported only when they run.

``tsunagu --help`` lists every command from its name and its one-line help, which the group keeps
itself, so listing them imports nothing but click (the planners pull in geopandas, OR-Tools and
PyVRP; the account commands argon2 and SQLAlchemy).
"""

from __future__ import annotations

import importlib

import click


class LazyGroup(click.Group):
    """A :class:`click.Group` with subcommands given as ``"module:attribute"`` strings.

    Parameters
    ----------
    lazy_subcommands
        ``{name: ("package.module:attribute", one-line help)}``; the module is imported the first
        time the subcommand is looked up to run it (or to show its own help).
    """

    def __init__(self, *args, lazy_subcommands: dict[str, tuple[str, str]] | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.lazy_subcommands = dict(lazy_subcommands or {})

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy_subcommands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy_subcommands and cmd_name not in self.commands:
            target, _ = self.lazy_subcommands[cmd_name]
            module, attribute = target.split(":")
            command = getattr(importlib.import_module(module), attribute)
            self.add_command(command, cmd_name)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = []
        for name in self.list_commands(ctx):
            if name in self.lazy_subcommands and name not in self.commands:
                rows.append((name, self.lazy_subcommands[name][1]))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(formatter.width - 6 - len(name))))
        if rows:
            # click's own word, through the gettext that api.cli_ja points at its catalogue
            # (Japanese) or leaves as click's English (--lang en / TSUNAGU_LANG=en)
            with formatter.section(click.core._("Commands")):
                formatter.write_dl(rows)
