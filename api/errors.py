"""The one place domain errors become HTTP responses; no traceback ever reaches a client."""

from __future__ import annotations

import logging
import math

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

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

    def __init__(self, message: str = "ログインが必要です", *, hint: str | None = None) -> None:
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
    from api import validation_ja

    errors = list(exc.errors())
    log.info("invalid request %s %s: %s", request.method, request.url.path,
             "; ".join(f"{'.'.join(map(str, e.get('loc', ())))}: {e.get('msg')}" for e in errors))
    problems = validation_ja.problems(errors, finite=_finite)
    return JSONResponse(_body("invalid_request", "リクエストの形式が正しくありません", validation_ja.summary(problems),
                              "送信した項目と値を確かめてください", detail=problems), status_code=422)


#: HTTP statuses Starlette raises itself (unknown URL, wrong method…) → (code, title, message).
HTTP_WORDS = {
    404: ("not_found", "見つかりません", "このアドレス（{path}）のページや API はありません"),
    405: ("method_not_allowed", "この操作はできません", "このアドレス（{path}）は {method} を受け付けません"),
    406: ("not_acceptable", "この形式では返せません", "このアドレス（{path}）はその形式で返せません"),
    415: ("unsupported_media_type", "この形式は受け付けません", "送られたデータの形式を受け付けません"),
}
#: What to do next, per status.
HTTP_HINTS = {404: "アドレスを確かめてください（API の一覧は /docs、画面は /web/）",
              405: "API の一覧（/docs）で使える操作を確かめてください"}


async def _http_error(request: Request, exc: StarletteHTTPException):
    """Starlette's own errors (``{"detail": "Not Found"}``) in Japanese, with the machine ``error`` code."""
    from html import escape

    code, title, text = HTTP_WORDS.get(exc.status_code, ("http_error", "リクエストを処理できません",
                                                          "リクエストを処理できませんでした（状態 {status}）"))
    message = text.format(path=request.url.path, method=request.method, status=exc.status_code)
    hint = HTTP_HINTS.get(exc.status_code)
    headers = getattr(exc, "headers", None)
    if request.url.path.startswith("/web") and request.method in ("GET", "HEAD"):
        page = ("<!doctype html><html lang=\"ja\"><head><meta charset=\"utf-8\">"
                "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
                f"<title>{escape(title)} - つなぐ</title></head><body style=\"font-family:sans-serif;margin:2rem\">"
                f"<h1>{escape(title)}</h1><p>{escape(message)}</p>"
                "<p><a href=\"/web/\">トップへ戻る</a></p></body></html>")
        return HTMLResponse(page, status_code=exc.status_code, headers=headers)
    return JSONResponse(_body(code, title, message, hint, detail=message, code=code),
                        status_code=exc.status_code, headers=headers)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return JSONResponse(_body("internal", "内部エラーが発生しました",
                              "予期しないエラーが起きました（詳しくはサーバーのログにあります）",
                              "もう一度試し、続くときは管理者に連絡してください"), status_code=500)


def install_error_handlers(app: FastAPI) -> None:
    """Register the mapping of domain errors to HTTP statuses on ``app``.

    Starlette's own HTTP errors (unknown URL 404, wrong method 405…) → the same status in Japanese
    (web pages: a Japanese HTML page), InputDataError → 422, UnknownMunicipalityError / DataNotFoundError / NotFound → 404, Conflict → 409,
    Unauthorized / failed login → 401 (web pages: redirect to the login page), Forbidden → 403,
    locked account → 423 with Retry-After, WorkspaceNotInitialised → 409, other StoreError → 503, UploadTooLarge → 413, anything else → 500
    without details.
    """
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(StarletteHTTPException, _http_error)
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
