"""Model registry commands: list, add, use."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from assistant.cli.common import app, out, print_json, progress
from assistant.config import load_settings

model_app = typer.Typer(help="Sprachmodelle registrieren und auswählen.", no_args_is_help=True)
app.add_typer(model_app, name="model")


@model_app.command("list")
def model_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Registrierte Modelle anzeigen (* = aktiv)."""
    from assistant.models import registered_models  # imported when the command runs: `kontor` starts fast

    settings = load_settings()
    models = registered_models(settings)
    if as_json:
        print_json([m.model_dump(mode="json") | {"active": m.name == settings.llm.model} for m in models])
        return
    table = Table("", "Name", "Datei", "Größe", "SHA-256", "Hinweis")
    for m in models:
        table.add_row("*" if m.name == settings.llm.model else "", m.name, str(m.path), f"{m.size / 1e6:.0f} MB",
                      m.sha256[:16] + "…", m.note)
    out.print(table)
    if settings.llm.llm_backend == "openai":
        llm = settings.llm
        out.print(f"Aktives Backend: OpenAI-kompatibler Server {llm.openai_base_url} ({llm.openai_model})")


@model_app.command("add")
def model_add(
    path: Path,
    name: Annotated[str | None, typer.Option(help="Name (Standard: Dateiname)")] = None,
    note: Annotated[str, typer.Option(help="Notiz, z. B. Lizenz")] = "",
    use: Annotated[bool, typer.Option("--use", help="gleich als aktives Modell setzen")] = False,
) -> None:
    """Eine GGUF-Modelldatei registrieren (SHA-256 wird festgehalten und bei jedem Laden geprüft)."""
    from assistant.models import add_model, set_active_model  # imported when the command runs: `kontor` starts fast

    settings = load_settings()
    settings.ensure_dirs()
    size = path.stat().st_size if path.is_file() else 0
    with progress() as bar:
        task = bar.add_task("Prüfsumme", total=size or None, item=path.name)
        info = add_model(settings, path, name, note, progress=lambda n: bar.update(task, advance=n))
    if use:
        set_active_model(settings, info.name)
    out.print(f"Registriert: {info.name} ({info.sha256}){' – aktiv' if use else ''}")


@model_app.command("use")
def model_use(name: str) -> None:
    """Ein registriertes Modell als aktives Modell festlegen."""
    from assistant.models import set_active_model  # imported when the command runs: `kontor` starts fast

    settings = load_settings()
    set_active_model(settings, name)
    out.print(f"Aktives Modell: {name}")
