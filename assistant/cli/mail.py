"""`kontor mail`: the shared mailbox — fetch once, or show the last fetch."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import typer

from assistant.cli.common import CliError, app, err, out, print_json, progress, services

if TYPE_CHECKING:
    from assistant.mailbox.fetch import Fetcher

mail_app = typer.Typer(help="Das gemeinsame Postfach (IMAP): E-Mails als Tickets abholen.", no_args_is_help=True)
app.add_typer(mail_app, name="mail")


def _fetcher() -> Fetcher:
    s = services()
    if not s.settings.imap.configured:
        raise CliError("Kein Postfach eingerichtet (KONTOR_IMAP_HOST, _USER, _PASSWORD; siehe README)")
    return s.fetcher


@mail_app.command("fetch")
def mail_fetch(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Neue E-Mails einmal abholen: neue Tickets, Folgenachrichten; Unlesbares in die Quarantäne."""
    fetcher = _fetcher()
    with progress() as bar:
        task = bar.add_task("Hole E-Mails", total=None, item="")
        report = fetcher.fetch_once(progress=lambda n, total: bar.update(task, completed=n, total=total, item=""))
    if as_json:
        print_json({"outcomes": report.outcomes, "quarantined": report.quarantined})
    else:
        out.print(f"Postfach {fetcher.mailbox}: {report.summary()}")
        for line in report.quarantined:
            err.print(f"[yellow]In Quarantäne:[/] {line}")


@mail_app.command("status")
def mail_status(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Letzter erfolgreicher Abruf und letzter Fehler."""
    status = _fetcher().status()
    data = {"mailbox": status.mailbox, "last_success_at": _iso(status.last_success_at),
            "last_error": status.last_error, "last_error_at": _iso(status.last_error_at),
            "imported": status.imported}
    if as_json:
        print_json(data)
        return
    out.print(f"Postfach {status.mailbox}: zuletzt abgeholt {data['last_success_at'] or 'noch nie'}, "
              f"{status.imported} E-Mails übernommen")
    if status.failing:
        err.print(f"[red]Letzter Fehler[/] ({data['last_error_at']}): {status.last_error}")
        raise typer.Exit(1)


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat(timespec="seconds") if moment is not None else None
