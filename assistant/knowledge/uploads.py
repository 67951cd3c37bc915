"""The knowledge folder as people change it: the documents it holds (indexed, or waiting for the next index run),
a new document checked and stored, a document replaced by a new version of it, a document removed, and a
document's extracted text to preview. Uploads are size-limited, type-checked by their content, must parse, and are
stored under a generated name in one atomic step, so the indexer never sees half a file; a replacement that does
not parse leaves the old version in place."""

from __future__ import annotations

import hashlib
import io
import os
import re
import secrets
import unicodedata
import zipfile
from collections.abc import Container
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from assistant.errors import InputError, NotFoundError, TooLargeError
from assistant.knowledge.catalogue import INTERNAL_FOLDER, Catalogue, is_internal
from assistant.knowledge.ingest import SETTINGS_FILES, Ingestor
from assistant.knowledge.loaders import LoaderError, load

UPLOAD_TYPES = {".md": "Markdown-Text", ".txt": "Text", ".html": "HTML-Text", ".pdf": "PDF", ".docx": "Word-Dokument"}
PREVIEW_CHARS = 5000
# The original file as a download: a type no browser shows as a page (HTML in particular is never text/html here)
DOWNLOAD_TYPES = {".pdf": "application/pdf", ".md": "text/plain; charset=utf-8", ".txt": "text/plain; charset=utf-8",
                  ".docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}


@dataclass(frozen=True)
class DocumentFile:
    """A document of the knowledge folder as listed: indexed, or a file the next index run adds."""

    source: str
    title: str
    chunks: int
    size: int
    sha256: str | None
    indexed: bool
    indexed_at: str | None
    internal: bool


@dataclass(frozen=True)
class StoredUpload:
    source: str  # the catalogue's name: relative to the knowledge folder
    original: str  # the file name the client sent, without its folders
    size: int
    sha256: str


@dataclass(frozen=True)
class Preview:
    """The start of a document's text in blocks of (heading, text); ``problem`` says why there is none."""

    blocks: list[tuple[str, str]]
    truncated: bool
    problem: str | None = None

    @property
    def text(self) -> str:
        return "\n\n".join(f"{heading}\n{text}" if heading else text for heading, text in self.blocks)


def list_documents(catalogue: Catalogue, ingestor: Ingestor, knowledge_dir: Path) -> list[DocumentFile]:
    """Indexed documents and the files waiting for the next index run, by source."""
    known = catalogue.documents()
    listed = [DocumentFile(d.source, d.title, d.chunks, d.size, d.sha256, True, d.indexed_at, d.internal)
              for d in known.values()]
    knowledge_dir.mkdir(parents=True, exist_ok=True)
    for item in ingestor.discover([knowledge_dir])[0]:
        if item.source not in known:
            listed.append(DocumentFile(item.source, item.path.name, 0, item.path.stat().st_size, None, False, None,
                                       is_internal(item.source)))
    return sorted(listed, key=lambda d: d.source)


def store_upload(knowledge_dir: Path, data: bytes, name: str, internal: bool, max_bytes: int) -> StoredUpload:
    """Check an uploaded file (size, type, content, that it parses) and store it under a generated name, in the
    folder ``intern`` when ``internal``. ``data`` may be one byte longer than ``max_bytes`` (how a reader finds
    out a file is too large). TooLargeError or InputError, each with a German sentence."""
    original, suffix = _checked(data, name, max_bytes)
    folder = knowledge_dir / INTERNAL_FOLDER if internal else knowledge_dir  # the mark that survives every re-index
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / safe_name(original)
    while target.exists():
        target = folder / safe_name(original)
    os.replace(_parsed_copy(knowledge_dir, data, suffix), target)
    return StoredUpload(target.relative_to(knowledge_dir).as_posix(), original, len(data),
                        hashlib.sha256(data).hexdigest())


def replace_upload(knowledge_dir: Path, source: str, known: Container[str], data: bytes, name: str,
                   max_bytes: int) -> StoredUpload:
    """A new version of the document ``source`` (one of ``known``): checked like an upload, of the same type, and
    put in place of the old file in one atomic step under the same name. A file that is refused or does not parse
    leaves the old version as it was (InputError or TooLargeError, a German sentence)."""
    source, path = document_path(knowledge_dir, source, known)
    original, suffix = _checked(data, name, max_bytes)
    if suffix != path.suffix.lower():
        raise InputError(f"Bitte eine Datei vom selben Typ hochladen ({path.suffix.lower()}): das Dokument behält "
                         "seinen Namen, unter dem es zitiert wird")
    os.replace(_parsed_copy(knowledge_dir, data, suffix), path)
    return StoredUpload(source, original, len(data), hashlib.sha256(data).hexdigest())


def _checked(data: bytes, name: str, max_bytes: int) -> tuple[str, str]:
    """The file name without the client's folders and its suffix, once size, type and content are fine."""
    if len(data) > max_bytes:
        size = f"{max_bytes / 2**20:.1f} MB".replace(".", ",") if max_bytes >= 2**20 else f"{max_bytes // 1024} KB"
        raise TooLargeError(f"Die Datei ist zu groß (höchstens {size})")
    original = name.replace("\\", "/").rsplit("/", 1)[-1]  # never the client's folders
    suffix = PurePosixPath(original).suffix.lower()
    if suffix not in UPLOAD_TYPES:
        raise InputError("Dateityp nicht erlaubt: bitte eine Datei mit der Endung .md, .txt, .html, .pdf oder .docx")
    if not data:
        raise InputError("Die Datei ist leer")
    if not _content_fits(suffix, data):
        raise InputError(f"Dateityp nicht erlaubt: der Inhalt ist kein {UPLOAD_TYPES[suffix]} (Endung {suffix})")
    return original, suffix


def _parsed_copy(knowledge_dir: Path, data: bytes, suffix: str) -> Path:
    """``data`` in a hidden file of the folder (the indexer never sees half a file), once it parses."""
    knowledge_dir.mkdir(parents=True, exist_ok=True)
    partial = knowledge_dir / f".upload-{secrets.token_hex(8)}{suffix}"
    partial.write_bytes(data)
    try:  # more than the first bytes: the file must parse, within the bounds, before it joins the knowledge
        load(partial)
    except LoaderError as exc:
        partial.unlink(missing_ok=True)
        raise InputError(f"Die Datei kann nicht aufgenommen werden: {exc}") from exc
    return partial


def document_path(knowledge_dir: Path, source: str, known: Container[str]) -> tuple[str, Path]:
    """The name and the file of a document that is listed (``known``: indexed or waiting for the index), inside the
    knowledge folder; NotFoundError for anything else (another path, a hidden file, a settings file). The file may
    be gone already when the document is still indexed."""
    folder = knowledge_dir.resolve()
    try:
        path = (folder / source).resolve()  # follows "..", symlinks: the file that would really be read
    except (OSError, ValueError):
        raise NotFoundError(f"Dokument '{source[:200]}' gibt es im Wissensordner nicht") from None
    if not path.is_relative_to(folder) or path == folder or path.name in SETTINGS_FILES:
        raise NotFoundError(f"Dokument '{source[:200]}' gibt es im Wissensordner nicht")
    source = path.relative_to(folder).as_posix()
    if source not in known:
        raise NotFoundError(f"Dokument '{source[:200]}' gibt es im Wissensordner nicht")
    return source, path


def preview(path: Path, limit: int = PREVIEW_CHARS) -> Preview:
    """The start of a document's extracted text as the index reads it, at most ``limit`` characters: one block per
    section with its heading (and its page, in a PDF) where it changes."""
    if not path.is_file():
        return Preview([], False, "Die Datei liegt nicht mehr im Wissensordner.")
    try:
        document = load(path)
    except LoaderError as exc:
        return Preview([], False, f"Der Text lässt sich nicht lesen: {exc}")
    blocks: list[tuple[str, str]] = []
    left, previous = limit, None
    for section in document.sections:
        heading = section.heading or ""
        if section.page is not None:
            heading = f"Seite {section.page}" + (f" – {heading}" if heading else "")
        text = section.text.strip()
        if len(text) > left:
            blocks.append(("" if heading == previous else heading, text[:left].rstrip() + " …"))
            return Preview(blocks, True)
        blocks.append(("" if heading == previous else heading, text))
        left, previous = left - len(text), heading
    return Preview(blocks, False)


def delete_document(knowledge_dir: Path, source: str, indexed: Container[str]) -> str:
    """Remove the file of a document of the knowledge folder (one that is ``indexed`` may have lost its file
    already); its name as the catalogue has it (``./a.md`` is ``a.md``). NotFoundError for anything else:
    a path outside the folder, the folder itself, a settings file."""
    folder = knowledge_dir.resolve()
    try:
        path = (folder / source).resolve()  # follows "..", symlinks: what would really be deleted
        exists = path.is_file()
    except (OSError, ValueError):  # a name no file can have (too long for the file system, a NUL byte)
        raise NotFoundError(f"Dokument '{source[:200]}' gibt es im Wissensordner nicht") from None
    if not path.is_relative_to(folder) or path == folder or path.name in SETTINGS_FILES:
        raise NotFoundError(f"Dokument '{source}' gibt es im Wissensordner nicht")
    source = path.relative_to(folder).as_posix()
    if source not in indexed and not exists:
        raise NotFoundError(f"Dokument '{source}' gibt es im Wissensordner nicht")
    path.unlink(missing_ok=True)
    return source


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
