"""The FastAPI app factory: the app's state (the services, the background work, the purge), the error handlers,
the middleware and the routers (``assistant.web.routes``). Errors become JSON ``{"detail": …}`` with the right
status code (``assistant.web.errors``); pages answer with German pages."""

from __future__ import annotations

import logging
import socket
import threading
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from assistant import jobs, retention
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
GRACEFUL_S = 3  # SIGTERM: open requests may finish this long, then they are cancelled


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services(settings)

    purge = retention.DailyPurge(lambda: _purge(services))  # by the retention periods, daily
    work = ProcessWork(services, purge)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _check_at_start(services)
        work.start()
        yield
        work.stop()  # begun already at SIGTERM when `run_server` runs the app (beside uvicorn's own wait)

    # No Swagger UI or ReDoc: both load scripts and fonts from third-party hosts. The spec itself is served
    # (JSON, no scripts) for any OpenAPI viewer the company runs itself.
    app = FastAPI(title="Kontor", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    # Everything the routes share lives here from the start and is reached through ``assistant.web.deps``.
    app.state.services = services
    app.state.purge = purge
    app.state.process_work = work  # the worker threads, the mailbox watcher, the purge (``run_server`` stops them)
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


class ProcessWork:
    """What the web process runs besides requests, by its settings: job worker threads (``KONTOR_WORKERS``), the
    mailbox watcher (``KONTOR_MAIL_WATCH``) and the daily purge. Stopping begins at SIGTERM (``begin_stop``):
    no job is claimed after it, and the running jobs, the watcher and the purge stop side by side within
    ``jobs.STOP_GRACE_S`` while uvicorn waits for open connections."""

    def __init__(self, services: Services, purge: retention.DailyPurge) -> None:
        web = services.settings.web
        self.services, self.purge = services, purge
        self.workers = web.workers if web.run_worker else 0
        self.daily = web.run_worker
        self.mail = web.run_worker and web.mail_watch and services.settings.imap.configured
        self._stopping: threading.Thread | None = None

    def start(self) -> None:
        self._stopping = None
        if self.workers:
            self.services.jobs.start(threads=self.workers)  # also takes over jobs of dead workers
        if self.daily:
            self.purge.start()
        if self.mail:
            self.services.mail_poller.start()  # the shared mailbox, every KONTOR_IMAP_INTERVAL s (IDLE: at once)
            log.info("watching the shared mailbox %s", self.services.settings.imap.host)

    def begin_stop(self) -> None:
        """Claim no more jobs; stop the rest in a thread (called on the event loop, not in a signal handler)."""
        if self._stopping is not None:
            return
        if self.workers:
            self.services.jobs.halt()
        others: dict[str, Callable[[], object]] = {}
        if self.mail:
            others["mailbox watcher"] = lambda: self.services.mail_poller.stop(timeout=jobs.STOP_GRACE_S)
        if self.daily:
            others["purge"] = self.purge.stop
        queue = self.services.jobs if self.workers else None
        self._stopping = threading.Thread(target=jobs.stop_together, args=(queue, others), name="kontor-shutdown",
                                          daemon=True)
        self._stopping.start()

    def stop(self) -> None:
        self.begin_stop()
        assert self._stopping is not None
        self._stopping.join(jobs.STOP_GRACE_S + 1)


def run_server(app: FastAPI, host: str, port: int) -> None:
    """Run the app with uvicorn until SIGTERM or Ctrl+C. At the signal the process's own work begins to stop at
    once, open requests (a live draft stream lasts up to 10 min) get ``GRACEFUL_S``, then they are cancelled: the
    process is gone within 10 s."""
    import uvicorn  # the web stack only for `kontor serve`

    work: ProcessWork = app.state.process_work

    class Server(uvicorn.Server):
        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            work.begin_stop()  # beside uvicorn's wait for the open connections, not after it
            await super().shutdown(sockets)

    config = uvicorn.Config(app, host=host, port=port, log_config=None,  # uvicorn's lines into our log
                            timeout_graceful_shutdown=GRACEFUL_S)
    Server(config).run()


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
