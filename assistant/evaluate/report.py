"""Write an evaluation run's report: the raw numbers as JSON and a self-contained German HTML page.

The HTML page has inline CSS and inline PNG plots (matplotlib, Agg canvas), no scripts and no external
resources, so it can be mailed or archived as one file. Every string from the report is escaped by Jinja2.
It speaks to the department, not to programmers: metrics by their German names only (``METRIC_LABELS``, the one
mapping), versions by task name and number, the customer's question beside each case and category names when the
caller knows them (``render_html``), and no paths of the server.
"""

from __future__ import annotations

import base64
import io
import json
import re
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path, PurePath
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2

from assistant.prompts import LABEL_NAMES, TASK_NAMES

# Metrics where a smaller value is the better one; every other numeric metric counts as "higher is better".
LOWER_IS_BETTER = frozenset({"wrong_handovers", "missed_handovers", "unnecessary_handovers", "forbidden",
                             "forbidden_rate", "invalid_citations", "hallucinations", "errors", "error_rate",
                             "timeouts"})
# Metrics without a "better" direction: shown and compared, never coloured (a longer answer is not worse per se).
NEUTRAL_METRICS = frozenset({"mean_length", "cases"})
# Every metric's German name: the report, the evaluation page and the gate's verdict show these, never the ids.
METRIC_LABELS = {
    "fact_coverage": "Abdeckung der Fakten", "question_fact_coverage": "Abdeckung der Fakten je Frage",
    "citation_validity": "Gültige Quellenangaben", "model_citation_rate": "Quellenangaben durch das Modell",
    "model_kept_rate": "Übernommene Sätze des Modells", "letter_form": "Briefform eingehalten",
    "echo_rate": "Anteil mit wiederholtem Kundentext", "wrong_handovers": "Falsche Übergaben",
    "right_handovers": "Richtige Übergaben", "missed_handovers": "Fehlende Übergaben",
    "unnecessary_handovers": "Unnötige Übergaben", "forbidden": "Verbotene Aussagen",
    "forbidden_rate": "Anteil verbotener Aussagen", "invalid_citations": "Ungültige Quellenangaben",
    "hallucinations": "Erfundene Aussagen", "errors": "Fehler", "error_rate": "Fehlerquote",
    "timeouts": "Zeitüberschreitungen", "hit_at_5": "Richtige Quelle unter den ersten 5",
    "mrr": "Rang der richtigen Quelle (Kehrwert)", "mean_length": "Mittlere Länge (Zeichen)",
    "accuracy": "Richtig zugeordnet (Anteil)", "macro_f1": "Treffsicherheit je Kategorie (Mittel)",
    "baseline": "Basiswert", "cases": "Fälle",
}
OUTCOMES = {"worse": "verschlechtert", "new": "neu", "same": "unverändert", "improved": "verbessert"}
STAGES = {"proven": "Bewährte Antworten", "retrieve": "Suche", "evidence": "Belegstellen", "prompt": "Prompt",
          "first_token": "Erstes Wort", "generate": "Entwurf", "categorise": "Kategorie", "total": "Gesamt"}
DIRECTIONS = {"higher_is_better": "höher ist besser", "higher": "höher ist besser",
              "lower_is_better": "niedriger ist besser", "lower": "niedriger ist besser"}
TEXT_LIMIT = 300
COLOURS = {"this": "#2b6cb0", "other": "#a0aec0", "worse": "#c53030", "new": "#d69e2e", "same": "#718096",
           "improved": "#2f855a"}


def direction(metric: str) -> int:
    """+1 when higher is better, -1 when lower is better, 0 when neither."""
    if metric in NEUTRAL_METRICS:
        return 0
    return -1 if metric in LOWER_IS_BETTER or metric.endswith(("_ms", "_seconds")) else 1


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)  # True is no metric value


def _float(value: Any) -> float | None:
    return float(value) if _is_number(value) else None


def _num(value: Any, digits: int | None = None, sign: bool = False) -> str:
    """German number format: 0,280 · 12.345 · +0,050; "–" for anything that is not a number."""
    if not _is_number(value):
        return "–"
    if digits is None:
        digits = 0 if isinstance(value, int) else (3 if abs(value) <= 1 else 1)
    text = f"{value:{'+' if sign else ''},.{digits}f}"
    return text.replace(",", "\0").replace(".", ",").replace("\0", ".")


def _time(value: Any) -> str:
    """A moment as a German reader writes it, in German time: ``22.11.2026, 11:00 Uhr``."""
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return str(value) if value else "–"
    if moment.tzinfo is None:
        return f"{moment:%d.%m.%Y, %H:%M} Uhr"
    try:
        return f"{moment.astimezone(ZoneInfo('Europe/Berlin')):%d.%m.%Y, %H:%M} Uhr"
    except ZoneInfoNotFoundError:  # no time zone data on this machine: say it in UTC
        return f"{moment.astimezone(UTC):%d.%m.%Y, %H:%M} Uhr (UTC)"


def _short(text: Any, limit: int = TEXT_LIMIT) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def metric_label(name: str) -> str:
    return METRIC_LABELS.get(name, name)


def version_label(ref: Any, compared: bool = False) -> str:
    """``answer@v2`` → ``v2``, the production version of a comparison → ``v1 (Produktion)``."""
    version = str(ref or "").partition("@")[2] or str(ref or "–")
    return f"{version} ({LABEL_NAMES['production']})" if compared else version


def failure_text(failure: Mapping[str, Any]) -> str:
    """One failed gate rule in German: ``Falsche Übergaben: 9 statt 6, Toleranz 1 (niedriger ist besser)``."""
    if failure.get("metric") == "baseline" and failure.get("value") is None:
        return ("Es gibt noch keinen angenommenen Basiswert für diese Aufgabe – ein Lauf, dessen Zahlen gut genug "
                "sind, wird mit „kontor eval accept“ zum Basiswert")
    text = metric_label(str(failure.get("metric")))
    if failure.get("value") is not None or failure.get("baseline") is not None:
        text += (f": {_num(failure.get('value'))} statt {_num(failure.get('baseline'))}, "
                 f"Toleranz {_num(failure.get('tolerance'))}")
    if failure.get("direction") in DIRECTIONS:
        text += f" ({DIRECTIONS[str(failure['direction'])]})"
    return text


def _metric_rows(metrics: dict[str, Any], compared: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for name in list(metrics) + [k for k in compared or {} if k not in metrics]:
        value, other = metrics.get(name), (compared or {}).get(name)
        mine, theirs = _float(value), _float(other)
        diff = mine - theirs if mine is not None and theirs is not None else None
        if diff is not None and isinstance(value, int) and isinstance(other, int):
            diff = int(diff)  # counts stay counts: "+3", not "+3,0"
        verdict = "neutral" if not diff or not direction(name) else "better" if diff * direction(name) > 0 else "worse"
        rows.append({"name": name, "label": metric_label(name), "value": _num(value), "other": _num(other),
                     "diff": _num(diff, sign=True), "verdict": verdict})
    return rows


def _plain(text: Any) -> str:
    """A label matplotlib shows as it is ("$" would start mathtext)."""
    return str(text).replace("$", r"\$")


def _png(figure: Any) -> str:
    # matplotlib is optional and slow to import: only when a chart is drawn
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _plots(report: dict[str, Any], names: Mapping[str, str]) -> list[dict[str, str]]:
    """The report's charts as inline PNG data URIs; none when matplotlib is not installed."""
    try:
        from matplotlib.figure import Figure  # matplotlib is optional and slow to import: only when a chart is drawn
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        return []
    plots = []
    metrics, compared = report.get("metrics") or {}, report.get("compared_metrics") or {}
    # rates where a longer bar is better (counts such as wrong_handovers may be 0.0 or 1.0 but are no rates)
    unit = [k for k, v in metrics.items() if isinstance(v, float) and 0 <= v <= 1 and direction(k) == 1]
    if unit:
        fig = Figure(figsize=(8, 0.45 * len(unit) + 1.2))
        ax, ys = fig.add_subplot(), range(len(unit))
        ax.barh([y + 0.2 for y in ys], [metrics[k] for k in unit], 0.4,
                label=_plain(version_label(report.get("prompt"))), color=COLOURS["this"])
        if compared:
            ax.barh([y - 0.2 for y in ys], [_float(compared.get(k)) or 0.0 for k in unit], 0.4,
                    label=_plain(version_label(report.get("compared_with"), compared=True)), color=COLOURS["other"])
        ax.set_yticks(list(ys), [_plain(metric_label(k)) for k in unit])
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        plots.append({"title": "Kennzahlen im Vergleich (Anteile, höher ist besser)", "src": _png(fig)})
    latency = {k: v for k, v in (report.get("latency_ms") or {}).items() if isinstance(v, dict)}
    if latency:
        fig = Figure(figsize=(8, 3.2))
        ax, xs = fig.add_subplot(), range(len(latency))
        for shift, key, name, colour in ((-0.2, "p50", "Median", COLOURS["this"]),
                                         (0.2, "p95", "95 % der Fälle schneller", COLOURS["other"])):
            values = [_float(v.get(key)) or 0.0 for v in latency.values()]
            ax.bar_label(ax.bar([x + shift for x in xs], values, 0.4, label=name, color=colour), fmt="%.0f")
        ax.set_xticks(list(xs), [_plain(STAGES.get(k, k)) for k in latency], rotation=20, ha="right")
        ax.set_ylabel("Millisekunden")
        ax.margins(y=0.15)
        ax.legend()
        plots.append({"title": "Dauer je Schritt (Median und 95 % der Fälle)", "src": _png(fig)})
    confusion = report.get("confusion") or {}
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if labels and len(matrix) == len(labels) and all(len(row) == len(labels) for row in matrix):
        size = min(12.0, 2.5 + 0.6 * len(labels))
        fig = Figure(figsize=(size, size * 0.85))
        ax = fig.add_subplot()
        image = ax.imshow(matrix, cmap="Blues")
        shown = [_plain(names.get(x, x)) for x in labels]
        ax.set_xticks(range(len(labels)), shown, rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), shown)
        ax.set_xlabel("von Kontor gewählt")
        ax.set_ylabel("richtige Kategorie")
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
        fig.colorbar(image, ax=ax)
        plots.append({"title": "Welche Kategorie mit welcher verwechselt wurde", "src": _png(fig)})
    counts = Counter(case.get("outcome") for case in report.get("per_case") or [])
    if counts:
        fig = Figure(figsize=(6, 2.8))
        ax = fig.add_subplot()
        ax.bar_label(ax.bar([OUTCOMES[o] for o in OUTCOMES], [counts.get(o, 0) for o in OUTCOMES],
                            color=[COLOURS[o] for o in OUTCOMES]))
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.margins(y=0.15)
        ax.set_ylabel("Fälle")
        plots.append({"title": "Fälle nach Ergebnis", "src": _png(fig)})
    return plots


def _cases(cases: list[dict[str, Any]], questions: Mapping[str, str], names: Mapping[str, str]) -> list[dict[str, Any]]:
    """Worst first: worse, new, same, improved (then anything else); within a group the lowest score first. Each
    with the customer's question (from the row, else from ``questions``) and ids named by ``names``."""
    order = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}

    def key(case: dict[str, Any]) -> tuple[int, float]:
        score = _float(case.get("score"))
        return order.get(str(case.get("outcome")), len(order)), score if score is not None else float("inf")

    return [{"id": c.get("id", "–"), "outcome": c.get("outcome") or "unknown",
             "badge": OUTCOMES.get(str(c.get("outcome")), str(c.get("outcome") or "–")), "score": _num(c.get("score")),
             "other": _num(c.get("compared_score")), "summary": _named(c.get("summary") or "", names),
             "question": _short(c.get("question") or questions.get(str(c.get("id")), "")),
             "text": _short(_named(c.get("text") or "", names))}
            for c in sorted(cases, key=key)]


def _named(text: str, names: Mapping[str, str]) -> str:
    """Ids in a case's summary (``erwartet lieferverzug, erhalten …``) by their names."""
    if not names or not text:
        return text
    pattern = re.compile(r"(?<![\w-])(" + "|".join(re.escape(k) for k in sorted(names, key=len, reverse=True))
                         + r")(?![\w-])")
    return pattern.sub(lambda m: names[m.group(1)], text)


def _ratings(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The human ratings per version: the version under test first, then the one it is compared with, then the
    others; each row with its version, number of ratings and mean score."""
    ratings = report.get("ratings") or {}
    if not isinstance(ratings, dict):
        return []
    first = [report.get("prompt"), report.get("compared_with")]
    order = [r for r in first if r in ratings] + [r for r in ratings if r not in first]
    rows = []
    for ref in order:
        x = ratings[ref] if isinstance(ratings[ref], dict) else {}
        role = "geprüft" if ref == first[0] else LABEL_NAMES["production"] if ref == first[1] else ""
        rows.append({"version": version_label(ref), "role": role, "count": _num(x.get("count")),
                     "mean": _num(x.get("mean"), 2)})
    return rows


def _baseline(gate: Any) -> str:
    """The baseline's file name, never the server's folders."""
    name = gate.get("baseline") if isinstance(gate, dict) else None
    return PurePath(str(name)).name if name else ""


TEMPLATE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Auswertung {{ task_name }} {{ this }} ({{ r.prompt }})</title><style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1a202c;padding:0 1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border-bottom:1px solid #e2e8f0;
padding:.35rem .5rem;text-align:left;vertical-align:top}th.n,td.n{text-align:right;white-space:nowrap}
.better{color:#2f855a;font-weight:600}.worse{color:#c53030;font-weight:600}.neutral{color:#4a5568}
.gate{padding:1rem 1.5rem;border-radius:.5rem;font-size:1.4rem;margin:1rem 0}.gate.ok{background:#c6f6d5}
.gate.fail{background:#fed7d7}.gate ul{font-size:1rem}.badge{padding:.1rem .5rem;border-radius:1rem;color:#fff;
font-size:.85rem}{% for o, c in colours.items() %}.badge.{{ o }}{background:{{ c }}}{% endfor %}
.badge.unknown{background:#4a5568}.meta td{border:0;padding:.1rem .5rem}small{color:#718096}
figure{margin:1rem 0}img{max-width:100%}.text{font-size:.85rem;color:#4a5568}.question{font-style:italic}
</style></head><body>
<h1>Auswertung: {{ task_name }}</h1>
<table class="meta">
<tr><td>Geprüfte Version</td><td><strong>{{ this }}</strong></td></tr>
<tr><td>Verglichen mit</td><td>{{ other if r.compared_with else "– (diese Version ist in Produktion)" }}</td></tr>
<tr><td>Modell</td><td>{{ r.model or "–" }}
{%- if r.model_sha256 %} <small>Prüfsumme {{ r.model_sha256[:12] }}</small>{% endif %}</td></tr>
<tr><td>Zeitraum</td><td>{{ started }}{% if r.finished_at %} bis {{ finished }}{% endif %}</td></tr>
<tr><td>Fälle</td><td>{{ cases_count }}</td></tr>
{% if r.tokens %}<tr><td>Tokens</td><td>Eingabe {{ num(r.tokens.prompt) }}, Ausgabe {{ num(r.tokens.completion) }}
</td></tr>{% endif %}
</table>
{% if r.gate %}{% set failures = r.gate.failures or [] %}
<div class="gate {{ 'ok' if r.gate.passed else 'fail' }}">
{% if r.gate.passed %}&#10004; Freigabeprüfung bestanden{% else %}&#10008; Freigabeprüfung nicht bestanden{% endif %}
{% if baseline and not failures | selectattr("metric", "equalto", "baseline") | list %}<br>
<small>Maßstab: der angenommene Basiswert ({{ baseline }})</small>{% endif %}
{% if failures %}<ul>{% for f in failures %}<li>{{ failure(f) }}</li>{% endfor %}</ul>{% endif %}</div>{% endif %}
<h2>Kennzahlen</h2>
<table><tr><th>Kennzahl</th><th class="n">{{ this }}</th>
<th class="n">{{ other if r.compared_with else "Vergleich" }}</th><th class="n">Differenz</th></tr>
{% for m in metrics %}<tr data-metric="{{ m.name }}"><td>{{ m.label }}</td><td class="n">{{ m.value }}</td>
<td class="n">{{ m.other }}</td><td class="n {{ m.verdict }}">{{ m.diff }}</td></tr>{% endfor %}</table>
{% for p in plots %}<figure><img src="{{ p.src }}" alt="{{ p.title }}"><figcaption>{{ p.title }}</figcaption></figure>
{% else %}<p><small>Keine Diagramme (matplotlib ist nicht installiert oder es gibt nichts darzustellen).</small></p>
{% endfor %}
{% if ratings %}<h2>Bewertungen durch Menschen</h2>
<table id="ratings"><tr><th>Prompt-Version</th><th class="n">Anzahl Bewertungen</th>
<th class="n">Durchschnitt (1–5)</th></tr>
{% for x in ratings %}<tr><td>{{ x.version }}{% if x.role %} <small>({{ x.role }})</small>{% endif %}</td>
<td class="n">{{ x.count }}</td><td class="n">{{ x.mean }}</td></tr>{% endfor %}</table>{% endif %}
{% if r.per_category %}<h2>Je Kategorie</h2><table><tr><th>Kategorie</th><th class="n">Präzision</th>
<th class="n">Trefferquote</th><th class="n">Fälle</th></tr>{% for name, x in r.per_category.items() %}<tr>
<td>{{ names.get(name, name) }}</td><td class="n">{{ num(x.precision) }}</td><td class="n">{{ num(x.recall) }}</td>
<td class="n">{{ num(x.support) }}</td></tr>{% endfor %}</table>
<p><small>Präzision: wie oft die gewählte Kategorie stimmte. Trefferquote: wie viele Fälle der Kategorie erkannt
wurden.</small></p>
{% endif %}
<h2>Fälle (die schlechtesten zuerst)</h2>
{% if cases %}<table id="cases"><tr><th>Fall</th><th>Anfrage der Kundin / des Kunden</th><th>Ergebnis</th>
<th class="n">Punkte</th><th class="n">vorher</th><th>Zusammenfassung und Antwort</th></tr>
{% for c in cases %}<tr><td>{{ c.id }}</td><td class="question">{{ c.question or "–" }}</td>
<td><span class="badge {{ c.outcome }}">{{ c.badge }}</span></td>
<td class="n">{{ c.score }}</td><td class="n">{{ c.other }}</td>
<td>{{ c.summary }}<div class="text">{{ c.text }}</div></td></tr>{% endfor %}</table>
{% else %}<p>Keine Fälle.</p>{% endif %}
</body></html>
"""
_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True).from_string(
    TEMPLATE)


def render_html(report: dict[str, Any], questions: Mapping[str, str] | None = None,
                names: Mapping[str, str] | None = None) -> str:
    """The report as one self-contained HTML page (German). ``questions``: the customer's question per case id,
    for rows that do not carry one; ``names``: what ids (categories, methods) are called."""
    cases, names = report.get("per_case") or [], dict(names or {})
    return _TEMPLATE.render(
        r=report, task_name=TASK_NAMES.get(str(report.get("task")), str(report.get("task") or "–")), num=_num,
        colours=COLOURS, failure=failure_text, this=version_label(report.get("prompt")),
        other=version_label(report.get("compared_with"), compared=True), baseline=_baseline(report.get("gate")),
        started=_time(report.get("started_at")), finished=_time(report.get("finished_at")),
        cases_count=report.get("cases") if report.get("cases") is not None else len(cases),
        metrics=_metric_rows(report.get("metrics") or {}, report.get("compared_metrics")), names=names,
        plots=_plots(report, names), cases=_cases(cases, questions or {}, names), ratings=_ratings(report))


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` (the dict as given) and ``report.html`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "report.json", folder / "report.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
