"""Write an evaluation run's report: the raw numbers as JSON and a self-contained German HTML page.

The HTML page has inline CSS and inline PNG plots (matplotlib, Agg canvas), no scripts and no external
resources, so it can be mailed or archived as one file. Every string from the report is escaped by Jinja2.
"""

from __future__ import annotations

import base64
import io
import json
from collections import Counter
from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2

from assistant.prompts import Task

# Metrics where a smaller value is the better one; every other numeric metric counts as "higher is better".
LOWER_IS_BETTER = frozenset({"wrong_handovers", "missed_handovers", "unnecessary_handovers", "forbidden",
                             "forbidden_rate", "invalid_citations", "hallucinations", "errors", "error_rate",
                             "timeouts"})
# Metrics without a "better" direction: shown and compared, never coloured (a longer answer is not worse per se).
NEUTRAL_METRICS = frozenset({"mean_length", "cases"})
METRIC_LABELS = {
    "fact_coverage": "Abdeckung der Fakten", "citation_validity": "Gültige Quellenangaben",
    "model_citation_rate": "Quellenangaben durch das Modell", "wrong_handovers": "Falsche Übergaben",
    "right_handovers": "Richtige Übergaben", "forbidden": "Verbotene Aussagen",
    "hit_at_5": "Treffer unter den ersten 5", "mrr": "Mittlerer reziproker Rang",
    "mean_length": "Mittlere Länge (Zeichen)", "accuracy": "Genauigkeit", "macro_f1": "Makro-F1",
    "model_kept_rate": "Übernommene Sätze des Modells",
}
OUTCOMES = {"worse": "verschlechtert", "new": "neu", "same": "unverändert", "improved": "verbessert"}
STAGES = {"retrieve": "Suche", "categorise": "Kategorie", "generate": "Entwurf", "total": "Gesamt"}
TASK_NAMES: dict[Task, str] = {"answer": "Antwortentwürfe", "letter": "Antwortbrief (Vorlage)",
                              "categorise": "Kategorisierung"}
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
    try:
        return datetime.fromisoformat(str(value)).strftime("%d.%m.%Y %H:%M %Z").strip()
    except ValueError:
        return str(value) if value else "–"


def _short(text: Any, limit: int = TEXT_LIMIT) -> str:
    text = " ".join(str(text or "").split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _metric_rows(metrics: dict[str, Any], compared: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for name in list(metrics) + [k for k in compared or {} if k not in metrics]:
        value, other = metrics.get(name), (compared or {}).get(name)
        mine, theirs = _float(value), _float(other)
        diff = mine - theirs if mine is not None and theirs is not None else None
        if diff is not None and isinstance(value, int) and isinstance(other, int):
            diff = int(diff)  # counts stay counts: "+3", not "+3,0"
        verdict = "neutral" if not diff or not direction(name) else "better" if diff * direction(name) > 0 else "worse"
        rows.append({"name": name, "label": METRIC_LABELS.get(name, name), "value": _num(value), "other": _num(other),
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


def _plots(report: dict[str, Any]) -> list[dict[str, str]]:
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
                label=_plain(report.get("prompt") or "diese Version"), color=COLOURS["this"])
        if compared:
            ax.barh([y - 0.2 for y in ys], [_float(compared.get(k)) or 0.0 for k in unit], 0.4,
                    label=_plain(report.get("compared_with") or "Vergleich"), color=COLOURS["other"])
        ax.set_yticks(list(ys), [_plain(METRIC_LABELS.get(k, k)) for k in unit])
        ax.set_xlim(0, 1)
        ax.invert_yaxis()
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=2, frameon=False)
        plots.append({"title": "Kennzahlen im Vergleich (Anteile, höher ist besser)", "src": _png(fig)})
    latency = {k: v for k, v in (report.get("latency_ms") or {}).items() if isinstance(v, dict)}
    if latency:
        fig = Figure(figsize=(8, 3.2))
        ax, xs = fig.add_subplot(), range(len(latency))
        for shift, key, colour in ((-0.2, "p50", COLOURS["this"]), (0.2, "p95", COLOURS["other"])):
            values = [_float(v.get(key)) or 0.0 for v in latency.values()]
            ax.bar_label(ax.bar([x + shift for x in xs], values, 0.4, label=key, color=colour), fmt="%.0f")
        ax.set_xticks(list(xs), [_plain(STAGES.get(k, k)) for k in latency])
        ax.set_ylabel("Millisekunden")
        ax.margins(y=0.15)
        ax.legend()
        plots.append({"title": "Latenz je Schritt (p50 / p95)", "src": _png(fig)})
    confusion = report.get("confusion") or {}
    labels, matrix = confusion.get("labels") or [], confusion.get("matrix") or []
    if labels and len(matrix) == len(labels) and all(len(row) == len(labels) for row in matrix):
        size = min(12.0, 2.5 + 0.6 * len(labels))
        fig = Figure(figsize=(size, size * 0.85))
        ax = fig.add_subplot()
        image = ax.imshow(matrix, cmap="Blues")
        ax.set_xticks(range(len(labels)), [_plain(x) for x in labels], rotation=45, ha="right")
        ax.set_yticks(range(len(labels)), [_plain(x) for x in labels])
        ax.set_xlabel("vorhergesagt")
        ax.set_ylabel("tatsächlich")
        peak = max(max(row) for row in matrix) or 1
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                ax.text(j, i, str(count), ha="center", va="center", color="white" if count > peak / 2 else "black")
        fig.colorbar(image, ax=ax)
        plots.append({"title": "Verwechslungsmatrix der Kategorien", "src": _png(fig)})
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


def _cases(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Worst first: worse, new, same, improved (then anything else); within a group the lowest score first."""
    order = {outcome: rank for rank, outcome in enumerate(OUTCOMES)}

    def key(case: dict[str, Any]) -> tuple[int, float]:
        score = _float(case.get("score"))
        return order.get(str(case.get("outcome")), len(order)), score if score is not None else float("inf")

    return [{"id": c.get("id", "–"), "outcome": c.get("outcome") or "unknown",
             "badge": OUTCOMES.get(str(c.get("outcome")), str(c.get("outcome") or "–")), "score": _num(c.get("score")),
             "other": _num(c.get("compared_score")), "summary": c.get("summary") or "", "text": _short(c.get("text"))}
            for c in sorted(cases, key=key)]


TEMPLATE = """<!DOCTYPE html>
<html lang="de"><head><meta charset="utf-8"><title>Auswertung {{ r.prompt }}</title><style>
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;color:#1a202c;padding:0 1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0 1.5rem}th,td{border-bottom:1px solid #e2e8f0;
padding:.35rem .5rem;text-align:left;vertical-align:top}td.n{text-align:right;white-space:nowrap}
.better{color:#2f855a;font-weight:600}.worse{color:#c53030;font-weight:600}.neutral{color:#4a5568}
.gate{padding:1rem 1.5rem;border-radius:.5rem;font-size:1.4rem;margin:1rem 0}.gate.ok{background:#c6f6d5}
.gate.fail{background:#fed7d7}.gate ul{font-size:1rem}.badge{padding:.1rem .5rem;border-radius:1rem;color:#fff;
font-size:.85rem}{% for o, c in colours.items() %}.badge.{{ o }}{background:{{ c }}}{% endfor %}
.badge.unknown{background:#4a5568}.meta td{border:0;padding:.1rem .5rem}small{color:#718096}
figure{margin:1rem 0}img{max-width:100%}.text{font-size:.85rem;color:#4a5568}</style></head><body>
<h1>Auswertung: {{ tasks.get(r.task, r.task) }}</h1>
<table class="meta">
<tr><td>Prompt-Version</td><td><strong>{{ r.prompt }}</strong></td></tr>
<tr><td>Verglichen mit</td><td>{{ r.compared_with or "– (kein Vergleich)" }}</td></tr>
<tr><td>Modell</td><td>{{ r.model or "–" }}
{%- if r.model_sha256 %} <small>SHA-256 {{ r.model_sha256[:12] }}</small>{% endif %}</td></tr>
<tr><td>Zeitraum</td><td>{{ started }}{% if r.finished_at %} bis {{ finished }}{% endif %}</td></tr>
<tr><td>Fälle</td><td>{{ cases_count }}</td></tr>
{% if r.tokens %}<tr><td>Tokens</td><td>Eingabe {{ num(r.tokens.prompt) }}, Ausgabe {{ num(r.tokens.completion) }}
</td></tr>{% endif %}
</table>
{% if r.gate %}{% set failures = r.gate.failures or [] %}
<div class="gate {{ 'ok' if r.gate.passed else 'fail' }}">
{% if r.gate.passed %}&#10004; Freigabeprüfung bestanden{% else %}&#10008; Freigabeprüfung nicht bestanden{% endif %}
{% if r.gate.baseline %}<br><small>Basiswert aus {{ r.gate.baseline }}</small>{% endif %}
{% if failures %}<ul>{% for f in failures %}<li><strong>{{ labels.get(f.metric, f.metric) }}</strong>
<small>({{ f.metric }})</small>
{%- if f.value is not none or f.baseline is not none %}: {{ num(f.value) }} statt {{ num(f.baseline) }}, Toleranz {{
num(f.tolerance) }}{% endif %}{% if f.direction %} ({{ directions.get(f.direction, f.direction) }}){% endif %}
</li>{% endfor %}</ul>{% endif %}</div>{% endif %}
<h2>Kennzahlen</h2>
<table><tr><th>Kennzahl</th><th>{{ r.prompt }}</th><th>{{ r.compared_with or "Vergleich" }}</th><th>Differenz</th></tr>
{% for m in metrics %}<tr><td>{{ m.label }} <small>{{ m.name }}</small></td><td class="n">{{ m.value }}</td>
<td class="n">{{ m.other }}</td><td class="n {{ m.verdict }}">{{ m.diff }}</td></tr>{% endfor %}</table>
{% for p in plots %}<figure><img src="{{ p.src }}" alt="{{ p.title }}"><figcaption>{{ p.title }}</figcaption></figure>
{% else %}<p><small>Keine Diagramme (matplotlib ist nicht installiert oder es gibt nichts darzustellen).</small></p>
{% endfor %}
{% if r.ratings %}<h2>Bewertungen durch Menschen</h2><table><tr><th>Prompt-Version</th><th>Mittelwert (1–5)</th>
<th>Anzahl</th></tr>{% for version, x in r.ratings.items() %}<tr><td>{{ version }}</td>
<td class="n">{{ num(x.mean, 2) }}</td><td class="n">{{ num(x.count) }}</td></tr>{% endfor %}</table>{% endif %}
{% if r.per_category %}<h2>Je Kategorie</h2><table><tr><th>Kategorie</th><th>Präzision</th><th>Trefferquote</th>
<th>Fälle</th></tr>{% for name, x in r.per_category.items() %}<tr><td>{{ name }}</td>
<td class="n">{{ num(x.precision) }}</td><td class="n">{{ num(x.recall) }}</td>
<td class="n">{{ num(x.support) }}</td></tr>{% endfor %}</table>
{% endif %}
<h2>Fälle (die schlechtesten zuerst)</h2>
{% if cases %}<table><tr><th>Fall</th><th>Ergebnis</th><th>Punkte</th><th>vorher</th>
<th>Zusammenfassung und Text</th></tr>
{% for c in cases %}<tr><td>{{ c.id }}</td><td><span class="badge {{ c.outcome }}">{{ c.badge }}</span></td>
<td class="n">{{ c.score }}</td><td class="n">{{ c.other }}</td>
<td>{{ c.summary }}<div class="text">{{ c.text }}</div></td></tr>{% endfor %}</table>
{% else %}<p>Keine Fälle.</p>{% endif %}
</body></html>
"""
_TEMPLATE = jinja2.Environment(autoescape=True, undefined=jinja2.ChainableUndefined, trim_blocks=True).from_string(
    TEMPLATE)


def render_html(report: dict[str, Any]) -> str:
    """The report as one self-contained HTML page (German)."""
    cases = report.get("per_case") or []
    return _TEMPLATE.render(
        r=report, tasks=TASK_NAMES, labels=METRIC_LABELS, num=_num, colours=COLOURS, directions=DIRECTIONS,
        started=_time(report.get("started_at")), finished=_time(report.get("finished_at")),
        cases_count=report.get("cases") if report.get("cases") is not None else len(cases),
        metrics=_metric_rows(report.get("metrics") or {}, report.get("compared_metrics")),
        plots=_plots(report), cases=_cases(cases))


def write_report(report: dict[str, Any], folder: Path) -> tuple[Path, Path]:
    """Write ``report.json`` (the dict as given) and ``report.html`` into ``folder``; return both paths."""
    folder.mkdir(parents=True, exist_ok=True)
    json_path, html_path = folder / "report.json", folder / "report.html"
    json_path.write_text(json.dumps(report, ensure_ascii=False, indent=2, default=str) + "\n", encoding="utf-8")
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
