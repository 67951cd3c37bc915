"""Knowledge documents: the list (agents may read it), upload, delete and re-index (the department). The rules
for uploads live in ``assistant.knowledge.uploads``; re-indexing runs in the background (``/api/tasks/{id}``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, UploadFile

from assistant.errors import ConflictError
from assistant.knowledge import uploads
from assistant.knowledge.ingest import Ingestor
from assistant.progress import BackgroundWork
from assistant.web.deps import AgentUser, Bg, ExpertUser, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.routes._audit import record
from assistant.web.schemas import Document, DocumentDeleted, TaskStarted, Uploaded

router = APIRouter(prefix="/api", tags=["knowledge"], responses=AUTHENTICATED)


@router.get("/documents")
def documents(user: AgentUser, services: Svc) -> list[Document]:
    listed = uploads.list_documents(services.catalogue, services.ingestor, services.settings.knowledge_dir)
    return [Document.model_validate(d) for d in listed]


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
