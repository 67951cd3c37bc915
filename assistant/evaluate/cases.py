"""Evaluation cases ``eval/cases/*.yaml`` (JSON Schema beside them): what a human expects of an answer or a
category, and how people rated drafts."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, Field, ValidationError

from assistant.errors import InputError


class CaseError(InputError):
    """A case file is missing or invalid."""


class CaseInput(BaseModel):
    subject: str = ""
    body: str = Field(min_length=1)
    customer: str = ""


class QuestionExpectation(BaseModel):
    """One of several questions in a mail: the facts its paragraph must contain, or that it is handed over."""

    question: str = ""
    facts: list[str | list[str]] = Field(default_factory=list)
    handover: bool = False


class Expectations(BaseModel):
    category: str | None = None
    facts: list[str | list[str]] = Field(default_factory=list)
    forbidden: list[str] = Field(default_factory=list)
    sources: list[str] = Field(default_factory=list)
    handover: bool = False
    questions: list[QuestionExpectation] = Field(default_factory=list)  # per question, for multi-question mails


class Rating(BaseModel):
    rater: str
    score: int = Field(ge=1, le=5)
    comment: str = ""
    date: date
    prompt_version: int = Field(ge=1)


class EvalCase(BaseModel):
    id: str
    task: Literal["answer", "categorise"]
    input: CaseInput
    expectations: Expectations
    reference_answer: str = ""
    ratings: list[Rating] = Field(default_factory=list)

    @property
    def text(self) -> str:
        """What the pipeline sees: subject and body, as a ticket is drafted."""
        return f"{self.input.subject}\n\n{self.input.body}".strip()

    @property
    def question(self) -> str:
        """The customer's question on one line, as a report shows it beside the case: ``subject – text``."""
        return " – ".join(part for part in (self.input.subject.strip(), " ".join(self.input.body.split())) if part)


def load_cases(folder: Path) -> list[EvalCase]:
    cases = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            case = EvalCase(**(yaml.safe_load(path.read_text(encoding="utf-8")) or {}))
        except (yaml.YAMLError, ValidationError, TypeError) as exc:
            raise CaseError(f"{path.name}: ungültiger Evaluationsfall – {exc}") from exc
        if case.id != path.stem:
            raise CaseError(f"{path.name}: id '{case.id}' passt nicht zum Dateinamen")
        cases.append(case)
    if not cases:
        raise CaseError(f"Keine Evaluationsfälle in {folder}")
    return cases


def cases_for(task: str, cases: list[EvalCase]) -> list[EvalCase]:
    """Answer cases for ``answer`` and ``letter`` (a letter template is judged by the replies it makes); every
    case that names a category for ``categorise``."""
    if task in ("answer", "letter"):
        return [c for c in cases if c.task == "answer"]
    return [c for c in cases if c.expectations.category]
