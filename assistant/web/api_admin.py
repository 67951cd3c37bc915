"""JSON API of the subject-matter department: knowledge documents, prompt versions, evaluation runs, the
learning-loop dashboard. Agents may read the document list; everything else needs the role ``expert``.
Long work (re-indexing, evaluation) runs in a background thread and reports through ``/api/tasks/{id}``."""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import threading
import unicodedata
import zipfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field
from sqlalchemy import select

from assistant import audit
from assistant.auth import Principal
from assistant.dashboard import dashboard_plots, learning_loop
from assistant.errors import ConflictError, InputError, NotFoundError, TooLargeError
from assistant.evaluate.cases import CaseError, cases_for, load_cases
from assistant.evaluate.evaluation import passed_gate
from assistant.knowledge.catalogue import INTERNAL_FOLDER, is_internal
from assistant.knowledge.ingest import SETTINGS_FILES
from assistant.knowledge.loaders import LoaderError, load
from assistant.progress import BackgroundWork
from assistant.prompts import TASK_PARTS, PromptError, PromptReleases, check_prompt_part, parse_prompt_file
from assistant.services import Services
from assistant.store.tables import EvalRun
from assistant.web.api import MAX_ID, Agent, Id, Svc
from assistant.web.errors import AUTHENTICATED, errors
from assistant.web.security import require

router = APIRouter(prefix="/api", responses=AUTHENTICATED)
Expert = Annotated[Principal, Depends(require("expert"))]
UPLOAD_TYPES = {".md": "Markdown-Text", ".txt": "Text", ".html": "HTML-Text", ".pdf": "PDF", ".docx": "Word-Dokument"}
_PART_MARK = re.compile(r"^\[(system|user|letter)\]\s*$", re.M)
_PROMPT_WRITES = threading.Lock()  # numbering a new version and writing labels must not interleave
_ATTACH = threading.Lock()
REPORT_CSP = ("default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; "
              "form-action 'none'; frame-ancestors 'none'")  # the report is self-contained


def background(request: Request) -> BackgroundWork:
    """The app's background work (progress registry, re-indexing), created on first use; pages may use it too."""
    state = request.app.state
    with _ATTACH:
        if not hasattr(state, "kontor_background"):
            state.kontor_background = BackgroundWork()
    return state.kontor_background


Bg = Annotated[BackgroundWork, Depends(background)]


def _audit(services: Services, user: Principal, action: str, **detail: Any) -> None:
    with services.database.session() as session:
        audit.record(session, user.name, action, **detail)


@router.get("/tasks/{task_id}", tags=["admin"], responses=errors(404))
def task_status(task_id: str, user: Expert, bg: Bg) -> dict[str, Any]:
    task = bg.tasks.get(task_id)
    if task is None:
        raise NotFoundError("Diese Aufgabe ist unbekannt (oder schon vergessen)")
    return task.snapshot()


# --- knowledge ---------------------------------------------------------------------------------------------------

@router.get("/documents", tags=["knowledge"])
def documents(user: Agent, services: Svc) -> list[dict[str, Any]]:
    known = services.catalogue.documents()
    listed = [{"source": d.source, "title": d.title, "chunks": d.chunks, "size": d.size, "sha256": d.sha256,
               "indexed": True, "indexed_at": d.indexed_at, "internal": d.internal} for d in known.values()]
    services.settings.knowledge_dir.mkdir(parents=True, exist_ok=True)
    for item in services.ingestor.discover([services.settings.knowledge_dir])[0]:
        if item.source not in known:
            listed.append({"source": item.source, "title": item.path.name, "chunks": 0,
                           "size": item.path.stat().st_size, "sha256": None, "indexed": False, "indexed_at": None,
                           "internal": is_internal(item.source)})
    return sorted(listed, key=lambda d: d["source"])


@router.post("/documents", status_code=201, tags=["knowledge"])
def upload(
    file: UploadFile, user: Expert, services: Svc, bg: Bg,
    internal: Annotated[bool, Form(description="nur intern: gefunden, aber nie einem Kunden zitiert")] = False,
) -> dict[str, Any]:
    limit = services.settings.max_file_bytes
    data = file.file.read(limit + 1)
    if len(data) > limit:
        size = f"{limit / 2**20:.1f} MB".replace(".", ",") if limit >= 2**20 else f"{limit // 1024} KB"
        raise TooLargeError(f"Die Datei ist zu groß (höchstens {size})")
    original = (file.filename or "").replace("\\", "/").rsplit("/", 1)[-1]  # never the client's folders
    suffix = PurePosixPath(original).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise InputError("Dateityp nicht erlaubt: bitte eine Datei mit der Endung .md, .txt, .html, .pdf oder .docx")
    if not data:
        raise InputError("Die Datei ist leer")
    if not _content_fits(suffix, data):
        raise InputError(f"Dateityp nicht erlaubt: der Inhalt ist kein {UPLOAD_TYPES[suffix]} (Endung {suffix})")
    root = services.settings.knowledge_dir
    folder = root / INTERNAL_FOLDER if internal else root  # the folder is the mark: it survives every re-index
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(original)
    while target.exists():
        target = folder / safe_name(original)
    partial = root / f".upload-{secrets.token_hex(8)}{suffix}"  # hidden: the indexer never sees half a file
    partial.write_bytes(data)
    try:  # more than the first bytes: the file must parse, within the bounds, before it joins the knowledge
        load(partial)
    except LoaderError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"Die Datei kann nicht aufgenommen werden: {exc}") from exc
    os.replace(partial, target)
    source = target.relative_to(root).as_posix()
    _audit(services, user, "document_uploaded", source=source, original=original[:200], size=len(data),
           sha256=hashlib.sha256(data).hexdigest(), internal=internal)
    task = bg.reindex(services.ingestor, queue=True)
    return {"source": source, "internal": internal, "queued": True, "task_id": task.id}


def safe_name(original: str) -> str:
    """``Preisliste Österreich.PDF`` → ``preisliste-oesterreich-1a2b3c4d.pdf``: a slug, 8 random hex digits."""
    path = PurePosixPath(original)
    text = path.stem.lower()
    for umlaut, plain in (("ä", "ae"), ("ö", "oe"), ("ü", "ue"), ("ß", "ss")):
        text = text.replace(umlaut, plain)
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    slug = re.sub(r"[^a-z0-9]+", "-", text).strip("-")[:60].strip("-") or "dokument"
    return f"{slug}-{secrets.token_hex(4)}{path.suffix.lower()}"


def _content_fits(suffix: str, data: bytes) -> bool:
    if suffix == ".pdf":
        return data.startswith(b"%PDF-")
    if suffix == ".docx":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                return "word/document.xml" in archive.namelist()
        except zipfile.BadZipFile:
            return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in data


@router.delete("/documents/{source:path}", tags=["knowledge"], responses=errors(404))
def delete_document(source: str, user: Expert, services: Svc, bg: Bg) -> dict[str, Any]:
    folder = services.settings.knowledge_dir.resolve()
    try:
        path = (folder / source).resolve()  # follows "..", symlinks: what would really be deleted
        exists = path.is_file()
    except (OSError, ValueError):  # a name no file can have (too long for the file system, a NUL byte)
        raise NotFoundError(f"Dokument '{source[:200]}' gibt es im Wissensordner nicht") from None
    if not path.is_relative_to(folder) or path == folder or path.name in SETTINGS_FILES:
        raise NotFoundError(f"Dokument '{source}' gibt es im Wissensordner nicht")
    source = path.relative_to(folder).as_posix()  # the catalogue's name for it ("./a.md" is "a.md")
    if source not in services.catalogue.documents() and not exists:
        raise NotFoundError(f"Dokument '{source}' gibt es im Wissensordner nicht")
    path.unlink(missing_ok=True)
    queued = False
    if bg.index_lock.acquire(blocking=False):  # what ``Ingestor.run`` does for a vanished file, right now
        try:
            services.ingestor.remove(source)
        finally:
            bg.index_lock.release()
    else:  # a re-index is writing: one more run after it removes the entries
        bg.reindex(services.ingestor, queue=True)
        queued = True
    _audit(services, user, "document_deleted", source=source)
    return {"source": source, "deleted": True, "queued": queued}


@router.post("/reindex", status_code=202, tags=["knowledge"], responses=errors((409, "a rebuild is running")))
def reindex(user: Expert, services: Svc, bg: Bg) -> dict[str, str]:
    """Re-index everything; after a change of embedding model this is the rebuild (``kontor ingest --rebuild``)."""
    if services.ingestor.needs_rebuild():
        if not bg.index_lock.acquire(blocking=False):
            raise ConflictError("Die Wissensbasis wird bereits neu indexiert – bitte warten")
        try:
            services.ingestor.reset()  # the run below recomputes every vector with the configured model
        finally:
            bg.index_lock.release()
        _audit(services, user, "index_rebuilt", embedder=services.ingestor.embedder_record().name)
    return {"task_id": bg.reindex(services.ingestor, queue=False).id}


# --- prompts -----------------------------------------------------------------------------------------------------

class PromptIn(BaseModel):
    """The parts of the new version: ``system`` and ``user`` for prompts, ``letter`` for the reply letter."""

    from_version: int = Field(ge=1)
    system: str = Field("", max_length=20_000)
    user: str = Field("", max_length=20_000)
    letter: str = Field("", max_length=20_000)
    note: str = Field("", max_length=500)


def _tasks(services: Services) -> list[str]:
    root = services.prompts.root
    return sorted(p.name for p in root.iterdir() if p.is_dir() and any(p.glob("v*.md"))) if root.is_dir() else []


def _file(services: Services, task: str, version: int) -> Path:
    path = services.prompts.root / task / f"v{version}.md"
    if task not in _tasks(services) or not path.is_file():
        raise NotFoundError(f"Prompt {task} v{version} gibt es nicht")
    return path


@router.get("/prompts", tags=["prompts"], responses=errors((422, "a prompt file does not parse")))
def prompts(user: Expert, services: Svc) -> dict[str, list[dict[str, Any]]]:
    try:
        labels, lock = services.prompts.labels(), PromptReleases(services.prompts).lock()
        return {task: [{"version": p.meta.version, "author": p.meta.author, "created": p.meta.created.isoformat(),
                        "note": p.meta.note, "locked": p.meta.version in lock.get(task, {}),
                        "labels": [k for k, v in labels.get(task, {}).items() if v == p.meta.version]}
                       for p in services.prompts.versions(task)] for task in _tasks(services)}
    except PromptError as exc:
        raise InputError(str(exc)) from exc


@router.get("/prompts/{task}/diff", tags=["prompts"], responses=errors(404))
def prompt_diff(
    task: str, a: Annotated[int, Query(ge=1, le=MAX_ID)], b: Annotated[int, Query(ge=1, le=MAX_ID)], user: Expert,
    services: Svc,
) -> dict[str, str]:
    old, new = _file(services, task, a), _file(services, task, b)
    return {"diff": PromptReleases(services.prompts).diff(task, a, b), "a": old.read_text(encoding="utf-8"),
            "b": new.read_text(encoding="utf-8")}


@router.get("/prompts/{task}/{version}", tags=["prompts"], responses=errors(404))
def prompt_text(task: str, version: Id, user: Expert, services: Svc) -> dict[str, Any]:
    return {"task": task, "version": version, "text": _file(services, task, version).read_text(encoding="utf-8")}


@router.post("/prompts/{task}", status_code=201, tags=["prompts"], responses=errors(404))
def new_prompt(task: str, body: PromptIn, user: Expert, services: Svc) -> dict[str, Any]:
    _file(services, task, body.from_version)
    names = sorted(TASK_PARTS.get(task, {"system", "user"}), reverse=True)
    parts = {name: getattr(body, name).replace("\r\n", "\n").strip() for name in names}
    if missing := [name for name, text in parts.items() if not text]:
        raise InputError(f"Prompt nicht gespeichert: der Teil [{missing[0]}] ist leer")
    if any(_PART_MARK.search(text) for text in parts.values()):
        raise InputError("Die Zeilen [system], [user] und [letter] trennen die Teile und dürfen im Text nicht "
                         "vorkommen")
    try:  # before anything is written: a refused template leaves no file and no label change
        for name, text in parts.items():
            check_prompt_part(task, name, text)
    except PromptError as exc:
        raise InputError(f"Prompt nicht gespeichert: {exc}") from exc
    with _PROMPT_WRITES:
        try:
            version = _write_version(services, task, body, parts, user.name)
        except PromptError as exc:
            raise InputError(str(exc)) from exc
    _audit(services, user, "prompt_version_created", prompt_version=f"{task}@v{version}", source=body.from_version)
    return {"task": task, "version": version}


def _write_version(services: Services, task: str, body: PromptIn, parts: dict[str, str], author: str) -> int:
    """The next version as a copy of ``from_version`` with the given parts; removed again when it does not parse
    (and the candidate label restored)."""
    releases = PromptReleases(services.prompts)
    candidate = services.prompts.labels().get(task, {}).get("candidate")
    created = releases.new_version(task, body.from_version, author, body.note)
    path, version = created.path, created.meta.version
    text = path.read_text(encoding="utf-8")
    head = text[: text.index("\n---\n", 3) + 5]  # the front matter new_version wrote
    path.write_text(head + "".join(f"[{name}]\n{text}\n" for name, text in parts.items()), encoding="utf-8")
    try:
        parse_prompt_file(path)
    except PromptError as exc:
        path.unlink(missing_ok=True)
        releases.set_label(task, "candidate", candidate)
        raise PromptError(str(exc).replace(str(path), f"{task}/v{version}.md")) from exc
    return version


@router.post("/prompts/{task}/{version}/promote", tags=["prompts"],
             responses=errors(404, (409, "no passed evaluation of exactly this version")))
def promote(task: str, version: Id, user: Expert, services: Svc) -> dict[str, Any]:
    _file(services, task, version)
    with _PROMPT_WRITES:
        if not passed_gate(services.database, services.prompts, lambda: services.llm, task, version):
            raise ConflictError(f"{task} v{version} kann nicht in Produktion gehen: Für genau diese Fassung gibt es "
                                "noch keine bestandene Evaluation mit dem aktiven Modell. Bitte zuerst die "
                                "Evaluation starten.")
        PromptReleases(services.prompts).promote(task, version)
    if task == "categorise" and "categoriser" in vars(services):
        del services.categoriser  # cached with the old production prompt; the next use builds it anew
    _audit(services, user, "prompt_promoted", prompt_version=f"{task}@v{version}")
    return {"task": task, "production": version}


# --- evaluation and dashboard ------------------------------------------------------------------------------------

class EvaluationIn(BaseModel):
    task: Literal["answer", "categorise", "letter"]
    prompt: str = Field("candidate", pattern=r"^(production|candidate|v?\d{1,4})$")


@router.post("/evaluations", status_code=202, tags=["evaluation"],
             responses=errors((409, "an evaluation is running")))
def start_evaluation(body: EvaluationIn, user: Expert, services: Svc, bg: Bg) -> dict[str, str]:
    try:
        subject = services.prompts.resolve(body.task, body.prompt)
        production = services.prompts.resolve(body.task, "production")
        cases = cases_for(body.task, load_cases(services.settings.eval_dir / "cases"))
    except (PromptError, CaseError) as exc:
        raise InputError(str(exc)) from exc
    if not cases:
        raise InputError(f"Für {body.task} gibt es keine Evaluationsfälle")
    runs = len(cases) * (1 if subject.ref == production.ref else 2)
    task = bg.evaluate(services.eval_parts(), body.task, body.prompt, runs)
    _audit(services, user, "evaluation_started", prompt_version=subject.ref)
    return {"task_id": task.id}


@router.get("/evaluations", tags=["evaluation"])
def evaluations(user: Expert, services: Svc, limit: Annotated[int, Query(ge=1, le=500)] = 50) -> list[dict[str, Any]]:
    with services.database.session() as session:
        runs = list(session.scalars(select(EvalRun).order_by(EvalRun.id.desc()).limit(limit)))
    return [{"id": r.id, "task": r.task, "prompt_ref": r.prompt_ref, "gate_passed": r.gate_passed, "cases": r.cases,
             "started_at": r.started_at.isoformat(),
             "finished_at": r.finished_at.isoformat() if r.finished_at else None,
             "metrics": {k: round(v, 4) if isinstance(v, float) else v for k, v in (r.metrics or {}).items()},
             "report": f"/api/evaluations/{r.id}/report" if _report_file(r) else None} for r in runs]


def _report_file(run: EvalRun) -> Path | None:
    path = Path(run.report_dir) / "report.html" if run.report_dir else None
    return path if path is not None and path.is_file() else None


@router.get("/evaluations/{run_id}/report", response_class=HTMLResponse, tags=["evaluation"], responses=errors(404))
def evaluation_report(run_id: Id, user: Expert, services: Svc) -> HTMLResponse:
    with services.database.session() as session:
        run = session.get(EvalRun, run_id)
    path = _report_file(run) if run else None
    if path is None:
        raise NotFoundError(f"Für den Evaluationslauf {run_id} gibt es keinen Bericht")
    return HTMLResponse(path.read_text(encoding="utf-8"), headers={"Content-Security-Policy": REPORT_CSP})


@router.get("/dashboard", tags=["evaluation"])
def dashboard(user: Expert, services: Svc, plots: bool = False) -> dict[str, Any]:
    data = learning_loop(services.database)
    if plots:
        data["plots"] = dashboard_plots(data)
    return data
