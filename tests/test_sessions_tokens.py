"""Sessions and tokens (issue 10, item 6), each promise by performing the attack through the real API: a stolen
token or session must die when it expires, is revoked, its user is disabled or the password changes; a page
on another host cannot use the victim's cookie even with the CSRF token; the cookie cannot be planted."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select, update

from assistant.config import Settings
from assistant.store.tables import ApiToken, BrowserSession
from tests.harness import QUESTION, Kontor

NEW_PASSWORD = "neues-passwort-456"


@pytest.fixture
def lite(tmp_path: Path, knowledge: Path) -> Kontor:
    return Kontor(tmp_path, knowledge)


def _browser(kontor: Kontor, name: str, password: str | None = None) -> tuple[TestClient, dict[str, str]]:
    """A browser of its own (cookie jar) logged in as ``name``, and the header with its CSRF token."""
    client = TestClient(kontor.client.app)
    login = client.post("/api/session", json={"name": name, "password": password or f"{name}-passwort-123"})
    assert login.status_code == 200, login.text
    return client, {"X-CSRF-Token": login.json()["csrf_token"]}


def _user_id(kontor: Kontor, name: str) -> int:
    return next(u["id"] for u in kontor.call("GET", "/api/users", role="admin").json() if u["name"] == name)


def _audit(kontor: Kontor, action: str) -> list[dict[str, Any]]:
    entries = kontor.call("GET", "/api/audit?limit=1000", role="admin").json()
    return [e for e in entries if e["action"] == action]


def _sessions(kontor: Kontor, name: str) -> int:
    with kontor.services.database.session() as session:
        return int(session.scalar(select(func.count(BrowserSession.id)).where(
            BrowserSession.user_id == _user_id(kontor, name))) or 0)


def _login(kontor: Kontor, name: str, password: str) -> int:
    return TestClient(kontor.client.app).post("/api/session", json={"name": name, "password": password}).status_code


# --- tokens ----------------------------------------------------------------------------------------------------

def test_an_expired_token_is_refused(tmp_path: Path, knowledge: Path) -> None:
    """The review: API tokens never expired. A token past its expiry is refused with a JSON 401; a row from
    before tokens expired (no ``expires_at``) lives ``token_days`` from its creation."""
    kontor = Kontor(tmp_path, knowledge, token_days=30)
    users = kontor.services.users
    token = users.create_token("anna", "skript", days=1)
    bearer = {"Authorization": f"Bearer {token}"}
    assert kontor.client.get("/api/tickets", headers=bearer).status_code == 200
    old, young = users.create_token("anna", "alt"), users.create_token("anna", "jung")
    now = datetime.now(UTC)
    with kontor.services.database.session() as session:  # the clock moved on
        session.execute(update(ApiToken).where(ApiToken.name == "skript").values(expires_at=now - timedelta(seconds=1)))
        for label, age in (("alt", 31), ("jung", 29)):
            session.execute(update(ApiToken).where(ApiToken.name == label).values(
                expires_at=None, created_at=now - timedelta(days=age)))
    refused = kontor.client.get("/api/tickets", headers=bearer)
    assert refused.status_code == 401 and "abgelaufen" in refused.json()["detail"]
    assert kontor.client.get("/api/tickets", headers={"Authorization": f"Bearer {old}"}).status_code == 401
    assert kontor.client.get("/api/tickets", headers={"Authorization": f"Bearer {young}"}).status_code == 200
    listed = {t["name"]: t for t in kontor.call("GET", "/api/tokens", role="admin").json()}
    assert (listed["skript"]["status"], listed["alt"]["status"], listed["jung"]["status"]) == (
        "expired", "expired", "valid")
    default = datetime.fromisoformat(listed["cli"]["expires_at"]) - datetime.fromisoformat(listed["cli"]["created_at"])
    assert timedelta(days=29, hours=23) < default <= timedelta(days=30)  # the setting's lifetime


def test_an_admin_lists_and_revokes_a_token_and_it_stops_at_once(lite: Kontor) -> None:
    token = lite.services.users.create_token("anna", "export-skript")
    bearer = {"Authorization": f"Bearer {token}"}
    listing = lite.call("GET", "/api/tokens", role="admin")
    assert token not in listing.text and token[3:] not in listing.text
    entry = next(t for t in listing.json() if t["name"] == "export-skript")
    assert set(entry) == {"id", "name", "user", "created_at", "expires_at", "revoked_at", "status"}
    assert entry["user"] == "anna" and entry["status"] == "valid"
    for role in ("agent", "expert"):  # the token's owner cannot keep it alive, nor can an expert revoke it
        assert lite.call("POST", f"/api/tokens/{entry['id']}/revoke", role=role).status_code == 403
    assert lite.client.get("/api/tickets", headers=bearer).status_code == 200
    revoked = lite.call("POST", f"/api/tokens/{entry['id']}/revoke", role="admin")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    stopped = lite.client.post("/api/tickets", json=QUESTION, headers=bearer)
    assert stopped.status_code == 401 and stopped.json()["detail"] == "Token ungültig"
    assert lite.call("POST", "/api/tokens/99999/revoke", role="admin").status_code == 404
    [audited] = _audit(lite, "token_revoked")
    assert audited["actor"] == "adam" and audited["detail"]["token_id"] == entry["id"]
    everything = json.dumps(lite.call("GET", "/api/audit?limit=1000", role="admin").json())
    assert all(t[3:] not in everything for t in [token, *lite.tokens.values()])  # no token in the audit log


# --- users -----------------------------------------------------------------------------------------------------

def test_a_disabled_user_loses_every_session_and_token_at_once(lite: Kontor) -> None:
    """The review: a user could not be deactivated. Disabling ends anna's two open browser sessions and her
    token, and her password no longer logs in; enabling lets her log in again, the revoked token stays dead."""
    desk, _ = _browser(lite, "anna")
    laptop, _ = _browser(lite, "anna")
    anna = _user_id(lite, "anna")
    assert lite.call("POST", f"/api/users/{anna}/disable", role="agent").status_code == 403
    assert lite.call("POST", f"/api/users/{anna}/disable", role="admin").status_code == 204
    for browser in (desk, laptop):
        assert browser.get("/api/tickets").status_code == 401
        assert browser.get("/posteingang", follow_redirects=False).headers["location"].startswith("/login")
    assert lite.call("GET", "/api/tickets", role="agent").status_code == 401  # her token
    assert _login(lite, "anna", "anna-passwort-123") == 401 and _sessions(lite, "anna") == 0
    [audited] = _audit(lite, "user_disabled")
    assert audited["actor"] == "adam" and audited["detail"]["sessions_ended"] == 2
    assert audited["detail"]["tokens_revoked"] == 1
    assert lite.call("POST", f"/api/users/{anna}/enable", role="admin").status_code == 204
    assert _login(lite, "anna", "anna-passwort-123") == 200
    assert lite.call("GET", "/api/tickets", role="agent").status_code == 401  # revoked stays revoked
    adam = _user_id(lite, "adam")
    assert lite.call("POST", f"/api/users/{adam}/disable", role="admin").status_code == 409  # not oneself


def test_a_password_set_by_an_admin_ends_all_sessions_and_tokens(lite: Kontor) -> None:
    browser, _ = _browser(lite, "anna")
    anna = _user_id(lite, "anna")
    path = f"/api/users/{anna}/password"
    assert lite.call("PUT", path, role="admin", json={"password": "kurz"}).status_code == 422
    assert lite.call("PUT", path, role="expert", json={"password": NEW_PASSWORD}).status_code == 403
    assert browser.get("/api/tickets").status_code == 200  # nothing changed so far
    assert lite.call("PUT", path, role="admin", json={"password": NEW_PASSWORD}).status_code == 204
    assert browser.get("/api/tickets").status_code == 401
    assert lite.call("GET", "/api/tickets", role="agent").status_code == 401
    assert _login(lite, "anna", "anna-passwort-123") == 401 and _login(lite, "anna", NEW_PASSWORD) == 200
    [audited] = _audit(lite, "password_changed")
    assert audited["detail"] == {"user": "anna", "user_id": anna, "sessions_ended": 1, "tokens_revoked": 1}
    assert NEW_PASSWORD not in json.dumps(lite.call("GET", "/api/audit?limit=1000", role="admin").json())


def test_changing_ones_own_password_keeps_only_this_session(lite: Kontor) -> None:
    here, csrf = _browser(lite, "anna")
    elsewhere, _ = _browser(lite, "anna")  # e.g. a session someone else took over
    wrong = here.put("/api/me/password", headers=csrf, json={"current": "geraten-123", "new": NEW_PASSWORD})
    assert wrong.status_code == 422 and elsewhere.get("/api/tickets").status_code == 200
    stolen = elsewhere.put("/api/me/password", json={"current": "anna-passwort-123", "new": NEW_PASSWORD})
    assert stolen.status_code == 403  # no CSRF token: not from our page
    changed = here.put("/api/me/password", headers=csrf, json={"current": "anna-passwort-123", "new": NEW_PASSWORD})
    assert changed.status_code == 204
    assert here.get("/api/tickets").status_code == 200
    assert here.post("/api/tickets", json=QUESTION, headers=csrf).status_code == 201  # same CSRF token
    assert elsewhere.get("/api/tickets").status_code == 401
    assert lite.call("GET", "/api/tickets", role="agent").status_code == 401  # her token too
    assert _login(lite, "anna", NEW_PASSWORD) == 200


def test_alle_anderen_sitzungen_beenden(lite: Kontor) -> None:
    """A new login leaves the other sessions open (several desks are normal); the user ends them on demand."""
    here, csrf = _browser(lite, "anna")
    others = [_browser(lite, "anna")[0] for _ in range(2)]
    _browser(lite, "eva")
    assert here.get("/api/tickets").status_code == 200 and all(o.get("/api/tickets").status_code == 200 for o in others)
    ended = here.delete("/api/me/sessions", headers=csrf)
    assert ended.status_code == 200 and ended.json() == {"ended": 2}
    assert here.get("/api/tickets").status_code == 200
    assert all(o.get("/api/tickets").status_code == 401 for o in others)
    assert _sessions(lite, "eva") == 1  # nobody else's
    assert here.get("/konto").status_code == 200 and "Alle anderen Sitzungen beenden" in here.get("/konto").text


def test_only_admins_manage_users_and_tokens(lite: Kontor) -> None:
    anna = _user_id(lite, "anna")
    attempts = [("GET", "/api/users", None), ("GET", "/api/tokens", None),
                ("POST", f"/api/users/{anna}/disable", None), ("POST", "/api/tokens/1/revoke", None),
                ("PUT", f"/api/users/{anna}/password", {"password": NEW_PASSWORD})]
    for role in ("agent", "expert"):
        for method, path, body in attempts:
            assert lite.call(method, path, role=role, json=body).status_code == 403, (role, path)
        browser, _ = _browser(lite, "anna" if role == "agent" else "eva")
        page = browser.get("/verwaltung")
        assert page.status_code == 403 and "der Administration vorbehalten" in page.text
    assert _login(lite, "anna", "anna-passwort-123") == 200 and lite.call("GET", "/api/me").status_code == 200
    admin, _ = _browser(lite, "adam")
    page = admin.get("/verwaltung")
    assert page.status_code == 200 and all(name in page.text for name in ("anna", "eva", "adam"))
    assert all(t[3:] not in page.text for t in lite.tokens.values())  # the tokens themselves never


# --- the cookie and the origin ---------------------------------------------------------------------------------

def test_the_session_cookie_is_host_prefixed_and_secure_outside_development(tmp_path: Path, knowledge: Path) -> None:
    """Over HTTPS the cookie is ``__Host-``: Secure, Path=/, no Domain, so neither a plain-http page nor a
    sibling subdomain can plant one; a planted plain ``kontor_session`` (cookie tossing) is not accepted, even
    with a valid session secret in it."""
    kontor = Kontor(tmp_path, knowledge, secure_cookies=True)
    client = TestClient(kontor.client.app, base_url="https://testserver")
    login = client.post("/api/session", json={"name": "anna", "password": "anna-passwort-123"})
    cookie = login.headers["set-cookie"]
    assert cookie.startswith("__Host-kontor_session=")
    assert {"secure", "httponly", "path=/", "samesite=strict"} <= {p.strip().lower() for p in cookie.split(";")}
    assert "domain" not in cookie.lower()
    assert client.get("/api/tickets").status_code == 200
    secret = client.cookies["__Host-kontor_session"]
    tossed = TestClient(kontor.client.app, base_url="https://testserver", cookies={"kontor_session": secret})
    assert tossed.get("/api/tickets").status_code == 401
    logout = client.delete("/api/session", headers={"X-CSRF-Token": login.json()["csrf_token"]})
    assert logout.headers["set-cookie"].startswith("__Host-kontor_session=")
    assert "secure" in logout.headers["set-cookie"].lower()  # a browser drops a __Host- deletion without it
    with pytest.raises(ValidationError):
        Settings(env="production", secure_cookies=False)


def test_development_over_plain_http_keeps_a_plain_cookie(lite: Kontor) -> None:
    """``make run`` and the tests speak http://127.0.0.1: a Secure cookie would be dropped there."""
    login = TestClient(lite.client.app).post("/api/session", json={"name": "anna", "password": "anna-passwort-123"})
    cookie = login.headers["set-cookie"].lower()
    assert cookie.startswith("kontor_session=") and "secure" not in cookie
    assert "httponly" in cookie and "samesite=strict" in cookie


@pytest.mark.parametrize("foreign", [{"Origin": "https://evil.example"}, {"Origin": "null"},
                                     {"Origin": "http://testserver.evil.example"}, {"Origin": "http://testserver:8080"},
                                     {"Origin": "http://evil.example", "Referer": "http://testserver/posteingang"},
                                     {"Referer": "https://evil.example/angriff.html"}])
def test_a_cross_site_request_is_refused_even_with_the_csrf_token(lite: Kontor, foreign: dict[str, str]) -> None:
    """The review: CSRF checks ignored ``Origin``. A page on another host that got hold of the CSRF token still
    cannot change anything with the victim's cookie."""
    browser, csrf = _browser(lite, "anna")
    refused = browser.post("/api/tickets", json=QUESTION, headers={**csrf, **foreign})
    assert refused.status_code == 403 and "fremden Seite" in refused.json()["detail"]
    assert browser.delete("/api/me/sessions", headers={**csrf, **foreign}).status_code == 403
    assert lite.call("GET", "/api/tickets").json() == []
    login = TestClient(lite.client.app).post("/api/session", headers=foreign,
                                             json={"name": "anna", "password": "anna-passwort-123"})
    assert login.status_code == 403  # nor log the victim into another account


def test_our_own_pages_and_scripts_pass_the_origin_check(lite: Kontor) -> None:
    browser, csrf = _browser(lite, "anna")
    for same in ({"Origin": "http://testserver"}, {"Referer": "http://testserver/posteingang"}, {}):
        assert browser.post("/api/tickets", json=QUESTION, headers={**csrf, **same}).status_code == 201
    scripted = lite.client.post("/api/tickets", json=QUESTION, headers={
        "Authorization": f"Bearer {lite.tokens['agent']}", "Origin": "https://evil.example"})
    assert scripted.status_code == 201  # a token is never attached by a browser on its own: no check needed


@pytest.mark.parametrize(("settings", "says"), [
    ({"llm_backend": "openai", "openai_base_url": "http://gpu1.firma.intern:8080/v1"}, "unencrypted model server"),
    ({"llm_backend": "openai", "openai_base_urls": "https://gpu1.firma.intern/v1,http://gpu2.firma.intern:8080/v1"},
     "unencrypted model server"),  # one of several is enough to refuse
    ({"vectors_url": "http://vectors.firma.intern:8000"}, "unencrypted vector server"),
])
def test_production_refuses_unencrypted_servers_off_loopback(settings: dict[str, str], says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(env="production", secure_cookies=True, **settings)
    Settings(env="production", secure_cookies=True, **{  # on loopback, or over HTTPS: fine
        k: v.replace("gpu1.firma.intern", "127.0.0.1").replace("gpu2.firma.intern", "127.0.0.1")
        .replace("vectors.firma.intern", "127.0.0.1") for k, v in settings.items()})
