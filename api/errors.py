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
from gis.errors import DataNotFoundError, InputDataError, TsunaguError, UnknownMunicipalityError, wants_english

log = logging.getLogger("tsunagu.api")

DEMO_HINT = "tsunagu demo を実行してください"
DEMO_HINT_EN = "run tsunagu demo"
#: The English of each response's ``title`` (by its ``error`` code), for ``TSUNAGU_LANG=en``.
TITLES_EN = {
    "input_data": "Problem with the input data", "unknown_municipality": "Municipality not found",
    "data_not_found": "Data not found", "not_found": "Not found", "conflict": "Not available yet",
    "unauthorized": "Login required", "forbidden": "Not allowed", "locked": "Account locked",
    "disabled": "Account disabled", "login_failed": "Login failed",
    "workspace_not_initialised": "No workspace yet", "store_unavailable": "Cannot open the workspace",
    "upload_too_large": "File too large", "invalid_request": "Invalid request", "internal": "Internal error",
}


class ApiError(TsunaguError):
    """Base of the errors a request handler raises on purpose (404, 401, 403, 409, 413).

    Parameters
    ----------
    message
        What is wrong, in Japanese (the response's ``message``).
    hint
        What the user can do about it, in Japanese.
    en, hint_en
        The same in English, for the server log and ``TSUNAGU_LANG=en``.
    """

    def __init__(self, message: str, *, hint: str | None = None, en: str | None = None,
                 hint_en: str | None = None) -> None:
        super().__init__(message, en=en)
        self.hint_ja = hint
        self.hint_en = hint_en if hint_en is not None else hint

    @property
    def message(self) -> str:
        """The message in the language the user asked for (Japanese unless ``TSUNAGU_LANG=en``)."""
        return self.english if wants_english() else self.japanese

    @property
    def hint(self) -> str | None:
        """The hint in the language the user asked for."""
        return self.hint_en if wants_english() else self.hint_ja


class UploadTooLarge(ApiError):
    """An upload larger than ``Settings.max_upload_bytes``."""

    def __init__(self, limit: int, *, declared: int | None = None) -> None:
        self.limit = limit
        self.declared = declared
        if declared is not None:
            ja, en = f"送られたファイルは {declared:,} バイトです", f"{declared:,} bytes declared"
        else:
            ja, en = "上限を超える大きさのファイルが送られました", "more than the limit received"
        super().__init__(f"ファイルが大きすぎます（{ja}）。上限は {limit:,} バイトです",
                         en=f"upload too large ({en}); the limit is {limit:,} bytes",
                         hint=f"{_mb(limit)} 以下のファイルにしてください",
                         hint_en=f"send a file of at most {_mb(limit)}")


class NotFound(ApiError):
    """A resource of the API (tier level, report) that does not exist; the message names what does."""


class Unauthorized(ApiError):
    """No valid login: missing, unknown or expired session token (401; web pages redirect to the login)."""

    def __init__(self, message: str = "ログインが必要です", *, hint: str | None = None,
                 en: str | None = None, hint_en: str | None = None) -> None:
        if en is None and message == "ログインが必要です":
            en = "login required"
        if hint is None:
            hint, hint_en = "ログインしてください", hint_en or "log in first"
        super().__init__(message, hint=hint, en=en, hint_en=hint_en)


class Forbidden(ApiError):
    """A logged-in caller whose role may not do this (403), or a route with no access rule."""


class Conflict(ApiError):
    """A request the resource's state does not allow yet (e.g. the result of a job still running)."""

    def __init__(self, message: str, *, hint: str | None = None, en: str | None = None,
                 hint_en: str | None = None, **extra) -> None:
        super().__init__(message, hint=hint, en=en, hint_en=hint_en)
        self.extra = extra


def _say(exc: Exception, *, hint: str | None = None) -> tuple[str, str | None]:
    """``(message, hint)`` for a response: the user's language; the English goes to the log."""
    english = getattr(exc, "english", None) or str(exc)
    log.info("%s: %s", type(exc).__name__, english)
    message = str(exc) if not isinstance(exc, ApiError) else exc.message
    return message, (exc.hint if isinstance(exc, ApiError) else hint)


def _mb(n: int) -> str:
    mb = n / (1024 * 1024)
    return f"{mb:,.0f} MB" if mb >= 10 else f"{mb:,.1f} MB"


def _lang(japanese: str, english: str) -> str:
    return english if wants_english() else japanese


def _hint(exc: InputDataError) -> str | None:
    """An input-data error's hint in the user's language."""
    return (exc.hint_en or exc.hint) if wants_english() else exc.hint


def _body(error: str, title: str, message: str, hint: str | None = None, **extra) -> dict:
    if wants_english():
        title = TITLES_EN.get(error, title)
    return {"error": error, "title": title, "message": message, "hint": hint, **extra}


async def _input_data(request: Request, exc: InputDataError) -> JSONResponse:
    message, _ = _say(exc)
    return JSONResponse(_body("input_data", "入力データに問題があります", message, _hint(exc),
                              detail=exc.as_dict()), status_code=422)


async def _unknown_municipality(request: Request, exc: UnknownMunicipalityError) -> JSONResponse:
    message, _ = _say(exc)
    return JSONResponse(_body("unknown_municipality", "市区町村が見つかりません", message, _hint(exc),
                              detail=exc.as_dict()), status_code=404)


async def _data_not_found(request: Request, exc: DataNotFoundError) -> JSONResponse:
    message, _ = _say(exc)
    return JSONResponse(_body("data_not_found", "データが見つかりません", message), status_code=404)


async def _not_found(request: Request, exc: NotFound) -> JSONResponse:
    return JSONResponse(_body("not_found", "見つかりません", *_say(exc)), status_code=404)


async def _conflict(request: Request, exc: Conflict) -> JSONResponse:
    return JSONResponse(_body("conflict", "まだ利用できません", *_say(exc), **exc.extra), status_code=409)


async def _unauthorized(request: Request, exc: Unauthorized):
    path = request.url.path
    if path.startswith("/web") and request.method in ("GET", "HEAD"):
        from urllib.parse import quote

        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/web/login?next={quote(target)}", status_code=303)
    return JSONResponse(_body("unauthorized", "ログインが必要です", *_say(exc)), status_code=401,
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
    return JSONResponse(_body("forbidden", "権限がありません", *_say(exc)), status_code=403)


async def _auth_failed(request: Request, exc: AuthError) -> JSONResponse:
    message, _ = _say(exc)
    if exc.reason == "locked":
        minutes = max(1, round((exc.retry_after or 60) / 60))
        return JSONResponse(_body("locked", "アカウントがロックされています", message,
                                  _lang(f"ログインの失敗が続いたため、約 {minutes} 分後まで ログインできません",
                                        f"too many failed logins: try again in about {minutes} minutes")),
                            status_code=423, headers={"Retry-After": str(exc.retry_after or 60)})
    if exc.reason == "disabled":
        return JSONResponse(_body("disabled", "アカウントが無効です", message,
                                  _lang("管理者に連絡してください", "contact an admin")),
                            status_code=403)
    return JSONResponse(_body("login_failed", "ログインできません", message,
                              _lang("ユーザー名とパスワードを確かめてください", "check the user name and password")),
                        status_code=401,
                        headers={"WWW-Authenticate": 'Bearer realm="tsunagu"'})


async def _not_initialised(request: Request, exc: WorkspaceNotInitialised) -> JSONResponse:
    message, _ = _say(exc)
    return JSONResponse(_body("workspace_not_initialised", "ワークスペースが未作成です", message,
                              _lang(DEMO_HINT, DEMO_HINT_EN)),
                        status_code=409)


async def _store_error(request: Request, exc: StoreError) -> JSONResponse:
    log.warning("store unavailable: %s", exc.english)
    return JSONResponse(_body("store_unavailable", "ワークスペースを開けません", str(exc), _lang(DEMO_HINT, DEMO_HINT_EN)),
                        status_code=503)


async def _too_large(request: Request, exc: UploadTooLarge) -> JSONResponse:
    return JSONResponse(_body("upload_too_large", "ファイルが大きすぎます", *_say(exc),
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
    message = validation_ja.summary_en(errors) if wants_english() else validation_ja.summary(problems)
    return JSONResponse(_body("invalid_request", "リクエストの形式が正しくありません", message,
                              _lang("送信した項目と値を確かめてください", "check the fields and values sent"),
                              detail=problems), status_code=422)


#: HTTP statuses Starlette raises itself (unknown URL, wrong method…) → (code, title, message).
HTTP_WORDS = {
    404: ("not_found", "見つかりません", "このアドレス（{path}）のページや API はありません"),
    405: ("method_not_allowed", "この操作はできません", "このアドレス（{path}）は {method} を受け付けません"),
    406: ("not_acceptable", "この形式では返せません", "このアドレス（{path}）はその形式で返せません"),
    415: ("unsupported_media_type", "この形式は受け付けません", "送られたデータの形式を受け付けません"),
}
#: The same in English (``TSUNAGU_LANG=en``).
HTTP_WORDS_EN = {
    404: ("not_found", "Not found", "no page or API at this address ({path})"),
    405: ("method_not_allowed", "Method not allowed", "this address ({path}) does not accept {method}"),
    406: ("not_acceptable", "Not acceptable", "this address ({path}) cannot answer in that format"),
    415: ("unsupported_media_type", "Unsupported media type", "the data sent is in a format not accepted"),
}
#: What to do next, per status.
HTTP_HINTS = {404: "アドレスを確かめてください（API の一覧は /docs、画面は /web/）",
              405: "API の一覧（/docs）で使える操作を確かめてください"}
HTTP_HINTS_EN = {404: "check the address (the API is listed at /docs, the pages are at /web/)",
                 405: "check the operations allowed in the API list (/docs)"}


async def _http_error(request: Request, exc: StarletteHTTPException):
    """Starlette's own errors (``{"detail": "Not Found"}``) in Japanese, with the machine ``error`` code."""
    from html import escape

    if wants_english():
        code, title, text = HTTP_WORDS_EN.get(exc.status_code, ("http_error", "Cannot handle the request",
                                                                "the request could not be handled (status {status})"))
        hint = HTTP_HINTS_EN.get(exc.status_code)
    else:
        code, title, text = HTTP_WORDS.get(exc.status_code, ("http_error", "リクエストを処理できません",
                                                              "リクエストを処理できませんでした（状態 {status}）"))
        hint = HTTP_HINTS.get(exc.status_code)
    message = text.format(path=request.url.path, method=request.method, status=exc.status_code)
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
                              _lang("予期しないエラーが起きました（詳しくはサーバーのログにあります）",
                                    "an unexpected error happened (the details are in the server log)"),
                              _lang("もう一度試し、続くときは管理者に連絡してください",
                                    "try again, and contact an admin if it keeps happening")), status_code=500)


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
