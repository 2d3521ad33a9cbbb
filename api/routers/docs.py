"""The API's documentation pages (Swagger UI at ``/docs``, ReDoc at ``/redoc``) served from installed files.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on an office network without the
internet ``/docs`` was blank. The scripts and styles come from the ``fastapi-offline`` package
(Swagger UI and ReDoc's release files, installed with Tsunagu); nothing is fetched from outside.
Like FastAPI's pages they are plain routes open to everyone (they describe the API, they hold no
data; ``/openapi.json`` is FastAPI's).
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

#: Where the Swagger UI / ReDoc files are served.
STATIC_URL = "/static/api-docs"


def install(app: FastAPI) -> None:
    """Serve ``/docs`` and ``/redoc`` with local files (create the app with ``docs_url=None, redoc_url=None``)."""
    static = files("fastapi_offline") / "static"
    app.mount(STATIC_URL, StaticFiles(directory=str(static)), name="api-docs-static")
    openapi_url = app.openapi_url or "/openapi.json"
    redirect_url = app.swagger_ui_oauth2_redirect_url or "/docs/oauth2-redirect"

    async def swagger(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(
            openapi_url=f"{root}{openapi_url}", title=f"{app.title} — API（Swagger UI）",
            oauth2_redirect_url=f"{root}{redirect_url}",
            swagger_js_url=f"{root}{STATIC_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{STATIC_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{STATIC_URL}/favicon.png",
            swagger_ui_parameters=app.swagger_ui_parameters)

    async def redirect(request: Request) -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    async def redoc(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_redoc_html(openapi_url=f"{root}{openapi_url}", title=f"{app.title} — API（ReDoc）",
                              redoc_js_url=f"{root}{STATIC_URL}/redoc.standalone.js",
                              redoc_favicon_url=f"{root}{STATIC_URL}/favicon.png", with_google_fonts=False)

    app.add_route("/docs", swagger, include_in_schema=False)
    app.add_route(redirect_url, redirect, include_in_schema=False)
    app.add_route("/redoc", redoc, include_in_schema=False)
