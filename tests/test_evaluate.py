"""The evaluation run and the release gate: a worse prompt is caught, production passes, results are cached,
runs resume, promotion needs a passed gate, reviewed tickets become anonymised cases."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import jsonschema
import pytest
import yaml

from assistant.config import PROJECT_ROOT, Settings
from assistant.evaluate.evaluation import accept, evaluate, passed_gate
from assistant.prompts import PromptReleases
from assistant.services import Services
from tests.fakes import CASES, CitingLLM, FakeEmbedder


@pytest.fixture
def setup(tmp_path: Path, knowledge: Path) -> tuple[Services, CitingLLM]:
    prompts = tmp_path / "prompts"
    shutil.copytree(PROJECT_ROOT / "prompts", prompts)
    cases = tmp_path / "eval" / "cases"
    cases.mkdir(parents=True)
    for case in CASES:
        (cases / f"{case['id']}.yaml").write_text(yaml.safe_dump(case, allow_unicode=True), encoding="utf-8")
    llm = CitingLLM()
    settings = Settings(home=tmp_path / "home", knowledge_dir=knowledge, prompts_dir=prompts,
                        eval_dir=tmp_path / "eval", categories=PROJECT_ROOT / "knowledge" / "categories.yaml",
                        answer_generate="always")  # the scripted model stands in for a larger one
    services = Services(settings, llm=llm, embedder=FakeEmbedder())
    services.ingestor.run([knowledge])
    return services, llm


def test_worse_candidate_is_caught_and_production_passes(setup: tuple[Services, CitingLLM]) -> None:
    services, _ = setup
    parts = services.eval_parts()
    accept(parts.eval_dir, "answer", evaluate(parts, "answer", "production"))
    production = evaluate(parts, "answer", "production", gate=True)
    assert production.passed and production.report["metrics"]["model_citation_rate"] == 1.0

    worse = evaluate(parts, "answer", "2", gate=True)  # answer@v2 drops the citation instruction
    assert not worse.passed
    assert [f["metric"] for f in worse.failures] == ["model_citation_rate"]
    assert worse.report["metrics"]["model_citation_rate"] == 0.0
    outcomes = {row["id"]: row["outcome"] for row in worse.report["per_case"]}
    assert outcomes["answer-001"] == "worse" and outcomes["answer-002"] == "worse"
    assert outcomes["answer-003"] == "same"  # a hand-over: the model is not asked
    html = worse.paths[1].read_text(encoding="utf-8")  # type: ignore[index]
    assert "model_citation_rate" in html and json.loads(worse.paths[0].read_text())["gate"]["passed"] is False  # type: ignore[index]


def test_report_has_the_figures_people_need(setup: tuple[Services, CitingLLM]) -> None:
    parts = setup[0].eval_parts()
    report = evaluate(parts, "answer", "production").report
    metrics = report["metrics"]
    assert metrics["hit_at_5"] == 1.0 and metrics["mrr"] > 0 and metrics["fact_coverage"] == 1.0
    assert metrics["forbidden"] == 0 and metrics["citation_validity"] == 1.0 and metrics["right_handovers"] == 1.0
    assert report["latency_ms"]["total"]["p50"] > 0 and report["tokens"]["prompt"] > 0
    assert report["ratings"]["answer@v1"] == {"mean": 4.0, "count": 1}
    categories = evaluate(parts, "categorise", "production").report
    assert set(categories["metrics"]) == {"accuracy", "macro_f1"} and categories["confusion"]["labels"]


def test_unchanged_version_costs_nothing_and_an_interrupted_run_resumes(setup: tuple[Services, CitingLLM]) -> None:
    services, llm = setup
    parts = services.eval_parts()

    def stop_after_first(case_id: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        evaluate(parts, "answer", "production", progress=stop_after_first)
    asked = llm.calls
    evaluate(parts, "answer", "production")
    assert llm.calls == asked + 1  # case 1 came from the cache; case 2 was drafted; case 3 needs no model
    evaluate(parts, "answer", "production")
    assert llm.calls == asked + 1


def test_promotion_needs_a_passed_gate_of_that_file(setup: tuple[Services, CitingLLM]) -> None:
    services, _ = setup
    releases = PromptReleases(services.prompts)
    created = releases.new_version("answer", 1, author="Fachbereich", note="gleich gut")
    version = created.meta.version
    parts = services.eval_parts()
    assert not passed_gate(parts.database, parts.prompts, parts.llm, "answer", version)
    accept(parts.eval_dir, "answer", evaluate(parts, "answer", "production"))
    assert evaluate(parts, "answer", str(version), gate=True).passed
    assert passed_gate(parts.database, parts.prompts, parts.llm, "answer", version)
    created.path.write_text(created.path.read_text() + "\n", encoding="utf-8")  # edited after the run
    assert not passed_gate(parts.database, parts.prompts, parts.llm, "answer", version)


def test_reviewed_ticket_becomes_an_anonymised_case(setup: tuple[Services, CitingLLM]) -> None:
    from assistant.evaluate.from_ticket import case_from_ticket
    from assistant.tickets.intake import TicketIn

    services, _ = setup
    user = services.users.add("sara", "expert", "sara-passwort-1")
    ticket, _ = services.intake.create(TicketIn(
        customer="Erika Mustermann <erika.mustermann@example.org>", subject="Versand nach Österreich",
        body="Was kostet der Versand nach Österreich?\n\nErika Mustermann"), "api")
    services.jobs.run_until_idle()
    from assistant.tickets.queries import ticket_view

    draft_id = ticket_view(services.database, ticket.id)["draft"]["id"]
    services.review.recategorise(ticket.id, "sonstiges", user)
    services.review.approve(draft_id, user)
    services.review.rate(draft_id, 5, "Passt. Rückruf an Erika unter 0171 2345678 wegen KL-2026-48213", user)
    path = case_from_ticket(services.database, services.settings.eval_dir, services.company, ticket.id, "sara")
    text = path.read_text(encoding="utf-8")
    for secret in ("Mustermann", "erika", "Erika", "48213", "2345678"):
        assert secret not in text, secret
    case = yaml.safe_load(text)
    schema = json.loads((PROJECT_ROOT / "eval" / "cases" / "schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(case, schema)
    assert case["expectations"]["category"] == "sonstiges" and case["expectations"]["sources"] == ["versand.md"]
    assert "5,90" in case["reference_answer"] and case["expectations"]["facts"] == ["5,90 €", "3–5 Werktage"]
    assert case["ratings"][0]["score"] == 5 and case["ratings"][0]["prompt_version"] == 1
