"""What is learned from text: a linear classifier over word and character n-grams of the labelled examples,
and the similarity of a text to each category's own description. The only module importing scikit-learn.

Features are hashed, so no vocabulary has to be rebuilt: refitting on a few thousand examples takes well
under a second (see bench/RESULTS.md), which is why every new example is used by the next call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_FEATURES = 2**18  # per channel; collisions cost nothing measurable at this size (bench: 0.333 vs 0.332)


def _vectorisers() -> tuple[Any, Any]:
    # scikit-learn takes ~1 s to import: only when a classifier is built
    from sklearn.feature_extraction.text import HashingVectorizer

    words = HashingVectorizer(ngram_range=(1, 2), alternate_sign=False, norm=None, n_features=_FEATURES)
    chars = HashingVectorizer(
        analyzer="char_wb", ngram_range=(2, 5), alternate_sign=False, norm=None, n_features=_FEATURES
    )
    return words, chars


class ExampleClassifier:
    """Linear SVM with class weights balanced, so rare categories are not drowned by the frequent one."""

    def __init__(self, texts: Sequence[str], labels: Sequence[str], c: float = 0.3) -> None:
        import scipy.sparse as sp  # scikit-learn takes ~1 s to import: only when a classifier is built
        from sklearn.feature_extraction.text import TfidfTransformer
        from sklearn.svm import LinearSVC

        self._words, self._chars = _vectorisers()
        self._sparse = sp
        counts = self._counts(texts)
        self._tfidf = TfidfTransformer(sublinear_tf=True).fit(counts)
        self._svm = LinearSVC(C=c, class_weight="balanced").fit(self._tfidf.transform(counts), list(labels))
        self.classes: list[str] = [str(c) for c in self._svm.classes_]

    def _counts(self, texts: Sequence[str]) -> Any:
        return self._sparse.hstack([self._words.transform(texts), self._chars.transform(texts)]).tocsr()

    def decision(self, texts: Sequence[str]) -> np.ndarray:
        """(n_texts, n_classes) margins; with two classes sklearn returns one column, made symmetric here."""
        scores = np.asarray(self._svm.decision_function(self._tfidf.transform(self._counts(texts))))
        if scores.ndim == 1:
            scores = np.stack([-scores, scores], axis=1)
        return scores


class DescriptionMatcher:
    """Cosine similarity of character 4–5-grams between a text and each category's name + description +
    example texts: how a person reading the categories file would sort a message."""

    def __init__(self, profiles: Sequence[str], corpus: Sequence[str]) -> None:
        # scikit-learn takes ~1 s to import: only when a classifier is built
        from sklearn.feature_extraction.text import TfidfVectorizer

        # idf from the profiles and the known texts: fragments common to every message weigh little
        self._vectoriser = TfidfVectorizer(analyzer="char_wb", ngram_range=(4, 5), sublinear_tf=True)
        self._vectoriser.fit([*profiles, *corpus])
        self._profiles = self._vectoriser.transform(profiles)

    def similarity(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray((self._vectoriser.transform(texts) @ self._profiles.T).toarray())
