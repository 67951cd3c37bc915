"""Attachments of imported mails: the list of a ticket, the download and an image's thumbnail (agents). A download
is always a file to save, never a page: ``Content-Disposition: attachment``, the type found from the content (never
``text/html``), ``nosniff``. A thumbnail is a PNG Kontor made itself (``inline``, for the ticket page's ``<img>``),
never the sender's bytes. The work is done by ``assistant.tickets.attachments`` (``services.attachments``) and
``assistant.tickets.thumbnails``."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter
from fastapi.responses import FileResponse

from assistant.errors import NotFoundError
from assistant.tickets.thumbnails import IMAGE_TYPES, SIZE, thumbnail
from assistant.web.deps import AgentUser, Id, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.schemas import Attachment

router = APIRouter(prefix="/api", tags=["attachments"], responses=AUTHENTICATED)


@router.get("/tickets/{ticket_id}/attachments", responses=errors(404))
def attachments(ticket_id: Id, user: AgentUser, services: Svc) -> list[Attachment]:
    return [Attachment.model_validate(a) for a in services.attachments.listed(ticket_id)]


@router.get("/attachments/{attachment_id}", response_class=FileResponse,
            responses={**errors(404), 200: {"description": "the file, to save", "content": {
                "application/octet-stream": {}}}})
def download(attachment_id: Id, user: AgentUser, services: Svc) -> FileResponse:
    row, path = services.attachments.open(attachment_id)
    return FileResponse(path, media_type=row.content_type, headers={
        "Content-Disposition": content_disposition(row.name), "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store", "Content-Security-Policy": "default-src 'none'; sandbox"})


@router.get("/attachments/{attachment_id}/thumbnail", response_class=FileResponse,
            responses={**errors((404, "no such attachment, or not a picture that can be shown")), 200: {
                "description": f"a PNG of {SIZE} × {SIZE} pixels, to show", "content": {"image/png": {}}}})
def attachment_thumbnail(attachment_id: Id, user: AgentUser, services: Svc) -> FileResponse:
    row, path = services.attachments.open(attachment_id)
    made = thumbnail(path) if row.content_type in IMAGE_TYPES else None
    if made is None:
        raise NotFoundError(f"Für Anhang {attachment_id} gibt es keine Vorschau (kein lesbares Bild).")
    return FileResponse(made, media_type="image/png", headers={
        "Content-Disposition": "inline", "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


def content_disposition(name: str) -> str:
    """``attachment`` with an ASCII stand-in and the exact name (RFC 6266/5987), neither able to end the header."""
    plain = "".join(ch if ch.isascii() and ch.isprintable() and ch not in '"\\;' else "_" for ch in name)
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"
