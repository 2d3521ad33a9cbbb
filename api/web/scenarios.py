"""シナリオ in the web UI: the saved scenarios, a form to make one on the map, and the comparison of a job with its baseline."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from starlette.concurrency import run_in_threadpool

from api.dependencies import get_store
from api.security import ANY_ROLE, EDITORS, CurrentUser, allow
from api.store.base import StoreError
from api.web._render import render
from gis import kinds as kinds_vocabulary
from gis.errors import InputDataError
from gis.schema import RESOURCE_KINDS

router = APIRouter(include_in_schema=False)



def _resources(store) -> list[dict]:
    out = []
    for row in store.resources().itertuples(index=False):
        point = row.geometry
        if point is None or point.is_empty:
            continue
        label = RESOURCE_KINDS.get(row.kind, str(row.kind))
        out.append({"id": str(row.resource_id), "name": str(row.name or "（名前なし）"), "kind": str(row.kind),
                    "caption": f"{row.name or '（名前なし）'}（{label}）", "lon": float(point.x), "lat": float(point.y)})
    return sorted(out, key=lambda r: (RESOURCE_KINDS.get(r["kind"], r["kind"]), r["name"]))


def _page(request: Request, user, store, *, problems=(), form=None, status_code: int = 200):
    from api.web._data import city_bounds

    from gis.scenarios import ACTIONS, PARAMETERS

    scenarios = []
    for rec in store.scenarios():
        changes = "、".join(f"{ACTIONS.get(c.get('action'), c.get('action'))} {c.get('name') or c.get('resource_id') or ''}"
                            for c in rec.get("changes") or [])
        params = "、".join(f"{PARAMETERS.get(k, k)} {v}" for k, v in (rec.get("params") or {}).items())
        scenarios.append({"name": rec["name"], "description": rec.get("description") or "",
                          "created_by": rec.get("created_by") or "", "changes": changes or "（変更なし）",
                          "params": params})
    resources = _resources(store)
    data = {"bounds": city_bounds(store),
            "kinds": {k: {"label": v["label"], "colour": v["colour"]}
                      for k, v in kinds_vocabulary.as_json()["resources"].items()},
            "shops": resources}
    kinds = [(k, label) for k, label in RESOURCE_KINDS.items() if k != kinds_vocabulary.MOBILE_STOP_KIND]
    return render(request, "scenarios.html", user=user, scenarios=scenarios, resources=resources, data=data,
                  kinds=kinds, problems=list(problems), form=form or {}, status_code=status_code)


@router.get("/web/scenarios", dependencies=[allow(*ANY_ROLE)])
def scenarios_page(request: Request, user: CurrentUser):
    """シナリオ: the saved scenarios and a form to make one (resources added on the map, removed from a list)."""
    store = get_store(request)
    return _page(request, user, store)


@router.post("/web/scenarios", dependencies=[allow(*EDITORS)])
async def create_scenario(request: Request, user: CurrentUser):
    """Save the scenario of the posted form; a problem shows the form again with the message (422)."""
    from api.scenarios import new_scenario

    form = await request.form()
    store = get_store(request)
    kind = str(form.get("add_kind") or "salon")
    names, lons, lats = form.getlist("add.name"), form.getlist("add.lon"), form.getlist("add.lat")
    changes = []
    for k, (name, lon, lat) in enumerate(zip(names, lons, lats), start=1):
        changes.append({"action": "add", "kind": kind, "name": str(name).strip() or f"新しい{RESOURCE_KINDS.get(kind, kind)}{k}",
                        "lon": lon, "lat": lat})
    changes += [{"action": "remove", "resource_id": str(rid)} for rid in form.getlist("remove")]
    data = {"name": str(form.get("name") or "").strip(), "description": str(form.get("description") or ""),
            "changes": changes}
    share = str(form.get("elderly_share") or "").strip()
    if share:
        data["params"] = {"elderly_share": share.rstrip("%")}
    kept = {"name": data["name"], "description": data["description"], "elderly_share": share}
    try:
        await run_in_threadpool(new_scenario, store, data, created_by=user.username)
    except (InputDataError, StoreError) as exc:
        return await run_in_threadpool(lambda: _page(request, user, store, problems=[_said(exc)], form=kept,
                                                     status_code=422))
    return RedirectResponse("/web/scenarios", status_code=303, headers={"Cache-Control": "no-store"})


@router.post("/web/scenarios/{name}/delete", dependencies=[allow(*EDITORS)])
def delete_scenario(name: str, request: Request, user: CurrentUser):
    """Delete a scenario (jobs run on it keep their results)."""
    get_store(request).delete_scenario(name)
    return RedirectResponse("/web/scenarios", status_code=303, headers={"Cache-Control": "no-store"})


def baseline_of(store, record: dict) -> dict | None:
    """The latest done job of the same analysis on the base data with the same parameters, for a job run on a scenario."""
    from api.scenarios import PARAM

    params = dict(record.get("params") or {})
    scenario = params.pop(PARAM, None)
    if not scenario or record.get("status") != "done":
        return None
    overridden = set((scenario.get("params") or {}) if isinstance(scenario, dict) else {})
    for other in store.list_jobs(analysis=record["analysis"], status="done", limit=200):
        theirs = dict(other.get("params") or {})
        if theirs.pop(PARAM, None) is not None:
            continue
        if {k: v for k, v in theirs.items() if k not in overridden} == {k: v for k, v in params.items()
                                                                        if k not in overridden}:
            return other
    return None


def comparison_links(store, record: dict) -> dict | None:
    """Links comparing a scenario job with its baseline (map and Excel), or None."""
    base = baseline_of(store, record)
    if base is None:
        return None
    path = f"/jobs/{quote(base['job_id'])}/compare/{quote(record['job_id'])}"
    return {"baseline": base["job_id"], "map": f"{path}?format=html", "xlsx": f"{path}?format=xlsx"}


def _said(exc: Exception) -> str:
    """The problem as a planner reads it: the reason and what to do (no field codes)."""
    if isinstance(exc, InputDataError):
        return exc.reason + (f" — {exc.hint}" if exc.hint else "")
    return str(exc)


__all__ = ["baseline_of", "comparison_links", "router"]
