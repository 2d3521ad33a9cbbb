"""訪問ルート (CSWs and administrators): a station's visit list at a glance and planning a CSW day.

The page shows how many client households a station has — never who — and lets the station's
CSWs import their visits file and plan the day; the plan itself (names, addresses, the route
map) is opened from the private ``/outreach/plans/{id}`` pages, which only the station's CSWs
and administrators can read. Nothing here is on the shared pages.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.dependencies import get_store
from api.jobs import STATUS_LABELS
from api.private import PrivateAccessError
from api.security import CLIENT_ROLES, CurrentUser, allow, viewer_of
from api.web._render import render
from api.web.pages import WORKSPACE_PROBLEMS, _store_problem

router = APIRouter(prefix="/web", include_in_schema=False)


@router.get("/outreach", dependencies=[allow(*CLIENT_ROLES)])
def outreach_page(request: Request, user: CurrentUser):
    """The station's household count, the visits-file import, the day-planning form and recent plans."""
    from api.routers.clients import get_clients

    try:
        store = get_store(request)
        stations = store.stations()
    except WORKSPACE_PROBLEMS as exc:
        return _store_problem(request, user, "訪問ルート", exc)
    choices = [{"id": str(s.station_id), "name": str(s.name)} for s in stations.itertuples()]
    if user.role == "csw":
        choices = [c for c in choices if c["id"] == str(user.station_id)] or [
            {"id": str(user.station_id), "name": str(user.station_id)}]
    counts: dict[str, int] = {}
    try:
        households = get_clients(request).households(viewer_of(user))  # an audited read
        counts = households.groupby("station_id").size().astype(int).to_dict() if len(households) else {}
    except PrivateAccessError:
        counts = {}
    plans = []
    allowed = {c["id"] for c in choices}
    for record in store.list_jobs(analysis="outreach", limit=30):
        station = str((record.get("params") or {}).get("station_id"))
        if user.role == "admin" or station in allowed:
            plans.append({"job_id": record["job_id"], "station_id": station, "status": record["status"],
                          "status_label": STATUS_LABELS.get(record["status"], record["status"]),
                          "created_at": record["created_at"], "created_by": record["created_by"]})
    return render(request, "outreach.html", user=user, stations=choices,
                  counts={c["id"]: counts.get(c["id"], 0) for c in choices}, plans=plans)
