"""The login and logout pages: a password form that starts a cookie session, and leaving it."""

from __future__ import annotations

import math
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import RedirectResponse

from api.accounts import AuthError
from api.dependencies import SettingsDep
from api.routers.auth import set_session_cookie
from api.security import PUBLIC, SESSION_COOKIE, AccountsDep, OptionalUser, allow, request_token
from api.web._render import render, safe_next

router = APIRouter(prefix="/web", include_in_schema=False)


def _from_this_site(request: Request) -> bool:
    """False when the browser says the form was posted from another site (login CSRF)."""
    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True
    if source == "null":
        return False
    return urlsplit(source).netloc.lower() == (request.headers.get("host") or request.url.netloc).lower()


def _login_page(request: Request, *, next_url: str, username: str = "", error: str | None = None,
                hint: str | None = None, status_code: int = 200):
    return render(request, "login.html", next_url=next_url, username=username, error=error, hint=hint,
                  status_code=status_code)


@router.get("/login", dependencies=[allow(PUBLIC)])
def login_page(request: Request, user: OptionalUser, next: str | None = None):
    """The login form; a user already logged in goes straight on to ``next``."""
    target = safe_next(next)
    if user is not None:
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    return _login_page(request, next_url=target)


@router.post("/login", dependencies=[allow(PUBLIC)])
def login_submit(
    request: Request,
    accounts: AccountsDep,
    settings: SettingsDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "",
):
    """Check the password; on success set the session cookie and go to ``next`` (a local page only)."""
    target = safe_next(next)
    username = username.strip()[:200]
    if not _from_this_site(request):
        return _login_page(request, next_url=target, error="このサイトの画面からログインしてください",
                           status_code=403)
    if not username or not password:
        return _login_page(request, next_url=target, username=username,
                           error="ユーザー名とパスワードを入力してください", status_code=422)
    try:
        user = accounts.authenticate(username, password[:1024])
    except AuthError as exc:
        if exc.reason == "locked":
            minutes = max(1, math.ceil((exc.retry_after or 60) / 60))
            return _login_page(request, next_url=target, username=username,
                               error="ログインの失敗が続いたため、このアカウントはロックされています",
                               hint=f"約 {minutes} 分後にもう一度ログインしてください", status_code=423)
        if exc.reason == "disabled":
            return _login_page(request, next_url=target, username=username,
                               error="このアカウントは無効になっています", hint="管理者に連絡してください",
                               status_code=403)
        return _login_page(request, next_url=target, username=username,
                           error="ユーザー名またはパスワードが違います",
                           hint="続けて間違えると、しばらくログインできなくなります", status_code=401)
    token, expires = accounts.start_session(user)
    response = RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    set_session_cookie(response, token, settings=settings, expires=expires)
    return response


@router.post("/logout", dependencies=[allow(PUBLIC)])
def logout(request: Request, accounts: AccountsDep):
    """End the session (when there is one), clear the cookie and show the login page.

    Public so that a session that has already expired can still leave cleanly; a cross-site
    post carrying the cookie is refused by the access rule (CSRF).
    """
    token, _ = request_token(request)
    accounts.end_session(token)
    response = RedirectResponse("/web/login", status_code=303, headers={"Cache-Control": "no-store"})
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


__all__ = ["router"]
