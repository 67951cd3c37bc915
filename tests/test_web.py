"""The minimal web page and the knowledge endpoints of the JSON API (full interface in a later issue)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
from fastapi.testclient import TestClient

from assistant.services import Services
from assistant.web.app import create_app


def _client(fake_services: Services, knowledge: Path) -> tuple[TestClient, dict[str, str]]:
    fake_services.ingestor.run([knowledge])
    fake_services.users.add("anna", "agent", "anna-passwort-123")
    token = fake_services.users.create_token("anna")
    fake_services.settings.web.run_worker = False
    return TestClient(create_app(fake_services.settings, fake_services)), {"Authorization": f"Bearer {token}"}


def test_home_page_is_german(fake_services: Services, knowledge: Path) -> None:
    client, _ = _client(fake_services, knowledge)
    page = client.get("/")
    assert page.status_code == 200 and "Back-Office-Assistent" in page.text and 'lang="de"' in page.text
    assert client.get("/api/health").json() == {"status": "ok", "problems": []}  # nothing about the company


def test_ask_needs_a_login(fake_services: Services, knowledge: Path) -> None:
    client, auth = _client(fake_services, knowledge)
    assert client.post("/api/ask", json={"text": "Versand?"}).status_code == 401
    fake_services.llm.enqueue("Der Versand nach Österreich kostet 5,90 € [1].")  # type: ignore[attr-defined]
    draft = client.post("/api/ask", json={"text": "Was kostet der Versand nach Österreich?"}, headers=auth).json()
    assert "5,90" in draft["answer"] and draft["citations"]


def test_api_errors_are_json(fake_services: Services, knowledge: Path) -> None:
    client, auth = _client(fake_services, knowledge)
    assert client.post("/api/ask", json={"text": ""}, headers=auth).status_code == 422
    response = client.post("/api/ask", json={"text": "   "}, headers=auth)
    assert response.status_code == 422 and response.json()["detail"] == "Die Frage ist leer."
    hits = client.get("/api/search", params={"q": "PayPal"}, headers=auth).json()
    assert hits[0]["source"] == "zahlung.md"


def test_a_validation_error_is_a_german_sentence_and_the_fields_as_the_spec_says(
    fake_services: Services, knowledge: Path,
) -> None:
    """The review: a 422 carried a string where the spec documented an array. Now the spec documents what the
    server sends: ``detail`` one German sentence, ``errors`` the fields."""
    client, auth = _client(fake_services, knowledge)
    spec = client.get("/api/openapi.json").json()
    schema = {"$ref": "#/components/schemas/HTTPValidationError", "components": spec["components"]}
    huge = client.get(f"/api/tickets/{2**63}", headers=auth)
    assert huge.status_code == 422 and huge.json() == {
        "detail": "Ungültige Anfrage: „ticket_id“ im Pfad darf höchstens 2147483647 sein.",
        "errors": [{"loc": ["path", "ticket_id"], "msg": "Input should be less than or equal to 2147483647",
                    "type": "less_than_equal"}]}
    blank = client.post("/api/ask", json={"text": "   "}, headers=auth)  # a rule beyond the schema: no fields
    unreadable = client.post("/api/ask", content=b"\x80\x81", headers={**auth, "Content-Type": "application/json"})
    assert unreadable.status_code == 422  # FastAPI's English 400 for bytes that are no UTF-8
    assert unreadable.json()["detail"] == "Ungültige Anfrage: der Inhalt ist kein lesbares JSON oder Formular."
    for response in (huge, blank, unreadable):
        jsonschema.validate(response.json(), schema)
    refused = client.post("/api/session", json={"name": "anna", "password": "x" * 1001}).json()
    assert [set(e) for e in refused["errors"]] == [{"loc", "msg", "type"}]  # never ``input``: it may be a password


def test_the_spec_lists_the_error_answers_and_the_event_stream(fake_services: Services, knowledge: Path) -> None:
    """The review: status codes the routes return were missing from the spec, and ``/live`` was JSON there."""
    client, _ = _client(fake_services, knowledge)
    spec = client.get("/api/openapi.json").json()
    operations = {f"{method.upper()} {path}": op for path, item in spec["paths"].items() for method, op in item.items()}
    for name, operation in operations.items():
        codes = set(operation["responses"])
        assert name == "GET /api/health" or {"401", "403", "413"} <= codes, name
        for code, answer in operation["responses"].items():
            if code >= "400":
                assert list(answer["content"]) == ["application/json"], (name, code)
    assert {"404", "409", "422"} <= set(operations["POST /api/drafts/{draft_id}/send"]["responses"])
    assert "Retry-After" in operations["POST /api/session"]["responses"]["429"]["headers"]
    assert "409" in operations["POST /api/evaluations"]["responses"]
    live = operations["GET /api/tickets/{ticket_id}/live"]["responses"]["200"]["content"]
    assert list(live) == ["text/event-stream"] and "itemSchema" in live["text/event-stream"]
