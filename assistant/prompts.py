"""Versioned prompt files ``prompts/<task>/v<N>.md``: YAML front matter + a Jinja2 body with a ``[system]``
and a ``[user]`` part. ``prompts/labels.yaml`` names the production and candidate version per task.

The system part is rendered with company settings only, so customer text and documents can never reach
it; a missing variable is an error that names the variable. Every template is checked against the variables
its task documents (``TASK_VARIABLES``) when it is loaded or saved, and rendered in Jinja2's sandbox
(assistant/templating.py): a prompt is data an expert edits, never code the server runs.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import re
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any, Literal, get_args

import jinja2
import yaml
from pydantic import BaseModel, Field, ValidationError

from assistant.errors import InputError
from assistant.llm import GenerationParams, Message
from assistant.templating import TemplateRejected, check_template, plain, render

_FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n(.*)\Z", re.S)
_PART = re.compile(r"^\[(system|user|letter)\]\s*$", re.M)

# The tasks Kontor has a prompt for: each has its folder prompts/<task>/ and its labels. The one list of them.
Task = Literal["answer", "categorise", "letter"]
TASKS: tuple[Task, ...] = get_args(Task)
# What people read for the tasks, the labels, the parts and the generation parameters: one mapping each, shared by
# the prompt and evaluation pages and the evaluation report.
TASK_NAMES: dict[str, str] = {"answer": "Antwortentwurf", "categorise": "Kategorisierung",
                              "letter": "Antwortbrief (Vorlage)"}
LABEL_NAMES: dict[str, str] = {"production": "Produktion", "candidate": "Kandidat"}
PART_NAMES: dict[str, str] = {"system": "Systemteil (nur Firmenangaben, nie Kundentext)", "user": "Nutzerteil",
                              "letter": "Briefvorlage"}
PARAM_NAMES: dict[str, str] = {"temperature": "Modell-Temperatur", "max_tokens": "Höchstlänge der Antwort (Tokens)",
                               "top_p": "Auswahlbreite (top-p)", "repeat_penalty": "Strafe für Wiederholungen",
                               "stop": "Stopp-Zeichenfolgen", "seed": "Startwert des Zufalls"}

# The documented variables of each task's [user] part: name → the fields its items have (None: any data field).
# ``company`` (knowledge/company.yaml) is the only variable of the [system] part.
TASK_VARIABLES: dict[str, dict[str, frozenset[str] | None]] = {
    "answer": {"question": None, "passages": frozenset({"title", "section", "text", "source", "page"})},
    "categorise": {"text": None, "candidates": frozenset({"id", "name", "description"})},
    # the reply letter: one [letter] part; sections are the answered or handed-over questions in order
    "letter": {"customer": None, "topic": None, "agent": None, "language": None, "handover": None,
               "sections": frozenset({"text", "handover", "question", "topic"})},
}
TASK_PARTS: dict[str, set[str]] = {"letter": {"letter"}}  # every other task: [system] and [user]
_PART_ORDER = ("system", "user", "letter")
_LISTS = frozenset({"passages", "candidates", "sections"})
_COMPANY: dict[str, frozenset[str] | None] = {"company": None}


class PromptError(InputError):
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
    system: str = ""
    user: str = ""
    letter: str = ""
    path: Path

    @property
    def ref(self) -> str:
        return f"{self.meta.task}@v{self.meta.version}"

    def render(self, company: dict[str, Any], **variables: Any) -> list[Message]:
        """Customer text and documents reach only the user part, with chat-template markers defused."""
        safe = {name: defuse_markers(plain(value)) for name, value in variables.items()}
        return [
            {"role": "system", "content": _render(self.system, {"company": company}, self.ref)},
            {"role": "user", "content": _render(self.user, {"company": company, **safe}, self.ref)},
        ]


    def render_letter(self, company: dict[str, Any], **variables: Any) -> str:
        return _render(self.letter, {"company": company, **variables}, self.ref)


# Chat-template control sequences of the common model families (ChatML/SmolLM2/Qwen, Llama 3, Mistral, Gemma,
# Llama 2): inside customer text or a document they would be tokenised as real control tokens and open a new
# system or assistant turn. A zero-width joiner inside keeps them readable but no longer special.
_MARKERS = re.compile(r"<\|[^|<>\s]{1,40}\|>|\[/?INST\]|</?s>|<</?SYS>>|<(?:start|end)_of_turn>|<\|?eot_id\|?>",
                      re.I)


def defuse_markers(value: Any) -> Any:
    if isinstance(value, str):
        return _MARKERS.sub(lambda m: m.group()[0] + "\u200d" + m.group()[1:], value)
    if isinstance(value, dict):
        return {k: defuse_markers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [defuse_markers(v) for v in value]
    return value


def _render(template: str, variables: dict[str, Any], ref: str) -> str:
    try:
        return render(template, variables).strip()
    except jinja2.UndefinedError as exc:
        raise PromptError(f"{ref}: Variable fehlt beim Rendern – {exc.message}") from exc
    except jinja2.TemplateError as exc:  # includes the sandbox's SecurityError
        raise PromptError(f"{ref}: Vorlage fehlerhaft – {exc}") from exc


def check_prompt_part(task: str, part: str, text: str) -> None:
    """Refuse a [system] or [user] text that uses more than its documented variables (PromptError, German)."""
    variables = _COMPANY if part == "system" else {**_COMPANY, **TASK_VARIABLES.get(task, {})}
    try:
        check_template(text, variables, _LISTS & set(variables))
    except jinja2.TemplateSyntaxError as exc:
        raise PromptError(f"[{part}] Zeile {exc.lineno}: {exc.message}") from exc
    except TemplateRejected as exc:
        raise PromptError(f"[{part}] {exc}") from exc


def parts_of(task: str) -> list[str]:
    """The parts a version of ``task`` has, in the order of its file."""
    return [name for name in _PART_ORDER if name in TASK_PARTS.get(task, {"system", "user"})]


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
    expected = TASK_PARTS.get(meta.task, {"system", "user"})
    if set(sections) != expected or len(parts) != 2 * len(expected) + 1:
        named = " und ".join(f"[{p}]" for p in sorted(expected, reverse=True))
        raise PromptError(f"{path}: der Text braucht genau diese Teile, jeden einmal: {named}")
    for name, text in sections.items():
        try:
            check_prompt_part(meta.task, name, text)
        except PromptError as exc:
            raise PromptError(f"{path}: {exc}") from exc
    return PromptVersion(meta=meta, path=path, **sections)


class PromptLibrary:
    def __init__(self, root: Path) -> None:
        self.root = root

    def tasks(self) -> list[Task]:
        """The tasks (of ``TASKS``) with at least one version file here."""
        return [task for task in TASKS if any((self.root / task).glob("v*.md"))]

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


# --- releases: new versions, labels, the lock of released files ------------------------------------------------

def _without_keys(head: str, keys: set[str]) -> list[str]:
    """Front-matter lines except those of ``keys`` (including their indented continuation lines)."""
    kept, skipping = [], False
    for line in head.splitlines():
        if not line.startswith((" ", "\t")):
            skipping = line.split(":", 1)[0].strip() in keys
        if not skipping and line.strip():
            kept.append(line)
    return kept


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class PromptReleases:
    """Writes prompt versions and labels. A version that was ever ``production`` is in ``prompts.lock`` with
    its SHA-256 and must never change again; a change is a new version."""

    def __init__(self, library: PromptLibrary) -> None:
        self.library = library
        self.lock_path = library.root / "prompts.lock"

    def lock(self) -> dict[str, dict[int, str]]:
        if not self.lock_path.is_file():
            return {}
        data = yaml.safe_load(self.lock_path.read_text(encoding="utf-8")) or {}
        return {task: {int(v): str(h) for v, h in (versions or {}).items()} for task, versions in data.items()}

    def lock_problems(self) -> list[str]:
        """Released files that changed or vanished, and production versions missing from the lock."""
        problems = []
        for task, versions in self.lock().items():
            for version, digest in versions.items():
                path = self.library.root / task / f"v{version}.md"
                if not path.is_file():
                    problems.append(f"{task}@v{version}: freigegebene Datei fehlt")
                elif file_sha256(path) != digest:
                    problems.append(f"{task}@v{version}: freigegebene Datei geändert – bitte neue Version anlegen")
        for task, labels in self.library.labels().items():
            production = labels.get("production")
            if production is not None and production not in self.lock().get(task, {}):
                problems.append(f"{task}@v{production}: ist production, steht aber nicht in prompts.lock")
        return problems

    def new_version(self, task: str, source: int, author: str, note: str,
                    parts: Mapping[str, str] | None = None) -> PromptVersion:
        """Copy version ``source`` to the next free number (front matter as written, with a new version,
        author, date and note; ``parts``, when given, as its text, in their order); it becomes the candidate. A
        new file that does not parse, or cannot be labelled, is removed again (PromptError)."""
        base = self.library.get(task, source)
        number = max(v.meta.version for v in self.library.versions(task)) + 1
        head, body = _FRONT_MATTER.match(base.path.read_text(encoding="utf-8")).groups()  # type: ignore[union-attr]
        if parts is not None:
            body = "".join(f"[{name}]\n{text}\n" for name, text in parts.items())
        fresh = {"version": number, "author": json.dumps(author, ensure_ascii=False),
                 "created": date.today().isoformat(), "note": json.dumps(note, ensure_ascii=False)}
        lines = [f"{key}: {value}" for key, value in fresh.items()] + _without_keys(head, set(fresh))
        path = self.library.root / task / f"v{number}.md"
        path.write_text("---\n" + "\n".join(lines) + "\n---\n" + body, encoding="utf-8")
        try:
            created = parse_prompt_file(path)
            self.set_label(task, "candidate", number)
        except PromptError as exc:
            path.unlink(missing_ok=True)
            raise PromptError(str(exc).replace(str(path), f"{task}/v{number}.md")) from exc
        return created

    def write_version(self, task: str, source: int, parts: Mapping[str, str], author: str,
                      note: str) -> PromptVersion:
        """The next version of ``task`` with the texts an expert wrote (``system`` and ``user``, or ``letter``),
        as a copy of ``source``'s front matter; it becomes the candidate. Every part is checked before anything is
        written: a refused text leaves no file and no label change (PromptError, a German sentence)."""
        texts = {name: parts.get(name, "").replace("\r\n", "\n").strip() for name in parts_of(task)}
        if missing := [name for name, text in texts.items() if not text]:
            raise PromptError(f"Prompt nicht gespeichert: der Teil [{missing[0]}] ist leer")
        if any(_PART.search(text) for text in texts.values()):
            raise PromptError("Die Zeilen [system], [user] und [letter] trennen die Teile und dürfen im Text nicht "
                              "vorkommen")
        try:
            for name, text in texts.items():
                check_prompt_part(task, name, text)
        except PromptError as exc:
            raise PromptError(f"Prompt nicht gespeichert: {exc}") from exc
        return self.new_version(task, source, author, note, parts=texts)

    def promote(self, task: str, version: int) -> None:
        """Make ``version`` production and lock its file (the caller checks the evaluation first)."""
        path = self.library.get(task, version).path
        lock = self.lock()
        lock.setdefault(task, {})[version] = file_sha256(path)
        self._write_yaml(self.lock_path, "# SHA-256 of every prompt file that was ever production. Never edit.",
                         {t: dict(sorted(v.items())) for t, v in sorted(lock.items())})
        labels = self.library.labels()
        labels.setdefault(task, {})["production"] = version
        if labels[task].get("candidate") == version:
            labels[task]["candidate"] = None
        self._write_labels(labels)

    def set_label(self, task: str, label: str, version: int | None) -> None:
        labels = self.library.labels()
        labels.setdefault(task, {"production": None, "candidate": None})[label] = version
        self._write_labels(labels)

    def compare(self, task: str, a: int, b: int) -> Comparison:
        """Two versions as a person compares them: each part's text side by side, line by line, and the changed
        generation parameters as German sentences; the front matter's bookkeeping (version, author, date) is left
        out, the notes are named."""
        old, new = self.library.get(task, a), self.library.get(task, b)
        return Comparison(task=task, a=a, b=b, note_a=old.meta.note, note_b=new.meta.note,
                          settings=setting_changes(old.meta.params, new.meta.params),
                          parts=[ComparedPart(name=name, title=PART_NAMES.get(name, name),
                                              a=getattr(old, name).strip("\n"), b=getattr(new, name).strip("\n"),
                                              rows=side_by_side(getattr(old, name).strip("\n"),
                                                                getattr(new, name).strip("\n")))
                                 for name in parts_of(task)])

    def diff(self, task: str, a: int, b: int) -> str:
        old, new = self.library.get(task, a).path, self.library.get(task, b).path
        return "".join(difflib.unified_diff(
            old.read_text(encoding="utf-8").splitlines(keepends=True),
            new.read_text(encoding="utf-8").splitlines(keepends=True), f"{task}/v{a}.md", f"{task}/v{b}.md"))

    def _write_labels(self, labels: dict[str, dict[str, int | None]]) -> None:
        self._write_yaml(self.library.root / "labels.yaml",
                         "# Which prompt version serves each task. A version that was ever production is never edited.",
                         labels)

    @staticmethod
    def _write_yaml(path: Path, comment: str, data: object) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(comment + "\n" + yaml.safe_dump(data, allow_unicode=True, sort_keys=False),
                             encoding="utf-8")
        temporary.replace(path)  # atomic: a crash leaves the old file, never half of the new one


# --- comparing two versions as a person reads them -----------------------------------------------------------------

class CompareRow(BaseModel):
    """One line pair: ``same`` on both sides, ``changed`` (old and new line), ``removed`` or ``added``."""

    kind: Literal["same", "changed", "removed", "added"]
    a: str | None
    b: str | None


class ComparedPart(BaseModel):
    name: str
    title: str
    a: str
    b: str
    rows: list[CompareRow]

    @property
    def changed(self) -> bool:
        return any(row.kind != "same" for row in self.rows)


class Comparison(BaseModel):
    task: str
    a: int
    b: int
    note_a: str
    note_b: str
    settings: list[str]
    parts: list[ComparedPart]


def side_by_side(old: str, new: str) -> list[CompareRow]:
    """The lines of two texts aligned for a two-column view."""
    left, right = old.split("\n"), new.split("\n")
    rows: list[CompareRow] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, left, right, autojunk=False).get_opcodes():
        if op == "equal":
            rows += [CompareRow(kind="same", a=x, b=y) for x, y in zip(left[i1:i2], right[j1:j2], strict=True)]
            continue
        olds, news = left[i1:i2], right[j1:j2]
        for k in range(max(len(olds), len(news))):
            x, y = (olds[k] if k < len(olds) else None), (news[k] if k < len(news) else None)
            rows.append(CompareRow(kind="changed" if x is not None and y is not None else
                                   "removed" if x is not None else "added", a=x, b=y))
    return rows


def setting_changes(old: GenerationParams, new: GenerationParams) -> list[str]:
    """``Modell-Temperatur: 0,2 → 0,1`` for each generation parameter that differs."""
    before, after = old.model_dump(), new.model_dump()
    return [f"{PARAM_NAMES.get(key, key)}: {_setting(before[key])} → {_setting(after[key])}"
            for key in before if before[key] != after[key]]


def _setting(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(f"„{str(v).replace(chr(10), '⏎')}“" for v in value) or "keine"
    if isinstance(value, float):
        return f"{value:g}".replace(".", ",")
    return str(value)


def version_title(ref: str) -> str:
    """``answer@v3`` → ``Antwortentwurf v3``; anything else as it is."""
    task, _, version = ref.partition("@")
    return f"{TASK_NAMES[task]} {version}" if task in TASK_NAMES and version else ref
