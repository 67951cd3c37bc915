"""Knowledge documents: the list (agents may read it), one document with the start of its text and who brought it,
its original file as a download, and upload, replace, delete and re-index (the department). The rules for uploads
live in ``assistant.knowledge.uploads``; indexing runs in the background (``/api/tasks/{id}``)."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Form, Query, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse
from sqlalchemy import select

from assistant.errors import ConflictError, NotFoundError
from assistant.knowledge import uploads
from assistant.knowledge.ingest import Ingestor
from assistant.progress import BackgroundWork
from assistant.services import Services
from assistant.store.tables import AuditEntry
from assistant.web.deps import AgentPage, AgentUser, Bg, ExpertUser, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.rendering import file_size, render
from assistant.web.routes._audit import record
from assistant.web.schemas import (
    Document,
    DocumentDeleted,
    DocumentDetail,
    DocumentEvent,
    DocumentReplaced,
    TaskStarted,
    Uploaded,
)

router = APIRouter(prefix="/api", tags=["knowledge"], responses=AUTHENTICATED)
pages = APIRouter(include_in_schema=False)
EVENTS = {"document_uploaded": "hochgeladen", "document_replaced": "ersetzt"}  # audit actions → what the page says
NO_PAGE = "sandbox; default-src 'none'"  # the original file is a download: nothing in it may run or load


@router.get("/documents")
def documents(user: AgentUser, services: Svc) -> list[Document]:
    return [Document.model_validate(d) for d in _listed(services)]


@router.post("/documents", status_code=201)
def upload(
    file: UploadFile, user: ExpertUser, services: Svc, bg: Bg,
    internal: Annotated[bool, Form(description="nur intern: gefunden, aber nie einem Kunden zitiert")] = False,
) -> Uploaded:
    limit = services.settings.web.max_file_bytes
    stored = uploads.store_upload(services.settings.knowledge_dir, file.file.read(limit + 1), file.filename or "",
                                  internal, limit)
    record(services, user, "document_uploaded", source=stored.source, original=stored.original[:200],
           size=stored.size, sha256=stored.sha256, internal=internal)
    task = bg.reindex(services.ingestor, queue=True)
    return Uploaded(source=stored.source, internal=internal, queued=True, task_id=task.id)


@router.get("/documents/{source:path}/file", response_class=FileResponse, responses=errors(404))
def original_file(source: str, user: AgentUser, services: Svc) -> FileResponse:
    """The original file, always as a download (``Content-Disposition: attachment``), never shown as a page."""
    source, path = uploads.document_path(services.settings.knowledge_dir, source, _sources(services))
    if not path.is_file():
        raise NotFoundError(f"Die Datei von '{source}' liegt nicht mehr im Wissensordner")
    media_type = uploads.DOWNLOAD_TYPES.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media_type, filename=path.name, content_disposition_type="attachment",
                        headers={"Content-Security-Policy": NO_PAGE})


@router.get("/documents/{source:path}", responses=errors(404))
def document(source: str, user: AgentUser, services: Svc) -> DocumentDetail:
    """One document: who uploaded or replaced it and when, and the start of its extracted text."""
    return _detail(services, source)[0]


@router.put("/documents/{source:path}", responses=errors(404, (413, "the file is too large")))
def replace_document(source: str, file: UploadFile, user: ExpertUser, services: Svc, bg: Bg) -> DocumentReplaced:
    """A new version under the same name: the file is checked like an upload and swapped in one step, the next index
    run replaces the old passages by the new ones. A file that is refused or does not parse keeps the old version."""
    limit, listed = services.settings.web.max_file_bytes, {d.source: d for d in _listed(services)}
    stored = uploads.replace_upload(services.settings.knowledge_dir, source, listed, file.file.read(limit + 1),
                                    file.filename or "", limit)
    before = listed[stored.source].sha256  # as indexed (None: not yet indexed)
    record(services, user, "document_replaced", source=stored.source, original=stored.original[:200],
           size=stored.size, sha256=stored.sha256, previous_sha256=before)
    task = bg.reindex(services.ingestor, queue=True)
    return DocumentReplaced(source=stored.source, sha256=stored.sha256, previous_sha256=before, queued=True,
                            task_id=task.id)


@router.delete("/documents/{source:path}", responses=errors(404))
def delete_document(source: str, user: ExpertUser, services: Svc, bg: Bg) -> DocumentDeleted:
    source = uploads.delete_document(services.settings.knowledge_dir, source, services.catalogue.documents())
    queued = _unindex(bg, services.ingestor, source)
    record(services, user, "document_deleted", source=source)
    return DocumentDeleted(source=source, deleted=True, queued=queued)


def _unindex(bg: BackgroundWork, ingestor: Ingestor, source: str) -> bool:
    """Remove a deleted document's entries now, as ``Ingestor.run`` does for a vanished file; while a re-index
    is writing, one more run after it removes them (True: queued)."""
    if bg.index_lock.acquire(blocking=False):
        try:
            ingestor.remove(source)
        finally:
            bg.index_lock.release()
        return False
    bg.reindex(ingestor, queue=True)
    return True


@router.post("/reindex", status_code=202, responses=errors((409, "a rebuild is running")))
def reindex(user: ExpertUser, services: Svc, bg: Bg) -> TaskStarted:
    """Re-index everything; after a change of embedding model this is the rebuild (``kontor ingest --rebuild``)."""
    if services.ingestor.needs_rebuild():
        if not bg.index_lock.acquire(blocking=False):
            raise ConflictError("Die Wissensbasis wird bereits neu indexiert – bitte warten")
        try:
            services.ingestor.reset()  # the run below recomputes every vector with the configured model
        finally:
            bg.index_lock.release()
        record(services, user, "index_rebuilt", embedder=services.ingestor.embedder_record().name)
    return TaskStarted(task_id=bg.reindex(services.ingestor, queue=False).id)


# --- the pages ----------------------------------------------------------------------------------------------------

@pages.get("/wissen", response_class=HTMLResponse)
def knowledge_page(request: Request, user: AgentPage, services: Svc) -> HTMLResponse:
    listed, events = _listed(services), document_events(services)
    return render(request, "knowledge.html", user, documents=listed, indexed=sum(1 for d in listed if d.indexed),
                  events={source: (found[0], found[-1]) for source, found in events.items()},
                  max_size=file_size(services.settings.web.max_file_bytes))


@pages.get("/wissen/dokument", response_class=HTMLResponse)
def document_page(request: Request, user: AgentPage, services: Svc,
                  quelle: Annotated[str, Query(max_length=1000)] = "") -> HTMLResponse:
    detail, shown = _detail(services, quelle)
    return render(request, "knowledge_document.html", user, d=detail, blocks=shown.blocks,
                  size=file_size(detail.size), max_size=file_size(services.settings.web.max_file_bytes))


# --- what the routes share ----------------------------------------------------------------------------------------

def _listed(services: Services) -> list[uploads.DocumentFile]:
    return uploads.list_documents(services.catalogue, services.ingestor, services.settings.knowledge_dir)


def _sources(services: Services) -> set[str]:
    return {d.source for d in _listed(services)}


def document_events(services: Services, source: str | None = None) -> dict[str, list[DocumentEvent]]:
    """Uploads and replacements from the audit log, oldest first, per document (of ``source`` only, when given)."""
    with services.database.session() as session:
        rows = session.scalars(select(AuditEntry).where(AuditEntry.action.in_(list(EVENTS)))
                               .order_by(AuditEntry.id)).all()
    found: dict[str, list[DocumentEvent]] = {}
    for row in rows:
        name = str((row.detail or {}).get("source") or "")
        if name and (source is None or name == source):
            original = (row.detail or {}).get("original")
            found.setdefault(name, []).append(DocumentEvent(
                action=row.action, label=EVENTS[row.action], actor=row.actor, at=row.at.isoformat(),
                original=str(original) if original else None))
    return found


def _detail(services: Services, source: str) -> tuple[DocumentDetail, uploads.Preview]:
    listed = {d.source: d for d in _listed(services)}
    source, path = uploads.document_path(services.settings.knowledge_dir, source, listed)
    d, shown = listed[source], uploads.preview(path)
    events = document_events(services, source).get(source, [])
    first = events[0] if events else None
    return DocumentDetail(
        source=d.source, title=d.title, size=d.size, chunks=d.chunks, indexed=d.indexed, indexed_at=d.indexed_at,
        internal=d.internal, uploaded_by=first.actor if first else None, uploaded_at=first.at if first else None,
        events=events, preview=shown.text, preview_truncated=shown.truncated, preview_problem=shown.problem,
        download=f"/api/documents/{quote(d.source)}/file" if path.is_file() else None), shown
