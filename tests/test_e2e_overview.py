"""Issue 13, the Übersicht in a real browser (Debian's chromium driven by Playwright) against `kontor serve` on
loopback: the team lead sees the team's figures in German and enlarges a plot with a click (no script: the
clicked figure is the page's :target). The history is written with known times (tests/desk_history.py); the
figures themselves are checked in tests/test_team_figures.py.

Screenshots go to a temporary folder, or to ``KONTOR_SCREENSHOTS`` (as in tests/test_e2e_browser.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from assistant.config import Settings
from assistant.services import Services
from assistant.store.tables import User
from tests import desk_history
from tests.browser import needs_browser
from tests.fakes import FakeEmbedder, FakeLLM
from tests.servers import free_port, start_kontor

USERS = {"anna": "agent", "eva": "expert", "adam": "admin"}
pytestmark = needs_browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kontor serve` on a home whose database holds the desk's history (no drafting: no worker, no model)."""
    home = tmp_path_factory.mktemp("overview") / "home"
    services = Services(Settings(home=home, run_worker=False), llm=FakeLLM(), embedder=FakeEmbedder())
    for name, role in USERS.items():
        services.users.add(name, role, f"{name}-passwort-123")
    with services.database.session() as session:
        ids = dict(session.execute(select(User.name, User.id)).tuples().all())
    desk_history.build(services.database, datetime.now(UTC), ids)
    services.database.engine.dispose()
    env = {**os.environ, "KONTOR_HOME": str(home), "KONTOR_RUN_WORKER": "false", "HF_HUB_OFFLINE": "1"}
    process = start_kontor(env, port := free_port())
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)


def test_the_team_lead_reads_the_figures_and_enlarges_a_plot(server: str, browser: Any, shots: Path) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 860})
    page.goto(f"{server}/uebersicht")
    assert "/login" in page.url
    page.fill("#name", "adam")
    page.fill("#password", "adam-passwort-123")
    page.click("button[type=submit]")
    page.wait_for_url("**/uebersicht")
    page.wait_for_selector("h1:has-text('Übersicht')")

    assert page.inner_text("#open-tickets") == "3"
    assert page.inner_text("#first-response-p50") == "5,5 Std."
    assert page.inner_text("#first-response-p90") == "9,1 Std."
    handovers = page.locator("#handover-rates tbody tr", has=page.locator("th:text-is('Lieferverzug')"))
    assert handovers.locator("td").last.inner_text() == "33,3 %"
    anna = page.locator("#unedited-by-agent tbody tr", has=page.locator("th:text-is('anna')"))
    assert anna.locator("td").last.inner_text() == "50,0 %"
    page.screenshot(path=str(shots / "uebersicht-team.png"), full_page=True)

    plot = page.locator("figure.plot").first
    small = plot.locator("img").bounding_box()
    assert small is not None and plot.locator(".plot-close").is_hidden()
    plot.locator("a.plot-open").click()
    page.wait_for_selector("figure.plot:target")
    large = plot.locator("img").bounding_box()
    assert large is not None and large["width"] > 1.5 * small["width"], (small, large)
    assert plot.locator(".plot-close").is_visible()
    page.screenshot(path=str(shots / "uebersicht-diagramm.png"))
    plot.locator(".plot-close").click()
    page.wait_for_function("!document.querySelector('figure.plot:target')")
    assert plot.locator(".plot-close").is_hidden()
