"""Server-rendered pages: the templates with their filters, ``render`` with what every page shows (the user, the
CSRF token for the page's scripts, the waiting tickets), and the German answers to a missing login or role."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, tzinfo
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup, escape
from starlette.exceptions import HTTPException as StarletteHTTPException

from assistant.auth import AuthError, Principal
from assistant.errors import KontorError
from assistant.grounding import CITATION
from assistant.services import Services
from assistant.tickets.queries import counts_by_status
from assistant.web.deps import LoginRequired, PageForbidden, principal
from assistant.web.errors import german, json_error

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


# Where a reply's quoted history begins: an attribution line with a date, followed by ">" lines ("Am 04.12.2026 um
# 10:00 schrieb Kontor <…>:", also wrapped over two lines; "On … wrote:"), or an original message's separator.
_ATTRIBUTION = re.compile(r"^[ \t]*(?:Am|On)[ \t](?=[^\n]*\d)[^\n]{0,300}?(?:\n[^\n]{0,300}?)?(?:schrieb|wrote)"
                          r"(?:[^\n]{0,300}?\n)?[^\n]{0,300}:[ \t]*\n(?:[ \t]*\n)*[ \t]*>"
                          r"|^[ \t]*-{2,}[ \t]*(?:Ursprüngliche Nachricht|Original Message)[ \t]*-{2,}[ \t]*$",
                          re.MULTILINE | re.IGNORECASE)


def split_quote(text: str) -> tuple[str, str]:
    """(the newest text, the quoted history below it) of a reply, for showing the history collapsed: from an
    attribution line on, or else the ">" lines at its end. A text that is nothing but quote is not split."""
    text = text.replace("\r\n", "\n")
    start = next((m.start() for m in _ATTRIBUTION.finditer(text) if text[:m.start()].strip()), None)
    if start is None:
        lines = text.rstrip().split("\n")
        keep = len(lines)
        while keep and (lines[keep - 1].lstrip().startswith(">") or not lines[keep - 1].strip()):
            keep -= 1
        start = len("\n".join(lines[:keep]))
    latest, quoted = text[:start].rstrip(), text[start:].strip("\n")
    return (latest, quoted) if latest.strip() and quoted.strip() else (text, "")


TEMPLATES.env.filters["cite_links"] = cite_links
TEMPLATES.env.filters["sources_by_file"] = sources_by_file
TEMPLATES.env.filters["split_quote"] = split_quote
STATUS_NAMES = {"new": "Neu – Entwurf entsteht", "drafted": "Entwurf bereit", "needs_human": "Übergabe an Person",
                "approved": "Freigegeben", "rejected": "Verworfen – Antwort von Hand", "sent": "Gesendet"}
METHOD_NAMES = {"example": "wie ein gelerntes Beispiel", "classifier": "aus gelernten Beispielen",
                "classifier+model": "aus Beispielen und vom Modell", "model": "vom Modell",
                "descriptions": "nach den Kategoriebeschreibungen", "person": "von einer Person"}
OUTBOX_NAMES = {"pending": "wartet auf Zustellung", "sending": "wird zugestellt", "delivered": "zugestellt",
                "bounced": "unzustellbar"}
CHANNEL_NAMES = {"api": "Schnittstelle", "email": "E-Mail", "web": "Webformular", "phone": "Telefon", "letter": "Brief"}


def render(request: Request, template: str, user: Principal | None, code: int = 200, **context: Any) -> HTMLResponse:
    """A page with what every page shows: the user, the CSRF token for its scripts, the tickets waiting."""
    services: Services = request.app.state.services
    counts = counts_by_status(services.database) if user is not None else {}
    waiting = counts.get("drafted", 0) + counts.get("needs_human", 0)
    return TEMPLATES.TemplateResponse(request, template, {
        "user": user, "csrf": user.csrf_token if user else "", "waiting": waiting, "counts": counts,
        "status_names": STATUS_NAMES, "method_names": METHOD_NAMES, "channel_names": CHANNEL_NAMES,
        "outbox_names": OUTBOX_NAMES, "path": request.url.path, **context}, status_code=code)


def install_page_errors(app: FastAPI) -> None:
    """Pages answer a missing login with the login page and a missing role with a German 403 page."""

    def login_first(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LoginRequired)
        return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)

    def forbidden(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, PageForbidden)
        who = "der Administration" if exc.role == "admin" else "dem Fachbereich"
        return render(request, "error.html", _logged_in(request), code=403, title="Kein Zugriff",
                      text=f"Diese Seite ist {who} vorbehalten. Bitte wenden Sie sich an die "
                           "Administration, wenn Sie Zugriff brauchen.")

    async def error_page(request: Request, exc: Exception) -> Response:
        """A browser asking for a page gets a German page with the navigation; /api/* and programs keep JSON."""
        if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
            return await json_error(request, exc)
        code, title, text = _page_error(request, exc)
        return render(request, "error.html", _logged_in(request), code=code, title=title, text=text)

    app.add_exception_handler(LoginRequired, login_first)
    app.add_exception_handler(PageForbidden, forbidden)
    for kind in (KontorError, RequestValidationError, StarletteHTTPException):
        app.add_exception_handler(kind, error_page)


def _logged_in(request: Request) -> Principal | None:
    """The user of a page that failed, for the navigation; None without a valid session."""
    try:
        return principal(request, request.app.state.services, tokens=False)
    except (AuthError, HTTPException):
        return None


def _page_error(request: Request, exc: Exception) -> tuple[int, str, str]:
    """Status, title and sentence of the German error page."""
    missing = (404, "Seite nicht gefunden", f"Die Adresse {request.url.path} gibt es hier nicht.")
    if isinstance(exc, KontorError):
        title = {404: "Nicht gefunden", 409: "Nicht möglich", 413: "Zu groß"}.get(exc.status, "Fehler")
        return exc.status, title, f"{without_paths(str(exc))}."
    if isinstance(exc, RequestValidationError):
        if any(list(e.get("loc", ()))[:1] == ["path"] for e in exc.errors()):
            return missing  # /tickets/abc: no ticket number, no such page
        return 422, "Ungültige Anfrage", german(exc.errors())
    status = exc.status_code if isinstance(exc, StarletteHTTPException) else 500
    if status == 404:
        return missing
    if status == 405:
        return 405, "Nicht möglich", "Diese Adresse lässt sich so nicht aufrufen."
    return status, "Fehler", "Die Seite konnte nicht angezeigt werden. Bitte versuchen Sie es später noch einmal."


def age(moment: datetime | str) -> str:
    """How long ago, as the inbox says it: ``vor 5 Min.``, ``vor 3 Std.``, ``vor 4 Tagen``."""
    moment = datetime.fromisoformat(moment) if isinstance(moment, str) else moment
    minutes = int((datetime.now(UTC) - moment).total_seconds() // 60)
    if minutes < 60:
        return f"vor {max(minutes, 0)} Min."
    if minutes < 48 * 60:
        return f"vor {minutes // 60} Std."
    return f"vor {minutes // 1440} Tagen"


# --- German dates and numbers: the one place every page takes them from (filters and globals below) -------------

def _german_time(moment: datetime) -> tuple[datetime, str]:
    """The moment in German time, and " (UTC)" when this machine has no time zone data. A moment without a zone
    is UTC, as Kontor stores every moment."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(ZoneInfo("Europe/Berlin")), ""
    except ZoneInfoNotFoundError:
        return moment.astimezone(UTC), " (UTC)"


def _moment(value: datetime | date | str) -> datetime | date:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def when(moment: datetime | str | None) -> str:
    """A moment as a German reader writes it, in German time: ``04.12.2026, 18:05 Uhr``."""
    if moment is None or moment == "":
        return "–"
    local, zone = _german_time(datetime.fromisoformat(moment) if isinstance(moment, str) else moment)
    return f"{local:%d.%m.%Y, %H:%M} Uhr{zone}"


def stamp(moment: datetime) -> str:
    """A moment to the second, in German time, as German spreadsheets read it: ``04.12.2026 18:05:33``."""
    local, zone = _german_time(moment)
    return f"{local:%d.%m.%Y %H:%M:%S}{zone}"


def today() -> date:
    """Today in Germany."""
    return _german_time(datetime.now(UTC))[0].date()


def day_start(day: date) -> datetime:
    """The moment a day begins in German time (00:00 in Berlin; in UTC without time zone data)."""
    try:
        zone: tzinfo = ZoneInfo("Europe/Berlin")
    except ZoneInfoNotFoundError:
        zone = UTC
    return datetime.combine(day, time(), zone)


def german_date(value: datetime | date | str | None) -> str:
    """A day as a German reader writes it: ``04.12.2026`` (a moment in German time)."""
    if value is None or value == "":
        return "–"
    moment = _moment(value)
    if isinstance(moment, datetime):
        moment = _german_time(moment)[0]
    return f"{moment:%d.%m.%Y}"


_ISO_WEEK = re.compile(r"^(\d{4})-W(\d{1,2})$")


def week(value: datetime | date | str) -> str:
    """A calendar week as German offices say it: ``KW 49/2026`` (from a moment or from ``2026-W49``)."""
    found = _ISO_WEEK.match(value) if isinstance(value, str) else None
    if found:
        year, nr = int(found.group(1)), int(found.group(2))
    else:
        moment = _moment(value)
        if isinstance(moment, datetime):
            moment = _german_time(moment)[0]
        year, nr, _ = moment.isocalendar()
    return f"KW {nr}/{year}"


def number(value: float | int | None, digits: int = 2) -> str:
    """A number with a decimal comma and a dot between thousands: ``0,25`` · ``1.234`` · ``12,5``; ``–`` for none.
    Whole numbers (``int``) keep no decimals."""
    if value is None or isinstance(value, bool):
        return "–"
    text = f"{value:,d}" if isinstance(value, int) else f"{value:,.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def percent(share: float | None, digits: int = 0) -> str:
    """A share (0…1) as German percent: ``87 %``, ``12,5 %`` (with ``digits=1``); ``–`` for none."""
    return "–" if share is None else f"{number(float(share) * 100, digits)} %"


def file_size(size: int) -> str:
    """``734 Byte``, ``12,3 KB``, ``1,4 MB``."""
    if size < 1024:
        return f"{size} Byte"
    value, unit = (size / 1024, "KB") if size < 2**20 else (size / 2**20, "MB")
    return f"{number(value, 1)} {unit}"


def without_paths(text: str) -> str:
    """A message for the page without the server's folders: ``/srv/kontor/prompts/answer/v3.md`` → ``v3.md``."""
    return _ABSOLUTE.sub(lambda m: m.group(1), text)


_ABSOLUTE = re.compile(r"(?<![\w.:/])/(?:[\w.@+-]+/)+([\w.@+-]+)")

TEMPLATES.env.globals.update(when=when, age=age)
TEMPLATES.env.filters.update(when=when, date=german_date, week=week, number=number, percent=percent,
                             file_size=file_size)
