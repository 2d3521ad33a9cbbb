"""Maps of a store's contents (shared by the CLI and the /maps routes)."""

from __future__ import annotations

import threading
from collections import OrderedDict

from api.store.base import Store

#: Rendered tier maps kept per (store, data version); a few workspaces' worth.
_CACHE_SIZE = 8
_cache: OrderedDict[tuple[int, str], str] = OrderedDict()
_cache_lock = threading.Lock()


def tier_map_html(store: Store) -> str:
    """Render the tier map of a workspace (all tiers, stations, resources) as standalone HTML."""
    from layers.maps import render_html, tier_map

    ws = store.workspace()
    profile = ws["profile"]
    fmap = tier_map(
        areas=store.areas(),
        stations=store.stations(),
        resources=store.resources(),
        profile=profile,
        city_name=ws["city_name"],
        notes=dict(profile.notes),
        municipality_code=ws["city_code"],
    )
    return render_html(fmap)


def cached_tier_map(store: Store) -> tuple[str, str]:
    """The tier map and the data version it shows, rendered once per version of the workspace.

    Rendering takes most of a second on a city of ~450 small areas; the data version (a hash
    of the layers, :func:`api.jobs.data_version`) takes a few tens of milliseconds, and changes
    whenever a layer is imported or a resource added, moved or deleted, so the map is never stale.
    """
    from api.jobs import data_version

    version = data_version(store)
    key = (id(store), version)
    with _cache_lock:
        html = _cache.get(key)
        if html is not None:
            _cache.move_to_end(key)
            return html, version
    html = tier_map_html(store)
    with _cache_lock:
        _cache[key] = html
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return html, version
