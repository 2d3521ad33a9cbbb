"""The FastAPI application: create_app(settings) builds it, serve(settings) runs it with uvicorn."""

from __future__ import annotations

import importlib
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from starlette.middleware.gzip import GZipMiddleware

from api.errors import install_error_handlers
from api.routers import auth, health, maps, nesting, reports, resources, scenarios, stations, tiers, users, workspaces
from api.routers import jobs as jobs_router
from api.routers import docs as api_docs
from api.security import deny_undeclared
from api.settings import Settings

#: Optional routers (client households, web UI): included when their module exists.
OPTIONAL_ROUTERS = ("api.routers.outreach", "api.web")


def create_app(settings: Settings | None = None, *, store=None, accounts=None) -> FastAPI:
    """Build the Tsunagu API.

    Parameters
    ----------
    settings
        Service settings; read from ``TSUNAGU_*`` environment variables when None.
    store
        An already open :class:`~api.store.base.Store` to serve (tests, embedding); otherwise
        the store is opened from ``settings.workspace`` on first use.
    accounts
        An already open :class:`~api.accounts.AccountStore`; otherwise opened on first use
        beside the workspace (or from ``settings.accounts``).

    Returns
    -------
    fastapi.FastAPI
    """
    settings = settings or Settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        yield
        opened = getattr(app.state, "store", None)
        if opened is not None and store is None:
            opened.close()
            app.state.store = None
        for other in (getattr(app.state, "stores", None) or {}).values():
            other.close()
        app.state.stores = {}
        opened_accounts = getattr(app.state, "accounts", None)
        if opened_accounts is not None and accounts is None:
            opened_accounts.close()
            app.state.accounts = None

    app = FastAPI(
        title="つなぐ Tsunagu",
        description="社協の福祉圏域・地域資源の地図と分析のための API",
        version="0.1.0",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc from installed files (api/routers/docs.py), not a CDN
        redoc_url=None,
        dependencies=[Depends(deny_undeclared)],  # a route without an access rule is closed
    )
    app.state.settings = settings
    app.state.store = store
    app.state.accounts = accounts
    # Maps are megabytes of HTML and GeoJSON: compress them for tablets on a slow office network.
    app.add_middleware(GZipMiddleware, minimum_size=1024, compresslevel=5)
    install_error_handlers(app)
    api_docs.install(app)
    for module in (health, auth, users, workspaces, tiers, stations, resources, nesting, maps, reports, scenarios):
        app.include_router(module.router)
    app.include_router(jobs_router.router)
    for name in OPTIONAL_ROUTERS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise
            continue
        if hasattr(module, "install"):
            module.install(app)
        elif hasattr(module, "router"):
            app.include_router(module.router)
    return app


def serve(settings: Settings | None = None) -> None:
    """Run the API with uvicorn on ``settings.host:settings.port`` (used by ``tsunagu serve``)."""
    import uvicorn

    from api.workspace_guard import serving_folder

    settings = settings or Settings()
    with serving_folder(settings.workspace):  # `tsunagu demo --replace` is refused while this runs
        uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
