"""The web interface: server-rendered German pages. Reading happens here; every change goes through the JSON
API (a few lines of JavaScript send it with the CSRF token), so the rules live in one place."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from sqlalchemy import select

from assistant.answer.promises import FLAG_NAMES
from assistant.auth import AuthError, Principal, Role
from assistant.grounding import CITATION
from assistant.services import Services
from assistant.store.tables import EvalRun
from assistant.tickets.queries import counts_by_status, list_tickets, ticket_view
from assistant.tickets.state import TicketStatus
from assistant.web.api import Id

TEMPLATES = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


def cite_links(text: str) -> Markup:
    """The draft with each [n] linked to its quoted source; the text itself is escaped first."""
    return Markup(CITATION.sub(r'<a class="cite" href="#quelle-\1">[\1]</a>', str(escape(text))))


def sources_by_file(numbers: list[int], citations: list[dict[str, Any]]) -> list[tuple[str, list[str]]]:
    """A paragraph's citation numbers as (file, its quotes), files in order of first use; unknown numbers are
    left out."""
    known = {c["n"]: c for c in citations}
    files: dict[str, list[str]] = {}
    for n in dict.fromkeys(numbers):
        if n in known:
            files.setdefault(str(known[n]["source"]), []).append(str(known[n]["quote"]))
    return list(files.items())


TEMPLATES.env.filters["cite_links"] = cite_links
TEMPLATES.env.filters["sources_by_file"] = sources_by_file
router = APIRouter(include_in_schema=False)
STATUS_NAMES = {"new": "Neu – Entwurf entsteht", "drafted": "Entwurf bereit", "needs_human": "Übergabe an Person",
                "approved": "Freigegeben", "rejected": "Verworfen – Antwort von Hand", "sent": "Gesendet"}


class LoginRequired(Exception):
    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


class PageForbidden(Exception):
    def __init__(self, role: str) -> None:
        self.role = role


def page_user(role: Role) -> Any:
    def check(request: Request) -> Principal:
        from assistant.web.security import cookie_name

        cookie = request.cookies.get(cookie_name(request))
        try:
            if not cookie:
                raise AuthError("Bitte anmelden")
            user: Principal = request.app.state.services.users.by_session(cookie)
        except AuthError:
            raise LoginRequired(str(request.url.path)) from None
        if not user.has_role(role):
            raise PageForbidden(role)
        return user

    return check


Agent = Annotated[Principal, Depends(page_user("agent"))]
Expert = Annotated[Principal, Depends(page_user("expert"))]
Admin = Annotated[Principal, Depends(page_user("admin"))]


def _services(request: Request) -> Services:
    return request.app.state.services


Svc = Annotated[Services, Depends(_services)]


def render(request: Request, template: str, user: Principal | None, code: int = 200, **context: Any) -> HTMLResponse:
    services: Services = request.app.state.services
    counts = counts_by_status(services.database) if user is not None else {}
    waiting = counts.get("drafted", 0) + counts.get("needs_human", 0)
    return TEMPLATES.TemplateResponse(request, template, {
        "user": user, "csrf": user.csrf_token if user else "", "waiting": waiting, "counts": counts,
        "status_names": STATUS_NAMES, "path": request.url.path, **context}, status_code=code)


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> Response:
    return RedirectResponse("/posteingang", status_code=303)


# A path on this site only: "/x", never "//host", "/\\host" or "/\t/host" (browsers read those as another host).
_SAME_SITE_PATH = re.compile(r"^/(?![/\\])[A-Za-z0-9._~!$&'()*+,;=:@%/?-]*$")


@router.get("/login", response_class=HTMLResponse)
def login(request: Request, next: str = "/posteingang") -> HTMLResponse:
    safe_next = next if _SAME_SITE_PATH.match(next) else "/posteingang"
    return render(request, "login.html", None, next=safe_next)


@router.get("/posteingang", response_class=HTMLResponse)
def inbox(request: Request, user: Agent, services: Svc, status: str = "", category: str = "") -> HTMLResponse:
    status = status if status in set(TicketStatus) else ""
    tickets = list_tickets(services.database, status or None, category or None, limit=300)
    return render(request, "inbox.html", user, tickets=tickets, status=status, category=category,
                  categories=services.categories.categories, statuses=[s.value for s in TicketStatus], age=_age)


@router.get("/tickets/{ticket_id}", response_class=HTMLResponse)
def ticket(request: Request, ticket_id: Id, user: Agent, services: Svc) -> HTMLResponse:
    view = ticket_view(services.database, ticket_id)
    return render(request, "ticket.html", user, t=view, draft=view["draft"], categories=services.categories.categories,
                  category_names={c.id: c.name for c in services.categories.categories}, age=_age,
                  flag_names=FLAG_NAMES)


@router.get("/wissen", response_class=HTMLResponse)
def knowledge(request: Request, user: Agent, services: Svc) -> HTMLResponse:
    from assistant.web.api_admin import documents

    listed = documents(user, services)  # indexed ones and files waiting for the next index run
    return render(request, "knowledge.html", user, documents=listed,
                  indexed=sum(1 for d in listed if d["indexed"]),
                  max_mb=services.settings.max_file_bytes // (1024 * 1024))


@router.get("/prompts", response_class=HTMLResponse)
def prompts(request: Request, user: Expert, services: Svc) -> HTMLResponse:
    from assistant.prompts import PromptReleases

    releases = PromptReleases(services.prompts)
    labels, lock = services.prompts.labels(), releases.lock()
    tasks = {task: services.prompts.versions(task) for task in sorted(labels)}
    return render(request, "prompts.html", user, tasks=tasks, labels=labels, lock=lock)


@router.get("/auswertung", response_class=HTMLResponse)
def evaluation(request: Request, user: Expert, services: Svc) -> HTMLResponse:
    with services.database.session() as session:
        runs = list(session.scalars(select(EvalRun).order_by(EvalRun.id.desc()).limit(30)))
    labels = services.prompts.labels()
    versions = {task: [v.meta.version for v in services.prompts.versions(task)] for task in sorted(labels)}
    return render(request, "evaluation.html", user, runs=runs, labels=labels, versions=versions)


@router.get("/uebersicht", response_class=HTMLResponse)
def dashboard(request: Request, user: Expert, services: Svc) -> HTMLResponse:
    from assistant.dashboard import dashboard_plots, learning_loop

    data = learning_loop(services.database)
    return render(request, "dashboard.html", user, data=data, plots=dashboard_plots(data))


@router.get("/konto", response_class=HTMLResponse)
def account(request: Request, user: Agent, services: Svc) -> HTMLResponse:
    return render(request, "konto.html", user, min_chars=services.users.min_password_chars)


@router.get("/verwaltung", response_class=HTMLResponse)
def administration(request: Request, user: Admin, services: Svc) -> HTMLResponse:
    return render(request, "verwaltung.html", user, users=services.users.users(), tokens=services.users.tokens(),
                  min_chars=services.users.min_password_chars)


def _age(moment: datetime | str) -> str:
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    minutes = int((datetime.now(UTC) - moment).total_seconds() // 60)
    if minutes < 60:
        return f"vor {max(minutes, 0)} Min."
    if minutes < 48 * 60:
        return f"vor {minutes // 60} Std."
    return f"vor {minutes // 1440} Tagen"
