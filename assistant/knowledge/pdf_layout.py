"""A PDF page's layout as a reader sees it (the one module importing pdfplumber): headings by their type size,
tables as rows, and the running header and footer left out.

pypdf gives one line per printed line and a table cell per line ("Motor" / "Industriemotor, 360 Watt"), so a
data sheet's figures reached neither retrieval nor a letter as a sentence; and every page was one section
without a title, so "2. Technische Daten" did not help to find its passage.
"""

from __future__ import annotations

import re
import statistics
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HEADING_SIZE = 1.15  # a line printed this much larger than the body text is a heading
MAX_HEADING_CHARS = 120
MARGIN = 0.1


@dataclass
class Block:
    """A heading, a line of body text or a table (its rows), in reading order."""

    kind: str  # "heading" | "line" | "table"
    text: str = ""
    rows: list[list[str]] | None = None
    margin: bool = False  # printed in the top or bottom tenth of the page, where running headers and footers are
    size: float = 0.0  # the type size (two heading lines of one size are one heading)


def page_blocks(path: Path, max_pages: int) -> list[list[Block]]:
    """The blocks of each page, page by page; lines repeated on most pages (running header, footer, page numbers)
    are left out."""
    import pdfplumber  # only here, and only in the PDF child process

    with pdfplumber.open(str(path)) as pdf:
        pages = [_blocks(page) for page in pdf.pages[:max_pages]]
    return _without_running_lines(pages)


def _blocks(page: Any) -> list[Block]:
    tables = [t for t in page.find_tables() if len(t.rows) >= 2]
    boxes = [t.bbox for t in tables]

    def outside(obj: dict[str, Any]) -> bool:
        if obj.get("object_type") != "char":
            return True
        x, top = (obj["x0"] + obj["x1"]) / 2, (obj["top"] + obj["bottom"]) / 2
        return not any(x0 <= x <= x1 and t0 <= top <= t1 for x0, t0, x1, t1 in boxes)

    lines = page.filter(outside).extract_text_lines()
    body = statistics.median([c["size"] for line in lines for c in line["chars"]] or [0.0])
    placed: list[tuple[float, Block]] = []
    for line in lines:
        size = statistics.median(c["size"] for c in line["chars"])
        text = _numbered(line, size)
        heading = body and size >= HEADING_SIZE * body and len(text) <= MAX_HEADING_CHARS
        margin = line["top"] < MARGIN * page.height or line["bottom"] > (1 - MARGIN) * page.height
        placed.append((line["top"], Block("heading" if heading else "line", text, margin=margin, size=size)))
    for table in tables:
        rows = [[cell or "" for cell in row] for row in table.extract()]
        placed.append((table.bbox[1], Block("table", rows=rows)))
    return [block for _, block in sorted(placed, key=lambda item: item[0])]


_DIGITS = re.compile(r"\d+")
_STEP = re.compile(r"^(\d{1,2}) (?=\S)")


def _numbered(line: dict[str, Any], size: float) -> str:
    """A step number printed in a column of its own ("1    Stellen Sie …") becomes a list item ("1. Stellen Sie
    …"); a sentence that starts with a number ("12 kostenlose Parkplätze …") is set with a plain space."""
    text: str = line["text"].strip()
    match = _STEP.match(text)
    chars = line["chars"]
    if match and len(chars) > len(match.group(1)):
        digits = len(match.group(1))
        if chars[digits]["x0"] - chars[digits - 1]["x1"] > 0.35 * size:  # a space is ~0.28 em
            return f"{match.group(1)}. {text[match.end():]}"
    return text


def _without_running_lines(pages: list[list[Block]]) -> list[list[Block]]:
    """A line in the page margin printed on more than half of the pages (digits aside: "Seite 2 von 3") is the
    running header or footer, not content; a one-page document keeps everything."""
    if len(pages) < 2:
        return pages
    counts: Counter[str] = Counter()
    for page in pages:
        counts.update({_DIGITS.sub("#", b.text) for b in page if b.kind != "table" and b.margin})
    running = {text for text, n in counts.items() if n > len(pages) / 2}
    return [[b for b in page if not (b.margin and _DIGITS.sub("#", b.text) in running)] for page in pages]
