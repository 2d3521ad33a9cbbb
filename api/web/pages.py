"""The pages of the web UI: workspace, tier map, analyses and their jobs, community resources."""

from __future__ import annotations

import logging
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError

from api.dependencies import chosen_workspace, data_dir_of, get_runner, get_store
from api.errors import DEMO_HINT, NotFound
from api.jobs import STATUS_LABELS, describe_analyses, job_city, load_analyses
from api.routers._geojson import feature_collection
from api.security import ANY_ROLE, EDITORS, PUBLIC, CurrentUser, allow
from api.store.base import StoreError, WorkspaceNotInitialised
from api.workspaces import list_workspaces
from api.web._data import city_bounds
from api.web._render import is_editor, render
from api.web.forms import ShopChoice, form_fields, japanese_problems, model_defaults, read_form, with_values
from api.web.results import analysis_name, census_label, param_text, planner_order, result_words
from gis.errors import InputDataError
from gis import kinds as kinds_vocabulary
from gis.schema import RESOURCE_KINDS
from layers.style import kinds_css

router = APIRouter(include_in_schema=False)
logger = logging.getLogger("tsunagu.web")

#: Analyses that are started elsewhere, not from a parameter form: ``import-resources`` needs an
#: uploaded file (the resources page sends it); ``outreach`` plans CSW visits to client households,
#: which belong to the private client pages, never to these shared ones.
NOT_ON_FORMS = frozenset({"import-resources", "outreach"})

#: What can go wrong opening the chosen workspace: not built yet, unreachable, or a chosen name
#: (cookie) the server no longer has.
WORKSPACE_PROBLEMS = (StoreError, NotFound)

#: One line on what each analysis answers (shown above its form).
ABOUT = {
    "salon-gaps": "サロンから徒歩圏（既定 500 m・1 km）の外に住む高齢者を、圏域ごとに数えて地図にします。",
    "salon-sites": "新しいサロンをどこに開くと、より多くの高齢者が徒歩圏に入るかを選びます（最適化と貪欲法の比較）。",
    "shopping-refugees": "食料品店まで遠い 65 歳以上（買い物弱者）を圏域ごとに推計します（農水省の距離基準 直線 500 m。自動車を使えない人の割合を入れると農水省方式の推計）。",
    "catchments": "拠点ごとの担当圏域と、そこに住む人口・高齢者・未カバーの人数（仕事量）を示します。",
    "mobile-sales": "買い物弱者の多い場所に移動販売の停留所を置き、曜日ごとの巡回ルートと時刻表を作ります。",
}

#: Kinds an editor places on the map most often, offered first (``common`` in gis/kinds.toml).
COMMON_KINDS = kinds_vocabulary.common_kinds()


def _problem(exc: Exception) -> tuple[str, str, str, int]:
    """What to tell the user when the chosen workspace cannot be used: (message, hint, detail, status)."""
    if isinstance(exc, NotFound):
        return ("選んだワークスペースがこのサーバーにありません。", "ワークスペースのページで選び直してください",
                exc.message, 404)
    if isinstance(exc, WorkspaceNotInitialised):
        return "このワークスペースにはまだ市区町村のデータがありません。", DEMO_HINT, str(exc), 409
    return "ワークスペースを開けません。", DEMO_HINT, str(exc), 503


def _store_problem(request: Request, user, title: str, exc: Exception):
    """The page shown when the chosen workspace cannot be opened, has no city yet or is gone."""
    message, hint, detail, status = _problem(exc)
    return render(request, "problem.html", user=user, title=title, message=message, hint=hint, detail=detail,
                  status_code=status)


def _choices(request: Request) -> tuple[str, list[dict]]:
    """The workspace this browser uses and every workspace of the server (for the chooser)."""
    current = chosen_workspace(request)
    try:
        listed = list_workspaces(request.app.state.settings)
    except StoreError:
        listed = []
    return current, listed


@router.get("/", dependencies=[allow(PUBLIC)])
def root() -> RedirectResponse:
    """The service's front door: the web UI (which asks for a login when needed)."""
    return RedirectResponse("/web/", status_code=303)


@router.get("/web/kinds.css", dependencies=[allow(PUBLIC)])
def kinds_stylesheet() -> Response:
    """The kind colours as CSS (``.k-<key>``), rendered from the one vocabulary (gis/kinds.toml)."""
    return Response(kinds_css(), media_type="text/css; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=86400", "X-Content-Type-Options": "nosniff"})


@router.get("/web/kinds.json", dependencies=[allow(PUBLIC)])
def kinds_json() -> JSONResponse:
    """The kind vocabulary for page scripts: key → label, colour, group, marker, shown (gis/kinds.toml)."""
    return JSONResponse(kinds_vocabulary.as_json(), headers={"Cache-Control": "public, max-age=86400"})


@router.get("/web/", dependencies=[allow(*ANY_ROLE)])
def workspace_page(request: Request, user: CurrentUser):
    """ワークスペース: the city, its tiers with area counts, stations and resources; a chooser when there are several."""
    current, choices = _choices(request)
    try:
        store = get_store(request)
        ws = store.workspace()
        areas = store.areas()
        stations = store.stations()
        resources = store.resources()
        log = store.import_log()
    except WORKSPACE_PROBLEMS as exc:
        if len(choices) < 2 and not isinstance(exc, NotFound):
            return _store_problem(request, user, "ワークスペース", exc)
        # another workspace may work: say what is wrong with this one above the chooser
        message, hint, detail, status = _problem(exc)
        return render(request, "workspace.html", user=user, ws=None, current=current, choices=choices,
                      problem={"message": message, "hint": hint, "detail": detail}, status_code=status)
    profile = ws["profile"]
    counts = areas["level"].value_counts()
    populations = areas.groupby("level")["population"].sum(min_count=1)
    levels = [{"key": lv.key, "label": lv.label, "short": lv.short, "count": int(counts.get(lv.key, 0)),
               "population": None if lv.key not in populations or populations[lv.key] != populations[lv.key]
               else int(populations[lv.key]), "note": profile.notes.get(lv.key)} for lv in profile.levels]
    by_kind = resources["kind"].value_counts()
    kinds = [{"label": RESOURCE_KINDS.get(k, k), "count": int(n)} for k, n in by_kind.items()]
    samples = int(resources["is_sample"].fillna(False).astype(bool).sum()) if "is_sample" in resources else 0
    last = next((r for r in reversed(log) if r.get("kind") == "city_workspace"), None)
    return render(request, "workspace.html", user=user, ws=ws, profile=profile, levels=levels, kinds=kinds,
                  stations=int(len(stations)), resources=int(len(resources)), samples=samples,
                  built=last, current=current, choices=choices, problem=None, store_location=store.location)


@router.get("/web/map", dependencies=[allow(*ANY_ROLE)])
def map_page(request: Request, user: CurrentUser):
    """地図: the tier map (GET /maps/tiers) filling the page."""
    return render(request, "map.html", user=user)


def _shops(store) -> list[ShopChoice]:
    """The workspace's food shops (the kinds of gis/kinds.toml), by name, for the shop widgets."""
    shops = store.resources(kinds=list(kinds_vocabulary.food_shop_kinds()))
    out = []
    for row in shops.itertuples(index=False):
        point = row.geometry
        if point is None or point.is_empty:
            continue
        out.append(ShopChoice(resource_id=str(row.resource_id), name=str(row.name or "（名前なし）"), kind=str(row.kind),
                              kind_label=RESOURCE_KINDS.get(row.kind, str(row.kind)),
                              address=str(getattr(row, "address", "") or ""), lon=float(point.x), lat=float(point.y)))
    return sorted(out, key=lambda s: (s.name, s.resource_id))


def _closed_outside_kinds(params: dict, shops: list[ShopChoice], fields) -> list[tuple[str, str]]:
    """A shop to close whose kind is not among the shop kinds counted: say so (it would change nothing)."""
    kinds = params.get("shop_kinds")
    if not params.get("close_shop_ids") or not kinds:
        return []
    label = next((f.label for f in fields if f.name == "close_shop_ids"), "閉店する店")
    by_id = {s.resource_id: s for s in shops}
    return [(label, f"「{by_id[i].name}」は{by_id[i].kind_label}です。食料品店とみなす種類に"
                    f"{by_id[i].kind_label}を加えるか、この店を外してください")
            for i in params["close_shop_ids"] if i in by_id and by_id[i].kind not in kinds]


def _forms(store) -> tuple[list[dict], dict]:
    """Every analysis form in a planner's order, and the page data of its maps (shops, city bounds)."""
    registry = load_analyses()
    try:
        shops = _shops(store) if store is not None else []
        bounds = city_bounds(store) if store is not None else None
    except WORKSPACE_PROBLEMS:
        shops, bounds = [], None
    described = {a["name"]: a for a in describe_analyses() if a["name"] not in NOT_ON_FORMS}
    analyses = []
    for name in planner_order(described):
        a = described[name]
        spec = registry.get(name)
        defaults = model_defaults(spec.params) if spec is not None else None
        fields = form_fields(a["params"], defaults=defaults, shops=shops)
        analyses.append({"name": name, "label": analysis_name(name, a["label"]), "about": ABOUT.get(name),
                         "fields": fields, "map_fields": [f for f in fields if f.on_map],
                         "plain_fields": [f for f in fields if not f.on_map], "problems": []})
    data = {"bounds": bounds,
            "kinds": {k: {"label": v["label"], "colour": v["colour"]}
                      for k, v in kinds_vocabulary.as_json()["resources"].items()},
            "shops": [{"id": s.resource_id, "name": s.name, "caption": s.caption, "kind": s.kind,
                       "lon": s.lon, "lat": s.lat} for s in shops]}
    return analyses, data


def _analyses_page(request: Request, user, *, store, failed: str | None = None, form=None,
                   problems: list[tuple[str, str]] | None = None, status_code: int = 200):
    analyses, data = _forms(store)
    for a in analyses:
        if a["name"] == failed and form is not None:
            fields = with_values(a["fields"], form)
            a.update(fields=fields, map_fields=[f for f in fields if f.on_map],
                     plain_fields=[f for f in fields if not f.on_map], problems=problems or [])
    try:
        scenarios = [r["name"] for r in store.scenarios()] if store is not None else []
    except (StoreError, *WORKSPACE_PROBLEMS):
        scenarios = []
    chosen = str(form.get("__scenario") or "") if form is not None else ""
    return render(request, "analyses.html", user=user, analyses=analyses, data=data, failed=failed,
                  scenarios=scenarios, chosen_scenario=chosen, status_code=status_code)


@router.get("/web/analyses", dependencies=[allow(*ANY_ROLE)])
def analyses_page(request: Request, user: CurrentUser):
    """解析: one form per analysis in a planner's order, with lists and maps where codes would be typed."""
    try:
        store = get_store(request)
    except WORKSPACE_PROBLEMS:
        store = None
    return _analyses_page(request, user, store=store)


@router.post("/web/analyses/{name}", dependencies=[allow(*EDITORS)])
async def start_analysis(name: str, request: Request, user: CurrentUser):
    """Start an analysis from its posted form: read the fields, validate, queue the job, go to its page.

    A problem with the input shows the form again with the user's values and the problems in
    Japanese (422); no job is made.
    """
    from starlette.concurrency import run_in_threadpool

    registry = load_analyses()
    spec = registry.get(name)
    if spec is None or name in NOT_ON_FORMS:
        return render(request, "problem.html", user=user, title="解析が見つかりません",
                      message="指定された解析はありません。", hint="解析の一覧から選んでください", detail=None,
                      status_code=404)
    form = await request.form()
    try:
        store = get_store(request)
    except WORKSPACE_PROBLEMS as exc:
        return _store_problem(request, user, "解析", exc)
    shops = await run_in_threadpool(_shops, store)
    fields = form_fields(spec.params.model_json_schema(), defaults=model_defaults(spec.params), shops=shops)
    params, problems = read_form(fields, form)
    problems += _closed_outside_kinds(params, shops, fields)
    scenario = str(form.get("__scenario") or "").strip()
    if not problems:
        try:
            spec.params.model_validate(params)
        except ValidationError as exc:
            problems = japanese_problems(exc.errors(), fields)
    if problems:
        return await run_in_threadpool(lambda: _analyses_page(request, user, store=store, failed=name, form=form,
                                                              problems=problems, status_code=422))

    def submit() -> dict:
        from api.layer_cache import exact_version

        settings = request.app.state.settings
        run = {**params, "scenario": scenario} if scenario else params
        return get_runner(request).submit(store, name, run, data_dir=data_dir_of(settings),
                                          created_by=user.username, version=exact_version(store))

    try:
        record = await run_in_threadpool(submit)
    except InputDataError as exc:
        return await run_in_threadpool(lambda: _analyses_page(
            request, user, store=store, failed=name, form=form, problems=[("入力", str(exc))], status_code=422))
    return RedirectResponse(f"/web/jobs/{quote(record['job_id'], safe='')}", status_code=303,
                            headers={"Cache-Control": "no-store"})


def _labels() -> dict[str, str]:
    return {a["name"]: analysis_name(a["name"], a["label"]) for a in describe_analyses()}


def _people(request: Request, records: list[dict]) -> dict[str, str]:
    """Username → the name shown for it (display name), for the users who started ``records``."""
    from api.security import get_accounts

    names: dict[str, str] = {}
    try:
        accounts = get_accounts(request)
    except Exception:  # noqa: BLE001 - no account store: usernames as they are
        return names
    for username in {str(r.get("created_by") or "") for r in records} - {""}:
        account = accounts.get_user(username)
        if account is not None:
            names[username] = account.shown_name
    return names


def _job_view(record: dict, labels: dict[str, str], workspace: dict | None = None,
              people: dict[str, str] | None = None) -> dict:
    job_id = record["job_id"]
    done = record["status"] == "done"
    names = (record.get("tables") or []) if done else []
    tables = [{"name": t, "csv": f"/jobs/{job_id}/tables/{quote(t, safe='')}.csv"} for t in names]
    return {
        **record,
        **job_city(record, workspace),
        "label": labels.get(record["analysis"], record["analysis"]),
        "started_by": (people or {}).get(str(record.get("created_by")), record.get("created_by") or ""),
        "status_label": STATUS_LABELS.get(record["status"], record["status"]),
        "percent": round(100 * float(record.get("progress") or 0)),
        "table_links": tables,
        "xlsx": f"/jobs/{job_id}/tables/all.xlsx" if done and tables else None,
        "map": f"/maps/jobs/{job_id}" if done and record.get("has_map") else None,
        "final": record["status"] in ("done", "failed", "cancelled"),
        "cancelling": record["status"] in ("queued", "running") and bool(record.get("cancel_requested")),
        "is_import": record["analysis"] == "import-resources",
        # an outreach plan's names and map are private: links to the station-checked pages
        "private_plan": f"/outreach/plans/{job_id}" if done and record["analysis"] == "outreach" else None,
    }


@router.get("/web/jobs", dependencies=[allow(*ANY_ROLE)])
def jobs_page(request: Request, user: CurrentUser):
    """ジョブ: the latest jobs of the workspace, newest first."""
    try:
        store = get_store(request)
        records = store.list_jobs(limit=100)
        workspace = store.workspace()
    except WORKSPACE_PROBLEMS as exc:
        return _store_problem(request, user, "ジョブ", exc)
    labels = _labels()
    people = _people(request, records)
    return render(request, "jobs.html", user=user, jobs=[_job_view(r, labels, workspace, people) for r in records])


@router.get("/web/jobs/{job_id}", dependencies=[allow(*ANY_ROLE)])
def job_page(job_id: str, request: Request, user: CurrentUser):
    """One job: progress while it runs; then summary, notes, downloads and the result map (or the error)."""
    try:
        store = get_store(request)
        record = store.get_job(job_id)
        workspace = store.workspace()
    except WORKSPACE_PROBLEMS as exc:
        return _store_problem(request, user, "ジョブ", exc)
    if record is None:
        return render(request, "problem.html", user=user, title="ジョブが見つかりません",
                      message="このワークスペースには、指定されたジョブがありません。",
                      hint="ジョブの一覧から選んでください", detail=None, status_code=404)
    job = _job_view(record, _labels(), workspace, _people(request, [record]))
    station = str((record.get("params") or {}).get("station_id"))
    if job["private_plan"] and not (user.role == "admin" or (user.role == "csw" and station == str(user.station_id))):
        job["private_plan"] = None  # only the station's CSWs and administrators are shown the way in
    headline, figures = result_words(_with_words(record)) if record["status"] == "done" else (None, [])
    from api.scenarios import job_scenario_name
    from api.web.scenarios import comparison_links

    return render(request, "job.html", user=user, job=job, headline=headline, figures=figures,
                  census=record.get("census") or _census(store), params=_param_rows(record, store),
                  scenario=job_scenario_name(record), comparison=comparison_links(store, record))


def _with_words(record: dict) -> dict:
    """The record with the analysis's own headline and figures (``api.jobs.job_words``), where that exists."""
    try:
        from api.jobs import job_words
    except ImportError:
        return record
    try:
        return {**record, **job_words(record)}
    except Exception:  # noqa: BLE001 - the page still shows the result, worded here
        logger.exception("no headline for job %s", record.get("job_id"))
        return record


def _census(store) -> str | None:
    """The census the workspace's population comes from (「2010年（平成22年）国勢調査」), when its sources say."""
    try:
        areas = store.areas()
    except WORKSPACE_PROBLEMS:
        return None
    if "source" not in areas.columns:
        return None
    return census_label(areas["source"].dropna().astype(str).unique().tolist())


def _param_rows(record: dict, store) -> list[tuple[str, str]]:
    """The job's parameters as ``(Japanese label, value as a planner reads it)``; unknown names are left out."""
    params = record.get("params") or {}
    spec = load_analyses().get(record.get("analysis"))
    if spec is None or not isinstance(params, dict):
        return []
    labels = {f.name: f.label for f in form_fields(spec.params.model_json_schema())}
    shop_names: dict[str, str] = {}
    if params.get("close_shop_ids") or params.get("depot_resource"):
        try:
            shop_names = {s.resource_id: s.caption for s in _shops(store)}
        except WORKSPACE_PROBLEMS:
            shop_names = {}
    return [(labels[k], param_text(k, v, shop_names=shop_names)) for k, v in params.items() if k in labels]


@router.get("/web/resources", dependencies=[allow(*ANY_ROLE)])
def resources_page(request: Request, user: CurrentUser):
    """地域資源: resources on a map; editors add (tap), move (drag) and delete them."""
    try:
        store = get_store(request)
        ws = store.workspace()
        resources = store.resources()
    except WORKSPACE_PROBLEMS as exc:
        return _store_problem(request, user, "地域資源", exc)
    resources = resources.assign(kind_label=resources["kind"].map(RESOURCE_KINDS).fillna(resources["kind"]))
    profile = ws["profile"]
    outlines = [{"key": lv.key, "label": lv.label} for lv in profile.levels[1:]]
    kinds = [{"key": k, "label": RESOURCE_KINDS[k]} for k in COMMON_KINDS if k in RESOURCE_KINDS]
    kinds += [{"key": k, "label": v} for k, v in RESOURCE_KINDS.items() if k not in COMMON_KINDS]
    data = {
        "resources": feature_collection(resources, id_column="resource_id"),
        "kinds": kinds_vocabulary.as_json(),
        "salon_kind": kinds_vocabulary.SALON_KIND,
        "outlines": outlines,
        "editor": is_editor(user),
    }
    return render(request, "resources.html", user=user, ws=ws, data=data, kinds=kinds)
