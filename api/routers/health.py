"""Health: is the service up, which workspace it serves and what is in it."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.dependencies import SettingsDep, get_store
from api.errors import DEMO_HINT
from api.store.base import StoreError, WorkspaceNotInitialised
from api.security import PUBLIC, allow

router = APIRouter(tags=["health"])


@router.get("/health", summary="稼働状況", dependencies=[allow(PUBLIC)])
def health(request: Request, settings: SettingsDep) -> dict:
    """Return ``status`` (ok / not_initialised / store_unavailable), the store location, city and counts.

    Always 200 while the service runs, so a monitor can tell "up but empty" from "down".
    """
    out = {"status": "ok", "store": settings.workspace, "city": None, "counts": None, "hint": None}
    try:
        store = get_store(request)
        out["store"] = store.location
        ws = store.workspace()
    except WorkspaceNotInitialised:
        return {**out, "status": "not_initialised", "hint": DEMO_HINT}
    except StoreError as exc:
        return {**out, "status": "store_unavailable", "message": str(exc), "hint": DEMO_HINT}
    areas = store.areas()
    counts = areas["level"].value_counts()
    out["city"] = {"code": ws["city_code"], "name": ws["city_name"], "profile": ws["profile"].name}
    out["counts"] = {
        "areas": {lv.key: int(counts.get(lv.key, 0)) for lv in ws["profile"].levels},
        "stations": int(len(store.stations())),
        "resources": int(len(store.resources())),
    }
    return out
