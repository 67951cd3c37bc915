"""FastAPI app factory. Routes stay thin; the services object holds the parts."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from assistant.categorise.categories import CategoryError
from assistant.config import Settings
from assistant.domain import Categorisation, InputError
from assistant.services import Services

_TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class AskRequest(BaseModel):
    text: str = Field(min_length=1, max_length=8000)


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    services = services or Services(settings)
    app = FastAPI(title="Kontor", version="0.1.0", docs_url="/api/docs", openapi_url="/api/openapi.json")

    @app.exception_handler(InputError)
    async def _input_error(_: Request, exc: InputError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.exception_handler(CategoryError)
    async def _category_error(_: Request, exc: CategoryError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> HTMLResponse:
        return _TEMPLATES.TemplateResponse(request, "home.html", _status(services))

    @app.post("/", response_class=HTMLResponse)
    def home_ask(request: Request, question: Annotated[str, Form(max_length=8000)] = "") -> HTMLResponse:
        context = _status(services) | {"question": question}
        try:
            context["draft"] = services.answerer().draft(question)
        except InputError as exc:
            context["error"] = str(exc)
        return _TEMPLATES.TemplateResponse(request, "home.html", context)

    @app.get("/api/health")
    def health() -> dict[str, object]:
        return {"status": "ok", **_status(services)}

    @app.get("/api/search")
    def search(q: Annotated[str, Query(min_length=1, max_length=2000)], k: Annotated[int, Query(ge=1, le=50)] = 5):
        return [hit.contract() for hit in services.retriever.search(q, k)]

    @app.post("/api/ask")
    def ask(body: AskRequest) -> dict[str, object]:
        draft = services.answerer().draft(body.text)
        return draft.model_dump(exclude={"sources"})

    @app.post("/api/categorise")
    def categorise(body: AskRequest) -> Categorisation:
        return services.categoriser.categorise(body.text)

    return app


def _status(services: Services) -> dict[str, object]:
    documents = services.catalogue.documents()
    return {
        "documents": len(documents),
        "chunks": sum(d.chunks for d in documents.values()),
        "model": services.settings.model,
        "knowledge_dir": str(services.settings.knowledge_dir),
    }
