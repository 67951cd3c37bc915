"""The FastAPI app factory: the app's state (the services, the background work, the purge), the error handlers,
the middleware and the routers (``assistant.web.routes``). Errors become JSON ``{"detail": …}`` with the right
status code (``assistant.web.errors``); pages answer with German pages."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from assistant import retention
from assistant.config import Settings
from assistant.health import index_problem
from assistant.outbox import clean_tmp
from assistant.progress import BackgroundWork
from assistant.services import Services
from assistant.web.errors import install_errors
from assistant.web.middleware import BodyLimit, SecurityHeaders
from assistant.web.rendering import install_page_errors
from assistant.web.routes import ROUTERS

log = logging.getLogger("kontor.web")


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services(settings)

    purge = retention.DailyPurge(lambda: _purge(services))  # by the retention periods, daily

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _check_at_start(services)
        mail = settings.web.run_worker and settings.imap.configured
        workers = settings.web.workers if settings.web.run_worker else 0
        if workers:
            services.jobs.start(threads=workers)  # also takes over jobs of dead workers
        if settings.web.run_worker:
            purge.start()
        if mail:
            services.mail_poller.start()  # the shared mailbox, every KONTOR_IMAP_INTERVAL s (IDLE: at once)
        yield
        if mail:
            services.mail_poller.stop(timeout=3)  # IDLE is checked every 2 s
        if workers:
            services.jobs.stop(grace_s=10)  # a job still running then goes back to the queue
        if settings.web.run_worker:
            purge.stop()

    # No Swagger UI or ReDoc: both load scripts and fonts from third-party hosts. The spec itself is served
    # (JSON, no scripts) for any OpenAPI viewer the company runs itself.
    app = FastAPI(title="Kontor", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    # Everything the routes share lives here from the start and is reached through ``assistant.web.deps``.
    app.state.services = services
    app.state.purge = purge
    app.state.background = BackgroundWork()  # progress registry, re-indexing and evaluation threads
    app.state.prompt_writes = threading.Lock()  # numbering a new prompt version and writing labels
    install_errors(app)
    install_page_errors(app)
    app.add_middleware(BodyLimit, limit=settings.web.max_request_bytes,
                       uploads=max(settings.web.max_request_bytes, settings.web.max_file_bytes + 64 * 1024))
    for router in ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    # The security headers wrap the whole stack, Starlette's own error middleware included: BodyLimit's 413 and
    # even a bare 500 carry them (``add_middleware`` would put them inside both).
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack())  # type: ignore[method-assign]
    return app


def _purge(services: Services) -> retention.PurgePlan:
    return retention.purge(services.privacy_parts(), retention.Periods.from_settings(services.settings))


def _check_at_start(services: Services) -> None:
    """Damage a crash or a hand left behind: warn with the repair command, drop half-written outbox files."""
    problem = index_problem(lambda: services.catalogue, lambda: services.vectors)
    if problem is not None:
        log.warning("%s – Reparatur: %s", problem.detail, problem.repair)
    if services.settings.outbox.outbox_backend == "maildir":
        for path in clean_tmp(services.settings.outbox_dir):
            log.warning("outbox: removed %s, half-written before a crash (its message is delivered again)", path.name)
