"""Labelled examples ``{"text", "category"}`` that people give: one at a time (a correction in review, the
CLI) or in bulk from JSONL. One label per text: a later label for the same text replaces the earlier one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from assistant.categorise.categories import CategoryError, CategorySet
from assistant.domain import checked_text
from assistant.errors import InputError
from assistant.store.db import Database
from assistant.store.tables import LabelledExample, utcnow

Status = Literal["added", "duplicate", "relabelled"]


@dataclass(frozen=True)
class AddResult:
    status: Status
    id: int
    category: str
    previous: str | None = None  # the category it had before a relabel


@dataclass
class ImportReport:
    added: int = 0
    relabelled: int = 0
    duplicates: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)

    @property
    def ok(self) -> bool:
        return not self.errors


def text_hash(text: str) -> str:
    """Same text up to case and spacing = same example."""
    return hashlib.sha256(" ".join(text.split()).casefold().encode("utf-8")).hexdigest()


class ExampleStore:
    def __init__(self, database: Database, categories: CategorySet, max_chars: int) -> None:
        self.database = database
        self.categories = categories
        self.max_chars = max_chars

    def validate(self, text: object, category: object) -> tuple[str, str]:
        clean = checked_text(text, self.max_chars, "Der Beispieltext")
        if not isinstance(category, str) or not category.strip():
            raise InputError("Die Kategorie fehlt.")
        return clean, self.categories.get(category.strip()).id

    def add(self, text: str, category: str, source: str = "cli", user: str | None = None,
            session: Session | None = None) -> AddResult:
        """``session``: store the example inside the caller's transaction (a person's correction of a ticket's
        category and the example it teaches are one change)."""
        clean, category = self.validate(text, category)
        if session is not None:
            return _upsert(session, clean, category, source, user)
        with self.database.session() as own:
            return _upsert(own, clean, category, source, user)

    def import_jsonl(self, lines: Iterable[str], source: str = "import", user: str | None = None) -> ImportReport:
        """Every valid line is imported (in one transaction); bad lines are listed with their numbers."""
        report = ImportReport()
        valid: list[tuple[str, str]] = []
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
                if not isinstance(item, dict):
                    raise InputError("erwartet wird ein Objekt {\"text\", \"category\"}")
                valid.append(self.validate(item.get("text"), item.get("category")))
            except json.JSONDecodeError as exc:
                report.errors.append((number, f"kein gültiges JSON ({exc.msg})"))
            except (InputError, CategoryError) as exc:
                report.errors.append((number, str(exc)))
        with self.database.session() as session:
            for text, category in valid:
                status = _upsert(session, text, category, source, user).status
                field_name = "duplicates" if status == "duplicate" else status
                setattr(report, field_name, getattr(report, field_name) + 1)
        return report

    def withdraw(self, session: Session, learned: AddResult) -> None:
        """Take back what one ``add`` did (a person's undo): an added example is removed, a relabelled one gets
        its old label back, a duplicate changed nothing. In the caller's transaction."""
        row = session.get(LabelledExample, learned.id)
        if row is None or learned.status == "duplicate":
            return
        if learned.status == "added":
            session.delete(row)
        elif learned.previous is not None:
            row.category, row.updated_at = learned.previous, utcnow()

    def latest(self, category: str | None = None, limit: int | None = None) -> list[LabelledExample]:
        query = select(LabelledExample).order_by(LabelledExample.id.desc())
        if category is not None:
            query = query.where(LabelledExample.category == self.categories.get(category).id)
        if limit is not None:
            query = query.limit(limit)
        with self.database.session() as session:
            return list(session.scalars(query))

    def pairs(self) -> list[tuple[str, str]]:
        """(text, category) of every stored example whose category is still in the categories file."""
        with self.database.session() as session:
            rows = session.execute(select(LabelledExample.text, LabelledExample.category)).all()
        return [(text, category) for text, category in rows if category in self.categories]

    def revision(self) -> tuple[int, str]:
        """Changes whenever an example is added or relabelled: the categoriser refits when it changes."""
        with self.database.session() as session:
            count, latest = session.execute(
                select(func.count(LabelledExample.id), func.max(LabelledExample.updated_at))
            ).one()
        return int(count), str(latest)

    def counts(self) -> dict[str, int]:
        with self.database.session() as session:
            rows = session.execute(
                select(LabelledExample.category, func.count(LabelledExample.id)).group_by(LabelledExample.category)
            ).all()
        return {category: int(count) for category, count in rows}


def _upsert(session: Session, text: str, category: str, source: str, user: str | None) -> AddResult:
    digest = text_hash(text)
    existing = session.scalar(select(LabelledExample).where(LabelledExample.text_hash == digest))
    if existing is None:
        row = LabelledExample(text=text, text_hash=digest, category=category, source=source, created_by=user)
        session.add(row)
        session.flush()
        return AddResult("added", row.id, category)
    if existing.category == category:
        return AddResult("duplicate", existing.id, category)
    previous = existing.category
    existing.category, existing.source, existing.created_by = category, source, user
    existing.updated_at = utcnow()
    return AddResult("relabelled", existing.id, category, previous)
