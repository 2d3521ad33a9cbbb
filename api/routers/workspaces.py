"""Workspaces: which cities this server holds, and choosing one (cookie for the web UI)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.dependencies import SettingsDep, chosen_workspace
from api.errors import NotFound
from api.security import ANY_ROLE, allow
from api.workspaces import WORKSPACE_COOKIE, list_workspaces

router = APIRouter(prefix="/workspaces", tags=["workspaces"])


class Choice(BaseModel):
    """``POST /workspaces/select`` body."""

    name: str = Field(min_length=1, max_length=100, description="ワークスペース名")


@router.get("", summary="ワークスペース（市区町村）の一覧", dependencies=[allow(*ANY_ROLE)])
def workspaces(request: Request, settings: SettingsDep) -> dict:
    """The workspaces of this server, the default one and the one this request uses."""
    return {"current": chosen_workspace(request), "workspaces": list_workspaces(settings)}


@router.post("/select", summary="使うワークスペースを選ぶ（Cookie に保存）", dependencies=[allow(*ANY_ROLE)])
def select(body: Choice, response: Response, settings: SettingsDep) -> dict:
    """Remember a workspace for this browser (API clients send ``X-Tsunagu-Workspace`` instead)."""
    names = [w["name"] for w in list_workspaces(settings)]
    if body.name not in names:
        raise NotFound(f"ワークスペース {body.name!r} はありません。このサーバーにあるもの: {'、'.join(names)}",
                       en=f"no workspace {body.name!r}; this server has: {', '.join(names)}",
                       hint="GET /workspaces で一覧を確認してください",
                       hint_en="see the list with GET /workspaces")
    response.set_cookie(WORKSPACE_COOKIE, body.name, httponly=True, samesite="strict", path="/",
                        secure=settings.secure_cookies, max_age=365 * 24 * 3600)
    return {"current": body.name}
