"""Public layers rendered once per data version of a workspace, for many readers at once.

The tier map takes most of a second to render on a city of ~450 small areas and a tier's
GeoJSON tens of milliseconds, while an office of fifty people keeps asking for the same few
pages. Each rendered body is kept under the workspace's data version
(:func:`api.jobs.data_version`, a hash of every layer), so an import or an edit shows at once.
The version itself costs tens of milliseconds to compute, so it is recomputed only when the
GeoPackage file changes (its stat) or, for a database, at most every
:data:`VERSION_TTL_S` seconds — an edit made by another process shows within that time.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable

from api.store.base import Store
from gis._once import BuildOnceLRU

#: Seconds a database workspace's data version is trusted before it is computed again.
VERSION_TTL_S = 2.0
#: Rendered bodies kept (per process), least recently used dropped first.
MAX_ENTRIES = 64

_lock = threading.Lock()
_versions: dict[int, tuple[object, float, str]] = {}
_bodies: BuildOnceLRU[bytes] = BuildOnceLRU(MAX_ENTRIES)


def _file_stamp(store: Store) -> object | None:
    path = getattr(store, "path", None)
    if path is None:
        return None
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def exact_version(store: Store) -> str:
    """The data version of ``store`` as it is now (what a new job records).

    A GeoPackage's version is reused while its file has not changed (every write renames a new
    file in, and jobs are kept outside it); a database's is always computed again.
    """
    if _file_stamp(store) is None:
        from api.jobs import data_version

        return data_version(store)
    return layer_version(store)


def layer_version(store: Store) -> str:
    """The data version of ``store``, recomputed only when it may have changed."""
    from api.jobs import data_version

    stamp = _file_stamp(store)
    now = time.monotonic()
    with _lock:
        hit = _versions.get(id(store))
    if hit is not None:
        seen_stamp, at, version = hit
        if (stamp is not None and seen_stamp == stamp) or (stamp is None and now - at < VERSION_TTL_S):
            return version
    version = data_version(store)
    with _lock:
        _versions[id(store)] = (stamp, now, version)
    return version


def cached_layer(store: Store, name: str, build: Callable[[], bytes]) -> tuple[bytes, str]:
    """``build()``'s bytes for layer ``name`` of the store's current data version, and that version.

    Concurrent requests for a body not built yet wait for one build instead of each building it.
    """
    version = layer_version(store)
    return _bodies.get_or_build((id(store), name, version), build), version


def forget(store: Store) -> None:
    """Drop what is known of ``store`` (after this process changed it, or when it is closed)."""
    with _lock:
        _versions.pop(id(store), None)
    for key in [k for k in _bodies.keys() if k[0] == id(store)]:
        _bodies.discard(key)
