"""Issue 13, the admin page: an admin adds a user, changes a user's role and team and creates an API token through
the JSON API (the rules of ``kontor users add`` and ``kontor tokens create``, in ``assistant.auth.Users``); only an
admin may, bad input gets a German sentence, the last active admin stays an admin, and every change is in the audit
log. Beside it: the agent's start page after login is "Zu prüfen", and a ticket's place in the drafting queue is
counted as the workers claim the jobs (by priority, then oldest first)."""

from __future__ import annotations

import html
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from assistant.errors import ConflictError
from assistant.store.tables import Job
from tests.harness import QUESTION, Kontor, html_page, logged_in

TEAM = "Buchhaltung"  # a routing team of the project's categories.yaml


@pytest.fixture
def lite(tmp_path: Path, knowledge: Path) -> Kontor:
    return Kontor(tmp_path, knowledge)


def _admin(kontor: Kontor, method: str, path: str, **kwargs: Any) -> Any:
    return kontor.call(method, path, role="admin", **kwargs)


def _user_id(kontor: Kontor, name: str) -> int:
    return next(u["id"] for u in _admin(kontor, "GET", "/api/users").json() if u["name"] == name)


def _audit(kontor: Kontor, *actions: str) -> list[dict[str, Any]]:
    entries = _admin(kontor, "GET", "/api/audit?limit=1000").json()[::-1]
    return [e for e in entries if e["action"] in actions]


NEW_USER = {"name": "berta", "role": "agent", "team": TEAM, "password": "berta-passwort-123"}


# --- add, role, team, token ------------------------------------------------------------------------------------

def test_an_admin_adds_a_user_with_a_role_and_team_who_can_log_in(lite: Kontor) -> None:
    added = _admin(lite, "POST", "/api/users", json=NEW_USER)
    assert added.status_code == 201, added.text
    body = added.json()
    assert (body["name"], body["role"], body["team"], body["active"]) == ("berta", "agent", TEAM, True)
    assert "password" not in body and "password_hash" not in body
    assert TestClient(lite.app).post("/api/session", json={"name": "berta", "password": NEW_USER["password"]}
                                     ).json()["role"] == "agent"
    [entry] = _audit(lite, "user_added")[-1:]
    assert entry["actor"] == "adam" and entry["detail"] == {"user": "berta", "user_id": body["id"], "role": "agent",
                                                            "team": TEAM}
    assert "berta-passwort-123" not in str(_admin(lite, "GET", "/api/audit?limit=1000").json())


def test_an_admin_changes_a_users_role_and_team(lite: Kontor) -> None:
    anna = _user_id(lite, "anna")
    assert lite.call("GET", "/api/prompts", role="agent").status_code == 403
    promoted = _admin(lite, "PUT", f"/api/users/{anna}/role", json={"role": "expert"})
    assert promoted.status_code == 200 and promoted.json()["role"] == "expert", promoted.text
    assert lite.call("GET", "/api/prompts", role="agent").status_code == 200  # her token: at once, no new login
    moved = _admin(lite, "PUT", f"/api/users/{anna}/team", json={"team": TEAM})
    assert moved.status_code == 200 and moved.json()["team"] == TEAM
    cleared = _admin(lite, "PUT", f"/api/users/{anna}/team", json={"team": None})
    assert cleared.status_code == 200 and cleared.json()["team"] is None
    assert [(e["action"], e["actor"], e["detail"]["before"], e["detail"]["after"])
            for e in _audit(lite, "role_changed", "team_changed")] == [
        ("role_changed", "adam", "agent", "expert"), ("team_changed", "adam", None, TEAM),
        ("team_changed", "adam", TEAM, None)]
    assert _admin(lite, "GET", "/api/teams").json()["teams"][:2] == ["Versandteam", "Reklamationsteam"]


def test_a_token_the_admin_creates_authenticates_and_is_shown_only_once(lite: Kontor) -> None:
    anna = _user_id(lite, "anna")
    created = _admin(lite, "POST", f"/api/users/{anna}/tokens", json={"label": "Export-Skript", "days": 7})
    assert created.status_code == 201, created.text
    token, info = created.json()["token"], created.json()["info"]
    assert token.startswith("kt_") and (info["user"], info["name"], info["status"]) == ("anna", "Export-Skript",
                                                                                        "valid")
    me = lite.client.get("/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status_code == 200 and me.json()["name"] == "anna"
    assert token not in _admin(lite, "GET", "/api/tokens").text
    entry = _audit(lite, "token_created")[-1]
    assert entry["actor"] == "adam" and entry["detail"]["token_id"] == info["id"] and token not in str(entry)
    # the admin revokes it again: it dies at once
    assert _admin(lite, "POST", f"/api/tokens/{info['id']}/revoke").json()["status"] == "revoked"
    assert lite.client.get("/api/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_only_an_admin_may_add_users_change_them_or_create_tokens(lite: Kontor) -> None:
    anna = _user_id(lite, "anna")
    requests = [("POST", "/api/users", NEW_USER), ("PUT", f"/api/users/{anna}/role", {"role": "admin"}),
                ("PUT", f"/api/users/{anna}/team", {"team": TEAM}),
                ("POST", f"/api/users/{anna}/tokens", {"label": "x"})]
    for method, path, body in requests:
        for role, code in (("agent", 403), ("expert", 403), ("", 401)):
            answer = lite.call(method, path, role=role, json=body)
            assert answer.status_code == code, (method, path, role, answer.text)
    assert "berta" not in {u["name"] for u in _admin(lite, "GET", "/api/users").json()}
    assert not _audit(lite, "role_changed", "team_changed")


def test_a_browser_change_needs_the_csrf_token(lite: Kontor) -> None:
    browser = TestClient(lite.app)
    login = browser.post("/api/session", json={"name": "adam", "password": "adam-passwort-123"})
    assert browser.post("/api/users", json=NEW_USER).status_code == 403  # the cookie alone is not enough
    assert browser.post("/api/users", json=NEW_USER, headers={"X-CSRF-Token": login.json()["csrf_token"]}
                        ).status_code == 201


@pytest.mark.parametrize("method, path, body, code, says", [
    ("POST", "/api/users", {**NEW_USER, "name": "berta maier"}, 422, "Benutzername: 1–100 Zeichen ohne Leerzeichen"),
    ("POST", "/api/users", {**NEW_USER, "name": "anna"}, 409, "Benutzer 'anna' gibt es schon"),
    ("POST", "/api/users", {**NEW_USER, "role": "chef"}, 422, "muss einer dieser Werte sein"),
    ("POST", "/api/users", {**NEW_USER, "team": "Raumfahrt"}, 422, "Das Team 'Raumfahrt' gibt es nicht. Teams:"),
    ("POST", "/api/users", {**NEW_USER, "password": "kurz"}, 422, "Das Passwort braucht mindestens 10 Zeichen"),
    ("PUT", "/api/users/{anna}/role", {"role": "root"}, 422, "muss einer dieser Werte sein"),
    ("PUT", "/api/users/999/role", {"role": "agent"}, 404, "Benutzer '999' gibt es nicht"),
    ("PUT", "/api/users/{anna}/team", {"team": "Raumfahrt"}, 422, "Das Team 'Raumfahrt' gibt es nicht"),
    ("POST", "/api/users/{anna}/tokens", {"label": "   "}, 422, "Bezeichnung des Tokens: 1–100 Zeichen"),
    ("POST", "/api/users/{anna}/tokens", {"label": "x", "days": 0}, 422, "muss mindestens 1 sein"),
    ("POST", "/api/users/999/tokens", {"label": "x"}, 404, "Benutzer '999' gibt es nicht"),
])
def test_bad_input_gets_a_german_sentence(lite: Kontor, method: str, path: str, body: dict[str, Any], code: int,
                                          says: str) -> None:
    answer = _admin(lite, method, path.format(anna=_user_id(lite, "anna")), json=body)
    assert answer.status_code == code and says in answer.json()["detail"], answer.text
    assert not [e for e in _audit(lite, "user_added", "role_changed", "team_changed", "token_created")
                if e["actor"] == "adam"]


def test_no_token_for_a_disabled_user(lite: Kontor) -> None:
    anna = _user_id(lite, "anna")
    assert _admin(lite, "POST", f"/api/users/{anna}/disable").status_code == 204
    refused = _admin(lite, "POST", f"/api/users/{anna}/tokens", json={"label": "x"})
    assert refused.status_code == 409 and "deaktiviert" in refused.json()["detail"]


def test_the_last_admin_stays_an_admin_and_nobody_locks_themselves_out(lite: Kontor) -> None:
    adam = _user_id(lite, "adam")
    own = _admin(lite, "PUT", f"/api/users/{adam}/role", json={"role": "agent"})
    assert own.status_code == 409 and own.json()["detail"] == "Sie können Ihre eigene Rolle nicht ändern"
    assert _admin(lite, "POST", f"/api/users/{adam}/disable").status_code == 409  # as before: not oneself
    with pytest.raises(ConflictError, match="letzte aktive Administration"):  # `kontor` has no actor
        lite.services.users.set_role("adam", "expert")
    with pytest.raises(ConflictError, match="letzte aktive Administration"):
        lite.services.users.set_active("adam", False)

    # a second admin: now adam may lose the role, and then she is the last one
    assert _admin(lite, "POST", "/api/users", json={**NEW_USER, "role": "admin"}).status_code == 201
    berta = TestClient(lite.app)
    csrf = {"X-CSRF-Token": berta.post("/api/session", json={"name": "berta", "password": NEW_USER["password"]}
                                       ).json()["csrf_token"]}
    assert berta.put(f"/api/users/{adam}/role", json={"role": "agent"}, headers=csrf).status_code == 200
    assert _admin(lite, "GET", "/api/users").status_code == 403  # adam's token: no longer an admin
    with pytest.raises(ConflictError, match="'berta' ist die letzte aktive Administration"):
        lite.services.users.set_role("berta", "agent")
    assert {u["name"]: u["role"] for u in berta.get("/api/users").json()}["berta"] == "admin"
    changed = [e for e in berta.get("/api/audit?limit=1000").json() if e["action"] == "role_changed"]
    assert [(e["actor"], e["detail"]["user"], e["detail"]["after"]) for e in changed] == [("berta", "adam", "agent")]


def test_the_admin_page_offers_the_new_forms_with_labels(lite: Kontor) -> None:
    status, page = html_page(lite, "/verwaltung", "adam")
    assert status == 200
    for needed in ('data-action-submit="add-user"', '<label for="add-name">Benutzername', 'data-action="set-role"',
                   'aria-label="Team von anna"', 'data-action-submit="create-token"', "nur dieses eine Mal angezeigt"):
        assert needed in page, needed
    assert f'id="role-{_user_id(lite, "anna")}"' in page
    assert f'id="role-{_user_id(lite, "adam")}"' not in page  # not one's own role


# --- the agent's start page ------------------------------------------------------------------------------------

def test_after_login_the_agent_lands_on_zu_pruefen_and_a_safe_next_is_kept(lite: Kontor) -> None:
    page = lite.client.get("/login").text
    assert f'data-next="{html.escape("/posteingang?ansicht=zu-pruefen")}"' in page
    assert 'data-next="/tickets/3"' in lite.client.get("/login", params={"next": "/tickets/3"}).text
    assert 'data-next="//evil.example"' not in lite.client.get("/login", params={"next": "//evil.example"}).text
    start = logged_in(lite, "anna").get("/posteingang?ansicht=zu-pruefen", headers={"Accept": "text/html"})
    assert start.status_code == 200 and 'aria-current="page">Zu prüfen' in start.text


# --- the queue counts as the workers claim -----------------------------------------------------------------------

def _position(kontor: Kontor, ticket_id: int) -> int | None:
    return kontor.call("GET", f"/api/tickets/{ticket_id}").json()["queue_position"]  # type: ignore[no-any-return]


def test_a_new_ticket_goes_before_a_waiting_redraft_and_its_position_grows(lite: Kontor) -> None:
    """The review: the position counted jobs by id only, while jobs are claimed by priority, then id: a re-draft
    waiting at "Position 1" stayed there while new tickets were drafted before it."""
    first, second = (lite.call("POST", "/api/tickets", json=QUESTION).json()["id"] for _ in range(2))
    lite.services.jobs.run_until_idle()
    assert lite.call("POST", f"/api/tickets/{first}/draft").status_code == 202  # "Neu entwerfen"
    assert _position(lite, first) == 1
    newer = lite.call("POST", "/api/tickets", json=QUESTION).json()["id"]
    assert (_position(lite, newer), _position(lite, first)) == (1, 2)
    assert lite.call("POST", f"/api/tickets/{second}/draft").status_code == 202  # a later re-draft: behind the first
    assert (_position(lite, first), _position(lite, second)) == (2, 3)
    newest = lite.call("POST", "/api/tickets", json=QUESTION).json()["id"]
    assert [_position(lite, t) for t in (newer, newest, first, second)] == [1, 2, 3, 4]
    with lite.services.database.session() as session:  # a worker took the oldest re-draft: it runs now
        session.execute(update(Job).where(Job.ticket_id == first, Job.status == "queued").values(
            status="running", lease_until=datetime.now(UTC) + timedelta(minutes=2)))
    assert [_position(lite, t) for t in (first, newer, newest, second)] == [1, 2, 3, 4]
    assert lite.services.jobs.run_until_idle() == 3  # the running one belongs to a worker that is not here
    assert [_position(lite, t) for t in (newer, newest, second)] == [None, None, None]
