"""Categorisation commands: categorise, categories, examples add/import/list."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import CliError, app, err, out, print_json, require_text, run_batch, services
from assistant.domain import Categorisation

examples_app = typer.Typer(help="Gelabelte Beispiele, aus denen die Einordnung lernt.", no_args_is_help=True)
app.add_typer(examples_app, name="examples")

_METHODS = {
    "example": "bekanntes Beispiel", "classifier": "gelernt aus Beispielen",
    "classifier+model": "Beispiele + Sprachmodell", "model": "Sprachmodell + Beschreibungen",
    "descriptions": "Kategoriebeschreibungen",
}


def _contract(result: Categorisation) -> dict[str, object]:
    return result.model_dump(exclude={"notes"} if not result.notes else set())


@app.command()
def categorise(
    text: Annotated[str | None, typer.Argument(help="Text der Kundennachricht")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL mit {\"id\",\"text\"} je Zeile")] = None,
    no_model: Annotated[bool, typer.Option("--no-model", help="Sprachmodell nicht fragen")] = False,
) -> None:
    """Eine Beschwerde in eine der Kategorien aus categories.yaml einordnen – mit Sicherheit und Begründung."""
    categoriser = services().categoriser
    if batch is not None:
        run_batch(batch, lambda t: _contract(categoriser.categorise(t, use_model=not no_model)))
        return
    result = categoriser.categorise(require_text(text), use_model=not no_model)
    if as_json:
        print_json(_contract(result))
        return
    out.print(f"[bold]{result.name}[/] ({result.category}) · Sicherheit {result.confidence:.0%} · "
              f"Team: {result.team or '–'}")
    out.print(f"[dim]Entschieden durch: {_METHODS[result.method]}[/]")
    for alt in result.alternatives:
        out.print(f"[dim]  auch möglich: {alt.name} ({alt.confidence:.0%})[/]")
    for note in result.notes:
        err.print(f"[dim]Hinweis: {note}[/]")


@app.command()
def categories(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Die Kategorien mit Team und Zahl der gelernten Beispiele anzeigen."""
    s = services()
    counts = s.examples.counts()
    rows = [
        {"id": c.id, "name": c.name, "team": c.team, "file_examples": len(c.examples), "examples": counts.get(c.id, 0)}
        for c in s.categories.categories
    ]
    if as_json:
        print_json(rows)
        return
    table = Table("id", "Name", "Team", "Beispiele (Datei)", "Beispiele (gelernt)")
    for r in rows:
        table.add_row(r["id"], r["name"], r["team"], str(r["file_examples"]), str(r["examples"]))
    out.print(table)
    out.print(f"[dim]Quelle: {s.categories.path}[/]")


@examples_app.command("add")
def examples_add(
    text: Annotated[str, typer.Argument(help="Text der Nachricht")],
    category: Annotated[str, typer.Option("--category", "-c", help="Kategorie-id")],
) -> None:
    """Ein Beispiel hinzufügen (oder das Label eines vorhandenen Textes korrigieren)."""
    result = services().examples.add(text, category, source="cli")
    messages = {
        "added": f"Beispiel Nr. {result.id} gespeichert ({result.category}).",
        "duplicate": f"Dieser Text ist schon Beispiel Nr. {result.id} mit derselben Kategorie – nichts geändert.",
        "relabelled": f"Beispiel Nr. {result.id}: Kategorie {result.previous} → {result.category} korrigiert.",
    }
    out.print(messages[result.status])


@examples_app.command("import")
def examples_import(
    file: Annotated[Path, typer.Argument(help="JSONL-Datei mit {\"text\", \"category\"} je Zeile")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Beispiele aus JSONL importieren. Alle gültigen Zeilen werden übernommen, fehlerhafte mit Zeilennummer
    gemeldet (Exit-Code 1, wenn es fehlerhafte Zeilen gab)."""
    if not file.is_file():
        raise CliError(f"Datei nicht gefunden: {file}")
    with file.open(encoding="utf-8", errors="replace") as handle:
        report = services().examples.import_jsonl(handle, source="import")
    if as_json:
        print_json({"added": report.added, "relabelled": report.relabelled, "duplicates": report.duplicates,
                    "errors": [{"line": n, "error": e} for n, e in report.errors]})
    else:
        out.print(f"Neu: {report.added} · korrigiert: {report.relabelled} · schon vorhanden: {report.duplicates}"
                  f" · fehlerhaft: {len(report.errors)}")
        for number, reason in report.errors:
            err.print(f"[yellow]Zeile {number}:[/] {reason}")
    if report.errors:
        raise typer.Exit(1)


@examples_app.command("list")
def examples_list(
    category: Annotated[str | None, typer.Option("--category", "-c", help="nur diese Kategorie")] = None,
    limit: Annotated[int, typer.Option(min=1, help="höchstens so viele (neueste zuerst)")] = 50,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Gelernte Beispiele anzeigen, neueste zuerst."""
    rows = services().examples.latest(category, limit)
    if as_json:
        print_json([{"id": r.id, "text": r.text, "category": r.category, "source": r.source,
                     "created_at": r.created_at.isoformat()} for r in rows])
        return
    table = Table("Nr.", "Kategorie", "Quelle", "Text")
    for r in rows:
        table.add_row(str(r.id), r.category, r.source, escape(r.text[:100].replace("\n", " ")))
    out.print(table if rows else "Noch keine Beispiele.")
