"""Maps: the 福祉圏域マップ of the workspace as a standalone HTML page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from api.dependencies import StoreDep
from api.security import ANY_ROLE, allow

router = APIRouter(prefix="/maps", tags=["maps"])


@router.get("/tiers", summary="福祉圏域マップ（HTML）", response_class=HTMLResponse, dependencies=[allow(*ANY_ROLE)])
def tiers_map(store: StoreDep) -> HTMLResponse:
    """Return the tier map (every level, stations, resources, legend); Leaflet is inlined, so it works offline."""
    from api.maps import tier_map_html

    return HTMLResponse(tier_map_html(store))
