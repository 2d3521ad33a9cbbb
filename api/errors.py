"""The one place domain errors become HTTP responses; no traceback ever reaches a client."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse

from api.accounts import AuthError
from api.store.base import StoreError, WorkspaceNotInitialised
from gis.errors import DataNotFoundError, InputDataError, UnknownMunicipalityError

log = logging.getLogger("tsunagu.api")

DEMO_HINT = "tsunagu demo を実行してください"


class UploadTooLarge(Exception):
    """An upload larger than ``Settings.max_upload_bytes``."""

    def __init__(self, limit: int, *, declared: int | None = None) -> None:
        self.limit = limit
        self.declared = declared
        size = f"{declared:,} bytes declared" if declared is not None else "more than the limit received"
        super().__init__(f"upload too large ({size}); the limit is {limit:,} bytes")


class NotFound(Exception):
    """A resource of the API (tier level, report) that does not exist; the message names what does."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)


class Unauthorized(Exception):
    """No valid login: missing, unknown or expired session token (401; web pages redirect to the login)."""

    def __init__(self, message: str = "login required", *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint or "ログインしてください"
        super().__init__(message)


class Forbidden(Exception):
    """A logged-in caller whose role may not do this (403), or a route with no access rule."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)


class Conflict(Exception):
    """A request the resource's state does not allow yet (e.g. the result of a job still running)."""

    def __init__(self, message: str, *, hint: str | None = None, **extra) -> None:
        self.message = message
        self.hint = hint
        self.extra = extra
        super().__init__(message)


def _mb(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:,.1f} MB"


def _body(error: str, title: str, message: str, hint: str | None = None, **extra) -> dict:
    return {"error": error, "title": title, "message": message, "hint": hint, **extra}


async def _input_data(request: Request, exc: InputDataError) -> JSONResponse:
    return JSONResponse(_body("input_data", "入力データに問題があります", str(exc), exc.hint,
                              detail=exc.as_dict()), status_code=422)


async def _unknown_municipality(request: Request, exc: UnknownMunicipalityError) -> JSONResponse:
    return JSONResponse(_body("unknown_municipality", "市区町村が見つかりません", str(exc), exc.hint,
                              detail=exc.as_dict()), status_code=404)


async def _data_not_found(request: Request, exc: DataNotFoundError) -> JSONResponse:
    return JSONResponse(_body("data_not_found", "データが見つかりません", str(exc)), status_code=404)


async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    return JSONResponse(_body("not_found", "見つかりません", exc.message, exc.hint), status_code=404)


async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
    return JSONResponse(_body("conflict", "まだ利用できません", exc.message, exc.hint, **exc.extra), status_code=409)


async def _unauthorized(request: Request, exc: Unauthorized):
    path = request.url.path
    if path.startswith("/web") and request.method in ("GET", "HEAD"):
        from urllib.parse import quote

        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/web/login?next={quote(target)}", status_code=303)
    return JSONResponse(_body("unauthorized", "ログインが必要です", exc.message, exc.hint), status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="tsunagu"'})


async def _forbidden(request: Request, exc: Forbidden):
    if request.url.path.startswith("/web") and request.method in ("GET", "HEAD"):
        from html import escape

        page = ("<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                "<title>権限がありません - つなぐ</title></head><body style=\"font-family:sans-serif;margin:2rem\">"
                f"<h1>権限がありません</h1><p>{escape(exc.hint or 'この画面を見る権限がありません')}</p>"
                "<p><a href=\"/web/\">トップへ戻る</a></p></body></html>")
        return HTMLResponse(page, status_code=403)
    return JSONResponse(_body("forbidden", "権限がありません", exc.message, exc.hint), status_code=403)


async def _auth_failed(request: Request, exc: AuthError) -> JSONResponse:
    if exc.reason == "locked":
        minutes = max(1, round((exc.retry_after or 60) / 60))
        return JSONResponse(_body("locked", "アカウントがロックされています", str(exc),
                                  f"ログインの失敗が続いたため、約 {minutes} 分後まで ログインできません"),
                            status_code=423, headers={"Retry-After": str(exc.retry_after or 60)})
    if exc.reason == "disabled":
        return JSONResponse(_body("disabled", "アカウントが無効です", str(exc), "管理者に連絡してください"),
                            status_code=403)
    return JSONResponse(_body("login_failed", "ログインできません", str(exc),
                              "ユーザー名とパスワードを確かめてください"), status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="tsunagu"'})


async def _not_initialised(request: Request, exc: WorkspaceNotInitialised) -> JSONResponse:
    return JSONResponse(_body("workspace_not_initialised", "ワークスペースが未作成です", str(exc), DEMO_HINT),
                        status_code=409)


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    log.warning("store unavailable: %s", exc)
    return JSONResponse(_body("store_unavailable", "ワークスペースを開けません", str(exc), DEMO_HINT),
                        status_code=503)


async def _too_large(request: Request, exc: UploadTooLarge) -> JSONResponse:
    return JSONResponse(_body("upload_too_large", "ファイルが大きすぎます", str(exc),
                              f"{_mb(exc.limit)} 以下のファイルにしてください",
                              limit_bytes=exc.limit), status_code=413, headers={"Connection": "close"})


def _finite(value):
    """JSON-safe copy: NaN and ±Infinity (which Starlette's JSON parser accepts) become text."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {str(k): _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
    problems = []
    for err in exc.errors():
        problems.append({"loc": _finite(list(err.get("loc", ()))), "msg": str(err.get("msg", "")),
                         "type": str(err.get("type", "")), "input": _finite(err.get("input"))})
    first = problems[0] if problems else {"loc": [], "msg": "invalid request"}
    where = ".".join(str(p) for p in first["loc"]) or "request"
    return JSONResponse(_body("invalid_request", "リクエストの形式が正しくありません", f"{where}: {first['msg']}",
                              "送信した項目と値を確かめてください", detail=problems), status_code=422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(_body("internal", "内部エラーが発生しました",
                              "an unexpected error occurred; the server log has the details"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping of domain errors to HTTP statuses on ``app``.

    InputDataError → 422, UnknownMunicipalityError / DataNotFoundError / NotFound → 404, Conflict → 409,
    Unauthorized / failed login → 401 (web pages: redirect to the login page), Forbidden → 403,
    locked account → 423 with Retry-After, WorkspaceNotInitialised → 409, other StoreError → 503, UploadTooLarge → 413, anything else → 500
    without details.
    """
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(InputDataError, _input_data)
    app.add_exception_handler(UnknownMunicipalityError, _unknown_municipality)
    app.add_exception_handler(DataNotFoundError, _data_not_found)
    app.add_exception_handler(NotFound, _not_found)
    app.add_exception_handler(Conflict, _conflict)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(Forbidden, _forbidden)
    app.add_exception_handler(AuthError, _auth_failed)
    app.add_exception_handler(WorkspaceNotInitialised, _not_initialised)
    app.add_exception_handler(StoreError, _store_error)
    app.add_exception_handler(UploadTooLarge, _too_large)
    app.add_exception_handler(Exception, _unexpected)
