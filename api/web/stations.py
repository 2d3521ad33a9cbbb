"""拠点 in the web UI: the workspace's stations, added on the map, edited and deleted in a table, imported from files."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.dependencies import get_store
from api.security import ANY_ROLE, EDITORS, CurrentUser, allow
from api.store.base import StoreError
from api.errors import UploadTooLarge
from api.web._render import render
from gis.errors import InputDataError
from gis.schema import STATION_KINDS

router = APIRouter(include_in_schema=False)

_BACK = {"Cache-Control": "no-store"}


def _page(request: Request, user, store, *, problems=(), done: str | None = None, status_code: int = 200):
    from api.web._data import city_bounds

    stations = store.stations().to_crs("EPSG:4326")
    rows = [{"id": str(r.station_id), "name": r.name, "kind": r.kind, "kind_label": STATION_KINDS.get(r.kind, r.kind),
             "address": r.address or "", "areas": "、".join(r.area_ids or []), "n_areas": len(r.area_ids or []),
             "sample": bool(r.is_sample), "lon": f"{r.geometry.x:.6f}", "lat": f"{r.geometry.y:.6f}"}
            for r in stations.itertuples(index=False)]
    data = {"bounds": city_bounds(store), "kinds": {}, "shops": []}
    return render(request, "stations.html", user=user, stations=rows, kinds=list(STATION_KINDS.items()), data=data,
                  problems=list(problems), done=done, status_code=status_code)


def _after(request, user, store, action):
    """Run ``action()``; back to the page, or the page again with the problem (422)."""
    from api.layer_cache import forget

    try:
        action()
    except (InputDataError, StoreError) as exc:
        return _page(request, user, store, problems=[_said(exc)], status_code=422)
    forget(store)
    return RedirectResponse("/web/stations", status_code=303, headers=_BACK)


@router.get("/web/stations", dependencies=[allow(*ANY_ROLE)])
def stations_page(request: Request, user: CurrentUser):
    """拠点: the stations with their kind and areas; editors add (map), change and delete them, or import a file."""
    return _page(request, user, get_store(request))


@router.post("/web/stations", dependencies=[allow(*EDITORS)])
async def add_stations(request: Request, user: CurrentUser):
    """Add the stations clicked on the map (one kind for all)."""
    from api.station_edit import add_station

    form = await request.form()
    store = get_store(request)
    kind = str(form.get("kind") or "")
    points = list(zip(form.getlist("add.name"), form.getlist("add.lon"), form.getlist("add.lat")))

    def action():
        if not points:
            raise InputDataError("地図をクリックして、追加する拠点の場所を選んでください",
                                 en="click the map to choose where the new station goes")
        for name, lon, lat in points:
            add_station(store, name=str(name), kind=kind, lon=lon, lat=lat, by=user.username)

    return await run_in_threadpool(_after, request, user, store, action)


@router.post("/web/stations/{station_id}", dependencies=[allow(*EDITORS)])
async def change_station(station_id: str, request: Request, user: CurrentUser):
    """Save one row of the table: name, kind, address, place, areas."""
    from api.station_edit import update_station

    form = await request.form()
    store = get_store(request)
    changes = {k: str(form.get(k) or "") for k in ("name", "kind", "address", "lon", "lat", "area_ids")}
    return await run_in_threadpool(_after, request, user, store, lambda: update_station(store, station_id, changes))


@router.post("/web/stations/{station_id}/delete", dependencies=[allow(*EDITORS)])
def remove_station(station_id: str, request: Request, user: CurrentUser):
    from api.station_edit import delete_station

    store = get_store(request)
    return _after(request, user, store, lambda: delete_station(store, station_id))


async def _upload(request: Request, user, what: str):
    from api.routers._upload import receive_upload
    from api.station_import import import_station_areas, import_station_file
    from api.uploads import UploadLimits, remove_upload

    settings = request.app.state.settings
    store = get_store(request)
    try:
        path, name, fields = await receive_upload(request, limit=settings.max_upload_bytes, upload_dir=settings.upload_dir,
                                                  limits=UploadLimits.from_settings(settings))
    except (InputDataError, UploadTooLarge) as exc:
        return await run_in_threadpool(lambda: _page(request, user, store, problems=[_said(exc)], status_code=422))
    limits = UploadLimits.from_settings(settings)
    try:
        if what == "stations":
            action = lambda: import_station_file(store, path, kind=fields.get("kind") or None, source_name=name,  # noqa: E731
                                                 limits=limits, by=user.username)
        else:
            action = lambda: import_station_areas(store, path, source_name=name, limits=limits, by=user.username)  # noqa: E731
        return await run_in_threadpool(_after, request, user, store, action)
    finally:
        remove_upload(path)


@router.post("/web/stations-import", dependencies=[allow(*EDITORS)])
async def import_stations(request: Request, user: CurrentUser):
    """Replace every station with a file's (CSV / Excel / GeoJSON), all or nothing."""
    return await _upload(request, user, "stations")


@router.post("/web/stations-areas", dependencies=[allow(*EDITORS)])
async def import_areas(request: Request, user: CurrentUser):
    """Assign areas to stations from a table (拠点, 担当地域), all or nothing."""
    return await _upload(request, user, "areas")


def _said(exc: Exception) -> str:
    """The problem as a planner reads it: the reason and what to do (no field codes)."""
    if isinstance(exc, InputDataError):
        return exc.reason + (f" — {exc.hint}" if exc.hint else "")
    return str(exc)


__all__ = ["router"]
