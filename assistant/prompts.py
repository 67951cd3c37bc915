"""Versioned prompt files ``prompts/<task>/v<N>.md``: YAML front matter + a Jinja2 body with a ``[system]``
and a ``[user]`` part. ``prompts/labels.yaml`` names the production and candidate version per task.

The system part is rendered with company settings only, so customer text and documents can never reach
it; a missing variable is an error that names the variable.
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import jinja2
import yaml
from pydantic import BaseModel, Field, ValidationError

from assistant.llm import GenerationParams, Message

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.S)
_PART = re.compile(r"^\[(system|user)\]\s*$", re.M)
_ENV = jinja2.Environment(undefined=jinja2.StrictUndefined, autoescape=False, keep_trailing_newline=False)


class PromptError(ValueError):
    """A prompt file or label is invalid, or rendering failed."""


class PromptMeta(BaseModel):
    version: int = Field(ge=1)
    task: str
    author: str
    created: date
    note: str = ""
    params: GenerationParams = Field(default_factory=GenerationParams)


class PromptVersion(BaseModel):
    meta: PromptMeta
    system: str
    user: str
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.meta.task}@v{self.meta.version}"

    def render(self, company: dict[str, Any], **variables: Any) -> list[Message]:
        return [
            {"role": "system", "content": _render(self.system, {"company": company}, self.ref)},
            {"role": "user", "content": _render(self.user, {"company": company, **variables}, self.ref)},
        ]


def _render(template: str, variables: dict[str, Any], ref: str) -> str:
    try:
        return _ENV.from_string(template).render(**variables).strip()
    except jinja2.UndefinedError as exc:
        raise PromptError(f"{ref}: Variable fehlt beim Rendern – {exc.message}") from exc
    except jinja2.TemplateError as exc:
        raise PromptError(f"{ref}: Vorlage fehlerhaft – {exc}") from exc


def parse_prompt_file(path: Path) -> PromptVersion:
    match = _FRONT_MATTER.match(path.read_text(encoding="utf-8"))
    if match is None:
        raise PromptError(f"{path}: YAML-Kopf (zwischen ---) fehlt")
    try:
        meta = PromptMeta(**(yaml.safe_load(match.group(1)) or {}))
    except (yaml.YAMLError, ValidationError, TypeError) as exc:
        raise PromptError(f"{path}: YAML-Kopf ungültig – {exc}") from exc
    if path.stem != f"v{meta.version}" or path.parent.name != meta.task:
        raise PromptError(f"{path}: Dateiname passt nicht zu task={meta.task}, version={meta.version}")
    parts = _PART.split(match.group(2))
    sections = dict(zip(parts[1::2], parts[2::2], strict=True))
    if set(sections) != {"system", "user"}:
        raise PromptError(f"{path}: der Text braucht genau einen [system]- und einen [user]-Teil")
    for name, text in sections.items():
        try:
            _ENV.parse(text)
        except jinja2.TemplateSyntaxError as exc:
            raise PromptError(f"{path}: [{name}] Zeile {exc.lineno}: {exc.message}") from exc
    return PromptVersion(meta=meta, system=sections["system"], user=sections["user"], path=path)


class PromptLibrary:
    def __init__(self, root: Path) -> None:
        self.root = root

    def versions(self, task: str) -> list[PromptVersion]:
        files = sorted(self.root.glob(f"{task}/v*.md"), key=lambda p: int(p.stem[1:]) if p.stem[1:].isdigit() else 0)
        return [parse_prompt_file(p) for p in files]

    def get(self, task: str, version: int) -> PromptVersion:
        path = self.root / task / f"v{version}.md"
        if not path.is_file():
            raise PromptError(f"Prompt {task}@v{version} gibt es nicht")
        return parse_prompt_file(path)

    def labels(self) -> dict[str, dict[str, int | None]]:
        path = self.root / "labels.yaml"
        if not path.is_file():
            raise PromptError(f"{path} fehlt")
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return {task: dict(values or {}) for task, values in data.items()}

    def resolve(self, task: str, label_or_version: str = "production") -> PromptVersion:
        """``production``, ``candidate``, ``3`` or ``v3``."""
        ref = label_or_version.removeprefix("v")
        if ref.isdigit():
            return self.get(task, int(ref))
        version = self.labels().get(task, {}).get(ref)
        if version is None:
            raise PromptError(f"Für {task} ist keine Version als '{label_or_version}' markiert")
        return self.get(task, int(version))
