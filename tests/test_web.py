"""The minimal web page and JSON endpoints (full interface in a later issue)."""

from __future__ import annotations

from pathlib import Path

from fastapi.testclient import TestClient

from assistant.services import Services
from assistant.web.app import create_app


def _client(fake_services: Services, knowledge: Path) -> TestClient:
    fake_services.ingestor.run([knowledge])
    return TestClient(create_app(fake_services.settings, fake_services))


def test_home_page_is_german_and_escapes_customer_text(fake_services: Services, knowledge: Path) -> None:
    client = _client(fake_services, knowledge)
    page = client.get("/")
    assert page.status_code == 200 and "Kundenfrage" in page.text and "2 Dokumente" in page.text
    attack = "<script>alert('x')</script> Was kostet der Versand nach Österreich?"
    fake_services.llm.enqueue("<img src=x onerror=alert(1)> Versand kostet 5,90 € [1].")  # type: ignore[attr-defined]
    answer = client.post("/", data={"question": attack})
    assert answer.status_code == 200
    assert "<script>alert" not in answer.text and "&lt;script&gt;" in answer.text
    assert "<img" not in answer.text
    assert "KI-Entwurf – bitte prüfen" in answer.text


def test_api_errors_are_json(fake_services: Services, knowledge: Path) -> None:
    client = _client(fake_services, knowledge)
    assert client.post("/api/ask", json={"text": ""}).status_code == 422
    response = client.post("/api/ask", json={"text": "   "})
    assert response.status_code == 422 and response.json()["detail"] == "Die Frage ist leer."
    hits = client.get("/api/search", params={"q": "PayPal"}).json()
    assert hits[0]["source"] == "zahlung.md"
