"""Proven answers on the evaluation cases: how often a learned answer is reused, and how often wrongly.

Protocol (5-fold, by case): every case is drafted once (extractive, no proven answers) and its reference answer is
taken as the letter the agent approved – the same learning code as an approval in the workflow
(assistant/answer/learning.py) picks each drafted paragraph's approved counterpart. The training folds' lessons
become proven answers, the test fold's cases are drafted with them, and each paragraph that reused one counts:

- right fire: the reused answer contains the question's expected facts (per question for multi-question cases;
  else the case's facts that its own reference paragraph for that question contains) and none of the case's
  forbidden strings;
- wrong fire: anything else – a missing fact, a forbidden string, a question or case that must be handed over.

Drafting runs at the lowest threshold of the sweep; a paragraph fires at a higher one when its similarity
(the paragraph's support) reaches it. The row "without the extra conditions" asks the index directly with only
the similarity and topic-word rule (what Kontor did before): it shows what the other conditions prevent.
Paraphrases (bench/data/proven_paraphrases.yaml): every case's lessons are learned, then each customer-style
rewording is drafted; found = the proven answer was reused and holds the facts the file names. Look-alikes (same
file): questions that resemble an approved one but ask something else; every reuse is a wrong fire.

Usage: .venv/bin/python bench/proven_answers.py [--folds 5] [--limit N]
Prints a Markdown table (nothing is written to RESULTS.md).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.answer.drafter import Answerer  # noqa: E402
from assistant.answer.learning import Approved, Lesson, approved_paragraphs, lessons, mail_countries  # noqa: E402
from assistant.config import Settings  # noqa: E402
from assistant.domain import Draft  # noqa: E402
from assistant.evaluate.cases import EvalCase, QuestionExpectation, cases_for, load_cases  # noqa: E402
from assistant.knowledge.text import content_terms  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import table  # noqa: E402

THRESHOLDS = [0.90, 0.93, 0.95, 0.97]
PARAPHRASES = Path(__file__).resolve().parent / "data" / "proven_paraphrases.yaml"
Facts = list[str | list[str]]


@dataclass
class Fire:
    case: str
    question: str
    answer: str
    similarity: float
    right: bool
    why: str
    source: str = ""


# --- learning from the reference answers -------------------------------------------------------------------------

def approved(number: int, case: EvalCase, draft: Draft) -> Approved:
    """The case's reference answer as the approved form of its draft."""
    return Approved(
        ticket_id=number, draft_id=number, approved_by="bench", customer=case.input.customer, customer_email="",
        subject=case.input.subject, body=case.input.body, generated=draft.answer, text=case.reference_answer,
        sections=[s.model_dump() for s in draft.sections], citations=[c.model_dump() for c in draft.citations],
    )


def learnable(number: int, case: EvalCase, draft: Draft) -> list[Lesson]:
    if draft.handover or not case.reference_answer:  # as the workflow: a hand-over draft teaches nothing
        return []
    return lessons(approved(number, case, draft))[0]


def teach(services: Services, taught: list[tuple[int, EvalCase, Lesson]]) -> dict[str, str]:
    """Replace the catalogue's proven answers by these; answer text → the case it was learned from."""
    catalogue = services.catalogue
    catalogue.remove_proven([p.id for p in catalogue.proven_answers()])
    sources = {}
    for number, case, lesson in taught:
        places = mail_countries(case.input.subject, case.input.body)
        if catalogue.add_proven(lesson.question, lesson.answer, "[]", "bench", ticket_id=number, draft_id=number,
                                countries=places) is not None:
            sources[lesson.answer] = case.id
    return sources


# --- judging a reused answer -------------------------------------------------------------------------------------

def expected(case: EvalCase, draft: Draft, index: int, references: dict[int, str]) -> tuple[Facts, bool]:
    """The facts the paragraph answering section ``index`` must hold, and whether that question must be handed
    over instead. ``references``: the case's own reference paragraphs per section."""
    exp = case.expectations
    reference = references.get(index, "").lower()
    if not exp.questions:
        facts = [f for f in exp.facts if _present(f, reference)] if reference else exp.facts
        return facts or exp.facts, exp.handover
    question = _which(exp.questions, draft.sections[index].question, reference)
    return question.facts, exp.handover or question.handover


def _which(questions: list[QuestionExpectation], asked: str, reference: str) -> QuestionExpectation:
    """The expected question a section answers: the one whose facts its reference paragraph holds, else the one
    whose description shares the most words with it."""
    def score(q: QuestionExpectation) -> tuple[int, float]:
        held = sum(_present(f, reference) for f in q.facts) if reference else 0
        mine, theirs = set(content_terms(asked)), set(content_terms(q.question))
        return held, len(mine & theirs) / (len(mine | theirs) or 1)
    return max(questions, key=score)


def _present(fact: str | list[str], text: str) -> bool:
    return any(alternative.lower() in text.lower() for alternative in (fact if isinstance(fact, list) else [fact]))


def judge(answer: str, facts: Facts, forbidden: list[str], handover: bool) -> tuple[bool, str]:
    if handover:
        return False, "muss übergeben werden"
    missing = [f for f in facts if not _present(f, answer)]
    said = [f for f in forbidden if f.lower() in answer.lower()]
    if missing or said:
        return False, "; ".join([*(f"fehlt {m}" for m in missing), *(f"verboten {s}" for s in said)])
    return True, "ok"


# --- the runs ----------------------------------------------------------------------------------------------------

def answerer(services: Services, threshold: float) -> Answerer:
    answering = services.answerer(proven=True)
    answering.policy = replace(answering.policy, generate=False, proven_threshold=threshold)
    answering.questions.policy = answering.policy
    return answering


def folds(services: Services, cases: list[EvalCase], drafts: list[Draft], count: int) -> tuple[list[Fire], list[Fire],
                                                                                              int]:
    """Fires with all conditions (drafted) and without the extra ones (asked directly), over all test folds."""
    drafting = answerer(services, min(THRESHOLDS))
    index = drafting.questions.proven
    fires, loose, taught_total = [], [], 0
    for fold in range(count):
        taught = [(n, c, lesson) for n, (c, d) in enumerate(zip(cases, drafts, strict=True)) if n % count != fold
                  for lesson in learnable(n, c, d)]
        taught_total += len(taught)
        sources = teach(services, taught)
        for number, case in enumerate(cases):
            if number % count != fold:
                continue
            references = approved_paragraphs(approved(number, case, drafts[number])) if case.reference_answer else {}
            draft = drafting.reply(case.input.subject, case.input.body, case.input.customer or None)
            fires += [_fire(case, draft, i, s.text, s.support, references, sources)
                      for i, s in enumerate(draft.sections) if s.method == "proven"]
            places = mail_countries(case.input.subject, case.input.body)
            for i, section in enumerate(drafts[number].sections):
                found = index.match(section.question, None, places, min(THRESHOLDS), conditions=False)
                if found is not None:
                    loose.append(_fire(case, drafts[number], i, found[0].answer, found[1], references, sources))
        print(f"\rFold {fold + 1}/{count}", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return fires, loose, taught_total


def _fire(case: EvalCase, draft: Draft, index: int, answer: str, similarity: float, references: dict[int, str],
          sources: dict[str, str]) -> Fire:
    facts, handover = expected(case, draft, index, references)
    right, why = judge(answer, facts, case.expectations.forbidden, handover)
    return Fire(case.id, draft.sections[index].question, answer, similarity, right, why, sources.get(answer, "?"))


def paraphrases(services: Services, cases: list[EvalCase], drafts: list[Draft],
                pairs: list[dict[str, Any]]) -> list[Fire | None]:
    by_id = {c.id: c for c in cases}
    sources = teach(services, [(n, c, lesson) for n, (c, d) in enumerate(zip(cases, drafts, strict=True))
                               for lesson in learnable(n, c, d)])
    drafting = answerer(services, min(THRESHOLDS))
    found: list[Fire | None] = []
    for pair in pairs:
        draft = drafting.reply(pair["subject"], pair["body"], None)
        proven = [s for s in draft.sections if s.method == "proven"]
        if not proven:
            found.append(None)
            continue
        forbidden = pair.get("forbidden", by_id[pair["case"]].expectations.forbidden)
        right, why = judge(proven[0].text, pair["facts"], forbidden, False)
        found.append(Fire(pair["case"], proven[0].question, proven[0].text, proven[0].support, right, why,
                          sources.get(proven[0].text, "?")))
    return found


def lookalikes(services: Services, pairs: list[dict[str, str]]) -> tuple[list[Fire], list[Fire]]:
    """Every reuse of a look-alike's approved answer is wrong: drafted with all conditions, and asked directly
    with similarity and topic words alone."""
    catalogue = services.catalogue
    catalogue.remove_proven([p.id for p in catalogue.proven_answers()])
    for pair in pairs:
        catalogue.add_proven(pair["learned"], f"Antwort auf: {pair['learned']}", "[]", "bench")
    drafting = answerer(services, min(THRESHOLDS))
    fires, loose = [], []
    for pair in pairs:
        draft = drafting.reply("Frage", f"Guten Tag,\n\n{pair['asked']}\n\nViele Grüße", None)
        fires += [Fire("look-alike", s.question, s.text, s.support, False, "andere Frage", s.text)
                  for s in draft.sections if s.method == "proven"]
        found = drafting.questions.proven.match(pair["asked"], None, frozenset(), min(THRESHOLDS), conditions=False)
        if found is not None:
            loose.append(Fire("look-alike", pair["asked"], found[0].answer, found[1], False, "andere Frage"))
    return fires, loose


# --- the report --------------------------------------------------------------------------------------------------

def rows(fires: list[Fire], loose: list[Fire], found: list[Fire | None], pairs: int,
         alike: tuple[list[Fire], list[Fire]], alikes: int) -> list[list[str]]:
    result = []
    for threshold in THRESHOLDS:
        kept, wide, hits, wrong, wide_wrong = (_at(threshold, fired) for fired in (fires, loose, found, *alike))
        result.append([f"{threshold:.2f}", str(len(kept)), str(sum(f.right for f in kept)),
                       str(sum(not f.right for f in kept)), f"{len(wide)} / {sum(not f.right for f in wide)}",
                       f"{sum(f.right for f in hits)}/{pairs}", str(sum(not f.right for f in hits)),
                       f"{len(wrong)}/{alikes}", f"{len(wide_wrong)}/{alikes}"])
    return result


def _at(threshold: float, fired: list[Fire] | list[Fire | None]) -> list[Fire]:
    return [f for f in fired if f is not None and f.similarity >= threshold - 1e-9]


def details(fires: list[Fire], loose: list[Fire]) -> str:
    lines = ["", "Each reuse at the lowest threshold (with all conditions):", ""]
    lines += [f"- {f.case} ← {f.source} ({f.similarity:.3f}, {'richtig' if f.right else 'FALSCH: ' + f.why}): "
              f"„{f.question[:90]}“" for f in sorted(fires, key=lambda f: -f.similarity)] or ["- none"]
    wrong = [f for f in loose if not f.right]
    if wrong:
        lines += ["", "Wrong reuses the extra conditions prevent (similarity and topic words alone):", ""]
        lines += [f"- {f.case} ← {f.source} ({f.similarity:.3f}, {f.why}): „{f.question[:90]}“"
                  for f in sorted(wrong, key=lambda f: -f.similarity)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        services = Services(Settings(home=Path(tmp)))
        services.ingestor.run([services.settings.knowledge_dir])
        cases = cases_for("answer", load_cases(services.settings.eval_dir / "cases"))[: args.limit]
        plain = answerer(services, 2.0)  # no reuse: what the agent would have been given to edit
        drafts = []
        for number, case in enumerate(cases, start=1):
            drafts.append(plain.reply(case.input.subject, case.input.body, case.input.customer or None))
            print(f"\rDrafts: {number}/{len(cases)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
        fires, loose, taught = folds(services, cases, drafts, args.folds)
        data = yaml.safe_load(PARAPHRASES.read_text(encoding="utf-8"))
        pairs, alikes = data["paraphrases"], data["lookalikes"]
        found = paraphrases(services, cases, drafts, pairs)
        alike = lookalikes(services, alikes)
    header = ["threshold", "fires", "right fires", "wrong fires",
              "without the extra conditions: fires / wrong", "paraphrases found", "paraphrases wrong",
              "look-alikes reused (wrong)", "look-alikes without the extra conditions"]
    print(table(header, rows(fires, loose, found, len(pairs), alike, len(alikes))))
    print(f"\n{len(cases)} cases, {args.folds}-fold: {taught / args.folds:.0f} proven answers learned from each "
          f"fold's training cases on average. Paraphrases: {len(pairs)} rewordings in "
          f"{PARAPHRASES.relative_to(PARAPHRASES.parents[2])}, with the lessons of all cases learned.")
    print(details(fires, loose))
    print("\nParaphrases (similarity of the reused answer's question):")
    print("\n".join(f"- {p['case']}: " + (f"{f.similarity:.3f} {'richtig' if f.right else 'FALSCH: ' + f.why}"
                                           if f else "nicht gefunden") for p, f in zip(pairs, found, strict=True)))
    for label, fired in zip(("with all conditions", "without the extra conditions"), alike, strict=True):
        if fired:
            print(f"\nLook-alikes reused {label}:\n"
                  + "\n".join(f"- {f.similarity:.3f} „{f.question}“" for f in fired))


if __name__ == "__main__":
    main()
