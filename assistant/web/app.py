"""FastAPI app factory. Routes stay thin; the services object holds the parts; errors become JSON
``{"detail": …}`` with the right status code."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from assistant.auth import AuthError, ThrottledError
from assistant.categorise.categories import CategoryError
from assistant.config import Settings
from assistant.domain import Categorisation, ConflictError, InputError, NotFoundError
from assistant.services import Services
from assistant.tickets import TooLargeError, counts_by_status
from assistant.web.api import Agent, router

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
_ERRORS: list[tuple[type[Exception], int]] = [  # most specific first
    (TooLargeError, 413), (InputError, 422), (CategoryError, 422), (NotFoundError, 404), (ConflictError, 409),
    (ThrottledError, 429), (AuthError, 401),
]


class AskRequest(BaseModel):
    text: str = Field(min_length=1, max_length=8000)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services(settings)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if settings.run_worker:
            services.jobs.start()  # resumes jobs a crashed process left running
        yield
        if settings.run_worker:
            services.jobs.stop()

    app = FastAPI(title="Kontor", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json",
                  lifespan=lifespan)
    app.state.services = services
    _error_handlers(app)
    _limit_body(app, settings.max_request_bytes)
    app.include_router(router)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return _TEMPLATES.TemplateResponse(request, "home.html", _status(services))

    @app.get("/api/health")
    def health() -> dict[str, object]:
        return {"status": "ok", **_status(services)}

    @app.get("/api/search")
    def search(
        user: Agent, q: Annotated[str, Query(min_length=1, max_length=2000)], k: Annotated[int, Query(ge=1, le=50)] = 5,
    ) -> list[dict[str, object]]:
        return [hit.contract() for hit in services.retriever.search(q, k)]

    @app.post("/api/ask")
    def ask(body: AskRequest, user: Agent) -> dict[str, object]:
        return services.answerer().draft(body.text).model_dump(exclude={"sources"})

    @app.post("/api/categorise")
    def categorise(body: AskRequest, user: Agent) -> Categorisation:
        return services.categoriser.categorise(body.text)

    return app


def _error_handlers(app: FastAPI) -> None:
    for error, status in _ERRORS:
        def handler(_: Request, exc: Exception, status: int = status) -> JSONResponse:
            return JSONResponse({"detail": str(exc)}, status_code=status)

        app.add_exception_handler(error, handler)


def _limit_body(app: FastAPI, limit: int) -> None:
    @app.middleware("http")
    async def refuse_huge(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        length = request.headers.get("content-length", "")
        if length.isdigit() and int(length) > limit:
            return JSONResponse({"detail": f"Anfrage zu groß (höchstens {limit} Bytes)"}, status_code=413)
        return await call_next(request)


def _status(services: Services) -> dict[str, object]:
    documents = services.catalogue.documents()
    return {
        "documents": len(documents),
        "chunks": sum(d.chunks for d in documents.values()),
        "model": services.settings.model,
        "knowledge_dir": str(services.settings.knowledge_dir),
        "tickets": counts_by_status(services.database),
    }
