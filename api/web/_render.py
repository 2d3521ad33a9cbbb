"""Rendering web pages: one autoescaping Jinja2 environment, page headers, safe redirect targets."""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from api.security import EDITORS
from gis.kinds import fingerprint as kinds_fingerprint

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"

#: Where a login goes when it has no (usable) ``next``.
HOME = "/web/"

#: Page headers: pages are never cached (they show who is logged in), never framed by other
#: sites, and run only this site's scripts. Maps of the API are framed by the pages (frame-src
#: 'self'); 地理院タイル are the only outside images.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        "img-src 'self' data: https://cyberjapandata.gsi.go.jp; connect-src 'self'; frame-src 'self'; "
        "form-action 'self'; base-uri 'none'; object-src 'none'; frame-ancestors 'none'"
    ),
}

#: The navigation bar: (path, label, roles or None for every role).
NAV = (
    ("/web/", "ワークスペース", None),
    ("/web/map", "地図", None),
    ("/web/analyses", "解析", None),
    ("/web/jobs", "ジョブ", None),
    ("/web/scenarios", "シナリオ", None),
    ("/web/resources", "地域資源", None),
    ("/web/stations", "拠点", None),
    ("/web/outreach", "訪問ルート", ("admin", "csw")),
    ("/web/users", "ユーザー", ("admin",)),
)


@lru_cache(maxsize=1)
def environment() -> jinja2.Environment:
    """The Jinja2 environment of the web UI (autoescape on for every template, undefined is an error)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset_version"] = asset_version()
    env.filters["jst"] = jst
    return env


#: Japan Standard Time (no daylight saving), without needing the tz database.
_JST = dt.timezone(dt.timedelta(hours=9), "JST")


def jst(value) -> str:
    """An ISO 8601 time (stored in UTC) as Japan time, ``2026-04-01 09:30``; text that is no time as it is."""
    if not value:
        return ""
    try:
        when = dt.datetime.fromisoformat(str(value))
    except ValueError:
        return str(value)
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    return when.astimezone(_JST).strftime("%Y-%m-%d %H:%M")


@lru_cache(maxsize=1)
def asset_version() -> str:
    """A short fingerprint of the static files and the kind vocabulary, appended to their URLs so browsers fetch new ones."""
    digest = hashlib.sha256(kinds_fingerprint().encode())  # /web/kinds.css is rendered from it
    for path in sorted(STATIC.rglob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def is_editor(user) -> bool:
    """True for the roles that change resources and run jobs (admin, planner, coordinator)."""
    return user is not None and user.role in EDITORS


def render(request: Request, template: str, *, user=None, status_code: int = 200, **context) -> HTMLResponse:
    """Render ``template`` with the page frame (navigation for ``user``) as an HTML response."""
    nav = [(path, label) for path, label, roles in NAV if user is not None and (roles is None or user.role in roles)]
    html = environment().get_template(template).render(
        request_path=request.url.path, user=user, nav=nav, editor=is_editor(user), **context
    )
    return HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)


def safe_next(value: str | None, *, default: str = HOME) -> str:
    """Return ``value`` if it is a page of this site's web UI to go to after login, else ``default``.

    Only local paths under ``/web`` qualify: no scheme or host (``https://evil.example``,
    ``//evil.example``), no backslashes or control characters (browsers read ``/\\evil`` as a
    host), no ``..`` segments, and not the login or logout page itself.
    """
    if not value or len(value) > 2000:
        return default
    if "\\" in value or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or not value.startswith("/"):
        return default
    path = parts.path
    if not (path == "/web" or path.startswith("/web/")):
        return default
    if ".." in path.split("/") or path.startswith(("/web/login", "/web/logout")):
        return default
    return value
