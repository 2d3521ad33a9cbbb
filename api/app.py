"""The FastAPI application: create_app(settings) builds it, serve(settings) runs it with uvicorn."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI

from api.errors import install_error_handlers
from api.routers import jobs as jobs_router
from api.routers import health, maps, nesting, resources, stations, tiers
from api.settings import Settings


def create_app(settings: Settings | None = None, *, store=None) -> FastAPI:
    """Build the Tsunagu API.

    Parameters
    ----------
    settings
        Service settings; read from ``TSUNAGU_*`` environment variables when None.
    store
        An already open :class:`~api.store.base.Store` to serve (tests, embedding); otherwise
        the store is opened from ``settings.workspace`` on first use.

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

    app = FastAPI(
        title="つなぐ Tsunagu",
        description="社協の福祉圏域・地域資源の地図と分析のための API",
        version="0.1.0",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.store = store
    install_error_handlers(app)
    for module in (health, tiers, stations, resources, nesting, maps):
        app.include_router(module.router)
    app.include_router(jobs_router.router)
    return app


def serve(settings: Settings | None = None) -> None:
    """Run the API with uvicorn on ``settings.host:settings.port`` (used by ``tsunagu serve``)."""
    import uvicorn

    settings = settings or Settings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port)
