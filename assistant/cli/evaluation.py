"""Evaluation and prompt commands: eval (with --gate), eval accept, eval add-from-ticket, prompts …"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import CliError, app, err, out, progress, services
from assistant.prompts import TASKS, PromptReleases

if TYPE_CHECKING:
    from assistant.evaluate.evaluation import Outcome
    from assistant.services import Services

eval_app = typer.Typer(help="Evaluation der Prompt-Versionen und Freigabe-Schranke.", invoke_without_command=True)
prompts_app = typer.Typer(help="Prompt-Versionen: anzeigen, vergleichen, neu anlegen, freigeben.", no_args_is_help=True)
app.add_typer(eval_app, name="eval")
app.add_typer(prompts_app, name="prompts")


@eval_app.callback()
def evaluate(
    ctx: typer.Context,
    task: Annotated[str, typer.Option(help="answer, categorise oder all")] = "all",
    prompt: Annotated[str, typer.Option(help="production, candidate, N oder answer@vN")] = "production",
    gate: Annotated[bool, typer.Option("--gate", help="mit der akzeptierten Baseline vergleichen; Exit 1 bei "
                                                      "Verschlechterung")] = False,
    report: Annotated[Path | None, typer.Option(help="Ordner für report.json und report.html")] = None,
) -> None:
    """Prompt-Version auf den Evaluationsfällen laufen lassen, mit production vergleichen, Bericht schreiben."""
    if ctx.invoked_subcommand:
        return
    from assistant.evaluate.evaluation import evaluate as run_evaluation  # ~1 s of imports: only when evaluating

    s = services()
    _require_index(s)
    parts = s.eval_parts()
    failed = []
    ref = prompt.split("@", 1)[1] if "@" in prompt else prompt
    for name in _tasks(task, prompt):
        folder = report / name if report and task == "all" else report

        def work(tick: Callable[[str], None], name: str = name, folder: Path | None = folder) -> Outcome:
            return run_evaluation(parts, name, ref, gate=gate, report_dir=folder, progress=tick)

        outcome = _with_progress(s, name, work, runs=1 if ref == "production" else 2)
        _show(outcome.report)
        assert outcome.paths is not None
        out.print(f"[dim]Bericht: {outcome.paths[1]}[/]")
        for f in outcome.failures:
            err.print(f"[red]Schranke:[/] {f['metric']} = {f['value']} (Baseline {f['baseline']}, Toleranz "
                      f"{f['tolerance']}, {f['direction']})")
            failed.append(f"{name}:{f['metric']}")
    if gate and failed:
        raise CliError("Verschlechterung gegenüber der Baseline: " + ", ".join(failed))
    if gate:
        out.print("[green]Schranke bestanden.[/]")


@eval_app.command("accept")
def accept(task: Annotated[str, typer.Option(help="answer, categorise oder all")] = "all") -> None:
    """Die Kennzahlen der production-Version als neue Baseline übernehmen (eval/baselines/<task>.json)."""
    from assistant.evaluate.evaluation import accept as write_baseline  # ~1 s of imports: only when evaluating
    from assistant.evaluate.evaluation import evaluate as run_evaluation  # ~1 s of imports: only when evaluating

    s = services()
    _require_index(s)
    parts = s.eval_parts()
    for name in _tasks(task, "production"):
        def work(tick: Callable[[str], None], name: str = name) -> Outcome:
            return run_evaluation(parts, name, "production", progress=tick)

        outcome = _with_progress(s, name, work)
        out.print(f"Baseline geschrieben: {write_baseline(s.settings.eval_dir, name, outcome)}")


@eval_app.command("add-from-ticket")
def add_from_ticket(ticket_id: int, author: Annotated[str, typer.Option(help="wer den Fall anlegt")] = "cli") -> None:
    """Ein geprüftes Ticket anonymisiert als Evaluationsfall speichern (freigegebener Text als Referenz)."""
    from assistant.evaluate.from_ticket import case_from_ticket  # imported when the command runs: `kontor` starts fast

    s = services()
    path = case_from_ticket(s.database, s.settings.eval_dir, s.company, ticket_id, author)
    out.print(f"Evaluationsfall geschrieben: {path}")


def _tasks(task: str, prompt: str) -> tuple[str, ...]:
    if "@" in prompt:
        return (prompt.split("@", 1)[0],)
    if task == "all":
        return TASKS
    if task not in TASKS:
        raise CliError(f"Unbekannte Aufgabe '{task}'. Erlaubt: {', '.join(TASKS)}, all")
    return (task,)


def _require_index(s: Services) -> None:
    if not s.catalogue.documents():
        raise CliError("Der Wissensindex ist leer – bitte zuerst `kontor ingest` ausführen")


def _with_progress(
    s: Services, task: str, work: Callable[[Callable[[str], None]], Outcome], runs: int = 1,
) -> Outcome:
    """``runs``: the version itself, plus production to compare with."""
    from assistant.evaluate.cases import cases_for, load_cases  # imported when the command runs: `kontor` starts fast

    total = len(cases_for(task, load_cases(s.settings.eval_dir / "cases"))) * runs
    with progress() as bar:
        handle = bar.add_task(f"Evaluation {task}", total=total, item="")
        return work(lambda case_id: bar.update(handle, advance=1, item=case_id))


def _show(report: dict[str, Any]) -> None:
    compared = report.get("compared_metrics") or {}
    table = Table("Kennzahl", report["prompt"], report.get("compared_with") or "–", "Differenz",
                  title=f"{report['task']}: {report['cases']} Fälle")
    for name, value in report["metrics"].items():
        base = compared.get(name)
        diff = f"{value - base:+.3f}" if base is not None else ""
        table.add_row(name, f"{value:.3f}", f"{base:.3f}" if base is not None else "", diff)
    out.print(table)
    counts: dict[str, int] = {}
    for row in report["per_case"]:
        counts[row["outcome"]] = counts.get(row["outcome"], 0) + 1
    out.print("Fälle: " + " · ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for row in [r for r in report["per_case"] if r["outcome"] == "worse"][:10]:
        out.print(f"  [red]schlechter[/] {row['id']}: {escape(row['summary'])}")
    for ref, rating in report.get("ratings", {}).items():
        out.print(f"[dim]Bewertung {ref}: {rating['mean']} ({rating['count']} Bewertungen)[/]")


# --- prompts ----------------------------------------------------------------------------------------------------

def _releases(s: Services) -> PromptReleases:
    return PromptReleases(s.prompts)


@prompts_app.command("list")
def prompts_list() -> None:
    """Alle Versionen je Aufgabe mit Autor, Datum, Notiz und Label."""
    s = services()
    labels = s.prompts.labels()
    table = Table("Aufgabe", "Version", "Label", "Autor", "Datum", "Notiz")
    for task in sorted({p.parent.name for p in s.prompts.root.glob("*/v*.md")}):
        for version in s.prompts.versions(task):
            marks = [name for name, v in labels.get(task, {}).items() if v == version.meta.version]
            table.add_row(task, f"v{version.meta.version}", ", ".join(marks), version.meta.author,
                          str(version.meta.created), escape(version.meta.note))
    out.print(table)


@prompts_app.command("show")
def prompts_show(task: str, version: Annotated[str, typer.Argument(help="N, production oder candidate")]) -> None:
    """Eine Version vollständig anzeigen."""
    prompt = services().prompts.resolve(task, version)
    out.print(escape(prompt.path.read_text(encoding="utf-8")))


@prompts_app.command("diff")
def prompts_diff(task: str, a: int, b: int) -> None:
    """Zwei Versionen vergleichen (unified diff)."""
    out.print(escape(_releases(services()).diff(task, a, b)) or "Keine Unterschiede.")


@prompts_app.command("new")
def prompts_new(
    task: str, source: Annotated[int, typer.Option("--from", help="Ausgangsversion")],
    author: Annotated[str, typer.Option(help="Autor")] = "Fachbereich",
    note: Annotated[str, typer.Option(help="Was ist neu?")] = "",
) -> None:
    """Eine neue Version aus einer bestehenden anlegen; sie wird Kandidat."""
    created = _releases(services()).new_version(task, source, author, note)
    out.print(f"Angelegt: {created.path} (Kandidat). Bearbeiten, dann `kontor eval --prompt {created.ref} --gate`.")


@prompts_app.command("promote")
def prompts_promote(task: str, version: int) -> None:
    """Eine Version zu production machen – nur mit bestandener Evaluation (Schranke) dieser Datei."""
    from assistant.evaluate.evaluation import passed_gate  # ~1 s of imports: only when promoting

    s = services()
    if not passed_gate(s.database, s.prompts, lambda: s.llm, task, version):
        raise CliError(f"Keine bestandene Evaluation für {task}@v{version} – bitte zuerst "
                       f"`kontor eval --prompt {task}@v{version} --gate`")
    _releases(s).promote(task, version)
    out.print(f"{task}@v{version} ist jetzt production (in prompts.lock festgeschrieben).")
