"""The `kontor` command: thin, calls the modules below it. Errors end with exit code 1 and one line."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from assistant.cli import (  # noqa: F401 - registers commands
    accounts,
    audit,
    backup,
    categorise,
    evaluation,
    knowledge,
    mail,
    models,
    privacy,
    worker,
    workflow,
)
from assistant.cli.common import app, err, usage_error
from assistant.config import Settings, load_settings
from assistant.errors import KontorError
from assistant.logs import setup_logging


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Adresse")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port")] = 8000,
) -> None:
    """Die Weboberfläche starten."""
    from assistant.web.app import create_app, run_server  # the web stack only here: `kontor` starts fast

    settings: Settings = load_settings()
    setup_logging(settings.log_dir)
    err.print(f"Kontor läuft auf http://{host}:{port}/  (Daten: {settings.home}, Protokoll: {settings.log_dir})")
    run_server(create_app(settings), host, port)


def main() -> None:
    try:
        code = app(standalone_mode=False)  # returns typer.Exit's code instead of exiting
    except (KontorError, FileNotFoundError) as exc:  # a sentence for people; anything else is a bug
        err.print(f"[red]Fehler:[/] {exc}")
        raise SystemExit(1) from None
    except (typer.Abort, KeyboardInterrupt):
        err.print("Abgebrochen.")
        raise SystemExit(130) from None
    except Exception as exc:  # click's usage errors and validation errors of settings
        import click  # only on the error path
        from pydantic import ValidationError
        from typer._click.exceptions import ClickException  # typer's own copy of click's errors

        if isinstance(exc, ClickException | click.ClickException):
            err.print(f"[red]Fehler:[/] {escape(usage_error(exc))}")  # the user's words are no markup
            raise SystemExit(exc.exit_code) from None
        if isinstance(exc, ValidationError):
            err.print(f"[red]Fehler in den Einstellungen:[/] {exc.errors()[0]['loc']}: {exc.errors()[0]['msg']}")
            raise SystemExit(1) from None
        raise
    if isinstance(code, int) and code:
        raise SystemExit(code)
