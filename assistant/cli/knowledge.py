"""Knowledge commands: ingest, search, ask, proven answers."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from assistant.cli.common import CliError, app, err, out, print_json, progress, require_text, run_batch, services
from assistant.domain import Draft
from assistant.knowledge.vectors import VectorIndexError

if TYPE_CHECKING:
    from assistant.services import Services

proven_app = typer.Typer(help="Bewährte (freigegebene) Antworten.", no_args_is_help=True)
app.add_typer(proven_app, name="proven")


@app.command()
def ingest(
    paths: Annotated[list[Path] | None, typer.Argument(help="Dateien oder Ordner (Standard: Wissensordner)")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Bericht als JSON")] = False,
    rebuild: Annotated[bool, typer.Option(
        "--rebuild", help="Alle Vektoren verwerfen und mit dem eingestellten Embedding-Modell neu berechnen "
        "(nötig nach einem Modellwechsel)",
    )] = False,
    reread: Annotated[bool, typer.Option(
        "--reread", help="Auch unveränderte Dateien neu lesen und zerlegen (nach einem Update, das Dokumente "
        "anders liest, z. B. PDF-Tabellen und -Überschriften)",
    )] = False,
) -> None:
    """Dokumente (md, txt, html, pdf, docx) in den Wissensindex aufnehmen – inkrementell; fehlende Vektoren
    (gelöschte oder beschädigte Indexdateien) werden dabei ergänzt."""
    s = services()
    if rebuild:
        s.discard_vectors()  # before anything opens it: damaged files may crash chromadb
    try:
        ingestor = s.ingestor  # opens the vector index
    except VectorIndexError as exc:
        raise CliError(str(exc)) from None
    roots = paths or [s.settings.knowledge_dir]
    files, _ = ingestor.discover(roots)
    if rebuild:
        ingestor.reset()
    missing = 0 if rebuild else _missing_vectors(s)
    # after a reset, documents indexed from other folders are re-embedded too: one step each
    total = len(files) + len(set(s.catalogue.documents()) - {f.source for f in files}) if rebuild else len(files)
    with progress() as bar:
        task = bar.add_task("Baue Vektoren neu auf" if rebuild else "Indexiere", total=total, item="")
        report = s.ingestor.run(roots, progress=lambda name: bar.update(task, advance=1, item=name), reread=reread)
    if as_json:
        print_json(report.__dict__)
    else:
        out.print(
            f"Neu: {len(report.added)} · geändert: {len(report.updated)} · unverändert: {len(report.unchanged)}"
            f" · entfernt: {len(report.removed)} · Vektoren neu berechnet: {len(report.reembedded)}"
            f" · Abschnitte geschrieben: {report.chunks_written}"
        )
        for source, reason in report.failed.items():
            err.print(f"[yellow]Übersprungen:[/] {source}: {reason}")
    _check_vectors(s, missing)
    if not files:
        raise CliError("Keine Dateien gefunden")


def _missing_vectors(s: Services) -> int:
    """Chunks without a vector before the run (deleted or damaged index files); the run recomputes them."""
    missing = s.ingestor.missing_vectors()
    if missing:
        err.print(f"[yellow]Vektorindex unvollständig: {missing} von {s.catalogue.chunk_count()} Abschnitten ohne "
                  "Vektor – werden neu berechnet[/]")
    return missing


def _check_vectors(s: Services, repaired: int) -> None:
    """After the run every chunk has its vector, or the user learns the repair command."""
    left, chunks = s.ingestor.missing_vectors(), s.catalogue.chunk_count()
    if left:
        raise CliError(f"Vektorindex weiterhin unvollständig: {left} von {chunks} Abschnitten ohne Vektor – "
                       "bitte `kontor ingest --rebuild` ausführen")
    if repaired:
        err.print(f"[green]Vektorindex repariert: {s.vectors.count()} Vektoren für {chunks} Abschnitte[/]")


@app.command()
def search(
    query: Annotated[str | None, typer.Argument(help="Suchtext")] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=50, help="Anzahl Treffer")] = 5,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL mit {\"id\",\"text\"} je Zeile")] = None,
) -> None:
    """Wissensbasis durchsuchen (hybrid: BM25 + Zeichen-n-Gramme + Vektoren)."""
    s = services()
    if batch is not None:
        run_batch(batch, lambda text: {"results": [h.contract() for h in s.retriever.search(text, k)]})
        return
    query = require_text(query)
    hits = s.retriever.search(query, k)
    if as_json:
        print_json([h.contract() for h in hits])
        return
    table = Table("#", "Score", "Quelle", "Abschnitt", "Text")
    for h in hits:
        where = h.section + (f" (S. {h.page})" if h.page else "")
        source = f"{h.source} (nur intern)" if h.internal else h.source
        table.add_row(str(h.rank), f"{h.score:.2f}", source, where, h.text[:160].replace("\n", " "))
    out.print(table if hits else "Keine Treffer.")


@app.command()
def ask(
    question: Annotated[str | None, typer.Argument(help="Kundenfrage")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    batch: Annotated[Path | None, typer.Option("--batch", help="JSONL mit {\"id\",\"text\"} je Zeile")] = None,
    prompt: Annotated[str, typer.Option(help="Prompt-Version: production, candidate oder N")] = "production",
) -> None:
    """Antwortentwurf mit Quellenangaben erstellen (oder ehrliche Übergabe an eine Person)."""
    answerer = services().answerer(prompt)
    if batch is not None:
        run_batch(batch, lambda text: _draft_json(answerer.draft(text)))
        return
    question = require_text(question)
    if as_json:
        print_json(_draft_json(answerer.draft(question)))
        return
    if answerer.policy.generate:
        err.print("[dim]Modell schreibt …[/]")
    draft = answerer.draft(question, on_token=lambda piece: err.print(piece, end="", style="dim"))
    err.print()
    _show_draft(draft)


def _draft_json(draft: Draft) -> dict[str, Any]:
    return draft.model_dump(
        include={"answer", "citations", "sections", "handover", "prompt_version", "model", "timings_ms", "method",
                 "notes"}
    )


def _show_draft(draft: Draft) -> None:
    label = "Übergabe an eine Person" if draft.handover else f"KI-Entwurf – bitte prüfen ({draft.method})"
    out.rule(label)
    out.print(draft.answer, markup=False, highlight=False)
    quotes = {c.n: c for c in draft.citations}
    for number, section in enumerate(draft.sections, start=1):  # which paragraph rests on which source
        state = "Übergabe" if section.handover else section.method
        err.print(f"[bold]Frage {number}[/] ({state}): {escape(section.question[:120])}")
        for n in section.citations:
            if n in quotes:
                err.print(f"   [dim]{escape(quotes[n].source)}: „{escape(quotes[n].quote[:200])}“[/]")
    for note in draft.notes:
        err.print(f"[dim]Hinweis: {note}[/]")
    err.print(f"[dim]{draft.prompt_version} · {draft.model} · {draft.timings_ms.get('total_ms', 0):.0f} ms[/]")


@proven_app.command("add")
def proven_add(
    question: Annotated[str, typer.Option(help="Die Kundenfrage")],
    answer: Annotated[str, typer.Option(help="Die freigegebene Antwort")],
    approved_by: Annotated[str, typer.Option(help="Wer hat freigegeben")] = "cli",
) -> None:
    """Eine freigegebene Antwort als bewährte Antwort hinterlegen (gilt für Mails, die kein Land nennen)."""
    if not question.strip() or not answer.strip():
        raise CliError("Frage und Antwort dürfen nicht leer sein")
    new_id = services().catalogue.add_proven(question.strip(), answer.strip(), "[]", approved_by)
    if new_id is None:
        out.print("Diese Antwort auf diese Frage ist schon hinterlegt.")
    else:
        out.print(f"Bewährte Antwort Nr. {new_id} gespeichert.")


@proven_app.command("list")
def proven_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Bewährte Antworten anzeigen: von Hand hinterlegte und aus Freigaben gelernte (mit ihrem Ticket)."""
    answers = services().catalogue.proven_answers()
    if as_json:
        print_json([p.__dict__ for p in answers])
        return
    table = Table("Nr.", "Frage", "Antwort", "Freigegeben von", "Ticket", "Länder")
    for p in answers:
        ticket = "von Hand" if p.ticket_id is None else str(p.ticket_id)
        table.add_row(str(p.id), escape(p.question[:80]), escape(p.answer[:80]), escape(p.approved_by), ticket,
                      p.countries.replace(",", ", ") or "–")
    out.print(table if answers else "Keine bewährten Antworten.")


@proven_app.command("remove")
def proven_remove(ids: Annotated[list[int], typer.Argument(help="Nummern aus `kontor proven list`")]) -> None:
    """Bewährte Antworten löschen: sie werden nicht mehr wiederverwendet (im Audit-Protokoll vermerkt)."""
    from assistant import audit  # imported when the command runs: `kontor` starts fast

    s = services()
    known = {p.id for p in s.catalogue.proven_answers()}
    missing = sorted(set(ids) - known)
    if missing:
        raise CliError(f"Keine bewährte Antwort mit Nr. {', '.join(map(str, missing))}")
    removed = sorted(set(ids))
    s.catalogue.remove_proven(removed)
    s.catalogue.compact()  # the removed text leaves the file
    with s.database.session() as session:
        audit.record(session, "cli", "proven_removed", proven=removed)
    out.print(f"{len(removed)} bewährte Antwort(en) gelöscht: Nr. {', '.join(map(str, removed))}.")
