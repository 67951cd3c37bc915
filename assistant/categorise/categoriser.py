"""Sorting a text into one of the company's categories.

Paths, in order (the result says which one decided):
- ``example``: the text is a labelled example — a person already said where it belongs;
- ``classifier``: with enough examples, a classifier learned from them, plus the category descriptions, leads;
- ``classifier+model``: the classifier is unsure, so the language model picks one of its best candidates, and
  that pick gains a score bonus (``model_bonus``: small for the embedded model, larger for a strong one);
- ``model``: with few examples, the model picks among the categories whose descriptions fit best, same bonus;
- ``descriptions``: few examples and no model answer — the best-fitting description decides.
The model can only answer with ids from the categories file: its output is constrained by a JSON schema.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np

from assistant.categorise.categories import CategorySet
from assistant.categorise.classifier import DescriptionMatcher, ExampleClassifier
from assistant.categorise.examples import text_hash
from assistant.domain import Categorisation, CategoryScore, checked_text
from assistant.llm import LLM, LLMError
from assistant.prompts import PromptError, PromptVersion

Method = Literal["example", "classifier", "classifier+model", "model", "descriptions"]


class ExampleSource(Protocol):
    """Labelled examples (the ExampleStore): ``revision`` is cheap and asked on every call; ``pairs`` loads them
    all and is asked only when the revision changed."""

    def revision(self) -> object: ...

    def pairs(self) -> list[tuple[str, str]]: ...


@dataclass(frozen=True)
class FixedExamples:
    """A set of examples that never changes (evaluation, benchmarks)."""

    examples: tuple[tuple[str, str], ...] = ()

    def revision(self) -> object:
        return len(self.examples)

    def pairs(self) -> list[tuple[str, str]]:
        return list(self.examples)


@dataclass(frozen=True)
class CategorisePolicy:
    min_examples: int = 50  # below this the descriptions and the model decide
    description_weight: float = 3.0  # weight of the description channel beside the classifier margins
    sharpness: float = 8.0  # softmax factor turning scores into confidences (lowest log-loss on GermEval)
    unsure_below: float = 0.5  # the classifier asks the model below this confidence
    model_candidates: int = 3
    model_bonus: float = 0.1  # score the model's pick gains: the tiny embedded model only breaks near-ties
    max_chars: int = 8000


@dataclass
class _Fitted:
    revision: object
    classifier: ExampleClassifier | None
    matcher: DescriptionMatcher
    labelled: dict[str, str]  # text hash -> category
    n_examples: int


class Categoriser:
    def __init__(
        self, categories: CategorySet, examples: ExampleSource, llm: Callable[[], LLM] | None,
        prompt: PromptVersion | None,
        company: dict[str, str] | None = None, policy: CategorisePolicy | None = None,
    ) -> None:
        self.categories = categories
        self.examples = examples
        self.llm = llm  # a factory: the model is loaded only when a text needs it
        self.prompt = prompt
        self.company = company or {}
        self.policy = policy or CategorisePolicy()
        self._fitted: _Fitted | None = None
        self._lock = threading.Lock()

    def categorise(self, text: str, use_model: bool = True) -> Categorisation:
        text = checked_text(text, self.policy.max_chars, "Der Text")
        started = time.perf_counter()
        fitted = self.fitted()
        known = fitted.labelled.get(text_hash(text))
        if known is not None:
            probs = np.zeros(len(self.categories.ids))
            probs[self.categories.ids.index(known)] = 1.0
            return self._result(probs, "example", started)
        scores = self.scores(text, fitted)
        probs = _softmax(self.policy.sharpness * scores)
        leads = fitted.classifier is not None
        without_model: Method = "classifier" if leads else "descriptions"
        sure = leads and probs.max() >= self.policy.unsure_below
        if sure or not use_model or self.llm is None or self.prompt is None:
            return self._result(probs, without_model, started)
        choice, note = self.model_choice(text, scores)
        if choice is None:
            result = self._result(probs, without_model, started)
            result.notes.append(note)
            return result
        scores = scores.copy()
        scores[choice] += self.policy.model_bonus
        result = self._result(_softmax(self.policy.sharpness * scores), "classifier+model" if leads else "model",
                              started)
        result.prompt_version = self.prompt.ref
        return result

    def scores(self, text: str, fitted: _Fitted | None = None) -> np.ndarray:
        """One score per category (file order): description similarity, plus classifier margins once it leads."""
        fitted = fitted or self.fitted()
        scores = self.policy.description_weight * fitted.matcher.similarity([text])[0]
        if fitted.classifier is not None:
            scores += self._classifier_scores(fitted.classifier, text)
        return np.asarray(scores)

    def model_choice(self, text: str, scores: np.ndarray) -> tuple[int | None, str]:
        """Index of the category the model picks among the best-scored candidates, or None and why not."""
        if self.llm is None or self.prompt is None:
            return None, "kein Modell konfiguriert"
        order = [int(i) for i in np.argsort(-scores)[: self.policy.model_candidates]]
        candidates = [self.categories.categories[i] for i in order]
        schema = {
            "type": "object",
            "properties": {"category": {"type": "string", "enum": [c.id for c in candidates]}},
            "required": ["category"],
        }
        try:
            messages = self.prompt.render(self.company, text=text, candidates=candidates)
            answer = self.llm().complete_json(messages, schema, self.prompt.meta.params)
            index = self.categories.ids.index(self.categories.get(json.loads(answer)["category"]).id)
        except (LLMError, PromptError, ValueError, KeyError, TypeError) as exc:
            return None, f"Modell nicht genutzt: {exc}"
        if index not in order:  # cannot happen with a constrained backend; never trust it blindly
            return None, "Modell nicht genutzt: Antwort außerhalb der Kandidaten"
        return index, ""

    def fitted(self) -> _Fitted:
        """The learned state for the current examples; refitted (fast) whenever they changed."""
        revision = self.examples.revision()
        with self._lock:
            if self._fitted is None or self._fitted.revision != revision:
                self._fitted = self._fit(revision, self.examples.pairs())
            return self._fitted

    def _fit(self, revision: object, stored: list[tuple[str, str]]) -> _Fitted:
        pairs = self.categories.seed_examples() + stored
        texts = [t for t, _ in pairs]
        labels = [c for _, c in pairs]
        matcher = DescriptionMatcher([c.profile for c in self.categories.categories], texts)
        enough = len(pairs) >= self.policy.min_examples and len(set(labels)) >= 2
        classifier = ExampleClassifier(texts, labels) if enough else None
        labelled = {text_hash(t): c for t, c in stored}  # stored examples only: seeds are illustrations
        return _Fitted(revision, classifier, matcher, labelled, len(pairs))

    def _classifier_scores(self, classifier: ExampleClassifier, text: str) -> np.ndarray:
        margins = classifier.decision([text])[0]
        scores = np.full(len(self.categories.ids), -1.0)  # a category without examples: clearly "no"
        for column, category in enumerate(classifier.classes):
            scores[self.categories.ids.index(category)] = margins[column]
        return scores

    def _result(self, probs: np.ndarray, method: Method, started: float) -> Categorisation:
        order = np.argsort(-probs)
        best = self.categories.categories[order[0]]
        alternatives = [
            CategoryScore(category=c.id, name=c.name, confidence=round(float(probs[i]), 3))
            for i in order[1:4]
            for c in [self.categories.categories[i]]
        ]
        return Categorisation(
            category=best.id, name=best.name, team=best.team, confidence=round(float(probs[order[0]]), 3),
            method=method, alternatives=alternatives,
            timings_ms={"total": round((time.perf_counter() - started) * 1000, 1)},
        )


def _softmax(values: np.ndarray) -> np.ndarray:
    shifted = np.exp(values - values.max())
    return np.asarray(shifted / shifted.sum())
