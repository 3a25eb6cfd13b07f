"""The FastAPI application: create_app() wires settings, resources, middleware, errors and routers."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import swagger_ui_bundle  # type: ignore[import-untyped]
from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from api.errors import ERROR_RESPONSES, install_error_handlers
from api.hot import HotReads
from api.middleware import CorsMiddleware, RequestContextMiddleware
from api.resources import Resources
from api.routes import (
    ai,
    auth,
    clients,
    commitments,
    evals,
    feed,
    health,
    meetings,
    projects,
    recordings,
    transcriptions,
    users,
)
from api.routing import API_PREFIX, ApiRouter
from core import tokens
from core.logs import configure_logging
from core.settings import Settings, get_settings
from core.tracing import setup_tracing, shutdown_tracing
from retrieval.lexical import choose_lexical

UPLOAD_PATH_MARKERS = ("/upload",)


def api_routers() -> list[ApiRouter]:
    """The routers served under API_PREFIX.

    The app includes each one directly rather than through one parent router: FastAPI matches nested
    routers level by level on every request, and one level less is measurably faster (bench/crud.py)."""
    modules = (
        auth,
        users,
        clients,
        projects,
        meetings,
        recordings,
        transcriptions,
        commitments,
        ai,
        evals,
        feed,
    )
    return [*(module.router for module in modules), ai.search_router]


def create_app(settings: Settings | None = None, *, resources: Resources | None = None) -> FastAPI:
    settings = settings or get_settings()
    configure_logging(settings.log.level, json_format=settings.log.json_format)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = resources is None
        setup_tracing(settings, "api")
        app.state.resources = resources or Resources.open(settings)
        if owned:  # a served app: the first answer would otherwise load tiktoken's encoding (1-2 s of CPU)
            app.state.warm_tokens = asyncio.get_running_loop().run_in_executor(None, tokens.encoding)
        await choose_lexical(app.state.resources.engine, settings.retrieval.lexical)
        try:
            yield
        finally:
            if owned:
                await app.state.resources.close()
            shutdown_tracing(settings)

    app = FastAPI(
        title="V1tr0 API",
        version="0.1.0",
        summary="Clients, projects and meetings, with an assistant grounded in each project's artifacts.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        # Tracing is ours (core/tracing.py, RequestContextMiddleware). FastAPI's own OpenTelemetry would
        # otherwise check the global providers on every request (tens of µs) and, were a global provider
        # ever installed, add a second span and metric per request.
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    if resources is not None:
        app.state.resources = resources
    install_error_handlers(app)
    app.include_router(health.router)
    for router in api_routers():
        assert router.mounted_at == API_PREFIX, router.prefix  # where its path check expects it
        app.include_router(router, prefix=API_PREFIX, responses=ERROR_RESPONSES)
    _mount_docs(app)
    _mount_console(app, settings)

    app.add_middleware(HotReads)  # the innermost: CORS and the request context wrap its answers too
    app.add_middleware(
        CorsMiddleware,
        allow_origins=settings.http.cors_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"],
        allow_headers=[
            "Authorization",
            "Content-Type",
            "X-Request-ID",
            "Last-Event-ID",
            "traceparent",
            "tracestate",
        ],
        expose_headers=["X-Request-ID", "Retry-After"],
    )
    app.add_middleware(
        RequestContextMiddleware,
        max_body_bytes=settings.http.max_body_bytes,
        max_upload_bytes=settings.http.max_upload_bytes,
        upload_paths=UPLOAD_PATH_MARKERS,
        hsts=settings.http.hsts,
        tracing=settings.tracing.enabled,
    )
    return app


CONSOLE_DIR = Path(__file__).resolve().parent / "static" / "console"


def _mount_console(app: FastAPI, settings: Settings) -> None:
    """The built-in web console: static files served by the app itself (no CDN, no build step)."""

    @app.get("/", include_in_schema=False)
    async def root() -> RedirectResponse:
        return RedirectResponse("/console/")

    @app.get("/console/config.json", include_in_schema=False)
    async def console_config() -> dict[str, str | int]:
        # The upload limit lets the console say how large a refused file may be, in its own words.
        return {
            "language": settings.http.console_language,
            "max_upload_bytes": settings.http.max_upload_bytes,
        }

    app.mount("/console", StaticFiles(directory=CONSOLE_DIR, html=True), name="console")


def _mount_docs(app: FastAPI) -> None:
    """Swagger UI from the swagger-ui-bundle package, so /docs works with no CDN."""
    app.mount(
        "/static/swagger", StaticFiles(directory=Path(swagger_ui_bundle.swagger_ui_path)), name="swagger"
    )

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title="V1tr0 API",
            swagger_js_url="/static/swagger/swagger-ui-bundle.js",
            swagger_css_url="/static/swagger/swagger-ui.css",
            swagger_favicon_url="/static/swagger/favicon-32x32.png",
        )
