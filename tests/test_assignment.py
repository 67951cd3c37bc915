"""Issue 13, the team's desk: a ticket's team follows its category (when drafting, after a person's correction,
unless a person sent it to another team), assigning a ticket to a person or a team, the inbox's views "Meine",
"Nicht zugewiesen" and "Mein Team", and the collision warning (who else has the ticket open). The browser side is
in tests/test_e2e_browser.py."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select, update
from typer.testing import CliRunner

from assistant.cli import app
from assistant.privacy import erase_customer
from assistant.store.tables import AuditEntry, Ticket, TicketPresence, User
from assistant.tickets.assignment import Routing
from assistant.tickets.queries import TicketFilter, find_tickets
from tests.harness import QUESTION, Kontor

BILLING = {"customer": "Bernd Beispiel <bernd@example.org>", "subject": "Rechnung doppelt bezahlt",
           "body": "Ich habe die Rechnung 4711 versehentlich zweimal bezahlt. Bitte erstatten Sie den Betrag."}


def _user_id(kontor: Kontor, name: str) -> int:
    with kontor.services.database.session() as session:
        found = session.scalar(select(User.id).where(User.name == name))
    assert found is not None
    return found


def _set_team(kontor: Kontor, name: str, team: str | None) -> None:
    with kontor.services.database.session() as session:
        session.execute(update(User).where(User.name == name).values(team=team))


def _assign(kontor: Kontor, ticket_id: int, role: str = "agent", **body: Any) -> Any:
    return kontor.call("POST", f"/api/tickets/{ticket_id}/assign", role, json=body)


def _browser(kontor: Kontor, name: str) -> tuple[TestClient, dict[str, str]]:
    """A browser of its own for ``name``: logged in by session cookie, with the CSRF header its page scripts send."""
    client = TestClient(kontor.app)
    login = client.post("/api/session", json={"name": name, "password": f"{name}-passwort-123"})
    assert login.status_code == 200, login.text
    return client, {"X-CSRF-Token": login.json()["csrf_token"]}


def _page(client: TestClient, path: str) -> str:
    response = client.get(path, headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    return response.text


def _other_team(kontor: Kontor, team: str | None) -> str:
    return next(t for t in kontor.services.routing.teams() if t != team)


# --- routing: the team follows the category ------------------------------------------------------------------

def test_drafting_routes_the_ticket_to_its_categorys_team(kontor: Kontor) -> None:
    ticket = kontor.drafted_ticket()
    assert ticket["category"] and ticket["team"] == kontor.services.routing.team_of(ticket["category"])
    assert ticket["team"] in kontor.services.routing.teams() and ticket["assignee_id"] is None


def test_a_category_correction_takes_the_team_along_and_its_undo_takes_it_back(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    routing = lite.services.routing
    target = "rechnung_zahlung" if ticket["category"] != "rechnung_zahlung" else "lieferverzug"
    changed = lite.call("PUT", f"/api/tickets/{ticket['id']}/category", json={"category": target})
    assert changed.status_code == 200 and changed.json()["team"] == routing.team_of(target) != ticket["team"]
    undone = lite.call("POST", f"/api/tickets/{ticket['id']}/category/undo").json()
    assert undone["category"] == ticket["category"] and undone["team"] == ticket["team"]


def test_a_team_a_person_chose_stays_when_the_ticket_is_drafted_again(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    chosen = _other_team(lite, ticket["team"])
    assert _assign(lite, ticket["id"], team=chosen).json()["team"] == chosen
    assert lite.call("POST", f"/api/tickets/{ticket['id']}/draft").status_code == 202
    assert lite.services.jobs.run_until_idle() == 1
    assert lite.call("GET", f"/api/tickets/{ticket['id']}").json()["team"] == chosen
    # a person's category correction decides again: the team follows the category they chose
    fixed = lite.call("PUT", f"/api/tickets/{ticket['id']}/category", json={"category": "kundenkonto"}).json()
    assert fixed["team"] == lite.services.routing.team_of("kundenkonto") == "Onlineshop-Team"


def test_the_machines_category_moves_a_team_that_came_from_the_category(lite: Kontor) -> None:
    routing = Routing(lambda: lite.services.categories)
    ticket = Ticket(category="lieferverzug", team="Versandteam")
    ticket.category = "rechnung_zahlung"
    routing.follow(ticket, "lieferverzug")
    assert ticket.team == "Buchhaltung"
    by_hand = Ticket(category="lieferverzug", team="Retourenteam")  # a person sent it there
    by_hand.category = "rechnung_zahlung"
    routing.follow(by_hand, "lieferverzug")
    assert by_hand.team == "Retourenteam"
    fresh = Ticket(category="kundenkonto", team=None)
    routing.follow(fresh, None)
    assert fresh.team == "Onlineshop-Team" and routing.team_of("gibt-es-nicht") is None


# --- assignment -------------------------------------------------------------------------------------------------

def test_take_give_and_unassign_through_the_api_with_audit_entries(kontor: Kontor) -> None:
    ticket = kontor.drafted_ticket()
    anna, eva = _user_id(kontor, "anna"), _user_id(kontor, "eva")
    taken = _assign(kontor, ticket["id"], user="anna")
    assert taken.status_code == 200, taken.text
    assert taken.json() == {"ticket_id": ticket["id"], "assignee_id": anna, "assignee": "anna", "team": ticket["team"]}
    team = _other_team(kontor, ticket["team"])
    given = _assign(kontor, ticket["id"], user="eva", team=team).json()
    assert (given["assignee"], given["team"]) == ("eva", team)
    assert _assign(kontor, ticket["id"], user="eva", team=team).status_code == 200  # no change: no entry
    kept_team = _assign(kontor, ticket["id"], user=None).json()
    assert (kept_team["assignee"], kept_team["assignee_id"], kept_team["team"]) == (None, None, team)
    cleared = _assign(kontor, ticket["id"], team=None).json()
    assert cleared["team"] is None
    view = kontor.call("GET", f"/api/tickets/{ticket['id']}").json()
    assert (view["assignee_id"], view["team"], view["status"]) == (None, None, ticket["status"])

    entries = [e for e in kontor.audit(ticket["id"]) if e["action"] == "assigned"]
    assert [(e["actor"], e["detail"]["assignee"], e["detail"]["team"]) for e in entries] == [
        ("anna", "anna", ticket["team"]), ("anna", "eva", team), ("anna", None, team), ("anna", None, None)]
    assert entries[1]["detail"] == {"assignee_id": eva, "assignee": "eva", "team": team, "previous_assignee_id": anna,
                                    "previous_assignee": "anna", "previous_team": ticket["team"]}
    text = str(entries)  # staff and teams only, no customer text
    assert "Erika" not in text and "erika@example.org" not in text and "Österreich" not in text


def test_assignment_refuses_unknown_tickets_people_and_teams_in_german(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    missing = _assign(lite, 999, user="anna")
    assert missing.status_code == 404 and missing.json()["detail"] == "Ticket 999 gibt es nicht"
    nobody = _assign(lite, ticket["id"], user="niemand")
    assert nobody.status_code == 422 and "Benutzer 'niemand' gibt es nicht" in nobody.json()["detail"]
    team = _assign(lite, ticket["id"], team="Raumfahrt")
    assert team.status_code == 422 and "Das Team 'Raumfahrt' gibt es nicht" in team.json()["detail"]
    assert "Buchhaltung" in team.json()["detail"]  # the teams there are
    lite.services.users.set_active("eva", False)
    disabled = _assign(lite, ticket["id"], user="eva")
    assert disabled.status_code == 422 and "aktiven Benutzer 'eva'" in disabled.json()["detail"]
    empty = _assign(lite, ticket["id"], user="")
    assert empty.status_code == 422
    assert lite.call("POST", f"/api/tickets/{ticket['id']}/assign", "", json={"user": "anna"}).status_code == 401
    view = lite.call("GET", f"/api/tickets/{ticket['id']}").json()
    assert view["assignee_id"] is None  # nothing half-done
    assert not [e for e in lite.audit(ticket["id"]) if e["action"] == "assigned"]


def test_a_change_by_cookie_needs_the_csrf_token_and_a_role_kontor_knows(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    client, csrf = _browser(lite, "anna")
    assert client.post(f"/api/tickets/{ticket['id']}/assign", json={"user": "anna"}).status_code == 403
    assert client.post(f"/api/tickets/{ticket['id']}/presence", json={"editing": False}).status_code == 403
    assert client.delete(f"/api/tickets/{ticket['id']}/presence").status_code == 403
    assert client.post(f"/api/tickets/{ticket['id']}/assign", json={"user": "anna"}, headers=csrf).status_code == 200
    with lite.services.database.session() as session:
        session.execute(update(User).where(User.name == "anna").values(role="gast"))
    refused = client.post(f"/api/tickets/{ticket['id']}/assign", json={"user": None}, headers=csrf)
    assert refused.status_code == 403 and "Rolle" in refused.json()["detail"]


def test_the_ticket_page_says_who_is_responsible_and_offers_to_take_it(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    client, _ = _browser(lite, "anna")
    html = _page(client, f"/tickets/{ticket['id']}")
    assert "Zuständig: <strong id=\"assignee-name\">niemand</strong>" in html
    assert f"Team <strong>{ticket['team']}</strong>" in html
    assert 'data-action="take"' in html and 'for="assign-user"' in html and 'for="assign-team"' in html
    _assign(lite, ticket["id"], user="anna")
    html = _page(client, f"/tickets/{ticket['id']}")
    assert "Zuständig: <strong id=\"assignee-name\">anna</strong>" in html
    assert 'data-action="take" hidden' in html  # it is hers already


# --- the inbox's views ------------------------------------------------------------------------------------------

def test_the_views_mine_unassigned_and_my_team(kontor: Kontor) -> None:
    first, second, third = (kontor.drafted_ticket()["id"] for _ in range(3))
    routed = kontor.call("GET", f"/api/tickets/{first}").json()["team"]
    team = _other_team(kontor, routed)
    _assign(kontor, first, user="anna")
    _assign(kontor, second, user="eva", team=team)
    _assign(kontor, third, team=_other_team(kontor, team))
    anna = _user_id(kontor, "anna")

    def ids(view: str, **who: Any) -> list[int]:
        return [t.id for t in find_tickets(kontor.services.database, TicketFilter(view=view, **who)).tickets]

    assert ids("meine", user_id=anna) == [first]
    assert ids("meine") == []  # nobody asking: nobody's tickets
    assert ids("nicht-zugewiesen", user_id=anna) == [third]
    assert ids("mein-team", team=team) == [second]
    assert ids("mein-team") == []
    assert ids("alle", user_id=anna) == [third, second, first]
    found = find_tickets(kontor.services.database, TicketFilter(view="alle"))
    assert found.assignees == {anna: "anna", _user_id(kontor, "eva"): "eva"}


def test_the_inbox_offers_my_team_only_to_someone_with_a_team_and_lists_who_has_each_ticket(lite: Kontor) -> None:
    mine = lite.drafted_ticket()["id"]
    other = lite.drafted_ticket(BILLING)["id"]
    team = lite.call("GET", f"/api/tickets/{other}").json()["team"]
    _assign(lite, mine, user="anna")
    client, _ = _browser(lite, "anna")
    html = _page(client, "/posteingang")
    assert "ansicht=meine" in html and "ansicht=nicht-zugewiesen" in html and "ansicht=mein-team" not in html
    assert "<th>Team</th><th>Zuständig</th>" in html and '<td class="assignee">anna</td>' in html
    assert html.index("?ansicht=zu-pruefen") < html.index("?ansicht=meine") < html.index("?ansicht=alle")
    page = _page(client, "/posteingang?ansicht=meine")
    assert f'href="/tickets/{mine}"' in page and f'href="/tickets/{other}"' not in page
    page = _page(client, "/posteingang?ansicht=nicht-zugewiesen")
    assert f'href="/tickets/{other}"' in page and f'href="/tickets/{mine}"' not in page
    assert 'aria-current="page">Nicht zugewiesen' in page
    assert 'aria-current="page">Alle' in _page(client, "/posteingang?ansicht=mein-team")  # no team: all

    _set_team(lite, "anna", team)
    page = _page(client, "/posteingang?ansicht=mein-team")
    assert 'aria-current="page">Mein Team' in page and f'href="/tickets/{other}"' in page
    assert f'<td class="team">{team}</td>' in page


def test_users_get_a_team_on_the_command_line_and_the_list_shows_it(tmp_path: Any) -> None:
    runner = CliRunner()
    added = runner.invoke(app, ["users", "add", "berta", "--role", "agent", "--team", "Buchhaltung",
                                "--password-stdin"], input="berta-passwort-123\n")
    assert added.exit_code == 0, added.output
    assert "Benutzer berta (agent, Team Buchhaltung) angelegt." in added.stdout
    listed = runner.invoke(app, ["users", "list", "--json"])
    assert [(u["name"], u["team"]) for u in json.loads(listed.stdout)] == [("berta", "Buchhaltung")]
    assert "Buchhaltung" in runner.invoke(app, ["users", "list"]).stdout
    wrong = runner.invoke(app, ["users", "add", "carl", "--role", "agent", "--team", "Raumfahrt"])
    assert "Das Team 'Raumfahrt' gibt es nicht. Teams: Versandteam," in str(wrong.exception)  # `kontor` prints it
    assert "carl" not in runner.invoke(app, ["users", "list"]).stdout


# --- presence: the collision warning ---------------------------------------------------------------------------

def _beat(client: TestClient, csrf: dict[str, str], ticket_id: int, editing: bool = False) -> Any:
    response = client.post(f"/api/tickets/{ticket_id}/presence", json={"editing": editing}, headers=csrf)
    assert response.status_code == 200, response.text
    return response.json()["others"]


def test_two_people_on_one_ticket_see_each_other_and_who_is_editing(kontor: Kontor) -> None:
    ticket = kontor.drafted_ticket()["id"]
    anna, anna_csrf = _browser(kontor, "anna")
    eva, eva_csrf = _browser(kontor, "eva")
    assert _beat(anna, anna_csrf, ticket) == []
    assert _beat(eva, eva_csrf, ticket) == [{"name": "anna", "editing": False}]
    assert _beat(anna, anna_csrf, ticket, editing=True) == [{"name": "eva", "editing": False}]
    assert _beat(eva, eva_csrf, ticket) == [{"name": "anna", "editing": True}]
    assert _beat(anna, anna_csrf, ticket) == [{"name": "eva", "editing": False}]  # saved: no longer editing
    assert _beat(eva, eva_csrf, ticket) == [{"name": "anna", "editing": False}]
    with kontor.services.database.session() as session:
        assert session.scalar(select(TicketPresence.editing).where(
            TicketPresence.user_id == _user_id(kontor, "eva"))) is False
        assert len(session.scalars(select(TicketPresence)).all()) == 2  # one row each, however often they beat
    # the page as it is first shown names the others, before any script runs
    html = _page(eva, f"/tickets/{ticket}")
    assert "Auch geöffnet von:</strong> <span id=\"presence-names\">anna</span>" in html
    # leaving the page takes anna off at once
    assert anna.delete(f"/api/tickets/{ticket}/presence", headers=anna_csrf).status_code == 204
    assert _beat(eva, eva_csrf, ticket) == []
    assert 'id="presence" class="presence" role="status" hidden' in _page(eva, f"/tickets/{ticket}")


def test_presence_expires_after_60_seconds(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()["id"]
    anna, anna_csrf = _browser(lite, "anna")
    eva, eva_csrf = _browser(lite, "eva")
    _beat(anna, anna_csrf, ticket, editing=True)

    def anna_seen(seconds_ago: int) -> None:
        with lite.services.database.session() as session:
            session.execute(update(TicketPresence).where(TicketPresence.user_id == _user_id(lite, "anna"))
                            .values(seen_at=datetime.now(UTC) - timedelta(seconds=seconds_ago)))

    anna_seen(50)
    assert _beat(eva, eva_csrf, ticket) == [{"name": "anna", "editing": True}]
    anna_seen(61)
    assert lite.services.presence.others(ticket, _user_id(lite, "eva")) == []
    assert _beat(eva, eva_csrf, ticket) == []
    with lite.services.database.session() as session:  # the expired row is gone, not just hidden
        assert [p.user_id for p in session.scalars(select(TicketPresence))] == [_user_id(lite, "eva")]


def test_presence_of_an_unknown_ticket_or_without_login(lite: Kontor) -> None:
    missing = lite.call("POST", "/api/tickets/999/presence", json={"editing": False})
    assert missing.status_code == 404 and missing.json()["detail"] == "Ticket 999 gibt es nicht"
    ticket = lite.drafted_ticket()["id"]
    assert lite.call("POST", f"/api/tickets/{ticket}/presence", "", json={"editing": False}).status_code == 401
    assert lite.call("POST", f"/api/tickets/{ticket}/presence", json={"editing": "vielleicht"}).status_code == 422
    assert lite.call("DELETE", f"/api/tickets/{ticket}/presence").status_code == 204  # never there: nothing to do


def test_a_presence_row_does_not_block_erasing_the_customer(kontor: Kontor) -> None:
    ticket = kontor.drafted_ticket(QUESTION)["id"]
    assert kontor.call("POST", f"/api/tickets/{ticket}/presence", json={"editing": True}).status_code == 200
    _assign(kontor, ticket, user="anna")
    erased = erase_customer(kontor.services.privacy_parts(), "erika@example.org", "adam")
    assert erased.tickets == 1
    with kontor.services.database.session() as session:
        assert session.scalars(select(TicketPresence)).all() == []
        assert session.get(Ticket, ticket) is None
        # the assignment's audit entries stay: they name staff and teams only
        assert session.scalars(select(AuditEntry.action).where(AuditEntry.ticket_id == ticket,
                                                               AuditEntry.action == "assigned")).all() == ["assigned"]


def test_presence_api_answers_match_the_schema(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()["id"]
    assert lite.call("POST", f"/api/tickets/{ticket}/presence", "expert", json={"editing": True}).status_code == 200
    spec = lite.client.get("/api/openapi.json").json()
    answer = spec["paths"]["/api/tickets/{ticket_id}/presence"]["post"]["responses"]["200"]
    assert answer["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Presence"}
    assert lite.call("POST", f"/api/tickets/{ticket}/presence", json={}).json() == {
        "others": [{"name": "eva", "editing": True}]}
