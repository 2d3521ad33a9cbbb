"""Scenarios (named sets of changes over the workspace) and the comparison of two jobs."""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query, Response
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from api.dependencies import StoreDep
from api.errors import Conflict, NotFound
from api.security import ANY_ROLE, EDITORS, CurrentUser, allow
from api.store.base import StoreError

router = APIRouter(tags=["scenarios"])

_NAME = r"^[^/\\?#%\x00-\x1f]{1,60}$"


class NewScenario(BaseModel):
    """``POST /scenarios`` body (see :mod:`gis.scenarios`)."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=_NAME, description="シナリオ名（例: サロン3か所追加）")
    description: str = Field("", max_length=1000, description="説明")
    changes: list[dict[str, Any]] = Field(
        default_factory=list, max_length=2000,
        description="変更のリスト: {action: add|move|remove|change, resource_id, kind, name, lon, lat, attributes}")
    params: dict[str, Any] = Field(default_factory=dict, description="解析のパラメータの変更（elderly_share など）")
    replace: bool = Field(False, description="同じ名前のシナリオを置き換える")


@router.get("/scenarios", summary="シナリオの一覧", dependencies=[allow(*ANY_ROLE)])
def list_scenarios(store: StoreDep) -> list[dict]:
    """Every saved scenario of the workspace."""
    return store.scenarios()


@router.post("/scenarios", summary="シナリオを保存", status_code=201, dependencies=[allow(*EDITORS)])
def create_scenario(body: NewScenario, store: StoreDep, user: CurrentUser) -> JSONResponse:
    """Validate the changes against the workspace (every resource id must exist) and save them; 409 if the name is taken."""
    from api.scenarios import new_scenario

    data = body.model_dump()
    replace = data.pop("replace")
    try:
        record = new_scenario(store, data, created_by=user.username, replace=replace)
    except StoreError as exc:
        if "すでにあります" in str(exc):
            raise Conflict(str(exc), hint="別の名前にするか replace: true を指定してください",
                           en=exc.english,
                           hint_en="choose another name or give replace: true") from None
        raise
    return JSONResponse(record, status_code=201, headers={"Location": f"/scenarios/{quote(record['name'])}"})


@router.get("/scenarios/{name}", summary="シナリオの内容と変更の一覧", dependencies=[allow(*ANY_ROLE)])
def get_scenario(name: str, store: StoreDep) -> dict:
    """The scenario and one row per change (place before and after)."""
    from api.scenarios import json_rows
    from gis.errors import InputDataError
    from gis.scenarios import scenario_changes_table, scenario_from_dict

    record = store.get_scenario(name)
    if record is None:
        raise NotFound(f"シナリオ「{name}」はありません", en=f"no scenario {name!r}", hint="GET /scenarios で一覧を確認してください",
                       hint_en="see the list with GET /scenarios")
    try:
        table = scenario_changes_table(store.resources(), scenario_from_dict(record))
        rows = json_rows(table.drop(columns="geometry"))
    except InputDataError:
        rows = []
    return {**record, "change_rows": rows}


@router.delete("/scenarios/{name}", summary="シナリオを削除（実行済みのジョブは残ります）", status_code=204,
               dependencies=[allow(*EDITORS)])
def delete_scenario(name: str, store: StoreDep) -> Response:
    if not store.delete_scenario(name):
        raise NotFound(f"シナリオ「{name}」はありません", en=f"no scenario {name!r}", hint="GET /scenarios で一覧を確認してください",
                       hint_en="see the list with GET /scenarios")
    return Response(status_code=204)


@router.get("/jobs/{job_a}/compare/{job_b}", summary="二つのジョブの結果を地域ごとに比較（差 = B − A）",
            dependencies=[allow(*ANY_ROLE)])
def compare_jobs_route(
    job_a: str, job_b: str, store: StoreDep,
    format: Annotated[Literal["json", "xlsx", "html"], Query(description="json・xlsx（差の表）・html（増減の地図）")] = "json",
    table: Annotated[str | None, Query(description="地図にする表の名前（既定: 最初の表）")] = None,
):
    """Per-area deltas of every indicator of the two jobs' tables, which areas gained or lost, and the scenario's changes."""
    from api.comparisons import compare_jobs, comparison_excel, comparison_summary

    result = compare_jobs(store, job_a, job_b)
    if format == "xlsx":
        name = f"compare-{result['base']['job_id'][:8]}-{result['other']['job_id'][:8]}.xlsx"
        return Response(comparison_excel(result), headers={"Content-Disposition": f'attachment; filename="{name}"'},
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    if format == "html":
        return HTMLResponse(_comparison_html(store, result, table))
    return comparison_summary(result)


def _comparison_html(store, result: dict, table: str | None) -> str:
    from api.scenarios import job_scenario_name
    from layers.comparison import comparison_map_html

    changes = result["changes"]
    if not changes:
        raise Conflict("この二つの結果には地図にできる指標がありません", hint="format=json か xlsx で差の表を見てください",
                       en="these two results have no figure that can be mapped",
                       hint_en="see the table of differences with format=json or xlsx")
    name = table or next(iter(changes))
    if name not in changes:
        raise NotFound(f"表「{name}」はこの比較にありません", hint="表: " + "、".join(changes),
                       en=f"no table {name!r} in this comparison",
                       hint_en="tables: " + ", ".join(changes))
    a, b = result["base"], result["other"]
    title = (f"{store.workspace()['city_name']} 比較: {job_scenario_name(b) or '基本データ'} − "
             f"{job_scenario_name(a) or '基本データ'}（{name}）")
    return comparison_map_html(areas=store.areas(), changes=changes[name], scenario_changes=result["scenario_changes"],
                               title=title)
