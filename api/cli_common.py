"""Helpers every ``tsunagu`` subcommand shares: settings, opening the store, failing with a message.

Kept apart from :mod:`api.cli` so that the subcommand modules (routes, users, worker) import these
and :mod:`api.cli` imports them, never each other.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click


def settings(**overrides):
    """:class:`api.settings.Settings` with the options the user gave (``None`` = not given)."""
    from api.settings import Settings

    return Settings(**{k: v for k, v in overrides.items() if v is not None})


def open_workspace(workspace: str, *, create: bool = True):
    """Open the workspace store; a new GeoPackage gets its folder created."""
    from api.store.connect import open_store

    if create and "://" not in workspace:
        Path(workspace).expanduser().resolve().parent.mkdir(parents=True, exist_ok=True)
    return open_store(workspace, create=create)


def expected_errors() -> tuple[type[Exception], ...]:
    """The errors a command reports as a message (anything else is a bug and shows its traceback)."""
    from api.store.errors import StoreError
    from gis.errors import TsunaguError

    return (TsunaguError, StoreError)


def fail(exc: Exception) -> None:
    """Print the error in red on stderr (in English with ``--lang en``) and exit with status 2."""
    from gis.errors import wants_english

    click.secho(f"{'Error' if wants_english() else 'エラー'}: {exc}", fg="red", err=True)
    sys.exit(2)


def in_language(japanese: str, *, en: str) -> str:
    """The text of a click error in the user's language: Japanese, or ``en`` with ``--lang en`` / ``TSUNAGU_LANG=en``.

    click's own usage errors take a finished string; this picks it the way :class:`gis.errors.TsunaguError` does.
    """
    from gis.errors import wants_english

    return en if wants_english() else japanese


def set_language(ctx: click.Context, param: click.Parameter, value: str | None) -> None:
    """``--lang``: set ``TSUNAGU_LANG`` for this process (``en`` also gives click back its English)."""
    import os

    from gis.errors import LANG_ENV

    if not value:
        return
    os.environ[LANG_ENV] = value
    from api import cli_ja

    if value == "en":
        cli_ja.uninstall()
    else:
        cli_ja.install()


def steps(total: int):
    """A ``say(message)`` that prints ``[i/total] message…``."""
    state = {"i": 0}

    def say(msg: str) -> None:
        state["i"] += 1
        click.echo(f"[{state['i']}/{total}] {msg}…")

    return say


def data_dir_or_none(explicit):
    """The open-data folder (the option, ``TSUNAGU_DATA_DIR`` or ``../shared/data``), or None."""
    from api.importing import find_data_dir
    from gis.errors import DataNotFoundError

    try:
        return find_data_dir(explicit or settings().data_dir)
    except DataNotFoundError:
        return None
