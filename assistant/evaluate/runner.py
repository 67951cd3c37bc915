"""Runs a prompt version over the evaluation cases. Every case result is cached under (prompt file, model
file, knowledge, input): re-running an unchanged version costs nothing, and a run that was interrupted
resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.exc import IntegrityError

from assistant.answer import Answerer
from assistant.categorise.categoriser import Categoriser, FixedExamples
from assistant.evaluate.cases import EvalCase
from assistant.evaluate.metrics import CITATION
from assistant.grounding import sentences
from assistant.knowledge.catalogue import Catalogue
from assistant.llm import LLM
from assistant.prompts import PromptLibrary, PromptVersion, file_sha256
from assistant.store.db import Database
from assistant.store.tables import EvalCacheEntry

Record = dict[str, Any]
Progress = Callable[[str], None]


class AnswererFactory(Protocol):
    """An answerer for a prompt version; ``proven=False`` never reuses approved answers, ``letter`` replaces the
    production letter template."""

    def __call__(self, prompt_ref: str | PromptVersion = ..., proven: bool = ...,
                 letter: PromptVersion | None = ...) -> Answerer: ...


YIELD_S, YIELD_STEP_S = 300.0, 0.5  # an evaluation case waits for ticket drafting at most this long


@dataclass(frozen=True)
class EvalParts:
    """What an evaluation run uses. The model and the production categoriser are asked for when a run needs
    them: the model is loaded only then, and a promotion replaces the categoriser."""

    database: Database  # the result cache, the recorded runs, the reviewers' ratings
    prompts: PromptLibrary
    catalogue: Catalogue  # the knowledge as indexed
    llm: Callable[[], LLM]
    answerer: AnswererFactory
    categoriser: Callable[[], Categoriser]  # production: its categories, company facts and policy are reused
    categories_file: Path
    eval_dir: Path  # cases/, baselines/, reports/
    tickets_first: Callable[[], bool] = lambda: False  # True while tickets are drafted, in any process (JobQueue.busy)


@dataclass(frozen=True)
class Subject:
    """What is evaluated: one prompt version of one task on one model, with the knowledge as indexed."""

    task: str
    prompt: PromptVersion
    prompt_sha256: str
    model_sha256: str

    @property
    def ref(self) -> str:
        return self.prompt.ref


# The code that decides what a case yields: a change to any of it makes cached results of the old code stale.
_PIPELINE_CODE = ("answer/*.py", "reading.py", "mailparts.py", "grounding.py", "knowledge/*.py", "categorise/*.py",
                  "prompts.py", "templating.py")


@lru_cache(maxsize=1)
def pipeline_revision() -> str:
    root = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for pattern in _PIPELINE_CODE:
        for path in sorted(root.glob(pattern)):
            digest.update(path.read_bytes())
    return digest.hexdigest()


class EvalRunner:
    def __init__(self, parts: EvalParts) -> None:
        self.parts = parts

    def subject(self, task: str, prompt_ref: str) -> Subject:
        """``production``, ``candidate``, ``N`` or ``task@vN``."""
        label = prompt_ref.split("@", 1)[1] if "@" in prompt_ref else prompt_ref
        prompt = self.parts.prompts.resolve(task, label)
        llm = self.parts.llm()
        return Subject(task, prompt, file_sha256(prompt.path), llm.sha256 or llm.name)

    def run(self, subject: Subject, cases: list[EvalCase], progress: Progress | None = None) -> dict[str, Record]:
        context = self._context(subject)
        records: dict[str, Record] = {}
        for case in cases:
            key = hashlib.sha256(json.dumps([context, case.text]).encode()).hexdigest()
            cached = self._cached(key)
            if cached is None:
                self._after_tickets()
                categorise = subject.task == "categorise"
                cached = self._categorise(subject, case) if categorise else self._answer(subject, case)
                self._store(key, subject.task, cached)
            records[case.id] = cached
            if progress is not None:
                progress(case.id)
        return records

    def _after_tickets(self) -> None:
        """Customers go first: while ticket drafts wait or run in any process on the database (the web process's
        threads, `kontor worker` elsewhere), the next case waits — at most ``YIELD_S``, so a busy day delays an
        evaluation but never stops it."""
        waited = 0.0
        while waited < YIELD_S and self.parts.tickets_first():
            time.sleep(YIELD_STEP_S)
            waited += YIELD_STEP_S

    def _context(self, subject: Subject) -> list[str]:
        """Everything besides the input that changes a result."""
        documents = self.parts.catalogue.documents()
        knowledge = hashlib.sha256(json.dumps(sorted((s, d.sha256) for s, d in documents.items())).encode())
        categories = file_sha256(self.parts.categories_file)
        letter = file_sha256(self.parts.prompts.resolve("letter", "production").path)
        return [subject.task, subject.ref, subject.prompt_sha256, subject.model_sha256, knowledge.hexdigest(),
                categories, letter, pipeline_revision()]

    def _answer(self, subject: Subject, case: EvalCase) -> Record:
        parts = self.parts
        if subject.task == "letter":  # the letter under test around the production answer prompt
            answerer = parts.answerer("production", proven=False, letter=subject.prompt)
        else:
            answerer = parts.answerer(subject.prompt, proven=False)
        draft = answerer.reply(case.input.subject, case.input.body, case.input.customer or None)
        chunks = parts.catalogue.get_chunks([c.chunk_id for c in draft.citations])
        model_sentences = [x for x in sentences(draft.model_text) if len(x.split()) >= 3]
        return {
            "answer": draft.answer, "handover": draft.handover, "method": draft.method,
            "sections": [x.model_dump() for x in draft.sections], "notes": draft.notes,
            "citations": [c.model_dump() for c in draft.citations],
            "retrieved": list(dict.fromkeys(h.source for h in draft.sources))[:10],
            "quotes_valid": all(c.quote in chunks[c.chunk_id].text for c in draft.citations if c.chunk_id in chunks)
            and all(c.chunk_id in chunks for c in draft.citations),
            "model_text": draft.model_text, "model_sentences": len(model_sentences),
            "model_cited": sum(bool(CITATION.search(x)) for x in model_sentences),
            "model_kept": min(draft.usage.get("kept_sentences", 0), len(model_sentences)),
            "timings_ms": draft.timings_ms, "usage": draft.usage,
        }

    def _categorise(self, subject: Subject, case: EvalCase) -> Record:
        production = self.parts.categoriser()
        # the file's examples only: stored corrections may contain the evaluation texts themselves
        categoriser = Categoriser(production.categories, FixedExamples(), self.parts.llm, subject.prompt,
                                  production.company, production.policy)
        result = categoriser.categorise(case.text[: production.policy.max_chars])  # settings.answer.max_question_chars
        return {"category": result.category, "confidence": result.confidence, "method": result.method,
                "timings_ms": result.timings_ms}

    def _cached(self, key: str) -> Record | None:
        with self.parts.database.session() as session:
            entry = session.get(EvalCacheEntry, key)
            return dict(entry.value) if entry else None

    def _store(self, key: str, task: str, value: Record) -> None:
        try:
            with self.parts.database.session() as session:
                session.add(EvalCacheEntry(key=key, task=task, value=value))
        except IntegrityError:  # another run stored the same case meanwhile: same result
            pass
