"""Text modules (Textbausteine): agents read them, the department writes them (``assistant.textmodules`` keeps the
rules); the department's page "Textbausteine" lists them with a form to add, edit and delete."""

from __future__ import annotations

from dataclasses import dataclass
from email.utils import parseaddr
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from assistant.services import Services
from assistant.textmodules import MAX_BODY_CHARS, MAX_TITLE_CHARS, PLACEHOLDERS, TextModuleInfo, TextModules, fill
from assistant.web.deps import AgentUser, ExpertPage, ExpertUser, Id, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.rendering import render
from assistant.web.schemas import TextModuleDeleted, TextModuleIn, TextModuleOut

router = APIRouter(tags=["text-modules"], responses=AUTHENTICATED)  # the page is not in the spec
_INVALID = (422, "empty, too long, an unknown placeholder or an unknown category")
_TAKEN = (409, "another text module has this title")


def text_modules(services: Services) -> TextModules:
    return TextModules(services.database, services.categories)


@dataclass(frozen=True)
class Offered:
    """A module as the ticket page offers it: its text filled for this ticket and this agent."""

    id: int
    title: str
    text: str
    own: bool  # of the ticket's category


def offered(services: Services, category: str | None, customer: str, agent: str) -> list[Offered]:
    """The modules for the ticket page's picker, the ticket's category's first; ``customer`` as the ticket names
    the customer ("Erika Muster <erika@example.org>": the name only, never the address)."""
    name = parseaddr(customer)[0].strip() if "@" in customer else customer.strip()
    return [Offered(m.id, m.title, fill(m.body, name, agent), bool(category) and m.category == category)
            for m in text_modules(services).listed(category)]


def _out(module: TextModuleInfo, services: Services) -> TextModuleOut:
    known = services.categories
    name = known.get(module.category).name if module.category and module.category in known else None
    return TextModuleOut(id=module.id, title=module.title, body=module.body, category=module.category,
                         category_name=name, created_by=module.created_by, updated_at=module.updated_at.isoformat())


@router.get("/api/text-modules")
def listed(user: AgentUser, services: Svc,
           category: Annotated[str, Query(max_length=100, description="this category's modules first")] = "",
           ) -> list[TextModuleOut]:
    return [_out(m, services) for m in text_modules(services).listed(category or None)]


@router.post("/api/text-modules", status_code=201, responses=errors(_INVALID, _TAKEN))
def create(body: TextModuleIn, user: ExpertUser, services: Svc) -> TextModuleOut:
    return _out(text_modules(services).create(body.title, body.body, body.category, user.name), services)


@router.put("/api/text-modules/{module_id}", responses=errors(404, _INVALID, _TAKEN))
def update(module_id: Id, body: TextModuleIn, user: ExpertUser, services: Svc) -> TextModuleOut:
    return _out(text_modules(services).update(module_id, body.title, body.body, body.category, user.name), services)


@router.delete("/api/text-modules/{module_id}", responses=errors(404))
def delete(module_id: Id, user: ExpertUser, services: Svc) -> TextModuleDeleted:
    gone = text_modules(services).delete(module_id, user.name)
    return TextModuleDeleted(id=gone.id, title=gone.title, deleted=True)


@router.get("/textbausteine", response_class=HTMLResponse, include_in_schema=False)
def page(request: Request, user: ExpertPage, services: Svc) -> HTMLResponse:
    categories = services.categories.categories
    return render(request, "textmodules.html", user, modules=text_modules(services).listed(), categories=categories,
                  category_names={c.id: c.name for c in categories}, placeholders=PLACEHOLDERS,
                  max_title=MAX_TITLE_CHARS, max_body=MAX_BODY_CHARS)
