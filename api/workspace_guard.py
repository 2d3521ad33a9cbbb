"""One city per workspace, and no rebuild under a running server.

``tsunagu demo`` used to replace whatever the workspace held: building 倉敷市 while a 高梁市
server ran wiped the salons added on its map. :func:`demo_target` decides where a build goes:

* the workspace is new or empty → build there;
* it holds the same city → keep it (its edits and jobs), only redraw the map — ``--replace`` rebuilds;
* it holds another city → a new GeoPackage named by the city beside it (``tsunagu_<code>.gpkg``),
  when the workspace was not named on the command line; otherwise refuse unless ``--replace``.

A server (``tsunagu serve``) holds a shared lock on its workspace folder
(:func:`serving_folder`); a ``--replace`` there is refused while it runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gis.errors import TsunaguError

#: Lock file a running server holds in its workspace folder.
SERVER_LOCK = ".tsunagu-server.lock"


class WorkspaceInUse(TsunaguError):
    """A workspace that holds data this command would overwrite (the message says how to go on)."""


@dataclass(frozen=True)
class DemoTarget:
    """Where ``tsunagu demo`` builds: ``location``, and ``build`` False when it keeps what is there."""

    location: str
    build: bool
    note: str | None = None


def _is_url(location: str) -> bool:
    return str(location).startswith(("postgresql://", "postgresql+psycopg://", "postgres://"))


def _city_of(location: str) -> tuple[str, str] | None:
    """``(code, name)`` of the city a workspace holds, or None for a new or empty one."""
    from api.store.connect import open_store
    from api.store.errors import StoreError, WorkspaceNotInitialised

    if not _is_url(location) and not Path(location).expanduser().exists():
        return None
    try:
        with open_store(location, create=_is_url(location)) as store:
            ws = store.workspace()
    except WorkspaceNotInitialised:
        return None
    except StoreError:
        if _is_url(location):
            raise
        return None  # not a workspace yet (an empty or unfinished file): built over
    return str(ws["city_code"]), str(ws["city_name"])


def city_workspace_path(location: str, city_code: str) -> str:
    """The GeoPackage for ``city_code`` beside ``location``: ``<folder>/tsunagu_<code>.gpkg``."""
    return str(Path(location).expanduser().parent / f"tsunagu_{city_code}.gpkg")


def demo_target(location: str, *, city_code: str, city_name: str | Callable[[], str], explicit: bool,
                replace: bool) -> DemoTarget:
    """Where to build ``city_code``; raises :class:`WorkspaceInUse` rather than overwrite another city.

    Parameters
    ----------
    location
        The workspace asked for (a ``.gpkg`` path or a PostgreSQL URL).
    city_code, city_name
        The city to build; the name may be a function (read only when a message needs it, and
        raising for a code the data does not hold).
    explicit
        The workspace was named on the command line (``--workspace``): never redirected.
    replace
        ``--replace``: rebuild even if the workspace holds data (refused while a server runs).
    """
    held = _city_of(location)
    if held is None:
        return DemoTarget(location, build=True)
    code, name = held
    if callable(city_name):
        city_name = city_name()
    if replace:
        refuse_if_served(location)
        note = f"{name}（{code}）のデータを {city_name}（{city_code}）で置き換えます（--replace）"
        return DemoTarget(location, build=True, note=note)
    if code == city_code:
        note = (f"{location} には既に {name}（{code}）のワークスペースがあります。追加した資源やジョブを残すため"
                "作り直さず、地図だけを書き直します（オープンデータから作り直すには --replace）")
        return DemoTarget(location, build=False, note=note)
    if explicit or _is_url(location):
        msg = (f"{location} には {name}（{code}）のデータがあるため、{city_name}（{city_code}）は作りません"
               "（1つのワークスペースには1つの市区町村）")
        hint = ("別のファイルを --workspace で指定するか（例: --workspace "
                f"{city_workspace_path(location, city_code) if not _is_url(location) else '別のデータベース'}）、"
                f"{name} のデータを消してよいときだけ --replace を付けてください")
        en = (f"{location} holds {code} data, so {city_code} is not built there (one city per workspace) — "
              f"name another file with --workspace, or add --replace only if the {code} data may be deleted")
        raise WorkspaceInUse(f"{msg} — {hint}", en=en)
    other = city_workspace_path(location, city_code)
    inner = demo_target(other, city_code=city_code, city_name=city_name, explicit=True, replace=False)
    note = (f"{location} には {name}（{code}）のデータがあるので、{city_name}（{city_code}）は別のワークスペース "
            f"{other} に{'作ります' if inner.build else 'あるものを使います'}。使うときは --workspace {other}"
            "（tsunagu serve では画面のワークスペース切り替えで選べます）")
    return DemoTarget(other, build=inner.build, note=note)


def _lock_path(location: str) -> Path:
    return Path(location).expanduser().resolve().parent / SERVER_LOCK


@contextlib.contextmanager
def serving_folder(location: str) -> Iterator[None]:
    """Hold the folder's server lock (shared: several servers may serve one folder) while the block runs."""
    if _is_url(location):
        yield
        return
    path = _lock_path(location)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+", encoding="utf-8") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def server_running(location: str) -> bool:
    """True while a ``tsunagu serve`` holds the workspace folder of ``location``."""
    if _is_url(location):
        return False
    path = _lock_path(location)
    if not path.exists():
        return False
    with open(path, "a+", encoding="utf-8") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fh, fcntl.LOCK_UN)
    return False


def refuse_if_served(location: str) -> None:
    """Raise :class:`WorkspaceInUse` while a server has the workspace folder open."""
    if server_running(location):
        msg = (f"{location} は tsunagu serve が開いているため置き換えられません"
               f"（{os.path.basename(str(location))} の編集やジョブが消えてしまいます）")
        en = f"{location} is open in tsunagu serve and cannot be replaced — stop the server, then rebuild with --replace"
        raise WorkspaceInUse(f"{msg} — サーバーを止めてから --replace で作り直してください", en=en)
