"""Tiers: the city's welfare-tier levels and each level's areas as GeoJSON."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.dependencies import StoreDep
from api.errors import NotFound
from api.layer_cache import cached_workspace, layer_response
from api.routers._geojson import GeoJSONResponse, feature_collection
from api.security import ANY_ROLE, allow

router = APIRouter(prefix="/tiers", tags=["tiers"])


@router.get("", summary="福祉圏域の階層一覧", dependencies=[allow(*ANY_ROLE)])
def list_tiers(store: StoreDep, request: Request) -> Response:
    """List the tier levels (inner to outer) with Japanese labels, notes and area counts.

    Counted once per data version (the body is cached like the maps', with an ETag).
    """
    ws = cached_workspace(store)

    def build() -> bytes:
        profile = ws["profile"]
        counts = store.areas()["level"].value_counts()
        return JSONResponse({
            "city_code": ws["city_code"],
            "city_name": ws["city_name"],
            "profile": profile.name,
            "levels": [
                {
                    "key": lv.key,
                    "label": lv.label,
                    "short": lv.short,
                    "count": int(counts.get(lv.key, 0)),
                    "note": profile.notes.get(lv.key),
                }
                for lv in profile.levels
            ],
        }).body

    return layer_response(request, store, "tiers", build, media_type="application/json",
                          headers={"Cache-Control": "private, no-cache"})


@router.get("/{level}", summary="ある階層の圏域（GeoJSON）", response_class=GeoJSONResponse, dependencies=[allow(*ANY_ROLE)])
def tier_areas(level: str, store: StoreDep, request: Request) -> Response:
    """Return the areas of one tier level as a GeoJSON FeatureCollection (unknown population is null).

    Coordinates are rounded to 1e-5° (~1 m); the body is cached per data version, compressed,
    with an ETag (304 on ``If-None-Match``).
    """
    profile = cached_workspace(store)["profile"]
    if level not in profile.keys:
        known = ", ".join(f"{lv.key}（{lv.label}）" for lv in profile.levels)
        raise NotFound(f"階層 {level!r} はありません。この市の階層: {known}",
                       en=f"unknown tier level {level!r}; this city uses {known}",
                       hint=f"GET /tiers/{profile.keys[0]} のように既知の階層を指定してください",
                       hint_en=f"give a known level, e.g. GET /tiers/{profile.keys[0]}")
    lv = profile.level(level)

    def build() -> bytes:
        areas = store.areas(level=level)
        return GeoJSONResponse(feature_collection(areas, id_column="area_id", level=lv.key, label=lv.label,
                                                  note=profile.notes.get(lv.key))).body

    return layer_response(request, store, f"tiers/{level}", build, media_type=GeoJSONResponse.media_type,
                          headers={"Cache-Control": "private, no-cache"})
