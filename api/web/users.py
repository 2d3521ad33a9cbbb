"""ユーザー管理 (administrators): the page listing accounts, with forms that call the /users API."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.roles import MIN_PASSWORD_LENGTH, ROLES
from api.dependencies import get_store
from api.security import AccountsDep, CurrentUser, allow
from api.store.base import StoreError
from api.web._render import render

router = APIRouter(prefix="/web", include_in_schema=False)


def _stations(request: Request) -> list[dict]:
    """Stations of the workspace for the CSW station choice (empty when the workspace is not ready)."""
    try:
        stations = get_store(request).stations()
    except StoreError:
        return []
    return [{"id": str(s.station_id), "name": str(s.name)} for s in stations.itertuples()]


@router.get("/users", dependencies=[allow("admin")])
def users_page(request: Request, user: CurrentUser, accounts: AccountsDep):
    """Every account with its role, station and state; add, change, reset the password, delete."""
    return render(request, "users.html", user=user, users=accounts.list_users(), roles=ROLES,
                  stations=_stations(request), min_password=MIN_PASSWORD_LENGTH)
