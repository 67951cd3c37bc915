"""Every response carries the security headers: pages, API, static files, errors and redirects; the API
documentation loads nothing from other hosts (there is no Swagger UI or ReDoc; the spec is plain JSON)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from starlette.routing import Mount

from assistant.web.middleware import SECURITY_HEADERS
from tests.harness import QUESTION, Kontor


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


def _carries_the_headers(response: Any) -> bool:
    return all(response.headers.get(name) == value for name, value in SECURITY_HEADERS.items())


def _routes(routes: Iterable[Any]) -> Iterator[tuple[str, str]]:
    """Every (method, path) the app serves, through included routers (FastAPI keeps them nested)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            yield from _routes(inner.routes)
        elif isinstance(route, Mount):
            yield "GET", f"{route.path}/kontor.css"
        else:
            path = route.path.replace(":path}", "}")  # the spec names {source:path} {source}
            yield from ((method, path) for method in sorted(route.methods - {"HEAD"}))


def test_every_route_answers_with_the_security_headers(tmp_path: Path, knowledge: Path) -> None:
    """Each route of the app – not a sample – as a stranger, an agent and an admin (whatever the answer is)."""
    kontor = Kontor(tmp_path, knowledge)
    routes = sorted(set(_routes(kontor.client.app.routes)))
    spec = kontor.call("GET", "/api/openapi.json", role=None).json()
    documented = {(method.upper(), path) for path, ops in spec["paths"].items() for method in ops}
    assert documented <= set(routes) and {("GET", "/posteingang"), ("GET", "/static/kontor.css")} <= set(routes)
    missing = []
    for role in (None, "agent", "admin"):
        for method, path in routes:
            url = re.sub(r"\{\w+\}", "1", path)
            body = {"json": {}} if method in ("POST", "PUT") else {}
            response = kontor.call(method, url, role=role, follow_redirects=False, **body)
            if not _carries_the_headers(response):
                missing.append((role, method, url, response.status_code))
    assert missing == []


def test_answers_from_outside_the_routes_carry_the_headers_too(tmp_path: Path, knowledge: Path) -> None:
    """A body over the limit is refused before any route runs (declared or streamed), and a server error is
    answered by Starlette's outermost middleware: both still carry the headers."""
    kontor = Kontor(tmp_path, knowledge, max_request_bytes=2048)
    bearer = {"Authorization": f"Bearer {kontor.tokens['agent']}", "Content-Type": "application/json"}
    declared = kontor.client.post("/api/tickets", content=b"{" + b" " * 4096 + b"}", headers=bearer)
    streamed = kontor.client.post("/api/tickets", content=iter([b"{", b" " * 4096, b"}"]), headers=bearer)
    assert declared.status_code == streamed.status_code == 413
    assert _carries_the_headers(declared) and _carries_the_headers(streamed)

    def broken() -> None:
        raise RuntimeError("kaputt")

    kontor.client.app.add_api_route("/kaputt", broken)
    crashed = TestClient(kontor.client.app, raise_server_exceptions=False).get("/kaputt")
    assert crashed.status_code == 500 and _carries_the_headers(crashed)
    assert kontor.call("POST", "/api/tickets", json=QUESTION).status_code == 201  # the app still works


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
