"""Account commands beside `users add` and `tokens create`: list, disable, enable, set a password; list and
revoke tokens. Disabling a user or setting a password ends all their sessions and revokes all their tokens."""

from __future__ import annotations

import os
import sys
from datetime import datetime
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import CliError, out, print_json, services
from assistant.cli.workflow import tokens_app, users_app

PASSWORD_ENV = "KONTOR_NEW_PASSWORD"  # for scripts; read once, never printed
TOKEN_STATUS = {"valid": "gültig", "expired": "abgelaufen", "revoked": "widerrufen"}


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Benutzer mit Rolle, Team, Status und Zahl der offenen Sitzungen anzeigen."""
    rows = services().users.users()
    if as_json:
        print_json([u.model_dump(mode="json") for u in rows])
        return
    table = Table("Name", "Rolle", "Team", "Status", "Sitzungen", "angelegt")
    for u in rows:
        status = "aktiv" if u.active else "deaktiviert"
        table.add_row(escape(u.name), u.role, escape(u.team or "–"), status, str(u.sessions), _day(u.created_at))
    out.print(table if rows else "Keine Benutzer.")


@users_app.command("disable")
def users_disable(name: str) -> None:
    """NAME deaktivieren: Anmelden geht nicht mehr, alle Sitzungen enden, alle Tokens werden widerrufen."""
    services().users.set_active(name, False)
    out.print(f"Benutzer {escape(name)} deaktiviert; Sitzungen beendet, Tokens widerrufen.")


@users_app.command("enable")
def users_enable(name: str) -> None:
    """NAME wieder aktivieren (widerrufene Tokens bleiben widerrufen)."""
    services().users.set_active(name, True)
    out.print(f"Benutzer {escape(name)} aktiviert.")


@users_app.command("passwd")
def users_passwd(
    name: str,
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Passwort von der Standardeingabe")] = False,
) -> None:
    """Ein neues Passwort für NAME setzen: zweimal abgefragt, von --password-stdin oder (für Skripte) aus der
    Umgebungsvariable KONTOR_NEW_PASSWORD. Alle Sitzungen von NAME enden, alle Tokens werden widerrufen."""
    s = services()
    if name not in {u.name for u in s.users.users()}:  # before asking for a password
        raise CliError(f"Benutzer '{name}' gibt es nicht")
    s.users.set_password(name, _new_password(password_stdin))
    out.print(f"Passwort von {escape(name)} geändert; Sitzungen beendet, Tokens widerrufen.")


def _new_password(from_stdin: bool) -> str:
    if os.environ.get(PASSWORD_ENV):
        return os.environ[PASSWORD_ENV]
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password: str = typer.prompt("Neues Passwort", hide_input=True, confirmation_prompt="Noch einmal")
    return password


@tokens_app.command("list")
def tokens_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Alle API-Tokens: Nummer, Bezeichnung, Benutzer, erstellt, läuft ab, Status – nie das Token selbst."""
    rows = services().users.tokens()
    if as_json:
        print_json([t.model_dump(mode="json") for t in rows])
        return
    table = Table("Nr.", "Bezeichnung", "Benutzer", "erstellt", "läuft ab", "Status")
    for t in rows:
        status = TOKEN_STATUS[t.status] + (f" am {_day(t.revoked_at)}" if t.revoked_at else "")
        table.add_row(str(t.id), escape(t.name), escape(t.user), _day(t.created_at), _day(t.expires_at), status)
    out.print(table if rows else "Keine Tokens.")


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(metavar="ID", help="Nummer aus `kontor tokens list`",
                                                          min=1, max=2**31 - 1)]) -> None:
    """Ein Token sofort widerrufen."""
    token = services().users.revoke_token(token_id)
    out.print(f"Token {token.id} ({escape(token.name)}, {escape(token.user)}) widerrufen.")


def _day(moment: datetime) -> str:
    return moment.astimezone().strftime("%d.%m.%Y %H:%M")
