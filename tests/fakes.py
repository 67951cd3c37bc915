"""Scripted fakes for fast unit tests: answers are enqueued, calls are recorded in ``history``; ``CASES`` is a tiny
evaluation set for them."""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from assistant.knowledge.text import content_terms
from assistant.llm import GenerationParams, Message


class FakeLLM:
    name = "fake"
    sha256 = "0" * 64

    def __init__(self) -> None:
        self.queue: list[str | Exception] = []
        self.history: list[list[Message]] = []
        self.schemas: list[dict[str, Any]] = []

    def enqueue(self, *answers: str | Exception) -> FakeLLM:
        """Answers in order; an exception instance is raised instead of answering."""
        self.queue.extend(answers)
        return self

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        self.history.append(messages)
        answer = self._next() if self.queue else ""
        for word in answer.split(" "):
            yield word + " "

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        self.history.append(messages)
        self.schemas.append(schema)
        return self._next()

    def _next(self) -> str:
        answer = self.queue.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


class FakeEmbedder:
    """Bag of hashed stems: texts sharing topic words get similar unit vectors."""

    name = "fake-embedder"
    dimension = 64
    similarity_floor, similarity_span = 0.0, 1.0
    identity = "fake-embedder v1"

    def embed_query(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed_passages(self, texts: list[str]) -> np.ndarray:
        return self.embed(texts)

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in content_terms(text) or ["leer"]:
                out[row, int(hashlib.md5(term.encode()).hexdigest(), 16) % self.dimension] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)


# --- evaluation -----------------------------------------------------------------------------------------------

CASES = [
    {"id": "answer-001", "task": "answer",
     "input": {"subject": "Versand", "body": "Was kostet der Versand nach Österreich?", "customer": "E. M."},
     "expectations": {"category": "lieferverzug", "facts": ["5,90"], "forbidden": ["kostenlos"],
                      "sources": ["versand.md"], "handover": False},
     "reference_answer": "5,90 €.",
     "ratings": [{"rater": "S. O.", "score": 4, "comment": "", "date": "2026-11-20", "prompt_version": 1}]},
    {"id": "answer-002", "task": "answer",
     "input": {"subject": "Rechnung", "body": "Bis zu welchem Betrag ist der Rechnungskauf möglich?"},
     "expectations": {"category": "rechnung_zahlung", "facts": ["1.500"], "forbidden": [],
                      "sources": ["zahlung.md"], "handover": False},
     "reference_answer": "Bis 1.500 €.", "ratings": []},
    {"id": "answer-003", "task": "answer",
     "input": {"subject": "Aktien", "body": "Wie entwickelt sich Ihr Aktienkurs im nächsten Quartal?"},
     "expectations": {"category": None, "facts": [], "forbidden": [], "sources": [], "handover": True},
     "reference_answer": "Übergabe.", "ratings": []},
]


class CitingLLM:
    """A scripted model for evaluation tests: it answers with the source sentence that shares most words with the
    question, and adds "[1]" when the system prompt asks for citations ("eckigen Klammern", the wording of the
    project's answer prompt v1) — so a prompt version without that instruction measurably cites nothing, which is
    what the release-gate tests need to see. Categorisation picks the first category."""

    name, sha256 = "citing-fake", "c" * 64

    def __init__(self) -> None:
        self.calls = 0

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        self.calls += 1
        first = re.search(r"^\[1\][^:]*: (.+)$", messages[1]["content"], re.M)
        question = set(messages[1]["content"].rsplit("Kundenanfrage", 1)[1].lower().split())
        options = re.split(r"(?<=[.!?]) ", first.group(1)) if first else ["Keine Angabe"]
        sentence = max(options, key=lambda s: len(question & set(s.lower().split()))).rstrip(".")
        cites = "eckigen Klammern" in messages[0]["content"]
        yield f"{sentence} [1]." if cites else f"{sentence}."

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        self.calls += 1
        return json.dumps({"category": schema["properties"]["category"]["enum"][0]})


class GatedLLM(CitingLLM):
    """The citing model that waits at every call until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__()
        self.gate, self.called = threading.Event(), threading.Event()

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        self.called.set()
        assert self.gate.wait(60), "the test never opened the gate"
        yield from super().stream(messages, params)
