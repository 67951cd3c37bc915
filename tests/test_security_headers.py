"""Every response carries the security headers: pages, API, static files, errors and redirects; the API
documentation loads nothing from other hosts (there is no Swagger UI or ReDoc; the spec is plain JSON)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.web.app import SECURITY_HEADERS
from tests.test_workflow_api import Kontor


@pytest.fixture(scope="module")
def kontor(tmp_path_factory: pytest.TempPathFactory) -> Kontor:
    root = tmp_path_factory.mktemp("headers")
    knowledge = root / "knowledge"
    knowledge.mkdir()
    (knowledge / "versand.md").write_text("# Versand\n\nDer Versand kostet 4,95 €.\n", encoding="utf-8")
    return Kontor(root, knowledge)


PATHS = [("GET", "/login", None), ("GET", "/posteingang", None), ("GET", "/posteingang", "agent"),
         ("GET", "/tickets/999", "agent"), ("GET", "/prompts", "agent"), ("GET", "/static/kontor.css", None),
         ("GET", "/static/kontor.js", None), ("GET", "/api/health", None), ("GET", "/api/openapi.json", None),
         ("GET", "/api/tickets", None), ("GET", "/api/tickets", "agent"), ("GET", "/api/tickets/abc", "agent"),
         ("POST", "/api/session", None), ("GET", "/gibt-es-nicht", None), ("GET", "/api/docs", None),
         ("GET", "/redoc", None), ("GET", "/konto", "agent"), ("GET", "/verwaltung", "agent"),
         ("GET", "/verwaltung", "admin")]


@pytest.mark.parametrize("method, path, role", PATHS)
def test_every_response_carries_the_security_headers(kontor: Kontor, method: str, path: str, role: str | None,
                                                     tmp_path: Path) -> None:
    response = kontor.call(method, path, role=role, follow_redirects=False)
    for name, value in SECURITY_HEADERS.items():
        assert response.headers.get(name) == value, (path, response.status_code, name)
    assert "'unsafe-inline'" not in response.headers["content-security-policy"]


def test_no_documentation_page_loads_third_party_scripts(kontor: Kontor) -> None:
    for path in ("/api/docs", "/redoc", "/api/docs/oauth2-redirect"):
        assert kontor.call("GET", path, role=None).status_code == 404
    spec = kontor.call("GET", "/api/openapi.json", role=None)
    assert spec.status_code == 200 and spec.headers["content-type"].startswith("application/json")


def test_pages_have_no_inline_script_or_style() -> None:
    templates = Path(__file__).resolve().parent.parent / "assistant" / "web" / "templates"
    for page in templates.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        assert "<script>" not in text and " style=" not in text and "<style" not in text, page.name
