"""The evaluation report: JSON as given, and a self-contained, escaped German HTML page."""

from __future__ import annotations

import base64
import json
import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from assistant.evaluate.report import LOWER_IS_BETTER, direction, render_html, write_report

XSS = "<script>alert(1)</script>"


def full_report() -> dict[str, Any]:
    return {
        "task": "answer", "prompt": "answer@v2", "compared_with": "answer@v1",
        "model": "smollm2", "model_sha256": "ab12cd34ef56" + "0" * 52,
        "started_at": "2026-11-22T10:00:00+00:00", "finished_at": "2026-11-22T10:07:30+00:00",
        "cases": 61,
        "metrics": {"fact_coverage": 0.28, "citation_validity": 1.0, "model_citation_rate": 0.1,
                    "wrong_handovers": 9, "right_handovers": 7, "forbidden": 0, "hit_at_5": 0.98, "mrr": 0.8,
                    "mean_length": 320.5, "new_metric<b>": 0.5},
        "compared_metrics": {"fact_coverage": 0.25, "citation_validity": 1.0, "model_citation_rate": 0.6,
                             "wrong_handovers": 6, "right_handovers": 7, "forbidden": 1, "hit_at_5": 0.98, "mrr": 0.8,
                             "mean_length": 300.0, "only_old": 3},
        "gate": {"passed": False, "baseline": "eval/baselines/answer.json",
                 "failures": [{"metric": "model_citation_rate", "value": 0.1, "baseline": 0.6, "tolerance": 0.1,
                               "direction": "higher_is_better"},
                              {"metric": "wrong_handovers", "value": 9, "baseline": 6, "tolerance": 1,
                               "direction": "lower_is_better"}]},
        "latency_ms": {"retrieve": {"p50": 12.0, "p95": 30.0}, "generate": {"p50": 2900.0, "p95": 4100.0},
                       "total": {"p50": 2950.0, "p95": 4200.0}},
        "tokens": {"prompt": 12345, "completion": 2345},
        "ratings": {"answer@v1": {"mean": 4.2, "count": 12}, "answer@v2": {"mean": None, "count": 0}},
        "per_category": {"lieferverzug": {"precision": 1.0, "recall": 0.5, "support": 2},
                         "<i>kaputt</i>": {"precision": 0.5, "recall": 1.0, "support": 1}},
        "confusion": {"labels": ["lieferverzug", "$defekt_"], "matrix": [[1, 1], [0, 2]]},
        "per_case": [
            {"id": "answer-001", "outcome": "improved", "score": 1.0, "compared_score": 0.5,
             "summary": "Fakten 2/2, Übergabe korrekt", "text": "Sehr geehrte Frau Muster, …"},
            {"id": "answer-002", "outcome": "same", "score": 0.5, "compared_score": 0.5, "summary": "Fakten 1/2",
             "text": "x" * 1000},
            {"id": "answer-003", "outcome": "worse", "score": 0.0, "compared_score": 1.0,
             "summary": "Übergabe fehlt & <b>falsch</b>", "text": XSS},
            {"id": "answer-004", "outcome": "new", "score": 0.5, "compared_score": None, "summary": "neu",
             "text": '<img src="https://evil.example/x.png">'},
        ],
    }


MINIMAL = {"task": "categorise", "prompt": "categorise@v1", "metrics": {"accuracy": 0.8}, "per_case": []}


@pytest.fixture(scope="module")
def full_html() -> str:
    return render_html(full_report())


def test_write_report_writes_both_files_and_json_round_trips(tmp_path: Path) -> None:
    report = full_report()
    json_path, html_path = write_report(report, tmp_path / "run-1")
    assert (json_path.name, html_path.name) == ("report.json", "report.html")
    assert json.loads(json_path.read_text(encoding="utf-8")) == report
    raw = json_path.read_text(encoding="utf-8")
    assert "Übergabe" in raw and '\n  "task": "answer"' in raw  # UTF-8, not \u escapes; indent 2
    assert html_path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_minimal_report_renders(tmp_path: Path) -> None:
    json_path, html_path = write_report(dict(MINIMAL), tmp_path)
    html = html_path.read_text(encoding="utf-8")
    assert json.loads(json_path.read_text(encoding="utf-8")) == MINIMAL
    assert "categorise@v1" in html and "Kategorisierung" in html and "Keine Fälle" in html
    assert "Freigabeprüfung" not in html and "0,800" in html


OPTIONAL = ["compared_with", "model", "model_sha256", "started_at", "finished_at", "cases", "compared_metrics",
            "gate", "latency_ms", "tokens", "ratings", "per_category", "confusion", "per_case"]


@pytest.mark.parametrize("missing", OPTIONAL)
def test_a_none_section_is_tolerated(missing: str) -> None:
    assert "</html>" in render_html(full_report() | {missing: None})


def test_all_optional_sections_absent_or_odd() -> None:
    report = {k: v for k, v in full_report().items() if k not in OPTIONAL}
    assert "</html>" in render_html(report)
    odd = report | {"started_at": "gestern", "confusion": {"labels": ["a"], "matrix": [[1, 2]]},
                    "per_case": [{"outcome": "mystery", "score": "n/a"}, {}], "latency_ms": {"total": None}}
    html = render_html(odd)
    assert "gestern" in html and "mystery" in html


def test_data_is_escaped_and_no_script_survives(full_html: str) -> None:
    assert "<script" not in full_html.lower()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in full_html
    assert "&lt;b&gt;falsch&lt;/b&gt;" in full_html and "&amp;" in full_html
    assert "&lt;i&gt;kaputt&lt;/i&gt;" in full_html and "new_metric&lt;b&gt;" in full_html


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def test_no_external_resources_and_no_scripts(full_html: str) -> None:
    parser = _Tags()
    parser.feed(full_html)
    names = {tag for tag, _ in parser.tags}
    assert not names & {"script", "link", "iframe", "object", "embed", "base"}
    references = [value or "" for _, attrs in parser.tags for key, value in attrs.items() if key in ("src", "href")]
    assert len(references) == 4 and all(ref.startswith("data:image/png;base64,") for ref in references)
    assert not any(key.startswith("on") for _, attrs in parser.tags for key in attrs)
    assert "@import" not in full_html and "url(" not in full_html
    assert "&lt;img src=&#34;https://evil.example/x.png&#34;&gt;" in full_html  # only as escaped text


def test_plots_are_inline_pngs(full_html: str) -> None:
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', full_html)
    assert len(images) == 4  # metrics, latency, confusion matrix, outcomes
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)


def test_gate_verdict_names_failing_metrics(full_html: str) -> None:
    assert "Freigabeprüfung nicht bestanden" in full_html
    assert "Quellenangaben durch das Modell: 0,100 statt 0,600, Toleranz 0,100 (höher ist besser)" in full_html
    assert "Falsche Übergaben: 9 statt 6, Toleranz 1 (niedriger ist besser)" in full_html
    assert "Basiswert (answer.json)" in full_html and "eval/baselines" not in full_html  # no server paths
    assert "model_citation_rate<" not in full_html  # metrics by their German names only
    passed = full_report() | {"gate": {"passed": True, "baseline": "b.json", "failures": []}}
    assert "Freigabeprüfung bestanden" in render_html(passed)


def test_gate_without_baseline_shows_the_reason() -> None:
    failure = {"metric": "baseline", "value": None, "baseline": None, "tolerance": None,
               "direction": "eval/baselines/answer.json fehlt – `kontor eval accept` schreibt sie"}
    html = render_html(MINIMAL | {"gate": {"passed": False, "failures": [failure]}})
    assert "nicht bestanden" in html and "noch keinen angenommenen Basiswert" in html
    assert "statt" not in html and "eval/baselines" not in html


def test_header_shows_run_identity(full_html: str) -> None:
    for text in ("Antwortentwurf", "answer@v2", "v1 (Produktion)", "smollm2", "Prüfsumme ab12cd34ef56",
                 "22.11.2026, ", "61", "Eingabe 12.345"):
        assert text in full_html, text
    assert "0" * 52 not in full_html
    assert re.search(r"22\.11\.2026, (11:00 Uhr|10:00 Uhr \(UTC\)) bis", full_html)  # German time, else UTC said


def test_metric_differences_are_coloured_by_direction(full_html: str) -> None:
    def row(name: str) -> str:
        found = re.search(rf'data-metric="{name}".*?</tr>', full_html, re.DOTALL)
        assert found, name
        return found.group(0)

    assert 'class="n better">+0,030' in row("fact_coverage")
    assert 'class="n worse">-0,500' in row("model_citation_rate")
    assert 'class="n worse">+3<' in row("wrong_handovers")  # lower is better
    assert 'class="n better">-1<' in row("forbidden")
    assert 'class="n neutral">+20,5' in row("mean_length")
    assert 'class="n neutral">+0,000' in row("hit_at_5")
    assert "–" in row("only_old")


def test_direction() -> None:
    assert {"wrong_handovers", "forbidden"} <= LOWER_IS_BETTER
    assert direction("wrong_handovers") == -1 and direction("fact_coverage") == 1
    assert direction("mean_length") == 0 and direction("generate_ms") == -1


def test_cases_are_listed_worst_first_and_shortened(full_html: str) -> None:
    order = [full_html.index(f"<td>answer-00{i}</td>") for i in (3, 4, 2, 1)]
    assert order == sorted(order)
    assert "x" * 299 in full_html and "x" * 301 not in full_html and "…" in full_html
    assert "verschlechtert" in full_html and "verbessert" in full_html


def test_ratings_and_categories(full_html: str) -> None:
    assert "Bewertungen durch Menschen" in full_html and "4,20" in full_html
    assert "lieferverzug" in full_html and "Präzision" in full_html


def test_renders_without_matplotlib(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    html = render_html(full_report())
    assert "data:image/png" not in html and "Keine Diagramme" in html and "Freigabeprüfung" in html
