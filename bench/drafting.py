"""Drafting speed on the demo company: time to first token and total per question, and the pipeline's
overhead over raw llama.cpp generation of the identical prompt (same model object, same messages, same
greedy parameters, prompt cache reset before every call, order alternated).

Usage: .venv/bin/python bench/drafting.py [--questions N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from assistant.config import Settings  # noqa: E402
from assistant.evaluate.cases import cases_for, load_cases  # noqa: E402
from assistant.llm import GenerationParams, LlamaCppLLM, Message  # noqa: E402
from assistant.services import Services  # noqa: E402
from bench.common import append_results, table  # noqa: E402


class Recorder:
    """Delegates to the real model and keeps the messages of every call (one per answered question)."""

    def __init__(self, llm: LlamaCppLLM) -> None:
        self.llm, self.name, self.sha256 = llm, llm.name, llm.sha256
        self.messages: list[list[Message]] = []

    def stream(self, messages: list[Message], params: GenerationParams) -> Iterator[str]:
        self.messages.append(messages)
        return self.llm.stream(messages, params)

    def complete_json(self, messages: list[Message], schema: dict[str, Any], params: GenerationParams) -> str:
        return self.llm.complete_json(messages, schema, params)


def raw_generation(llm: LlamaCppLLM, messages: list[Message], params: GenerationParams) -> tuple[float, float, str]:
    """llama-cpp-python called directly: (ms to first token, total ms, text)."""
    model = llm._model  # the reference is the library itself, without any Kontor code around it
    model.set_seed(params.seed)
    start, first, text = time.perf_counter(), None, []
    stream = model.create_chat_completion(
        messages=messages, stream=True, max_tokens=params.max_tokens, temperature=params.temperature,  # type: ignore[arg-type]
        top_p=params.top_p, repeat_penalty=params.repeat_penalty, stop=params.stop or None,
    )
    for chunk in stream:
        piece = chunk["choices"][0]["delta"].get("content")  # type: ignore[index]
        if piece:
            first = first or time.perf_counter()
            text.append(piece)
    end = time.perf_counter()
    return ((first or end) - start) * 1000, (end - start) * 1000, "".join(text)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--questions", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        # the model path: the embedded model is asked per question (KONTOR_ANSWER_GENERATE=always)
        base = Services(Settings(home=Path(tmp), answer_generate="always"))
        base.ingestor.run([base.settings.knowledge_dir])
        cases = [c for c in cases_for("answer", load_cases(base.settings.eval_dir / "cases"))
                 if not c.expectations.handover][: args.questions]
        llm = base.llm
        assert isinstance(llm, LlamaCppLLM)
        recorder = Recorder(llm)
        answerer = Services(base.settings, llm=recorder, embedder=base.embedder).answerer()  # type: ignore[arg-type]
        params = answerer.prompt.meta.params
        answerer.draft("Aufwärmen: Was kostet der Versand?")
        pipe_ttft, pipe_total, raw_ttft, raw_total = [], [], [], []
        for i, case in enumerate(cases):
            llm.reset_cache()
            recorder.messages = []
            first: list[float] = []
            start = time.perf_counter()
            def mark(_piece: str, first: list[float] = first) -> None:
                if not first:
                    first.append(time.perf_counter())

            draft = answerer.reply(case.input.subject, case.input.body, case.input.customer or None, on_token=mark)
            end = time.perf_counter()
            if draft.handover or not recorder.messages:
                continue  # no generation to compare with
            raw = []
            for messages in recorder.messages:  # the identical prompts, straight into llama.cpp
                llm.reset_cache()
                raw.append(raw_generation(llm, messages, params))
            pipe_ttft.append(((first[0] if first else end) - start) * 1000)
            pipe_total.append((end - start) * 1000)
            raw_ttft.append(raw[0][0])
            raw_total.append(sum(r[1] for r in raw))
            print(f"\r{i + 1}/{len(cases)}", end="", file=sys.stderr, flush=True)
        print(file=sys.stderr)
    rows = []
    for label, ttft, total in (("raw llama.cpp (reference)", raw_ttft, raw_total),
                               ("Kontor pipeline", pipe_ttft, pipe_total)):
        rows.append([label, f"{statistics.median(ttft):.0f}", f"{statistics.median(total):.0f}",
                     f"{statistics.mean(total):.0f}", f"{sum(total) / sum(raw_total):.3f}"])
    overhead = (sum(pipe_total) - sum(raw_total)) / sum(raw_total)
    text = table(["path", "p50 first token ms", "p50 total ms", "mean total ms", "total vs raw"], rows)
    text += (f"\n\nOverhead of the pipeline (reading the mail, retrieval and sentence choice per question, prompt, "
             f"verification, the letter) over raw generation of the identical prompts: {overhead:+.1%} over "
             f"{len(pipe_total)} evaluation mails; "
             f"model {llm.name}, max_tokens {params.max_tokens}, greedy.\n")
    print(text)
    append_results("Drafting speed on the demo company", "python bench/drafting.py", text)


if __name__ == "__main__":
    main()
