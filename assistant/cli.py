"""The `kontor` command: thin, calls the modules below it. Errors end with exit code 1 and one line."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from assistant.config import Settings, load_settings
from assistant.domain import Draft

app = typer.Typer(help="Kontor – lokaler Back-Office-Assistent.", no_args_is_help=True, add_completion=False)
model_app = typer.Typer(help="Sprachmodelle registrieren und auswählen.", no_args_is_help=True)
proven_app = typer.Typer(help="Bewährte (freigegebene) Antworten.", no_args_is_help=True)
app.add_typer(model_app, name="model")
app.add_typer(proven_app, name="proven")

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False)


class CliError(Exception):
    """A failure the user can act on; printed as one line."""


def _services(**overrides: Any):
    from assistant.services import Services

    return Services(load_settings(**overrides))


def _print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[item]}", style="dim"), console=err, transient=False,
    )


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Dateien oder Ordner (Standard: Wissensordner)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Bericht als JSON")] = False,
) -> None:
    """Dokumente (md, txt, html, pdf, docx) in den Wissensindex aufnehmen – inkrementell."""
    services = _services()
    roots = paths or [services.settings.knowledge_dir]
    files, _ = services.ingestor.discover(roots)
    with _progress() as bar:
        task = bar.add_task("Indexiere", total=len(files), item="")
        report = services.ingestor.run(roots, progress=lambda name: bar.update(task, advance=1, item=name))
    if as_json:
        _print_json(report.__dict__)
    else:
        out.print(
            f"Neu: {len(report.added)} · geändert: {len(report.updated)} · unverändert: {len(report.unchanged)}"
            f" · entfernt: {len(report.removed)} · Abschnitte geschrieben: {report.chunks_written}"
        )
        for source, reason in report.failed.items():
            err.print(f"[yellow]Übersprungen:[/] {source}: {reason}")
    if not files:
        raise CliError("Keine Dateien gefunden")


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="Suchtext")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Anzahl Treffer")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL mit {\"id\",\"text\"} je Zeile")] = None,
) -> None:
    """Wissensbasis durchsuchen (hybrid: BM25 + Zeichen-n-Gramme + Vektoren)."""
    services = _services()
    if batch is not None:
        _run_batch(batch, lambda text: {"results": [h.contract() for h in services.retriever.search(text, k)]})
        return
    query = _require_text(query)
    hits = services.retriever.search(query, k)
    if as_json:
        _print_json([h.contract() for h in hits])
        return
    table = Table("#", "Score", "Quelle", "Abschnitt", "Text")
    for h in hits:
        where = h.section + (f" (S. {h.page})" if h.page else "")
        table.add_row(str(h.rank), f"{h.score:.2f}", h.source, where, h.text[:160].replace("\n", " "))
    out.print(table if hits else "Keine Treffer.")


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="Kundenfrage")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL mit {\"id\",\"text\"} je Zeile")] = None,
    prompt: Annotated[str, typer.Option(help="Prompt-Version: production, candidate oder N")] = "production",
) -> None:
    """Antwortentwurf mit Quellenangaben erstellen (oder ehrliche Übergabe an eine Person)."""
    answerer = _services().answerer(prompt)
    if batch is not None:
        _run_batch(batch, lambda text: _draft_json(answerer.draft(text)))
        return
    question = _require_text(question)
    if as_json:
        _print_json(_draft_json(answerer.draft(question)))
        return
    err.print("[dim]Modell schreibt …[/]")
    draft = answerer.draft(question, on_token=lambda piece: err.print(piece, end="", style="dim"))
    err.print()
    _show_draft(draft)


def _draft_json(draft: Draft) -> dict[str, Any]:
    return draft.model_dump(
        include={"answer", "citations", "handover", "prompt_version", "model", "timings_ms", "method", "notes"}
    )


def _show_draft(draft: Draft) -> None:
    label = "Übergabe an eine Person" if draft.handover else f"KI-Entwurf – bitte prüfen ({draft.method})"
    out.rule(label)
    out.print(draft.answer)
    for c in draft.citations:
        out.print(f"[bold][{c.n}][/] {c.source}: [dim]„{c.quote[:200]}“[/]")
    for note in draft.notes:
        err.print(f"[dim]Hinweis: {note}[/]")
    err.print(f"[dim]{draft.prompt_version} · {draft.model} · {draft.timings_ms.get('total_ms', 0):.0f} ms[/]")


def _require_text(text: str | None) -> str:
    if text is None or not text.strip():
        raise CliError("Bitte einen Text angeben (oder --batch DATEI)")
    return text


def _read_batch(path: Path) -> Iterator[tuple[Any, str | None, str | None]]:
    """(id, text, error) per line; a bad line yields an error and the rest goes on."""
    if not path.is_file():
        raise CliError(f"Datei nicht gefunden: {path}")
    with path.open(encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                item = json.loads(line)
            except json.JSONDecodeError as exc:
                yield None, None, f"Zeile {number}: kein gültiges JSON ({exc.msg})"
                continue
            if not isinstance(item, dict):
                yield None, None, f"Zeile {number}: erwartet ein Objekt {{\"id\", \"text\"}}"
                continue
            text = item.get("text")
            if not isinstance(text, str) or not text.strip():
                yield item.get("id"), None, f"Zeile {number}: Feld \"text\" fehlt oder ist leer"
                continue
            yield item.get("id"), text, None


def _run_batch(path: Path, handle: Callable[[str], dict[str, Any]]) -> None:
    from assistant.answer import InputError

    lines = list(_read_batch(path))
    failures = 0
    with _progress() as bar:
        task = bar.add_task("Verarbeite", total=len(lines), item="")
        for item_id, text, error in lines:
            if text is not None:
                try:
                    _print_json({"id": item_id, **handle(text)})
                except InputError as exc:
                    error = str(exc)
            if error is not None:
                failures += 1
                _print_json({"id": item_id, "error": error})
            bar.update(task, advance=1, item=str(item_id))
    if failures:
        err.print(f"[yellow]{failures} von {len(lines)} Zeilen mit Fehler[/]")


@model_app.command("list")
def model_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registrierte Modelle anzeigen (* = aktiv)."""
    from assistant.models import registered_models

    settings = load_settings()
    models = registered_models(settings)
    if as_json:
        _print_json([m.model_dump(mode="json") | {"active": m.name == settings.model} for m in models])
        return
    table = Table("", "Name", "Datei", "Größe", "SHA-256", "Hinweis")
    for m in models:
        table.add_row("*" if m.name == settings.model else "", m.name, str(m.path), f"{m.size / 1e6:.0f} MB",
                      m.sha256[:16] + "…", m.note)
    out.print(table)
    if settings.llm_backend == "openai":
        out.print(f"Aktives Backend: OpenAI-kompatibler Server {settings.openai_base_url} ({settings.openai_model})")


@model_app.command("add")
def model_add(
    path: Path,
    name: Annotated[str | None, typer.Option(help="Name (Standard: Dateiname)")] = None,
    note: Annotated[str, typer.Option(help="Notiz, z. B. Lizenz")] = "",
    use: Annotated[bool, typer.Option("--use", help="gleich als aktives Modell setzen")] = False,
) -> None:
    """Eine GGUF-Modelldatei registrieren (SHA-256 wird festgehalten und bei jedem Laden geprüft)."""
    from assistant.models import add_model, set_active_model

    settings = load_settings()
    settings.ensure_dirs()
    size = path.stat().st_size if path.is_file() else 0
    with _progress() as bar:
        task = bar.add_task("Prüfsumme", total=size or None, item=path.name)
        info = add_model(settings, path, name, note, progress=lambda n: bar.update(task, advance=n))
    if use:
        set_active_model(settings, info.name)
    out.print(f"Registriert: {info.name} ({info.sha256}){' – aktiv' if use else ''}")


@model_app.command("use")
def model_use(name: str) -> None:
    """Ein registriertes Modell als aktives Modell festlegen."""
    from assistant.models import set_active_model

    settings = load_settings()
    set_active_model(settings, name)
    out.print(f"Aktives Modell: {name}")


@proven_app.command("add")
def proven_add(
    question: Annotated[str, typer.Option(help="Die Kundenfrage")],
    answer: Annotated[str, typer.Option(help="Die freigegebene Antwort")],
    approved_by: Annotated[str, typer.Option(help="Wer hat freigegeben")] = "cli",
) -> None:
    """Eine freigegebene Antwort als bewährte Antwort hinterlegen."""
    if not question.strip() or not answer.strip():
        raise CliError("Frage und Antwort dürfen nicht leer sein")
    new_id = _services().catalogue.add_proven(question.strip(), answer.strip(), "[]", approved_by)
    out.print(f"Bewährte Antwort Nr. {new_id} gespeichert.")


@proven_app.command("list")
def proven_list() -> None:
    """Bewährte Antworten anzeigen."""
    table = Table("Nr.", "Frage", "Antwort", "Freigegeben von")
    for p in _services().catalogue.proven_answers():
        table.add_row(str(p.id), p.question[:80], p.answer[:80], p.approved_by)
    out.print(table)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Adresse")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
) -> None:
    """Die Weboberfläche starten."""
    import uvicorn

    from assistant.web.app import create_app

    settings: Settings = load_settings()
    err.print(f"Kontor läuft auf http://{host}:{port}/  (Daten: {settings.home})")
    uvicorn.run(create_app(settings), host=host, port=port, log_level="info")


def main() -> None:
    from assistant.answer import InputError
    from assistant.knowledge.loaders import LoaderError
    from assistant.llm import LLMError
    from assistant.models import ModelError
    from assistant.prompts import PromptError

    known = (CliError, InputError, LoaderError, LLMError, ModelError, PromptError, FileNotFoundError)
    try:
        app(standalone_mode=False)
    except known as exc:
        err.print(f"[red]Fehler:[/] {exc}")
        raise SystemExit(1) from None
    except (typer.Abort, KeyboardInterrupt):
        err.print("Abgebrochen.")
        raise SystemExit(130) from None
    except Exception as exc:  # click's usage errors and validation errors of settings
        import click
        from pydantic import ValidationError

        if isinstance(exc, click.ClickException):
            exc.show()
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, ValidationError):
            err.print(f"[red]Fehler in den Einstellungen:[/] {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
            raise SystemExit(1) from None
        raise
