"""Request dependencies: the app's settings and its (lazily opened, cached) store."""

from __future__ import annotations

import threading
from typing import Annotated

from fastapi import Depends, Request

from api.settings import Settings
from api.store.base import Store, open_store

_open_lock = threading.Lock()


def get_settings(request: Request) -> Settings:
    """Return the settings the app was created with."""
    return request.app.state.settings


def get_store(request: Request) -> Store:
    """Return the app's store, opening it from ``settings.workspace`` on first use.

    The store is not created here (a read-only service should not make files): a missing
    workspace is a :class:`~api.store.base.StoreError` (503) until ``tsunagu demo`` has run,
    and the next request tries again.
    """
    state = request.app.state
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
