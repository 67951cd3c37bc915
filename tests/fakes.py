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
        self.queue: list[str] = []
        self.history: list[list[Message]] = []

    def enqueue(self, *answers: str) -> FakeLLM:
        self.queue.extend(answers)
        return self

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        self.history.append(messages)
        answer = self.queue.pop(0) if self.queue else ""
        for word in answer.split(" "):
            yield word + " "

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        self.history.append(messages)
        return self.queue.pop(0)


class FakeEmbedder:
    """Bag of hashed stems: texts sharing topic words get similar unit vectors."""

    name = "fake-embedder"
    dimension = 64

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for term in content_terms(text) or ["leer"]:
                out[row, int(hashlib.md5(term.encode()).hexdigest(), 16) % self.dimension] += 1.0
        return out / np.linalg.norm(out, axis=1, keepdims=True)
