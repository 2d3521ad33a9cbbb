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

    The page is rendered and compressed (gzip, brotli) once per data version and carries the
    version as its ETag: a browser asking again with ``If-None-Match`` gets 304 until a layer
    changes.
    """
    from api.layer_cache import layer_response
    from api.maps import tier_map_html

    return layer_response(request, store, "maps/tiers", lambda: tier_map_html(store, report_links=True).encode("utf-8"),
                          media_type="text/html; charset=utf-8", headers={"Cache-Control": "private, no-cache"})
