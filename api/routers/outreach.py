"""Outreach plans (private): start a station's CSW route job, then read the plan, its map and route sheets.

The ``outreach`` job (:mod:`api.analyses.outreach`) keeps the plan in the private client store;
its public job record holds only the station, the number of CSWs and counts. The plan itself
— which household when, with names, addresses and points — is served only here, to the
station's CSWs and administrators (another station's job is the same 404 as an unknown one),
each read logged in the access log, every response ``Cache-Control: no-store``.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import Field

from api.analyses.outreach import NAME, OutreachParams, plan_map_html, plan_marks, plan_sheet
from api.dependencies import SettingsDep, StoreDep, data_dir_of, get_runner
from api.errors import Conflict, Forbidden, NotFound
from api.jobs import STATUS_LABELS, xlsx_bytes
from api.private import PRIORITY_LABELS, PrivateAccessError
from api.routers import clients
from api.routers.clients import NO_STORE, ClientsDep, _check_station, _refused, private_json
from api.security import CLIENT_ROLES, CurrentUser, allow, viewer_of
from gis.outreach import MODE_LABELS, format_hhmm, format_windows

router = APIRouter(prefix="/outreach", tags=["outreach"])


class OutreachRequest(OutreachParams):
    """``POST /outreach/plans`` body: the day to plan (a CSW's station by default)."""

    station_id: str | None = Field(None, max_length=200, description="拠点ID（CSW は省略可：自分の拠点）")


def submit_outreach(request: Request, store, settings, user, params: dict | None) -> dict:
    """Check who asks and for which station, then queue an ``outreach`` job; returns its record.

    Only administrators and the station's own CSWs may plan (anyone else: 403). The station must
    exist (404). The job gets a fresh private plan id and the caller's name (for the access
    log); whatever the caller sent for those is replaced.
    """
    if user.role not in CLIENT_ROLES:
        raise Forbidden(f"{user.username}（{user.role_label}）は訪問ルートを計画できません",
                        en=f"{user.username} ({user.role}) may not plan outreach routes",
                        hint="訪問ルート（訪問先は要配慮個人情報）は CSW と管理者だけが計画できます",
                        hint_en="only CSWs and admins may plan outreach routes (households are sensitive personal data)")
    params = dict(params or {})
    station = params.get("station_id") or (user.station_id if user.role == "csw" else None)
    if user.role == "csw" and str(station) != str(user.station_id):
        msg = f"拠点 {station} の訪問ルートは、その拠点の CSW と管理者だけが計画できます（所属 {user.station_id}）"
        en = f"only the CSWs of station {station} and administrators may plan its visits (yours: {user.station_id})"
        raise Forbidden(msg, en=en, hint="自分の拠点の訪問ルートだけを計画できます",
                        hint_en="you may plan your own station's routes only")
    if station:
        _check_station(store, str(station))
    params.update(station_id=station, plan_id=uuid.uuid4().hex, requested_by=user.username)
    return get_runner(request).submit(store, NAME, params, data_dir=data_dir_of(settings), created_by=user.username)


def _links(job_id: str) -> dict:
    base = f"/outreach/plans/{job_id}"
    return {"self": base, "map": f"{base}/map", "csv": f"{base}/routes.csv", "xlsx": f"{base}/routes.xlsx",
            "job": f"/jobs/{job_id}"}


@router.post("/plans", status_code=202, summary="CSW の訪問ルートを計画（ジョブ）", dependencies=[allow(*CLIENT_ROLES)])
def start_plan(body: OutreachRequest, request: Request, store: StoreDep, settings: SettingsDep,
               user: CurrentUser) -> JSONResponse:
    """Queue the outreach job for the caller's station (an administrator names one); 202 with the job and plan URLs."""
    params = body.model_dump(mode="json", exclude={"plan_id", "requested_by"}, exclude_none=True)
    record = submit_outreach(request, store, settings, user, params)
    job_id = record["job_id"]
    content = {"job_id": job_id, "analysis": record["analysis"], "status": record["status"],
               "status_url": f"/jobs/{job_id}", "plan_url": f"/outreach/plans/{job_id}", "links": _links(job_id)}
    return JSONResponse(content, status_code=202, headers={"Location": f"/outreach/plans/{job_id}", **NO_STORE})


def _job(request: Request, store, user, job_id: str) -> dict:
    """The outreach job ``job_id`` if the caller may see its plan; otherwise the same 404 as for no job."""
    record = get_runner(request).status(store, job_id)
    params = (record or {}).get("params") or {}
    visible = (record is not None and record["analysis"] == NAME
               and (user.role == "admin" or str(params.get("station_id")) == str(user.station_id)))
    if not visible:
        raise NotFound(f"訪問ルートの計画 {job_id} は見つかりません", en=f"no outreach plan {job_id} you may see",
                       hint="GET /outreach/plans で見られる計画を確認してください（他の拠点の計画は見られません）",
                       hint_en="see the plans you may read with GET /outreach/plans (other stations' plans are not shown)")
    return record


def _stored_plan(request: Request, store, clients, user, job_id: str) -> tuple[dict, dict] | JSONResponse:
    """(job record, private plan) of a finished plan; 409 while it runs.

    A plan whose planning failed comes back as a 409 response carrying the private reason
    (it may name households by label, so it is ``no-store`` and only for those who may see it).
    """
    record = _job(request, store, user, job_id)
    if record["status"] in ("queued", "running"):
        raise Conflict(f"訪問ルートの計画 {record['job_id']} はまだ{STATUS_LABELS[record['status']]}です",
                       hint=f"GET /jobs/{record['job_id']} で完了を待ってください",
                       status=record["status"], progress=record["progress"],
                       en=f"outreach plan {record['job_id']} is still {record['status']}",
                       hint_en=f"wait for it to finish: GET /jobs/{record['job_id']}")
    plan_id = (record.get("params") or {}).get("plan_id") or (record.get("summary") or {}).get("plan_id")
    try:
        plan = clients.outreach_plan(viewer_of(user), plan_id) if plan_id else None
    except PrivateAccessError as exc:
        raise _refused(exc) from None
    if plan is None or plan["status"] != "done":
        detail = plan["error"] if plan is not None else None
        if record["status"] == "done" and plan is None:
            raise NotFound(f"訪問ルートの計画 {record['job_id']} の非公開の記録がありません",
                           hint="計画をやり直してください（POST /outreach/plans）",
                           en=f"outreach plan {record['job_id']} has no private record",
                           hint_en="plan again (POST /outreach/plans)")
        label = STATUS_LABELS.get(record["status"], record["status"])
        body = {"error": "conflict", "title": "訪問ルートを計画できませんでした",
                "message": f"訪問ルートの計画 {record['job_id']} は{label}しました",
                "hint": "訪問先を直してから計画をやり直してください（POST /outreach/plans）",
                "status": record["status"], "job_error": detail or record.get("error")}
        return private_json(body, status_code=409)
    return record, plan


def _households(clients, user, plan: dict):
    return clients.households(viewer_of(user), station_id=plan["station_id"], ids=plan["household_ids"])


def _plan_view(record: dict, plan: dict, households) -> dict:
    doc = plan["document"]
    info = {str(r["household_id"]): r for r in households.to_dict("records")}

    def person(hid: str) -> dict:
        h = info.get(str(hid), {})
        return {"name": h.get("name"), "address": h.get("address"), "notes": h.get("notes")}

    csws = []
    for c in doc.get("csws", []):
        visits = [{**{k: v[k] for k in ("order", "household_id", "label", "lon", "lat", "priority")},
                   **person(v["household_id"]), "arrival": format_hhmm(v["arrival_s"]), "start": format_hhmm(v["start_s"]),
                   "end": format_hhmm(v["end_s"]), "travel_min": round(v["travel_s"] / 60),
                   "wait_min": round(v["wait_s"] / 60), "windows": format_windows(v["windows"]),
                   "priority_label": PRIORITY_LABELS.get(v["priority"], "")} for v in c.get("visits", [])]
        csws.append({"csw_id": c["csw_id"], "name": c["name"], "mode": MODE_LABELS.get(c["mode"], c["mode"]),
                     "leave": format_hhmm(c["leave_s"]) if c.get("leave_s") is not None else None,
                     "return": format_hhmm(c["return_s"]) if c.get("return_s") is not None else None,
                     "breaks": [f"{format_hhmm(a)}-{format_hhmm(b)}" for a, b in c.get("breaks", [])],
                     "travel_min": round(c.get("travel_s", 0) / 60), "distance_km": round(c.get("distance_m", 0) / 1000, 1),
                     "visits": visits})
    return {
        "job_id": record["job_id"], "plan_id": plan["plan_id"], "station_id": plan["station_id"],
        "station_name": doc.get("station_name"), "date": doc.get("date"), "created_at": plan["created_at"],
        "created_by": plan["created_by"], "marking": plan_marks(doc), "sample": bool(doc.get("sample")),
        "solver": doc.get("solver"), "csws": csws,
        "unfitted": [{**u, **person(u["household_id"])} for u in doc.get("unfitted", [])],
        "removed_after_deletion": int(doc.get("removed", 0)), "notes": doc.get("notes", []), "links": _links(record["job_id"]),
    }


@router.get("/plans", summary="訪問ルートの計画の一覧（CSW は自分の拠点のみ）", dependencies=[allow(*CLIENT_ROLES)])
def list_plans(store: StoreDep, clients: ClientsDep, user: CurrentUser,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> JSONResponse:
    """Outreach jobs the caller may see, newest first: station, status, how many households the plan names, links.

    The counts come from the private record (the public job shows small ones suppressed); no
    household is named.
    """
    try:
        named = {p["plan_id"]: p["households"] for p in clients.outreach_plan_index(viewer_of(user))}
    except PrivateAccessError as exc:
        raise _refused(exc) from None
    out = []
    for record in store.list_jobs(analysis=NAME, limit=limit):
        params = record.get("params") or {}
        if user.role != "admin" and str(params.get("station_id")) != str(user.station_id):
            continue
        summary = record.get("summary") or {}
        out.append({"job_id": record["job_id"], "station_id": params.get("station_id"), "status": record["status"],
                    "status_label": STATUS_LABELS.get(record["status"], record["status"]),
                    "created_at": record["created_at"], "created_by": record["created_by"],
                    "date": summary.get("date"), "csws": summary.get("csws"),
                    "households": named.get(params.get("plan_id") or summary.get("plan_id")),
                    "links": _links(record["job_id"])})
    return private_json(out)


@router.get("/plans/{job_id}", summary="訪問ルートの計画（氏名・住所つき、非公開）", dependencies=[allow(*CLIENT_ROLES)])
def get_plan(job_id: str, request: Request, store: StoreDep, clients: ClientsDep, user: CurrentUser) -> JSONResponse:
    """Each CSW's day (visits in order with names, addresses and times) and the visits that could not be fitted."""
    got = _stored_plan(request, store, clients, user, job_id)
    if isinstance(got, Response):
        return got
    record, plan = got
    return private_json(_plan_view(record, plan, _households(clients, user, plan)))


@router.get("/plans/{job_id}/map", summary="訪問ルートの地図（非公開）", response_class=HTMLResponse,
            dependencies=[allow(*CLIENT_ROLES)])
def plan_map(job_id: str, request: Request, store: StoreDep, clients: ClientsDep, user: CurrentUser) -> Response:
    """The CSWs' routes on one map (a layer per CSW), marked 要配慮個人情報."""
    got = _stored_plan(request, store, clients, user, job_id)
    if isinstance(got, Response):
        return got
    _record, plan = got
    return HTMLResponse(plan_map_html(plan["document"], _households(clients, user, plan)), headers=NO_STORE)


def _download(record: dict, plan: dict, households, ext: str) -> Response:
    doc = plan["document"]
    tables = plan_sheet(doc, households)
    marks = plan_marks(doc)
    stem = f"outreach-{record['job_id'][:8]}-routes"
    if ext == "csv":
        text = "".join(f"# {m}\n" for m in marks) + tables["訪問ルート"].to_csv(index=False)
        body, media = ("\ufeff" + text).encode("utf-8"), "text/csv; charset=utf-8"
    else:
        body = xlsx_bytes(tables, notes=[*marks, *doc.get("notes", [])])
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = f"attachment; filename=\"{stem}.{ext}\"; filename*=UTF-8''{quote(stem)}.{ext}"
    return Response(body, media_type=media, headers={"Content-Disposition": disposition, **NO_STORE})


def _plan_file(job_id: str, request: Request, store, clients, user, ext: str) -> Response:
    got = _stored_plan(request, store, clients, user, job_id)
    if isinstance(got, Response):
        return got
    record, plan = got
    return _download(record, plan, _households(clients, user, plan), ext)


@router.get("/plans/{job_id}/routes.csv", summary="訪問ルート表（CSV、非公開）", dependencies=[allow(*CLIENT_ROLES)])
def plan_csv(job_id: str, request: Request, store: StoreDep, clients: ClientsDep, user: CurrentUser) -> Response:
    """Every CSW's route sheet in one CSV (UTF-8 with BOM), marked 要配慮個人情報 in its first lines."""
    return _plan_file(job_id, request, store, clients, user, "csv")


@router.get("/plans/{job_id}/routes.xlsx", summary="訪問ルート表（Excel、非公開）", dependencies=[allow(*CLIENT_ROLES)])
def plan_xlsx(job_id: str, request: Request, store: StoreDep, clients: ClientsDep, user: CurrentUser) -> Response:
    """The route sheets and the unfitted visits as Excel sheets, with a 注記 sheet carrying the marking."""
    return _plan_file(job_id, request, store, clients, user, "xlsx")


__all__: list[Any] = ["router", "submit_outreach"]


def install(app) -> None:
    """Add the client-household routes (:mod:`api.routers.clients`) and the outreach-plan routes to ``app``."""
    app.include_router(clients.router)
    app.include_router(router)
