"""Analysis jobs: list analyses, start a job, follow its progress, download its tables and map."""

from __future__ import annotations

import logging
from contextlib import asynccontextmanager
from pathlib import PurePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from api.dependencies import SettingsDep, StoreDep
from api.errors import Conflict, NotFound
from api.jobs import (
    CANCELLING_LABEL,
    STATUS_LABELS,
    JobRunner,
    csv_bytes,
    describe_analyses,
    job_city,
    job_tables,
    job_words,
    xlsx_bytes,
)
from api.store.base import JobStateError, Store, StoreError
from api.dependencies import data_dir_of as _data_dir
from api.dependencies import get_runner, runner_of
from api.security import ANY_ROLE, EDITORS, CurrentUser, allow

log = logging.getLogger("tsunagu.api")

@asynccontextmanager
async def _lifespan(app: FastAPI):
    """Process and thread mode: resume the workspaces' queues when the service starts; stop them when it stops."""
    runner = runner_of(app)
    if runner.runs_jobs:
        await run_in_threadpool(_start_threads, app, runner)
    yield
    await run_in_threadpool(runner.shutdown)
    app.state.job_runner = None  # started again (tests re-enter the app): a fresh runner


def _start_threads(app: FastAPI, runner: JobRunner) -> None:
    """Give the runner every workspace of the server that opens (the stores requests use, too)."""
    from api.dependencies import _open_lock
    from api.store.connect import open_store
    from api.workspaces import default_name, list_workspaces, location_of

    state, settings = app.state, app.state.settings
    data_dir = _data_dir(settings)
    try:
        names = [w["name"] for w in list_workspaces(settings)]
    except StoreError as exc:
        log.info("job threads start with the first job: %s", exc)
        return
    default = default_name(settings)
    for name in names:
        try:
            with _open_lock:
                if name == default:
                    if getattr(state, "store", None) is None:
                        state.store = open_store(settings.workspace, create=False)
                    store = state.store
                else:
                    stores = getattr(state, "stores", None)
                    if stores is None:
                        stores = state.stores = {}
                    if name not in stores:
                        location, workspace = location_of(settings, name)
                        stores[name] = open_store(location, workspace=workspace, create=False)
                    store = stores[name]
        except StoreError as exc:  # not (yet) a workspace: its jobs start with its first job
            log.info("job threads skip workspace %s: %s", name, exc)
            continue
        runner.start(store, data_dir=data_dir)


router = APIRouter(tags=["jobs"], lifespan=_lifespan)


class JobRequest(BaseModel):
    """``POST /jobs`` body."""

    analysis: str = Field(description="解析の名前（GET /analyses）", examples=["salon-gaps"])
    params: dict[str, Any] = Field(default_factory=dict, description="解析のパラメータ（GET /analyses の JSON Schema）")


def _view(record: dict, workspace: dict | None = None) -> dict:
    job_id = record["job_id"]
    links = {"self": f"/jobs/{job_id}"}
    if record["status"] == "done":
        links.update({name: f"/jobs/{job_id}/tables/{quote(name)}.csv" for name in record["tables"]})
        links["xlsx"] = f"/jobs/{job_id}/tables/all.xlsx"
        if record["has_map"]:
            links["map"] = f"/maps/jobs/{job_id}"
    label = STATUS_LABELS.get(record["status"], record["status"])
    if record["status"] == "running" and record.get("cancel_requested"):
        label = CANCELLING_LABEL
    params = record.get("params")
    if isinstance(params, dict) and isinstance(params.get("upload"), str):
        # the server's upload folder is nobody's business: show the file's own name only
        params = {**params, "upload": PurePath(params["upload"]).name}
    words = {}
    if record["status"] == "done":  # the result in a Japanese sentence and rounded, labelled figures
        words = job_words(record)
    return {**record, **job_city(record, workspace), "params": params, "status_label": label, "links": links, **words}


def _record(store: Store, request: Request, job_id: str) -> dict:
    record = get_runner(request).status(store, job_id)
    if record is None:
        msg = f"このワークスペースにジョブ {job_id} はありません"
        raise NotFound(msg, en=f"no job {job_id} in this workspace", hint="GET /jobs でジョブの一覧を確認してください",
                       hint_en="see the jobs with GET /jobs")
    return record


def _done(store: Store, request: Request, job_id: str) -> dict:
    record = _record(store, request, job_id)
    if record["status"] != "done":
        label = STATUS_LABELS.get(record["status"], record["status"])
        msg = f"ジョブ {record['job_id']} は{label}のため、結果はまだありません"
        hint = (f"GET /jobs/{record['job_id']} で完了を待ってください" if record["status"] in ("queued", "running")
                else "解析をやり直してください（POST /jobs）")
        en = f"job {record['job_id']} is {record['status']}: it has no result yet"
        raise Conflict(msg, en=en, hint=hint, status=record["status"], progress=record["progress"],
                       job_error=record["error"],
                       hint_en=(f"wait for it to finish: GET /jobs/{record['job_id']}" if record["status"] in ("queued", "running")
                                else "run the analysis again (POST /jobs)"))
    return record


@router.get("/analyses", summary="解析の一覧（名前・日本語名・パラメータの JSON Schema）", dependencies=[allow(*ANY_ROLE)])
def list_analyses() -> list[dict]:
    """Every registered analysis with its Japanese label and the JSON Schema of its parameters."""
    return describe_analyses()


@router.post("/jobs", status_code=202, summary="解析ジョブを開始", dependencies=[allow(*EDITORS)])
def start_job(
    body: JobRequest,
    request: Request,
    store: StoreDep,
    settings: SettingsDep,
    user: CurrentUser,
) -> JSONResponse:
    """Validate the parameters and queue a job (a worker, or the service's child processes, runs it).

    Returns 202 with the job id and the URL to poll; an unknown analysis or bad parameters are
    422 naming what is wrong (no job is made).
    """
    if body.analysis == "outreach":  # client households: only admins and the station's CSWs (api/routers/outreach.py)
        from api.routers.outreach import submit_outreach

        record = submit_outreach(request, store, settings, user, body.params)
    else:
        from api.layer_cache import exact_version

        # the version the maps already computed, while the file is unchanged: queueing stays cheap
        version = exact_version(store)
        record = get_runner(request).submit(store, body.analysis, body.params, data_dir=_data_dir(settings),
                                            created_by=user.username, version=version)
    url = f"/jobs/{record['job_id']}"
    content = {"job_id": record["job_id"], "analysis": record["analysis"], "status": record["status"],
               "status_url": url, "data_version": record["data_version"]}
    return JSONResponse(content, status_code=202, headers={"Location": url})


@router.get("/jobs", summary="解析ジョブの一覧（新しい順）", dependencies=[allow(*ANY_ROLE)])
def list_jobs(
    request: Request,
    store: StoreDep,
    analysis: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict]:
    """Job records, newest first (optionally of one analysis or status)."""
    runner = get_runner(request)
    workspace = _workspace_or_none(store)
    return [_view(runner.merged(record), workspace)
            for record in store.list_jobs(analysis=analysis, status=status, limit=limit)]


def _workspace_or_none(store: Store) -> dict | None:
    from api.layer_cache import cached_workspace

    try:
        return cached_workspace(store)
    except StoreError:  # no city yet: jobs show their code only
        return None


@router.get("/jobs/{job_id}", summary="解析ジョブの状態と進捗", dependencies=[allow(*ANY_ROLE)])
def get_job(job_id: str, request: Request, store: StoreDep) -> dict:
    """Status, progress (0–1) and message; when done, summary, notes and links to tables and map."""
    return _view(_record(store, request, job_id), _workspace_or_none(store))


@router.post("/jobs/{job_id}/cancel", summary="解析ジョブを取り消す（実行中なら次の進捗報告で止まる）",
             dependencies=[allow(*EDITORS)])
def cancel_job(job_id: str, request: Request, store: StoreDep) -> JSONResponse:
    """Cancel a job: a queued one at once (200, ``cancelled``); a running one stops at its next
    progress report (202, ``running`` with ``cancel_requested``, then ``cancelled``). A finished
    job is 409."""
    record = _record(store, request, job_id)
    try:
        after = get_runner(request).cancel(store, record["job_id"])
    except JobStateError as exc:
        current = store.get_job(record["job_id"]) or record
        label = STATUS_LABELS.get(current["status"], current["status"])
        raise Conflict(str(exc), hint=f"このジョブは既に「{label}」です。取り消せるのは待機中か実行中のジョブだけです",
                       status=current["status"],
                       en=exc.english,
                       hint_en=f"this job is already {current['status']}; only queued or running jobs can be cancelled") from exc
    return JSONResponse(_view(after, _workspace_or_none(store)), status_code=202 if after["status"] == "running" else 200)


@router.get("/jobs/{job_id}/tables/{filename}", summary="結果表のダウンロード（.csv または .xlsx、all.xlsx は全表）", dependencies=[allow(*ANY_ROLE)])
def download_table(job_id: str, filename: str, request: Request, store: StoreDep) -> Response:
    """``<name>.csv`` (UTF-8 with BOM, Japanese headers) or ``<name>.xlsx``; ``all.xlsx`` holds every table."""
    record = _done(store, request, job_id)
    name, _, ext = filename.rpartition(".")
    if ext not in ("csv", "xlsx") or not name:
        msg = f"表のファイル「{filename}」はありません（<表の名前>.csv か <表の名前>.xlsx、全部の表は all.xlsx）"
        raise NotFound(msg, en=f"no table file {filename!r} (<table>.csv, <table>.xlsx or all.xlsx)",
                       hint=f"表: {', '.join(record['tables'])}",
                       hint_en=f"tables: {', '.join(record['tables'])}")
    if name == "all" and ext == "xlsx":
        tables = job_tables(store, record)
        notes = record["notes"]
        words = job_words(record)
    elif name in record["tables"]:
        tables = {name: store.job_table(record["job_id"], name)}
        notes = record["notes"]
        words = None
    else:
        msg = f"ジョブ {record['job_id']} に表「{name}」はありません（ある表: {'、'.join(record['tables']) or '（なし）'}）"
        raise NotFound(msg, en=f"job {record['job_id']} has no table {name!r} (tables: {', '.join(record['tables'])})")
    stem = f"{record['analysis']}-{record['job_id'][:8]}-{name}"
    if ext == "csv":
        body, media = csv_bytes(tables[name]), "text/csv; charset=utf-8"
    else:
        body = xlsx_bytes(tables, notes=notes, words=words)
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = f"attachment; filename=\"{stem.encode('ascii', 'replace').decode()}.{ext}\"; filename*=UTF-8''{quote(stem)}.{ext}"
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/maps/jobs/{job_id}", summary="解析結果の地図（HTML）", response_class=HTMLResponse, dependencies=[allow(*ANY_ROLE)])
def job_map(job_id: str, request: Request, store: StoreDep) -> HTMLResponse:
    """The result map of a done job (standalone Folium page)."""
    record = _done(store, request, job_id)
    html = store.job_map(record["job_id"])
    if html is None:
        msg = f"ジョブ {record['job_id']}（{record['analysis']}）は地図を作っていません"
        raise NotFound(msg, en=f"job {record['job_id']} ({record['analysis']}) made no map")
    return HTMLResponse(html)
