"""The admin page in a real browser (Debian's chromium driven by Playwright) against `kontor serve` on loopback: the
admin adds a user with a role and a team and creates an API token for them (shown once), and the new user's first
login lands on the "Zu prüfen" view.

A screenshot of the page goes to a temporary folder, or to ``KONTOR_SCREENSHOTS`` (as in test_e2e_browser.py)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright import sync_api as playwright_api

from assistant.config import PROJECT_ROOT
from tests.browser import needs_browser
from tests.servers import free_port, start_kontor

ADMIN_PASSWORD = "adam-passwort-123"
pytestmark = needs_browser


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`kontor serve` with one admin and nothing else: the admin page needs no documents and no model."""
    root = tmp_path_factory.mktemp("e2e-admin")
    env = {**os.environ, "KONTOR_HOME": str(root / "home"), "HF_HUB_OFFLINE": "1"}
    added = subprocess.run([sys.executable, "-m", "assistant", "users", "add", "adam", "--role", "admin",
                            "--password-stdin"], env=env, cwd=PROJECT_ROOT, input=ADMIN_PASSWORD + "\n",
                           capture_output=True, text=True, timeout=300)
    assert added.returncode == 0, added.stderr
    port = free_port()
    process = start_kontor(env, port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=60)




def _page(browser: object) -> playwright_api.Page:
    page: playwright_api.Page = browser.new_page(viewport={"width": 1280, "height": 860})  # type: ignore[attr-defined]
    page.on("dialog", lambda dialog: pytest.fail(f"unexpected dialog: {dialog.message}"))
    return page


def _sign_in(page: playwright_api.Page, name: str, password: str) -> None:
    page.fill("#name", name)
    page.fill("#password", password)
    page.click("#login-form button[type=submit]")


def test_the_admin_adds_a_user_who_lands_on_zu_pruefen(server: str, browser: object, shots: Path) -> None:
    base = server
    admin = _page(browser)
    admin.goto(f"{base}/verwaltung")
    assert "/login" in admin.url
    _sign_in(admin, "adam", ADMIN_PASSWORD)
    admin.wait_for_selector("h1:text('Verwaltung')")
    admin.wait_for_selector("#add-team option[value='Buchhaltung']", state="attached")  # the routing teams

    # a name with a blank: the server's German sentence, nothing added
    admin.fill("#add-name", "greta meier")
    admin.select_option("#add-role", "agent")
    admin.fill("#add-password", "greta-passwort-123")
    admin.fill("#add-repeat", "greta-passwort-123")
    admin.click("#add-user button[type=submit]")
    admin.wait_for_selector("#message.error:has-text('Benutzername: 1–100 Zeichen ohne Leerzeichen')")

    admin.fill("#add-name", "greta")
    admin.select_option("#add-team", "Buchhaltung")
    admin.click("#add-user button[type=submit]")
    admin.wait_for_selector("#message.ok:has-text('Benutzer greta (Kundendienst, Team Buchhaltung) angelegt.')")
    row = admin.locator("#users tr[data-user=greta]")
    row.wait_for()  # after the page reloaded
    admin.wait_for_function("document.querySelector('#users tr[data-user=greta] select[data-teams]').value"
                            " === 'Buchhaltung'")
    assert row.locator("select[aria-label='Rolle von greta']").input_value() == "agent"

    # an API token for her: shown once, and it works
    admin.select_option("#token-user", label="greta")
    admin.fill("#token-label", "Export-Skript")
    admin.click("#add-token button[type=submit]")
    admin.wait_for_selector("#new-token:has-text('nur dieses eine Mal angezeigt')")
    token = admin.input_value("#new-token-secret")
    assert token.startswith("kt_")
    assert admin.locator("#tokens tr", has_text="Export-Skript").count() == 1
    me = admin.request.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and me.json()["name"] == "greta"
    admin.screenshot(path=str(shots / "verwaltung.png"), full_page=True)
    admin.reload()
    assert token not in admin.content()  # never shown again

    greta = _page(browser)
    greta.goto(f"{base}/login")
    _sign_in(greta, "greta", "greta-passwort-123")
    greta.wait_for_url("**/posteingang?ansicht=zu-pruefen")
    greta.wait_for_selector("h1:text('Posteingang')")
    assert greta.locator("a[aria-current=page]", has_text="Zu prüfen").count() == 1
    assert greta.locator("nav a[href='/verwaltung']").count() == 0
