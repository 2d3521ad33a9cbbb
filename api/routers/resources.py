"""Resources: local resources (salons, shops, stops, ...) as GeoJSON, and importing them from files."""

from __future__ import annotations

import contextlib
from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.concurrency import run_in_threadpool

from api.dependencies import SettingsDep, StoreDep
from api.routers._geojson import GeoJSONResponse, feature_collection
from api.routers._upload import UPLOAD_SUFFIXES, receive_upload
from api.security import ANY_ROLE, EDITORS, allow
from gis.errors import InputDataError
from gis.schema import RESOURCE_KINDS

router = APIRouter(prefix="/resources", tags=["resources"])


def _kinds(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    kinds = [k.strip() for v in values for k in v.replace("、", ",").split(",") if k.strip()]
    unknown = [k for k in kinds if k not in RESOURCE_KINDS]
    if unknown:
        msg = f"unknown resource kind {unknown[0]!r}; known kinds: {', '.join(RESOURCE_KINDS)}"
        raise InputDataError(msg, hint="kind には salon, supermarket などの種別キーを指定してください")
    return kinds or None


@router.get("", summary="地域資源（GeoJSON）", response_class=GeoJSONResponse, dependencies=[allow(*ANY_ROLE)])
def list_resources(store: StoreDep, kind: Annotated[list[str] | None, Query()] = None) -> GeoJSONResponse:
    """Return resources, optionally of some kinds (``?kind=salon&kind=supermarket`` or ``?kind=salon,supermarket``)."""
    kinds = _kinds(kind)
    store.workspace()
    resources = store.resources(kinds=kinds)
    resources = resources.assign(kind_label=resources["kind"].map(RESOURCE_KINDS).fillna(resources["kind"]))
    return GeoJSONResponse(feature_collection(resources, id_column="resource_id"))


@router.post("/import", summary="地域資源ファイルの取り込み", status_code=201, dependencies=[allow(*EDITORS)])
async def import_resources(
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    kind: Annotated[str | None, Query(description="種別の列がないファイルの種別（例: salon）")] = None,
    filename: Annotated[str | None, Query(description="生データで送るときのファイル名")] = None,
    replace: bool = False,
) -> dict:
    """Import a CSV / Excel / GeoJSON / zipped Shapefile of resources, all or nothing.

    Send ``multipart/form-data`` with the file in field ``file`` (and optionally ``kind``), or
    the raw file as the body with ``?filename=``. The body is streamed to a temp file with a
    hard limit of ``TSUNAGU_MAX_UPLOAD_BYTES`` (413 above it); bad data gives 422 naming the
    row and nothing is written. Supported suffixes: see ``UPLOAD_SUFFIXES``.
    """
    from api import importing  # the importer is loaded only when used

    path, name, fields = await receive_upload(
        request, limit=settings.max_upload_bytes, upload_dir=settings.upload_dir, filename=filename
    )
    try:
        kind = kind or fields.get("kind") or None  # the importer checks it (keys, labels, synonyms)
        replace = replace or fields.get("replace", "").lower() in ("1", "true", "on", "yes")
        result = await run_in_threadpool(
            importing.import_resource_file, store, path, kind=kind, source_name=name, replace=replace
        )
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return result


__all__ = ["UPLOAD_SUFFIXES", "router"]
