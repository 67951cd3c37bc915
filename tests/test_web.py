"""The minimal web page and the knowledge endpoints of the JSON API (full interface in a later issue)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from assistant.services import Services
from assistant.web.app import create_app


def _client(fake_services: Services, knowledge: Path) -> tuple[TestClient, dict[str, str]]:
    fake_services.ingestor.run([knowledge])
    fake_services.users.add("anna", "agent", "anna-passwort-123")
    token = fake_services.users.create_token("anna")
    fake_services.settings.run_worker = False
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
