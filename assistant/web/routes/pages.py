"""The web interface: server-rendered German pages. Reading happens here; every change goes through the JSON
API (a few lines of JavaScript send it with the CSRF token), so the rules live in one place. A page without a login
answers with the login page, one without the role with a German 403 page (``assistant.web.rendering``)."""

from __future__ import annotations

import re
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from assistant.answer.promises import FLAG_NAMES
from assistant.dashboard import dashboard_plots, learning_loop, volume_plots
from assistant.tickets.assignment import team_of_user
from assistant.tickets.figures import team_figures
from assistant.tickets.intake import MAX_MAIL_CHARS
from assistant.tickets.queries import TicketFilter, find_tickets, history, inbox_views, next_to_review, ticket_view
from assistant.tickets.state import TicketStatus
from assistant.tickets.threads import MAX_NOTE_CHARS
from assistant.web.deps import AdminPage, AgentPage, ExpertPage, Id, Svc
from assistant.web.rendering import number, render, week
from assistant.web.routes.textmodules import offered
from assistant.web.routes.tickets import conversation_of

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50  # tickets per page of the inbox


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse("/posteingang?ansicht=zu-pruefen", status_code=303)  # the agent's start: what waits


# A path on this site only: "/x", never "//host", "/\\host" or "/\t/host" (browsers read those as another host).
_SAME_SITE_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


@router.get("/login", response_class=HTMLResponse)
def login(request: Request, next: str = "/posteingang?ansicht=zu-pruefen") -> HTMLResponse:  # the agent's start
    safe_next = next if _SAME_SITE_PATH.match(next) else "/posteingang"
    return render(request, "login.html", None, next=safe_next)


@router.get("/posteingang", response_class=HTMLResponse)
def inbox(request: Request, user: AgentPage, services: Svc, status: str = "", category: str = "",
          ansicht: str = "alle", q: Annotated[str, Query(max_length=200)] = "",
          seite: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    status = status if status in set(TicketStatus) else ""
    team = team_of_user(services.database, user.id)
    views = inbox_views(team)
    view = ansicht if ansicht in views else "alle"
    wanted = TicketFilter(view=view, status=status or None, category=category or None, text=q, user_id=user.id,
                          team=team)
    found = find_tickets(services.database, wanted, limit=PAGE_SIZE, offset=(seite - 1) * PAGE_SIZE)
    pages = max(1, -(-found.total // PAGE_SIZE))
    categories = services.categories.categories
    return render(request, "inbox.html", user, tickets=found.tickets, total=found.total, page=min(seite, pages),
                  pages=pages, view=view, views=views, q=q, status=status, category=category,
                  assignees=found.assignees,
                  categories=categories, category_names={c.id: c.name for c in categories},
                  statuses=[s.value for s in TicketStatus], max_chars=MAX_MAIL_CHARS,
                  max_bytes=services.settings.web.max_request_bytes,
                  drafted_chars=services.settings.web.max_ticket_chars)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, ticket_id: Id, user: AgentPage, services: Svc) -> HTMLResponse:
    view = ticket_view(services.database, ticket_id)
    return render(request, "ticket.html", user, t=view, draft=view["draft"], categories=services.categories.categories,
                  category_names={c.id: c.name for c in services.categories.categories},
                  flag_names=FLAG_NAMES, attachments=services.attachments.listed(ticket_id),
                  history=history(services.database, view["customer_email"], ticket_id),
                  conversation=conversation_of(services.database, ticket_id), max_note=MAX_NOTE_CHARS,
                  next_id=next_to_review(services.database, ticket_id),
                  desk=services.assignment.card(ticket_id), present=services.presence.others(ticket_id, user.id),
                  text_modules=offered(services, view["category"], view["customer"], user.name),
                  drafted_chars=services.settings.web.max_ticket_chars)


@router.get("/uebersicht", response_class=HTMLResponse)
def dashboard(request: Request, user: ExpertPage, services: Svc) -> HTMLResponse:
    data = learning_loop(services.database)
    team = team_figures(services.database, {c.id: c.name for c in services.categories.categories})
    mailbox = services.fetcher.status() if services.settings.imap.configured else None  # none: no mailbox line
    return render(request, "dashboard.html", user, data=data, team=team, mailbox=mailbox,
                  plots=volume_plots(team.volume, week) + dashboard_plots(data, week, number))


@router.get("/konto", response_class=HTMLResponse)
def account(request: Request, user: AgentPage, services: Svc) -> HTMLResponse:
    return render(request, "konto.html", user, min_chars=services.users.min_password_chars)


@router.get("/verwaltung", response_class=HTMLResponse)
def administration(request: Request, user: AdminPage, services: Svc) -> HTMLResponse:
    return render(request, "verwaltung.html", user, users=services.users.users(), tokens=services.users.tokens(),
                  min_chars=services.users.min_password_chars)
