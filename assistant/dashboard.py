"""The learning loop in numbers: how drafts fare with the people who review them, per prompt version and per
ISO week of drafting. Read-only over the workflow tables; ``summarise`` is a pure function of plain rows.

Definitions (per group of drafts):
- ``reviewed``: drafts with at least one approval, rejection, edit or rating;
- ``approved``: drafts whose last approve/edit/reject act is an approval (what could be sent);
- ``approval_rate_unedited``: approved drafts whose text equals the generated text / approved drafts;
- ``edit_distance``: mean of 1 − ``difflib.SequenceMatcher`` ratio between generated and approved text;
- ``rating``: mean of all ratings (1–5); ``handover_rate``: drafts that handed over / drafts;
- ``median_ready_seconds``: median time from ticket arrival to its first draft.
"""

from __future__ import annotations

import base64
import difflib
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select

from assistant.store.db import Database
from assistant.store.tables import AuditEntry, DraftRow, Review, Ticket
from assistant.tickets.figures import Volume

REVIEW_ACTS = frozenset({"approved", "rejected", "edited", "rated"})
DECIDING_ACTS = frozenset({"approved", "rejected", "edited"})


@dataclass
class DraftFacts:
    """One draft with what people did to it, as plain values."""

    id: int
    ticket_id: int
    prompt_version: str
    created_at: datetime
    received_at: datetime
    text: str
    generated_text: str
    handover: bool
    acts: list[str] = field(default_factory=list)  # review decisions in order
    ratings: list[int] = field(default_factory=list)
    first_of_ticket: bool = False

    @property
    def week(self) -> str:
        year, week, _ = self.created_at.isocalendar()
        return f"{year}-W{week:02d}"

    @property
    def approved(self) -> bool:
        deciding = [a for a in self.acts if a in DECIDING_ACTS]
        return bool(deciding) and deciding[-1] == "approved"  # an edit or rejection after it voids it


def learning_loop(database: Database, since: datetime | None = None) -> dict[str, Any]:
    """The dashboard's numbers for all drafts created since ``since`` (default: all)."""
    return summarise(load(database, since))


def load(database: Database, since: datetime | None = None) -> list[DraftFacts]:
    with database.session() as session:
        # arrival in Kontor (audit "received"), not the e-mail's own date, which may be days older
        arrived = (select(AuditEntry.ticket_id, func.min(AuditEntry.at).label("at"))
                   .where(AuditEntry.action == "received").group_by(AuditEntry.ticket_id).subquery())
        query = (select(DraftRow, func.coalesce(arrived.c.at, Ticket.received_at))
                 .join(Ticket, Ticket.id == DraftRow.ticket_id)
                 .outerjoin(arrived, arrived.c.ticket_id == DraftRow.ticket_id))
        if since is not None:
            query = query.where(DraftRow.created_at >= since)
        drafts = {
            row.id: DraftFacts(row.id, row.ticket_id, row.prompt_version or "", row.created_at,
                               received, row.text, row.generated_text, bool(row.handover))
            for row, received in session.execute(query.order_by(DraftRow.id)).all()
        }
        reviews = session.execute(select(Review.draft_id, Review.decision, Review.rating)
                                  .where(Review.draft_id.in_(list(drafts)))
                                  .order_by(Review.created_at, Review.id)).all() if drafts else []
    for draft_id, decision, rating in reviews:
        drafts[draft_id].acts.append(decision)
        if decision == "rated" and rating:
            drafts[draft_id].ratings.append(int(rating))
    seen: set[int] = set()
    for facts in drafts.values():  # ordered by id: the first draft of each ticket comes first
        facts.first_of_ticket = facts.ticket_id not in seen
        seen.add(facts.ticket_id)
    return list(drafts.values())


def summarise(drafts: list[DraftFacts]) -> dict[str, Any]:
    by_week: dict[tuple[str, str], list[DraftFacts]] = defaultdict(list)
    by_version: dict[str, list[DraftFacts]] = defaultdict(list)
    for facts in drafts:
        by_week[(facts.prompt_version, facts.week)].append(facts)
        by_version[facts.prompt_version].append(facts)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "totals": metrics(drafts),
        "versions": [{"prompt_version": v or None, **metrics(g)} for v, g in sorted(by_version.items())],
        "weeks": [{"prompt_version": v or None, "week": w, **metrics(g)}
                  for (v, w), g in sorted(by_week.items(), key=lambda item: (item[0][1], item[0][0]))],
    }


def metrics(drafts: list[DraftFacts]) -> dict[str, Any]:
    approved = [d for d in drafts if d.approved]
    distances = [edit_distance(d.generated_text, d.text) for d in approved]
    ratings = [r for d in drafts for r in d.ratings]
    ready = [(d.created_at - d.received_at).total_seconds() for d in drafts if d.first_of_ticket]
    return {
        "drafts": len(drafts),
        "reviewed": sum(1 for d in drafts if REVIEW_ACTS & set(d.acts)),
        "approved": len(approved),
        "approved_unedited": sum(1 for d in approved if d.text == d.generated_text),
        "approval_rate_unedited": _ratio(sum(1 for d in approved if d.text == d.generated_text), len(approved)),
        "edit_distance": _mean(distances),
        "rating": _mean(ratings, 2),
        "ratings": len(ratings),
        "handover_rate": _ratio(sum(1 for d in drafts if d.handover), len(drafts)),
        "median_ready_seconds": round(statistics.median(ready), 1) if ready else None,
    }


def edit_distance(generated: str, final: str) -> float:
    """0 = unchanged … 1 = nothing in common (normalised, from difflib's similarity ratio)."""
    return 1.0 - difflib.SequenceMatcher(None, generated, final, autojunk=False).ratio()


def _ratio(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _mean(values: Iterable[float], digits: int = 4) -> float | None:
    values = list(values)
    return round(statistics.fmean(values), digits) if values else None


# --- charts ------------------------------------------------------------------------------------------------------

def dashboard_plots(data: dict[str, Any], week_name: Callable[[str], str] = str,
                    number: Callable[[float, int], str] | None = None) -> list[dict[str, str]]:
    """Two or three small PNG charts (base64) of ``learning_loop``'s numbers; [] without matplotlib or data.
    ``week_name`` names a week on the axis ("KW 49/2026"), ``number`` writes a number with its decimals (the
    pages pass the German forms, with a decimal comma)."""
    try:
        from matplotlib.figure import Figure  # matplotlib is optional and slow to import: only when a chart is drawn
        from matplotlib.ticker import FuncFormatter
    except ImportError:
        return []
    written = number or (lambda value, digits: f"{value:.{digits}f}")
    axis = FuncFormatter(lambda value, _: written(value, 1))
    rows = data.get("weeks") or []
    if not rows:
        return []
    weeks = sorted({row["week"] for row in rows})
    versions = sorted({row["prompt_version"] or "ohne Version" for row in rows})
    plots = []
    for metric, title, limit in (("approval_rate_unedited", "Freigaben ohne Änderung je Woche", 1.0),
                                 ("edit_distance", "Mittlere Änderung am Entwurf je Woche (0 = keine)", 1.0)):
        figure = Figure(figsize=(6, 2.6))
        axes = figure.add_subplot()
        for version in versions:
            values = {r["week"]: r[metric] for r in rows if (r["prompt_version"] or "ohne Version") == version}
            series = [values[w] if values.get(w) is not None else float("nan") for w in weeks]
            axes.plot([_plain(week_name(w)) for w in weeks], series, marker="o", label=_plain(version))
        axes.set_ylim(0, limit)
        axes.yaxis.set_major_formatter(axis)
        axes.legend(fontsize="small", frameon=False)
        plots.append({"title": title, "png_base64": _png(figure)})
    rated = [v for v in data.get("versions") or [] if v.get("rating") is not None]
    if rated:
        figure = Figure(figsize=(6, 2.6))
        axes = figure.add_subplot()
        labels = [_plain(v["prompt_version"] or "ohne Version") for v in rated]
        bars = axes.bar(labels, [v["rating"] for v in rated], color="#2b6cb0")
        axes.bar_label(bars, labels=[written(v["rating"], 1) for v in rated])
        axes.set_ylim(0, 5.5)
        axes.yaxis.set_major_formatter(axis)
        axes.set_ylabel("Bewertung (1–5)")
        plots.append({"title": "Mittlere Bewertung je Prompt-Version", "png_base64": _png(figure)})
    return plots


def volume_plots(volume: Volume, week_name: Callable[[str], str] = str) -> list[dict[str, str]]:
    """The tickets per week of arrival, stacked by category (``team_figures``' volume); [] without matplotlib or
    tickets."""
    if not any(volume.totals):
        return []
    try:
        from matplotlib.figure import Figure  # matplotlib is optional and slow to import: only when a chart is drawn
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return []
    figure = Figure(figsize=(7.5, 3.2))
    axes = figure.add_subplot()
    labels = [_plain(week_name(w).split("/")[0]) for w in volume.weeks]  # "KW 49": the year is in the caption
    bottom = [0] * len(volume.weeks)
    for row in volume.categories:
        axes.bar(labels, row.counts, bottom=bottom, label=_plain(row.name))
        bottom = [b + c for b, c in zip(bottom, row.counts, strict=True)]
    axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    axes.set_ylabel("Tickets")
    axes.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0))
    first, last = week_name(volume.weeks[0]), week_name(volume.weeks[-1])
    return [{"title": f"Eingang je Woche nach Kategorie ({first} bis {last})", "png_base64": _png(figure)}]


def _plain(text: str) -> str:
    return text.replace("$", r"\$")  # "$" would start matplotlib's mathtext


def _png(figure: Any) -> str:
    # matplotlib is optional and slow to import: only when a chart is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)  # Agg canvas on a Figure: no pyplot, no global state, safe in worker threads
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=130)  # sharp in the card and when enlarged
    return base64.b64encode(buffer.getvalue()).decode("ascii")
