"""User management (administrators only): list, add, change and remove accounts."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path
from pydantic import BaseModel, Field

from api.errors import Forbidden, NotFound
from api.security import AccountsDep, CurrentUser, allow

router = APIRouter(prefix="/users", tags=["users"])

Role = Literal["admin", "planner", "csw", "coordinator", "viewer"]
Username = Path(min_length=1, max_length=64, description="ユーザー名")


class NewUser(BaseModel):
    """``POST /users`` body."""

    username: str = Field(min_length=1, max_length=64, description="ユーザー名（半角英数字と . _ @ -）")
    password: str = Field(min_length=1, max_length=1024, description="パスワード（10 文字以上）")
    role: Role = Field(description="役割")
    station_id: str | None = Field(default=None, max_length=100, description="所属拠点（CSW は必須）")
    display_name: str | None = Field(default=None, max_length=100, description="表示名")


class UserChange(BaseModel):
    """``PATCH /users/{username}`` body: only the fields given change."""

    role: Role | None = None
    station_id: str | None = Field(default=None, max_length=100)
    display_name: str | None = Field(default=None, max_length=100)
    password: str | None = Field(default=None, min_length=1, max_length=1024)
    disabled: bool | None = None


def _one(accounts, username: str) -> dict:
    for row in accounts.list_users():
        if row["username"] == username:
            return row
    raise NotFound(f"ユーザー {username!r} はいません", en=f"no user {username!r}", hint="GET /users で一覧を確認してください",
                   hint_en="see the list with GET /users")


@router.get("", summary="ユーザーの一覧", dependencies=[allow("admin")])
def list_users(accounts: AccountsDep) -> list[dict]:
    """Every account: name, role, station, locked/disabled, last login (never a password hash)."""
    return accounts.list_users()


@router.post("", summary="ユーザーを追加", status_code=201, dependencies=[allow("admin")])
def add_user(body: NewUser, accounts: AccountsDep) -> dict:
    """Create an account; a taken name, a short password or a CSW without a station is 422."""
    user = accounts.create_user(body.username, body.password, role=body.role, station_id=body.station_id,
                                display_name=body.display_name)
    return _one(accounts, user.username)


@router.patch("/{username}", summary="ユーザーを変更", dependencies=[allow("admin")])
def change_user(body: UserChange, accounts: AccountsDep, username: str = Username) -> dict:
    """Change role, station, display name, password or disabled; a new password or role ends their sessions."""
    try:
        accounts.update_user(username, **body.model_dump(exclude_unset=True))
    except LookupError as exc:
        raise NotFound(f"ユーザー {username!r} はいません", en=str(exc), hint="GET /users で一覧を確認してください",
                       hint_en="see the list with GET /users") from None
    return _one(accounts, username)


@router.delete("/{username}", summary="ユーザーを削除", dependencies=[allow("admin")])
def delete_user(user: CurrentUser, accounts: AccountsDep, username: str = Username) -> dict:
    """Remove an account and its sessions (not your own, nor the last administrator)."""
    if username == user.username:
        raise Forbidden("自分のアカウントは削除できません", en="you cannot delete your own account", hint="別の管理者に削除を依頼してください",
                        hint_en="ask another admin to delete it")
    try:
        accounts.delete_user(username)
    except LookupError as exc:
        raise NotFound(f"ユーザー {username!r} はいません", en=str(exc), hint="GET /users で一覧を確認してください",
                       hint_en="see the list with GET /users") from None
    return {"deleted": username}
