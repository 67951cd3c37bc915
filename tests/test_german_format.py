"""Issue 13: German dates and numbers on every page from one place (``assistant.web.rendering``: 04.12.2026,
"04.12.2026, 18:05 Uhr", KW 49, decimal comma), and the leftovers of the department's pages: no server path on the
prompt page's error, the customer's question kept in the stored evaluation report, no dead handlers in the
pages' scripts."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from assistant.config import PROJECT_ROOT
from assistant.evaluate.cases import load_cases
from assistant.evaluate.evaluation import evaluate
from assistant.evaluate.report import render_html
from assistant.web.rendering import file_size, german_date, number, percent, stamp, week, when
from tests.harness import QUESTION, ExpertKontor, Kontor, logged_in

ISO_MOMENT = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
ISO_WEEK = re.compile(r"\b\d{4}-W\d{2}\b")  # not a random "-W" inside the CSRF token
WEB = PROJECT_ROOT / "assistant" / "web"




def test_the_one_place_for_german_dates_and_numbers() -> None:
    winter, summer = datetime(2026, 12, 4, 17, 5, 9, tzinfo=UTC), datetime(2026, 7, 1, 22, 30, tzinfo=UTC)
    assert when(winter) == "04.12.2026, 18:05 Uhr" and when(summer) == "02.07.2026, 00:30 Uhr"  # German time
    assert when(winter.isoformat()) == "04.12.2026, 18:05 Uhr" and when(None) == "–"
    assert when(winter.replace(tzinfo=None)) == "04.12.2026, 18:05 Uhr"  # stored without a zone: UTC
    assert german_date(summer) == "02.07.2026" and german_date(date(2026, 1, 9)) == "09.01.2026"
    assert stamp(winter) == "04.12.2026 18:05:09"
    assert week("2026-W49") == "KW 49/2026" and week(date(2026, 12, 4)) == "KW 49/2026"
    assert week(datetime(2026, 12, 27, 23, 30, tzinfo=UTC)) == "KW 53/2026"  # already Monday in Berlin
    assert number(0.2534) == "0,25" and number(1234.5, 1) == "1.234,5" and number(12345) == "12.345"
    assert number(4.0, 1) == "4,0" and number(None) == "–" and number(-0.05, 2) == "-0,05"
    assert percent(0.873) == "87 %" and percent(0.125, 1) == "12,5 %" and percent(None) == "–"
    assert file_size(734) == "734 Byte" and file_size(12_600) == "12,3 KB" and file_size(1_468_006) == "1,4 MB"


def test_the_overview_and_the_inbox_speak_german_numbers_and_dates(lite: Kontor) -> None:
    edited = lite.drafted_ticket()
    draft = edited["draft"]
    changed = draft["text"] + "\nMit freundlichen Grüßen aus Köln"
    assert lite.call("PUT", f"/api/drafts/{draft['id']}", json={"text": changed}).status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft['id']}/approve").status_code == 200
    assert lite.call("POST", f"/api/drafts/{draft['id']}/rating", json={"score": 4, "comment": ""}).status_code == 200
    plain = lite.drafted_ticket({**QUESTION, "subject": "Noch einmal"})
    assert lite.call("POST", f"/api/drafts/{plain['draft']['id']}/approve").status_code == 200
    figures = lite.call("GET", "/api/dashboard", "expert").json()
    totals = figures["totals"]
    assert 0 < totals["edit_distance"] < 1 and totals["approval_rate_unedited"] == 0.5 and totals["rating"] == 4

    overview = logged_in(lite, "eva").get("/uebersicht")
    assert overview.status_code == 200
    table = BeautifulSoup(overview.text, "html.parser").select_one("table.list tr.total")
    assert table is not None
    cells = [td.get_text(" ", strip=True) for td in table.find_all("td")]
    assert cells[3:6] == ["50 %", number(totals["edit_distance"]), "4,0 (1)"], cells
    assert not ISO_MOMENT.search(overview.text) and not ISO_WEEK.search(overview.text)
    year, nr, _ = datetime.now(UTC).isocalendar()
    assert f"KW {nr}/{year}" in overview.text

    inbox = logged_in(lite, "anna").get("/posteingang")
    assert inbox.status_code == 200 and not ISO_MOMENT.search(inbox.text)
    received = BeautifulSoup(inbox.text, "html.parser").select_one("table.list tbody td[title]")
    assert received is not None and re.fullmatch(r"\d\d\.\d\d\.\d{4}, \d\d:\d\d Uhr", str(received["title"]))
    assert re.search(r"\d+ %", inbox.text)  # the category's confidence as German percent


def test_no_template_formats_dates_or_numbers_itself() -> None:
    """Every page takes them from rendering.py's filters; only a <time datetime> attribute keeps ISO for programs."""
    for template in (WEB / "templates").glob("*.html"):
        text = template.read_text(encoding="utf-8")
        for pattern in (r"strftime", r"'%\.\d?f'", r"\|\s*round\b", r"\|\s*format\b"):
            assert not re.search(pattern, text), (template.name, pattern)
        assert all(m.group(0).startswith('datetime="') for m in re.finditer(r'[a-z]*="?\{\{[^}]*isoformat', text)), \
            template.name


def test_the_prompt_page_names_a_broken_file_without_the_servers_folders(tmp_path: Path, knowledge: Path) -> None:
    expert = ExpertKontor(tmp_path, knowledge)
    (expert.services.prompts.root / "answer" / "v3.md").write_text("---\nversion: drei\n---\n", encoding="utf-8")
    page = logged_in(expert, "eva").get("/prompts", headers={"Accept": "text/html"})
    assert page.status_code == 422 and "v3.md: YAML-Kopf ungültig" in page.text
    assert str(tmp_path) not in page.text and "/prompts/answer/" not in page.text
    assert '<nav>' in page.text  # the German error page with the navigation


def test_the_stored_report_keeps_the_customers_question(tmp_path: Path, knowledge: Path) -> None:
    expert = ExpertKontor(tmp_path, knowledge)
    outcome = evaluate(expert.services.eval_parts(), "answer", "production")
    assert outcome.paths is not None
    report = json.loads((outcome.paths[0].parent / "report.json").read_text(encoding="utf-8"))
    cases = {c.id: c for c in load_cases(expert.settings.eval_dir / "cases")}
    assert report["per_case"] and all(row["question"] == cases[row["id"]].question for row in report["per_case"])
    assert "Versand – Was kostet der Versand nach Österreich?" in {row["question"] for row in report["per_case"]}
    for case in cases.values():  # gone from the set: the stored report still shows it
        (expert.settings.eval_dir / "cases" / f"{case.id}.yaml").unlink()
    shown = render_html(report)
    assert "Versand – Was kostet der Versand nach Österreich?" in shown
    assert "Versand – Was kostet der Versand nach Österreich?" in (outcome.paths[0].parent / "report.html").read_text(
        encoding="utf-8")


def _handlers(script: str) -> set[str]:
    """The data-action and data-action-submit names a script handles."""
    named = set(re.findall(r'^\s+"?([a-z][a-z-]*)"?: async \(', script, re.M))
    named |= {a or b for a, b in re.findall(r'^(?:actions|forms)(?:\.([a-z]+)|\["([a-z-]+)"\]) =', script, re.M)}
    return named | set(re.findall(r'closest\("\[data-action=([a-z-]+)\]"\)', script))


@pytest.mark.parametrize("script", ["kontor.js", "department.js"])
def test_the_scripts_handle_what_the_pages_ask_for_and_nothing_else(script: str) -> None:
    handled = {name: _handlers((WEB / "static" / name).read_text(encoding="utf-8"))
               for name in ("kontor.js", "department.js")}
    templates = "\n".join(t.read_text(encoding="utf-8") for t in (WEB / "templates").glob("*.html"))
    asked = set(re.findall(r'data-action(?:-submit)?="([a-z-]+)"', templates))
    made = set(re.findall(r'dataset\.action = "([a-z-]+)"', (WEB / "static" / "kontor.js").read_text()))
    assert handled[script] and handled[script] <= asked | made, handled[script] - asked - made  # no dead handler
    assert asked <= handled["kontor.js"] | handled["department.js"]  # no button without one
    for gone in ("diff", "promote", "evaluate", "showSide"):
        assert gone not in handled["kontor.js"] and "showSide" not in (WEB / "static" / "kontor.js").read_text()
