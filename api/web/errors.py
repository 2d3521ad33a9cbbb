"""Japanese error pages for the web UI: 404, 403, 422, 500 (and other HTTP errors) under /web as HTML.

The API keeps its JSON bodies (:mod:`api.errors`): each handler here answers only requests for
``/web`` pages and hands every other request to the handler that was registered before it. A
page says what happened in Japanese and offers a way back (the page the user came from on this
site, and the workspace page); no technical detail or traceback is shown.
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.errors import Forbidden, NotFound, Unauthorized
from api.web._render import render, safe_next

log = logging.getLogger("tsunagu.web")

#: Status → (title, message, hint) of the page.
PAGES = {
    400: ("リクエストが正しくありません", "この操作は受け付けられませんでした。", "画面を開き直して、もう一度操作してください。"),
    403: ("権限がありません", "この画面を見る、またはこの操作をする権限がありません。",
          "必要なら管理者に権限を頼んでください。"),
    404: ("ページが見つかりません", "指定されたページはありません。",
          "アドレスを確かめるか、メニューから選び直してください。"),
    405: ("この操作はできません", "この画面では、この操作は受け付けていません。", "メニューから画面を開き直してください。"),
    422: ("入力に誤りがあります", "送られた内容を読み取れませんでした。", "入力を確かめて、もう一度送ってください。"),
    500: ("内部エラーが発生しました", "申し訳ありません。処理の途中でエラーが起きました。",
          "しばらくしてからもう一度試してください。続くときは管理者に連絡してください（サーバーの記録に詳細があります）。"),
}


def is_web(request: Request) -> bool:
    """True for the web UI's pages (``/web`` and below), whose errors are HTML pages."""
    path = request.url.path
    return path == "/web" or path.startswith("/web/")


def _back(request: Request) -> str | None:
    """The page of this site the user came from (Referer), when it is a web page other than this one."""
    referer = request.headers.get("referer")
    if not referer:
        return None
    parts = urlsplit(referer)
    if parts.netloc and parts.netloc.lower() != (request.headers.get("host") or request.url.netloc).lower():
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    back = safe_next(target, default="")
    return back if back and parts.path != request.url.path else None


def _user(request: Request):
    user = getattr(request.state, "user", None)
    if user is not None:
        return user
    try:
        from api.security import optional_user

        return optional_user(request)
    except Exception:  # noqa: BLE001 - an error page must show even when the login cannot be read
        return None


def error_page(request: Request, status: int, *, hint: str | None = None):
    """The Japanese HTML page for an HTTP error ``status`` on a web page."""
    title, message, default_hint = PAGES.get(status, PAGES[500] if status >= 500 else PAGES[400])
    return render(request, "error.html", user=_user(request), title=title, message=message,
                  hint=hint or default_hint, status=status, back=_back(request), status_code=status)


def _japanese(text: str | None) -> str | None:
    """``text`` when it is Japanese (a hint written for users), else None (English is for the log)."""
    if text and any(ord(c) > 0x3000 for c in text):
        return text
    return None


def install(app: FastAPI) -> None:
    """Register the web error pages on ``app``, in front of the API's handlers (called by :func:`api.web.install`)."""
    before = dict(app.exception_handlers)

    def previous(cls, fallback=None):
        return before.get(cls, fallback)

    http_before = previous(StarletteHTTPException, http_exception_handler)
    not_found_before = previous(NotFound)
    forbidden_before = previous(Forbidden)
    unauthorized_before = previous(Unauthorized)
    invalid_before = previous(RequestValidationError, request_validation_exception_handler)
    unexpected_before = previous(Exception)

    async def http_error(request: Request, exc: StarletteHTTPException):
        if not is_web(request) or exc.status_code < 400:
            return await http_before(request, exc)
        return error_page(request, exc.status_code)

    async def not_found(request: Request, exc: NotFound):
        if not is_web(request):
            return await not_found_before(request, exc)
        return error_page(request, 404, hint=_japanese(exc.hint))

    async def forbidden(request: Request, exc: Forbidden):
        if not is_web(request):
            return await forbidden_before(request, exc)
        return error_page(request, 403, hint=_japanese(exc.hint))

    async def unauthorized(request: Request, exc: Unauthorized):
        if is_web(request) and request.method not in ("GET", "HEAD"):
            # a form posted after the session ended: log in again, then back to the page of the form
            from urllib.parse import quote

            target = safe_next(_back(request) or "/web/")
            return RedirectResponse(f"/web/login?next={quote(target)}", status_code=303)
        return await unauthorized_before(request, exc)

    async def invalid(request: Request, exc: RequestValidationError):
        if not is_web(request):
            return await invalid_before(request, exc)
        return error_page(request, 422)

    async def unexpected(request: Request, exc: Exception):
        if not is_web(request):
            return await unexpected_before(request, exc)
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return error_page(request, 500)

    app.add_exception_handler(StarletteHTTPException, http_error)
    if not_found_before is not None:
        app.add_exception_handler(NotFound, not_found)
    if forbidden_before is not None:
        app.add_exception_handler(Forbidden, forbidden)
    if unauthorized_before is not None:
        app.add_exception_handler(Unauthorized, unauthorized)
    app.add_exception_handler(RequestValidationError, invalid)
    if unexpected_before is not None:
        app.add_exception_handler(Exception, unexpected)
