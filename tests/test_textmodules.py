"""Text modules (Textbausteine, issue 13): the department writes them, agents read them and insert them while
editing an answer. The API by role, the rules for a module's text (placeholders {kunde} and {agent} only), the
audit entries, the department's page and the ticket page's picker."""

from __future__ import annotations

import html
import re
from typing import Any

import pytest

from assistant.textmodules import checked_body, fill
from tests.harness import Kontor

GREETING = {"title": "Begrüßung", "body": "Guten Tag {kunde},\n\nvielen Dank für Ihre Nachricht.", "category": None}


def _create(kontor: Kontor, role: str = "expert", **module: Any) -> Any:
    return kontor.call("POST", "/api/text-modules", role, json={**GREETING, **module})


def _page(kontor: Kontor, path: str, name: str) -> tuple[int, str]:
    """A page as the browser gets it: logged in by session cookie (as ``name``), asking for HTML."""
    kontor.client.cookies.clear()
    login = {"name": name, "password": f"{name}-passwort-123"}
    assert kontor.client.post("/api/session", json=login).status_code == 200
    response = kontor.client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
    return response.status_code, response.text


def test_agents_read_modules_and_the_department_writes_them(kontor: Kontor) -> None:
    assert _create(kontor, "agent").status_code == 403
    assert _create(kontor, "").status_code == 401
    created = _create(kontor, category="lieferverzug", body="Guten Tag {kunde},\n\nIhre Lieferung kommt.\n\n{agent}")
    assert created.status_code == 201, created.text
    module = created.json()
    assert (module["title"], module["category"], module["category_name"], module["created_by"]) == (
        "Begrüßung", "lieferverzug", "Lieferverzug", "eva")
    assert module["body"] == "Guten Tag {kunde},\n\nIhre Lieferung kommt.\n\n{agent}"  # stored unfilled

    listed = kontor.call("GET", "/api/text-modules", "agent")
    assert listed.status_code == 200 and [m["id"] for m in listed.json()] == [module["id"]]
    assert kontor.call("GET", "/api/text-modules", "").status_code == 401

    path = f"/api/text-modules/{module['id']}"
    assert kontor.call("PUT", path, "agent", json=GREETING).status_code == 403
    changed = kontor.call("PUT", path, "expert", json={"title": "  Begrüßung   lang ", "body": "Hallo {kunde}",
                                                       "category": ""})
    assert changed.status_code == 200, changed.text
    assert (changed.json()["title"], changed.json()["category"], changed.json()["category_name"]) == (
        "Begrüßung lang", None, None)
    assert changed.json()["updated_at"] >= module["updated_at"]

    assert kontor.call("DELETE", path, "agent").status_code == 403
    deleted = kontor.call("DELETE", path, "expert")
    assert deleted.status_code == 200 and deleted.json() == {"id": module["id"], "title": "Begrüßung lang",
                                                              "deleted": True}
    assert kontor.call("GET", "/api/text-modules", "agent").json() == []
    for method in ("PUT", "DELETE"):
        missing = kontor.call(method, path, "expert", json=GREETING)
        assert missing.status_code == 404 and missing.json()["detail"] == f"Textbaustein {module['id']} gibt es nicht"

    log = [e for e in kontor.call("GET", "/api/audit", "admin").json() if e["action"].startswith("text_module_")]
    assert [(e["action"], e["actor"], e["detail"]) for e in reversed(log)] == [
        ("text_module_created", "eva", {"text_module_id": module["id"], "title": "Begrüßung"}),
        ("text_module_updated", "eva", {"text_module_id": module["id"], "title": "Begrüßung lang"}),
        ("text_module_deleted", "eva", {"text_module_id": module["id"], "title": "Begrüßung lang"}),
    ]


def test_the_list_puts_a_categorys_modules_first(lite: Kontor) -> None:
    for title, category in (("Zahlung", "rechnung_zahlung"), ("Allgemein", None), ("Verspätung", "lieferverzug"),
                            ("Anruf", "lieferverzug")):
        assert _create(lite, title=title, category=category).status_code == 201
    titles = [m["title"] for m in lite.call("GET", "/api/text-modules?category=lieferverzug", "agent").json()]
    assert titles == ["Anruf", "Verspätung", "Allgemein", "Zahlung"]
    assert [m["title"] for m in lite.call("GET", "/api/text-modules", "agent").json()] == [
        "Allgemein", "Anruf", "Verspätung", "Zahlung"]


@pytest.mark.parametrize(("module", "status", "says"), [
    ({"body": "Guten Tag {name},"}, 422, "Unbekannter Platzhalter {name}"),
    ({"body": "Guten Tag {{ customer }},"}, 422, "Unbekannter Platzhalter { customer }"),
    ({"body": "Guten Tag {Kunde},"}, 422, "Unbekannter Platzhalter {Kunde}"),
    ({"body": "Preis: 5 € }"}, 422, "einzelne geschweifte Klammer"),
    ({"category": "versand"}, 422, "Unbekannte Kategorie 'versand'"),
    ({"title": "   "}, 422, "Der Titel ist leer"),
    ({"body": " \n "}, 422, "Der Text des Textbausteins ist leer"),
    ({"title": ""}, 422, "„title“"),
    ({"body": "x" * 5001}, 422, "höchstens 5000 Zeichen"),
    ({"title": "x" * 201}, 422, "höchstens 200 Zeichen"),
    ({"title": "begrüßung"}, 409, "Einen Textbaustein mit dem Titel „begrüßung“ gibt es schon"),
])
def test_a_module_that_breaks_a_rule_is_refused_in_german(lite: Kontor, module: dict[str, Any], status: int,
                                                          says: str) -> None:
    assert _create(lite).status_code == 201
    refused = _create(lite, **module)
    assert refused.status_code == status, refused.text
    assert says in refused.json()["detail"]
    first = lite.call("GET", "/api/text-modules", "agent").json()[0]["id"]
    changed = lite.call("PUT", f"/api/text-modules/{first}", "expert", json={**GREETING, "title": "Anders", **module})
    assert changed.status_code == (422 if status == 422 else 200)  # its own title is no duplicate


def test_renaming_onto_another_title_is_a_conflict(lite: Kontor) -> None:
    assert _create(lite).status_code == 201
    other = _create(lite, title="Abschied").json()
    taken = lite.call("PUT", f"/api/text-modules/{other['id']}", "expert", json=GREETING)
    assert taken.status_code == 409 and "gibt es schon" in taken.json()["detail"]


def test_placeholders_are_filled_by_a_plain_replace() -> None:
    body = checked_body("  Guten Tag {kunde},\n\nmit freundlichen Grüßen\n{agent}\n")
    assert fill(body, "Erika Muster", "anna") == "Guten Tag Erika Muster,\n\nmit freundlichen Grüßen\nanna"
    assert fill("Guten Tag {kunde},", "", "anna") == "Guten Tag,"  # no name: no blank before the comma
    assert fill("{kunde} {{ jinja }}", "{agent}", "x") == "{agent} {{ jinja }}"  # never a template engine


def test_the_department_page_lists_modules_escaped_with_a_labelled_form(lite: Kontor) -> None:
    assert _create(lite, title="<script>alert(1)</script>", body="<b>fett</b> {kunde}",
                   category="lieferverzug").status_code == 201
    status, page = _page(lite, "/textbausteine", "eva")
    assert status == 200
    assert "<script>alert(1)" not in page and "<b>fett" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&lt;b&gt;fett&lt;/b&gt;" in page
    row = re.search(r'<tr data-id="\d+">(.*?)</tr>', page, re.S)
    assert row and "Lieferverzug" in row.group(1) and "angelegt von eva" in row.group(1)
    assert re.search(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr", row.group(1))
    for field, label in (("tm-title", "Titel"), ("tm-category", "Kategorie"), ("tm-body", "Text")):
        assert f'<label for="{field}">{label}</label>' in page and f'id="{field}"' in page
    assert '<option value="lieferverzug">Lieferverzug</option>' in page
    assert 'data-action-submit="text-module"' in page and 'data-action="text-module-delete"' in page
    assert '<meta name="csrf-token" content="' in page and 'content=""' not in page  # the form's CSRF token
    assert 'href="/textbausteine" class="active"' in page  # linked in the navigation

    status, page = _page(lite, "/textbausteine", "anna")
    assert status == 403 and "Kein Zugriff" in page
    status, page = _page(lite, "/posteingang", "anna")
    assert 'href="/textbausteine"' not in page


def _options(page: str) -> list[tuple[str, str]]:
    """(title, inserted text) of each module the picker offers, in order."""
    picker = re.search(r'<select id="text-module".*?</select>', page, re.S)
    assert picker, "no picker"
    return [(html.unescape(title), html.unescape(body))
            for body, title in re.findall(r'<option value="\d+" data-body="([^"]*)">([^<]*)</option>', picker.group())]


def test_the_ticket_page_offers_the_categorys_modules_first_filled(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    status, page = _page(lite, f"/tickets/{ticket['id']}", "anna")
    assert status == 200 and 'id="text-module"' not in page  # no modules: no picker
    own = ticket["category"]
    other = next(c.id for c in lite.services.categories.categories if c.id != own)
    for title, category, body in (("Anderes", other, "Anders"), ("Zusage", own, "Das <b>klären</b> wir, {kunde}."),
                                  ("Gruß", None, "Mit freundlichen Grüßen\n{agent}")):
        assert _create(lite, title=title, category=category, body=body).status_code == 201

    status, page = _page(lite, f"/tickets/{ticket['id']}", "anna")
    assert status == 200
    assert '<label for="text-module">Textbaustein einfügen</label>' in page
    assert 'data-action="insert-text-module">Einfügen</button>' in page
    assert _options(page) == [("Zusage", "Das <b>klären</b> wir, Erika Muster."), ("Anderes", "Anders"),
                              ("Gruß", "Mit freundlichen Grüßen\nanna")]
    assert "<b>klären" not in page  # the module's text is an attribute, escaped
    name = lite.services.categories.get(own).name
    assert f'<optgroup label="Für {name}">' in page and '<optgroup label="Weitere">' in page
    assert page.index('id="draft-text"') < page.index('id="text-module"')

    status, page = _page(lite, f"/tickets/{ticket['id']}", "eva")
    assert ("Gruß", "Mit freundlichen Grüßen\neva") in _options(page)  # the name of who inserts it


def test_no_picker_once_the_answer_is_locked(lite: Kontor) -> None:
    ticket = lite.drafted_ticket()
    assert _create(lite).status_code == 201
    draft_id = ticket["draft"]["id"]
    assert lite.call("POST", f"/api/drafts/{draft_id}/approve", "agent").status_code == 200
    status, page = _page(lite, f"/tickets/{ticket['id']}", "anna")
    assert status == 200 and 'id="text-module"' in page  # approved, not sent: still editable
    assert lite.call("POST", f"/api/drafts/{draft_id}/send", "agent").status_code == 200
    status, page = _page(lite, f"/tickets/{ticket['id']}", "anna")
    assert status == 200 and 'id="draft-text"' in page and 'id="text-module"' not in page
