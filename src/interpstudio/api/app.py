"""``create_app(settings)``: the FastAPI application factory.

Wires settings, the database engine and session factory, the event bus (with a broker: on the
deployment's channel, made when the app starts), the job and system feeds, the background fill of
model rows' positions, tokenizer fingerprints and GGUF source quantization from their files
(``services/model_backfill``),
the routers under ``/api/v1``, error handlers, the optional API-key middleware, the origin / host
guard, CORS (off unless origins are configured) and the static UI. It creates nothing at import
time. It does NOT apply migrations or start job workers: ``interpstudio serve`` does both before
serving.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from interpstudio import __version__
from interpstudio.api.auth import ApiKeyMiddleware
from interpstudio.api.errors import install_error_handlers
from interpstudio.api.feeds import JobFeed, SystemFeed, WorkerSweep
from interpstudio.api.nul_guard import NulGuardMiddleware
from interpstudio.api.origin_guard import OriginGuardMiddleware
from interpstudio.api.routes import datasets, extractions, health, jobs, models, system
from interpstudio.api.schemas import ErrorResponse
from interpstudio.api.static import mount_ui
from interpstudio.api.ws import router as ws_router
from interpstudio.core.events import make_event_bus
from interpstudio.core.paths import DataPaths
from interpstudio.core.settings import Settings
from interpstudio.db.repositories.deployment import deployment_key
from interpstudio.db.session import make_engine, make_session_factory
from interpstudio.services.model_backfill import backfill_model_rows
from interpstudio.services.system import CpuSampler

API_PREFIX = "/api/v1"
ERROR_RESPONSES = {code: {"model": ErrorResponse}
                   for code in (400, 401, 403, 404, 409, 422, 500, 503)}


def create_app(settings: Settings, *, job_feed_interval_s: float = 0.25,
               system_interval_s: float = 2.0) -> FastAPI:
    engine = make_engine(settings.resolved_database_url)
    session_factory = make_session_factory(engine)
    paths = DataPaths(settings.data_dir)
    paths.ensure()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.broker_url is not None:
            key = await asyncio.to_thread(deployment_key, session_factory)
            app.state.bus = make_event_bus(settings.broker_url, key)
        bus = app.state.bus
        await bus.start()
        feeds = [JobFeed(session_factory, bus, job_feed_interval_s),
                 SystemFeed(bus, settings.data_dir, app.state.cpu, system_interval_s),
                 WorkerSweep(session_factory, settings)]
        for feed in feeds:
            feed.start()
        # model rows' positions / tokenizer fingerprints / a GGUF's source quantization their
        # import did not record, read once from their files in the background
        # (services/model_backfill.py): nothing waits for it
        stop_backfill = threading.Event()
        backfill = asyncio.create_task(asyncio.to_thread(
            backfill_model_rows, session_factory, paths, stop=stop_backfill))
        try:
            yield
        finally:
            stop_backfill.set()  # it ends after the model it is on (before the engine goes)
            await backfill
            for feed in feeds:
                await feed.stop()
            await bus.close()
            engine.dispose()

    app = FastAPI(title="Interp Studio", version=__version__, lifespan=lifespan,
                  responses=ERROR_RESPONSES,  # type: ignore[arg-type]
                  docs_url=None, redoc_url=None)  # /docs: static.mount_ui, served offline
    app.state.settings = settings
    app.state.engine = engine
    app.state.session_factory = session_factory
    app.state.paths = paths
    app.state.bus = make_event_bus(None)  # in-process; the lifespan puts a broker's in place
    app.state.cpu = CpuSampler()  # its first sample now: the first reading is a real one
    install_error_handlers(app)
    for module in (health, jobs, system, models, datasets, extractions):
        app.include_router(module.router, prefix=API_PREFIX)
    app.include_router(ws_router, prefix=API_PREFIX)
    # the last added runs first: CORS (a browser's preflight carries no key, and a refusal must
    # carry CORS headers to be readable), then the origin / host guard, the key, the NUL check
    app.add_middleware(NulGuardMiddleware)
    if settings.api_key is not None:
        app.add_middleware(ApiKeyMiddleware, api_key=settings.api_key.get_secret_value())
    app.add_middleware(OriginGuardMiddleware, cors_origins=settings.cors_origins,
                       allowed_hosts=settings.allowed_hosts, check_host=settings.api_key is None)
    if settings.cors_origins:
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    mount_ui(app)
    return app
