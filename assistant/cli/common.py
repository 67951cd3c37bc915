"""What every `kontor` command shares: the app, consoles, errors, JSON output, progress bars, batch files."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from assistant.config import load_settings
from assistant.errors import REASONS, InputError, KontorError, reason

app = typer.Typer(help="Kontor – lokaler Back-Office-Assistent.", no_args_is_help=True, add_completion=False)

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)  # one error = one line, whatever the width


class CliError(KontorError):
    """A failure the user can act on; printed as one line."""


def services(**overrides: Any):
    # the container and its imports only for commands that use it: `kontor --help` starts fast
    from assistant.services import Services

    return Services(load_settings(**overrides))


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(value, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
        TextColumn("{task.fields[item]}", style="dim"), console=err, transient=False,
    )


def require_text(text: str | None) -> str:
    if text is None or not text.strip():
        raise CliError("Bitte einen Text angeben (oder --batch DATEI)")
    return text


def read_batch(path: Path) -> Iterator[tuple[Any, str | None, str | None]]:
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


def run_batch(path: Path, handle: Callable[[str], dict[str, Any]]) -> None:
    lines = list(read_batch(path))
    failures = 0
    with progress() as bar:
        task = bar.add_task("Verarbeite", total=len(lines), item="")
        for item_id, text, error in lines:
            if text is not None:
                try:
                    print_json({"id": item_id, **handle(text)})
                except InputError as exc:
                    error = str(exc)
            if error is not None:
                failures += 1
                print_json({"id": item_id, "error": error})
            bar.update(task, advance=1, item=str(item_id))
    if failures:
        err.print(f"[yellow]{failures} von {len(lines)} Zeilen mit Fehler[/]")


# --- a wrong call in one German line ---------------------------------------------------------------------------

def usage_error(exc: Exception) -> str:
    """Click's (English, multi-line) usage errors as one German sentence with a pointer to ``--help``."""
    message = str(getattr(exc, "message", "") or exc)
    param = getattr(exc, "param", None)
    name = ""
    if param is not None:
        flags = [o for o in getattr(param, "opts", []) if o.startswith("-")]
        name = max(flags, key=len) if flags else str(getattr(param, "name", "") or "").upper()
    kind = type(exc).__name__
    help_hint = " – Hilfe: kontor --help"
    if kind == "MissingParameter":
        return f"„{name}“ fehlt{help_hint}"
    if kind == "NoSuchOption":
        return f"Unbekannte Option „{getattr(exc, 'option_name', '')}“{help_hint}"
    if message.startswith("No such command"):
        command = message.split("'")[1] if "'" in message else message
        return f"Unbekannter Befehl „{command}“{help_hint}"
    if kind == "BadParameter":
        return f"„{name}“ {_says(exc.__cause__, message)}{help_hint}"
    if "requires an argument" in message:
        option = message.split("'")[1] if message.count("'") >= 2 else message
        return f"Bei „{option}“ fehlt der Wert{help_hint}"
    if "unexpected extra argument" in message.lower():
        return f"Zu viele Angaben: {message.split('(')[-1].rstrip(')')}{help_hint}"
    return f"Ungültiger Aufruf ({message}){help_hint}"


def _says(cause: BaseException | None, message: str) -> str:
    errors = getattr(cause, "errors", None)
    found = errors() if callable(errors) else None
    if found and str(found[0].get("type")) in REASONS:
        return reason(found[0])
    if "is not one of" in message or "not a valid" in message:
        return f"hat einen ungültigen Wert ({message})"
    return "ist ungültig"
