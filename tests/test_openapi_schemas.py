"""The OpenAPI spec documents every JSON answer with a schema (a response model, never ``{}``), the answers validate
against it, and the response models pass on exactly what the queries build: a response model drops a field it
does not name, so a forgotten field would vanish silently."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from assistant.tickets.queries import ticket_view
from tests.harness import ExpertKontor

Schema = dict[str, Any]


@pytest.fixture
def kontor(tmp_path: Path, knowledge: Path) -> ExpertKontor:
    return ExpertKontor(tmp_path, knowledge)


def _spec(kontor: ExpertKontor) -> Schema:
    response = kontor.client.get("/api/openapi.json")
    assert response.status_code == 200
    return response.json()  # type: ignore[no-any-return]


def _json_answers(spec: Schema) -> dict[str, Schema]:
    """``"GET /api/tickets 200"`` → the schema of every 2xx answer with JSON content."""
    return {f"{method.upper()} {path} {code}": answer["content"]["application/json"].get("schema", {})
            for path, operations in spec["paths"].items() for method, operation in operations.items()
            for code, answer in operation["responses"].items()
            if code.startswith("2") and "application/json" in answer.get("content", {})}


def _typed(schema: Schema, components: dict[str, Schema]) -> bool:
    """A schema that says something: a reference to a model with fields, or a type all the way down."""
    if "$ref" in schema:
        target = components.get(schema["$ref"].rsplit("/", 1)[-1], {})
        return bool(target.get("properties")) or (bool(target) and "$ref" not in target and _typed(target, components))
    if "anyOf" in schema or "oneOf" in schema:
        return all(_typed(option, components) for option in schema.get("anyOf", schema.get("oneOf", [])))
    if schema.get("type") == "array":
        return _typed(schema.get("items", {}), components)
    if schema.get("type") == "object":
        extra = schema.get("additionalProperties")
        return bool(schema.get("properties")) or (isinstance(extra, dict) and _typed(extra, components))
    return "type" in schema


def _validator(spec: Schema, method: str, path: str, code: str = "200") -> Draft202012Validator:
    schema = spec["paths"][path][method]["responses"][code]["content"]["application/json"]["schema"]
    return Draft202012Validator({**schema, "components": spec["components"]})  # "#/components/…" resolves here


def test_every_json_answer_has_a_schema(kontor: ExpertKontor) -> None:
    spec = _spec(kontor)
    answers = _json_answers(spec)
    assert len(answers) > 35, sorted(answers)
    untyped = sorted(name for name, schema in answers.items() if not _typed(schema, spec["components"]["schemas"]))
    assert not untyped, f"answers without a schema: {untyped}"
    assert answers["GET /api/tickets/{ticket_id} 200"] == {"$ref": "#/components/schemas/TicketView"}


def test_a_ticket_answer_validates_and_is_exactly_what_the_query_builds(kontor: ExpertKontor) -> None:
    spec = _spec(kontor)
    ticket = kontor.drafted_ticket()
    draft_id = ticket["draft"]["id"]
    assert kontor.call("POST", f"/api/drafts/{draft_id}/rating", "agent", json={"score": 4}).status_code == 200
    assert kontor.call("POST", f"/api/drafts/{draft_id}/approve", "agent").status_code == 200
    sent = kontor.call("POST", f"/api/drafts/{draft_id}/send", "agent")
    assert sent.status_code == 200, sent.text
    _validator(spec, "post", "/api/drafts/{draft_id}/send").validate(sent.json())

    answer = kontor.call("GET", f"/api/tickets/{ticket['id']}", "agent").json()
    _validator(spec, "get", "/api/tickets/{ticket_id}").validate(answer)
    assert answer["draft"]["citations"] and answer["draft"]["sections"] and answer["outbox"] is not None
    expected = json.loads(json.dumps(ticket_view(kontor.services.database, ticket["id"])))
    assert answer == expected
    assert list(answer) == list(expected) and list(answer["draft"]) == list(expected["draft"])  # same order too
    with pytest.raises(Exception, match="is a required property"):  # the schema really constrains
        _validator(spec, "get", "/api/tickets/{ticket_id}").validate({k: v for k, v in answer.items() if k != "draft"})


@pytest.mark.parametrize(("role", "url", "path"), [
    ("agent", "/api/tickets", "/api/tickets"),
    ("agent", "/api/me", "/api/me"),
    ("agent", "/api/documents", "/api/documents"),
    ("agent", "/api/search?q=Versand", "/api/search"),
    ("expert", "/api/prompts", "/api/prompts"),
    ("expert", "/api/evaluations", "/api/evaluations"),
    ("expert", "/api/dashboard", "/api/dashboard"),
    ("expert", "/api/dashboard?plots=true", "/api/dashboard"),
    ("admin", "/api/audit", "/api/audit"),
    ("admin", "/api/users", "/api/users"),
    ("admin", "/api/tokens", "/api/tokens"),
    ("", "/api/health", "/api/health"),
])
def test_the_lists_validate_against_their_schemas(kontor: ExpertKontor, role: str, url: str, path: str) -> None:
    kontor.drafted_ticket()
    spec = _spec(kontor)
    response = kontor.call("GET", url, role)
    assert response.status_code == 200, response.text
    _validator(spec, "get", path).validate(response.json())


def test_the_dashboard_names_its_plots_only_when_asked(kontor: ExpertKontor) -> None:
    kontor.drafted_ticket()
    plain = kontor.call("GET", "/api/dashboard").json()
    assert "plots" not in plain and set(plain) == {"generated_at", "totals", "versions", "weeks"}
    assert list(plain["versions"][0])[:2] == ["prompt_version", "drafts"]
    assert list(plain["weeks"][0])[:3] == ["prompt_version", "week", "drafts"]
    assert "plots" in kontor.call("GET", "/api/dashboard?plots=true").json()
