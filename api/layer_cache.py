"""Public layers rendered once per data version of a workspace, for many readers at once.

The tier map takes most of a second to render on a city of ~450 small areas and a tier's
GeoJSON tens of milliseconds, while an office of fifty people keeps asking for the same few
pages. Each rendered body is kept under the workspace's data version
(:func:`api.jobs.data_version`, a hash of every layer), so an import or an edit shows at once.
The version itself costs tens of milliseconds to compute, so it is recomputed only when the
GeoPackage file changes (its stat) or, for a database, at most every
:data:`VERSION_TTL_S` seconds — an edit made by another process shows within that time.

Bodies are kept already compressed — gzip always, brotli too when the ``brotli`` package is
installed — so a request costs no compression: :func:`layer_response` answers with the encoding
the client accepts (``Content-Encoding``, ``Vary: Accept-Encoding``), an ETag per encoding
(``"<version>"``, ``"<version>-gzip"``, ``"<version>-br"``) and 304 when ``If-None-Match``
names this version in any encoding.

Under load the version is refreshed by one request at a time (:func:`layer_version`), and the
workspace record (city, tier profile) is read once per version (:func:`cached_workspace`)
rather than from the store on every request.
"""

from __future__ import annotations

import gzip
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from api.store.base import Store
from gis._once import BuildOnceLRU

try:  # optional: smaller than gzip for text; installed with the "brotli" extra
    import brotli as _brotli
except ImportError:  # pragma: no cover - depends on the installation
    _brotli = None

#: Seconds a database workspace's data version is trusted before it is computed again.
VERSION_TTL_S = 2.0
#: Rendered bodies kept (per process), least recently used dropped first.
MAX_ENTRIES = 64

_lock = threading.Lock()
_versions: dict[int, tuple[object, float, str]] = {}
#: Per store: the lock held by the one request recomputing its data version.
_refreshing: dict[int, threading.Lock] = {}
#: Per store: how many times :func:`forget` was called (a version computed across a call is not kept).
_generations: dict[int, int] = {}
#: Per store: ``(data version, store.workspace())``.
_workspaces: dict[int, tuple[str, dict]] = {}
#: gzip level of kept bodies. Compression happens once per data version, inside the first
#: request: on 倉敷市's 1.1 MB tier map level 6 takes ~0.2 s (level 9: 1.1 s for 2 % less).
GZIP_LEVEL = 6
#: brotli quality of kept bodies: 5 gives 184 KB against gzip's 237 KB in ~0.4 s (quality 10–11
#: are 20 % smaller but take 8–19 s on this machine).
BROTLI_QUALITY = 5


@dataclass(frozen=True)
class Encoded:
    """One rendered body, kept compressed: gzip, and brotli when the package is installed."""

    gzip: bytes
    br: bytes | None
    size: int

    @classmethod
    def of(cls, body: bytes) -> Encoded:
        """Compress ``body`` once in every encoding kept."""
        br = _brotli.compress(body, quality=BROTLI_QUALITY) if _brotli is not None else None
        return cls(gzip=gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0), br=br, size=len(body))

    def identity(self) -> bytes:
        """The body itself (for the rare client that accepts no compression)."""
        return gzip.decompress(self.gzip)


_bodies: BuildOnceLRU[Encoded] = BuildOnceLRU(MAX_ENTRIES)


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
    file in, and jobs are kept outside it); a database's is always computed again (and kept for
    the maps, which then need not compute it).
    """
    if _file_stamp(store) is None:
        from api.jobs import data_version

        return _remember(store, None, lambda: data_version(store))  # the maps may take it too
    return layer_version(store)


def _remember(store: Store, stamp: object | None, compute: Callable[[], str]) -> str:
    """``compute()``'s version, kept for ``store`` unless :func:`forget` was called while it ran."""
    with _lock:
        generation = _generations.get(id(store), 0)
    started = time.monotonic()
    version = compute()
    with _lock:
        if _generations.get(id(store), 0) == generation:  # else it may predate this process's edit
            _versions[id(store)] = (stamp, started, version)
    return version


def _refresh_lock(store: Store) -> threading.Lock:
    with _lock:
        return _refreshing.setdefault(id(store), threading.Lock())


def _fresh(hit: tuple[object, float, str] | None, stamp: object | None, now: float) -> str | None:
    if hit is None:
        return None
    seen_stamp, at, version = hit
    if (stamp is not None and seen_stamp == stamp) or (stamp is None and now - at < VERSION_TTL_S):
        return version
    return None


def layer_version(store: Store) -> str:
    """The data version of ``store``, recomputed only when it may have changed, by one request at a time.

    Single flight: while one request recomputes a database's version (tens of milliseconds
    alone, seconds under load), the others answer with the version it replaces instead of each
    computing it again. A GeoPackage whose file changed has no such version to reuse: its
    requests wait for the one computing the new version and take it.
    """
    from api.jobs import data_version

    stamp = _file_stamp(store)
    now = time.monotonic()
    with _lock:
        hit = _versions.get(id(store))
    version = _fresh(hit, stamp, now)
    if version is not None:
        return version
    refresh = _refresh_lock(store)
    if stamp is None and hit is not None:
        if not refresh.acquire(blocking=False):
            return hit[2]  # another request is computing it: the last version (one refresh old) meanwhile
    else:
        refresh.acquire()
    try:
        with _lock:
            hit = _versions.get(id(store))
        version = _fresh(hit, stamp, time.monotonic())
        if version is not None:  # computed by the request this one waited for
            return version
        return _remember(store, stamp, lambda: data_version(store))
    finally:
        refresh.release()


def cached_workspace(store: Store) -> dict:
    """``store.workspace()`` (city code, name, profile) read once per data version, not on every request.

    A workspace with no city yet raises :class:`~api.store.errors.WorkspaceNotInitialised` as
    ``store.workspace()`` does (nothing is kept for it).
    """
    version = layer_version(store)
    with _lock:
        hit = _workspaces.get(id(store))
    if hit is not None and hit[0] == version:
        return hit[1]
    workspace = store.workspace()
    with _lock:
        _workspaces[id(store)] = (version, workspace)
    return workspace


def cached_layer(store: Store, name: str, build: Callable[[], bytes]) -> tuple[Encoded, str]:
    """``build()``'s body for layer ``name`` of the store's current data version, compressed, and that version.

    Concurrent requests for a body not built yet wait for one build (and one compression)
    instead of each doing it.
    """
    version = layer_version(store)
    return _bodies.get_or_build((id(store), name, version), lambda: Encoded.of(build())), version


def _accepted(request: Request) -> set[str]:
    """Content codings the client accepts (``q=0`` means refused)."""
    out = set()
    for part in request.headers.get("accept-encoding", "").split(","):
        coding, _, params = part.strip().partition(";")
        q = params.strip().removeprefix("q=").strip() if params.strip().startswith("q=") else "1"
        try:
            refused = float(q) == 0
        except ValueError:
            refused = False
        if coding and not refused:
            out.add(coding.strip().lower())
    return out


def layer_response(
    request: Request,
    store: Store,
    name: str,
    build: Callable[[], bytes],
    *,
    media_type: str,
    headers: dict[str, str] | None = None,
) -> Response:
    """Answer with the cached body of layer ``name``: precompressed, ETag per encoding, 304 when unchanged.

    Parameters
    ----------
    request
        The request (its ``Accept-Encoding`` and ``If-None-Match``).
    store, name, build
        As :func:`cached_layer`.
    media_type
        The body's media type (e.g. ``text/html; charset=utf-8``).
    headers
        Extra response headers (e.g. ``Cache-Control``).
    """
    body, version = cached_layer(store, name, build)
    accepted = _accepted(request)
    if body.br is not None and "br" in accepted:
        encoding, content = "br", body.br
    elif "gzip" in accepted or "*" in accepted:
        encoding, content = "gzip", body.gzip
    else:
        encoding, content = None, None
    etag = f'"{version}-{encoding}"' if encoding else f'"{version}"'
    out = {**(headers or {}), "ETag": etag, "Vary": "Accept-Encoding"}
    asked = {t.strip().removeprefix("W/") for t in request.headers.get("if-none-match", "").split(",") if t.strip()}
    if "*" in asked or asked & {f'"{version}"', f'"{version}-gzip"', f'"{version}-br"'}:
        return Response(status_code=304, headers=out)
    if encoding:
        out["Content-Encoding"] = encoding
    return Response(content if content is not None else body.identity(), media_type=media_type, headers=out)


def forget(store: Store) -> None:
    """Drop what is known of ``store`` (after this process changed it, or when it is closed)."""
    with _lock:
        _versions.pop(id(store), None)
        _workspaces.pop(id(store), None)
        _generations[id(store)] = _generations.get(id(store), 0) + 1
    for key in [k for k in _bodies.keys() if k[0] == id(store)]:
        _bodies.discard(key)
