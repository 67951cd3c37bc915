"""Workflow commands: users, tokens, tickets, the demo data and the background worker."""

from __future__ import annotations

import os
import secrets
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import CliError, app, err, out, print_json, progress, services
from assistant.cli.demo_data import demo_tickets_dir
from assistant.logs import setup_logging

users_app = typer.Typer(help="Benutzer und Rollen (agent, expert, admin).", no_args_is_help=True)
tokens_app = typer.Typer(help="Persönliche API-Tokens für Skripte.", no_args_is_help=True)
tickets_app = typer.Typer(help="Tickets einlesen und anzeigen.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(tokens_app, name="tokens")
app.add_typer(tickets_app, name="tickets")

DEMO_USERS = [("kundendienst", "agent"), ("fachbereich", "expert"), ("admin", "admin")]


@users_app.command("add")
def users_add(
    name: str,
    role: Annotated[str, typer.Option("--role", help="agent, expert oder admin")],
    password_stdin: Annotated[bool, typer.Option("--password-stdin", help="Passwort von der Standardeingabe")] = False,
    team: Annotated[str | None, typer.Option("--team", help="Team (eines der Teams aus categories.yaml)")] = None,
) -> None:
    """Einen Benutzer anlegen. Ohne --password-stdin wird ein Passwort erzeugt und einmal angezeigt."""
    s = services()
    if team is not None and team.strip() not in (teams := s.routing.teams()):
        raise CliError(f"Das Team '{team}' gibt es nicht. Teams: {', '.join(teams)}")
    password = sys.stdin.readline().rstrip("\r\n") if password_stdin else secrets.token_urlsafe(12)
    try:
        user = s.users.add(name, role, password, team=team)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    out.print(f"Benutzer {user.name} ({user.role}{f', Team {team.strip()}' if team else ''}) angelegt.")
    if not password_stdin:
        out.print(f"Passwort (wird nur jetzt angezeigt): {password}")


@tokens_app.command("create")
def tokens_create(
    name: str, label: Annotated[str, typer.Option(help="wofür")] = "cli",
    days: Annotated[int | None, typer.Option("--days", help="gültig so viele Tage (Vorgabe: KONTOR_TOKEN_DAYS, 90)",
                                             min=1, max=3650)] = None,
) -> None:
    """Ein neues API-Token für NAME erzeugen; es wird genau einmal ausgegeben (eine Zeile)."""
    try:
        token = services().users.create_token(name, label, days)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.write(token + "\n")


@tickets_app.command("import")
def tickets_import(
    folder: Annotated[Path, typer.Argument(help="Ordner mit .eml-Dateien")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """E-Mails (.eml) als Tickets einlesen; schon bekannte (gleiche Message-ID) werden übersprungen."""
    s = services()
    files = sorted(folder.glob("*.eml")) if folder.is_dir() else []
    if not files:
        raise CliError(f"Keine .eml-Dateien in {folder}")
    with progress() as bar:
        task = bar.add_task("Importiere", total=len(files), item="")
        report = s.intake.import_dir(folder, progress=lambda name: bar.update(task, advance=1, item=name))
    if as_json:
        print_json(report.__dict__)
    else:
        out.print(f"Neu: {len(report.imported)} · schon vorhanden: {len(report.duplicates)} · "
                  f"fehlerhaft: {len(report.failed)}")
        for name, reason in report.failed.items():
            err.print(f"[yellow]Übersprungen:[/] {name}: {reason}")
    if report.failed:
        raise typer.Exit(1)


@tickets_app.command("list")
def tickets_list(
    status: Annotated[str | None, typer.Option(help="nur dieser Status")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Tickets anzeigen, neueste zuerst."""
    # imported when the command runs: `kontor` starts fast
    from assistant.tickets.queries import list_tickets, ticket_json

    rows = list_tickets(services().database, status)
    if as_json:
        print_json([ticket_json(t) for t in rows])
        return
    table = Table("Nr.", "Status", "Kategorie", "Kunde", "Betreff")
    for t in rows:
        table.add_row(str(t.id), t.status, t.category or "–", escape(t.customer[:40]), escape(t.subject[:60]))
    out.print(table if rows else "Keine Tickets.")


@app.command()
def work() -> None:
    """Anstehende Aufgaben abarbeiten (Entwürfe schreiben, Post zustellen), dann beenden – sonst erledigt das
    `kontor serve` im Hintergrund."""
    s = services()
    setup_logging(s.settings.log_dir)
    s.jobs.resume()  # jobs of dead workers (lease over); a running server keeps its own
    with progress() as bar:
        task = bar.add_task("Entwürfe", total=s.jobs.pending(), item="")
        while s.jobs.run_once():
            bar.update(task, advance=1)
    delivered = s.sending.deliver_due()
    out.print(f"Fertig. Zustellversuche: {delivered}")


@app.command()
def demo() -> None:
    """Demo-Benutzer und ein Dutzend Demo-Tickets anlegen (idempotent)."""
    s = services()
    tickets = demo_tickets_dir(s.settings.knowledge_dir)  # before the users: a missing folder changes nothing
    for name, role in DEMO_USERS:
        if s.users.get(name) is not None:
            continue
        password = os.environ.get(f"KONTOR_DEMO_PASSWORD_{name.upper()}") or secrets.token_urlsafe(9)
        s.users.add(name, role, password)
        out.print(f"Demo-Benutzer [bold]{name}[/] ({role}) – Passwort: [bold]{password}[/] (nur jetzt angezeigt)")
    report = s.intake.import_dir(tickets)
    out.print(f"Demo-Tickets: {len(report.imported)} neu, {len(report.duplicates)} schon vorhanden.")
    if report.failed:
        raise CliError(f"Demo-Tickets fehlerhaft: {report.failed}")
