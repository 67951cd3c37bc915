"""The audit log (administration): who did what, when, with which prompt version, model file and sources. Filtered
by action, actor, ticket and days (the same GET parameters for the JSON list, the CSV export and the page, so a
filtered view can be bookmarked), paged, and exported as a CSV file German Excel opens as it is."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, StreamingResponse

from assistant import audit
from assistant.errors import InputError
from assistant.store.tables import AuditEntry
from assistant.web.deps import ISO_DAY, MAX_ID, AdminPage, AdminUser, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.rendering import day_start, render, stamp, today, when
from assistant.web.schemas import AuditRecord

router = APIRouter(prefix="/api", tags=["audit"], responses=AUTHENTICATED)
pages = APIRouter(include_in_schema=False)
PAGE_SIZE = 50  # entries per page
ACTION_NAMES = {
    "received": "Ticket eingegangen", "drafted": "Entwurf erstellt", "draft_failed": "Entwurf fehlgeschlagen",
    "edited": "Entwurf bearbeitet", "approved": "freigegeben", "rejected": "verworfen", "rated": "bewertet",
    "promises_confirmed": "Zusagen bestätigt", "send_requested": "Senden angestoßen",
    "send_cancelled": "Senden zurückgeholt", "sent": "gesendet", "delivery_failed": "Zustellung fehlgeschlagen",
    "archive_failed": "Ablage fehlgeschlagen", "bounced": "unzustellbar", "recategorised": "Kategorie geändert",
    "recategorise_undone": "Kategorie-Änderung zurückgenommen", "recipient_corrected": "Empfänger geändert",
    "regenerate_requested": "neuer Entwurf angefordert", "assigned": "zugewiesen", "note_added": "Notiz hinzugefügt",
    "follow_up_received": "Nachricht des Kunden eingegangen", "proven_learned": "als bewährte Antwort gelernt",
    "proven_withdrawn": "bewährte Antwort zurückgezogen", "proven_removed": "bewährte Antworten entfernt",
    "eval_case_created": "Evaluationsfall angelegt", "evaluation_started": "Evaluation gestartet",
    "prompt_version_created": "Prompt-Version angelegt", "prompt_promoted": "Prompt in Produktion genommen",
    "document_uploaded": "Dokument hochgeladen", "document_replaced": "Dokument ersetzt",
    "document_deleted": "Dokument gelöscht", "index_rebuilt": "Index neu aufgebaut",
    "text_module_created": "Textbaustein angelegt", "text_module_updated": "Textbaustein geändert",
    "text_module_deleted": "Textbaustein gelöscht", "token_created": "API-Token erzeugt",
    "token_revoked": "API-Token widerrufen", "user_enabled": "Benutzer aktiviert",
    "user_disabled": "Benutzer deaktiviert", "password_changed": "Passwort geändert",
    "sessions_ended": "Sitzungen beendet",
    "customer_erased": "Kundendaten gelöscht", "tickets_purged": "Tickets nach Aufbewahrungsfrist gelöscht",
    "retention_purged": "Aufbewahrungsfrist angewandt", "mail_quarantined": "E-Mail zurückgestellt",
    "mail_ticket": "E-Mail als Ticket übernommen", "mail_joined": "E-Mail einem Ticket zugeordnet",
    "mail_duplicate": "E-Mail doppelt", "mail_auto_reply": "automatische Antwort übergangen",
    "mail_bounce": "Unzustellbarkeitsmeldung gelesen",
}
CSV_HEAD = ["Nr.", "Zeitpunkt", "Person", "Aktion", "Kennung der Aktion", "Ticket", "Entwurf", "Prompt-Version",
            "Modell (SHA-256)", "Text (SHA-256)", "Quellen", "Einzelheiten"]
_FORMULA = ("=", "+", "-", "@", "\t", "\r")  # a spreadsheet reads a cell starting so as a formula

Action = Annotated[str | None, Query(max_length=50, description="only entries of this action, e.g. approved")]
Actor = Annotated[str | None, Query(max_length=100, description="only entries by this user (or system, import, …)")]
TicketNo = Annotated[int | None, Query(ge=1, le=MAX_ID, description="only entries about this ticket")]
Since = Annotated[date | None, ISO_DAY, Query(description="from this day on (German time)")]
Until = Annotated[date | None, ISO_DAY, Query(description="up to and including this day (German time)")]


def _query(action: str | None, actor: str | None, ticket_id: int | None, since: date | None,
           until: date | None) -> audit.AuditQuery:
    return audit.AuditQuery(action=action or None, actor=actor or None, ticket_id=ticket_id,
                            since=day_start(since) if since else None,
                            before=day_start(until + timedelta(days=1)) if until else None)


def _record(e: AuditEntry) -> AuditRecord:
    return AuditRecord(id=e.id, at=e.at.isoformat(), actor=e.actor, action=e.action, ticket_id=e.ticket_id,
                       draft_id=e.draft_id, text_sha256=e.text_sha256, prompt_version=e.prompt_version,
                       model_sha256=e.model_sha256, sources=e.sources, detail=e.detail)


@router.get("/audit")
def audit_log(
    user: AdminUser, services: Svc, ticket_id: TicketNo = None, action: Action = None, actor: Actor = None,
    since: Since = None, until: Until = None, limit: Annotated[int, Query(ge=1, le=1000)] = 200,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> list[AuditRecord]:
    """The entries the filters name, newest first."""
    found, _ = audit.search(services.database, _query(action, actor, ticket_id, since, until), limit, offset)
    return [_record(e) for e in found]


@router.get("/audit.csv", response_class=StreamingResponse, responses={**errors(422), 200: {
    "description": "the entries the filters name as CSV for German spreadsheets: UTF-8 with BOM, separated by "
                   "semicolons, newest first; a cell a spreadsheet would read as a formula starts with '",
    "content": {"text/csv": {}}}})
def audit_csv(user: AdminUser, services: Svc, ticket_id: TicketNo = None, action: Action = None, actor: Actor = None,
              since: Since = None, until: Until = None) -> StreamingResponse:
    entries = audit.each(services.database, _query(action, actor, ticket_id, since, until))
    name = f"kontor-audit-{today():%Y-%m-%d}.csv"
    return StreamingResponse(_csv(entries), media_type="text/csv; charset=utf-8", headers={
        "Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "private, no-store",
        "X-Content-Type-Options": "nosniff"})


def _csv(entries: Iterator[AuditEntry]) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    buffer.write("\ufeff")  # the byte order mark: Excel reads the file as UTF-8 (umlauts)
    writer.writerow(CSV_HEAD)
    for count, e in enumerate(entries, 1):
        writer.writerow([cell(v) for v in (
            e.id, stamp(e.at), e.actor, ACTION_NAMES.get(e.action, e.action), e.action, e.ticket_id, e.draft_id,
            e.prompt_version, e.model_sha256, e.text_sha256, ", ".join(str(s) for s in e.sources or []),
            json.dumps(e.detail, ensure_ascii=False, sort_keys=True) if e.detail else "")])
        if count % 500 == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")


def cell(value: Any) -> str:
    """One CSV cell; text a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab, CR first) gets a
    leading ``'``, so it stays text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA) else text


# --- the page -----------------------------------------------------------------------------------------------------

@pages.get("/verwaltung/protokoll", response_class=HTMLResponse)
def audit_page(request: Request, user: AdminPage, services: Svc,
               action: Annotated[str, Query(max_length=50)] = "", actor: Annotated[str, Query(max_length=100)] = "",
               ticket_id: Annotated[str, Query(max_length=20)] = "", since: Annotated[str, Query(max_length=20)] = "",
               until: Annotated[str, Query(max_length=20)] = "",
               seite: Annotated[int, Query(ge=1, le=100_000)] = 1) -> HTMLResponse:
    """The log with its filters; an empty field (the form sends every field) filters nothing."""
    ticket, first, last = _number(ticket_id), _day(since, "von"), _day(until, "bis")
    found, total = audit.search(services.database, _query(action, actor, ticket, first, last), PAGE_SIZE,
                                (seite - 1) * PAGE_SIZE)
    pages_count = max(1, -(-total // PAGE_SIZE))
    chosen = {"action": action, "actor": actor, "ticket_id": ticket_id.strip(), "since": since, "until": until}
    # the filters for the pager and the CSV export: the ticket number as the API reads it ("#42" → 42)
    query = urlencode({k: v for k, v in {**chosen, "ticket_id": ticket or ""}.items() if v})
    actions, actors = audit.known(services.database)
    return render(request, "audit.html", user, entries=found, total=total, page=min(seite, pages_count),
                  pages=pages_count, chosen=chosen, query=query, actions=actions, actors=actors,
                  action_names=ACTION_NAMES, summary=summary, reversed_days=bool(first and last and first > last))


def _number(text: str) -> int | None:
    text = text.strip().lstrip("#")
    if not text:
        return None
    if not text.isdigit() or not 1 <= int(text) <= MAX_ID:
        raise InputError(f"„{text[:20]}“ ist keine Ticketnummer")
    return int(text)


def _day(text: str, name: str) -> date | None:
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise InputError(f"„{text[:20]}“ im Feld „{name}“ ist kein Datum (JJJJ-MM-TT)") from None


def summary(e: AuditEntry) -> str:
    """The rest of an entry in one line for the page: prompt version, model, sources and the details."""
    parts = []
    if e.prompt_version:
        parts.append(f"Prompt {e.prompt_version}")
    if e.model_sha256:
        parts.append(f"Modell {e.model_sha256[:12]}…")
    if e.sources:
        parts.append("Quellen: " + ", ".join(str(s) for s in e.sources))
    parts.extend(f"{key}: {_plain(value)}" for key, value in sorted((e.detail or {}).items()))
    line = " · ".join(parts)
    return line if len(line) <= 300 else line[:299] + "…"


def _plain(value: Any) -> str:
    """A detail's value as the page shows it: a moment in German, text as it is, anything else as JSON."""
    if isinstance(value, str) and _MOMENT.match(value):
        return when(value)
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


_MOMENT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d+)?)?(Z|[+-]\d\d:\d\d)?$")

