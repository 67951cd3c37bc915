"""The nouns Kontor works with. JSON contracts of the CLI and API are these models' dumps."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from assistant.errors import InputError


def checked_text(text: object, max_chars: int, what: str = "Der Text") -> str:
    """The text stripped, or an InputError that says in German what is wrong with it."""
    if not isinstance(text, str):
        raise InputError(f"{what} muss Text sein.")
    controls = sum(1 for ch in text if ord(ch) < 32 and ch not in "\n\r\t")
    if controls > max(2, len(text) // 20):  # bytes of a binary file, not something a person wrote
        raise InputError(f"{what} enthält Binärdaten statt Text.")
    text = text.replace("\x00", "").strip()
    if not text:
        raise InputError(f"{what} ist leer.")
    if len(text) > max_chars:
        raise InputError(f"{what} ist zu lang ({len(text)} Zeichen, höchstens {max_chars}).")
    return text


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
    internal: bool = False  # from a document marked "nur intern": never quoted to a customer

    def contract(self) -> dict[str, object]:
        """The search JSON contract shared by the CLI and the API."""
        return self.model_dump(include={"rank", "score", "source", "title", "chunk_id", "text", "internal"})


class Citation(BaseModel):
    n: int
    source: str
    chunk_id: str
    quote: str


AnswerMethod = Literal["generated", "extractive", "proven", "handover"]


class DraftSection(BaseModel):
    """One paragraph of the letter: the customer's question, its answer in clean prose (or the hand-over line),
    and the numbers of the citations it rests on (shown to the agent beside the paragraph, never to the customer)."""

    question: str
    text: str
    handover: bool = False
    method: AnswerMethod = "extractive"
    citations: list[int] = Field(default_factory=list)
    support: float = 0.0


class DraftFlag(BaseModel):
    """A promise in the reply that a person must confirm before sending (assistant/answer/promises.py)."""

    kind: Literal["money", "discount", "compensation", "deadline", "legal"]
    text: str


class Draft(BaseModel):
    """A drafted reply: a German letter in clean prose (salutation, one paragraph per question, closing), each
    paragraph's sources in ``sections``/``citations``; or an honest hand-over to a person."""

    answer: str
    citations: list[Citation] = Field(default_factory=list)
    sections: list[DraftSection] = Field(default_factory=list)
    flags: list[DraftFlag] = Field(default_factory=list)
    handover: bool = False  # the whole request goes to a person (single questions may be handed over in sections)
    method: AnswerMethod = "extractive"
    prompt_version: str
    model: str
    model_sha256: str = ""
    sources: list[SearchHit] = Field(default_factory=list, exclude=True)
    notes: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
    model_text: str = Field("", exclude=True)  # the model's raw output, before verification (for evaluation)
    usage: dict[str, int] = Field(default_factory=dict, exclude=True)  # prompt_tokens, completion_tokens


class CategoryScore(BaseModel):
    category: str
    name: str
    confidence: float


class Categorisation(BaseModel):
    """The category of one text, how sure, and which path decided (the JSON contract of CLI and API)."""

    category: str
    name: str
    team: str
    confidence: float
    method: Literal["example", "classifier", "classifier+model", "model", "descriptions"]
    alternatives: list[CategoryScore] = Field(default_factory=list)
    prompt_version: str | None = None  # set when the model was asked
    notes: list[str] = Field(default_factory=list)
    timings_ms: dict[str, float] = Field(default_factory=dict)
