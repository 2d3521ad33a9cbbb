"""Stations: 社協 stations and centres with their catchment areas, as GeoJSON; importing real ones and their areas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from api.dependencies import SettingsDep, StoreDep
from api.layer_cache import cached_layer, forget
from api.routers._geojson import GeoJSONResponse, feature_collection
from api.routers._upload import receive_upload
from api.security import ANY_ROLE, EDITORS, CurrentUser, allow
from api.uploads import UploadLimits, remove_upload
from gis.schema import STATION_KINDS

router = APIRouter(tags=["stations"])


@router.get("/stations", summary="拠点（GeoJSON）", response_class=GeoJSONResponse, dependencies=[allow(*ANY_ROLE)])
def list_stations(store: StoreDep) -> GeoJSONResponse:
    """Return all stations; ``kind_label`` is the Japanese kind, ``area_ids`` the catchment."""
    store.workspace()

    def build() -> bytes:
        stations = store.stations()
        stations = stations.assign(kind_label=stations["kind"].map(STATION_KINDS).fillna(stations["kind"]))
        return GeoJSONResponse(feature_collection(stations, id_column="station_id")).body

    body, _version = cached_layer(store, "stations", build)
    return GeoJSONResponse(body)


_IMPORT_RESPONSES = {413: {"description": "ファイルが大きすぎます"},
                     422: {"description": "ファイルの種類・中身に問題があります（問題のある行をすべて挙げます。何も書き込みません）"}}


async def _receive(request: Request, settings, filename: str | None):
    return await receive_upload(request, limit=settings.max_upload_bytes, upload_dir=settings.upload_dir,
                                filename=filename, limits=UploadLimits.from_settings(settings))


@router.post("/stations/import", summary="拠点ファイルの取り込み（サンプルを含むすべての拠点を置き換え）", status_code=201,
             dependencies=[allow(*EDITORS)], responses=_IMPORT_RESPONSES)
async def import_stations(
    request: Request, store: StoreDep, settings: SettingsDep, user: CurrentUser,
    kind: Annotated[str | None, Query(description="種別の列がないファイルの拠点の種別（例: 社協地域ステーション）")] = None,
    filename: Annotated[str | None, Query(description="生データで送るときのファイル名")] = None,
) -> JSONResponse:
    """Replace every station with those of a CSV / Excel / GeoJSON file, all or nothing (:func:`api.station_import.import_station_file`).

    Send ``multipart/form-data`` (field ``file``, optionally ``kind``) or the raw file with ``?filename=``.
    Stations are few, so the file is checked and written in the request: 201 with the counts, or
    422 with every problem and its row.
    """
    from api.station_import import import_station_file

    store.workspace()
    path, name, fields = await _receive(request, settings, filename)
    try:
        result = await run_in_threadpool(import_station_file, store, path, kind=kind or fields.get("kind") or None,
                                         source_name=name, limits=UploadLimits.from_settings(settings), by=user.username)
    finally:
        remove_upload(path)
    forget(store)
    return JSONResponse(result, status_code=201)


@router.post("/stations/areas", summary="拠点への担当地域の割り当て（表の取り込み）", dependencies=[allow(*EDITORS)],
             responses=_IMPORT_RESPONSES)
async def import_station_areas(
    request: Request, store: StoreDep, settings: SettingsDep, user: CurrentUser,
    filename: Annotated[str | None, Query(description="生データで送るときのファイル名")] = None,
) -> JSONResponse:
    """Assign areas to stations from a CSV / Excel table (拠点, 担当地域), all or nothing (:func:`api.station_import.import_station_areas`)."""
    from api.station_import import import_station_areas as assign

    store.workspace()
    path, name, _fields = await _receive(request, settings, filename)
    try:
        result = await run_in_threadpool(assign, store, path, source_name=name, limits=UploadLimits.from_settings(settings),
                                         by=user.username)
    finally:
        remove_upload(path)
    forget(store)
    return JSONResponse(result)
