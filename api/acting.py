"""Who is acting at the command line: the name jobs and imports are credited to.

In order: the ``--as USER`` option (:func:`act_as`), the ``TSUNAGU_USER`` environment variable,
the OS user mapped to an account by ``TSUNAGU_USER_MAP`` (``os_user=account,…``, e.g. ``root=admin``),
else the OS user's own name (an account of the same name is that account).
"""

from __future__ import annotations

import getpass
import os
from pathlib import Path

_chosen: dict[str, str | None] = {"name": None}


def act_as(name: str | None) -> None:
    """Credit what this process does to ``name`` (the CLI's ``--as``); None forgets it."""
    _chosen["name"] = name.strip() if name and name.strip() else None


def chosen() -> str | None:
    """The name given with ``--as`` or ``TSUNAGU_USER`` (None when neither was)."""
    return _chosen["name"] or os.environ.get("TSUNAGU_USER", "").strip() or None


def os_user() -> str:
    """The operating-system user running this process (「不明」 in containers without one)."""
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no user name in some containers
        return "不明"


def user_map(text: str | None = None) -> dict[str, str]:
    """``TSUNAGU_USER_MAP`` (``root=admin, taro=tanaka``) as OS user → account name."""
    text = os.environ.get("TSUNAGU_USER_MAP", "") if text is None else text
    out = {}
    for pair in text.split(","):
        left, sep, right = pair.partition("=")
        if sep and left.strip() and right.strip():
            out[left.strip()] = right.strip()
    return out


def account_names(workspace: str | None) -> list[str] | None:
    """The accounts beside ``workspace`` (a GeoPackage), or None when it has no account store yet."""
    if not workspace or "://" in str(workspace):
        return None
    from api.accounts import accounts_path

    path = accounts_path(workspace)
    if not Path(path).is_file():
        return None
    from api.accounts import open_account_store

    store = open_account_store(path)
    try:
        return [u["username"] for u in store.list_users()]
    finally:
        store.close()


def acting_user(*, workspace: str | None = None) -> str:
    """The name to credit: ``--as``, ``TSUNAGU_USER``, the mapped OS user, or the OS user (see the module)."""
    name = chosen()
    if name:
        return name
    me = os_user()
    return user_map().get(me, me)


def check_acting_user(name: str, *, workspace: str | None) -> str:
    """``name`` when it is an account of the workspace (or the workspace has none yet); a Japanese error otherwise."""
    names = account_names(workspace)
    if names is None or name in names:
        return name
    from gis.errors import InputDataError

    known = "、".join(names) or "（なし）"
    msg = f"アカウント「{name}」はありません（あるアカウント: {known}）"
    raise InputDataError(msg, hint="--as にはアカウント名を指定してください（一覧: tsunagu users list）",
                         en=f"no account {name!r} (accounts: {known})",
                         hint_en="give --as an account name (list: tsunagu users list)")
