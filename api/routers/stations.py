"""Stations: 社協 stations and centres with their catchment areas, as GeoJSON."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from api.dependencies import StoreDep
from api.layer_cache import layer_response
from api.routers._geojson import GeoJSONResponse, feature_collection
from api.security import ANY_ROLE, allow
from gis.schema import STATION_KINDS

router = APIRouter(tags=["stations"])


@router.get("/stations", summary="拠点（GeoJSON）", response_class=GeoJSONResponse, dependencies=[allow(*ANY_ROLE)])
def list_stations(store: StoreDep, request: Request) -> Response:
    """Return all stations; ``kind_label`` is the Japanese kind, ``area_ids`` the catchment."""
    store.workspace()

    def build() -> bytes:
        stations = store.stations()
        stations = stations.assign(kind_label=stations["kind"].map(STATION_KINDS).fillna(stations["kind"]))
        return GeoJSONResponse(feature_collection(stations, id_column="station_id")).body

    return layer_response(request, store, "stations", build, media_type=GeoJSONResponse.media_type,
                          headers={"Cache-Control": "private, no-cache"})
