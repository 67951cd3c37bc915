"""Scripted fakes for fast unit tests: answers are enqueued, calls are recorded in ``history``."""

from __future__ import annotations

import hashlib
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
