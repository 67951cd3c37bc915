"""Structure-aware chunking: sections stay whole when short, long ones split at paragraph then sentence
boundaries. Chunk ids are content hashes, so an unchanged passage keeps its id across re-indexing."""

from __future__ import annotations

import hashlib
import re

from assistant.domain import Chunk
from assistant.knowledge.loaders import LoadedDocument
from assistant.knowledge.sentences import split_sentences

MAX_CHARS = 500
MIN_CHARS = 40  # smaller trailing pieces are merged into their neighbour


def chunk_document(source: str, doc: LoadedDocument, max_chars: int = MAX_CHARS) -> list[Chunk]:
    chunks: list[Chunk] = []
    for section in doc.sections:
        for piece in _split(_normalise(section.text), max_chars):
            digest = hashlib.sha256(
                f"{source}\x1f{section.page}\x1f{section.heading}\x1f{piece}".encode()
            ).hexdigest()[:16]
            chunks.append(
                Chunk(
                    chunk_id=digest,
                    source=source,
                    title=doc.title,
                    section=section.heading,
                    page=section.page,
                    ordinal=len(chunks),
                    text=piece,
                )
            )
    return _dedupe(chunks)


def _normalise(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\u00ad", "")
    text = re.sub(r"[ \t\u00a0]+", " ", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def _split(text: str, max_chars: int) -> list[str]:
    if len(text) <= max_chars:
        return [text] if text else []
    pieces: list[str] = []
    for paragraph in re.split(r"\n\s*\n", text):
        paragraph = paragraph.strip()
        if len(paragraph) <= max_chars:
            pieces.append(paragraph)
            continue
        lines = paragraph.splitlines()
        units = _table_rows(lines) if lines[0].lstrip().startswith("|") else split_sentences(paragraph)
        for unit in units:
            pieces.extend(_hard_split(unit, max_chars))
    return _pack([p for p in pieces if p], max_chars)


def _table_rows(lines: list[str]) -> list[str]:
    """A long table: groups of rows, each under the table's header, so every piece still says what a cell means."""
    header = lines[:2] if len(lines) > 1 and set(lines[1].strip()) <= set("|:- ") else lines[:1]
    rows = lines[len(header):]
    groups, current = [], list(header)
    for row in rows:
        if len(current) > len(header) and sum(len(x) + 1 for x in current) + len(row) > MAX_CHARS:
            groups.append("\n".join(current))
            current = list(header)
        current.append(row)
    return groups + ["\n".join(current)]


def _hard_split(sentence: str, max_chars: int) -> list[str]:
    """A single sentence longer than a chunk (tables, lists without punctuation): cut at spaces."""
    if len(sentence) <= max_chars:
        return [sentence]
    words, out, current = sentence.split(" "), [], ""
    for word in words:
        if current and len(current) + 1 + len(word) > max_chars:
            out.append(current)
            current = word[:max_chars]
        else:
            current = f"{current} {word}".strip()[: max_chars]
    return out + ([current] if current else [])


def _pack(units: list[str], max_chars: int) -> list[str]:
    packed: list[str] = []
    for unit in units:
        if packed and len(packed[-1]) + 2 + len(unit) <= max_chars:
            packed[-1] = f"{packed[-1]}\n\n{unit}"
        else:
            packed.append(unit)
    if len(packed) > 1 and len(packed[-1]) < MIN_CHARS:
        tail = packed.pop()
        packed[-1] = f"{packed[-1]}\n\n{tail}"
    return packed


def _dedupe(chunks: list[Chunk]) -> list[Chunk]:
    seen: set[str] = set()
    unique = []
    for chunk in chunks:
        if chunk.chunk_id not in seen:
            seen.add(chunk.chunk_id)
            unique.append(chunk)
    return unique
