"""The nouns Kontor works with. JSON contracts of the CLI and API are these models' dumps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class Chunk(BaseModel):
    """One retrievable passage of a knowledge document."""

    chunk_id: str
    source: str  # path relative to the knowledge folder, or "proven/<id>"
    title: str
    section: str = ""
    page: int | None = None
    ordinal: int = 0
    text: str

    def index_text(self) -> str:
        """What the lexical and dense indexes see: the heading path helps short passages match."""
        head = " – ".join(part for part in (self.title, self.section) if part)
        return f"{head}\n{self.text}" if head else self.text


class SearchHit(BaseModel):
    rank: int
    score: float
    source: str
    title: str
    chunk_id: str
    text: str
    section: str = ""
    page: int | None = None

    def contract(self) -> dict[str, object]:
        """The search JSON contract shared by the CLI and the API."""
        return self.model_dump(include={"rank", "score", "source", "title", "chunk_id", "text"})


class Citation(BaseModel):
    n: int
    source: str
    chunk_id: str
    quote: str


AnswerMethod = Literal["generated", "extractive", "proven", "handover"]


class Draft(BaseModel):
    """A drafted answer: text with [n] citations, or an honest hand-over to a person."""

    answer: str
    citations: list[Citation] = Field(default_factory=list)
    handover: bool = False
    method: AnswerMethod = "extractive"
    prompt_version: str
    model: str
    model_sha256: str = ""
    sources: list[SearchHit] = Field(default_factory=list, exclude=True)
    notes: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
