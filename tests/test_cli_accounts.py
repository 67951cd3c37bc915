"""`kontor tokens list/revoke` and `kontor users list/disable/enable/passwd` on a real database: what the
command line changes, a stolen token or browser session feels at once."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta

import pytest
from typer.testing import CliRunner

from assistant import audit
from assistant.auth import AuthError, Principal
from assistant.cli import app
from assistant.config import PROJECT_ROOT, load_settings
from assistant.services import Services

PASSWORD = "anna-passwort-123"


@pytest.fixture
def services() -> Services:  # KONTOR_HOME is the test's own (conftest)
    services = Services(load_settings())
    services.users.add("anna", "agent", PASSWORD)
    return services


def kontor(*args: str, stdin: str | None = None, **env: str) -> str:
    result = CliRunner().invoke(app, list(args), input=stdin, env=env or None)
    assert result.exit_code == 0, (result.output, result.exception)
    return result.stdout


def _anna(services: Services) -> Principal:
    user = services.users.get("anna")
    assert user is not None
    return user


def test_tokens_are_listed_without_the_token_and_revoked(services: Services) -> None:
    token = kontor("tokens", "create", "anna", "--label", "backup", "--days", "7").strip()
    assert services.users.by_token(token).name == "anna"
    [listed] = json.loads(kontor("tokens", "list", "--json"))
    assert (listed["name"], listed["user"], listed["status"], listed["revoked_at"]) == ("backup", "anna", "valid", None)
    lifetime = datetime.fromisoformat(listed["expires_at"]) - datetime.fromisoformat(listed["created_at"])
    assert timedelta(days=6, hours=23) < lifetime <= timedelta(days=7)
    table = kontor("tokens", "list")
    assert "backup" in table and "gültig" in table and token[3:] not in table
    assert "widerrufen" in kontor("tokens", "revoke", str(listed["id"]))
    with pytest.raises(AuthError):
        services.users.by_token(token)
    assert json.loads(kontor("tokens", "list", "--json"))[0]["status"] == "revoked"


def test_passwd_ends_every_session_and_token(services: Services) -> None:
    token = services.users.create_token("anna")
    cookie, _ = services.users.start_session(_anna(services))
    kontor("users", "passwd", "anna", KONTOR_NEW_PASSWORD="aus-der-umgebung-1")
    for stolen in (lambda: services.users.by_token(token), lambda: services.users.by_session(cookie)):
        with pytest.raises(AuthError):
            stolen()
    with pytest.raises(AuthError):
        services.users.authenticate("anna", PASSWORD)
    assert services.users.authenticate("anna", "aus-der-umgebung-1").name == "anna"
    kontor("users", "passwd", "anna", stdin="zweimal-getippt-2\nzweimal-getippt-2\n")  # the prompt asks twice
    assert services.users.authenticate("anna", "zweimal-getippt-2").name == "anna"
    typo = CliRunner().invoke(app, ["users", "passwd", "anna"], input="zweimal-getippt-3\nvertippt-3\n")
    assert typo.exit_code != 0 and services.users.authenticate("anna", "zweimal-getippt-2").name == "anna"
    entries = audit.entries(services.database, limit=1000)
    changes = [e for e in entries if e.action == "password_changed"]
    assert len(changes) == 2 and all(e.actor == "cli" for e in changes)
    assert not any("getippt" in str(e.detail) or "umgebung" in str(e.detail) for e in entries)


def test_disable_and_enable(services: Services) -> None:
    token = services.users.create_token("anna")
    cookie, _ = services.users.start_session(_anna(services))
    kontor("users", "disable", "anna")
    for refused in (lambda: services.users.by_token(token), lambda: services.users.by_session(cookie),
                    lambda: services.users.authenticate("anna", PASSWORD)):
        with pytest.raises(AuthError):
            refused()
    assert json.loads(kontor("users", "list", "--json"))[0]["active"] is False
    kontor("users", "enable", "anna")
    assert services.users.authenticate("anna", PASSWORD).name == "anna"
    assert "aktiv" in kontor("users", "list")


def test_an_unknown_user_is_one_line_and_exit_code_1(services: Services) -> None:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    result = subprocess.run([sys.executable, "-m", "assistant", "users", "disable", "niemand"], env=env,
                            cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1 and result.stderr.strip() == "Fehler: Benutzer 'niemand' gibt es nicht"
