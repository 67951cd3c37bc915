"""Every evaluation case is valid against the schema beside it and points at real documents."""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml

from assistant.config import PROJECT_ROOT

CASES = PROJECT_ROOT / "eval" / "cases"
SCHEMA = json.loads((CASES / "schema.json").read_text(encoding="utf-8"))
FILES = sorted(CASES.glob("*.yaml"))


def test_there_are_enough_cases() -> None:
    cases = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in FILES]
    assert len(cases) >= 40
    assert sum(c["expectations"]["handover"] for c in cases) >= 5


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_case_is_valid(path) -> None:  # type: ignore[no-untyped-def]
    case = yaml.safe_load(path.read_text(encoding="utf-8"))
    jsonschema.validate(case, SCHEMA, format_checker=jsonschema.FormatChecker())
    assert case["id"] == path.stem
    for source in case["expectations"]["sources"]:
        assert (PROJECT_ROOT / "knowledge" / source).is_file(), source
