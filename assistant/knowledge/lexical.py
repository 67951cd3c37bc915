"""BM25 ranking (bm25s, the only module importing it) over German stems or character n-grams. The index lives
in memory and is rebuilt from the catalogue when the catalogue changes (milliseconds for thousands of
chunks)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from assistant.knowledge.text import content_terms

Analyzer = Callable[[str], list[str]]


class LexicalIndex:
    def __init__(self, chunk_ids: list[str], texts: list[str], analyzer: Analyzer = content_terms) -> None:
        import bm25s  # bm25s pulls in scipy: only when an index is built

        self.chunk_ids = chunk_ids
        self._analyzer = analyzer
        self._retriever: bm25s.BM25 | None = None
        self._vocab: dict[str, int] = {}
        corpus = [analyzer(text) for text in texts]
        if any(corpus):
            vocab: dict[str, int] = {}
            ids = [[vocab.setdefault(term, len(vocab)) for term in doc] for doc in corpus]
            self._retriever = bm25s.BM25(k1=1.2, b=0.75)
            self._retriever.index(bm25s.tokenization.Tokenized(ids=ids, vocab=vocab), show_progress=False)
            self._vocab = vocab

    def scores(self, query: str) -> np.ndarray:
        """BM25 score of every chunk (aligned with ``chunk_ids``); zeros when nothing matches."""
        terms = [t for t in self._analyzer(query) if t in self._vocab]
        if self._retriever is None or not terms:
            return np.zeros(len(self.chunk_ids), dtype=np.float32)
        ids = [self._vocab[t] for t in terms]
        return np.asarray(self._retriever.get_scores(ids), dtype=np.float32)
