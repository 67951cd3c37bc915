"""Document loaders: each turns one file into a title and structured sections (heading path, page, text).

Parsing is left to maintained libraries (pypdf, python-docx, BeautifulSoup); a file that cannot be parsed
raises ``LoaderError`` with a reason a person can act on.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from assistant.errors import InputError
from assistant.knowledge.pdf_layout import Block, page_blocks


class LoaderError(InputError):
    """The file is broken, empty or of a type Kontor cannot read."""


@dataclass
class Section:
    heading: str
    text: str
    page: int | None = None


@dataclass
class LoadedDocument:
    title: str
    sections: list[Section] = field(default_factory=list)


SUPPORTED_SUFFIXES = (".md", ".markdown", ".txt", ".html", ".htm", ".pdf", ".docx")
# Bounds per file, so that one hostile file cannot exhaust the server (a 1 MB .docx with a 1 GiB member, a
# 2 KB PDF with 10,000 pages) – checked before the heavy parsing, at upload and at every re-index.
MAX_DOCX_UNPACKED = 50 * 2**20
MAX_DOCX_MEMBERS = 2000
MAX_PDF_PAGES = 500
MAX_TEXT_CHARS = 2_000_000
# A PDF's page content is compressed and may be shared (500 pages drawing one 4 MB stream, a form drawn 10,000
# times): a 10 KB file can keep pypdf's text extraction busy for hours before the text bound is reached. So a
# PDF is read in a child process with a CPU-time and a memory limit and a wall-clock timeout. Reading the layout
# (pdfplumber) costs ~0.07 s of CPU per text-filled page, so a long manual gets a share more per page: the base
# budget / 400 (20 s → 0.05 s a page, 45 s for 500 pages).
PDF_CPU_SECONDS = 20
PDF_MEMORY_BYTES = 1024 * 2**20
PDF_WALL_SECONDS = 150
PDF_PAGE_SHARE = 400
_HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")


def load(path: Path) -> LoadedDocument:
    loader = _LOADERS.get(path.suffix.lower())
    if loader is None:
        raise LoaderError(f"Dateityp {path.suffix or '(ohne Endung)'} wird nicht unterstützt")
    try:
        doc = loader(path)
    except LoaderError:
        raise
    except Exception as exc:  # parsers raise many types for corrupt files
        raise LoaderError(f"Datei ist beschädigt oder nicht lesbar ({type(exc).__name__}: {exc})") from exc
    doc.sections = [s for s in doc.sections if s.text.strip()]
    if not doc.sections:
        raise LoaderError("Datei enthält keinen Text")
    if sum(len(s.text) for s in doc.sections) > MAX_TEXT_CHARS:
        raise LoaderError(f"Datei enthält zu viel Text (höchstens {MAX_TEXT_CHARS:,} Zeichen)".replace(",", "."))
    return doc


def table_lines(rows: list[list[str]]) -> list[str]:
    """One line per table row as "first cell – header: value; …", so each row reads as a sentence that
    retrieval and quoting can use on its own (a price row keeps its country and its delivery time)."""
    # a cell's own full stop would double the row's ("… eindrehen..")
    rows = [[" ".join(cell.split()).rstrip(".") for cell in row] for row in rows if any(c.strip() for c in row)]
    if len(rows) < 2:
        return [" ".join(row) for row in rows]
    header, lines = rows[0], []
    for row in rows[1:]:
        pairs = [f"{h}: {v}" for h, v in zip(header[1:], row[1:], strict=False) if v]
        lines.append(f"{row[0]} – {'; '.join(pairs)}." if pairs else row[0])
    return lines


def _markdown_tables(lines: list[str]) -> list[str]:
    """Replace pipe tables by ``table_lines``; other lines pass through."""
    out: list[str] = []
    block: list[list[str]] = []
    for line in [*lines, ""]:
        stripped = line.strip()
        if stripped.startswith("|") and stripped.endswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            if not all(re.fullmatch(r":?-{2,}:?", c) for c in cells):
                block.append(cells)
            continue
        if block:
            out.extend(table_lines(block))
            block = []
        out.append(line)
    return out[:-1]


def _read_text(path: Path) -> str:
    raw = path.read_bytes()
    if b"\x00" in raw[:8192]:
        raise LoaderError("Datei ist binär, erwartet wurde Text")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _load_markdown(path: Path) -> LoadedDocument:
    text = _read_text(path)
    title = ""
    stack: list[tuple[int, str]] = []  # (level, heading) of the enclosing headings
    sections: list[Section] = []
    buffer: list[str] = []
    in_fence = False

    def flush() -> None:
        if buffer:
            heading = " › ".join(h for level, h in stack if level > 1)
            sections.append(Section(heading, "\n".join(buffer).strip()))
            buffer.clear()

    for line in _markdown_tables(text.splitlines()):
        if line.lstrip().startswith(("```", "~~~")):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match is None:
            buffer.append(line)
            continue
        flush()
        level, heading = len(match.group(1)), match.group(2)
        if level == 1 and not title:
            title = heading
        stack[:] = [(lvl, h) for lvl, h in stack if lvl < level] + [(level, heading)]
    flush()
    return LoadedDocument(title or _title_from_name(path), sections)


def _load_text(path: Path) -> LoadedDocument:
    text = _read_text(path)
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return LoadedDocument(first[:120] or _title_from_name(path), [Section("", text)])


def _load_html(path: Path) -> LoadedDocument:
    from bs4 import BeautifulSoup  # each parser only for its file type

    soup = BeautifulSoup(_read_text(path), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "nav", "footer"]):
        tag.decompose()
    h1 = soup.find("h1")
    title = (soup.title.get_text(" ", strip=True) if soup.title else "") or (
        h1.get_text(" ", strip=True) if h1 else ""
    )
    body = soup.body or soup
    sections: list[Section] = []
    heading, parts = "", []
    for element in body.find_all(["h1", "h2", "h3", "h4", "p", "li", "table", "dt", "dd", "pre"]):
        if element.find_parent(["li", "table", "dd"]) is not None:
            continue  # nested text is already part of its container
        if element.name == "table":
            rows = [[c.get_text(" ", strip=True) for c in tr.find_all(["td", "th"])] for tr in element.find_all("tr")]
            parts.extend(table_lines(rows))
            continue
        text = element.get_text(" ", strip=True)
        if element.name in {"h1", "h2", "h3", "h4"}:
            if parts:
                sections.append(Section(heading, "\n".join(parts)))
            heading, parts = ("" if element.name == "h1" else text), []
        elif text:
            parts.append(("- " if element.name == "li" else "") + text)
    if parts:
        sections.append(Section(heading, "\n".join(parts)))
    return LoadedDocument(title or _title_from_name(path), sections)


def _load_pdf(path: Path) -> LoadedDocument:
    """Parse the PDF in a child process bounded in CPU time, memory and wall-clock time (see PDF_CPU_SECONDS)."""
    budget = (f"{PDF_CPU_SECONDS} s Rechenzeit und {PDF_MEMORY_BYTES // 2**20} MB Speicher")
    too_costly = (f"PDF ist zu aufwendig zu lesen: der Text ließ sich nicht mit {budget} auslesen "
                  "(vermutlich stark gepackte oder vielfach wiederholte Seiteninhalte)")
    package_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))}
    command = [sys.executable, "-c", "from assistant.knowledge.loaders import _pdf_child; _pdf_child()",
               str(path), str(PDF_CPU_SECONDS), str(PDF_MEMORY_BYTES), str(MAX_TEXT_CHARS), str(PDF_PAGE_SHARE)]
    try:
        result = subprocess.run(command, capture_output=True, timeout=PDF_WALL_SECONDS, env=env, check=False)
    except subprocess.TimeoutExpired as exc:
        raise LoaderError(f"{too_costly}; nach {PDF_WALL_SECONDS} s abgebrochen") from exc
    if result.returncode != 0 or not result.stdout:
        raise LoaderError(too_costly)
    answer = json.loads(result.stdout)
    if "error" in answer:
        raise LoaderError(answer["error"] if answer.get("kind") != "memory" else too_costly)
    sections = [Section(heading, text, page=page) for page, heading, text in answer["sections"]]
    return LoadedDocument(answer["title"], sections)


def _pdf_child() -> None:
    """Runs in the child: limits first, then the parse; the answer is JSON on stdout. Exceeding the CPU limit
    ends the process (SIGXCPU), exceeding the memory limit raises MemoryError."""
    import resource  # POSIX only, and only in the parsing child process

    path, cpu, memory, max_chars = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    share = int(sys.argv[5])
    most = cpu + cpu * MAX_PDF_PAGES // share
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, most + 1))
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))

    def allow(pages: int) -> None:  # the page count is known before the layout is read
        resource.setrlimit(resource.RLIMIT_CPU, (cpu + cpu * pages // share, most + 1))

    try:
        doc = _parse_pdf(path, max_chars, allow)
        sections = [(s.page, s.heading, s.text) for s in doc.sections]
        answer: dict[str, object] = {"title": doc.title, "sections": sections}
    except LoaderError as exc:
        answer = {"error": str(exc)}
    except MemoryError:
        answer = {"error": "memory", "kind": "memory"}
    except Exception as exc:  # parsers raise many types for corrupt files
        answer = {"error": f"Datei ist beschädigt oder nicht lesbar ({type(exc).__name__}: {exc})"}
    sys.stdout.write(json.dumps(answer))


def _parse_pdf(path: Path, max_chars: int, allow: Callable[[int], None] | None = None) -> LoadedDocument:
    """``allow``: told the page count before the layout is read (the child raises its CPU budget by it)."""
    from pypdf import PdfReader  # each parser only for its file type (here: in the child process)
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(str(path))
    except PdfReadError as exc:
        raise LoaderError(f"PDF ist beschädigt ({exc})") from exc
    if reader.is_encrypted:
        raise LoaderError("PDF ist verschlüsselt")
    if len(reader.pages) > MAX_PDF_PAGES:
        raise LoaderError(f"PDF hat zu viele Seiten ({len(reader.pages)}, höchstens {MAX_PDF_PAGES})")
    if not reader.pages:
        raise LoaderError("PDF hat keine Seiten")
    if allow is not None:
        allow(len(reader.pages))
    meta_title = (reader.metadata.title if reader.metadata else None) or ""
    sections: list[Section] = []
    total = 0
    pages = page_blocks(path, MAX_PDF_PAGES)
    printed_title = next((b.text for blocks in pages[:1] for b in blocks if b.text.strip()), "")
    for number, blocks in enumerate(pages, start=1):
        page = _pdf_sections(blocks, number, sections[-1].heading if sections else "")
        sections.extend(page)
        total += sum(len(s.text) for s in page)
        if total > max_chars:  # stop at the bound, not after the last page
            raise LoaderError(f"Datei enthält zu viel Text (höchstens {max_chars:,} Zeichen)".replace(",", "."))
    return LoadedDocument(_pdf_title(meta_title) or printed_title[:120] or _title_from_name(path), sections)


def _pdf_title(meta_title: str) -> str:
    """The metadata title, unless it is a generator's placeholder (reportlab writes "untitled")."""
    title = meta_title.strip()
    return "" if title.lower() in ("untitled", "unbenannt", "ohne titel", "") else title


def _pdf_sections(blocks: list[Block], page: int, heading: str) -> list[Section]:
    """One page's sections: a heading starts one, the page's first lines continue the section of the page before
    (its heading carried over); body lines are joined into sentences, a table gives one line per row."""
    sections = [Section(heading, "", page=page)]
    lines: list[str] = []

    def flush() -> None:
        if lines:
            sections[-1].text += ("\n" if sections[-1].text else "") + unwrap_lines("\n".join(lines))
            lines.clear()

    size = 0.0
    for block in blocks:
        if block.kind == "heading" and not lines and not sections[-1].text and block.size == size:
            sections[-1].heading = f"{sections[-1].heading} {block.text}"  # a heading printed on two lines
        elif block.kind == "heading":
            flush()
            sections.append(Section(block.text, "", page=page))
            size = block.size
        elif block.kind == "table":
            flush()
            lines.extend(table_lines(block.rows or []))
            flush()
        else:
            lines.append(block.text)
    flush()
    return [s for s in sections if s.text.strip()]


# A PDF line that ends inside a sentence: the next line is its continuation (pypdf gives one line per printed
# line, and the chunker would take each as a sentence of its own: "… vor einer" / "Verbraucherschlichtungsstelle …").
_WRAPPED = re.compile(r"[a-zäöüß0-9,]$")
_CONTINUES = re.compile(r"^[a-zäöüß]")
_DASH = re.compile(r"^[–•\-]$")  # a list dash printed on its own line


def unwrap_lines(text: str) -> str:
    """Lines of a PDF page joined back into the sentences they print: a line continues the one before when it
    starts in lower case, or when the one before is a full-width line (≥ 50 characters) that stops mid-sentence;
    a lone list dash joins its item. Headings and table cells are short and stay lines of their own."""
    lines: list[str] = []
    for line in (ln.strip() for ln in text.splitlines()):
        previous = lines[-1] if lines else ""
        if line and previous and not _DASH.match(previous) and (
            _CONTINUES.match(line) or (len(previous) >= 50 and _WRAPPED.search(previous))
        ) or line and previous and _DASH.match(previous):
            lines[-1] = f"{previous} {line}"
        else:
            lines.append(line)
    return "\n".join(lines)


def _load_docx(path: Path) -> LoadedDocument:
    import docx  # each parser only for its file type
    import docx.table

    _check_archive(path)
    document = docx.Document(str(path))
    title = (document.core_properties.title or "").strip()
    sections: list[Section] = []
    heading, parts = "", []
    for block in document.iter_inner_content():
        if isinstance(block, docx.table.Table):
            parts.extend(table_lines([[cell.text for cell in row.cells] for row in block.rows]))
            continue
        style = (block.style.name if block.style is not None else "") or ""
        text = block.text.strip()
        if style == "Title" or (style == "Heading 1" and not title):
            title = title or text
            continue
        if style.startswith("Heading") and text:
            if parts:
                sections.append(Section(heading, "\n".join(parts)))
            heading, parts = text, []
        elif text:
            parts.append(("- " if "List" in style else "") + text)
    if parts:
        sections.append(Section(heading, "\n".join(parts)))
    return LoadedDocument(title or _title_from_name(path), sections)


def _check_archive(path: Path) -> None:
    """A .docx is a zip: refuse bombs by the sizes its directory declares, before anything is unpacked."""
    with zipfile.ZipFile(path) as archive:
        members = archive.infolist()
    if len(members) > MAX_DOCX_MEMBERS:
        raise LoaderError(f"DOCX enthält zu viele Teile ({len(members)}, höchstens {MAX_DOCX_MEMBERS})")
    unpacked = sum(m.file_size for m in members)
    if unpacked > MAX_DOCX_UNPACKED:
        raise LoaderError(f"DOCX ist entpackt zu groß ({unpacked / 2**20:.0f} MB, höchstens "
                          f"{MAX_DOCX_UNPACKED // 2**20} MB)")


def _title_from_name(path: Path) -> str:
    return path.stem.replace("-", " ").replace("_", " ").strip().capitalize()


_LOADERS: dict[str, Callable[[Path], LoadedDocument]] = {
    ".md": _load_markdown,
    ".markdown": _load_markdown,
    ".txt": _load_text,
    ".html": _load_html,
    ".htm": _load_html,
    ".pdf": _load_pdf,
    ".docx": _load_docx,
}
