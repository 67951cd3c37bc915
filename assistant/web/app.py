"""FastAPI app factory. Routes stay thin; the services object holds the parts; errors become JSON
``{"detail": …}`` with the right status code (``assistant.web.errors``)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from assistant import retention
from assistant.config import Settings
from assistant.domain import Categorisation
from assistant.health import index_problem, report
from assistant.outbox import clean_tmp
from assistant.services import Services
from assistant.web import api_accounts, api_admin, pages
from assistant.web.api import Agent, ModelReady, router
from assistant.web.errors import AUTHENTICATED, errors, install_errors

log = logging.getLogger("kontor.web")

class AskRequest(BaseModel):
    text: str = Field(min_length=1, max_length=8000)


class ProblemOut(BaseModel):
    part: Literal["index", "model"]
    detail: str
    repair: str


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    problems: list[ProblemOut] = Field(default_factory=list)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services(settings)

    purge = retention.DailyPurge(lambda: _purge(services))  # by the retention periods, daily

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        _check_at_start(services)
        if settings.run_worker:
            services.jobs.start()  # resumes jobs a crashed process left running
            purge.start()
        yield
        if settings.run_worker:
            services.jobs.stop()
            purge.stop()

    # No Swagger UI or ReDoc: both load scripts and fonts from third-party hosts. The spec itself is served
    # (JSON, no scripts) for any OpenAPI viewer the company runs itself.
    app = FastAPI(title="Kontor", version="0.1.0", docs_url=None, redoc_url=None, openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    app.state.services = services
    app.state.purge = purge
    install_errors(app)
    app.add_middleware(BodyLimit, limit=settings.max_request_bytes,
                       uploads=max(settings.max_request_bytes, settings.max_file_bytes + 64 * 1024))
    app.include_router(router)
    app.include_router(api_admin.router)
    app.include_router(api_accounts.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "static"), name="static")
    _page_handlers(app)
    # The security headers wrap the whole stack, Starlette's own error middleware included: BodyLimit's 413 and
    # even a bare 500 carry them (``add_middleware`` would put them inside both).
    build_stack = app.build_middleware_stack
    app.build_middleware_stack = lambda: SecurityHeaders(build_stack())  # type: ignore[method-assign]

    @app.get("/api/health", responses=errors(413))
    def health() -> HealthOut:
        """For monitoring: ``degraded`` names each damaged part and its repair; says nothing about the company."""
        return HealthOut.model_validate(report(services.problems()))

    @app.get("/api/search", responses=AUTHENTICATED)
    def search(
        user: Agent, q: Annotated[str, Query(min_length=1, max_length=2000)], k: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> list[dict[str, object]]:
        return [hit.contract() for hit in services.retriever.search(q, k)]

    @app.post("/api/ask", responses={**AUTHENTICATED, **errors(503)})
    def ask(body: AskRequest, user: Agent, _: ModelReady) -> dict[str, object]:
        return services.answerer().draft(body.text).model_dump(exclude={"sources"})

    @app.post("/api/categorise", responses={**AUTHENTICATED, **errors(503)})  # 503: the model, if it is used
    def categorise(body: AskRequest, user: Agent) -> Categorisation:
        return services.categoriser.categorise(body.text)

    return app


def _purge(services: Services) -> retention.PurgePlan:
    return retention.purge(services.privacy_parts(), retention.Periods.from_settings(services.settings))


def _check_at_start(services: Services) -> None:
    """Damage a crash or a hand left behind: warn with the repair command, drop half-written outbox files."""
    problem = index_problem(lambda: services.catalogue, lambda: services.vectors)
    if problem is not None:
        log.warning("%s – Reparatur: %s", problem.detail, problem.repair)
    if services.settings.outbox_backend == "maildir":
        for path in clean_tmp(services.settings.outbox_dir):
            log.warning("outbox: removed %s, half-written before a crash (its message is delivered again)", path.name)


def _page_handlers(app: FastAPI) -> None:
    """Pages answer a missing login with the login page and a missing role with a German 403 page."""

    def login_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, pages.LoginRequired)
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, pages.PageForbidden)
        who = "der Administration" if exc.role == "admin" else "dem Fachbereich"
        return pages.render(request, "error.html", None, code=403, title="Kein Zugriff",
                            text=f"Diese Seite ist {who} vorbehalten. Bitte wenden Sie sich an die "
                                 "Administration, wenn Sie Zugriff brauchen.")

    app.add_exception_handler(pages.LoginRequired, login_first)
    app.add_exception_handler(pages.PageForbidden, forbidden)


# Every response: no inline script, no foreign origin, no framing, no sniffing, no referrer to other sites.
SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                               "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
                               "frame-ancestors 'none'",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
    "x-frame-options": "DENY",
}


class SecurityHeaders:
    """Pure ASGI: adds ``SECURITY_HEADERS`` to every response (pages, API, static files, errors, redirects);
    a response that sets its own policy (the self-contained evaluation report) keeps it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k.encode() not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        await self.app(scope, receive, with_headers)


class BodyLimit:
    """413 as JSON for a body over the limit: at once when its length is declared, while reading when it is
    streamed (chunked). Pure ASGI, so the body is never buffered beyond the limit."""

    UPLOAD_PATHS = ("/api/documents",)  # document uploads have their own, larger limit (max_file_bytes)

    def __init__(self, app: ASGIApp, limit: int, uploads: int) -> None:
        self.app, self.default, self.uploads = app, limit, uploads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.uploads if scope["path"] in self.UPLOAD_PATHS else self.default
        detail = f"Anfrage zu groß (höchstens {limit} Bytes)"
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > limit:
            await JSONResponse({"detail": detail}, status_code=413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > limit:  # FastAPI passes HTTPException from body reading on to the JSON handler
                raise HTTPException(413, detail)
            return message

        await self.app(scope, counted, send)
