"""Issue 13, the Übersicht: beside the learning loop the figures a team lead asks for – open tickets and the
backlog's age, the first response (arrival → sent) p50/p90, the volume per category and team per week, the
hand-over rate per category and the share sent without edit per person – exact for a history with known times
(tests/desk_history.py), on SQLite and PostgreSQL, and shown in German. The browser side is in
tests/test_e2e_overview.py."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from bs4 import BeautifulSoup
from sqlalchemy import select, update

from assistant.store.tables import Ticket, User
from assistant.tickets.figures import TeamFigures, WeekRow, percentile, team_figures
from assistant.web.rendering import week
from tests import desk_history
from tests.harness import QUESTION, Kontor, html_page

# "2026-W49", not a random "-W" inside the page's CSRF token
ISO_WEEK = re.compile(r"\b\d{4}-W\d{2}\b")

NOW = datetime(2026, 12, 10, 12, 0, tzinfo=UTC)  # a Thursday in KW 50/2026
HOUR = 3600.0


def _users(kontor: Kontor) -> dict[str, int]:
    with kontor.services.database.session() as session:
        return dict(session.execute(select(User.name, User.id)).tuples().all())


def _names(kontor: Kontor) -> dict[str, str]:
    return {c.id: c.name for c in kontor.services.categories.categories}


def _figures(kontor: Kontor, now: datetime = NOW) -> TeamFigures:
    return team_figures(kontor.services.database, _names(kontor), now=now)


def test_percentiles_interpolate_between_ranks() -> None:
    hours = [float(h) for h in range(1, 11)]
    assert percentile(hours, 0.5) == 5.5 and percentile(hours, 0.9) == 9.1
    assert percentile([7.0], 0.9) == 7.0 and percentile([], 0.5) is None
    assert percentile([4.0, 1.0], 0.5) == 2.5  # unordered input


def test_the_team_figures_of_a_known_history(kontor: Kontor) -> None:
    desk_history.build(kontor.services.database, NOW, _users(kontor))
    figures = _figures(kontor)

    assert figures.backlog.open == 3
    assert figures.backlog.oldest_seconds == 5 * 24 * HOUR and figures.backlog.median_seconds == 3 * HOUR

    response = figures.first_response  # ten tickets answered after 1 … 10 hours; the one 60 days ago is out
    assert response.answered == 10
    assert response.p50_seconds is not None and response.p90_seconds is not None
    assert round(response.p50_seconds) == 5.5 * HOUR and round(response.p90_seconds) == 9.1 * HOUR

    volume = figures.volume
    assert len(volume.weeks) == 8 and volume.weeks[0] == "2026-W43" and volume.weeks[-1] == "2026-W50"
    in_weeks = [0] * 6
    assert volume.categories == [WeekRow("Lieferverzug", [*in_weeks, 0, 6], 6),
                                 WeekRow("Rechnung und Zahlung", [*in_weeks, 0, 4], 4),
                                 WeekRow("Kundenkonto", [*in_weeks, 0, 2], 2),
                                 WeekRow("ohne Kategorie", [*in_weeks, 1, 0], 1)]  # the open one of 5 days ago
    assert volume.teams == [WeekRow("Versandteam", [*in_weeks, 0, 6], 6),
                            WeekRow("Buchhaltung", [*in_weeks, 0, 4], 4),
                            WeekRow("Onlineshop-Team", [*in_weeks, 0, 2], 2),
                            WeekRow("ohne Team", [*in_weeks, 1, 0], 1)]
    assert volume.totals == [*in_weeks, 1, 12]

    rates = {(r.category, r.tickets, r.handed_over): round(r.rate, 4) for r in figures.handovers}
    assert rates == {("Kundenkonto", 2, 1): 0.5, ("Lieferverzug", 6, 2): 0.3333, ("Rechnung und Zahlung", 4, 1): 0.25}
    assert [r.category for r in figures.handovers] == ["Kundenkonto", "Lieferverzug", "Rechnung und Zahlung"]

    assert [(a.agent, a.sent, a.unedited, a.share) for a in figures.agents] == [("anna", 6, 3, 0.5),
                                                                               ("eva", 4, 3, 0.75)]


def test_a_window_moves_with_now(lite: Kontor) -> None:
    desk_history.build(lite.services.database, NOW, _users(lite))
    later = _figures(lite, NOW + timedelta(days=29))  # the ten answers were 31 … 32 days before: out of the window
    assert later.first_response.answered == 0 and later.first_response.p50_seconds is None
    assert later.agents == []
    assert [(r.category, r.tickets, r.handed_over) for r in later.handovers] == [("Kundenkonto", 2, 1)]
    assert later.backlog.open == 3 and later.backlog.oldest_seconds == 34 * 24 * HOUR
    assert later.volume.weeks[-2:] == ["2026-W53", "2027-W01"]  # 2026 has 53 ISO weeks
    assert sum(later.volume.totals) == 13  # eight weeks still hold them all


def test_without_tickets_every_figure_is_honestly_empty(lite: Kontor) -> None:
    figures = _figures(lite)
    assert (figures.backlog.open, figures.backlog.oldest_seconds, figures.backlog.median_seconds) == (0, None, None)
    assert (figures.first_response.p50_seconds, figures.first_response.p90_seconds) == (None, None)
    assert figures.volume.categories == [] and figures.handovers == [] and figures.agents == []
    status, html = html_page(lite, "/uebersicht", "eva")
    assert status == 200
    page = BeautifulSoup(html, "html.parser")
    assert page.select_one("#open-tickets").get_text(strip=True) == "0"  # type: ignore[union-attr]
    assert page.select_one("#first-response-p50").get_text(strip=True) == "–"  # type: ignore[union-attr]
    assert "Keine Tickets in diesen Wochen." in html and "In diesem Zeitraum wurde nichts gesendet." in html
    assert "Keine Entwürfe in diesem Zeitraum." in html


def test_the_first_response_counts_from_the_arrival_in_kontor_not_the_mails_date(lite: Kontor) -> None:
    """A mail dated ten days before it reached Kontor was not waiting on the team for ten days."""
    ticket = lite.drafted_ticket()
    draft = ticket["draft"]
    assert lite.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft['id']}/send", json={"confirm": []}).json()["status"] == "delivered"
    with lite.services.database.session() as session:
        session.execute(update(Ticket).where(Ticket.id == ticket["id"])
                        .values(received_at=datetime.now(UTC) - timedelta(days=10)))  # the mail's own date
    figures = team_figures(lite.services.database, _names(lite))
    assert figures.first_response.answered == 1
    assert figures.first_response.p50_seconds is not None and figures.first_response.p50_seconds < 60
    assert [(a.agent, a.sent, a.unedited) for a in figures.agents] == [("anna", 1, 1)]  # approved as drafted
    assert sum(figures.volume.totals) == 1


def test_an_edit_through_the_desk_counts_as_edited(lite: Kontor) -> None:
    ticket = lite.drafted_ticket({**QUESTION, "subject": "Versand"})
    draft = ticket["draft"]
    assert lite.call("PUT", f"/api/drafts/{draft['id']}", json={"text": draft["text"] + "\nPS"}).status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft['id']}/approve", "expert").status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft['id']}/send", json={"confirm": []}).json()["status"] == "delivered"
    figures = team_figures(lite.services.database, _names(lite))
    assert [(a.agent, a.sent, a.unedited, a.share) for a in figures.agents] == [("eva", 1, 0, 0.0)]


def test_the_overview_shows_the_figures_in_german(kontor: Kontor) -> None:
    now = datetime.now(UTC)
    desk_history.build(kontor.services.database, now, _users(kontor))
    status, html = html_page(kontor, "/uebersicht", "eva")
    assert status == 200
    page = BeautifulSoup(html, "html.parser")
    summary = {dt.get_text(strip=True): dd.get_text(strip=True)
               for dt, dd in zip(page.select("#team-figures dt"), page.select("#team-figures dd"), strict=True)}
    assert summary == {"Offene Tickets": "3", "Ältestes offenes Ticket": "5,0 Tage",
                       "Alter offener Tickets (Median)": "3,0 Std.", "Erste Antwort (Median)": "5,5 Std.",
                       "Erste Antwort (90 %)": "9,1 Std."}

    def rows(table: str) -> dict[str, list[str]]:
        found = page.select(f"#{table} tbody tr")
        return {tr.th.get_text(strip=True): [td.get_text(strip=True) for td in tr.find_all("td")]
                for tr in found if tr.th is not None}

    assert rows("handover-rates") == {"Kundenkonto": ["2", "1", "50,0 %"], "Lieferverzug": ["6", "2", "33,3 %"],
                                      "Rechnung und Zahlung": ["4", "1", "25,0 %"]}
    assert rows("unedited-by-agent") == {"anna": ["6", "3", "50,0 %"], "eva": ["4", "3", "75,0 %"]}
    by_category = rows("volume-categories")
    assert {name: cells[-1] for name, cells in by_category.items()} == {
        "Lieferverzug": "6", "Rechnung und Zahlung": "4", "Kundenkonto": "2", "ohne Kategorie": "1"}
    assert all(len(cells) == 9 for cells in by_category.values())  # eight weeks and the sum
    assert {name: cells[-1] for name, cells in rows("volume-teams").items()} == {
        "Versandteam": "6", "Buchhaltung": "4", "Onlineshop-Team": "2", "ohne Team": "1"}
    head = [th.get_text(strip=True) for th in page.select("#volume-categories thead th")]
    assert head[0] == "Kategorie" and head[-1] == "Summe" and head[-2] == week(now).split("/")[0]
    assert "rechnung_zahlung" not in html and not ISO_WEEK.search(html)  # German names and weeks, no ids

    plots = page.select("#diagramme figure.plot")
    assert plots and all(f.select_one("a.plot-open")["href"] == f"#{f['id']}" for f in plots)  # type: ignore[index]
    assert "Eingang je Woche nach Kategorie" in plots[0].get_text()
