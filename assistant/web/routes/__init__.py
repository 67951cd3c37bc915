"""The routes, one module per resource, each with its own ``APIRouter``; ``ROUTERS`` in the order the app
includes them."""

from __future__ import annotations

from fastapi import APIRouter

from assistant.web.routes import (
    accounts,
    ask,
    attachments,
    audit,
    documents,
    drafts,
    evaluations,
    health,
    live,
    pages,
    prompts,
    tasks,
    textmodules,
    tickets,
)

ROUTERS: list[APIRouter] = [
    health.router, accounts.router, tickets.router, live.router, drafts.router, ask.router, documents.router,
    tasks.router, prompts.router, evaluations.router, audit.router, attachments.router, textmodules.router,
    documents.pages, prompts.pages, evaluations.pages, audit.pages, pages.router,
]
