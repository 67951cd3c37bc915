"""Privacy commands: export and erase one customer's data (GDPR), purge by the retention periods."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from assistant.cli.common import app, err, out, services

if TYPE_CHECKING:
    pass

privacy_app = typer.Typer(help="Daten einer Kundin / eines Kunden auskunften oder löschen (DSGVO).",
                          no_args_is_help=True)
app.add_typer(privacy_app, name="privacy")


@privacy_app.command("export")
def privacy_export(
    address: Annotated[str, typer.Argument(help="E-Mail-Adresse der Kundin / des Kunden")],
    out_file: Annotated[Path | None, typer.Option("--out", help="in diese Datei statt auf die Standardausgabe")] = None,
) -> None:
    """Alles, was zu ADDRESS gespeichert ist, als JSON ausgeben (Auskunft nach Art. 15 DSGVO)."""
    from assistant import privacy  # imported when the command runs: `kontor` starts fast

    text = json.dumps(privacy.export(services().privacy_parts(), address), ensure_ascii=False, indent=2) + "\n"
    if out_file is None:
        sys.stdout.write(text)
        return
    out_file.write_text(text, encoding="utf-8")  # 0600: the process runs with umask 077
    err.print(f"Auskunft für {address} geschrieben: {out_file}")


@privacy_app.command("erase")
def privacy_erase(
    address: Annotated[str, typer.Argument(help="E-Mail-Adresse der Kundin / des Kunden")],
    yes: Annotated[bool, typer.Option("--yes", help="ohne Rückfrage")] = False,
) -> None:
    """Alle Daten zu ADDRESS löschen (Art. 17 DSGVO): Tickets, Entwürfe, Bewertungen, Postausgang, Evaluations-
    fälle, Beispiele, Logzeilen. Das Audit-Protokoll behält seine Einträge (nur Nummern und Hashes)."""
    from assistant import privacy  # imported when the command runs: `kontor` starts fast

    parts = services().privacy_parts()
    found = privacy.find_customer(parts, address)
    if found.empty():
        out.print(f"Zu {address} ist nichts gespeichert.")
    elif not yes:
        typer.confirm(f"{len(found.tickets)} Ticket(s), {len(found.cases)} Evaluationsfall/-fälle, "
                      f"{len(found.examples)} Beispiel(e) und {len(found.proven)} bewährte Antwort(en) zu {address} "
                      "unwiderruflich löschen?", abort=True)
    done = privacy.erase_customer(parts, address, actor="cli")
    out.print(f"Gelöscht: {done.tickets} Ticket(s), {done.files} Maildatei(en), {done.attachments} Anhang/Anhänge, "
              f"{done.cases} Evaluationsfall/-fälle, "
              f"{done.examples} Beispiel(e), {done.proven} bewährte Antwort(en), {done.log_lines} Logzeile(n).")
    if not done.compacted:
        err.print("[yellow]Hinweis:[/] Ein anderer Prozess las gerade die Datenbank, ihr Protokoll (WAL) enthält "
                  "noch gelöschte Daten – bitte den Befehl wiederholen, wenn der Server ruht.")


@app.command()
def purge(dry_run: Annotated[bool, typer.Option("--dry-run", help="nur anzeigen, was ginge")] = False) -> None:
    """Löschen, was älter als seine Aufbewahrungsfrist ist (Einstellungen retention_*_days); der Server tut das
    täglich von selbst."""
    from assistant.retention import Periods  # imported when the command runs: `kontor` starts fast
    from assistant.retention import purge as run_purge  # imported when the command runs: `kontor` starts fast

    s = services()
    due = run_purge(s.privacy_parts(), Periods.from_settings(s.settings), dry_run=dry_run)
    verb = "Würde löschen" if dry_run else "Gelöscht"
    out.print(f"{verb}: {len(due.tickets)} abgeschlossene(s) Ticket(s), {len(due.mail_files)} zugestellte "
              f"Maildatei(en), {len(due.log_files)} Logdatei(en), {due.cache_entries} Evaluationsergebnis(se) "
              "aus dem Zwischenspeicher.")
    if dry_run:
        for ticket_id in due.tickets:
            out.print(f"  Ticket {ticket_id}")
        for path in [*due.mail_files, *due.log_files]:
            out.print(f"  {path}")



