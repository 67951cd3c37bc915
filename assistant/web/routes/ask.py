"""Questions to the knowledge without a ticket: search the knowledge, draft an answer to a free text, categorise a
text. Nothing is stored."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import Annotated, TypeVar

from fastapi import APIRouter, HTTPException, Query, Request
from starlette.concurrency import run_in_threadpool

from assistant.domain import Categorisation
from assistant.web.deps import AgentUser, ModelReady, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.schemas import Answer, AskIn, SearchResult

router = APIRouter(prefix="/api", responses=AUTHENTICATED)
T = TypeVar("T")


@router.get("/search")
def search(
    user: AgentUser, services: Svc, q: Annotated[str, Query(min_length=1, max_length=2000)],
    k: Annotated[int, Query(ge=1, le=50)] = 5,
) -> list[SearchResult]:
    return [SearchResult.model_validate(hit.contract()) for hit in services.retriever.search(q, k)]


BUSY = ((429, "this person's previous question to the model still runs; wait `Retry-After` seconds"),
        (503, "the model file is missing or failed, or every model slot is busy (then with `Retry-After`)"))


@router.post("/ask", responses=errors(*BUSY))
async def ask(request: Request, body: AskIn, user: AgentUser, services: Svc, _: ModelReady) -> Answer:
    """429/503 with ``Retry-After`` when the person's or everybody's model slots are taken (assistant/gate.py);
    generation stops when the client goes away."""
    with services.model_gate.slot(user.name):
        draft = await until_done_or_gone(request, lambda sink: services.answerer().draft(body.text, on_token=sink))
    return Answer.model_validate(draft.model_dump(exclude={"sources"}))


@router.post("/categorise", responses=errors(*BUSY))  # 503: the model, if it is used
def categorise(body: AskIn, user: AgentUser, services: Svc) -> Categorisation:
    with services.model_gate.slot(user.name):
        return services.categoriser.categorise(body.text)


class ClientGone(Exception):
    """The client closed the connection: the model stops at its next token."""


async def until_done_or_gone(request: Request, work: Callable[[Callable[[str], None]], T]) -> T:
    """Run ``work(sink)`` in a thread; ``sink`` is called per generated token and stops the work once the client
    is gone (polled every quarter second)."""
    gone = threading.Event()

    def sink(_piece: str) -> None:
        if gone.is_set():
            raise ClientGone

    task = asyncio.ensure_future(run_in_threadpool(work, sink))
    while not task.done():
        await asyncio.wait({task}, timeout=0.25)
        if not task.done() and await request.is_disconnected():
            gone.set()
    try:
        return task.result()
    except ClientGone:
        raise HTTPException(499, "Anfrage vom Client abgebrochen") from None
