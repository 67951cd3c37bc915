"""Backup and restore: `kontor backup PATH` while the server runs, `kontor restore PATH` into an empty data
directory (assistant/backup.py and assistant/restore.py do the work)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeRemainingColumn

from assistant.cli.common import CliError, app, err, out, print_json, services
from assistant.config import load_settings


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="neuer oder leerer Ordner für die Sicherung")],
    as_json: Annotated[bool, typer.Option("--json", help="Manifest als JSON")] = False,
) -> None:
    """Konsistente Sicherung, auch während der Server läuft: Datenbank, Wissensindex, Prompts, Postausgang,
    Wissensdokumente, Einstellungen – mit Manifest (Versionen, Prüfsummen, Anzahlen)."""
    from assistant.backup import BackupError  # imported when the command runs: `kontor` starts fast
    from assistant.backup import backup as make_backup
    from assistant.knowledge.vectors import VectorIndexError

    s = services()
    try:
        vectors = s.vectors
    except VectorIndexError as exc:  # the vectors can be recomputed; everything else must be saved anyway
        err.print(f"[yellow]{exc} – die Sicherung enthält keine Vektoren[/]")
        vectors = None
    started = time.monotonic()
    try:
        with _bar("Sichere") as progress:
            manifest = make_backup(s.settings, path, s.catalogue, vectors, progress)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    _report(manifest, f"Sicherung in {path.expanduser().resolve()}", as_json, time.monotonic() - started)


@app.command()
def restore(
    path: Annotated[Path, typer.Argument(help="Ordner einer Sicherung (mit manifest.json)")],
    as_json: Annotated[bool, typer.Option("--json", help="Manifest als JSON")] = False,
) -> None:
    """Eine Sicherung in ein leeres Datenverzeichnis (KONTOR_HOME) und eine leere Datenbank zurückspielen;
    alle Prüfsummen werden vorher geprüft."""
    from assistant.backup import BackupError  # imported when the command runs: `kontor` starts fast
    from assistant.restore import restore as run_restore

    settings = load_settings()
    started = time.monotonic()
    try:
        with _bar("Stelle wieder her") as progress:
            manifest = run_restore(settings, path, progress)
    except BackupError as exc:
        raise CliError(str(exc)) from None
    _report(manifest, f"Wiederhergestellt nach {settings.home}", as_json, time.monotonic() - started)
    if manifest["index"]["vectors"] < manifest["index"]["chunks"]:
        err.print("[yellow]Nicht alle Abschnitte haben einen Vektor: bitte `kontor ingest` ausführen[/]")
    if manifest["models"]:
        names = ", ".join(m["file"] for m in manifest["models"])
        err.print(f"[dim]Modelldateien werden nicht gesichert: {names} müssen am registrierten Ort liegen "
                  "(`kontor model list`)[/]")


@contextmanager
def _bar(label: str) -> Iterator[Any]:
    """A byte progress bar that appears with the first copied byte (a refusal prints its line alone)."""
    bar = Progress(TextColumn(label), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
                   TextColumn("{task.fields[item]}", style="dim"), console=err, transient=False)
    task: TaskID | None = None

    def progress(item: str, done: int, total: int) -> None:
        nonlocal task
        if task is None:
            bar.start()
            task = bar.add_task(label, total=total, item="")
        bar.update(task, completed=done, total=total, item=item[-60:])

    try:
        yield progress
        if task is not None:
            bar.update(task, completed=bar.tasks[0].total or 0, item="")
    finally:
        bar.stop()


def _report(manifest: dict[str, Any], headline: str, as_json: bool, seconds: float) -> None:
    if as_json:
        print_json({k: v for k, v in manifest.items() if k != "files"})
        return
    rows = manifest["database"]["counts"]
    out.print(f"{headline}: {manifest['counts']['files']} Dateien, {manifest['bytes'] / 1e6:.1f} MB, {seconds:.1f} s")
    out.print(f"Tickets: {rows.get('tickets', 0)} · Entwürfe: {rows.get('drafts', 0)} · Audit-Einträge: "
              f"{rows.get('audit_log', 0)} · Abschnitte: {manifest['index']['chunks']} · Vektoren: "
              f"{manifest['index']['vectors']} · Mails im Postausgang: {manifest['counts']['outbox_mails']}")
