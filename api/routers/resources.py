"""Resources: local resources (salons, shops, stops, ...) as GeoJSON, and importing them from files."""

from __future__ import annotations

import datetime as _dt
import math
import secrets
from typing import Annotated
from urllib.parse import quote

import geopandas as gpd
from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field, field_validator
from shapely.geometry import Point
from starlette.concurrency import run_in_threadpool

from api.dependencies import SettingsDep, StoreDep
from api.errors import Conflict, NotFound
from api.layer_cache import cached_workspace, forget, layer_response
from api.routers._geojson import GeoJSONResponse, feature_collection
from api.routers._upload import UPLOAD_SUFFIXES, receive_upload
from api.security import ANY_ROLE, EDITORS, CurrentUser, allow
from api.uploads import UploadLimits, remove_upload
from gis.crs import STORAGE_CRS
from gis.errors import InputDataError
from gis.io import looks_japanese, looks_swapped
from gis.resources import resource_kind
from gis.schema import RESOURCE_KINDS, coerce_resources

router = APIRouter(prefix="/resources", tags=["resources"])

_ID_PATTERN = r"^[^\x00-\x1f\x7f/\\?#%]{1,100}$"
#: Text without control characters (tab and line breaks allowed): a NUL cannot be stored in PostgreSQL.
_PLAIN = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
_Text = Annotated[str, Field(max_length=300, pattern=_PLAIN)]
_Short = Annotated[str, Field(max_length=1000, pattern=_PLAIN)]
_Attr = _Short | int | float | bool | list[_Short]


class NewResource(BaseModel):
    """``POST /resources`` body: one resource at a point."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200, pattern=_PLAIN, description="名称（例: ふれあいサロン川面）")
    kind: str = Field(max_length=50, pattern=_PLAIN, description="種別（salon・サロン・公民館 など）")
    # NaN and infinity are refused by _point (with our 422), not by pydantic: its error would echo a NaN
    lon: float = Field(description="経度（十進の度、例 133.62）")
    lat: float = Field(description="緯度（十進の度、例 34.79）")
    address: _Text = Field("", description="住所")
    attributes: dict[Annotated[str, Field(min_length=1, max_length=100, pattern=_PLAIN)], _Attr] = Field(
        default_factory=dict, max_length=50, description="そのほかの情報（開催日 meeting_days など）")
    resource_id: str | None = Field(None, pattern=_ID_PATTERN, description="ID（省略すると自動で付けます）")

    @field_validator("name", "kind", "address", mode="before")
    @classmethod
    def _strip(cls, value):
        return value.strip() if isinstance(value, str) else value

    def finite_attributes(self) -> dict:
        """The attributes, refusing numbers that are not finite (JSON cannot hold them)."""
        bad = [k for k, v in self.attributes.items() if isinstance(v, float) and not math.isfinite(v)]
        if bad:
            msg = f"属性 {bad[0]!r} が有限の数ではありません"
            raise InputDataError(msg, en=f"attribute {bad[0]!r} is not a finite number", feature=bad[0], hint="数値は有限の値にしてください",
                                 hint_en="give finite numbers")
        return self.attributes


class ResourceChange(BaseModel):
    """``PATCH /resources/{resource_id}`` body: what to change (move with lon and lat together)."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, min_length=1, max_length=200, pattern=_PLAIN, description="新しい名称")
    kind: str | None = Field(None, max_length=50, pattern=_PLAIN, description="新しい種別")
    address: _Text | None = Field(None, description="新しい住所")
    lon: float | None = Field(None, description="移動先の経度")
    lat: float | None = Field(None, description="移動先の緯度")

    @field_validator("name", "kind", "address", mode="before")
    @classmethod
    def _strip(cls, value):
        return value.strip() if isinstance(value, str) else value


def _kinds(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    words = [k.strip() for v in values for k in v.replace("、", ",").split(",") if k.strip()]
    kinds = [resource_kind(w) or w for w in words]  # a key, the Japanese name or another name of it
    unknown = [w for w, k in zip(words, kinds) if k not in RESOURCE_KINDS]
    if unknown:
        msg = f"資源の種別 {unknown[0]!r} はありません。使える種別: {', '.join(RESOURCE_KINDS)}"
        raise InputDataError(msg, en=f"unknown resource kind {unknown[0]!r}; known kinds: {', '.join(RESOURCE_KINDS)}", hint="kind には salon, supermarket などの種別キーを指定してください",
                             hint_en="give kind a kind key such as salon or supermarket")
    return kinds or None


@router.get("", summary="地域資源（GeoJSON）", response_class=GeoJSONResponse, dependencies=[allow(*ANY_ROLE)])
def list_resources(store: StoreDep, request: Request, kind: Annotated[list[str] | None, Query()] = None) -> Response:
    """Return resources, optionally of some kinds (``?kind=salon&kind=supermarket`` or ``?kind=salon,supermarket``)."""
    kinds = _kinds(kind)
    cached_workspace(store)

    def build() -> bytes:
        resources = store.resources(kinds=kinds)
        resources = resources.assign(kind_label=resources["kind"].map(RESOURCE_KINDS).fillna(resources["kind"]))
        return GeoJSONResponse(feature_collection(resources, id_column="resource_id")).body

    return layer_response(request, store, "resources?" + ",".join(sorted(kinds or [])), build, media_type=GeoJSONResponse.media_type,
                          headers={"Cache-Control": "private, no-cache"})


@router.get("/{resource_id}", summary="地域資源ひとつ（GeoJSON Feature）", response_class=GeoJSONResponse,
            dependencies=[allow(*ANY_ROLE)])
def get_resource(resource_id: str, store: StoreDep) -> GeoJSONResponse:
    """One resource as a GeoJSON Feature (404 when there is none with this id)."""
    store.workspace()
    return GeoJSONResponse(_feature(_one(store, resource_id)))


@router.post("", summary="地域資源を1か所追加", status_code=201, response_class=GeoJSONResponse,
             dependencies=[allow(*EDITORS)])
def add_resource(body: NewResource, store: StoreDep, user: CurrentUser) -> GeoJSONResponse:
    """Add one resource at a point (e.g. a salon placed on the map); answers 201 with the new Feature.

    The kind may be a key (``salon``) or a Japanese name (サロン); a position outside Japan or
    with latitude and longitude swapped is 422. The id is made from the kind unless given; an
    id already used is 409.
    """
    store.workspace()
    kind = _kind(body.kind)
    point = _point(body.lon, body.lat)
    resource_id = body.resource_id or f"{kind}-{secrets.token_hex(4)}"
    if (store.resources()["resource_id"] == resource_id).any():
        msg = f"資源 ID {resource_id!r} はすでに使われています"
        raise Conflict(msg, en=f"resource id {resource_id!r} is already used", hint="別の ID を指定するか、ID を空にしてください（自動で付けます）",
                       hint_en="give another id, or leave it empty (one is given automatically)")
    frame = coerce_resources(gpd.GeoDataFrame(
        {"resource_id": [resource_id], "kind": [kind], "name": [body.name], "address": [body.address],
         "attributes": [body.finite_attributes()], "source": ["Tsunagu の画面から登録"], "is_sample": [False]},
        geometry=[point], crs=STORAGE_CRS))
    with store.transaction() as tx:
        tx.add_resources(frame)
        tx.log_import(_edit_record("add", resource_id, user, name=body.name, kind=kind, lon=body.lon, lat=body.lat))
    forget(store)  # this process's cached layers show the change at once
    feature = _feature(_one(store, resource_id))
    return GeoJSONResponse(feature, status_code=201, headers={"Location": f"/resources/{quote(resource_id)}"})


@router.patch("/{resource_id}", summary="地域資源の移動・名前の変更", response_class=GeoJSONResponse,
              dependencies=[allow(*EDITORS)])
def change_resource(resource_id: str, body: ResourceChange, store: StoreDep, user: CurrentUser) -> GeoJSONResponse:
    """Move a resource (``lon`` and ``lat`` together), rename it, or change its kind or address.

    Answers the changed Feature; 404 when there is no such resource, 422 for a position
    outside Japan or swapped, or for a body that changes nothing.
    """
    store.workspace()
    if "\x00" in resource_id:
        raise _not_found(resource_id)
    changes: dict = {}
    if body.name is not None:
        changes["name"] = body.name
    if body.address is not None:
        changes["address"] = body.address
    if body.kind is not None:
        changes["kind"] = _kind(body.kind)
    if (body.lon is None) != (body.lat is None):
        msg = "資源を動かすには経度（lon）と緯度（lat）の両方が要ります"
        raise InputDataError(msg, hint="経度と緯度を両方指定してください",
                             en="moving a resource needs both lon (longitude) and lat (latitude)",
                             hint_en="give both longitude and latitude")
    if body.lon is not None:
        changes["geometry"] = _point(body.lon, body.lat)
    if not changes:
        msg = "変更する項目がありません（名前・種別・住所、または経度と緯度を指定してください）"
        en = "nothing to change: give name, kind, address, or lon and lat"
        raise InputDataError(msg, en=en, hint="変更する項目（名前・種別・住所・経度と緯度）を指定してください",
                             hint_en="give what to change (name, kind, address, or longitude and latitude)")
    with store.transaction() as tx:
        if not tx.update_resource(resource_id, changes):
            raise _not_found(resource_id)
        what = {k: v for k, v in changes.items() if k != "geometry"}
        if "geometry" in changes:
            what.update(lon=body.lon, lat=body.lat)
        tx.log_import(_edit_record("update", resource_id, user, **what))
    forget(store)
    return GeoJSONResponse(_feature(_one(store, resource_id)))


@router.delete("/{resource_id}", summary="地域資源の削除", status_code=204, dependencies=[allow(*EDITORS)])
def delete_resource(resource_id: str, store: StoreDep, user: CurrentUser) -> Response:
    """Delete one resource (204); 404 when there is no such resource."""
    store.workspace()
    if "\x00" in resource_id:
        raise _not_found(resource_id)
    with store.transaction() as tx:
        if tx.delete_resources([resource_id]) == 0:
            raise _not_found(resource_id)
        tx.log_import(_edit_record("delete", resource_id, user))
    forget(store)
    return Response(status_code=204)


@router.post("/import", summary="地域資源ファイルの取り込み（ジョブ）", status_code=202, dependencies=[allow(*EDITORS)],
             responses={202: {"description": "取り込みジョブを開始しました（GET /jobs/{job_id} で結果を確認）"},
                        413: {"description": "ファイルが大きすぎます"}, 422: {"description": "ファイルの種類・中身に問題があります"}})
async def import_resources(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    user: CurrentUser,
    kind: Annotated[str | None, Query(description="種別の列がないファイルの種別（例: salon）")] = None,
    filename: Annotated[str | None, Query(description="生データで送るときのファイル名")] = None,
    replace: bool = False,
    skip_unmatched: Annotated[bool, Query(description="住所だけの表で、町丁・字と照合できなかった行を除いて取り込む")] = False,
) -> JSONResponse:
    """Receive a CSV / Excel / GeoJSON / GeoPackage / zipped Shapefile of resources and import it as a job.

    Send ``multipart/form-data`` with the file in field ``file`` (and optionally ``kind``,
    ``replace``), or the raw file as the body with ``?filename=``. The body is streamed to a
    private temp file with a hard limit of ``TSUNAGU_MAX_UPLOAD_BYTES`` (413 above it); its
    type is checked by content and a zip for bombs and paths escaping the folder (422 naming
    what is wrong). Then the job ``import-resources`` checks every row and writes all or
    nothing: 202 with the job id and ``status_url``; the job's table 取り込み結果 reports each
    row, or, on bad data, the job fails with every problem and its row in ``error``.
    """
    from api.dependencies import get_runner

    store.workspace()  # no workspace: 409 before the body is read
    path, name, fields = await receive_upload(
        request, limit=settings.max_upload_bytes, upload_dir=settings.upload_dir, filename=filename,
        limits=UploadLimits.from_settings(settings),
    )
    try:
        kind = kind or fields.get("kind") or None
        replace = replace or fields.get("replace", "").lower() in ("1", "true", "on", "yes")
        skip_unmatched = skip_unmatched or fields.get("skip_unmatched", "").lower() in ("1", "true", "on", "yes")
        params = {"upload": str(path), "kind": kind, "replace": replace, "source_name": name,
                  "skip_unmatched": skip_unmatched}
        record = await run_in_threadpool(get_runner(request).submit, store, "import-resources", params,
                                         data_dir=None, created_by=user.username)
    except BaseException:
        remove_upload(path)
        raise
    url = f"/jobs/{record['job_id']}"
    content = {"job_id": record["job_id"], "analysis": record["analysis"], "status": record["status"],
               "status_url": url, "source": name, "data_version": record["data_version"]}
    return JSONResponse(content, status_code=202, headers={"Location": url})


# ---------------------------------------------------------------------- helpers


def _kind(value: str) -> str:
    key = resource_kind(value)
    if key is None:
        known = "、".join(f"{k}（{v}）" for k, v in RESOURCE_KINDS.items())
        msg = f"種別「{value}」はありません"
        raise InputDataError(msg, feature="kind", hint=f"使える種別: {known}",
                             en=f"no resource kind {value!r}",
                             hint_en=f"kinds: {', '.join(RESOURCE_KINDS)}")
    return key


def _point(lon: float, lat: float) -> Point:
    if not (math.isfinite(lon) and math.isfinite(lat)):
        msg = f"位置（経度={lon}、緯度={lat}）が有限の数値の組ではありません"
        raise InputDataError(msg, feature="lon/lat", hint="経度・緯度を十進の度で指定してください（例: 133.62、34.79）",
                             en=f"the position (lon={lon}, lat={lat}) is not a pair of finite numbers",
                             hint_en="give longitude and latitude in decimal degrees (e.g. 133.62, 34.79)")
    if bool(looks_swapped([lon], [lat])[0]):
        msg = f"緯度と経度が入れ替わっているようです（経度={lon}、緯度={lat}）"
        raise InputDataError(msg, feature="lon/lat",
                             hint="緯度と経度が逆のようです。経度（lon）は 122〜154、緯度（lat）は 20〜46 くらいです",
                             en=f"latitude and longitude look swapped (lon={lon}, lat={lat})",
                             hint_en="in Japan longitude (lon) is about 122-154 and latitude (lat) about 20-46")
    if not bool(looks_japanese([lon], [lat])[0]):
        msg = f"位置（経度={lon}、緯度={lat}）が日本の外です"
        raise InputDataError(msg, feature="lon/lat", hint="日本国内の位置を十進の度で指定してください（例: 経度 133.62、緯度 34.79）",
                             en=f"the position (lon={lon}, lat={lat}) is outside Japan",
                             hint_en="give a position in Japan in decimal degrees (e.g. lon 133.62, lat 34.79)")
    return Point(float(lon), float(lat))


def _one(store, resource_id: str) -> gpd.GeoDataFrame:
    if "\x00" in resource_id:  # no resource has one, and PostgreSQL cannot be asked about it
        raise _not_found(resource_id)
    resources = store.resources()
    hit = resources[resources["resource_id"] == resource_id]
    if hit.empty:
        raise _not_found(resource_id)
    return hit


def _feature(frame: gpd.GeoDataFrame) -> dict:
    frame = frame.assign(kind_label=frame["kind"].map(RESOURCE_KINDS).fillna(frame["kind"]))
    return feature_collection(frame, id_column="resource_id")["features"][0]


def _not_found(resource_id: str) -> NotFound:
    return NotFound(f"このワークスペースに資源 {resource_id!r} はありません",
                    en=f"no resource {resource_id!r} in this workspace", hint="GET /resources で一覧を確認してください",
                    hint_en="see the list with GET /resources")


def _edit_record(action: str, resource_id: str, user, **details) -> dict:
    return {"kind": "resource_edit", "action": action, "resource_id": resource_id, "values": details,
            "at": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"), "by": user.username}


__all__ = ["UPLOAD_SUFFIXES", "router"]
