"""Request dependencies: the app's settings and its (lazily opened, cached) store."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from api.settings import Settings
from api.store.base import Store
from api.store.connect import open_store

_open_lock = threading.Lock()
_runner_lock = threading.Lock()


def get_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    return request.app.state.settings


def chosen_workspace(request: Request) -> str:
    """Name of the workspace this request works on (``X-Tsunagu-Workspace`` / cookie, else the default)."""
    from api.workspaces import default_name, requested_name

    return requested_name(request) or default_name(request.app.state.settings)


def _named_store(request: Request, name: str) -> Store:
    """A workspace other than the default, opened once and kept in ``app.state.stores``."""
    from api.errors import NotFound
    from api.workspaces import list_workspaces, location_of

    state = request.app.state
    stores = getattr(state, "stores", None)
    if stores is None:
        stores = state.stores = {}
    store = stores.get(name)
    if store is not None:
        return store
    names = [w["name"] for w in list_workspaces(state.settings)]
    if name not in names:
        msg = f"ワークスペース「{name}」はありません（このサーバーにあるもの: {'、'.join(names)}）"
        raise NotFound(msg, hint="GET /workspaces で一覧を確認し、ワークスペースを選び直してください",
                       en=f"no workspace {name!r} (this server has: {', '.join(names)})",
                       hint_en="see the list with GET /workspaces and choose the workspace again")
    with _open_lock:
        store = stores.get(name)
        if store is None:
            location, workspace = location_of(state.settings, name)
            store = stores[name] = open_store(location, workspace=workspace, create=False)
    return store


def get_store(request: Request) -> Store:
    """Return the app's store, opening it from ``settings.workspace`` on first use.

    The store is not created here (a read-only service should not make files): a missing
    workspace is a :class:`~api.store.base.StoreError` (503) until ``tsunagu demo`` has run,
    and the next request tries again. A request may ask for another workspace of the server
    (:mod:`api.workspaces`); an unknown name is 404.
    """
    from api.workspaces import default_name, requested_name

    state = request.app.state
    name = requested_name(request)
    if name is not None and name != default_name(state.settings):
        return _named_store(request, name)
    store = getattr(state, "store", None)
    if store is None:
        with _open_lock:
            store = getattr(state, "store", None)
            if store is None:
                store = open_store(state.settings.workspace, create=False)
                state.store = store
    return store


SettingsDep = Annotated[Settings, Depends(get_settings)]
StoreDep = Annotated[Store, Depends(get_store)]


def runner_of(app):
    """The app's job runner (:class:`api.jobs.JobRunner`), made from its settings on first use."""
    from api.jobs import JobRunner

    state = app.state
    runner = getattr(state, "job_runner", None)
    if runner is None:
        with _runner_lock:
            runner = getattr(state, "job_runner", None)
            if runner is None:
                runner = state.job_runner = JobRunner.from_settings(state.settings)
    return runner


def get_runner(request: Request):
    """The job runner of the app serving ``request`` (see :func:`runner_of`)."""
    return runner_of(request.app)


def data_dir_of(settings: Settings):
    """The open-data folder the settings point to, or None when there is none (analyses then say so)."""
    from api.importing import find_data_dir
    from gis.errors import DataNotFoundError

    try:
        return find_data_dir(settings.data_dir)
    except DataNotFoundError:
        return None
