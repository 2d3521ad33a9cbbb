"""The web UI: server-rendered Japanese pages under /web (Jinja2 templates, no front-end build).

Pages: ログイン, ワークスペース, 地図, 解析 (a form per analysis) and ジョブ (progress, results,
downloads, result map), 地域資源 (add, move and delete on a map), 拠点 (stations: add on the map,
edit, delete, import), 訪問ルート (CSWs and admins:
visit counts, the visits-file import, planning a day), シナリオ (changes saved by name, compared with
the baseline), ユーザー管理 (admin). Every page
declares its access rule like the API; what a page changes it changes through the API with the
session cookie (``fetch`` from this site only, see :mod:`api.security`). Static files (CSS, the
pages' scripts, the bundled Leaflet) are public. Errors of these pages are Japanese pages with a
way back (:mod:`api.web.errors`); the API's own errors stay JSON.
"""

from __future__ import annotations

from importlib import resources

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from api.web import errors, outreach, pages, scenarios, session, stations, users
from api.web._render import STATIC


def install(app: FastAPI) -> None:
    """Add the web pages and their static files to ``app`` (called by :func:`api.app.create_app`)."""
    for module in (session, pages, users, outreach, scenarios, stations):
        app.include_router(module.router)
    errors.install(app)  # Japanese HTML error pages for /web; the API's JSON errors stay as they are
    leaflet = str(resources.files("layers") / "static")
    # leaflet.css refers to images/layers.png beside it; both come from the bundled copy.
    app.mount("/web/leaflet/images", StaticFiles(directory=leaflet), name="web-leaflet-images")
    app.mount("/web/leaflet", StaticFiles(directory=leaflet), name="web-leaflet")
    app.mount("/web/static", StaticFiles(directory=str(STATIC)), name="web-static")
