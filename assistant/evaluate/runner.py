"""Runs a prompt version over the evaluation cases. Every case result is cached under (prompt file, model
file, knowledge, input): re-running an unchanged version costs nothing, and a run that was interrupted
resumes where it stopped."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy.exc import IntegrityError

from assistant.categorise.categoriser import Categoriser, FixedExamples
from assistant.evaluate.cases import EvalCase
from assistant.evaluate.metrics import CITATION
from assistant.grounding import sentences
from assistant.prompts import PromptVersion, file_sha256
from assistant.store.tables import EvalCacheEntry

if TYPE_CHECKING:
    from assistant.services import Services

Record = dict[str, Any]
Progress = Callable[[str], None]


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
    def __init__(self, services: Services) -> None:
        self.services = services

    def subject(self, task: str, prompt_ref: str) -> Subject:
        """``production``, ``candidate``, ``N`` or ``task@vN``."""
        label = prompt_ref.split("@", 1)[1] if "@" in prompt_ref else prompt_ref
        prompt = self.services.prompts.resolve(task, label)
        llm = self.services.llm
        return Subject(task, prompt, file_sha256(prompt.path), llm.sha256 or llm.name)

    def run(self, subject: Subject, cases: list[EvalCase], progress: Progress | None = None) -> dict[str, Record]:
        context = self._context(subject)
        records: dict[str, Record] = {}
        for case in cases:
            key = hashlib.sha256(json.dumps([context, case.text]).encode()).hexdigest()
            cached = self._cached(key)
            if cached is None:
                categorise = subject.task == "categorise"
                cached = self._categorise(subject, case) if categorise else self._answer(subject, case)
                self._store(key, subject.task, cached)
            records[case.id] = cached
            if progress is not None:
                progress(case.id)
        return records

    def _context(self, subject: Subject) -> list[str]:
        """Everything besides the input that changes a result."""
        documents = self.services.catalogue.documents()
        knowledge = hashlib.sha256(json.dumps(sorted((s, d.sha256) for s, d in documents.items())).encode())
        categories = file_sha256(self.services.settings.categories_file)
        letter = file_sha256(self.services.prompts.resolve("letter", "production").path)
        return [subject.task, subject.ref, subject.prompt_sha256, subject.model_sha256, knowledge.hexdigest(),
                categories, letter, pipeline_revision()]

    def _answer(self, subject: Subject, case: EvalCase) -> Record:
        services = self.services
        if subject.task == "letter":  # the letter under test around the production answer prompt
            answerer = services.answerer("production", proven=False, letter=subject.prompt)
        else:
            answerer = services.answerer(subject.prompt, proven=False)
        draft = answerer.reply(case.input.subject, case.input.body, case.input.customer or None)
        chunks = services.catalogue.get_chunks([c.chunk_id for c in draft.citations])
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
        services = self.services
        # the file's examples only: stored corrections may contain the evaluation texts themselves
        categoriser = Categoriser(services.categories, FixedExamples(), lambda: services.llm, subject.prompt,
                                  services.company, services.categoriser.policy)
        result = categoriser.categorise(case.text[: services.settings.max_question_chars])
        return {"category": result.category, "confidence": result.confidence, "method": result.method,
                "timings_ms": result.timings_ms}

    def _cached(self, key: str) -> Record | None:
        with self.services.database.session() as session:
            entry = session.get(EvalCacheEntry, key)
            return dict(entry.value) if entry else None

    def _store(self, key: str, task: str, value: Record) -> None:
        try:
            with self.services.database.session() as session:
                session.add(EvalCacheEntry(key=key, task=task, value=value))
        except IntegrityError:  # another run stored the same case meanwhile: same result
            pass
