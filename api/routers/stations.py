"""Stations: 社協 stations and centres with their catchment areas, as GeoJSON; importing real ones and their areas."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from api.dependencies import SettingsDep, StoreDep
from api.layer_cache import cached_workspace, forget, layer_response
from api.routers._geojson import GeoJSONResponse, feature_collection
from api.routers._upload import receive_upload
from api.security import ANY_ROLE, EDITORS, CurrentUser, allow
from api.uploads import UploadLimits, remove_upload
from gis.schema import STATION_KINDS

router = APIRouter(tags=["stations"])


@router.get("/stations", summary="拠点（GeoJSON）", response_class=GeoJSONResponse, dependencies=[allow(*ANY_ROLE)])
def list_stations(store: StoreDep, request: Request) -> Response:
    """Return all stations; ``kind_label`` is the Japanese kind, ``area_ids`` the catchment."""
    cached_workspace(store)

    def build() -> bytes:
        stations = store.stations()
        stations = stations.assign(kind_label=stations["kind"].map(STATION_KINDS).fillna(stations["kind"]))
        return GeoJSONResponse(feature_collection(stations, id_column="station_id")).body

    return layer_response(request, store, "stations", build, media_type=GeoJSONResponse.media_type,
                          headers={"Cache-Control": "private, no-cache"})


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


_PLAIN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"


class NewStation(BaseModel):
    """``POST /stations`` body: one station at a point."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=_PLAIN, description="名称（例: 高梁地域ステーション）")
    kind: str = Field(max_length=50, pattern=_PLAIN, description="種別（社協地域ステーション・地域包括支援センター など）")
    lon: float = Field(description="経度（十進の度）")
    lat: float = Field(description="緯度（十進の度）")
    address: str = Field("", max_length=300, pattern=_PLAIN, description="住所")
    area_ids: list[Annotated[str, Field(max_length=100, pattern=_PLAIN)]] = Field(
        default_factory=list, max_length=5000, description="担当地域の地域ID")
    station_id: str | None = Field(None, max_length=100, pattern=_PLAIN, description="拠点ID（省略すると自動で付けます）")


class StationChanges(BaseModel):
    """``PATCH /stations/{station_id}`` body: what changes (the rest stays)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, pattern=_PLAIN)
    kind: str | None = Field(None, max_length=50, pattern=_PLAIN)
    lon: float | None = None
    lat: float | None = None
    address: str | None = Field(None, max_length=300, pattern=_PLAIN)
    area_ids: list[Annotated[str, Field(max_length=100, pattern=_PLAIN)]] | None = Field(None, max_length=5000)


@router.post("/stations", summary="拠点を1か所追加", status_code=201, dependencies=[allow(*EDITORS)])
def add_station(body: NewStation, store: StoreDep, user: CurrentUser) -> JSONResponse:
    """Add one station (a real one: not a sample); 422 names what is wrong."""
    from api.station_edit import add_station as add

    store.workspace()
    row = add(store, **body.model_dump(), by=user.username)
    forget(store)
    return JSONResponse(row, status_code=201)


@router.patch("/stations/{station_id}", summary="拠点の移動・名前・種別・担当地域の変更", dependencies=[allow(*EDITORS)])
def change_station(station_id: str, body: StationChanges, store: StoreDep) -> dict:
    """Move, rename or re-assign a station; 404 when there is none."""
    from api.errors import NotFound
    from api.station_edit import update_station

    store.workspace()
    if str(station_id) not in set(store.stations()["station_id"].astype(str)):
        raise NotFound(f"拠点 {station_id} はありません", en=f"no station {station_id}", hint="GET /stations で拠点の一覧を確認してください",
                       hint_en="see the stations with GET /stations")
    if (body.lon is None) != (body.lat is None):
        from gis.errors import InputDataError

        raise InputDataError("移動するときは経度と緯度の両方を指定してください", feature="lon",
                             en="moving a station needs both longitude and latitude")
    row = update_station(store, station_id, body.model_dump(exclude_unset=True))
    forget(store)
    return row


@router.delete("/stations/{station_id}", summary="拠点の削除", status_code=204, dependencies=[allow(*EDITORS)])
def remove_station(station_id: str, store: StoreDep):
    from fastapi import Response

    from api.errors import NotFound
    from api.station_edit import delete_station

    store.workspace()
    if not delete_station(store, station_id):
        raise NotFound(f"拠点 {station_id} はありません", en=f"no station {station_id}", hint="GET /stations で拠点の一覧を確認してください",
                       hint_en="see the stations with GET /stations")
    forget(store)
    return Response(status_code=204)
