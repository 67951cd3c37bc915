"""Questions to the knowledge without a ticket: search the knowledge, draft an answer to a free text, categorise a
text. Nothing is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from assistant.domain import Categorisation
from assistant.web.deps import AgentUser, ModelReady, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.schemas import Answer, AskIn, SearchResult

router = APIRouter(prefix="/api", responses=AUTHENTICATED)


@router.get("/search")
def search(
    user: AgentUser, services: Svc, q: Annotated[str, Query(min_length=1, max_length=2000)],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[SearchResult]:
    return [SearchResult.model_validate(hit.contract()) for hit in services.retriever.search(q, k)]


@router.post("/ask", responses=errors(503))
def ask(body: AskIn, user: AgentUser, services: Svc, _: ModelReady) -> Answer:
    return Answer.model_validate(services.answerer().draft(body.text).model_dump(exclude={"sources"}))


@router.post("/categorise", responses=errors(503))  # 503: the model, if it is used
def categorise(body: AskIn, user: AgentUser, services: Svc) -> Categorisation:
    return services.categoriser.categorise(body.text)
