"""Maps: the 福祉圏域マップ of the workspace as a standalone HTML page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.dependencies import StoreDep
from api.security import ANY_ROLE, allow

router = APIRouter(prefix="/maps", tags=["maps"])


@router.get("/tiers", summary="福祉圏域マップ（HTML）", response_class=HTMLResponse, dependencies=[allow(*ANY_ROLE)])
def tiers_map(store: StoreDep, request: Request) -> Response:
    """Return the tier map (every level, stations, resources, legend); Leaflet is inlined, so it works offline.

    The page is rendered once per data version and carries it as its ETag: a browser asking
    again with ``If-None-Match`` gets 304 until a layer changes.
    """
    from api.layer_cache import cached_layer
    from api.maps import tier_map_html

    body, version = cached_layer(store, "maps/tiers", lambda: tier_map_html(store).encode("utf-8"))
    etag = f'"{version}"'
    headers = {"ETag": etag, "Cache-Control": "private, no-cache"}
    if etag in {t.strip() for t in request.headers.get("if-none-match", "").split(",")}:
        return Response(status_code=304, headers=headers)
    return HTMLResponse(body, headers=headers)
