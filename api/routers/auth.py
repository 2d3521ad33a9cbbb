"""Logging in and out: session tokens for API clients, the same token as a cookie for the web UI."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from api.dependencies import SettingsDep
from api.security import PUBLIC, SESSION_COOKIE, ANY_ROLE, AccountsDep, CurrentUser, allow, request_token

router = APIRouter(prefix="/auth", tags=["auth"])


class LoginRequest(BaseModel):
    """``POST /auth/login`` body."""

    username: str = Field(min_length=1, max_length=200, description="ユーザー名")
    password: str = Field(min_length=1, max_length=1024, description="パスワード")


def _me(user) -> dict:
    return {"username": user.username, "display_name": user.display_name, "role": user.role,
            "role_label": user.role_label, "station_id": user.station_id}


def set_session_cookie(response: Response, token: str, *, settings, expires) -> None:
    """Hand the session token to a browser: HttpOnly, SameSite=Strict, expiring with the session."""
    response.set_cookie(SESSION_COOKIE, token, max_age=settings.session_minutes * 60, expires=expires,
                        httponly=True, samesite="strict", secure=settings.secure_cookies, path="/")


@router.post("/login", summary="ログイン（トークンを発行し、Cookie にも設定）", dependencies=[allow(PUBLIC)])
def login(body: LoginRequest, response: Response, accounts: AccountsDep, settings: SettingsDep) -> dict:
    """Check the password and start a session.

    Returns the token (send it as ``Authorization: Bearer <token>``) and its expiry, and sets it
    as the ``tsunagu_session`` cookie. Wrong credentials are 401; after repeated failures the
    account is locked (423 with ``Retry-After``).
    """
    user = accounts.authenticate(body.username, body.password)
    token, expires = accounts.start_session(user)
    set_session_cookie(response, token, settings=settings, expires=expires)
    return {"token": token, "token_type": "bearer", "expires_at": expires.isoformat(), "user": _me(user)}


@router.post("/logout", summary="ログアウト", dependencies=[allow(*ANY_ROLE)])
def logout(request: Request, response: Response, accounts: AccountsDep) -> dict:
    """End the caller's session (the token stops working at once) and clear the cookie."""
    token, _ = request_token(request)
    accounts.end_session(token)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return {"logged_out": True}


@router.get("/me", summary="ログイン中のユーザー", dependencies=[allow(*ANY_ROLE)])
def me(user: CurrentUser) -> dict:
    """Who the caller is: user name, role (with its Japanese label) and station."""
    return _me(user)
