"""The company's own category list (``knowledge/categories.yaml`` or ``KONTOR_CATEGORIES``)."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, Field, ValidationError, field_validator

from assistant.errors import InputError


class CategoryError(InputError):
    """The categories file is invalid, or a category id is not in it."""


class Category(BaseModel):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[\w.-]+$")
    name: str = Field(min_length=1)
    description: str = Field(min_length=1)
    team: str = ""
    examples: list[str] = Field(default_factory=list)

    @field_validator("description", "name")
    @classmethod
    def _squash(cls, value: str) -> str:
        return " ".join(value.split())

    @property
    def profile(self) -> str:
        """What the category is about, in words: matched against incoming text before any example exists."""
        return " ".join([self.name + ".", self.description, *self.examples])


class CategorySet:
    def __init__(self, categories: list[Category], path: Path | None = None) -> None:
        if len(categories) < 2:
            raise CategoryError("es braucht mindestens zwei Kategorien")
        ids = [c.id for c in categories]
        duplicates = sorted({i for i in ids if ids.count(i) > 1})
        if duplicates:
            raise CategoryError(f"Kategorie-id mehrfach vergeben: {', '.join(duplicates)}")
        self.categories = categories
        self.path = path
        self._by_id = {c.id: c for c in categories}

    @property
    def ids(self) -> list[str]:
        return [c.id for c in self.categories]

    def __contains__(self, category_id: object) -> bool:
        return category_id in self._by_id

    def get(self, category_id: str) -> Category:
        """The category, or an error that lists the allowed ids."""
        try:
            return self._by_id[category_id]
        except KeyError:
            allowed = ", ".join(self.ids)
            raise CategoryError(f"Unbekannte Kategorie '{category_id}'. Erlaubt sind: {allowed}") from None

    def seed_examples(self) -> list[tuple[str, str]]:
        return [(text, c.id) for c in self.categories for text in c.examples]


def load_categories(path: Path) -> CategorySet:
    if not path.is_file():
        raise CategoryError(f"Kategorien-Datei {path} fehlt")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        items = data.get("categories") if isinstance(data, dict) else None
        if not isinstance(items, list):
            raise CategoryError(f"{path}: erwartet wird 'categories:' mit einer Liste")
        return CategorySet([Category(**item) for item in items], path)
    except yaml.YAMLError as exc:
        raise CategoryError(f"{path}: kein gültiges YAML – {exc}") from exc
    except (ValidationError, TypeError) as exc:
        raise CategoryError(f"{path}: ungültiger Eintrag – {exc}") from exc
